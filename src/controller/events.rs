//! Kubernetes Events: one per pass that moves the state (naming each move), Warning for
//! failures, degradations and recovery.

use kube::{
    Resource,
    runtime::events::{Event, EventType, Recorder},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::Context;
use crate::state::{StateName, Transition};

/// Whether entering `to` deserves a Warning.
pub fn is_warning(to: StateName) -> bool {
    matches!(
        to,
        StateName::Failed | StateName::Degraded | StateName::Recovering
    )
}

/// The event for the moves one pass made: a pass that goes Pending → Validating → Provisioning,
/// or Provisioning → Configuring → Ready, says so once, which halves the events a control plane
/// costs while provisioning. Its reason is the last move's (where the pass left the control
/// plane); its note names every move, in order, with its own reason when there are several; it is
/// a Warning when any move entered a failing state. The status history and the log keep one
/// record per move.
pub fn pass_event(moves: &[Transition]) -> Option<Event> {
    let last = moves.last()?;
    let note = match moves {
        [only] => format!("{} -> {}: {}", only.from, only.to, only.message),
        _ => moves
            .iter()
            .map(|t| format!("{} -> {} ({}): {}", t.from, t.to, t.reason, t.message))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Some(Event {
        type_: if moves.iter().any(|t| is_warning(t.to)) {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: last.reason.clone(),
        note: Some(truncate(note)),
        action: "Transition".into(),
        secondary: None,
    })
}

/// A Normal event about something that is not a transition.
pub fn normal(reason: &str, note: String) -> Event {
    Event {
        type_: EventType::Normal,
        reason: reason.to_owned(),
        note: Some(truncate(note)),
        action: "Reconcile".into(),
        secondary: None,
    }
}

/// A Warning event with `reason` and `note`.
pub fn warning(reason: &str, note: String) -> Event {
    Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(truncate(note)),
        action: "Reconcile".into(),
        secondary: None,
    }
}

/// Warnings for conditions that have just turned False for one of the `problems` reasons (which
/// only the user can fix): told once, as an Event, not only in a condition, and not once a pass.
pub fn condition_warnings(before: &[Condition], after: &[Condition], problems: &[&str]) -> Vec<Event> {
    after
        .iter()
        .filter(|c| c.status == "False" && problems.contains(&c.reason.as_str()))
        .filter(|c| {
            !before
                .iter()
                .any(|b| b.type_ == c.type_ && b.status == c.status && b.reason == c.reason)
        })
        .map(|c| Event {
            type_: EventType::Warning,
            reason: c.reason.clone(),
            note: Some(truncate(format!("{}: {}", c.type_, c.message))),
            action: "Reconcile".into(),
            secondary: None,
        })
        .collect()
}

/// Publishes `event` about `obj`; a failure to publish is logged, never fatal.
///
/// A fresh [`Recorder`] each time, on purpose: a long-lived one keeps every event it published
/// for six minutes to fold repeats into a series, and a transition's event never repeats. At
/// 1 000 control planes that cache was the operator's largest allocation (see BENCHMARKS.md).
pub async fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, event: Event) {
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason = %event.reason, "failed to publish event");
    }
}

/// Events notes are limited to 1 KiB by the API server.
fn truncate(mut note: String) -> String {
    const LIMIT: usize = 1000;
    if note.len() > LIMIT {
        let mut cut = LIMIT;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push('…');
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{reason} happened"),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        }
    }

    fn moved(from: StateName, to: StateName, reason: &str) -> Transition {
        Transition {
            from,
            to,
            reason: reason.into(),
            message: format!("{reason} said so"),
        }
    }

    #[test]
    fn a_pass_is_one_event_naming_every_move() {
        use StateName::*;
        assert!(pass_event(&[]).is_none());
        let one = pass_event(&[moved(Ready, Degraded, "HealthCheckFailed")]).unwrap();
        assert_eq!(one.type_, EventType::Warning);
        assert_eq!(
            one.note.as_deref(),
            Some("Ready -> Degraded: HealthCheckFailed said so")
        );
        let two = pass_event(&[
            moved(Provisioning, Configuring, "WorkspaceReady"),
            moved(Configuring, Ready, "ControlPlaneReady"),
        ])
        .unwrap();
        assert_eq!(
            (two.type_, two.reason.as_str()),
            (EventType::Normal, "ControlPlaneReady")
        );
        assert_eq!(
            two.note.as_deref(),
            Some(
                "Provisioning -> Configuring (WorkspaceReady): WorkspaceReady said so; \
                 Configuring -> Ready (ControlPlaneReady): ControlPlaneReady said so"
            )
        );
        let through_failure = pass_event(&[
            moved(Degraded, Recovering, "RecoveryPlanned"),
            moved(Recovering, Provisioning, "Repaired"),
        ])
        .unwrap();
        assert_eq!(
            through_failure.type_,
            EventType::Warning,
            "a move into Recovering warns"
        );
    }

    #[test]
    fn a_condition_warns_once_per_reason_it_fails_for() {
        let types = ["NoTokenCredentials", "InvalidTokenCredentials"];
        let failing = [condition("KubeconfigReady", "False", "NoTokenCredentials")];
        let events = condition_warnings(&[], &failing, &types);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "NoTokenCredentials");
        assert_eq!(events[0].type_, EventType::Warning);
        assert!(
            condition_warnings(&failing, &failing, &types).is_empty(),
            "no repeat"
        );
        let other = [condition("KubeconfigReady", "False", "InvalidTokenCredentials")];
        assert_eq!(
            condition_warnings(&failing, &other, &types).len(),
            1,
            "a new reason"
        );
        let healthy = [condition("KubeconfigReady", "True", "KubeconfigReady")];
        assert!(condition_warnings(&failing, &healthy, &types).is_empty());
        let on_its_way = [condition("KubeconfigReady", "False", "WaitingForConfiguring")];
        assert!(condition_warnings(&[], &on_its_way, &types).is_empty());
    }
}
