//! Adopting a control plane that upstream CAPT left Ready.
//!
//! Upstream CAPT has no `status.state`: it records `phase` (`Creating`, `Ready`, `Failed`) and
//! `ready`. Read as ours, a missing state is Pending, and a control plane that has served for
//! months would walk Pending → Validating → Provisioning → Configuring → Ready, dropping
//! `status.ready` (which Cluster API reads) for a while, when nothing about it changed. So a
//! status upstream left Ready is read as Ready, with a history record that says it was adopted.
//!
//! Adoption takes nothing on trust: the adopted Ready goes through the same invariant check as any
//! stored state ([`super::invariants`]): its Cluster must be resolved and its
//! WorkspaceTemplateApply, which upstream created with our ownerReference, must exist, or it is
//! re-entered at Provisioning or earlier with a Warning. Its health checks then run as for any
//! Ready control plane. A status upstream left Creating or Failed starts at Pending, as a new
//! control plane does, and provisioning adopts the Workspace upstream rendered without touching
//! the infrastructure (see `controller::apply`).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{AnyControlPlane, Core, StateName};
use crate::api::{CAPTControlPlaneStatus, OperationRecord, Phase};

/// The history reason of an adoption.
pub const ADOPTED_FROM_UPSTREAM: &str = "AdoptedFromUpstream";

/// Whether `status` is upstream CAPT's record of a control plane it left Ready: no state of
/// ours, `phase: Ready` and `ready: true`.
pub fn left_ready_by_upstream(status: Option<&CAPTControlPlaneStatus>) -> bool {
    status.is_some_and(|s| {
        s.state.as_deref().is_none_or(str::is_empty) && s.phase == Some(Phase::Ready) && s.ready
    })
}

impl AnyControlPlane {
    /// A control plane upstream left Ready, read as Ready (see the module docs); the history
    /// records the adoption, which is not a transition.
    pub fn adopt_upstream_ready(status: &CAPTControlPlaneStatus, now: Timestamp) -> AnyControlPlane {
        let mut core = Core::empty(now);
        core.record(OperationRecord {
            operation: "Adopted from upstream CAPT".to_owned(),
            from: StateName::Ready.as_str().to_owned(),
            to: StateName::Ready.as_str().to_owned(),
            reason: ADOPTED_FROM_UPSTREAM.to_owned(),
            message: format!(
                "upstream CAPT left this control plane Ready ({}); adopted as Ready, its Workspace and \
                 secrets kept as they are",
                status.conditions.iter().find(|c| c.type_ == "Ready").map_or_else(
                    || "phase Ready".to_owned(),
                    |c| format!("{}: {}", c.reason, c.message)
                )
            ),
            time: Time(now),
            duration: None,
        });
        Self::from_core(StateName::Ready, core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(phase: Phase, ready: bool) -> CAPTControlPlaneStatus {
        CAPTControlPlaneStatus {
            phase: Some(phase),
            ready,
            ..Default::default()
        }
    }

    #[test]
    fn only_a_status_upstream_left_ready_is_adopted_as_ready() {
        assert!(left_ready_by_upstream(Some(&upstream(Phase::Ready, true))));
        assert!(!left_ready_by_upstream(Some(&upstream(Phase::Creating, false))));
        assert!(!left_ready_by_upstream(Some(&upstream(Phase::Failed, false))));
        // `ready` is what Cluster API read; a phase alone does not make it so.
        assert!(!left_ready_by_upstream(Some(&upstream(Phase::Ready, false))));
        // Ours: the state decides, adoption never overrides it.
        let ours = CAPTControlPlaneStatus {
            state: Some("Provisioning".into()),
            ..upstream(Phase::Ready, true)
        };
        assert!(!left_ready_by_upstream(Some(&ours)));
        assert!(!left_ready_by_upstream(None));
    }

    #[test]
    fn adoption_is_recorded_in_the_history_but_is_no_transition() {
        let now: Timestamp = "2026-12-03T07:00:00Z".parse().unwrap();
        let adopted = AnyControlPlane::adopt_upstream_ready(&upstream(Phase::Ready, true), now);
        assert_eq!(adopted.state(), StateName::Ready);
        assert!(adopted.core().transitions().is_empty());
        let history = adopted.core().history();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].reason, ADOPTED_FROM_UPSTREAM);
        assert_eq!(
            (history[0].from.as_str(), history[0].to.as_str()),
            ("Ready", "Ready")
        );
    }
}
