//! Kubernetes Events: one per state transition, Warning for failures, degradations and recovery.

use kube::{
    Resource,
    runtime::events::{Event, EventType, Recorder},
};

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
