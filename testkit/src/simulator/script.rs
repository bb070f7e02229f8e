//! Scripting the simulator: what happens to one Workspace.
//!
//! A [`Script`] comes from three layers, later ones winning field by field:
//!
//! 1. [`SimulatorConfig::default_script`](super::SimulatorConfig::default_script), for every
//!    Workspace;
//! 2. [`SimulatorHandle::script`](super::SimulatorHandle::script), per Workspace by
//!    [`ScriptKey`]: for tests, which must script a Workspace the operator has not created yet;
//! 3. `sim.capt.dev/*` annotations on the Workspace itself: for the demo and for `kubectl`:
//!
//! | annotation | value | effect |
//! |---|---|---|
//! | `sim.capt.dev/create-delay` | Go duration (`30s`) | the first apply takes this long |
//! | `sim.capt.dev/update-delay` | Go duration | a re-apply after a spec change takes this long |
//! | `sim.capt.dev/destroy-delay` | Go duration | `terraform destroy` takes this long |
//! | `sim.capt.dev/apply-error` | Terraform error summary | every create attempt fails with it |
//! | `sim.capt.dev/reapply-error` | Terraform error summary | every update attempt fails with it; Ready stays True |
//! | `sim.capt.dev/destroy-error` | Terraform error summary | every destroy attempt fails with it |
//! | `sim.capt.dev/stuck-create-pending` | `true` | the provider "crashes" mid-create, leaving `crossplane.io/external-create-pending` |
//! | `sim.capt.dev/outputs` | JSON object | extra (non-sensitive) outputs, e.g. `{"vpc_id":"vpc-0a1b"}` |
//!
//! An empty error annotation (`sim.capt.dev/apply-error: ""`) explicitly means "no error",
//! overriding the lower layers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::util::parse_duration;
use crate::workspace_api::WorkspaceApi;

use super::outputs::Output;

/// Prefix of the simulator's annotations.
pub const ANNOTATION_PREFIX: &str = "sim.capt.dev/";
/// Annotation: duration of the first apply.
pub const ANNOTATION_CREATE_DELAY: &str = "sim.capt.dev/create-delay";
/// Annotation: duration of a re-apply.
pub const ANNOTATION_UPDATE_DELAY: &str = "sim.capt.dev/update-delay";
/// Annotation: duration of the destroy.
pub const ANNOTATION_DESTROY_DELAY: &str = "sim.capt.dev/destroy-delay";
/// Annotation: Terraform error of every create attempt.
pub const ANNOTATION_APPLY_ERROR: &str = "sim.capt.dev/apply-error";
/// Annotation: Terraform error of every update attempt.
pub const ANNOTATION_REAPPLY_ERROR: &str = "sim.capt.dev/reapply-error";
/// Annotation: Terraform error of every destroy attempt.
pub const ANNOTATION_DESTROY_ERROR: &str = "sim.capt.dev/destroy-error";
/// Annotation: leave the Workspace stuck create-pending.
pub const ANNOTATION_STUCK_CREATE_PENDING: &str = "sim.capt.dev/stuck-create-pending";
/// Annotation: extra outputs, a JSON object.
pub const ANNOTATION_OUTPUTS: &str = "sim.capt.dev/outputs";

/// What the simulated provider does with one Workspace. `None` fields inherit from the layer
/// below (see the module docs); the bottom layer's `None` means "no delay" / "no error".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    /// How long the first `terraform apply` takes.
    pub create_delay: Option<Duration>,
    /// How long an apply after a spec change takes.
    pub update_delay: Option<Duration>,
    /// How long `terraform destroy` takes.
    pub destroy_delay: Option<Duration>,
    /// The first apply fails with this Terraform error summary, on every attempt: Synced
    /// False/ReconcileError `create failed: ...`, Ready False/Creating. Empty = no error.
    pub apply_error: Option<String>,
    /// Applies after a spec change fail with this summary: Synced False/ReconcileError
    /// `update failed: ...` while Ready stays True/Available. Empty = no error.
    pub reapply_error: Option<String>,
    /// Destroys fail with this summary: Ready False/Deleting, Synced False `delete failed: ...`,
    /// finalizer kept. Empty = no error.
    pub destroy_error: Option<String>,
    /// The provider restarts in the middle of the first apply: the
    /// `crossplane.io/external-create-pending` annotation is left behind and the Workspace stays
    /// Synced False until someone removes it; then creation proceeds. Happens once per Workspace.
    pub stuck_create_pending: Option<bool>,
    /// Outputs added to (or replacing) the default ones.
    pub outputs: BTreeMap<String, Output>,
    /// The outputs Terraform still evaluates after a failed create, because they do not depend
    /// on the resource that failed (a constant, a variable); from the first retry on they appear
    /// in `status.atProvider.outputs` and the connection secret. Default: none, as for an EKS
    /// module whose outputs all come from the cluster. Handle-level only.
    pub outputs_after_failure: Option<Vec<String>>,
}

impl Script {
    /// An empty script (inherits everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`create_delay`](Self::create_delay).
    pub fn create_delay(mut self, delay: Duration) -> Self {
        self.create_delay = Some(delay);
        self
    }

    /// Sets [`update_delay`](Self::update_delay).
    pub fn update_delay(mut self, delay: Duration) -> Self {
        self.update_delay = Some(delay);
        self
    }

    /// Sets [`destroy_delay`](Self::destroy_delay).
    pub fn destroy_delay(mut self, delay: Duration) -> Self {
        self.destroy_delay = Some(delay);
        self
    }

    /// Sets [`apply_error`](Self::apply_error), e.g. `creating EKS Cluster (demo):
    /// ResourceInUseException: Cluster already exists with name: demo`.
    pub fn apply_error(mut self, summary: impl Into<String>) -> Self {
        self.apply_error = Some(summary.into());
        self
    }

    /// Sets [`reapply_error`](Self::reapply_error).
    pub fn reapply_error(mut self, summary: impl Into<String>) -> Self {
        self.reapply_error = Some(summary.into());
        self
    }

    /// Sets [`destroy_error`](Self::destroy_error).
    pub fn destroy_error(mut self, summary: impl Into<String>) -> Self {
        self.destroy_error = Some(summary.into());
        self
    }

    /// Sets [`stuck_create_pending`](Self::stuck_create_pending).
    pub fn stuck_create_pending(mut self) -> Self {
        self.stuck_create_pending = Some(true);
        self
    }

    /// Sets [`outputs_after_failure`](Self::outputs_after_failure).
    pub fn outputs_after_failure<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.outputs_after_failure = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an output.
    pub fn output(mut self, name: impl Into<String>, output: Output) -> Self {
        self.outputs.insert(name.into(), output);
        self
    }

    /// The script read from a Workspace's `sim.capt.dev/*` annotations, and a description of
    /// each annotation that could not be understood (those are ignored).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Self, Vec<String>) {
        let mut script = Self::default();
        let mut problems = Vec::new();
        for (key, value) in annotations.range(ANNOTATION_PREFIX.to_owned()..) {
            if !key.starts_with(ANNOTATION_PREFIX) {
                break;
            }
            let duration = |slot: &mut Option<Duration>| match parse_duration(value) {
                Some(d) => {
                    *slot = Some(d);
                    Ok(())
                }
                None => Err(format!("{key}: {value:?} is not a duration such as 30s or 1m30s")),
            };
            let outcome = match key.as_str() {
                ANNOTATION_CREATE_DELAY => duration(&mut script.create_delay),
                ANNOTATION_UPDATE_DELAY => duration(&mut script.update_delay),
                ANNOTATION_DESTROY_DELAY => duration(&mut script.destroy_delay),
                ANNOTATION_APPLY_ERROR => {
                    script.apply_error = Some(value.clone());
                    Ok(())
                }
                ANNOTATION_REAPPLY_ERROR => {
                    script.reapply_error = Some(value.clone());
                    Ok(())
                }
                ANNOTATION_DESTROY_ERROR => {
                    script.destroy_error = Some(value.clone());
                    Ok(())
                }
                ANNOTATION_STUCK_CREATE_PENDING => match value.as_str() {
                    "true" => {
                        script.stuck_create_pending = Some(true);
                        Ok(())
                    }
                    "false" => {
                        script.stuck_create_pending = Some(false);
                        Ok(())
                    }
                    _ => Err(format!("{key}: {value:?} is not true or false")),
                },
                ANNOTATION_OUTPUTS => serde_json::from_str::<BTreeMap<String, serde_json::Value>>(value)
                    .map(|outputs| {
                        script
                            .outputs
                            .extend(outputs.into_iter().map(|(k, v)| (k, Output::plain(v))));
                    })
                    .map_err(|e| format!("{key}: not a JSON object: {e}")),
                _ => Err(format!("{key}: unknown simulator annotation")),
            };
            if let Err(problem) = outcome {
                problems.push(problem);
            }
        }
        (script, problems)
    }

    /// `self` with every field that `over` sets replaced by `over`'s; outputs are merged.
    pub fn overlay(mut self, over: &Script) -> Self {
        fn pick<T: Clone>(base: &mut Option<T>, over: &Option<T>) {
            if over.is_some() {
                base.clone_from(over);
            }
        }
        pick(&mut self.create_delay, &over.create_delay);
        pick(&mut self.update_delay, &over.update_delay);
        pick(&mut self.destroy_delay, &over.destroy_delay);
        pick(&mut self.apply_error, &over.apply_error);
        pick(&mut self.reapply_error, &over.reapply_error);
        pick(&mut self.destroy_error, &over.destroy_error);
        pick(&mut self.stuck_create_pending, &over.stuck_create_pending);
        pick(&mut self.outputs_after_failure, &over.outputs_after_failure);
        self.outputs
            .extend(over.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// The concrete behaviour: absent delays are zero, absent or empty errors are none.
    pub(crate) fn resolve(&self) -> Resolved {
        let error = |e: &Option<String>| e.clone().filter(|e| !e.trim().is_empty());
        Resolved {
            create_delay: self.create_delay.unwrap_or_default(),
            update_delay: self.update_delay.unwrap_or_default(),
            destroy_delay: self.destroy_delay.unwrap_or_default(),
            apply_error: error(&self.apply_error),
            reapply_error: error(&self.reapply_error),
            destroy_error: error(&self.destroy_error),
            stuck_create_pending: self.stuck_create_pending.unwrap_or(false),
            outputs: self.outputs.clone(),
            outputs_after_failure: self.outputs_after_failure.clone().unwrap_or_default(),
        }
    }
}

/// A script with every choice made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    pub create_delay: Duration,
    pub update_delay: Duration,
    pub destroy_delay: Duration,
    pub apply_error: Option<String>,
    pub reapply_error: Option<String>,
    pub destroy_error: Option<String>,
    pub stuck_create_pending: bool,
    pub outputs: BTreeMap<String, Output>,
    pub outputs_after_failure: Vec<String>,
}

/// Which Workspace a script set through the handle applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScriptKey {
    /// The Workspace API.
    pub api: WorkspaceApi,
    /// The namespace (namespaced API only).
    pub namespace: Option<String>,
    /// The Workspace name.
    pub name: String,
}

impl ScriptKey {
    /// A `tf.m.upbound.io` Workspace.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            api: WorkspaceApi::Namespaced,
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A `tf.upbound.io` Workspace.
    pub fn cluster_scoped(name: impl Into<String>) -> Self {
        Self {
            api: WorkspaceApi::ClusterScoped,
            namespace: None,
            name: name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_override_field_by_field() {
        let handle = Script::new()
            .create_delay(Duration::from_secs(5))
            .apply_error("boom");
        let annotations: BTreeMap<String, String> = [
            (ANNOTATION_APPLY_ERROR, ""),
            (ANNOTATION_DESTROY_DELAY, "1m30s"),
            (ANNOTATION_OUTPUTS, r#"{"vpc_id":"vpc-1"}"#),
            ("other.io/x", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (from_annotations, problems) = Script::from_annotations(&annotations);
        assert!(problems.is_empty(), "{problems:?}");
        let resolved = Script::new()
            .overlay(&handle)
            .overlay(&from_annotations)
            .resolve();
        assert_eq!(resolved.create_delay, Duration::from_secs(5));
        assert_eq!(resolved.destroy_delay, Duration::from_secs(90));
        assert_eq!(
            resolved.apply_error, None,
            "an empty annotation clears the handle's error"
        );
        assert_eq!(resolved.outputs["vpc_id"].value, serde_json::json!("vpc-1"));
    }

    #[test]
    fn bad_annotations_are_reported_not_applied() {
        let annotations: BTreeMap<String, String> = [
            (ANNOTATION_CREATE_DELAY, "soon"),
            (ANNOTATION_STUCK_CREATE_PENDING, "yes"),
            ("sim.capt.dev/typo", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (script, problems) = Script::from_annotations(&annotations);
        assert_eq!(script, Script::default());
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
