// Transitions consume the control plane: the old state cannot be used again.
use capt_controlplane::state::*;

fn main() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let cluster = capt_controlplane::api::ClusterView { name: "c".into(), ..Default::default() };
    let cp = ControlPlane::new(now);
    let _validating = cp.into_validating(evidence::resolve_cluster(Some(&cluster), false).unwrap());
    let _again = cp.into_validating(evidence::resolve_cluster(Some(&cluster), false).unwrap());
}
