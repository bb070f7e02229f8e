// A legal move still needs the right evidence: a spec change does not validate dependencies.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let status = capt_controlplane::api::CAPTControlPlaneStatus { state: Some("Validating".into()), ..Default::default() };
    let Ok(AnyControlPlane::Validating(cp)) = AnyControlPlane::from_status(Some(&status), now) else { return };
    let changed = evidence::spec_changed(true, false).unwrap();
    let _ = cp.into_provisioning(changed);
}
