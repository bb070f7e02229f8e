//! The writes a control plane's reconcile makes, each only when the object differs from what it
//! should be: its WorkspaceTemplateApply, the endpoint in its spec, the kubeconfig and CA secrets,
//! and the recovery actions.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
};
use serde_json::json;

use super::{CONTROLPLANE_LABEL, Context, Error, FIELD_MANAGER, Result};
use crate::{
    api::{
        APPLY_FINALIZER, ApiEndpoint, CAPTControlPlane, CLUSTER_NAME_LABEL, WorkspaceTemplateApply, workspace,
    },
    desired_apply, kubeconfig,
};

/// Makes sure the control plane's apply exists with the right spec; writes only on a difference.
pub async fn ensure_apply(
    cp: &CAPTControlPlane,
    ctx: &Context,
    apply_name: &str,
    existing: Option<&WorkspaceTemplateApply>,
    cluster_name: &str,
) -> Result<()> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let mut spec = desired_apply::spec(cp, cluster_name);
    // Retention is the user's to set on the apply; keep what is there.
    if let Some(existing) = existing {
        if existing.metadata.deletion_timestamp.is_some() {
            // Going away (its Workspace is being destroyed); written again once it is gone.
            return Ok(());
        }
        spec.retain_workspace_on_delete = existing.spec.retain_workspace_on_delete;
        if existing.spec == spec && existing.labels().get(CONTROLPLANE_LABEL) == Some(&cp.name_any()) {
            return Ok(());
        }
    }
    let owner = cp.controller_owner_ref(&()).ok_or(Error::Incomplete("uid"))?;
    let body = json!({
        "apiVersion": WorkspaceTemplateApply::api_version(&()),
        "kind": WorkspaceTemplateApply::kind(&()),
        "metadata": {
            "name": apply_name,
            "namespace": namespace,
            "labels": {CLUSTER_NAME_LABEL: cluster_name, CONTROLPLANE_LABEL: cp.name_any()},
            "ownerReferences": [owner],
            // The apply controller's finalizer, written with the apply: one write, not two.
            "finalizers": [APPLY_FINALIZER],
        },
        "spec": spec,
    });
    let api: Api<WorkspaceTemplateApply> = Api::namespaced(ctx.client.clone(), &namespace);
    api.patch(
        apply_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    tracing::info!(controlplane = %cp.name_any(), apply = apply_name, "workspace template apply written");
    Ok(())
}

/// Writes the two spec fields upstream documents as operator-written, when they differ; returns
/// the control plane's new generation when it wrote.
pub async fn ensure_spec_fields(
    cp: &CAPTControlPlane,
    ctx: &Context,
    apply_name: &str,
    endpoint: Option<&ApiEndpoint>,
) -> Result<Option<i64>> {
    let mut patch = serde_json::Map::new();
    if cp.spec.workspace_template_apply_name.as_deref() != Some(apply_name) {
        patch.insert("workspaceTemplateApplyName".into(), json!(apply_name));
    }
    if let Some(endpoint) = endpoint.filter(|e| cp.spec.control_plane_endpoint.as_ref() != Some(e)) {
        patch.insert("controlPlaneEndpoint".into(), json!(endpoint));
    }
    if patch.is_empty() {
        return Ok(None);
    }
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<CAPTControlPlane> = Api::namespaced(ctx.client.clone(), &namespace);
    let written = api
        .patch(
            &cp.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": patch})),
        )
        .await?;
    // Remembered so a pass that reads an older copy from the cache waits for this one.
    ctx.written.record(
        &format!("{namespace}/{}", cp.name_any()),
        written.resource_version().as_deref(),
    );
    Ok(written.metadata.generation)
}

/// Outcome of writing a Cluster API secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOutcome {
    /// In place, ours, with the right data.
    Ready,
    /// A secret of that name exists and is not ours: left alone.
    NotOwned,
    /// Not written: what it should hold cannot be made yet (the pass says why).
    Waiting,
}

/// A Cluster API secret as the control plane wants it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredSecret {
    /// Its data.
    pub data: BTreeMap<String, Vec<u8>>,
    /// Annotations the operator keeps on it.
    pub annotations: BTreeMap<String, String>,
}

/// Reads secret `name` in the control plane's namespace.
pub async fn fetch_secret(cp: &CAPTControlPlane, ctx: &Context, name: &str) -> Result<Option<Secret>> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    Ok(api.get_opt(name).await?)
}

/// Reads secret `name` in the control plane's namespace, unless the metadata cache says there is
/// none: on the way to Ready the three Cluster API secrets do not exist yet, and three reads that
/// find nothing are a round trip on the path to Ready. A cache that lags behind a create only
/// leads [`ensure_cluster_secret`] to a create the server refuses, and to the read after all.
pub async fn fetch_cached_secret(cp: &CAPTControlPlane, ctx: &Context, name: &str) -> Result<Option<Secret>> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    if !super::observe::secret_cached(&ctx.stores, &namespace, name) {
        return Ok(None);
    }
    fetch_secret(cp, ctx, name).await
}

/// Whether `secret` is controlled by the control plane.
pub fn controlled_by(secret: &Secret, cp: &CAPTControlPlane) -> bool {
    let uid = cp.uid().unwrap_or_default();
    secret
        .owner_references()
        .iter()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

/// The data of a secret as bytes.
pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// Writes a Cluster API secret (`<cluster>-kubeconfig`, `<cluster>-user-kubeconfig`,
/// `<cluster>-ca`) owned by the control plane, unless `existing` (as the caller just read it) is
/// not ours. Writes only when a desired key, annotation or the label differs.
///
/// With no `existing` the secret is created, never applied: a secret of that name that appeared
/// meanwhile (someone else's, or ours that the cache had not seen) makes the server refuse, and
/// it is read and judged like any existing one. An apply would have taken a stranger's secret.
///
/// A secret's type cannot change, so one that upstream CAPT wrote (its CA secret is `Opaque`)
/// keeps its type; keys another writer added (upstream's `ca.crt`) are left alone and are no
/// reason to write.
pub async fn ensure_cluster_secret(
    cp: &CAPTControlPlane,
    ctx: &Context,
    name: &str,
    cluster_name: &str,
    existing: Option<&Secret>,
    desired: DesiredSecret,
) -> Result<SecretOutcome> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let mut type_ = kubeconfig::CLUSTER_SECRET_TYPE.to_owned();
    if let Some(existing) = existing {
        if !controlled_by(existing, cp) {
            return Ok(SecretOutcome::NotOwned);
        }
        let labelled = existing.labels().get(CLUSTER_NAME_LABEL).map(String::as_str) == Some(cluster_name);
        let annotated = desired
            .annotations
            .iter()
            .all(|(k, v)| existing.annotations().get(k) == Some(v));
        let data = secret_data(existing);
        let holds = desired.data.iter().all(|(k, v)| data.get(k) == Some(v));
        if holds && labelled && annotated {
            return Ok(SecretOutcome::Ready);
        }
        type_ = existing.type_.clone().unwrap_or_else(|| "Opaque".to_owned());
    }
    // Kept for the second look after a refused create.
    let absent = existing.is_none().then(|| desired.clone());
    let owner = cp.controller_owner_ref(&()).ok_or(Error::Incomplete("uid"))?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (CLUSTER_NAME_LABEL.to_owned(), cluster_name.to_owned()),
                (CONTROLPLANE_LABEL.to_owned(), cp.name_any()),
            ])),
            annotations: (!desired.annotations.is_empty()).then_some(desired.annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some(type_),
        data: Some(
            desired
                .data
                .into_iter()
                .map(|(k, v)| (k, ByteString(v)))
                .collect(),
        ),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(for_a_second_look) = absent {
        let params = kube::api::PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        match api.create(&params, &secret).await {
            Ok(_) => {}
            Err(kube::Error::Api(refused)) if refused.code == 409 => {
                let Some(found) = api.get_opt(name).await? else {
                    // Created and deleted again between the two requests: the next pass decides.
                    return Err(kube::Error::Api(refused).into());
                };
                return Box::pin(ensure_cluster_secret(
                    cp,
                    ctx,
                    name,
                    cluster_name,
                    Some(&found),
                    for_a_second_look,
                ))
                .await;
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        let mut body = serde_json::to_value(&secret).map_err(|e| Error::Malformed(e.to_string()))?;
        body["apiVersion"] = json!("v1");
        body["kind"] = json!("Secret");
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await?;
    }
    // Names only: a kubeconfig secret holds a bearer token.
    tracing::info!(controlplane = %cp.name_any(), secret = name, "cluster secret written");
    Ok(SecretOutcome::Ready)
}

/// `RecreateWorkspace`: delete the Workspace; its apply renders a new one once it is gone.
pub async fn delete_workspace(ctx: &Context, ws: &DynamicObject) -> Result<()> {
    let api = workspaces_api(ctx, ws.namespace().as_deref());
    match api.delete(&ws.name_any(), &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `ClearCreatePending`: remove provider-terraform's stuck create-pending annotation. Safe because
/// the Terraform workspace name is deterministic and state is remote. The same patch stamps
/// [`workspace::CREATE_PENDING_CLEARED_ANNOTATION`], the change that makes the provider look again
/// now rather than at its next resync.
pub async fn clear_create_pending(ctx: &Context, ws: &DynamicObject) -> Result<()> {
    let api = workspaces_api(ctx, ws.namespace().as_deref());
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let patch = json!({"metadata": {"annotations": {
        workspace::CREATE_PENDING_ANNOTATION: null,
        workspace::CREATE_PENDING_CLEARED_ANNOTATION: now,
    }}});
    api.patch(&ws.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// `RefreshKubeconfig`: delete our kubeconfig and CA secrets so Configuring writes them afresh.
pub async fn delete_cluster_secrets(cp: &CAPTControlPlane, ctx: &Context, names: &[String]) -> Result<()> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let uid = cp.uid().unwrap_or_default();
    for name in names {
        let Some(existing) = api.get_opt(name).await? else {
            continue;
        };
        if existing
            .owner_references()
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true))
        {
            api.delete(name, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

fn workspaces_api(ctx: &Context, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = ctx.config.workspace_api.api_resource();
    match namespace {
        Some(ns) if ctx.config.workspace_api.is_namespaced() => {
            Api::namespaced_with(ctx.client.clone(), ns, &ar)
        }
        _ => Api::all_with(ctx.client.clone(), &ar),
    }
}
