// Provisioning cannot skip configuring (endpoint and secrets).
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Provisioning".into()), ..Default::default() };
    let Ok(AnyControlPlane::Provisioning(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_ready(todo!());
}
