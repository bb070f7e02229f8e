// Pending has no failure path: it waits for its Cluster.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let cp = ControlPlane::new(now);
    let _ = cp.into_failed(todo!());
}
