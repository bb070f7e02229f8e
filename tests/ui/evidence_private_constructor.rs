// Evidence cannot be built outside the crate: its constructor is private.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let cp = ControlPlane::new(now);
    let _ = cp.into_validating(ClusterResolved::new("ClusterResolved", "trust me"));
}
