//! Kubernetes Events: one per state transition, Warning for failures, degradations and recovery.

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

/// The event for one transition.
pub fn transition_event(t: &Transition) -> Event {
    Event {
        type_: if is_warning(t.to) {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: t.reason.clone(),
        note: Some(truncate(format!("{} -> {}: {}", t.from, t.to, t.message))),
        action: "Transition".into(),
        secondary: None,
    }
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
