// Validating cannot skip provisioning and configuring.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Validating".into()), ..Default::default() };
    let Ok(AnyControlPlane::Validating(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_ready(todo!());
}
