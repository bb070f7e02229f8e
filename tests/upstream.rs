//! Drop-in for upstream CAPT users, against the real Cluster API core manager: upstream's own
//! manifest shapes reach Ready in both Workspace API modes, and a control plane that upstream left
//! Ready is adopted without a destroy, without a Warning and without a transition.
//!
//! Cluster-scoped Workspaces have global names and one simulator serves them all, so the tests
//! that use them take [`CLUSTER_SCOPED`] in turn.

mod support;

use std::time::Duration;

use capt_controlplane::api::{CAPTControlPlane, WorkspaceApi};
use capt_testkit::{
    Output, PlaneOptions, Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle,
    TestControlPlane, TestNamespace,
};
use k8s_openapi::api::{core::v1::Secret, events::v1::Event};
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    core::GroupVersionKind,
    discovery,
};
use serde_json::{Value, json};
use support::{Operator, TIMEOUT};

/// Held by each test that uses cluster-scoped Workspaces.
static CLUSTER_SCOPED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn plane() -> &'static TestControlPlane {
    match TestControlPlane::shared_with(PlaneOptions::with_cluster_api()).await {
        Ok(plane) => plane,
        Err(e) => panic!("{e}"),
    }
}

/// One test's namespace, simulator and operator, for one Workspace API.
struct World {
    admin: Client,
    ns: TestNamespace,
    api: WorkspaceApi,
    operator_client: Client,
    operator: Option<Operator>,
    sim: Option<SimulatorHandle>,
}

impl World {
    async fn new(prefix: &str, api: WorkspaceApi) -> World {
        support::world::init_logs();
        let plane = plane().await;
        let (admin, ns, operator_client) = support::namespace_with_operator_user(plane, prefix).await;
        let sim = Simulator::spawn(
            admin.clone(),
            SimulatorConfig::new(SimulatedCluster::from_plane(plane))
                .with_apis([simulated(api)])
                .in_namespace(ns.name()),
        );
        support::create_token_credentials(&admin, ns.name()).await;
        World {
            operator_client,
            admin,
            ns,
            api,
            operator: None,
            sim: Some(sim),
        }
    }

    async fn start_operator(&mut self) {
        self.operator = Some(Operator::start_for(self.operator_client.clone(), self.name(), self.api).await);
    }

    fn name(&self) -> &str {
        self.ns.name()
    }

    fn cps(&self) -> Api<CAPTControlPlane> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    fn workspaces(&self) -> Api<DynamicObject> {
        simulated(self.api).api(self.admin.clone(), Some(self.name()))
    }

    /// Creates every object of fixture `file`, in this test's namespace where upstream wrote
    /// `default`, after `edit`.
    async fn apply_fixture(&self, file: &str, edit: impl Fn(&mut Value)) {
        let path = capt_testkit::util::repo_root()
            .join("tests/fixtures/upstream")
            .join(file);
        for mut doc in capt_testkit::crds::load_documents(&path).unwrap() {
            in_namespace(&mut doc, self.name());
            edit(&mut doc);
            self.create(doc).await;
        }
    }

    async fn create(&self, doc: Value) -> DynamicObject {
        let (group, version) = match doc["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), doc["apiVersion"].as_str().unwrap().to_owned()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, doc["kind"].as_str().unwrap());
        let (ar, caps) = discovery::pinned_kind(&self.admin, &gvk).await.unwrap();
        let api: Api<DynamicObject> = if caps.scope == discovery::Scope::Namespaced {
            Api::namespaced_with(self.admin.clone(), self.name(), &ar)
        } else {
            Api::all_with(self.admin.clone(), &ar)
        };
        let obj: DynamicObject = serde_json::from_value(doc).unwrap();
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {} {}: {e}", gvk.kind, obj.name_any()))
    }

    async fn wait_state(&self, name: &str, state: &str) -> CAPTControlPlane {
        capt_testkit::wait_for_object(&self.cps(), name, TIMEOUT, |cp: &CAPTControlPlane| {
            cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state)
        })
        .await
        .unwrap_or_else(|e| panic!("control plane {name} in {state}: {e}"))
    }

    /// Every event in the namespace, as (type, regarding, reason, note).
    async fn events(&self) -> Vec<(String, String, String, String)> {
        let api: Api<Event> = Api::namespaced(self.admin.clone(), self.name());
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.regarding.and_then(|r| r.name).unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn finish(mut self) {
        if let Some(op) = self.operator.take() {
            op.stop().await;
        }
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        self.ns.delete().await.unwrap();
    }
}

/// The simulator's name for the same API.
fn simulated(api: WorkspaceApi) -> capt_testkit::WorkspaceApi {
    match api {
        WorkspaceApi::Namespaced => capt_testkit::WorkspaceApi::Namespaced,
        WorkspaceApi::ClusterScoped => capt_testkit::WorkspaceApi::ClusterScoped,
    }
}

/// Every string `default` that names a namespace (`metadata.namespace`, and `namespace` in any
/// reference) becomes `namespace`.
fn in_namespace(doc: &mut Value, namespace: &str) {
    match doc {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "namespace" && value == "default" {
                    *value = json!(namespace);
                } else {
                    in_namespace(value, namespace);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| in_namespace(v, namespace)),
        _ => {}
    }
}

/// The template edits docs/migrating-from-upstream.md gives for namespaced (`tf.m.upbound.io`)
/// Workspaces: a ProviderConfig reference names its kind, and references within the Workspace's
/// namespace carry no namespace.
fn for_namespaced_workspaces(doc: &mut Value) {
    if doc["kind"] != "WorkspaceTemplate" {
        return;
    }
    // (`pointer_mut`, not indexing: indexing a missing key would write a null into it.)
    let spec = doc.pointer_mut("/spec/template/spec").unwrap();
    spec["providerConfigRef"]["kind"] = json!("ClusterProviderConfig");
    if let Some(Value::Object(reference)) = spec.pointer_mut("/writeConnectionSecretToRef") {
        reference.remove("namespace");
    }
    if let Some(Value::Array(files)) = spec.pointer_mut("/forProvider/varFiles") {
        for file in files {
            if let Some(Value::Object(reference)) = file.pointer_mut("/secretKeyRef") {
                reference.remove("namespace");
            }
        }
    }
}

/// Upstream's sample trio (Cluster, control plane, EKS template) with the VPC its CAPTCluster
/// provisions, applied as upstream's users have them: Cluster API adopts the control plane, the
/// VPC apply renders first, the EKS template reads the VPC's connection secret, and the control
/// plane reaches Ready with upstream's status surface.
async fn upstream_samples_reach_ready(w: &mut World, edit: impl Fn(&mut Value) + Copy) {
    support::accept_eks_cluster("demo-cluster").await;
    let vpc_workspace = "demo-cluster-vpc";
    let vpc_key = match w.api {
        WorkspaceApi::Namespaced => ScriptKey::namespaced(w.name(), vpc_workspace),
        WorkspaceApi::ClusterScoped => ScriptKey::cluster_scoped(vpc_workspace),
    };
    // The VPC module's outputs as the EKS template reads them (its varFiles).
    w.sim.as_ref().unwrap().script(
        vpc_key,
        Script::default().output(
            "vpc_config",
            Output::sensitive("vpc_id = \"vpc-0abc\"\nprivate_subnets = [\"subnet-a\", \"subnet-b\"]\n"),
        ),
    );
    w.start_operator().await;
    for file in [
        "vpc-template.yaml",
        "eks-controlplane-template.yaml",
        "vpc-apply.yaml",
        "controlplane.yaml",
        "cluster.yaml",
    ] {
        w.apply_fixture(file, edit).await;
    }
    let ready = w.wait_state("demo-cluster", "Ready").await;
    let status = ready.status.as_ref().unwrap();
    assert!(status.ready && status.initialized);
    assert_eq!(status.phase, Some(capt_controlplane::api::Phase::Ready));
    // What CAAPH's HelmChartProxies read.
    let at_provider = status
        .workspace_status
        .as_ref()
        .and_then(|w| w.at_provider.clone());
    let outputs = &at_provider.unwrap_or_default()["outputs"];
    assert_eq!(outputs["cluster_name"], "demo-cluster");
    assert!(outputs["cluster_endpoint"].is_string(), "{outputs}");
    // Cluster API set the ownerReference (upstream's equal names are not how it is found).
    assert!(
        ready
            .owner_references()
            .iter()
            .any(|o| o.kind == "Cluster" && o.name == "demo-cluster")
    );
    let eks = w.workspaces().get("demo-cluster-eks-controlplane").await.unwrap();
    let module = eks.data["spec"]["forProvider"]["module"].as_str().unwrap();
    assert!(
        module.contains("discovery_tag = \"$${var.cluster_name}\""),
        "{module}"
    );
    let vars = &eks.data["spec"]["forProvider"]["vars"];
    assert_eq!(vars[0], json!({"key": "cluster_name", "value": "demo-cluster"}));
    let secrets: Api<Secret> = Api::namespaced(w.admin.clone(), w.name());
    for name in [
        "demo-cluster-kubeconfig",
        "demo-cluster-ca",
        "demo-cluster-eks-connection",
    ] {
        assert!(secrets.get_opt(name).await.unwrap().is_some(), "{name}");
    }
    let warnings: Vec<_> = w
        .events()
        .await
        .into_iter()
        .filter(|e| e.0 == "Warning")
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_samples_reach_ready_with_namespaced_workspaces() {
    let mut w = World::new("up-ns", WorkspaceApi::Namespaced).await;
    upstream_samples_reach_ready(&mut w, for_namespaced_workspaces).await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_samples_reach_ready_with_cluster_scoped_workspaces() {
    let _turn = CLUSTER_SCOPED.lock().await;
    let mut w = World::new("up-cs", WorkspaceApi::ClusterScoped).await;
    upstream_samples_reach_ready(&mut w, |_| {}).await;
    w.finish().await;
}

/// Upstream's template unchanged, with namespaced Workspaces: the template check says which
/// fields the migration must change, before any control plane uses the template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_template_is_flagged_for_namespaced_workspaces() {
    let mut w = World::new("up-unmigrated", WorkspaceApi::Namespaced).await;
    w.start_operator().await;
    w.apply_fixture("eks-controlplane-template.yaml", |_| {}).await;
    let templates: Api<capt_controlplane::api::WorkspaceTemplate> =
        Api::namespaced(w.admin.clone(), w.name());
    let flagged = capt_testkit::wait_for_object(&templates, "eks-controlplane-template", TIMEOUT, |t| {
        t.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Valid" && c.status == "False")
        })
    })
    .await
    .unwrap();
    let valid = flagged.status.unwrap().conditions;
    let message = &valid.iter().find(|c| c.type_ == "Valid").unwrap().message;
    assert!(message.contains("namespace"), "{message}");
    w.finish().await;
}

/// A control plane upstream CAPT left Ready, its objects as upstream writes them (no labels, no
/// ownerReference on the cluster-scoped Workspace; upstream's status fields; its secrets), is
/// adopted when this operator starts: the same Workspace (not deleted, not re-applied), no
/// Warning, no transition, `status.ready` true throughout. An upgrade afterwards goes through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_upstream_left_ready_is_adopted_without_a_destroy() {
    let _turn = CLUSTER_SCOPED.lock().await;
    let mut w = World::new("up-adopt", WorkspaceApi::ClusterScoped).await;
    let ns = w.name().to_owned();
    let name = format!("legacy-{}", &ns[ns.len() - 6..]);
    support::accept_eks_cluster(&name).await;
    w.apply_fixture("eks-controlplane-template.yaml", |_| {}).await;

    // The Cluster, then the control plane upstream owned by it (SetControllerReference).
    let cluster = w
        .create(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"controlPlaneRef": {
                "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                "kind": "CAPTControlPlane", "name": name, "namespace": ns,
            }},
        }))
        .await;
    let variables = json!({
        "cluster_name": name, "kubernetes_version": "1.31", "region": "ap-northeast-1",
        "endpoint_public_access": "true", "endpoint_private_access": "true",
        "tags_Environment": "dev", "tags_ManagedBy": "capt",
    });
    let cp = w
        .create(json!({
            "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
            "kind": "CAPTControlPlane",
            "metadata": {
                "name": name,
                "finalizers": ["controlplane.cluster.x-k8s.io/captcontrolplane"],
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "name": name,
                    "uid": cluster.uid().unwrap(), "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "version": "1.31",
                "workspaceTemplateRef": {"name": "eks-controlplane-template", "namespace": ns},
                "controlPlaneConfig": {"region": "ap-northeast-1", "endpointAccess": {"public": true, "private": true}},
                "additionalTags": {"Environment": "dev", "ManagedBy": "capt"},
                "workspaceTemplateApplyName": format!("{name}-eks-controlplane-apply"),
                "tokenCredentialsRef": {"name": support::TOKEN_CREDENTIALS},
            },
        }))
        .await;
    let owned_by_cp = json!([{
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "CAPTControlPlane",
        "name": name, "uid": cp.uid().unwrap(), "controller": true, "blockOwnerDeletion": true,
    }]);

    // The Workspace as upstream's apply controller created it: the template's JSON text with
    // every `${key}` replaced, no labels, no ownerReference.
    let template = capt_testkit::crds::load_documents(
        &capt_testkit::util::repo_root().join("tests/fixtures/upstream/eks-controlplane-template.yaml"),
    )
    .unwrap()
    .remove(0);
    let mut text = template["spec"]["template"]["spec"].to_string();
    text = text.replace("${WORKSPACE_NAME}", &format!("{name}-eks-controlplane"));
    for (key, value) in variables.as_object().unwrap() {
        text = text.replace(&format!("${{{key}}}"), value.as_str().unwrap());
    }
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    in_namespace(&mut spec, &ns);
    // Upstream's apply overrides the template's connection secret.
    spec["writeConnectionSecretToRef"] = json!({"name": format!("{name}-eks-connection"), "namespace": ns});
    let ws_name = format!("{name}-eks-controlplane");
    let workspaces = w.workspaces();
    workspaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "tf.upbound.io/v1beta1", "kind": "Workspace",
                "metadata": {"name": ws_name}, "spec": spec,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let served = capt_testkit::wait_for_object(&workspaces, &ws_name, TIMEOUT, |ws: &DynamicObject| {
        ws.data["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    })
    .await
    .unwrap();

    // The apply, with the status upstream records once it has created the Workspace.
    let apply_name = format!("{name}-eks-controlplane-apply");
    w.create(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplateApply",
        "metadata": {"name": apply_name, "finalizers": ["infrastructure.cluster.x-k8s.io/finalizer"],
                     "ownerReferences": owned_by_cp},
        "spec": {
            "templateRef": {"name": "eks-controlplane-template", "namespace": ns},
            "variables": variables,
            "writeConnectionSecretToRef": {"name": format!("{name}-eks-connection"), "namespace": ns},
        },
    }))
    .await;
    let now = jiff::Timestamp::now().to_string();
    let applies = w
        .dynamic_api(
            "infrastructure.cluster.x-k8s.io",
            "v1beta1",
            "WorkspaceTemplateApply",
        )
        .await;
    applies
        .patch_status(
            &apply_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "workspaceName": ws_name, "applied": true, "lastAppliedTime": now,
                "conditions": upstream_conditions(&served.data["status"]["conditions"]),
            }})),
        )
        .await
        .unwrap();

    // The secrets upstream wrote: the CA and a kubeconfig with a static token, owned by the
    // control plane.
    let connection: Secret = Api::namespaced(w.admin.clone(), &ns)
        .get(&format!("{name}-eks-connection"))
        .await
        .unwrap();
    let data = connection.data.clone().unwrap_or_default();
    let ca = data["cluster_certificate_authority_data"].clone();
    let endpoint = String::from_utf8(data["cluster_endpoint"].0.clone()).unwrap();
    for secret in [
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": format!("{name}-ca"), "ownerReferences": owned_by_cp},
               "data": {"tls.crt": ca, "ca.crt": ca}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
               "metadata": {"name": format!("{name}-kubeconfig"), "ownerReferences": owned_by_cp,
                            "labels": {"cluster.x-k8s.io/cluster-name": name}},
               "stringData": {"value": format!(
                   "apiVersion: v1\nkind: Config\nclusters: [{{name: {name}, cluster: {{server: {endpoint}}}}}]\n\
                    users: [{{name: rancher-installer, user: {{token: static-token-from-terraform}}}}]\n\
                    contexts: [{{name: {name}, context: {{cluster: {name}, user: rancher-installer}}}}]\n\
                    current-context: {name}\n")}}),
    ] {
        w.create(secret).await;
    }

    // The control plane's status as upstream leaves a Ready one.
    // Upstream stores the whole `https://…` output as the host with port 443; our CRD refuses a
    // scheme, so the test stores the bare host (a stored upstream value is corrected by the
    // operator's first write, which validation ratcheting lets through).
    let host = endpoint
        .trim_start_matches("https://")
        .rsplit_once(':')
        .map_or(endpoint.as_str(), |(h, _)| h)
        .to_owned();
    w.cps()
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "ready": true, "initialized": true, "secretsReady": true, "phase": "Ready",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                "message": "Control plane is ready", "lastTransitionTime": now}],
                "workspaceStatus": {"ready": true, "state": "Available", "atProvider": served.data["status"]["atProvider"]},
                "workspaceTemplateStatus": {"ready": true, "lastAppliedRevision": "2025-07-01 10:00:00 +0000 UTC"},
            }})),
        )
        .await
        .unwrap();
    w.cps()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"controlPlaneEndpoint": {"host": host, "port": 443}}})),
        )
        .await
        .unwrap();

    // Every status the control plane shows from here on.
    let seen = watch_readiness(w.cps(), &name);
    let started = jiff::Timestamp::now();
    w.start_operator().await;

    // Adopted: our labels on the very Workspace upstream created, with its spec untouched.
    let adopted = capt_testkit::wait_for_object(&workspaces, &ws_name, TIMEOUT, |ws: &DynamicObject| {
        ws.labels()
            .contains_key("infrastructure.cluster.x-k8s.io/workspacetemplateapply")
    })
    .await
    .unwrap();
    assert_eq!(adopted.uid(), served.uid(), "the same Workspace");
    assert_eq!(
        adopted.metadata.generation, served.metadata.generation,
        "spec unchanged"
    );
    assert!(adopted.metadata.deletion_timestamp.is_none());
    let cp = capt_testkit::wait_for_object(&w.cps(), &name, TIMEOUT, |cp: &CAPTControlPlane| {
        cp.status.as_ref().is_some_and(|s| {
            s.state.as_deref() == Some("Ready")
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "KubeconfigReady" && c.status == "True")
        })
    })
    .await
    .unwrap();
    // A quiet spell: nothing moves without a cause.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let cp_after = w.cps().get(&name).await.unwrap();
    let history = &cp_after
        .status
        .as_ref()
        .unwrap()
        .progress
        .as_ref()
        .unwrap()
        .history;
    let records: Vec<_> = history
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        records,
        [("Ready", "Ready", "AdoptedFromUpstream")],
        "{history:?}"
    );
    assert_eq!(cp_after.status.as_ref().unwrap().state.as_deref(), Some("Ready"));
    assert_eq!(
        cp.status
            .as_ref()
            .unwrap()
            .workspace_template_status
            .as_ref()
            .unwrap()
            .last_applied_revision,
        adopted
            .annotations()
            .get("infrastructure.cluster.x-k8s.io/spec-hash")
            .cloned(),
        "Ready with the render the Workspace carries"
    );
    let kubeconfig: Secret = Api::namespaced(w.admin.clone(), &ns)
        .get(&format!("{name}-kubeconfig"))
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&kubeconfig.data.unwrap()["value"].0)
            .contains("static-token-from-terraform"),
        "the static token is replaced by a refreshed one"
    );
    let events = w.events().await;
    let warnings: Vec<_> = events.iter().filter(|e| e.0 == "Warning").collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    for adopted_object in [&name, &apply_name] {
        assert!(
            events
                .iter()
                .any(|e| e.0 == "Normal" && &e.1 == adopted_object && e.2 == "AdoptedFromUpstream"),
            "{adopted_object}: {events:?}"
        );
    }
    let current = workspaces.get(&ws_name).await.unwrap();
    assert_eq!(current.metadata.generation, served.metadata.generation);

    // Managed from now on: an upgrade re-renders the same Workspace.
    w.cps()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "1.32"}})),
        )
        .await
        .unwrap();
    capt_testkit::wait_for_object(&w.cps(), &name, TIMEOUT, |cp: &CAPTControlPlane| {
        cp.status.as_ref().is_some_and(|s| {
            s.state.as_deref() == Some("Ready")
                && s.progress
                    .as_ref()
                    .is_some_and(|p| p.history.iter().any(|r| r.reason == "SpecChanged"))
        })
    })
    .await
    .unwrap();
    let upgraded = workspaces.get(&ws_name).await.unwrap();
    assert_eq!(upgraded.uid(), served.uid());
    assert!(
        upgraded.data["spec"]["forProvider"]["vars"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "kubernetes_version", "value": "1.32"}))
    );
    let statuses = seen.abort_and_collect().await;
    assert!(!statuses.is_empty());
    let before_upgrade: Vec<_> = statuses
        .iter()
        .take_while(|(_, version)| version == "1.31")
        .collect();
    assert!(
        before_upgrade
            .iter()
            .all(|((state, ready), _)| *ready && state.as_deref().is_none_or(|s| s == "Ready")),
        "Ready throughout the adoption: {before_upgrade:?} (since {started})"
    );
    w.finish().await;
}

/// Conditions as upstream copied them from the Workspace, with an empty message where crossplane
/// omits it: our CRD's conditions are `metav1.Condition`, which requires the field, so this test
/// cannot store them without one. (A stored upstream object keeps its own; the API server's
/// validation ratcheting lets writes that leave them unchanged through.)
fn upstream_conditions(conditions: &Value) -> Value {
    let mut conditions = conditions.clone();
    for c in conditions.as_array_mut().into_iter().flatten() {
        c.as_object_mut().unwrap().entry("message").or_insert(json!(""));
    }
    conditions
}

impl World {
    async fn dynamic_api(&self, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _) = discovery::pinned_kind(&self.admin, &gvk).await.unwrap();
        Api::namespaced_with(self.admin.clone(), self.name(), &ar)
    }
}

/// A watch recording each status of control plane `name` as ((state, ready), spec version).
struct Readiness(
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
);

type Seen = ((Option<String>, bool), String);

impl Readiness {
    async fn abort_and_collect(self) -> Vec<Seen> {
        self.0.abort();
        let _ = self.0.await;
        self.1.lock().unwrap().clone()
    }
}

fn watch_readiness(api: Api<CAPTControlPlane>, name: &str) -> Readiness {
    use futures::StreamExt;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let config = kube::runtime::watcher::Config::default().fields(&format!("metadata.name={name}"));
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(
            kube::runtime::watcher(api, config)
        ));
        while let Some(Ok(cp)) = stream.next().await {
            let status = cp.status.clone().unwrap_or_default();
            sink.lock()
                .unwrap()
                .push(((status.state, status.ready), cp.spec.version.clone()));
        }
    });
    Readiness(task, seen)
}
