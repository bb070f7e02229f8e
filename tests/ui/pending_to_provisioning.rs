// Pending must be validated before provisioning.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let cp = ControlPlane::new(now);
    let _ = cp.into_provisioning(todo!());
}
