// Ready re-provisions on a spec change; it never goes back to Configuring directly.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Ready".into()), ..Default::default() };
    let Ok(AnyControlPlane::Ready(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let _ = cp.into_configuring(todo!());
}
