//! Writing status only when it changed.
//!
//! A reconcile computes the whole desired status; [`differs`] compares it with the stored one while
//! ignoring `lastTransitionTime`, and only then is it sent, as a server-side apply of the status
//! subresource. At steady state that means no write at all.

use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

use serde_json::{Value, json};

use super::FIELD_MANAGER;

/// Whether two statuses differ in anything but condition transition times.
pub fn differs<S: Serialize>(current: Option<&S>, desired: &S) -> bool {
    let normalize = |s: Value| strip_times(s);
    let current = current.and_then(|c| serde_json::to_value(c).ok()).map(normalize);
    let desired = serde_json::to_value(desired).ok().map(normalize);
    current != desired
}

/// The top-level status fields that differ (transition times aside), for the log line of a
/// write: what made the operator write is the first question about any write.
pub fn changed_fields<S: Serialize>(current: Option<&S>, desired: &S) -> Vec<String> {
    let fields = |s: Option<&S>| match s.and_then(|s| serde_json::to_value(s).ok()).map(strip_times) {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (current, desired) = (fields(current), fields(Some(desired)));
    let mut changed: Vec<String> = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(current.keys().filter(|k| !desired.contains_key(*k)).cloned())
        .collect();
    changed.sort();
    changed
}

fn strip_times(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != "lastTransitionTime")
                .map(|(k, v)| (k, strip_times(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_times).collect()),
        other => other,
    }
}

/// How long a status change that moves nothing may wait after the last write of the same status.
/// A control plane being provisioned sees its apply, its Workspace, the provider's first report
/// and the apply's mirror of it within a second or two; each changed the progress, the graph or a
/// condition, and each was a write. Waiting this long writes them once.
pub const SETTLE: Duration = Duration::from_secs(3);

/// Whether a status write may wait, and for how long: only when the pass `moved` nothing (no
/// transition, no event to publish with it), every field that changed is one of `deferrable`,
/// and the last write of this status was less than [`SETTLE`] ago. A state change, and any field
/// not listed (the Cluster API contract's `ready` and `initialized`, say), is written at once.
pub fn may_wait(
    changed: &[String],
    deferrable: &[&str],
    moved: bool,
    since_last_write: Option<Duration>,
) -> Option<Duration> {
    let since = since_last_write?;
    (!moved && since < SETTLE && changed.iter().all(|f| deferrable.contains(&f.as_str())))
        .then(|| SETTLE - since)
}

/// Server-side applies `status` to the status subresource of `name`; returns the object written.
pub async fn apply<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_change_that_moves_nothing_waits_and_never_past_the_settle_time() {
        let progress = ["progress".to_owned(), "dependencyGraph".to_owned()];
        let deferrable = ["progress", "dependencyGraph", "conditions"];
        let recent = Some(Duration::from_millis(500));
        assert_eq!(
            may_wait(&progress, &deferrable, false, recent),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(may_wait(&progress, &deferrable, true, recent), None, "a move");
        let contract = ["progress".to_owned(), "ready".to_owned()];
        assert_eq!(
            may_wait(&contract, &deferrable, false, recent),
            None,
            "a contract field"
        );
        assert_eq!(
            may_wait(&progress, &deferrable, false, Some(SETTLE)),
            None,
            "settled long enough"
        );
        assert_eq!(
            may_wait(&progress, &deferrable, false, None),
            None,
            "no write yet"
        );
    }

    #[test]
    fn transition_times_alone_do_not_count_as_a_change() {
        let a = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let b = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-02-02T00:00:00Z"}]});
        assert!(!differs(Some(&a), &b));
        let c = json!({"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-02-02T00:00:00Z"}]});
        assert!(differs(Some(&a), &c));
        assert!(differs(None, &a));
        let d = json!({"conditions": a["conditions"], "state": "Ready"});
        assert_eq!(changed_fields(Some(&a), &d), ["state"]);
        assert_eq!(changed_fields(Some(&d), &c), ["conditions", "state"]);
    }
}
