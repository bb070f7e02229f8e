//! What a stored state implies about the world, checked before the state is trusted.
//!
//! `status.state` is the operator's own record, but anyone who may patch the status subresource
//! can write it, and a record can outlive what it described. A pass therefore checks the stored
//! state's invariants against what it observes before it acts on it: a Pending control plane
//! patched to `Ready` must not render a Workspace, whatever its status says.
//!
//! | stored state | holds when |
//! |---|---|
//! | Pending, Failed | always (neither acts) |
//! | Validating | the Cluster is resolved |
//! | Provisioning, Configuring | and every dependency is present (a configuration error is theirs to fail on) |
//! | Ready, Degraded | the Cluster is resolved and the control plane was provisioned: its WorkspaceTemplateApply exists |
//! | Recovering | as Ready, and there is a recovery to be in: an attempt in flight, scheduled or made, or a retry |
//!
//! A state that does not hold is re-entered from the deepest state that does, Provisioning,
//! Validating or at worst Pending ([`audit`]), and the pass says so with a Warning. Re-entry only
//! ever goes back to one of those, where the ordinary checks decide every move again: it never
//! skips a check, which is why it is not a transition of the machine.

use super::StateName;

/// The history reason of a re-entry.
pub const STORED_STATE_INCONSISTENT: &str = "StoredStateInconsistent";

/// What the pass observed, for [`audit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateFacts {
    /// The owning Cluster is resolved.
    pub cluster_resolved: bool,
    /// Every dependency is present: validation is not waiting for one. (An invalid configuration
    /// is not a violation: Provisioning fails on it by itself.)
    pub dependencies_present: bool,
    /// The control plane's WorkspaceTemplateApply exists: it was provisioned.
    pub provisioned: bool,
    /// The retry record holds an attempt (in flight, scheduled or made) or a user's retry.
    pub recovery_recorded: bool,
}

/// A stored state that does not hold, and the state to re-enter. Made only by [`audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reentry {
    stored: StateName,
    reentered: StateName,
    why: String,
}

impl Reentry {
    /// The state the status said.
    pub fn stored(&self) -> StateName {
        self.stored
    }

    /// The state re-entered.
    pub fn reentered(&self) -> StateName {
        self.reentered
    }

    /// What does not hold, in words.
    pub fn why(&self) -> &str {
        &self.why
    }

    /// The whole story, for an event and the history.
    pub fn message(&self) -> String {
        format!(
            "the stored status said {} but {}; re-entered {}",
            self.stored, self.why, self.reentered
        )
    }
}

/// Why `state` does not hold, if it does not.
pub fn violation(state: StateName, facts: &StateFacts) -> Option<&'static str> {
    use StateName::*;
    let needs_cluster = !matches!(state, Pending | Failed);
    let needs_valid = matches!(state, Provisioning | Configuring);
    let needs_provisioned = matches!(state, Ready | Degraded | Recovering);
    if needs_cluster && !facts.cluster_resolved {
        return Some("its Cluster is not resolved");
    }
    if needs_valid && !facts.dependencies_present {
        return Some("a dependency it needs is missing");
    }
    if needs_provisioned && !facts.provisioned {
        return Some("it was never provisioned (it has no WorkspaceTemplateApply)");
    }
    if state == Recovering && !facts.recovery_recorded {
        return Some("there is no recovery to be in");
    }
    None
}

/// Checks the stored state: `None` when it holds, else the deepest of Provisioning, Validating
/// and Pending that does.
pub fn audit(stored: StateName, facts: &StateFacts) -> Option<Reentry> {
    let why = violation(stored, facts)?;
    let reentered = [StateName::Provisioning, StateName::Validating, StateName::Pending]
        .into_iter()
        .find(|&s| violation(s, facts).is_none())
        .unwrap_or(StateName::Pending);
    Some(Reentry {
        stored,
        reentered,
        why: why.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_HOLD: StateFacts = StateFacts {
        cluster_resolved: true,
        dependencies_present: true,
        provisioned: true,
        recovery_recorded: true,
    };

    #[test]
    fn a_forged_ready_without_a_cluster_falls_back_to_pending() {
        let facts = StateFacts::default();
        let reentry = audit(StateName::Ready, &facts).unwrap();
        assert_eq!(reentry.reentered(), StateName::Pending);
        assert_eq!(
            reentry.message(),
            "the stored status said Ready but its Cluster is not resolved; re-entered Pending"
        );
    }

    #[test]
    fn a_ready_that_was_never_provisioned_provisions_when_its_checks_pass() {
        let facts = StateFacts {
            provisioned: false,
            ..ALL_HOLD
        };
        assert_eq!(
            audit(StateName::Ready, &facts).unwrap().reentered(),
            StateName::Provisioning
        );
        let invalid = StateFacts {
            dependencies_present: false,
            ..facts
        };
        assert_eq!(
            audit(StateName::Degraded, &invalid).unwrap().reentered(),
            StateName::Validating
        );
    }

    #[test]
    fn a_state_that_holds_is_trusted() {
        for &state in StateName::ALL {
            assert_eq!(audit(state, &ALL_HOLD), None, "{state}");
        }
        // A serving control plane whose dependency broke stays where it is: health decides.
        let broken_dependency = StateFacts {
            dependencies_present: false,
            ..ALL_HOLD
        };
        assert_eq!(audit(StateName::Ready, &broken_dependency), None);
        assert_eq!(audit(StateName::Failed, &StateFacts::default()), None);
    }

    #[test]
    fn recovering_needs_a_recovery() {
        let facts = StateFacts {
            recovery_recorded: false,
            ..ALL_HOLD
        };
        assert_eq!(
            audit(StateName::Recovering, &facts).unwrap().reentered(),
            StateName::Provisioning
        );
    }
}
