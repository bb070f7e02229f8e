//! The Cluster API contract, proven by the real Cluster API v1.14.2 core manager (and clusterctl)
//! running next to the operator on the test plane, with the provider-terraform simulator.
//!
//! Each test has its own namespace and in-process operator; the plane and the manager are shared
//! by the binary (`PlaneOptions::with_cluster_api`, binaries from `CAPI_ASSETS`, see
//! `tools/capibins`). The "EKS" endpoint is the test API server itself, which accepts the EKS
//! tokens the operator mints through the testkit's authenticator stand-in, so Cluster API's
//! remote connection probe really connects with our kubeconfig.

use std::time::Duration;

use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, ControlPlaneConfig, WorkspaceTemplateReference,
};
use capt_testkit::{
    PlaneOptions, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle, TestControlPlane,
    TestNamespace,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    runtime::watcher,
};
use serde_json::{Value, json};

mod support;
use support::{Operator, TIMEOUT};

/// Cluster API's remote connection cache retries a failed connection every 30 s.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(150);

async fn plane() -> &'static TestControlPlane {
    match TestControlPlane::shared_with(PlaneOptions::with_cluster_api()).await {
        Ok(plane) => plane,
        Err(e) => panic!("{e}"),
    }
}

fn cluster_ar(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", version, "Cluster"),
        "clusters",
    )
}

/// One test's world: a namespace, the operator (as its RBAC-bound user), the simulator, the
/// EKS template and the AWS credentials the operator signs tokens with.
struct World {
    admin: Client,
    ns: TestNamespace,
    operator: Option<Operator>,
    sim: Option<SimulatorHandle>,
}

impl World {
    async fn new(prefix: &str) -> World {
        let plane = plane().await;
        let (admin, ns, operator_client) = support::namespace_with_operator_user(plane, prefix).await;
        let operator = Operator::start(operator_client, ns.name()).await;
        let sim = Simulator::spawn(
            admin.clone(),
            SimulatorConfig::new(SimulatedCluster::from_plane(plane)).in_namespace(ns.name()),
        );
        support::create_token_credentials(&admin, ns.name()).await;
        support::create_template(&admin, ns.name(), "eks", &[]).await;
        World {
            admin,
            ns,
            operator: Some(operator),
            sim: Some(sim),
        }
    }

    fn name(&self) -> &str {
        self.ns.name()
    }

    fn cps(&self) -> Api<CAPTControlPlane> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    fn clusters(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), self.name(), &cluster_ar("v1beta2"))
    }

    fn dynamic(&self, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), self.name(), ar)
    }

    /// A control plane as a user writes it: no ownerReference (Cluster API sets it).
    async fn control_plane(&self, name: &str, cluster: &str) {
        support::accept_eks_cluster(cluster).await;
        let cp = CAPTControlPlane::new(
            name,
            CAPTControlPlaneSpec {
                version: "v1.31.0".into(),
                workspace_template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                control_plane_config: Some(ControlPlaneConfig {
                    region: "eu-west-1".into(),
                    ..Default::default()
                }),
                token_credentials_ref: Some(support::token_credentials_ref()),
                ..Default::default()
            },
        );
        self.cps().create(&PostParams::default(), &cp).await.unwrap();
    }

    /// A v1beta2 Cluster whose control plane is `cp`.
    async fn cluster(&self, name: &str, cp: &str) {
        let cluster: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": cp}},
        }))
        .unwrap();
        self.clusters()
            .create(&PostParams::default(), &cluster)
            .await
            .unwrap();
    }

    async fn wait_state(&self, name: &str, state: &str) -> CAPTControlPlane {
        capt_testkit::wait_for_object(&self.cps(), name, TIMEOUT, |cp: &CAPTControlPlane| {
            cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state)
        })
        .await
        .unwrap_or_else(|e| panic!("control plane {name} in {state}: {e}"))
    }

    /// Waits until Cluster `name` has condition `type_` with `status`; returns the Cluster.
    async fn wait_cluster_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let cluster = capt_testkit::wait_for_object(&self.clusters(), name, timeout, |c: &DynamicObject| {
            condition(&c.data, type_).is_some_and(|c| c["status"] == status)
        })
        .await
        .unwrap_or_else(|e| panic!("Cluster {name} {type_}={status}: {e}"));
        cluster.data
    }

    /// Warning events about control plane `name`, as (reason, note).
    async fn warnings(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.admin.clone(), self.name());
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
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

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Every state control plane `name` is seen in from now until it is deleted.
fn watch_states(api: Api<CAPTControlPlane>, name: &str) -> tokio::task::JoinHandle<Vec<String>> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut states = Vec::new();
        let mut events = watcher(api, config).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(cp) | watcher::Event::InitApply(cp)) => {
                    if let Some(state) = cp.status.and_then(|s| s.state)
                        && states.last() != Some(&state)
                    {
                        states.push(state);
                    }
                }
                Ok(watcher::Event::Delete(_)) => break,
                _ => {}
            }
        }
        states
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_cluster_becomes_available_through_our_control_plane() {
    let w = World::new("capi-plain").await;
    w.control_plane("plain-cp", "plain").await;
    w.cluster("plain", "plain-cp").await;
    let cp = w.wait_state("plain-cp", "Ready").await;

    // Cluster API set itself as owner, and read what the contract asks of us.
    assert!(
        cp.owner_references()
            .iter()
            .any(|o| o.kind == "Cluster" && o.name == "plain"),
        "{:?}",
        cp.owner_references()
    );
    w.wait_cluster_condition("plain", "ControlPlaneAvailable", "True", TIMEOUT)
        .await;
    // The Cluster controller may write the initialization field a reconcile after the condition.
    let cluster = capt_testkit::wait_for_object(&w.clusters(), "plain", TIMEOUT, |c: &DynamicObject| {
        c.data["status"]["initialization"]["controlPlaneInitialized"] == true
    })
    .await
    .unwrap()
    .data;
    assert_eq!(
        condition(&cluster, "ControlPlaneInitialized").unwrap()["status"],
        "True"
    );
    let endpoint = cp.spec.control_plane_endpoint.clone().unwrap();
    let cluster = capt_testkit::wait_for_object(&w.clusters(), "plain", TIMEOUT, |c: &DynamicObject| {
        c.data["spec"]["controlPlaneEndpoint"]["host"].is_string()
            && c.data["status"]["controlPlane"]["versions"].is_array()
    })
    .await
    .unwrap()
    .data;
    assert_eq!(cluster["spec"]["controlPlaneEndpoint"]["host"], endpoint.host);
    assert_eq!(cluster["spec"]["controlPlaneEndpoint"]["port"], endpoint.port);
    assert_eq!(
        cluster["status"]["controlPlane"]["versions"][0]["version"],
        "v1.31.0"
    );

    // Cluster API connects to the "EKS" API server with the kubeconfig we wrote (an EKS bearer
    // token; it refuses exec kubeconfigs), and its probe says so.
    let cluster = w
        .wait_cluster_condition("plain", "RemoteConnectionProbe", "True", REMOTE_TIMEOUT)
        .await;
    assert_eq!(
        condition(&cluster, "RemoteConnectionProbe").unwrap()["status"],
        "True"
    );
    assert!(w.warnings("plain-cp").await.is_empty());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1beta1_cluster_is_served_through_conversion() {
    let w = World::new("capi-v1beta1").await;
    w.control_plane("old-cp", "old").await;
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "old"},
        "spec": {"controlPlaneRef": {
            "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
            "kind": "CAPTControlPlane",
            "name": "old-cp",
            "namespace": w.name(),
        }},
    }))
    .unwrap();
    let v1beta1 = w.dynamic(&cluster_ar("v1beta1"));
    v1beta1.create(&PostParams::default(), &cluster).await.unwrap();
    w.wait_state("old-cp", "Ready").await;
    // Read back through the conversion webhook, as a v1beta1 client sees it.
    let old = capt_testkit::wait_for_object(&v1beta1, "old", TIMEOUT, |c: &DynamicObject| {
        c.data["status"]["controlPlaneReady"] == true
    })
    .await
    .unwrap();
    assert!(old.data["spec"]["controlPlaneEndpoint"]["host"].is_string());
    w.wait_cluster_condition("old", "ControlPlaneAvailable", "True", TIMEOUT)
        .await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_cluster_pauses_the_control_plane() {
    let w = World::new("capi-pause").await;
    w.control_plane("paused-cp", "paused").await;
    w.cluster("paused", "paused-cp").await;
    w.wait_state("paused-cp", "Ready").await;
    let pause = |paused: bool| json!({"spec": {"paused": paused}});
    w.clusters()
        .patch("paused", &PatchParams::default(), &Patch::Merge(pause(true)))
        .await
        .unwrap();
    let cp = capt_testkit::wait_for_object(&w.cps(), "paused-cp", TIMEOUT, |cp: &CAPTControlPlane| {
        paused_condition(cp) == Some("True")
    })
    .await
    .unwrap();
    let message = cp
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Paused")
        .unwrap()
        .message;
    assert!(message.contains("spec.paused"), "{message}");
    w.wait_cluster_condition("paused", "Paused", "True", TIMEOUT)
        .await;

    w.clusters()
        .patch("paused", &PatchParams::default(), &Patch::Merge(pause(false)))
        .await
        .unwrap();
    capt_testkit::wait_for_object(&w.cps(), "paused-cp", TIMEOUT, |cp: &CAPTControlPlane| {
        paused_condition(cp) == Some("False")
    })
    .await
    .unwrap();
    w.finish().await;
}

fn paused_condition(cp: &CAPTControlPlane) -> Option<&str> {
    cp.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Paused")
        .map(|c| c.status.as_str())
}

/// Cluster API deletes the control plane right after the Cluster is marked for deletion. In that
/// window the Cluster is not Ready, which once took a Ready control plane to Degraded with a
/// Warning and a recovery attempt on nearly every deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_cluster_removes_everything_without_a_false_alarm() {
    let w = World::new("capi-delete").await;
    w.control_plane("gone-cp", "gone").await;
    w.cluster("gone", "gone-cp").await;
    w.wait_state("gone-cp", "Ready").await;
    w.wait_cluster_condition("gone", "ControlPlaneAvailable", "True", TIMEOUT)
        .await;
    let states = watch_states(w.cps(), "gone-cp");
    // The watch must be established before the deletion it is to see.
    tokio::time::sleep(Duration::from_millis(500)).await;

    w.clusters().delete("gone", &Default::default()).await.unwrap();
    capt_testkit::wait_for_deletion(&w.clusters(), "gone", Duration::from_secs(120))
        .await
        .unwrap();
    let states = tokio::time::timeout(TIMEOUT, states).await.unwrap().unwrap();
    assert_eq!(states, ["Ready"], "no transition while being deleted");
    assert!(
        w.cps().get_opt("gone-cp").await.unwrap().is_none(),
        "the control plane went before its Cluster"
    );
    let workspaces = w.dynamic(&capt_testkit::WorkspaceApi::Namespaced.resource());
    assert!(
        workspaces
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let secrets: Api<Secret> = Api::namespaced(w.admin.clone(), w.name());
    for name in ["gone-kubeconfig", "gone-user-kubeconfig", "gone-ca"] {
        assert!(secrets.get_opt(name).await.unwrap().is_none(), "{name} is left");
    }
    assert_eq!(w.warnings("gone-cp").await, Vec::<(String, String)>::new());
    w.finish().await;
}

/// ClusterClass derives the control plane's kind from the template's by trimming `Template`:
/// only `CAPTControlPlaneTemplate` can yield `CAPTControlPlane`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_class_topology_reaches_a_ready_control_plane() {
    let w = World::new("capi-class").await;
    install_test_infrastructure(&w.admin).await;
    let template = json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlaneTemplate",
        "metadata": {"name": "capt"},
        "spec": {"template": {"spec": {
            // Upstream's sample writes this placeholder; the topology sets the version.
            "version": capt_controlplane::api::VERSION_PLACEHOLDER,
            "workspaceTemplateRef": {"name": "eks"},
            "controlPlaneConfig": {"region": "eu-west-1"},
            "tokenCredentialsRef": {"name": support::TOKEN_CREDENTIALS},
        }}},
    });
    let templates = w.dynamic(&ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "controlplane.cluster.x-k8s.io",
            "v1beta1",
            "CAPTControlPlaneTemplate",
        ),
        "captcontrolplanetemplates",
    ));
    templates
        .create(&PostParams::default(), &serde_json::from_value(template).unwrap())
        .await
        .unwrap();
    let infra_templates = w.dynamic(&infra_ar("TestClusterTemplate", "testclustertemplates"));
    infra_templates
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                "kind": "TestClusterTemplate",
                "metadata": {"name": "test"},
                "spec": {"template": {"spec": {}}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let class_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "ClusterClass"),
        "clusterclasses",
    );
    let classes = w.dynamic(&class_ar);
    classes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta2",
                "kind": "ClusterClass",
                "metadata": {"name": "capt"},
                "spec": {
                    "infrastructure": {
                        "templateRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "TestClusterTemplate", "name": "test"},
                    },
                    "controlPlane": {
                        "templateRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "CAPTControlPlaneTemplate", "name": "capt"},
                        "naming": {"template": "{{ .cluster.name }}-cp"},
                    },
                },
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The topology controller refuses a ClusterClass its controller has not reconciled yet.
    capt_testkit::wait_for_object(&classes, "capt", TIMEOUT, |c: &DynamicObject| {
        c.data["status"]["observedGeneration"] == c.data["metadata"]["generation"]
    })
    .await
    .unwrap();

    support::accept_eks_cluster("topo").await;
    w.clusters()
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta2",
                "kind": "Cluster",
                "metadata": {"name": "topo"},
                "spec": {"topology": {"classRef": {"name": "capt"}, "version": "v1.31.2"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The stand-in infrastructure provider reports its cluster provisioned.
    let infra = w.dynamic(&infra_ar("TestCluster", "testclusters"));
    let topo = capt_testkit::wait_for_object(&w.clusters(), "topo", TIMEOUT, |c: &DynamicObject| {
        c.data["spec"]["infrastructureRef"]["name"].is_string()
    })
    .await
    .unwrap();
    let infra_name = topo.data["spec"]["infrastructureRef"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    infra
        .patch(
            &infra_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"initialization": {"provisioned": true}}})),
        )
        .await
        .unwrap();

    let cp = w.wait_state("topo-cp", "Ready").await;
    assert_eq!(cp.spec.version, "v1.31.2", "the topology sets the version");
    assert!(
        cp.labels().contains_key("topology.cluster.x-k8s.io/owned"),
        "stamped out by the topology controller"
    );
    w.wait_cluster_condition("topo", "ControlPlaneAvailable", "True", TIMEOUT)
        .await;
    w.wait_cluster_condition("topo", "TopologyReconciled", "True", TIMEOUT)
        .await;
    w.finish().await;
}

fn infra_ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("infrastructure.cluster.x-k8s.io", "v1beta1", kind),
        plural,
    )
}

/// A stand-in infrastructure provider's CRDs (ClusterClass requires an infrastructure template):
/// free-form objects that declare the v1beta2 contract.
async fn install_test_infrastructure(admin: &Client) {
    let crd = |kind: &str, plural: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": format!("{plural}.infrastructure.cluster.x-k8s.io"),
                "labels": {"cluster.x-k8s.io/v1beta2": "v1beta1"},
            },
            "spec": {
                "group": "infrastructure.cluster.x-k8s.io",
                "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1beta1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                }],
            },
        })
    };
    capt_testkit::crds::install_crds(
        admin,
        &[
            crd("TestCluster", "testclusters"),
            crd("TestClusterTemplate", "testclustertemplates"),
        ],
        Duration::from_secs(30),
    )
    .await
    .unwrap();
}

/// clusterctl reads our release as a provider repository: `generate provider` renders it with no
/// variable to set, `init` installs it next to a core provider from a local repository, and
/// `delete` removes it, cluster-scoped RBAC included. On a private plane: `init` installs CRDs
/// and webhooks that would disturb the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterctl_generates_installs_and_deletes_the_provider() {
    let assets = plane().await.cluster_api().unwrap().clone();
    let private = TestControlPlane::start(PlaneOptions {
        crd_dirs: Vec::new(),
        controller_manager: true,
        eks_authenticator: false,
        ..PlaneOptions::default()
    })
    .await
    .unwrap();
    let admin = private.client().await.unwrap();
    let work = tempdir();
    let repo = work.join("repo");

    // `make release-manifests`, into the test's own repository.
    let release = std::process::Command::new(capt_testkit::util::repo_root().join("hack/release.sh"))
        .arg("v0.1.0")
        .env("OUT_DIR", &repo)
        .output()
        .unwrap();
    assert!(
        release.status.success(),
        "{}",
        String::from_utf8_lossy(&release.stderr)
    );
    let ours = repo.join("control-plane-capt/v0.1.0");
    for file in ["control-plane-components.yaml", "metadata.yaml"] {
        let text = std::fs::read_to_string(ours.join(file)).unwrap();
        assert!(!text.contains("${"), "{file} has a clusterctl variable");
    }
    let metadata = std::fs::read_to_string(ours.join("metadata.yaml")).unwrap();
    assert!(metadata.contains("contract: v1beta2"), "{metadata}");
    let core = repo.join(format!("cluster-api/{}", capt_testkit::capi::CAPI_VERSION));
    std::fs::create_dir_all(&core).unwrap();
    for file in ["core-components.yaml", "metadata.yaml"] {
        std::fs::copy(assets.config.join(file), core.join(file)).unwrap();
    }
    let config = work.join("clusterctl.yaml");
    std::fs::write(
        &config,
        format!(
            "providers:\n  - name: cluster-api\n    type: CoreProvider\n    url: file://{}/core-components.yaml\n  \
             - name: capt\n    type: ControlPlaneProvider\n    url: file://{}/control-plane-components.yaml\n",
            core.display(),
            ours.display()
        ),
    )
    .unwrap();
    // `generate provider` takes no --kubeconfig; the others get the private plane's.
    let clusterctl = |args: &[&str]| {
        let mut command = std::process::Command::new(&assets.clusterctl);
        command.args(args).args(["--config", config.to_str().unwrap()]);
        if args[0] != "generate" {
            command.args(["--kubeconfig", private.kubeconfig_path().to_str().unwrap()]);
        }
        let output = command
            .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
            .env("HOME", &work)
            .env("XDG_CONFIG_HOME", work.join("config"))
            .env("GOPROXY", "off")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert!(
            output.status.success(),
            "clusterctl {args:?} failed:\n{stderr}\n{stdout}"
        );
        (stdout, stderr)
    };

    let (described, _) = clusterctl(&[
        "generate",
        "provider",
        "--control-plane",
        "capt:v0.1.0",
        "--describe",
    ]);
    assert!(
        !described.contains("Variables:"),
        "no variable to set:\n{described}"
    );
    let (generated, _) = clusterctl(&["generate", "provider", "--control-plane", "capt:v0.1.0"]);
    assert!(generated.contains("captcontrolplanes.controlplane.cluster.x-k8s.io"));

    // clusterctl counts cert-manager as installed when its two kinds are served.
    install_cert_manager_kinds(&admin).await;
    clusterctl(&[
        "init",
        "--core",
        &format!("cluster-api:{}", capt_testkit::capi::CAPI_VERSION),
        "--bootstrap=-",
        "--control-plane",
        "capt:v0.1.0",
    ]);
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), "capt-system");
    let manager = deployments.get("capt-controlplane-manager").await.unwrap();
    assert_eq!(
        manager
            .labels()
            .get("cluster.x-k8s.io/provider")
            .map(String::as_str),
        Some("control-plane-capt")
    );
    assert!(manager.labels().contains_key("clusterctl.cluster.x-k8s.io"));
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(admin.clone());
    assert!(
        roles
            .get_opt("capt-system-controlplane-manager")
            .await
            .unwrap()
            .is_some()
    );

    clusterctl(&["delete", "--control-plane", "capt"]);
    assert!(
        deployments
            .get_opt("capt-controlplane-manager")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        roles
            .get_opt("capt-system-controlplane-manager")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        bindings
            .get_opt("capt-system-controlplane-manager")
            .await
            .unwrap()
            .is_none()
    );
    drop(private);
    let _ = std::fs::remove_dir_all(&work);
}

fn tempdir() -> std::path::PathBuf {
    let base = std::env::var_os("CAPT_TEST_RUN_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = base.join(format!("clusterctl-{}", capt_testkit::util::random_suffix(6)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn install_cert_manager_kinds(admin: &Client) {
    let crd = |kind: &str, plural: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.cert-manager.io")},
            "spec": {
                "group": "cert-manager.io",
                "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                }],
            },
        })
    };
    capt_testkit::crds::install_crds(
        admin,
        &[crd("Issuer", "issuers"), crd("Certificate", "certificates")],
        Duration::from_secs(30),
    )
    .await
    .unwrap();
}
