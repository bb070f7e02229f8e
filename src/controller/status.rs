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
use serde_json::{Value, json};

use super::FIELD_MANAGER;

/// Whether two statuses differ in anything but condition transition times.
pub fn differs<S: Serialize>(current: Option<&S>, desired: &S) -> bool {
    let normalize = |s: Value| strip_times(s);
    let current = current.and_then(|c| serde_json::to_value(c).ok()).map(normalize);
    let desired = serde_json::to_value(desired).ok().map(normalize);
    current != desired
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
    fn transition_times_alone_do_not_count_as_a_change() {
        let a = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let b = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-02-02T00:00:00Z"}]});
        assert!(!differs(Some(&a), &b));
        let c = json!({"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-02-02T00:00:00Z"}]});
        assert!(differs(Some(&a), &c));
        assert!(differs(None, &a));
    }
}
