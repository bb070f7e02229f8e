//! One test's world: its namespace, its simulator, its operator (as its own user, bound only to
//! `manifests/rbac/role.yaml`), and the waits and reads the scenarios share.

use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, ControlPlaneConfig, RecoveryStrategy, WorkspaceTemplateReference,
};
use capt_testkit::{
    Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle, TestNamespace,
};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::json;

use super::{Operator, TIMEOUT};

pub fn cluster_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Cluster"),
        "clusters",
    )
}

pub fn workspace_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tf.m.upbound.io", "v1beta1", "Workspace"),
        "workspaces",
    )
}

/// One test's world: a namespace, a simulator, an operator, and an admin client for the test's
/// own reads and writes.
pub struct World {
    pub admin: Client,
    pub ns: TestNamespace,
    pub user: String,
    pub operator_client: Client,
    pub sim: Option<SimulatorHandle>,
    pub operator: Option<Operator>,
}

/// Operator logs in test output, filtered by `RUST_LOG` (silent by default).
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

impl World {
    pub async fn new(prefix: &str) -> World {
        let mut world = World::without_operator(prefix).await;
        world.start_operator().await;
        world
    }

    pub async fn without_operator(prefix: &str) -> World {
        init_logs();
        let plane = capt_testkit::shared_plane().await;
        let admin = plane.client().await.unwrap();
        let ns = TestNamespace::create(&admin, prefix).await.unwrap();
        let user = format!("capt-operator-{}", ns.name());
        bind_operator_role(&admin, &user).await;
        let operator_client = plane.client_for(&user, None).await.unwrap();
        let sim = Simulator::spawn(
            admin.clone(),
            SimulatorConfig::new(SimulatedCluster::from_plane(plane)).in_namespace(ns.name()),
        );
        super::create_token_credentials(&admin, ns.name()).await;
        World {
            admin,
            ns,
            user,
            operator_client,
            sim: Some(sim),
            operator: None,
        }
    }

    pub async fn start_operator(&mut self) {
        self.operator = Some(Operator::start(self.operator_client.clone(), self.ns.name()).await);
    }

    pub async fn stop_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.stop().await;
        }
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    pub fn sim(&self) -> &SimulatorHandle {
        self.sim.as_ref().expect("simulator running")
    }

    pub fn script(&self, workspace: &str, script: Script) {
        self.sim()
            .script(ScriptKey::namespaced(self.name(), workspace), script);
    }

    pub fn cps(&self) -> Api<CAPTControlPlane> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    pub fn clusters(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), self.name(), &cluster_ar())
    }

    pub fn workspaces(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), self.name(), &workspace_ar())
    }

    pub fn dynamic(&self, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.admin.clone(), self.name(), resource)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    pub async fn template(&self, name: &str, extra_vars: &[&str]) {
        super::create_template(&self.admin, self.name(), name, extra_vars).await;
    }

    pub async fn cluster(&self, name: &str, paused: bool) -> DynamicObject {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {
                "paused": paused,
                "controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": "x"}
            }
        }))
        .unwrap();
        self.clusters()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap()
    }

    /// A control plane owned by `cluster` (as Cluster API sets it), with a fast recovery strategy.
    pub async fn control_plane(
        &self,
        name: &str,
        cluster: &DynamicObject,
        edit: impl FnOnce(&mut CAPTControlPlane),
    ) -> CAPTControlPlane {
        let mut cp = CAPTControlPlane::new(
            name,
            CAPTControlPlaneSpec {
                version: "1.31".into(),
                workspace_template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                control_plane_config: Some(ControlPlaneConfig {
                    region: "ap-northeast-1".into(),
                    ..Default::default()
                }),
                recovery_strategy: Some(fast_recovery(None)),
                token_credentials_ref: Some(super::token_credentials_ref()),
                ..Default::default()
            },
        );
        super::accept_eks_cluster(&cluster.name_any()).await;
        cp.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "cluster.x-k8s.io/v1beta2".into(),
                kind: "Cluster".into(),
                name: cluster.name_any(),
                uid: cluster.uid().unwrap(),
                ..Default::default()
            },
        ]);
        edit(&mut cp);
        self.cps().create(&PostParams::default(), &cp).await.unwrap()
    }

    pub async fn wait_state(&self, name: &str, state: &str) -> CAPTControlPlane {
        self.wait_cp(name, &format!("state {state}"), |cp| {
            cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state)
        })
        .await
    }

    /// Waits until the status history records the move `from` -> `to`. Passing states such as
    /// Recovering can last less than one poll, so a test that needs one asks the history. Any
    /// recorded move counts, also one from before the action under test.
    pub async fn wait_move(&self, name: &str, from: &str, to: &str) -> CAPTControlPlane {
        self.wait_cp(name, &format!("a move {from} -> {to} in the history"), |cp| {
            transitions(cp).iter().any(|(f, t)| f == from && t == to)
        })
        .await
    }

    /// Polls control plane `name` until `holds`; on timeout, fails with its state, operation and
    /// false conditions.
    pub async fn wait_cp(
        &self,
        name: &str,
        what: &str,
        holds: impl Fn(&CAPTControlPlane) -> bool,
    ) -> CAPTControlPlane {
        let what = format!("control plane {name}: {what}");
        capt_testkit::wait_for(&what, TIMEOUT, || async {
            let cp = self.cps().get_opt(name).await?;
            Ok::<_, kube::Error>(cp.filter(|cp| holds(cp)))
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nlast: {}",
                summary(
                    futures::executor::block_on(self.cps().get_opt(name))
                        .ok()
                        .flatten()
                )
            )
        })
    }

    pub async fn wait_gone<K>(&self, api: &Api<K>, name: &str)
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        capt_testkit::wait_for_deletion(api, name, TIMEOUT).await.unwrap();
    }

    /// Waits until an event about `name` has this type and reason. The operator publishes events
    /// after it writes the status, so a test that has just seen a state may be ahead of them.
    pub async fn wait_event(&self, name: &str, type_: &str, reason: &str) {
        let what = format!("{type_} event {reason} about {name}");
        let found = capt_testkit::wait_for(&what, TIMEOUT, || async {
            let events = self.events(name).await;
            let seen = events.iter().any(|(t, r)| t == type_ && r == reason);
            Ok::<_, std::convert::Infallible>(seen.then_some(()))
        })
        .await;
        if let Err(e) = found {
            panic!("{e}\nevents: {:?}", self.events(name).await);
        }
    }

    /// Events about `name`, as (type, reason).
    pub async fn events(&self, name: &str) -> Vec<(String, String)> {
        self.events_about(name)
            .await
            .into_iter()
            .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
            .collect()
    }

    /// The notes of the events about `name`, oldest first.
    pub async fn event_notes(&self, name: &str) -> Vec<String> {
        self.events_about(name)
            .await
            .into_iter()
            .map(|e| e.note.unwrap_or_default())
            .collect()
    }

    async fn events_about(&self, name: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.admin.clone(), self.name());
        let mut events: Vec<_> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect();
        events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        events
    }

    /// The operator's requests with `verb` whose URI contains `resource` (e.g. `/workspaces/`),
    /// since `from`, as the API server audited them.
    pub async fn operator_requests(&self, verb: &str, resource: &str, from: jiff::Timestamp) -> Vec<String> {
        let plane = capt_testkit::shared_plane().await;
        plane
            .audit_events(&self.user, from, jiff::Timestamp::now())
            .unwrap()
            .into_iter()
            .filter(|e| e.verb == verb && e.request_u_r_i.contains(resource))
            .map(|e| e.request_u_r_i)
            .collect()
    }

    /// Warning events about `name`, as (reason, count of such events).
    pub async fn warnings(&self, name: &str, reason: &str) -> usize {
        self.events(name)
            .await
            .iter()
            .filter(|(t, r)| t == "Warning" && r == reason)
            .count()
    }

    pub async fn finish(mut self) {
        self.stop_operator().await;
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        let _ = self.ns.delete().await;
    }
}

/// The state, operation and false conditions of a control plane, for failure messages.
pub fn summary(cp: Option<CAPTControlPlane>) -> String {
    let Some(st) = cp.and_then(|c| c.status) else {
        return "no status".into();
    };
    let op = st
        .progress
        .as_ref()
        .map(|p| p.current_operation.clone())
        .unwrap_or_default();
    let conditions: Vec<String> = st
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
        .collect();
    format!(
        "state {:?}, operation {op:?}, conditions {conditions:#?}",
        st.state
    )
}

pub fn fast_recovery(max_retries: Option<i32>) -> RecoveryStrategy {
    serde_json::from_value(json!({
        "maxRetries": max_retries,
        "backoff": {"initialDelay": "1s", "maxDelay": "2s", "factor": 2, "jitter": 0},
        "minHealthyPeriod": "1h",
    }))
    .unwrap()
}

/// Binds the operator's ClusterRole (from `manifests/rbac/role.yaml`) to `user`.
pub async fn bind_operator_role(admin: &Client, user: &str) {
    let role = capt_testkit::rbac::operator_role().unwrap();
    capt_testkit::rbac::bind_cluster_role(admin, &role, user)
        .await
        .unwrap();
}

/// Starts watching control plane `name` and returns, once the watch is established, the task
/// that yields its first version in `state`: polling can skip a write, a watch sees each one.
pub async fn first_in_state(
    api: Api<CAPTControlPlane>,
    name: &'static str,
    state: &'static str,
) -> tokio::task::JoinHandle<CAPTControlPlane> {
    use futures::StreamExt;
    use kube::runtime::watcher::{self, Event};
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let (established, is_established) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut established = Some(established);
        let mut events = std::pin::pin!(watcher::watcher(api, config));
        let found = async {
            while let Some(event) = events.next().await {
                match event.unwrap() {
                    Event::InitDone => {
                        if let Some(tx) = established.take() {
                            let _ = tx.send(());
                        }
                    }
                    Event::Apply(cp) | Event::InitApply(cp)
                        if cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state) =>
                    {
                        return cp;
                    }
                    _ => {}
                }
            }
            panic!("the watch on {name} ended")
        };
        tokio::time::timeout(TIMEOUT, found)
            .await
            .unwrap_or_else(|_| panic!("control plane {name} not {state} within {TIMEOUT:?}"))
    });
    is_established.await.expect("the watch is established");
    task
}

pub fn transitions(cp: &CAPTControlPlane) -> Vec<(String, String)> {
    cp.status
        .as_ref()
        .and_then(|s| s.progress.as_ref())
        .map(|p| p.history.iter().map(|r| (r.from.clone(), r.to.clone())).collect())
        .unwrap_or_default()
}

pub fn condition<'a>(
    cp: &'a CAPTControlPlane,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    cp.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}
