// Degraded heals through Recovering or by itself, not by re-provisioning.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Degraded".into()), ..Default::default() };
    let Ok(AnyControlPlane::Degraded(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_provisioning(todo!());
}
