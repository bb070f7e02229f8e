//! A stand-in for Crossplane provider-terraform, playing it against a real API server.
//!
//! [`Simulator::spawn`] runs one kube-runtime controller per Workspace API
//! ([`WorkspaceApi`]: `tf.m.upbound.io` namespaced, `tf.upbound.io` cluster-scoped). For each
//! Workspace it does what provider-terraform does, minus Terraform:
//!
//! - adds the finalizer `finalizer.managedresource.crossplane.io` and the
//!   `crossplane.io/external-name` annotation when it first sees the Workspace;
//! - a create sets `crossplane.io/external-create-pending`, writes no status while Terraform
//!   applies (the real provider's reconcile is blocked in `terraform apply`, for the whole of an
//!   EKS create), then sets `crossplane.io/external-create-succeeded` and Ready False/Creating
//!   with Synced True/ReconcileSuccess, then outputs in `status.atProvider.outputs`, the
//!   connection secret and Ready True/Available; the pending annotation is never removed;
//! - a failed create sets `crossplane.io/external-create-failed`, Ready False/Creating and
//!   `create failed: cannot apply Terraform configuration: Terraform encountered an error.
//!   Summary: ...`, and publishes an empty connection secret. Its resources stay in the
//!   Terraform state, so every retry is an update: `update failed: ...`, Ready still Creating;
//! - a spec change (detected, like the real provider, by a checksum in `status.atProvider`)
//!   re-applies; outputs echo the `cluster_name`/`kubernetes_version` variables; a failed
//!   re-apply says `update failed` and leaves Ready True/Available;
//! - a create cut off by a restart (the pending annotation newer than any outcome, and no create
//!   in progress in this process) is refused with crossplane's `cannot determine creation
//!   result` until someone removes the annotation *and* changes something the provider watches
//!   (generation, labels, another annotation): crossplane ignores edits of its create
//!   annotations, so removing the annotation alone wakes the real provider only at its hourly
//!   resync, which is not simulated;
//! - deletion: waits while other finalizers remain (as crossplane does), Ready False/Deleting,
//!   the scripted destroy time, then removes its finalizer;
//! - `status.observedGeneration` and Synced's `observedGeneration` follow `metadata.generation`;
//!   Ready/Available carries none, as in the real provider.
//!
//! What each Workspace experiences is scripted ([`Script`]; see [`script`] for the annotation
//! form). Run at most one simulator per Workspace: scope them with
//! [`SimulatorConfig::namespace`] and [`SimulatorConfig::label_selector`] when tests share a plane.
//!
//! Not simulated: `managementPolicies`, `deletionPolicy: Orphan`, pausing, ProviderConfig
//! resolution (a missing ProviderConfig does not fail), Kubernetes Events, timing (the poll and its
//! jitter, crossplane's backoff, the hourly resync), a failed create that leaves nothing in the
//! Terraform state (its retries stay `create failed`), `observe failed` errors (`terraform init`,
//! the backend, module sources), and Terraform's state lock, which a run killed mid-apply leaves
//! held (`tests/provider_terraform_restart.rs` shows that with the real provider).
//!
//! `tests/provider_terraform.rs` drives the same scenarios through this simulator and through
//! the real provider-terraform running OpenTofu, and fails when they differ in anything the
//! operator reads: condition paths and reasons, message shapes, create annotations, outputs and
//! the connection secret.

pub mod outputs;
pub mod provider;
pub mod script;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt as _};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::workspace_api::WorkspaceApi;

pub use outputs::{Output, SimulatedCluster};
pub use script::{Script, ScriptKey};

use provider::{Condition, FINALIZER};

/// Field manager of the simulator's writes.
pub const FIELD_MANAGER: &str = "capt-sim";

/// How the simulator runs.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The cluster the outputs describe.
    pub cluster: SimulatedCluster,
    /// The Workspace APIs to serve. Default: both.
    pub apis: Vec<WorkspaceApi>,
    /// Only namespaced Workspaces in this namespace (cluster-scoped ones are unaffected).
    pub namespace: Option<String>,
    /// Only Workspaces matching this label selector (both APIs).
    pub label_selector: Option<String>,
    /// The script of every Workspace, below handle scripts and annotations.
    pub default_script: Script,
    /// Wait between failed attempts (crossplane backs off from 1 s to 60 s). Default 1 s.
    pub retry_interval: Duration,
    /// Re-observation period of healthy Workspaces, which re-publishes a deleted connection
    /// secret (provider-terraform's `--poll`, 10 min). Default 30 s.
    pub poll_interval: Duration,
}

impl SimulatorConfig {
    /// Both APIs, all Workspaces, no delays or errors.
    pub fn new(cluster: SimulatedCluster) -> Self {
        Self {
            cluster,
            apis: WorkspaceApi::ALL.to_vec(),
            namespace: None,
            label_selector: None,
            default_script: Script::default(),
            retry_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(30),
        }
    }

    /// Only namespaced Workspaces in `namespace`.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Only Workspaces matching `selector`.
    pub fn with_label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only these APIs.
    pub fn with_apis(mut self, apis: impl IntoIterator<Item = WorkspaceApi>) -> Self {
        self.apis = apis.into_iter().collect();
        self
    }

    /// The script of every Workspace.
    pub fn with_default_script(mut self, script: Script) -> Self {
        self.default_script = script;
        self
    }
}

/// The simulated provider-terraform.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Starts the simulator on the current tokio runtime and returns its handle. It runs until
    /// [`SimulatorHandle::shutdown`], or until the handle is dropped.
    pub fn spawn(client: Client, config: SimulatorConfig) -> SimulatorHandle {
        let scripts: Arc<Mutex<HashMap<ScriptKey, Script>>> = Arc::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut triggers = HashMap::new();
        let mut controllers = Vec::new();
        for api in config.apis.iter().copied() {
            let (tx, rx) = mpsc::unbounded_channel::<()>();
            triggers.insert(api, tx);
            let mut watcher_config = watcher::Config::default();
            if let Some(selector) = &config.label_selector {
                watcher_config = watcher_config.labels(selector);
            }
            let context = Arc::new(Context {
                api,
                client: client.clone(),
                config: config.clone(),
                scripts: scripts.clone(),
                memory: Mutex::default(),
            });
            let mut stop = shutdown_rx.clone();
            let script_changes =
                futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|()| ((), rx)) });
            let controller = Controller::new_with(
                api.api(client.clone(), config.namespace.as_deref()),
                watcher_config,
                api.resource(),
            )
            // A script change reconciles every Workspace of the API: steps are idempotent and a
            // simulator serves a handful of Workspaces (`reconcile_on` for one object is unstable).
            .reconcile_all_on(script_changes)
            .graceful_shutdown_on(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .run(reconcile, error_policy, context)
            .for_each(move |outcome| async move {
                if let Err(e) = outcome {
                    tracing::debug!(%api, error = %e, "simulator controller");
                }
            });
            controllers.push(controller);
        }
        let task = tokio::spawn(async move {
            futures::future::join_all(controllers).await;
        });
        SimulatorHandle {
            scripts,
            triggers,
            shutdown,
            task: Some(task),
        }
    }
}

/// Controls a running simulator. Dropping it stops the simulator abruptly;
/// [`shutdown`](Self::shutdown) lets reconciliations in flight finish.
#[derive(Debug)]
pub struct SimulatorHandle {
    scripts: Arc<Mutex<HashMap<ScriptKey, Script>>>,
    triggers: HashMap<WorkspaceApi, mpsc::UnboundedSender<()>>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimulatorHandle {
    /// Scripts the Workspace `key` (replacing its previous script) and reconciles it at once, so
    /// a change, such as clearing an error, takes effect without waiting for a retry.
    pub fn script(&self, key: ScriptKey, script: Script) {
        lock(&self.scripts).insert(key.clone(), script);
        self.trigger(&key);
    }

    /// Removes the script of `key` and reconciles it.
    pub fn clear_script(&self, key: &ScriptKey) {
        lock(&self.scripts).remove(key);
        self.trigger(key);
    }

    /// The handle-level script of `key`, if any.
    pub fn script_of(&self, key: &ScriptKey) -> Option<Script> {
        lock(&self.scripts).get(key).cloned()
    }

    fn trigger(&self, key: &ScriptKey) {
        if let Some(tx) = self.triggers.get(&key.api) {
            // A closed channel means the simulator has stopped; there is nothing to trigger.
            let _ = tx.send(());
        }
    }

    /// Stops the simulator, letting reconciliations in flight finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data is plain maps; a panic elsewhere cannot leave it inconsistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Per-controller state shared by reconciliations.
struct Context {
    api: WorkspaceApi,
    client: Client,
    config: SimulatorConfig,
    scripts: Arc<Mutex<HashMap<ScriptKey, Script>>>,
    /// What Terraform would be doing right now, by Workspace UID. Only timing lives here; what
    /// has happened is recorded on the Workspace itself (annotations, checksum), as the real
    /// provider does, so a restarted simulator carries on.
    memory: Mutex<HashMap<String, Memory>>,
}

#[derive(Debug, Default)]
struct Memory {
    /// The apply in progress: the spec checksum it applies and when it started.
    apply: Option<(String, Instant)>,
    /// When the destroy in progress started.
    destroy: Option<Instant>,
    /// A create runs in this process: the pending annotation is ours, not a cut-off create's.
    creating: bool,
    /// The scripted create-pending "crash" has happened (it happens once).
    pending_injected: bool,
    /// The desired state ([`provider::desired_state`]) when the provider refused a cut-off
    /// create: until it changes, no event reaches the provider, which does nothing.
    refused: Option<String>,
}

fn error_policy(_: Arc<DynamicObject>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::debug!(api = %ctx.api, %error, "simulator reconcile failed; retrying");
    match error {
        // A conflict means the copy we worked from was stale: the watch event of the newer
        // version wakes us anyway. Retrying fast on the same stale copy only piles up
        // conflicts (thousands per second with a thousand Workspaces), so this is a safety net.
        Error::Kube(kube::Error::Api(status)) if status.code == 409 => {
            Action::requeue(Duration::from_secs(5))
        }
        _ => Action::requeue(Duration::from_millis(200)),
    }
}

/// One step of the provider for one Workspace. Each call makes at most one kind of change and
/// relies on the resulting watch event, or on a requeue for timed steps, for the next one.
async fn reconcile(workspace: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action> {
    let step = Step::new(&workspace, &ctx);
    if workspace.metadata.deletion_timestamp.is_some() {
        return step.delete().await;
    }
    if !workspace.finalizers().iter().any(|f| f == FINALIZER)
        || !workspace
            .annotations()
            .contains_key(provider::ANNOTATION_EXTERNAL_NAME)
    {
        return step.initialize().await;
    }
    let desired = provider::desired_state(&workspace);
    if step.memory(|m| m.refused.as_ref() == Some(&desired)) {
        // The real provider never hears of this change (removing the pending annotation alone
        // is one): only its hourly resync, which the simulator does not run, would.
        return Ok(Action::await_change());
    }
    step.memory(|m| m.refused = None);
    if provider::external_create_incomplete(workspace.annotations()) && !step.memory(|m| m.creating) {
        // crossplane-runtime refuses to act and does not requeue: someone must remove the
        // annotation, and change something the provider watches so that it looks again.
        let error = Condition::reconcile_error(provider::MESSAGE_CREATE_PENDING.to_owned(), step.generation);
        step.write_status(&[Condition::creating(step.generation), error], None)
            .await?;
        step.memory(|m| m.refused = Some(desired));
        return Ok(Action::await_change());
    }
    if provider::terraform_state_exists(workspace.annotations()) {
        step.observe().await
    } else {
        step.create().await
    }
}

/// The facts of one reconciliation.
struct Step<'a> {
    ws: &'a DynamicObject,
    ctx: &'a Context,
    api: Api<DynamicObject>,
    uid: String,
    generation: i64,
    script: script::Resolved,
    checksum: String,
}

impl<'a> Step<'a> {
    fn new(ws: &'a DynamicObject, ctx: &'a Context) -> Self {
        let namespace = ws.metadata.namespace.clone();
        let key = ScriptKey {
            api: ctx.api,
            namespace: namespace.clone(),
            name: ws.name_any(),
        };
        let (annotated, problems) = Script::from_annotations(ws.annotations());
        for problem in problems {
            tracing::warn!(workspace = %ws.name_any(), problem, "ignoring simulator annotation");
        }
        let handle_script = lock(&ctx.scripts).get(&key).cloned().unwrap_or_default();
        let script = ctx
            .config
            .default_script
            .clone()
            .overlay(&handle_script)
            .overlay(&annotated)
            .resolve();
        let spec = ws.data.get("spec").cloned().unwrap_or_default();
        Self {
            ws,
            ctx,
            api: ctx.api.api(ctx.client.clone(), namespace.as_deref()),
            uid: ws.uid().unwrap_or_default(),
            generation: ws.metadata.generation.unwrap_or(0),
            script,
            checksum: checksum(&spec.to_string()),
        }
    }

    fn memory<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(lock(&self.ctx.memory).entry(self.uid.clone()).or_default())
    }

    fn forget(&self) {
        lock(&self.ctx.memory).remove(&self.uid);
    }

    /// When the apply of the current spec started (now, if it had not).
    fn apply_started(&self) -> Instant {
        self.memory(|m| match &m.apply {
            Some((checksum, started)) if *checksum == self.checksum => *started,
            _ => {
                let now = Instant::now();
                m.apply = Some((self.checksum.clone(), now));
                now
            }
        })
    }

    /// Starts the next attempt's clock (after a failure, the retry is a new apply).
    fn restart_apply(&self) {
        self.memory(|m| m.apply = Some((self.checksum.clone(), Instant::now())));
    }

    fn condition(&self, type_: &str) -> Option<Condition> {
        conditions_of(self.ws).into_iter().find(|c| c.type_ == type_)
    }

    /// Adds the finalizer and the external-name annotation (crossplane's Initialize step).
    async fn initialize(&self) -> Result<Action> {
        let mut finalizers = self.ws.finalizers().to_vec();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            finalizers.push(FINALIZER.to_owned());
        }
        let mut annotations = serde_json::Map::new();
        if !self
            .ws
            .annotations()
            .contains_key(provider::ANNOTATION_EXTERNAL_NAME)
        {
            annotations.insert(
                provider::ANNOTATION_EXTERNAL_NAME.to_owned(),
                self.ws.name_any().into(),
            );
        }
        self.patch_metadata(
            serde_json::json!({ "finalizers": finalizers, "annotations": annotations }),
            true,
        )
        .await?;
        Ok(Action::await_change())
    }

    /// The first apply: crossplane's create, one step per write.
    async fn create(&self) -> Result<Action> {
        if !self.memory(|m| m.creating) {
            // crossplane records the pending create just before calling Create. A scripted
            // "crash" stops right there: nothing else is written, and the next reconcile finds
            // a pending create that is nobody's.
            let crash = self.script.stuck_create_pending && !self.memory(|m| m.pending_injected);
            self.memory(|m| {
                m.pending_injected |= crash;
                m.creating = !crash;
            });
            self.annotate(provider::ANNOTATION_CREATE_PENDING).await?;
            if crash {
                return Ok(Action::await_change());
            }
            self.restart_apply();
            return Ok(wait(self.script.create_delay));
        }
        let remaining = self
            .script
            .create_delay
            .saturating_sub(self.apply_started().elapsed());
        if !remaining.is_zero() {
            // Terraform is applying: the provider writes nothing meanwhile.
            return Ok(Action::requeue(remaining));
        }
        if let Some(summary) = &self.script.apply_error {
            let summary = summary.clone();
            // The failed apply left resources in the Terraform state: the provider's next
            // Observe finds them and publishes the (still empty) connection details.
            if let Err(message) = self.publish(&BTreeMap::new()).await? {
                return self.publish_failed(message).await;
            }
            let annotated = self.annotate(provider::ANNOTATION_CREATE_FAILED).await?;
            self.memory(|m| m.creating = false);
            let error = Condition::reconcile_error(provider::create_failed(&summary), self.generation);
            self.write_status_of(&annotated, &[Condition::creating(self.generation), error], None)
                .await?;
            self.restart_apply();
            return Ok(Action::requeue(self.ctx.config.retry_interval));
        }
        let annotated = self.annotate(provider::ANNOTATION_CREATE_SUCCEEDED).await?;
        self.memory(|m| {
            m.creating = false;
            m.apply = None;
        });
        // Outputs, the connection secret and Available come with the next Observe.
        let conditions = [
            Condition::creating(self.generation),
            Condition::reconcile_success(self.generation),
        ];
        let applied = serde_json::json!({ "checksum": self.checksum });
        self.write_status_of(&annotated, &conditions, Some(applied))
            .await?;
        Ok(Action::await_change())
    }

    /// Observe an existing Workspace: up to date, or re-apply after a spec change.
    async fn observe(&self) -> Result<Action> {
        let applied = self
            .ws
            .data
            .pointer("/status/atProvider/checksum")
            .and_then(|c| c.as_str());
        if applied != Some(self.checksum.as_str()) {
            // A Workspace that never served is still being created: its apply takes as long as
            // a create and fails as one would, reported as an update (Create is never called
            // again once the Terraform state holds resources).
            let serving = self.condition("Ready").is_some_and(|c| c.reason == "Available");
            let (delay, failure) = if serving {
                (self.script.update_delay, &self.script.reapply_error)
            } else {
                (self.script.create_delay, &self.script.apply_error)
            };
            let elapsed = self.apply_started().elapsed();
            if elapsed < delay {
                // Terraform is applying; the status says what it said before.
                return Ok(Action::requeue(delay - elapsed));
            }
            if let Some(summary) = failure {
                // Ready is not touched: it stays Available, or Creating. A Workspace that never
                // served shows what its partial apply left in the state.
                let partial = (!serving).then(|| {
                    let mut outputs =
                        outputs::outputs_for(self.ws, &self.ctx.config.cluster, &self.script.outputs);
                    outputs.retain(|name, _| self.script.outputs_after_failure.contains(name));
                    outputs
                });
                if let Some(partial) = &partial
                    && let Err(message) = self.publish(partial).await?
                {
                    return self.publish_failed(message).await;
                }
                // Like the provider, no `outputs` key when Terraform has none.
                let at_provider = partial.map(|p| {
                    if p.is_empty() {
                        serde_json::json!({})
                    } else {
                        serde_json::json!({ "outputs": outputs::status_outputs(&p) })
                    }
                });
                let error = Condition::reconcile_error(provider::update_failed(summary), self.generation);
                self.write_status(&[error], at_provider).await?;
                self.restart_apply();
                return Ok(Action::requeue(self.ctx.config.retry_interval));
            }
        }
        let outputs = outputs::outputs_for(self.ws, &self.ctx.config.cluster, &self.script.outputs);
        if let Err(message) = self.publish(&outputs).await? {
            return self.publish_failed(message).await;
        }
        let conditions = [
            Condition::available(),
            Condition::reconcile_success(self.generation),
        ];
        self.write_status(&conditions, Some(self.at_provider())).await?;
        self.memory(|m| m.apply = None);
        Ok(Action::requeue(self.ctx.config.poll_interval))
    }

    /// Destroy, then release the finalizer.
    async fn delete(&self) -> Result<Action> {
        let finalizers = self.ws.finalizers();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        if finalizers.iter().any(|f| f != FINALIZER) {
            // crossplane: "Delay external deletion until all finalizers have been removed".
            return Ok(Action::requeue(self.ctx.config.retry_interval));
        }
        if !provider::terraform_state_exists(self.ws.annotations()) {
            // Nothing was ever created: nothing to destroy.
            return self.release().await;
        }
        let started = self.memory(|m| *m.destroy.get_or_insert_with(Instant::now));
        let remaining = self.script.destroy_delay.saturating_sub(started.elapsed());
        if self.condition("Ready").is_none_or(|c| c.reason != "Deleting") {
            let conditions = [
                Condition::deleting(self.generation),
                Condition::reconcile_success(self.generation),
            ];
            self.write_status(&conditions, None).await?;
            return Ok(wait(remaining));
        }
        if !remaining.is_zero() {
            return Ok(Action::requeue(remaining));
        }
        if let Some(summary) = &self.script.destroy_error {
            let error = Condition::reconcile_error(provider::delete_failed(summary), self.generation);
            self.write_status(&[Condition::deleting(self.generation), error], None)
                .await?;
            self.memory(|m| m.destroy = Some(Instant::now()));
            return Ok(Action::requeue(self.ctx.config.retry_interval));
        }
        self.release().await
    }

    /// Removes the finalizer; the API server then deletes the Workspace, and the garbage
    /// collector its connection secret.
    async fn release(&self) -> Result<Action> {
        let rest: Vec<&String> = self.ws.finalizers().iter().filter(|f| *f != FINALIZER).collect();
        self.patch_metadata(serde_json::json!({ "finalizers": rest }), true)
            .await?;
        self.forget();
        Ok(Action::await_change())
    }

    fn at_provider(&self) -> serde_json::Value {
        let outputs = outputs::outputs_for(self.ws, &self.ctx.config.cluster, &self.script.outputs);
        serde_json::json!({ "checksum": self.checksum, "outputs": outputs::status_outputs(&outputs) })
    }

    /// Writes the connection secret. `Ok(Err(message))` when it cannot be written for a reason
    /// the provider reports in Synced (a foreign secret, a missing namespace).
    async fn publish(&self, outputs: &BTreeMap<String, Output>) -> Result<std::result::Result<(), String>> {
        let Some((namespace, name)) = provider::connection_secret_ref(self.ws, self.ctx.api) else {
            return Ok(Ok(()));
        };
        let desired = provider::connection_secret(self.ws, self.ctx.api, &namespace, &name, outputs);
        let secrets: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let existing = match secrets.get_opt(&name).await {
            Ok(existing) => existing,
            Err(e) => return Ok(Err(format!("cannot create or update connection secret: {e}"))),
        };
        if let Some(existing) = &existing {
            if let Err(message) = provider::check_controllable(existing, &self.uid) {
                return Ok(Err(message));
            }
            let up_to_date = existing.type_ == desired.type_
                && existing.data == desired.data
                && existing.metadata.owner_references == desired.metadata.owner_references;
            if up_to_date {
                return Ok(Ok(()));
            }
        }
        match secrets
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(kube::Error::Api(status)) => Ok(Err(format!(
                "cannot create or update connection secret: {}",
                status.message
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish_failed(&self, message: String) -> Result<Action> {
        self.write_status(&[Condition::reconcile_error(message, self.generation)], None)
            .await?;
        Ok(Action::requeue(self.ctx.config.retry_interval))
    }

    /// Sets `conditions` (crossplane's SetConditions), `observedGeneration` and, when given,
    /// `atProvider`; writes only when something changed, so a steady Workspace costs no writes.
    async fn write_status(
        &self,
        conditions: &[Condition],
        at_provider: Option<serde_json::Value>,
    ) -> Result<()> {
        self.write_status_of(self.ws, conditions, at_provider).await
    }

    /// [`write_status`](Self::write_status) on `base`, the version this step's own metadata
    /// write returned (crossplane writes the create outcome's annotation, then the status).
    async fn write_status_of(
        &self,
        base: &DynamicObject,
        conditions: &[Condition],
        at_provider: Option<serde_json::Value>,
    ) -> Result<()> {
        let current = base
            .data
            .get("status")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let mut status = current.as_object().cloned().unwrap_or_default();
        let merged = provider::set_conditions(&conditions_of(base), conditions, &provider::now());
        let merged = serde_json::to_value(merged).map_err(|e| Error::Serialize {
            what: "Workspace conditions",
            message: e.to_string(),
        })?;
        status.insert("conditions".to_owned(), merged);
        status.insert("observedGeneration".to_owned(), self.generation.into());
        if let Some(at_provider) = at_provider {
            status.insert("atProvider".to_owned(), at_provider);
        }
        let status = serde_json::Value::Object(status);
        if status == current {
            return Ok(());
        }
        let mut object = base.clone();
        object.data["status"] = status;
        // A replace, not a merge patch: removed outputs must disappear, and the resourceVersion
        // precondition turns a race with a concurrent change into a conflict and a retry.
        self.api
            .replace_status(&self.ws.name_any(), &PostParams::default(), &object)
            .await?;
        Ok(())
    }

    /// Sets annotation `key` to the current time.
    async fn annotate(&self, key: &str) -> Result<DynamicObject> {
        self.patch_metadata(
            serde_json::json!({ "annotations": { key: provider::now() } }),
            false,
        )
        .await
    }

    /// A JSON merge patch of `metadata`; with `precondition`, only against the resourceVersion
    /// this reconciliation saw (finalizer lists are replaced whole, so a concurrent change must
    /// not be overwritten).
    async fn patch_metadata(
        &self,
        mut metadata: serde_json::Value,
        precondition: bool,
    ) -> Result<DynamicObject> {
        if precondition {
            metadata["resourceVersion"] = self.ws.resource_version().unwrap_or_default().into();
        }
        let patch = serde_json::json!({ "metadata": metadata });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        Ok(self
            .api
            .patch(&self.ws.name_any(), &params, &Patch::Merge(&patch))
            .await?)
    }
}

/// Requeue after `remaining`; with nothing remaining, wait for the watch event of the write just
/// made (an immediate requeue could read the store before that event and act on a stale object).
fn conditions_of(ws: &DynamicObject) -> Vec<Condition> {
    ws.data
        .pointer("/status/conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

fn wait(remaining: Duration) -> Action {
    if remaining.is_zero() {
        Action::await_change()
    } else {
        Action::requeue(remaining)
    }
}

/// A 128-bit FNV-1a hex digest, standing in for provider-terraform's md5 of the working
/// directory: it changes exactly when the spec does.
fn checksum(text: &str) -> String {
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for byte in text.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{hash:032x}")
}

/// The scripts a handle holds, for diagnostics.
impl SimulatorHandle {
    /// Every handle-level script.
    pub fn scripts(&self) -> BTreeMap<ScriptKey, Script> {
        lock(&self.scripts)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
