// Pending cannot jump to Ready: there is no such method on ControlPlane<Pending>.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let cp = ControlPlane::new(now);
    let _ = cp.into_ready(todo!());
}
