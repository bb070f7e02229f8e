//! The WorkspaceTemplateApply reconciler: renders a WorkspaceTemplate into a Workspace.
//!
//! # Flow
//!
//! 1. Wait for `waitForSecrets` (exist) and `waitForWorkspaces` (Synced and Ready); each missing
//!    one is named in the `DependenciesReady` condition. Waits gate every write to the Workspace.
//! 2. Read the template (its namespace defaults to the apply's) and render it with `variables`
//!    plus `WORKSPACE_NAME` ([`crate::render`]); unresolved placeholders are named in the
//!    `Rendered` condition and nothing is written.
//! 3. Server-side apply the Workspace `<apply name minus -apply>` when it is missing (first create,
//!    or deleted behind our back) or its spec hash differs from the render (spec, variables or
//!    template changed). A Workspace of that name that is not ours is never touched.
//! 4. Mirror the Workspace's `Ready` and `Synced` into the apply's status.
//!
//! What only a change to the apply, its template or another object can fix is said once, as a
//! condition and a Warning event, and not retried every few seconds:
//!
//! | problem | condition | then |
//! |---|---|---|
//! | the waits form a cycle with other applies' | `DependenciesReady=False`, `DependencyCycle`, with the cycle's path | nothing is written; looked at again when anything changes |
//! | the template is missing, or a placeholder has no value | `Rendered=False` (`TemplateNotFound`, `UnresolvedPlaceholders`) | nothing is written |
//! | the API server refuses the rendered Workspace (schema, size) | `Rendered=False`, `WorkspaceRejected`, with the server's message | not retried until the apply or template changes |
//! | a Workspace of that name exists and is not ours | `Rendered=False`, `WorkspaceNameCollision` | it is never touched |
//!
//! On deletion the Workspace is deleted and the finalizer stays until it is gone (provider-terraform
//! destroys first), unless `retainWorkspaceOnDelete`, in which case our ownerReference is dropped
//! so garbage collection leaves it alone.
//!
//! # Guarantees
//!
//! Idempotent and restart-safe: the Workspace name is deterministic and writes are server-side
//! applies, so a crash at any point never duplicates a Workspace, and a re-run adopts what the last
//! one created. At steady state no request but reads is made.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
    runtime::{controller::Action, reflector::ObjectRef},
};
use serde_json::{Value, json};

use super::{
    APPLY_NAME_LABEL, APPLY_NAMESPACE_LABEL, CONTROLPLANE_LABEL, Context, Error, FIELD_MANAGER, Result,
    SPEC_HASH_ANNOTATION,
    context::MAX_REQUEUE,
    finalizer::{self, Cleanup, Phase},
    reasons::{apply_types, reason},
    status,
};
use crate::{
    api::{
        APPLY_FINALIZER, CLUSTER_NAME_LABEL, WorkspaceApi, WorkspaceTemplateApply,
        WorkspaceTemplateApplyStatus, WorkspaceView,
        condition::{self, Status},
    },
    render,
};

/// The Workspace an apply renders: its name minus a trailing `-apply` (upstream's rule; one
/// definition, shared with the dependency graph).
pub fn workspace_name(apply_name: &str) -> String {
    crate::graph::rendered_workspace_name(apply_name).to_owned()
}

/// The Workspace API object for the rendered `spec`, as a server-side apply body.
pub fn desired_workspace(apply: &WorkspaceTemplateApply, spec: &Value, api: WorkspaceApi) -> Result<Value> {
    let namespace = apply.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = workspace_name(&apply.name_any());
    let ar = api.api_resource();
    let mut spec = spec.clone();
    if let Some(secret) = &apply.spec.write_connection_secret_to_ref {
        let reference = match api {
            WorkspaceApi::Namespaced => json!({"name": secret.name}),
            WorkspaceApi::ClusterScoped => {
                json!({"name": secret.name, "namespace": secret.namespace.as_deref().unwrap_or(&namespace)})
            }
        };
        if let Some(obj) = spec.as_object_mut() {
            obj.insert("writeConnectionSecretToRef".into(), reference);
        }
    }
    let hash = render::spec_hash(&spec);

    let mut labels = BTreeMap::from([
        (APPLY_NAME_LABEL.to_owned(), apply.name_any()),
        (APPLY_NAMESPACE_LABEL.to_owned(), namespace.clone()),
    ]);
    for key in [CLUSTER_NAME_LABEL, CONTROLPLANE_LABEL] {
        if let Some(v) = apply.labels().get(key) {
            labels.insert(key.to_owned(), v.clone());
        }
    }
    let mut metadata = json!({
        "name": name,
        "labels": labels,
        "annotations": {SPEC_HASH_ANNOTATION: hash},
    });
    if api.is_namespaced() {
        metadata["namespace"] = json!(namespace);
        let owner = apply.controller_owner_ref(&()).ok_or(Error::Incomplete("uid"))?;
        metadata["ownerReferences"] = json!([owner]);
    }
    Ok(json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": metadata,
        "spec": spec,
    }))
}

/// Whether an existing Workspace was rendered by this apply: by us (our ownerReference, or our
/// labels for the cluster-scoped API), or by upstream CAPT from this very apply
/// ([`rendered_by_upstream`]), which is how a live management cluster is adopted.
fn is_ours(ws: &DynamicObject, apply: &WorkspaceTemplateApply, api: WorkspaceApi) -> bool {
    match api {
        WorkspaceApi::Namespaced => {
            let uid = apply.uid();
            ws.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref() && o.controller == Some(true))
        }
        WorkspaceApi::ClusterScoped => {
            (ws.labels().get(APPLY_NAME_LABEL) == Some(&apply.name_any())
                && ws.labels().get(APPLY_NAMESPACE_LABEL).map(String::as_str) == apply.namespace().as_deref())
                || rendered_by_upstream(ws, apply)
        }
    }
}

/// Whether upstream CAPT created this cluster-scoped Workspace from this apply. Upstream labels
/// and owns nothing, but its apply controller records what it created: `status.applied`, the
/// Workspace's name, and the time, set right after the create. A Workspace that carries no
/// apply's labels, was created no later than that time, and that this operator never applied
/// (no `lastAppliedHash`) is the one upstream rendered. An apply of the same name in another
/// namespace never got that far: upstream's create of a name already taken failed.
fn rendered_by_upstream(ws: &DynamicObject, apply: &WorkspaceTemplateApply) -> bool {
    let Some(st) = apply.status.as_ref() else {
        return false;
    };
    let created_before_recorded = match (ws.creation_timestamp(), &st.last_applied_time) {
        (Some(created), Some(recorded)) => created.0 <= recorded.0,
        _ => false,
    };
    !ws.labels().contains_key(APPLY_NAME_LABEL)
        && st.applied
        && st.last_applied_hash.is_none()
        && st.workspace_name.as_deref() == Some(ws.name_any().as_str())
        && created_before_recorded
}

pub(crate) fn workspaces(ctx: &Context, namespace: &str) -> Api<DynamicObject> {
    let ar = ctx.config.workspace_api.api_resource();
    if ctx.config.workspace_api.is_namespaced() {
        Api::namespaced_with(ctx.client.clone(), namespace, &ar)
    } else {
        Api::all_with(ctx.client.clone(), &ar)
    }
}

/// Reconciles one WorkspaceTemplateApply.
pub async fn reconcile(apply: Arc<WorkspaceTemplateApply>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started("workspacetemplateapply");
    let namespace = apply.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<WorkspaceTemplateApply> = Api::namespaced(ctx.client.clone(), &namespace);
    match finalizer::phase(&api, APPLY_FINALIZER, apply.as_ref()).await? {
        Phase::Apply => ensure_workspace(&apply, &ctx, &api).await,
        Phase::Cleanup => match release_workspace(&apply, &ctx).await? {
            Cleanup::Done => {
                finalizer::remove(&api, APPLY_FINALIZER, apply.as_ref()).await?;
                ctx.written.forget(&written_key(&namespace, &apply.name_any()));
                ctx.status_writes
                    .forget(&written_key(&namespace, &apply.name_any()));
                Ok(Action::await_change())
            }
            Cleanup::Waiting(action) => Ok(action),
        },
        Phase::Added(written) => {
            ctx.written
                .record(&written_key(&namespace, &apply.name_any()), written.as_deref());
            Ok(Action::await_change())
        }
        Phase::Settled(action) => Ok(action),
    }
}

/// On error, retry with a short delay; the controller's own backoff spreads repeated failures.
pub fn error_policy(apply: Arc<WorkspaceTemplateApply>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed("workspacetemplateapply", error);
    tracing::warn!(apply = %apply.name_any(), error = %error, "reconcile failed");
    Action::requeue(std::time::Duration::from_secs(10))
}

/// Facts about the apply's dependencies.
struct Waits {
    missing: Vec<String>,
}

/// Read from the caches: a wait is also a watch trigger, and the cache is updated before the
/// trigger is delivered, so a pass never sees an older state than the one that woke it.
fn check_waits(apply: &WorkspaceTemplateApply, ctx: &Context, namespace: &str) -> Result<Waits> {
    let mut missing = Vec::new();
    for secret in &apply.spec.wait_for_secrets {
        let ns = secret.namespace.as_deref().unwrap_or(namespace);
        if !super::observe::secret_cached(&ctx.stores, ns, &secret.name) {
            missing.push(format!("Secret {ns}/{}", secret.name));
        }
    }
    for wait in &apply.spec.wait_for_workspaces {
        let ns = wait.namespace.as_deref().unwrap_or(namespace);
        let found = ctx.stores.workspace(ctx.config.workspace_api, ns, &wait.name);
        let view = found
            .as_deref()
            .map(WorkspaceView::from_dynamic)
            .transpose()
            .map_err(|e| Error::Malformed(e.to_string()))?;
        match view {
            None => missing.push(format!("Workspace {} (missing)", wait.name)),
            Some(v) if !v.is_provisioned() => missing.push(format!("Workspace {} (not ready)", wait.name)),
            Some(_) => {}
        }
    }
    Ok(Waits { missing })
}

async fn ensure_workspace(
    apply: &WorkspaceTemplateApply,
    ctx: &Context,
    api: &Api<WorkspaceTemplateApply>,
) -> Result<Action> {
    let namespace = apply.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = apply.name_any();
    let key = written_key(&namespace, &name);
    if !ctx.synced() {
        // A Workspace or template not in the caches yet would read as missing.
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    }
    if ctx.written.is_stale(&key, apply.resource_version().as_deref()) {
        // Our last status write has not reached the cache; mirroring again from this older copy
        // would send the same status a second time. Its watch event wakes us with it.
        return Ok(Action::requeue(std::time::Duration::from_secs(2)));
    }
    let now = Time(jiff::Timestamp::now());
    let generation = apply.metadata.generation;
    let mut st = apply.status.clone().unwrap_or_default();
    let ws_name = workspace_name(&name);
    st.workspace_name = Some(ws_name.clone());
    let ws_api = workspaces(ctx, &namespace);
    let mut existing = ws_api.get_opt(&ws_name).await?;

    let waits = check_waits(apply, ctx, &namespace)?;
    let template_key = ObjectRef::new(&apply.spec.template_ref.name)
        .within(apply.spec.template_ref.namespace_or(&namespace));
    st.observed_template_generation = ctx
        .stores
        .templates
        .get(&template_key)
        .and_then(|t| t.metadata.generation);
    let mut next = Action::requeue(MAX_REQUEUE);
    // An apply that waits for no Workspace is on no cycle, and looking costs what the namespace
    // holds: a thousand applies, each pass.
    let cycle = if apply.spec.wait_for_workspaces.is_empty() {
        None
    } else {
        let same_namespace: Vec<Arc<WorkspaceTemplateApply>> = ctx
            .stores
            .applies
            .state()
            .into_iter()
            .filter(|a| a.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .collect();
        crate::graph::wait_cycle(&namespace, &name, same_namespace.iter().map(AsRef::as_ref))
    };
    if let Some(cycle) = cycle {
        let msg = format!(
            "waitForWorkspaces form a cycle that can never resolve: {}",
            cycle.join(" -> ")
        );
        condition::set(
            &mut st.conditions,
            apply_types::DEPENDENCIES_READY,
            Status::False,
            reason::DEPENDENCY_CYCLE,
            msg,
            generation,
            &now,
        );
        // Another apply's change breaks the cycle without waking this one: look again soon.
        next = Action::requeue(std::time::Duration::from_secs(60));
    } else if waits.missing.is_empty() {
        condition::set(
            &mut st.conditions,
            apply_types::DEPENDENCIES_READY,
            Status::True,
            reason::DEPENDENCIES_READY,
            "",
            generation,
            &now,
        );
        match render_for(apply, ctx, &namespace) {
            Err((why, message)) => {
                condition::set(
                    &mut st.conditions,
                    apply_types::RENDERED,
                    Status::False,
                    why,
                    message,
                    generation,
                    &now,
                );
            }
            Ok(spec) => {
                let desired = desired_workspace(apply, &spec, ctx.config.workspace_api)?;
                let hash = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                // Rendered, unless this very render was refused before (the refusal stands).
                if !refused_render(apply, &hash) {
                    condition::set(
                        &mut st.conditions,
                        apply_types::RENDERED,
                        Status::True,
                        reason::RENDERED,
                        "",
                        generation,
                        &now,
                    );
                }
                match &existing {
                    Some(ws) if !is_ours(ws, apply, ctx.config.workspace_api) => {
                        let msg = format!(
                            "a Workspace named {ws_name} exists and was not rendered by this apply; it is left alone"
                        );
                        condition::set(
                            &mut st.conditions,
                            apply_types::RENDERED,
                            Status::False,
                            reason::NAME_COLLISION,
                            msg,
                            generation,
                            &now,
                        );
                    }
                    // The API server refused this very render before: only a change to the apply
                    // or its template (a new render) is worth another try.
                    _ if refused_render(apply, &hash) => next = Action::await_change(),
                    // Being destroyed (recreation after a RecreateWorkspace, say): wait until gone.
                    Some(ws) if ws.metadata.deletion_timestamp.is_some() => {
                        next = Action::requeue(std::time::Duration::from_secs(2));
                    }
                    // Already rendered (by us before a restart, say): adopt it as it is.
                    Some(ws) if ws.annotations().get(SPEC_HASH_ANNOTATION) == Some(&hash) => {
                        st.applied = true;
                        st.last_applied_hash = Some(hash);
                    }
                    _ => match ws_api
                        .patch(
                            &ws_name,
                            &PatchParams::apply(FIELD_MANAGER).force(),
                            &Patch::Apply(&desired),
                        )
                        .await
                    {
                        Ok(written) => {
                            // What the server stored is what the mirror below reports: the
                            // Workspace exists now, and saying otherwise would cost another write
                            // once the cache catches up.
                            let adopted = existing
                                .as_ref()
                                .is_some_and(|ws| rendered_by_upstream(ws, apply));
                            existing = Some(written);
                            st.applied = true;
                            st.refused_hash = None;
                            st.last_applied_time = Some(now.clone());
                            st.last_applied_hash = Some(hash);
                            if adopted {
                                let note = format!(
                                    "adopted Workspace {ws_name}, which upstream CAPT rendered from this apply"
                                );
                                tracing::info!(apply = %name, workspace = %ws_name, "{note}");
                                super::events::publish(
                                    ctx,
                                    apply,
                                    super::events::normal(reason::ADOPTED, note),
                                )
                                .await;
                            } else {
                                tracing::info!(apply = %name, workspace = %ws_name, "workspace rendered and applied");
                            }
                        }
                        Err(kube::Error::Api(refusal)) if is_refusal(&refusal) => {
                            let msg = format!(
                                "the API server refused Workspace {ws_name} (HTTP {}, {}): {}",
                                refusal.code, refusal.reason, refusal.message
                            );
                            st.refused_hash = Some(hash.clone());
                            tracing::warn!(apply = %name, workspace = %ws_name, error = %refusal.message, "workspace refused");
                            condition::set(
                                &mut st.conditions,
                                apply_types::RENDERED,
                                Status::False,
                                reason::WORKSPACE_REJECTED,
                                msg,
                                generation,
                                &now,
                            );
                            next = Action::await_change();
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            }
        }
    } else {
        let msg = format!("waiting for {}", waits.missing.join(", "));
        let why = if waits.missing.iter().any(|m| m.starts_with("Secret")) {
            reason::WAITING_FOR_SECRETS
        } else {
            reason::WAITING_FOR_WORKSPACES
        };
        condition::set(
            &mut st.conditions,
            apply_types::DEPENDENCIES_READY,
            Status::False,
            why,
            msg,
            generation,
            &now,
        );
    }

    mirror_workspace(&mut st, existing.as_ref(), generation, &now)?;
    st.observed_generation = generation;
    if status::differs(apply.status.as_ref(), &st) {
        let changed = status::changed_fields(apply.status.as_ref(), &st);
        // Conditions alone (the Workspace's Ready and Synced mirrored as they move) may wait a
        // little, to be written once; what a control plane reads (the render's hash, the
        // generation observed, a refusal) is written at once.
        if let Some(wait) = status::may_wait(&changed, &["conditions"], false, ctx.status_writes.since(&key))
        {
            tracing::debug!(apply = %name, fields = ?changed, ?wait, "status change waits");
            return Ok(Action::requeue(wait.max(std::time::Duration::from_millis(100))));
        }
        tracing::debug!(apply = %name, fields = ?changed, "writing status");
        let written = status::apply(api, &name, &st).await?;
        ctx.written.record(&key, written.resource_version().as_deref());
        ctx.status_writes.record(&key);
    }
    let before = apply.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
    for warning in super::events::condition_warnings(before, &st.conditions, reason::NEEDS_RECONFIGURATION) {
        super::events::publish(ctx, apply, warning).await;
    }
    Ok(next)
}

/// Whether the API server refused the object itself (its schema, its size, its name), which a
/// retry of the same object cannot change, rather than failing to answer.
///
/// A field the schema does not declare is refused by server-side apply with HTTP 500 ("failed to
/// create typed patch object"), not 422: it is the object's fault all the same.
pub(crate) fn is_refusal(status: &kube::core::Status) -> bool {
    matches!(status.code, 400 | 413 | 422)
        || status.message.contains("request is too large")
        || status.message.starts_with("failed to create typed patch object")
}

/// Whether the API server already refused the render with this hash.
fn refused_render(apply: &WorkspaceTemplateApply, hash: &str) -> bool {
    apply.status.as_ref().and_then(|s| s.refused_hash.as_deref()) == Some(hash)
}

/// The apply's key among the operator's own writes (kept apart from control planes' keys).
fn written_key(namespace: &str, name: &str) -> String {
    format!("WorkspaceTemplateApply/{namespace}/{name}")
}

/// Renders the apply's template (read from the cache, which a template change updates before it
/// wakes this apply), or says why it cannot.
pub(crate) fn render_for(
    apply: &WorkspaceTemplateApply,
    ctx: &Context,
    namespace: &str,
) -> std::result::Result<Value, (&'static str, String)> {
    let template_ns = apply.spec.template_ref.namespace_or(namespace);
    let key = ObjectRef::new(&apply.spec.template_ref.name).within(template_ns);
    let Some(template) = ctx.stores.templates.get(&key) else {
        let msg = format!(
            "WorkspaceTemplate {template_ns}/{} not found",
            apply.spec.template_ref.name
        );
        return Err((reason::TEMPLATE_NOT_FOUND, msg));
    };
    if !template.spec.template.spec.is_object() {
        let msg = format!(
            "WorkspaceTemplate {template_ns}/{}: template.spec must be an object",
            template.name_any()
        );
        return Err((reason::INVALID_TEMPLATE, msg));
    }
    let mut variables = apply.spec.variables.clone();
    variables.insert(
        render::WORKSPACE_NAME.to_owned(),
        workspace_name(&apply.name_any()),
    );
    render::render(&template.spec.template.spec, &variables)
        .map_err(|e| (reason::UNRESOLVED_PLACEHOLDERS, e.to_string()))
}

/// Copies the Workspace's `Ready` and `Synced` conditions into the apply's status.
fn mirror_workspace(
    st: &mut WorkspaceTemplateApplyStatus,
    ws: Option<&DynamicObject>,
    generation: Option<i64>,
    now: &Time,
) -> Result<()> {
    let Some(ws) = ws else {
        let msg = "the Workspace does not exist (yet)";
        {
            condition::set(
                &mut st.conditions,
                apply_types::READY,
                Status::False,
                reason::WORKSPACE_MISSING,
                msg,
                generation,
                now,
            );
        }
        condition::remove(&mut st.conditions, apply_types::SYNCED);
        return Ok(());
    };
    let view = WorkspaceView::from_dynamic(ws).map_err(|e| Error::Malformed(e.to_string()))?;
    // Another object's Workspace: its conditions are not ours to report.
    if condition::find(&st.conditions, apply_types::RENDERED)
        .is_some_and(|c| c.reason == reason::NAME_COLLISION)
    {
        return Ok(());
    }
    for (type_, observed) in [
        (apply_types::READY, &view.ready),
        (apply_types::SYNCED, &view.synced),
    ] {
        match observed {
            Some(c) => {
                let status = match c.status.as_str() {
                    "True" => Status::True,
                    "False" => Status::False,
                    _ => Status::Unknown,
                };
                let why = if c.reason.is_empty() {
                    "Unknown"
                } else {
                    c.reason.as_str()
                };
                condition::set(
                    &mut st.conditions,
                    type_,
                    status,
                    why,
                    c.message.clone(),
                    generation,
                    now,
                );
            }
            None => {
                let msg = "the Workspace has not reported this condition yet";
                condition::set(
                    &mut st.conditions,
                    type_,
                    Status::Unknown,
                    reason::WORKSPACE_NOT_REPORTED,
                    msg,
                    generation,
                    now,
                );
            }
        }
    }
    Ok(())
}

async fn release_workspace(apply: &WorkspaceTemplateApply, ctx: &Context) -> Result<Cleanup> {
    let namespace = apply.namespace().ok_or(Error::Incomplete("namespace"))?;
    let ws_name = workspace_name(&apply.name_any());
    let ws_api = workspaces(ctx, &namespace);
    let Some(ws) = ws_api.get_opt(&ws_name).await? else {
        return Ok(Cleanup::Done);
    };
    if !is_ours(&ws, apply, ctx.config.workspace_api) {
        return Ok(Cleanup::Done);
    }
    if apply.spec.retain_workspace_on_delete {
        // Drop our ownerReference so garbage collection does not take the Workspace with us.
        let uid = apply.uid();
        let owners: Vec<OwnerReference> = ws
            .owner_references()
            .iter()
            .filter(|o| Some(&o.uid) != uid.as_ref())
            .cloned()
            .collect();
        if owners.len() != ws.owner_references().len() {
            let patch = json!({"metadata": {"ownerReferences": owners}});
            ws_api
                .patch(&ws_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        tracing::info!(workspace = %ws_name, "retaining workspace on delete");
        return Ok(Cleanup::Done);
    }
    if ws.metadata.deletion_timestamp.is_none() {
        ws_api.delete(&ws_name, &DeleteParams::background()).await?;
        tracing::info!(workspace = %ws_name, "deleting workspace; waiting for it to be destroyed");
    }
    Ok(Cleanup::Waiting(Action::requeue(std::time::Duration::from_secs(
        2,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{SecretReference, WorkspaceTemplateApplySpec, WorkspaceTemplateReference};

    fn apply() -> WorkspaceTemplateApply {
        let mut a = WorkspaceTemplateApply::new(
            "prod-eks-controlplane-apply",
            WorkspaceTemplateApplySpec {
                template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                write_connection_secret_to_ref: Some(SecretReference {
                    name: "prod-eks-connection".into(),
                    namespace: None,
                }),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("team-a".into());
        a.metadata.uid = Some("uid-1".into());
        a.metadata.labels = Some([(CLUSTER_NAME_LABEL.to_owned(), "prod".to_owned())].into());
        a
    }

    #[test]
    fn workspace_name_drops_the_apply_suffix_only_at_the_end() {
        assert_eq!(
            workspace_name("prod-eks-controlplane-apply"),
            "prod-eks-controlplane"
        );
        assert_eq!(workspace_name("prod-apply-vpc"), "prod-apply-vpc");
    }

    #[test]
    fn namespaced_workspace_is_owned_by_the_apply_and_overrides_the_secret_ref() {
        let spec = json!({"forProvider": {"source": "Inline", "module": "x"}, "writeConnectionSecretToRef": {"name": "template-default"}});
        let ws = desired_workspace(&apply(), &spec, WorkspaceApi::Namespaced).unwrap();
        assert_eq!(ws["apiVersion"], "tf.m.upbound.io/v1beta1");
        assert_eq!(ws["metadata"]["namespace"], "team-a");
        assert_eq!(ws["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(ws["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(ws["metadata"]["labels"][CLUSTER_NAME_LABEL], "prod");
        assert_eq!(
            ws["spec"]["writeConnectionSecretToRef"],
            json!({"name": "prod-eks-connection"})
        );
    }

    #[test]
    fn cluster_scoped_workspace_is_tracked_by_labels_and_names_the_secret_namespace() {
        let ws =
            desired_workspace(&apply(), &json!({"forProvider": {}}), WorkspaceApi::ClusterScoped).unwrap();
        assert_eq!(ws["apiVersion"], "tf.upbound.io/v1beta1");
        assert!(ws["metadata"].get("namespace").is_none());
        assert!(ws["metadata"].get("ownerReferences").is_none());
        assert_eq!(ws["metadata"]["labels"][APPLY_NAMESPACE_LABEL], "team-a");
        assert_eq!(
            ws["spec"]["writeConnectionSecretToRef"],
            json!({"name": "prod-eks-connection", "namespace": "team-a"})
        );
    }

    #[test]
    fn the_spec_hash_changes_with_the_render() {
        let a = desired_workspace(
            &apply(),
            &json!({"forProvider": {"vars": [{"key": "v", "value": "1.30"}]}}),
            WorkspaceApi::Namespaced,
        )
        .unwrap();
        let b = desired_workspace(
            &apply(),
            &json!({"forProvider": {"vars": [{"key": "v", "value": "1.31"}]}}),
            WorkspaceApi::Namespaced,
        )
        .unwrap();
        assert_ne!(
            a["metadata"]["annotations"][SPEC_HASH_ANNOTATION],
            b["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        );
    }
}
