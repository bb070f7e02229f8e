// Failed recovers only through Recovering.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Failed".into()), ..Default::default() };
    let Ok(AnyControlPlane::Failed(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_ready(todo!());
}
