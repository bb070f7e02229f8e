//! What provider-terraform (on crossplane-runtime) writes, reproduced verbatim: finalizer,
//! annotations, condition types, reasons and messages, the Terraform error format and the
//! connection secret. Sources: `notes/capi-contract.md` §5.4–5.8, provider-terraform's
//! `internal/terraform` (`Classify`), crossplane-runtime's managed reconciler and
//! `ConnectionSecretMustBeControllableBy`.

use std::collections::BTreeMap;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DynamicObject, ObjectMeta};
use serde::{Deserialize, Serialize};

use crate::workspace_api::WorkspaceApi;

use super::outputs::Output;

/// The managed-resource finalizer; provider-terraform removes it when the destroy is done.
pub const FINALIZER: &str = "finalizer.managedresource.crossplane.io";
/// The Terraform workspace name; defaults to `metadata.name`.
pub const ANNOTATION_EXTERNAL_NAME: &str = "crossplane.io/external-name";
/// Set just before every create; never removed.
pub const ANNOTATION_CREATE_PENDING: &str = "crossplane.io/external-create-pending";
/// Set after a create succeeded.
pub const ANNOTATION_CREATE_SUCCEEDED: &str = "crossplane.io/external-create-succeeded";
/// Set after a create failed.
pub const ANNOTATION_CREATE_FAILED: &str = "crossplane.io/external-create-failed";
/// The type of connection secrets.
pub const CONNECTION_SECRET_TYPE: &str = "connection.crossplane.io/v1alpha1";
/// Synced message of a Workspace stuck create-pending.
pub const MESSAGE_CREATE_PENDING: &str = "cannot determine creation result - remove the \
     crossplane.io/external-create-pending annotation if it is safe to proceed";

/// A crossplane `xpv1.Condition` (`type`, `status`, `reason`, `message`, `observedGeneration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` or `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When any field last changed.
    pub last_transition_time: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    fn new(type_: &str, status: &str, reason: &str, message: String, generation: Option<i64>) -> Self {
        Self {
            type_: type_.to_owned(),
            status: status.to_owned(),
            last_transition_time: String::new(),
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
        }
    }

    /// Ready False/Creating.
    pub fn creating(generation: i64) -> Self {
        Self::new("Ready", "False", "Creating", String::new(), Some(generation))
    }

    /// Ready True/Available. Set by the Workspace's own Observe, which (unlike the managed
    /// reconciler's conditions) carries no observedGeneration: consumers must compare Synced's.
    pub fn available() -> Self {
        Self::new("Ready", "True", "Available", String::new(), None)
    }

    /// Ready False/Deleting.
    pub fn deleting(generation: i64) -> Self {
        Self::new("Ready", "False", "Deleting", String::new(), Some(generation))
    }

    /// Synced True/ReconcileSuccess.
    pub fn reconcile_success(generation: i64) -> Self {
        Self::new(
            "Synced",
            "True",
            "ReconcileSuccess",
            String::new(),
            Some(generation),
        )
    }

    /// Synced False/ReconcileError with `message`.
    pub fn reconcile_error(message: String, generation: i64) -> Self {
        Self::new("Synced", "False", "ReconcileError", message, Some(generation))
    }

    /// crossplane's `Condition.Equal`: everything but the transition time.
    fn same(&self, other: &Self) -> bool {
        self.type_ == other.type_
            && self.status == other.status
            && self.reason == other.reason
            && self.message == other.message
            && self.observed_generation == other.observed_generation
    }
}

/// crossplane's `SetConditions`: each new condition replaces the one of its type, keeping the old
/// transition time when nothing else changed; other types are kept.
pub fn set_conditions(current: &[Condition], new: &[Condition], now: &str) -> Vec<Condition> {
    let mut out: Vec<Condition> = current.to_vec();
    for condition in new {
        match out.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(existing) if existing.same(condition) => {}
            Some(existing) => {
                *existing = Condition {
                    last_transition_time: now.to_owned(),
                    ..condition.clone()
                };
            }
            None => out.push(Condition {
                last_transition_time: now.to_owned(),
                ..condition.clone()
            }),
        }
    }
    out
}

/// provider-terraform's `Classify` of a failed Terraform command: the first `Error: ...` line as
/// summary and the whole stderr gzipped and base64-encoded.
pub fn terraform_error(summary: &str) -> String {
    let summary = summary.trim().trim_start_matches("Error: ");
    // What Terraform 1.5 prints to stderr for a failed apply.
    let stderr =
        format!("╷\n│ Error: {summary}\n│ \n│   (simulated by capt-testkit's Workspace simulator)\n╵\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail; an empty blob is an acceptable fallback if it ever did.
    let blob = gz
        .write_all(stderr.as_bytes())
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    format!(
        "Terraform encountered an error. Summary: {summary}. To see the full error run: echo \"{}\" | \
         base64 -d | gunzip",
        BASE64.encode(blob)
    )
}

/// Synced message of a failed first apply.
pub fn create_failed(summary: &str) -> String {
    format!(
        "create failed: cannot apply Terraform configuration: {}",
        terraform_error(summary)
    )
}

/// Synced message of a failed apply after a spec change.
pub fn update_failed(summary: &str) -> String {
    format!(
        "update failed: cannot apply Terraform configuration: {}",
        terraform_error(summary)
    )
}

/// Synced message of a failed destroy.
pub fn delete_failed(summary: &str) -> String {
    format!(
        "delete failed: cannot destroy Terraform configuration: {}",
        terraform_error(summary)
    )
}

/// crossplane-runtime's `ExternalCreateIncomplete`: a create started (pending annotation) and has
/// neither succeeded nor failed since. Annotations hold RFC 3339 times, compared as such.
pub fn external_create_incomplete(annotations: &BTreeMap<String, String>) -> bool {
    let time = |key: &str| {
        annotations
            .get(key)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let Some(pending) = time(ANNOTATION_CREATE_PENDING) else {
        return false;
    };
    let latest = match (time(ANNOTATION_CREATE_SUCCEEDED), time(ANNOTATION_CREATE_FAILED)) {
        (Some(s), Some(f)) => Some(s.max(f)),
        (s, f) => s.or(f),
    };
    latest.is_none_or(|latest| pending > latest)
}

/// What wakes provider-terraform's controllers (crossplane-runtime's `DesiredStateChanged`
/// predicate): the generation, the labels, and the annotations other than the create-pending and
/// create-failed ones, which the reconciler writes itself. A change to anything else (status,
/// those two annotations) reaches it only at the next resync (`--sync`, an hour).
pub fn desired_state(workspace: &DynamicObject) -> String {
    let mut annotations = workspace.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(ANNOTATION_CREATE_PENDING);
    annotations.remove(ANNOTATION_CREATE_FAILED);
    serde_json::json!([
        workspace.metadata.generation,
        workspace.metadata.labels,
        annotations
    ])
    .to_string()
}

/// Whether a create has returned, so that the Terraform state holds resources and the provider
/// updates from now on. A failed create counts: its partial apply stays in the state, as with
/// the IAM role and security group of a failed EKS create.
pub fn terraform_state_exists(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(ANNOTATION_CREATE_SUCCEEDED)
        || annotations.contains_key(ANNOTATION_CREATE_FAILED)
}

/// The current time as crossplane writes it in annotations and conditions (RFC 3339, seconds).
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// Where `workspace` writes its connection secret: `(namespace, name)`.
pub fn connection_secret_ref(workspace: &DynamicObject, api: WorkspaceApi) -> Option<(String, String)> {
    let reference = workspace.data.pointer("/spec/writeConnectionSecretToRef")?;
    let name = reference.get("name")?.as_str()?.to_owned();
    let namespace = match api {
        WorkspaceApi::Namespaced => workspace.metadata.namespace.clone()?,
        WorkspaceApi::ClusterScoped => reference.get("namespace")?.as_str()?.to_owned(),
    };
    Some((namespace, name))
}

/// The connection secret: every output (sensitive ones too), type
/// [`CONNECTION_SECRET_TYPE`], controlled by the Workspace (so the garbage collector deletes it
/// with the Workspace; a namespaced Secret may have a cluster-scoped owner).
pub fn connection_secret(
    workspace: &DynamicObject,
    api: WorkspaceApi,
    namespace: &str,
    name: &str,
    outputs: &BTreeMap<String, Output>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: api.api_version().to_owned(),
                kind: "Workspace".to_owned(),
                name: workspace.metadata.name.clone().unwrap_or_default(),
                uid: workspace.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        type_: Some(CONNECTION_SECRET_TYPE.to_owned()),
        data: Some(
            outputs
                .iter()
                .map(|(k, o)| (k.clone(), ByteString(o.connection_detail())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// crossplane-runtime's `ConnectionSecretMustBeControllableBy(uid)`, with its messages wrapped
/// the way the publisher wraps them.
pub fn check_controllable(existing: &Secret, uid: &str) -> Result<(), String> {
    let controller = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    let type_ = existing.type_.as_deref().unwrap_or("Opaque");
    match controller {
        None if type_ != CONNECTION_SECRET_TYPE => Err(format!(
            "cannot create or update connection secret: refusing to modify uncontrolled secret of type {type_:?}"
        )),
        Some(c) if c.uid != uid => Err(format!(
            "cannot create or update connection secret: existing secret is not controlled by UID {uid:?}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn terraform_errors_decode_like_the_real_ones() {
        let message = create_failed("creating EKS Cluster (demo): ResourceInUseException: exists");
        assert!(message.starts_with(
            "create failed: cannot apply Terraform configuration: Terraform encountered an error. \
             Summary: creating EKS Cluster (demo): ResourceInUseException: exists. To see the full \
             error run: echo \""
        ));
        assert!(message.ends_with("\" | base64 -d | gunzip"));
        let blob = message.split('"').nth(1).unwrap();
        let mut stderr = String::new();
        flate2::read::GzDecoder::new(&BASE64.decode(blob).unwrap()[..])
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            stderr.contains("│ Error: creating EKS Cluster (demo)"),
            "{stderr}"
        );
    }

    #[test]
    fn create_incomplete_follows_crossplane() {
        let a = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (t1, t2) = ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z");
        assert!(!external_create_incomplete(&a(&[])));
        assert!(external_create_incomplete(&a(&[(ANNOTATION_CREATE_PENDING, t1)])));
        assert!(!external_create_incomplete(&a(&[
            (ANNOTATION_CREATE_PENDING, t1),
            (ANNOTATION_CREATE_SUCCEEDED, t2)
        ])));
        assert!(external_create_incomplete(&a(&[
            (ANNOTATION_CREATE_PENDING, t2),
            (ANNOTATION_CREATE_FAILED, t1)
        ])));
        assert!(!external_create_incomplete(&a(&[
            (ANNOTATION_CREATE_PENDING, t1),
            (ANNOTATION_CREATE_FAILED, t1)
        ])));
    }

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let first = set_conditions(
            &[],
            &[Condition::creating(1), Condition::reconcile_success(1)],
            "t1",
        );
        let same = set_conditions(&first, &[Condition::creating(1)], "t2");
        assert_eq!(same, first);
        let changed = set_conditions(&first, &[Condition::available()], "t3");
        assert_eq!(changed[0].last_transition_time, "t3");
        assert_eq!(changed[1].last_transition_time, "t1");
    }

    #[test]
    fn foreign_secrets_are_not_controllable() {
        let mut secret = Secret {
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        assert!(
            check_controllable(&secret, "u1")
                .unwrap_err()
                .contains("uncontrolled secret of type \"Opaque\"")
        );
        secret.type_ = Some(CONNECTION_SECRET_TYPE.into());
        assert!(check_controllable(&secret, "u1").is_ok());
        secret.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u2".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        assert!(
            check_controllable(&secret, "u1")
                .unwrap_err()
                .contains("not controlled by UID \"u1\"")
        );
    }
}
