// Only a Ready control plane can degrade.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Configuring".into()), ..Default::default() };
    let Ok(AnyControlPlane::Configuring(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_degraded(todo!());
}
