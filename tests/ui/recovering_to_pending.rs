// Nothing goes back to Pending.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Recovering".into()), ..Default::default() };
    let Ok(AnyControlPlane::Recovering(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_pending(todo!());
}
