//! The CAPTControlPlane reconciler: drives the typed state machine from observed facts.
//!
//! # Flow of one pass
//!
//! 1. Deleting: delete the control plane's apply (its finalizer destroys the Workspace) and the
//!    secrets we wrote, wait until the apply is gone, then drop the finalizer.
//! 2. Paused (`Cluster.spec.paused` or the `cluster.x-k8s.io/paused` annotation): set the `Paused`
//!    condition and write nothing else.
//! 3. Rehydrate the machine from `status.state`; observe the Cluster, the template, the apply, the
//!    Workspace and the secrets from the caches; build the dependency graph.
//! 4. Step: each state checks its facts and either moves (with the evidence the check produced) or
//!    stays, saying what it waits for. Several moves may happen in one pass when the facts allow.
//!    Side effects happen where the state needs them: the apply in Provisioning, the endpoint and
//!    secrets in Configuring, recovery actions when the planner says act.
//! 5. Compose the status (state, progress, health, recovery, graph, contract fields, conditions);
//!    server-side apply it only when it differs; one event and one log line per transition.
//!
//! # Requeues
//!
//! Watches notice progress. A pass asks to be requeued only for time-based work: a scheduled
//! recovery attempt or deadline, the health interval while Ready, and at most every 10 minutes
//! as a safety net.

use std::{borrow::Cow, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{
    Context, Error, Result, SPEC_HASH_ANNOTATION,
    context::MAX_REQUEUE,
    effects::{self, SecretOutcome},
    events,
    finalizer::{self, Cleanup, Phase},
    observe::{self, Observation},
    probe,
    reasons::{apply_types, reason, types},
    status,
};
use crate::{
    api::{
        CAPTControlPlane, CAPTControlPlaneStatus, CONTROLPLANE_FINALIZER, Initialization, PAUSED_ANNOTATION,
        RECOVERY_ANNOTATION, RETRY_ANNOTATION, RecoveryActionType, WorkspaceStatus, WorkspaceTemplateStatus,
        cluster::cluster_ref,
        condition::{self, Status},
    },
    desired_apply, eks_token, endpoint, graph,
    health::{self, HealthChecks, HealthFacts, HealthReport, ProbeFacts, SecretState, Verdict},
    kubeconfig,
    progress::Operation,
    recovery::{Failure, Plan, Planner, Resume, RetryRecord, SplitMix64, Strategy},
    remedy::{self, Fixer, Remedy},
    render,
    state::{
        AnyControlPlane, StateName, adoption,
        evidence::{self, ConfigurationFacts, Validation, ValidationFacts},
        invariants::{self, StateFacts},
    },
};

pub use super::observe::CONNECTION_SECRET_SUFFIX;

/// How soon a pass that found the caches still syncing looks again.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(1);

/// Reconciles one CAPTControlPlane.
pub async fn reconcile(cp: Arc<CAPTControlPlane>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started("captcontrolplane");
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<CAPTControlPlane> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = key_of(&cp);
    if ctx.written.is_stale(&key, cp.resource_version().as_deref()) {
        // The watch has not delivered our own last write yet; its event will wake us with it.
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    // A new control plane gets its finalizer and the apply name upstream documents in one write.
    let apply_name = desired_apply::name(cp.as_ref());
    let also = if cp.spec.workspace_template_apply_name.as_deref() == Some(apply_name.as_str()) {
        Vec::new()
    } else {
        vec![json!({"op": "add", "path": "/spec/workspaceTemplateApplyName", "value": apply_name})]
    };
    match finalizer::phase_with(&api, CONTROLPLANE_FINALIZER, cp.as_ref(), also).await? {
        Phase::Apply => reconcile_live(&cp, &ctx, &api).await,
        Phase::Cleanup => match release(&cp, &ctx, &api).await? {
            Cleanup::Done => {
                finalizer::remove(&api, CONTROLPLANE_FINALIZER, cp.as_ref()).await?;
                Ok(Action::await_change())
            }
            Cleanup::Waiting(action) => Ok(action),
        },
        Phase::Added(written) => {
            ctx.written.record(&key, written.as_deref());
            Ok(Action::await_change())
        }
        Phase::Settled(action) => Ok(action),
    }
}

/// On error, retry soon; kube-runtime's scheduler dedups and the next pass starts from scratch.
pub fn error_policy(cp: Arc<CAPTControlPlane>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed("captcontrolplane", error);
    tracing::warn!(controlplane = %cp.name_any(), error = %error, "reconcile failed");
    Action::requeue(Duration::from_secs(10))
}

/// Why the control plane is paused, if it is.
fn paused_message(cp: &CAPTControlPlane, obs: &Observation) -> Option<String> {
    let mut why = Vec::new();
    if obs.cluster.as_ref().is_some_and(|c| c.paused) {
        why.push("Cluster spec.paused is set to true".to_owned());
    }
    if cp.annotations().contains_key(PAUSED_ANNOTATION) {
        why.push(format!("CAPTControlPlane has the {PAUSED_ANNOTATION} annotation"));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// What one pass learns while stepping, for the status it writes afterwards.
struct Pass<'a> {
    cp: &'a CAPTControlPlane,
    ctx: &'a Context,
    obs: Observation,
    now: Timestamp,
    generation: Option<i64>,
    cluster_name: String,
    validation: ValidationFacts,
    planner: Planner,
    checks: HealthChecks,
    record: RetryRecord,
    report: Option<HealthReport>,
    /// When to look again for time-based work.
    requeue: Option<Duration>,
    /// The endpoint once known.
    endpoint: Option<crate::api::ApiEndpoint>,
    /// Outcome of the kubeconfig and CA secrets, once written.
    secrets: Option<(SecretOutcome, SecretOutcome)>,
    /// A reason and message for `KubeconfigReady`/`EndpointReady` when they are not.
    configure_problem: Option<(&'static str, String)>,
    /// The retry annotation was consumed.
    retry_consumed: bool,
    /// Who the control plane waits for, when this pass's failure is one no action of ours fixes.
    held: Option<(Fixer, String)>,
    /// The Workspace spec hash the control plane was Ready with.
    ready_hash: Option<String>,
    /// The apply spec hash the control plane was Ready with (stored in status).
    ready_spec_hash: Option<String>,
    /// The generation the pass's own spec write gave the control plane (the endpoint), so the
    /// status it writes observes it instead of costing a second write to say so.
    spec_generation: Option<i64>,
    /// Events to publish after the status is written (besides the one for the pass's moves).
    notices: Vec<kube::runtime::events::Event>,
    /// The dependency graph, built once per pass from the caches.
    built: &'a graph::BuiltGraph,
}

enum Step {
    Moved(AnyControlPlane),
    Stay(AnyControlPlane, Operation),
}

impl Pass<'_> {
    fn spec_written(&mut self, generation: Option<i64>) {
        if generation.is_some() {
            self.spec_generation = generation.max(self.spec_generation);
        }
    }

    fn wake_at(&mut self, at: Timestamp) {
        let d = at
            .duration_since(self.now)
            .unsigned_abs()
            .max(Duration::from_secs(1));
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    fn wake_in(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    fn workspace_hash(&self) -> Option<String> {
        self.obs
            .workspace_object
            .as_ref()?
            .annotations()
            .get(SPEC_HASH_ANNOTATION)
            .cloned()
    }

    /// The graph as the pass leaves things. It was drawn from the caches as the pass began, so
    /// what the pass itself did (reaching Ready, writing the secrets) is not in it yet; without
    /// this the status that says Ready would draw the control plane NotReady and its secrets
    /// Missing until the next pass.
    fn graph_after(&self, ready: bool) -> Cow<'_, graph::DependencyGraph> {
        let built = self.built;
        let namespace = self.cp.namespace().unwrap_or_default();
        let mut settled = vec![graph::Node::new(
            graph::Kind::CAPTControlPlane,
            &namespace,
            self.cp.name_any(),
            graph::control_plane_status(ready),
        )];
        if self.secrets.is_some() {
            for name in [
                graph::kubeconfig_secret_name(&self.cluster_name),
                graph::ca_secret_name(&self.cluster_name),
            ] {
                settled.push(graph::Node::new(
                    graph::Kind::Secret,
                    &namespace,
                    name,
                    graph::NodeStatus::Ready,
                ));
            }
        }
        settled.retain(|n| {
            built
                .graph
                .node(n.id())
                .is_some_and(|drawn| drawn.status() != n.status())
        });
        if settled.is_empty() {
            return Cow::Borrowed(&built.graph);
        }
        let mut graph = built.graph.clone();
        for node in settled {
            graph.add_node(node);
        }
        Cow::Owned(graph)
    }

    /// The apply is written as desired and its Workspace carries the apply's latest render.
    fn apply_current(&self) -> bool {
        let Some(apply) = &self.obs.apply else {
            return false;
        };
        let mut desired = desired_apply::spec(self.cp, &self.cluster_name);
        desired.retain_workspace_on_delete = apply.spec.retain_workspace_on_delete;
        let status = apply.status.as_ref();
        apply.spec == desired
            && status.and_then(|s| s.observed_generation) == apply.metadata.generation
            && status
                .and_then(|s| s.last_applied_hash.clone())
                .is_some_and(|h| Some(h) == self.workspace_hash())
    }

    /// What the apply or its Workspace shows is wrong, with what can fix it.
    fn workspace_failure(&self) -> Option<Failure> {
        if let Some(refused) = self.apply_refusal() {
            return Some(refused);
        }
        let ws = self.obs.workspace.as_ref()?;
        let (message, remedy) = remedy::workspace_problem(ws)?;
        Some(Failure::new("Workspace", remedy, message))
    }

    /// The apply could not write the Workspace for a reason only a spec or template change can
    /// fix (the API server refused it, a name collision, an unresolved placeholder), as reported
    /// for the apply spec this control plane wants.
    fn apply_refusal(&self) -> Option<Failure> {
        let apply = self.obs.apply.as_ref()?;
        let mut desired = desired_apply::spec(self.cp, &self.cluster_name);
        desired.retain_workspace_on_delete = apply.spec.retain_workspace_on_delete;
        if apply.spec != desired {
            return None;
        }
        let status = apply.status.as_ref()?;
        // Said of an older template than the one observed now: the apply has not rendered the
        // current one yet, and its verdict on it is still to come.
        let template_generation = self.obs.template.as_ref().and_then(|t| t.metadata.generation);
        if status.observed_template_generation != template_generation {
            return None;
        }
        let conditions = &status.conditions;
        [apply_types::RENDERED, apply_types::READY]
            .into_iter()
            .filter_map(|t| condition::find(conditions, t))
            .find(|c| {
                c.status == "False"
                    && reason::NEEDS_RECONFIGURATION.contains(&c.reason.as_str())
                    && c.observed_generation == apply.metadata.generation
            })
            .map(|c| {
                Failure::permanent(
                    c.reason.clone(),
                    format!("WorkspaceTemplateApply {}: {}", apply.name_any(), c.message),
                )
            })
    }

    /// Why health is not judged now: the Cluster is being deleted, and Cluster API deletes the
    /// control plane right after. Its dependencies going away is then expected, not a failure.
    fn cluster_deleting(&self) -> Option<String> {
        let cluster = self.obs.cluster.as_ref().filter(|c| c.deleting)?;
        Some(format!(
            "Cluster {} is being deleted; waiting for Cluster API to delete the control plane",
            cluster.name
        ))
    }

    fn permanent_failure(&self) -> Option<Failure> {
        match evidence::validate(&self.validation) {
            Validation::Invalid(e) => Some(Failure::permanent(
                evidence::Evidence::reason(&e).to_owned(),
                evidence::Evidence::message(&e),
            )),
            _ => None,
        }
    }

    /// The health report, evaluated once per pass: a pass that moves Ready→Degraded or back asks
    /// twice, and must neither probe the endpoint twice nor count one failure as two.
    async fn health(&mut self) -> Result<&HealthReport> {
        let report = match self.report.take() {
            Some(report) => report,
            None => self.evaluate_health().await?,
        };
        Ok(self.report.insert(report))
    }

    async fn evaluate_health(&self) -> Result<HealthReport> {
        let built = self.built;
        let mut broken = built.graph.broken_dependencies(&built.root).unwrap_or_default();
        // Unknown means "not observed" (the operator does not watch ProviderConfigs), not broken.
        broken.retain(|b| b.status != graph::NodeStatus::Unknown);
        let uid = self.cp.uid().unwrap_or_default();
        let namespace = self.cp.namespace().unwrap_or_default();
        let secret_state =
            |name: &str| match observe::secret_owned_by(&self.ctx.stores, &namespace, name, &uid) {
                None => SecretState::Missing,
                Some(true) => SecretState::Owned,
                Some(false) => SecretState::NotOwned,
            };
        // What this pass wrote is fresher than the cache, which may not have seen it yet.
        let kc_name = graph::kubeconfig_secret_name(&self.cluster_name);
        let ca_name = graph::ca_secret_name(&self.cluster_name);
        let written = |outcome: Option<&SecretOutcome>, name: &str| match outcome {
            Some(SecretOutcome::Ready) => SecretState::Owned,
            Some(SecretOutcome::NotOwned) => SecretState::NotOwned,
            Some(SecretOutcome::Waiting) | None => secret_state(name),
        };
        let kubeconfig_secret = written(self.secrets.as_ref().map(|s| &s.0), &kc_name);
        let ca_secret = written(self.secrets.as_ref().map(|s| &s.1), &ca_name);
        // The endpoint this pass wrote is fresher than the object it read.
        let endpoint = self.endpoint.clone();
        let key = key_of(self.cp);
        let probe = match (&endpoint, self.probe_enabled()) {
            (Some(ep), true) => Some(probe::probe(self.cp, self.ctx, &self.cluster_name, ep).await),
            _ => {
                // Not probed this time: failures before and after are not in a row.
                self.ctx.probe_streaks.forget(&key);
                None
            }
        };
        let probe = probe.as_ref().map(|latest| {
            let failures_in_a_row = self.ctx.probe_streaks.record(&key, latest);
            if failures_in_a_row > 0 {
                tracing::info!(
                    controlplane = %self.cp.name_any(), namespace = %self.cp.namespace().unwrap_or_default(),
                    result = ?latest, failures_in_a_row, "endpoint probe failed"
                );
            }
            ProbeFacts {
                latest,
                failures_in_a_row,
            }
        });
        let facts = HealthFacts {
            broken_dependencies: &broken,
            workspace: self.obs.workspace.as_ref(),
            endpoint: endpoint.as_ref(),
            kubeconfig_secret,
            ca_secret,
            probe,
        };
        Ok(self.checks.evaluate(&facts))
    }

    fn probe_enabled(&self) -> bool {
        let wanted = self
            .cp
            .spec
            .health_checks
            .as_ref()
            .and_then(|h| h.probe_endpoint)
            .unwrap_or(true);
        wanted && self.ctx.config.probe_endpoints && self.checks.contains(health::ENDPOINT_PROBE)
    }

    /// Runs a recovery action the planner chose.
    async fn execute(&mut self, action: RecoveryActionType) -> Result<()> {
        tracing::info!(controlplane = %self.cp.name_any(), action = action.as_str(), "running recovery action");
        match action {
            RecoveryActionType::RecreateWorkspace => {
                if let Some(ws) = &self.obs.workspace_object {
                    effects::delete_workspace(self.ctx, ws).await?;
                }
            }
            RecoveryActionType::ClearCreatePending => {
                if let Some(ws) = &self.obs.workspace_object {
                    effects::clear_create_pending(self.ctx, ws).await?;
                }
            }
            RecoveryActionType::RefreshKubeconfig => {
                let names = [
                    graph::kubeconfig_secret_name(&self.cluster_name),
                    kubeconfig::user_kubeconfig_secret_name(&self.cluster_name),
                    graph::ca_secret_name(&self.cluster_name),
                ];
                effects::delete_cluster_secrets(self.cp, self.ctx, &names).await?;
                self.secrets = None;
            }
            RecoveryActionType::Escalate => {}
        }
        Ok(())
    }

    /// Whether the action in flight has done its work.
    fn action_done(&self, action: RecoveryActionType, started: Timestamp) -> bool {
        let ws = self.obs.workspace_object.as_ref();
        match action {
            RecoveryActionType::RecreateWorkspace => ws.is_some_and(|ws| {
                ws.metadata.deletion_timestamp.is_none()
                    && ws
                        .metadata
                        .creation_timestamp
                        .as_ref()
                        .is_some_and(|t| t.0 >= started)
            }),
            RecoveryActionType::ClearCreatePending => {
                self.obs.workspace.as_ref().is_some_and(|w| !w.create_cut_off)
            }
            RecoveryActionType::RefreshKubeconfig => {
                matches!(self.secrets, Some((SecretOutcome::Ready, SecretOutcome::Ready)))
            }
            RecoveryActionType::Escalate => false,
        }
    }

    /// Plans for `failure` from a state that moves to Recovering on Act.
    async fn plan(&mut self, failure: &Failure) -> Result<Plan> {
        let mut jitter = SplitMix64::from_entropy();
        let plan = self
            .planner
            .plan(failure, &mut self.record, self.now, &mut jitter);
        match &plan {
            Plan::Act { action, deadline, .. } => {
                self.execute(*action).await?;
                self.wake_at(*deadline);
                // Look again soon: the action's effect shows through watches, but not always.
                self.wake_in(Duration::from_secs(30));
            }
            Plan::Wait { until } => self.wake_at(*until),
            Plan::Hold { fixer } => self.held = Some((*fixer, failure.message.clone())),
            Plan::Escalate(_) => {}
        }
        Ok(plan)
    }

    /// Writes the endpoint and the Cluster API secrets; returns the configuration facts.
    async fn configure(&mut self) -> Result<ConfigurationFacts> {
        let kc_name = graph::kubeconfig_secret_name(&self.cluster_name);
        let ca_name = graph::ca_secret_name(&self.cluster_name);
        let user_name = kubeconfig::user_kubeconfig_secret_name(&self.cluster_name);
        // Every read this pass needs, in one round trip: the path to Ready is a queue at scale,
        // and each round trip is a place in it. The credentials are read ahead only when no
        // kubeconfig exists yet, which is when a token is certain to be minted.
        let namespace = self.cp.namespace().unwrap_or_default();
        let kubeconfig_cached = observe::secret_cached(&self.ctx.stores, &namespace, &kc_name);
        let credentials = self
            .cp
            .spec
            .token_credentials_ref
            .as_ref()
            .filter(|_| !kubeconfig_cached);
        let (conn, existing_kc, existing_ca, existing_user, read_ahead) = futures::try_join!(
            observe::connection_data(self.cp, self.ctx),
            effects::fetch_cached_secret(self.cp, self.ctx, &kc_name),
            effects::fetch_cached_secret(self.cp, self.ctx, &ca_name),
            effects::fetch_cached_secret(self.cp, self.ctx, &user_name),
            async {
                match credentials {
                    Some(r) => effects::fetch_secret(self.cp, self.ctx, &r.name).await.map(Some),
                    None => Ok(None),
                }
            },
        )?;
        let Some(conn) = conn else {
            let name = format!("{}{CONNECTION_SECRET_SUFFIX}", self.cp.name_any());
            self.configure_problem = Some((
                "WaitingForConnectionSecret",
                format!("waiting for connection secret {name}"),
            ));
            return Ok(ConfigurationFacts::default());
        };
        let raw = self
            .obs
            .workspace
            .as_ref()
            .and_then(|w| w.output_string(kubeconfig::ENDPOINT_OUTPUT))
            .or_else(|| {
                conn.get(kubeconfig::ENDPOINT_OUTPUT)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            });
        let Some(raw) = raw else {
            self.configure_problem = Some((
                "WaitingForEndpoint",
                format!("no {} output yet", kubeconfig::ENDPOINT_OUTPUT),
            ));
            return Ok(ConfigurationFacts::default());
        };
        let ep = match endpoint::parse(&raw) {
            Ok(ep) => ep,
            Err(e) => {
                self.configure_problem = Some(("InvalidEndpoint", e.to_string()));
                return Ok(ConfigurationFacts::default());
            }
        };
        let ca = match kubeconfig::ca_pem(&conn) {
            Ok(ca) => ca,
            Err(e) => {
                self.spec_written(
                    effects::ensure_spec_fields(self.cp, self.ctx, &self.obs.apply_name, Some(&ep)).await?,
                );
                self.endpoint = Some(ep.clone());
                self.configure_problem = Some(("WaitingForCA", e.to_string()));
                return Ok(ConfigurationFacts {
                    endpoint: Some(format!("{}:{}", ep.host, ep.port)),
                    ..Default::default()
                });
            }
        };
        let region = self
            .cp
            .spec
            .control_plane_config
            .as_ref()
            .map(|c| c.region.as_str());
        let eks_name = self
            .obs
            .workspace
            .as_ref()
            .and_then(|w| w.output_string("cluster_name"))
            .unwrap_or_else(|| self.cluster_name.clone());
        let for_cluster_api = self
            .cluster_api_kubeconfig(
                &conn,
                &ep,
                &ca,
                KubeconfigReads {
                    current: existing_kc.as_ref(),
                    credentials: read_ahead,
                },
                region,
                &eks_name,
            )
            .await?;
        let user = effects::DesiredSecret {
            data: kubeconfig::kubeconfig_secret_data(kubeconfig::user_kubeconfig(
                &self.cluster_name,
                &ep,
                &ca,
                &eks_name,
                region,
            )),
            ..Default::default()
        };
        let ca_secret = effects::DesiredSecret {
            data: kubeconfig::ca_secret_data(&ca),
            ..Default::default()
        };
        let cluster = self.cluster_name.clone();
        // Independent writes on the way to Ready: sent together, not one after another.
        let kubeconfig_write = async {
            match for_cluster_api {
                Some(desired) => {
                    effects::ensure_cluster_secret(
                        self.cp,
                        self.ctx,
                        &kc_name,
                        &cluster,
                        existing_kc.as_ref(),
                        desired,
                    )
                    .await
                }
                None => Ok(SecretOutcome::Waiting),
            }
        };
        let (spec_generation, kc, ca_out, user_out) = futures::try_join!(
            effects::ensure_spec_fields(self.cp, self.ctx, &self.obs.apply_name, Some(&ep)),
            kubeconfig_write,
            effects::ensure_cluster_secret(
                self.cp,
                self.ctx,
                &ca_name,
                &cluster,
                existing_ca.as_ref(),
                ca_secret
            ),
            effects::ensure_cluster_secret(
                self.cp,
                self.ctx,
                &user_name,
                &cluster,
                existing_user.as_ref(),
                user
            ),
        )?;
        self.spec_written(spec_generation);
        self.endpoint = Some(ep.clone());
        for (outcome, name) in [(&kc, &kc_name), (&ca_out, &ca_name), (&user_out, &user_name)] {
            if *outcome == SecretOutcome::NotOwned {
                self.configure_problem = Some((
                    reason::SECRET_NOT_OWNED,
                    format!("Secret {name} exists and is not owned by this control plane; it is left alone"),
                ));
            }
        }
        self.secrets = Some((kc.clone(), ca_out.clone()));
        Ok(ConfigurationFacts {
            endpoint: Some(format!("{}:{}", ep.host, ep.port)),
            kubeconfig_secret: kc == SecretOutcome::Ready,
            ca_secret: ca_out == SecretOutcome::Ready,
        })
    }

    /// What `<cluster>-kubeconfig` should hold: the template's own `kubeconfig` output when
    /// Cluster API can use it, else a kubeconfig with an EKS token, the current one while it is
    /// fresh, a new one when it is due. `None` (with the reason in `configure_problem`) when
    /// neither is possible: Cluster API refuses the exec form people use.
    async fn cluster_api_kubeconfig(
        &mut self,
        conn: &std::collections::BTreeMap<String, Vec<u8>>,
        ep: &crate::api::ApiEndpoint,
        ca: &[u8],
        reads: KubeconfigReads<'_>,
        region: Option<&str>,
        eks_name: &str,
    ) -> Result<Option<effects::DesiredSecret>> {
        let credentials_ref = self.cp.spec.token_credentials_ref.as_ref();
        let mut refused = None;
        if let Some(given) = conn.get(kubeconfig::KUBECONFIG_OUTPUT).filter(|k| !k.is_empty()) {
            match serde_saphyr::from_slice::<serde_json::Value>(given) {
                Ok(doc) => match kubeconfig::refused_by_cluster_api(&doc) {
                    None => {
                        return Ok(Some(effects::DesiredSecret {
                            data: kubeconfig::kubeconfig_secret_data(given.clone()),
                            ..Default::default()
                        }));
                    }
                    Some(why) => {
                        refused = Some(format!("the template's kubeconfig output cannot be used: {why}"))
                    }
                },
                Err(e) => refused = Some(format!("the template's kubeconfig output does not parse: {e}")),
            }
        }
        let Some(credentials_ref) = credentials_ref else {
            let why = refused.unwrap_or_else(|| "the template outputs no kubeconfig".into());
            self.configure_problem = Some((
                reason::NO_TOKEN_CREDENTIALS,
                format!(
                    "Cluster API needs a kubeconfig with a token ({why}); set spec.tokenCredentialsRef \
                     to a Secret with AWS credentials to sign the EKS token with"
                ),
            ));
            return Ok(None);
        };
        let Some(region) = region else {
            self.configure_problem = Some((
                reason::NO_TOKEN_CREDENTIALS,
                "spec.controlPlaneConfig.region is needed to sign the EKS token".into(),
            ));
            return Ok(None);
        };
        // The current token, while it is fresh: a new one every pass would write every pass.
        let fresh = reads
            .current
            .filter(|s| effects::controlled_by(s, self.cp))
            .and_then(|s| {
                let refresh_at: Timestamp = s
                    .annotations()
                    .get(kubeconfig::TOKEN_REFRESH_ANNOTATION)?
                    .parse()
                    .ok()?;
                let value = effects::secret_data(s).remove("value")?;
                let token = kubeconfig::token_of(&value)?;
                (self.now < refresh_at).then_some((token, refresh_at))
            });
        let (token, refresh_at) = match fresh {
            Some(current) => current,
            None => {
                let key = credentials_ref
                    .key
                    .as_deref()
                    .unwrap_or(eks_token::DEFAULT_CREDENTIALS_KEY);
                let credentials = match reads.credentials {
                    Some(read) => read,
                    None => effects::fetch_secret(self.cp, self.ctx, &credentials_ref.name).await?,
                };
                let minted = match credentials {
                    None => Err((
                        reason::WAITING_FOR_TOKEN_CREDENTIALS,
                        format!(
                            "waiting for Secret {} (spec.tokenCredentialsRef)",
                            credentials_ref.name
                        ),
                    )),
                    Some(secret) => {
                        eks_token::AwsCredentials::from_secret_data(&effects::secret_data(&secret), key)
                            .and_then(|creds| eks_token::mint(&creds, region, eks_name, self.now))
                            .map_err(|e| {
                                (
                                    reason::INVALID_TOKEN_CREDENTIALS,
                                    format!(
                                        "Secret {} (spec.tokenCredentialsRef): {e}",
                                        credentials_ref.name
                                    ),
                                )
                            })
                    }
                };
                match minted {
                    Ok(token) => (token.expose().to_owned(), token.refresh_at()),
                    Err(problem) => {
                        self.configure_problem = Some(problem);
                        return Ok(None);
                    }
                }
            }
        };
        self.wake_at(refresh_at);
        Ok(Some(effects::DesiredSecret {
            data: kubeconfig::kubeconfig_secret_data(kubeconfig::token_kubeconfig(
                &self.cluster_name,
                ep,
                ca,
                &token,
            )),
            annotations: std::collections::BTreeMap::from([(
                kubeconfig::TOKEN_REFRESH_ANNOTATION.to_owned(),
                refresh_at.to_string(),
            )]),
        }))
    }

    async fn step(&mut self, machine: AnyControlPlane) -> Result<Step> {
        use AnyControlPlane as S;
        Ok(match machine {
            S::Pending(m) => match evidence::resolve_cluster(self.obs.cluster.as_ref(), false) {
                Ok(e) => Step::Moved(m.into_validating(e).into()),
                Err(w) => Step::Stay(m.into(), Operation::blocked(w.message, 0.0)),
            },
            S::Validating(m) => match evidence::validate(&self.validation) {
                Validation::Valid(e) => Step::Moved(m.into_provisioning(e).into()),
                Validation::Invalid(e) => Step::Moved(m.into_failed(e).into()),
                Validation::Waiting(w) => Step::Stay(m.into(), Operation::blocked(w.message, 0.5)),
            },
            S::Provisioning(m) => {
                if let Some(failure) = self.permanent_failure()
                    && let Plan::Escalate(e) = self.plan(&failure).await?
                {
                    return Ok(Step::Moved(m.into_failed(e).into()));
                }
                let written =
                    effects::ensure_spec_fields(self.cp, self.ctx, &self.obs.apply_name, None).await?;
                self.spec_written(written);
                effects::ensure_apply(
                    self.cp,
                    self.ctx,
                    &self.obs.apply_name,
                    self.obs.apply.as_deref(),
                    &self.cluster_name,
                )
                .await?;
                if let Some(failure) = self.workspace_failure() {
                    return Ok(match self.plan(&failure).await? {
                        Plan::Act { evidence, .. } => Step::Moved(m.into_recovering(evidence).into()),
                        Plan::Escalate(e) => Step::Moved(m.into_failed(e).into()),
                        Plan::Wait { until } => {
                            let op = format!("{}; next recovery attempt at {until}", failure.message);
                            Step::Stay(m.into(), Operation::new(op, 0.5))
                        }
                        Plan::Hold { fixer } => {
                            let op = format!("{}; {fixer}", failure.message);
                            Step::Stay(m.into(), Operation::blocked(op, 0.5))
                        }
                    });
                }
                if !self.apply_current() {
                    let op = format!("Rendering WorkspaceTemplateApply {}", self.obs.apply_name);
                    return Ok(Step::Stay(m.into(), Operation::new(op, 0.1)));
                }
                match evidence::workspace_provisioned(self.obs.workspace.as_ref()) {
                    Ok(e) => Step::Moved(m.into_configuring(e).into()),
                    Err(w) => {
                        let fraction = match w.reason {
                            "WaitingForWorkspace" => 0.15,
                            "WaitingForOutputs" => 0.9,
                            _ => 0.5,
                        };
                        Step::Stay(m.into(), Operation::new(w.message, fraction))
                    }
                }
            }
            S::Configuring(m) => {
                let facts = self.configure().await?;
                match evidence::configured(&facts) {
                    Ok(e) => {
                        self.ready_hashes();
                        Step::Moved(m.into_ready(e).into())
                    }
                    Err(w) => match &self.configure_problem {
                        Some((why, message)) if reason::NEEDS_THE_USER.contains(why) => {
                            Step::Stay(m.into(), Operation::blocked(message.clone(), 0.5))
                        }
                        Some((_, message)) => Step::Stay(m.into(), Operation::new(message.clone(), 0.5)),
                        None => Step::Stay(m.into(), Operation::new(w.message, 0.5)),
                    },
                }
            }
            S::Ready(m) => {
                if let Some(why) = self.cluster_deleting() {
                    // Cluster API deletes the control plane next: nothing here has failed.
                    return Ok(Step::Stay(m.into(), Operation::new(why, 1.0)));
                }
                if let Some(e) = self.spec_changed() {
                    return Ok(Step::Moved(m.into_provisioning(e).into()));
                }
                // Keep the endpoint and secrets current (the connection secret may rotate, the
                // token expires), unless this pass has just written them on its way here.
                if self.secrets.is_none() {
                    self.configure().await?;
                }
                let interval = self.health_interval();
                match self.health().await?.verdict() {
                    Verdict::Failing(e) => {
                        // The Ready period that ends here may have been long enough to earn a
                        // fresh retry budget, even if no healthy pass saw it (operator down).
                        let since = m.core().entered_at();
                        self.planner.observe_healthy(&mut self.record, since, self.now);
                        Step::Moved(m.into_degraded(e).into())
                    }
                    Verdict::Healthy(_) => {
                        let since = m.core().entered_at();
                        self.planner.observe_healthy(&mut self.record, since, self.now);
                        self.wake_in(interval);
                        Step::Stay(m.into(), Operation::new("Serving", 1.0))
                    }
                }
            }
            S::Degraded(m) => {
                if let Some(why) = self.cluster_deleting() {
                    // No recovery for a control plane about to be deleted.
                    return Ok(Step::Stay(m.into(), Operation::blocked(why, 0.0)));
                }
                let report = self.health().await?.clone();
                match report.verdict() {
                    Verdict::Healthy(e) => {
                        self.ready_hashes();
                        Step::Moved(m.into_ready(e).into())
                    }
                    Verdict::Failing(e) => {
                        let failure = Failure::from_report(&report).unwrap_or_else(|| {
                            Failure::new(
                                "HealthCheckFailed",
                                Remedy::Wait(Fixer::User),
                                evidence::Evidence::message(&e),
                            )
                        });
                        // Still checked every interval, so a failure that clears is noticed.
                        self.wake_in(self.health_interval());
                        match self.plan(&failure).await? {
                            Plan::Act { evidence, .. } => Step::Moved(m.into_recovering(evidence).into()),
                            Plan::Escalate(e) => Step::Moved(m.into_failed(e).into()),
                            Plan::Wait { until } => {
                                let op = format!(
                                    "Unhealthy: {}; next recovery attempt at {until}",
                                    failure.message
                                );
                                Step::Stay(m.into(), Operation::new(op, 0.0))
                            }
                            Plan::Hold { fixer } => {
                                let op = format!("Unhealthy: {}; {fixer}", failure.message);
                                Step::Stay(m.into(), Operation::blocked(op, 0.0))
                            }
                        }
                    }
                }
            }
            S::Recovering(m) => {
                if let Some(current) = self.record.current.clone() {
                    if current.action == RecoveryActionType::RefreshKubeconfig {
                        self.configure().await?;
                    }
                    if self.action_done(current.action, current.started) {
                        let facts = ConfigurationFacts {
                            endpoint: self
                                .cp
                                .spec
                                .control_plane_endpoint
                                .as_ref()
                                .map(|e| format!("{}:{}", e.host, e.port)),
                            kubeconfig_secret: matches!(self.secrets, Some((SecretOutcome::Ready, _))),
                            ca_secret: matches!(self.secrets, Some((_, SecretOutcome::Ready))),
                        };
                        return Ok(match self.planner.succeeded(&mut self.record, &facts, self.now) {
                            Ok(Resume::Provisioning(e)) => Step::Moved(m.into_provisioning(e).into()),
                            Ok(Resume::Configuring(e)) => Step::Moved(m.into_configuring(e).into()),
                            Ok(Resume::Ready(e)) => {
                                self.ready_hashes();
                                Step::Moved(m.into_ready(e).into())
                            }
                            Err(e) => return Err(Error::Malformed(e.to_string())),
                        });
                    }
                    if self.now < current.deadline {
                        self.wake_at(current.deadline);
                        self.wake_in(Duration::from_secs(30));
                        let op = format!(
                            "{} in progress (deadline {})",
                            current.action.as_str(),
                            current.deadline
                        );
                        return Ok(Step::Stay(m.into(), Operation::new(op, 0.5)));
                    }
                }
                // Nothing in flight (a retry, or the last attempt timed out or failed): plan again.
                let failure = self.permanent_failure().or_else(|| self.workspace_failure());
                let Some(failure) = failure else {
                    return Ok(match evidence::nothing_to_repair(false) {
                        Some(e) => Step::Moved(m.into_provisioning(e).into()),
                        None => Step::Stay(m.into(), Operation::new("Recovering", 0.5)),
                    });
                };
                match self.plan(&failure).await? {
                    Plan::Act { action, .. } => {
                        let op = format!("{} started: {}", action.as_str(), failure.message);
                        Step::Stay(m.into(), Operation::new(op, 0.2))
                    }
                    Plan::Escalate(e) => Step::Moved(m.into_failed(e).into()),
                    Plan::Wait { until } => Step::Stay(
                        m.into(),
                        Operation::new(format!("Next recovery attempt at {until}"), 0.1),
                    ),
                    Plan::Hold { fixer } => Step::Stay(
                        m.into(),
                        Operation::blocked(format!("{}; {fixer}", failure.message), 0.1),
                    ),
                }
            }
            S::Failed(m) => {
                // One retry request is at most one attempt: once consumed in this pass, the
                // annotation still on this copy of the object asks for nothing more.
                let annotated = self.cp.annotations().contains_key(RETRY_ANNOTATION) && !self.retry_consumed;
                let failed_with = self
                    .cp
                    .status
                    .as_ref()
                    .and_then(|s| s.workspace_template_status.as_ref())
                    .and_then(|w| w.last_failed_revision.as_deref());
                let changed = failed_with.is_some_and(|h| h != self.configuration_revision());
                let why = m
                    .core()
                    .failure()
                    .map(|(r, msg)| format!("Failed ({r}): {msg}"))
                    .unwrap_or_else(|| "Failed".into());
                // A configuration error that nothing has changed fails again at once: say so,
                // once, instead of a Recovering and a Failed that push history out.
                if annotated
                    && !changed
                    && let Some(still) = self.permanent_failure()
                {
                    self.retry_consumed = true;
                    self.notices.push(events::warning(
                        reason::RETRY_REFUSED,
                        format!(
                            "retry refused: the configuration is unchanged and still invalid ({}: {}); \
                             change the spec or the template",
                            still.trigger, still.message
                        ),
                    ));
                    return Ok(Step::Stay(m.into(), Operation::blocked(why, 0.0)));
                }
                match evidence::retry_requested(annotated, changed) {
                    Some(e) => {
                        self.record.restart(self.now);
                        self.retry_consumed = annotated;
                        Step::Moved(m.into_recovering(e).into())
                    }
                    None => Step::Stay(m.into(), Operation::blocked(why, 0.0)),
                }
            }
        })
    }

    /// Records what the control plane is Ready with, so a later pass (or a restarted operator)
    /// tells an upgrade from an unchanged spec by what is stored, not by what a cache holds.
    fn ready_hashes(&mut self) {
        self.ready_hash = self.workspace_hash();
        self.ready_spec_hash = Some(self.desired_apply_hash());
    }

    /// The hash of the apply spec this control plane wants (the user's retention flag aside).
    fn desired_apply_hash(&self) -> String {
        let spec = desired_apply::spec(self.cp, &self.cluster_name);
        render::spec_hash(&serde_json::to_value(&spec).unwrap_or_default())
    }

    /// The render an adopted control plane is Ready with. When the Workspace upstream rendered
    /// already holds what this operator renders from the apply, it is that render's hash, the one
    /// the apply controller stamps on the Workspace when it adopts it, and nothing moves. When it
    /// does not (upstream never re-rendered after a spec or template change), it is a value no
    /// render has, so the re-render that follows shows as the update it is: Ready → Provisioning.
    async fn adopted_render_hash(&self) -> Result<String> {
        const NOT_RENDERED_HERE: &str = "rendered-by-upstream";
        let (Some(applied), Some(cached)) = (&self.obs.apply, &self.obs.workspace_object) else {
            return Ok(NOT_RENDERED_HERE.into());
        };
        let namespace = self.cp.namespace().unwrap_or_default();
        let Ok(spec) = super::apply::render_for(applied, self.ctx, &namespace) else {
            return Ok(NOT_RENDERED_HERE.into());
        };
        let desired = super::apply::desired_workspace(applied, &spec, self.ctx.config.workspace_api)?;
        // The cache keeps no Workspace spec: read this one once.
        let api = super::apply::workspaces(self.ctx, &namespace);
        let Some(live) = api.get_opt(&cached.name_any()).await? else {
            return Ok(NOT_RENDERED_HERE.into());
        };
        Ok(if render::holds(&live.data["spec"], &desired["spec"]) {
            desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
                .as_str()
                .unwrap_or(NOT_RENDERED_HERE)
                .to_owned()
        } else {
            NOT_RENDERED_HERE.into()
        })
    }

    /// Evidence for Ready→Provisioning: the apply spec differs from the one stored at Ready, or
    /// the Workspace carries a render other than the one it was Ready with. A control plane
    /// Ready before these hashes were stored compares the apply itself.
    fn spec_changed(&self) -> Option<evidence::SpecChanged> {
        let template_changed = match (&self.ready_hash, self.workspace_hash()) {
            (Some(old), Some(new)) => *old != new,
            _ => false,
        };
        let spec_outdated = match &self.ready_spec_hash {
            Some(stored) => *stored != self.desired_apply_hash(),
            None => self.obs.apply.as_ref().is_some_and(|a| {
                let mut desired = desired_apply::spec(self.cp, &self.cluster_name);
                desired.retain_workspace_on_delete = a.spec.retain_workspace_on_delete;
                a.spec != desired
            }),
        };
        evidence::spec_changed(spec_outdated, template_changed)
    }

    /// What a Failed control plane failed with: the user's spec and the template. A different one
    /// is a reason to try again.
    fn configuration_revision(&self) -> String {
        let template = self.obs.template.as_ref().map(|t| &t.spec);
        render::spec_hash(&json!({"spec": user_spec(self.cp), "template": template}))
    }

    fn health_interval(&self) -> Duration {
        let own = health::check_interval(self.cp.spec.health_checks.as_ref())
            .unwrap_or(health::DEFAULT_CHECK_INTERVAL);
        own.min(self.ctx.health_interval())
    }
}

/// What a pass read for `<cluster>-kubeconfig`: the secret as it is, and the token credentials
/// when they were read ahead (`None`: not read yet).
struct KubeconfigReads<'a> {
    current: Option<&'a k8s_openapi::api::core::v1::Secret>,
    credentials: Option<Option<k8s_openapi::api::core::v1::Secret>>,
}

/// `namespace/name`: how the operator's in-memory records name a control plane.
fn key_of(cp: &CAPTControlPlane) -> String {
    format!("{}/{}", cp.namespace().unwrap_or_default(), cp.name_any())
}

async fn reconcile_live(cp: &CAPTControlPlane, ctx: &Context, api: &Api<CAPTControlPlane>) -> Result<Action> {
    let name = cp.name_any();
    let key = key_of(cp);
    if !ctx.synced() {
        return Ok(Action::requeue(CACHE_SYNC_WAIT));
    }
    let now = Timestamp::now();
    let time = Time(now);
    let generation = cp.metadata.generation;
    let obs = observe::observe(cp, ctx, &ctx.stores)?;
    let mut st = cp.status.clone().unwrap_or_default();

    if let Some(message) = paused_message(cp, &obs) {
        condition::set(
            &mut st.conditions,
            types::PAUSED,
            Status::True,
            reason::PAUSED,
            message,
            generation,
            &time,
        );
        if status::differs(cp.status.as_ref(), &st) {
            let written = status::apply(api, &name, &st).await?;
            ctx.written.record(&key, written.resource_version().as_deref());
        }
        return Ok(Action::await_change());
    }
    condition::set(
        &mut st.conditions,
        types::PAUSED,
        Status::False,
        reason::NOT_PAUSED,
        "",
        generation,
        &time,
    );

    // Upstream CAPT left it Ready: read as Ready (the invariant check below still applies).
    let adopted = adoption::left_ready_by_upstream(Some(&st));
    let stored = if adopted {
        Ok(AnyControlPlane::adopt_upstream_ready(&st, now))
    } else {
        AnyControlPlane::from_status(Some(&st), now)
    };
    let machine = match stored {
        Ok(m) => m,
        Err(unknown) => {
            let message = format!("{unknown}; fix or clear status.state to resume");
            condition::set(
                &mut st.conditions,
                types::READY,
                Status::False,
                reason::UNKNOWN_STATE,
                &message,
                generation,
                &time,
            );
            if status::differs(cp.status.as_ref(), &st) {
                let written = status::apply(api, &name, &st).await?;
                ctx.written.record(&key, written.resource_version().as_deref());
                let ev = kube::runtime::events::Event {
                    type_: kube::runtime::events::EventType::Warning,
                    reason: reason::UNKNOWN_STATE.into(),
                    note: Some(message),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                events::publish(ctx, cp, ev).await;
            }
            return Ok(Action::requeue(MAX_REQUEUE));
        }
    };

    // Configuration the CRD cannot check is checked here; errors are permanent until fixed.
    let mut invalid = Vec::new();
    let strategy = Strategy::from_spec(cp.spec.recovery_strategy.as_ref()).unwrap_or_else(|e| {
        invalid.push(e.to_string());
        Strategy::default()
    });
    let checks = HealthChecks::configured(cp.spec.health_checks.as_ref()).unwrap_or_else(|e| {
        invalid.push(e.to_string());
        HealthChecks::defaults()
    });
    let record = cp
        .annotations()
        .get(RECOVERY_ANNOTATION)
        .and_then(|a| RetryRecord::from_annotation(a).ok())
        .or_else(|| st.recovery.as_ref().map(RetryRecord::from_status))
        .unwrap_or_default();
    let record_before = record.clone();
    let cluster_name = obs
        .cluster
        .as_ref()
        .map(|c| c.name.clone())
        .or_else(|| cluster_ref(&cp.metadata).map(|r| r.name))
        .unwrap_or_else(|| name.clone());

    let built = build_graph(cp, ctx, &obs);
    let mut validation = built.graph.validation_facts();
    validation.invalid.extend(invalid);
    validation
        .invalid
        .extend(unresolved_placeholders(cp, &obs, &cluster_name));

    // Upstream kept a time in `lastAppliedRevision`; an adopted control plane's is computed below.
    let ready_hash = st
        .workspace_template_status
        .as_ref()
        .and_then(|w| w.last_applied_revision.clone())
        .filter(|_| !adopted);
    let ready_spec_hash = st.ready_spec_hash.clone();
    let mut pass = Pass {
        cp,
        ctx,
        obs,
        now,
        generation,
        cluster_name,
        validation,
        planner: Planner::new(strategy),
        checks,
        record,
        report: None,
        requeue: None,
        endpoint: cp.spec.control_plane_endpoint.clone(),
        secrets: None,
        configure_problem: None,
        retry_consumed: false,
        held: None,
        ready_hash,
        ready_spec_hash,
        notices: Vec::new(),
        spec_generation: None,
        built: &built,
    };

    // Step until the facts allow no further move. Every state can move at most a few times per
    // pass; the bound only guards against a bug turning into a hot loop.
    // The stored state is trusted only once what it implies is observed.
    let facts = StateFacts {
        cluster_resolved: evidence::resolve_cluster(pass.obs.cluster.as_ref(), false).is_ok(),
        dependencies_present: !matches!(evidence::validate(&pass.validation), Validation::Waiting(_)),
        provisioned: pass.obs.apply.as_ref().is_some_and(|a| {
            a.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == cp.uid().as_ref())
        }),
        recovery_recorded: pass.record.attempts > 0
            || pass.record.current.is_some()
            || pass.record.next_attempt_after.is_some()
            || pass.record.retried_at.is_some(),
    };
    let mut machine = match invariants::audit(machine.state(), &facts) {
        None if adopted => {
            pass.ready_spec_hash = Some(pass.desired_apply_hash());
            pass.ready_hash = Some(pass.adopted_render_hash().await?);
            tracing::info!(controlplane = %name, namespace = %cp.namespace().unwrap_or_default(), "adopted as Ready from upstream CAPT");
            pass.notices.push(events::normal(
                reason::ADOPTED,
                "upstream CAPT left this control plane Ready; adopted as Ready, its Workspace and secrets kept".into(),
            ));
            machine
        }
        None => machine,
        Some(reentry) => {
            tracing::warn!(
                controlplane = %name, namespace = %cp.namespace().unwrap_or_default(),
                stored = %reentry.stored(), reentered = %reentry.reentered(), why = reentry.why(),
                "stored state does not hold"
            );
            pass.notices.push(events::warning(
                reason::STORED_STATE_INCONSISTENT,
                reentry.message(),
            ));
            machine.reenter(&reentry)
        }
    };
    let mut operation = Operation::new("", 0.0);
    for _ in 0..12 {
        match pass.step(machine).await? {
            Step::Moved(next) => machine = next,
            Step::Stay(current, op) => {
                machine = current;
                operation = op;
                break;
            }
        }
    }

    let state = machine.state();
    if !matches!(state, StateName::Ready | StateName::Degraded) {
        // Only these two states are probed; a run of failures does not span the states between.
        ctx.probe_streaks.forget(&key);
    }
    write_status(&mut st, &machine, &operation, &pass, &time);
    for t in machine.core().transitions() {
        tracing::info!(
            controlplane = %name, namespace = %cp.namespace().unwrap_or_default(),
            from = %t.from, to = %t.to, reason = %t.reason, detail = %t.message,
            "state transition"
        );
        ctx.metrics.transition(t.to);
    }
    ctx.metrics.set_state(&key, Some(state));

    // The retry record lives in an annotation too, since `clusterctl move` does not carry status.
    if pass.record != record_before || pass.retry_consumed {
        let mut annotations = serde_json::Map::new();
        annotations.insert(RECOVERY_ANNOTATION.into(), json!(pass.record.to_annotation()));
        if pass.retry_consumed {
            annotations.insert(RETRY_ANNOTATION.into(), serde_json::Value::Null);
        }
        let written = api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
            )
            .await?;
        ctx.written.record(&key, written.resource_version().as_deref());
    }
    if status::differs(cp.status.as_ref(), &st) {
        let changed = status::changed_fields(cp.status.as_ref(), &st);
        let moved = !machine.core().transitions().is_empty()
            || !pass.notices.is_empty()
            || pass.record != record_before
            || pass.spec_generation.is_some();
        if let Some(wait) = status::may_wait(&changed, PROGRESS_FIELDS, moved, ctx.status_writes.since(&key))
        {
            // Written with whatever else changes meanwhile; its condition warnings with it.
            tracing::debug!(controlplane = %name, fields = ?changed, ?wait, "status change waits");
            return Ok(Action::requeue(wait.max(Duration::from_millis(100))));
        }
        tracing::debug!(controlplane = %name, fields = ?changed, "writing status");
        let written = status::apply(api, &name, &st).await?;
        ctx.written.record(&key, written.resource_version().as_deref());
        ctx.status_writes.record(&key);
    }
    if let Some(moves) = events::pass_event(machine.core().transitions()) {
        events::publish(ctx, cp, moves).await;
    }
    let before = cp.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
    for event in events::condition_warnings(before, &st.conditions, reason::NEEDS_THE_USER)
        .into_iter()
        .chain(pass.notices)
    {
        events::publish(ctx, cp, event).await;
    }
    Ok(Action::requeue(
        pass.requeue.unwrap_or(MAX_REQUEUE).min(MAX_REQUEUE),
    ))
}

/// Status fields whose change, in a pass that moves nothing, may wait for [`status::SETTLE`]: what
/// a pass observes on the way (progress, the graph, conditions, the mirrored Workspace status,
/// health). The contract's `ready`, `initialized` and `version`, the state, failures and the
/// recovery record are written at once.
const PROGRESS_FIELDS: &[&str] = &[
    "progress",
    "dependencyGraph",
    "conditions",
    "workspaceStatus",
    "workspaceTemplateStatus",
    "health",
];

/// The spec the user wrote: without the two fields the operator writes.
fn user_spec(cp: &CAPTControlPlane) -> serde_json::Value {
    let mut spec = cp.spec.clone();
    spec.control_plane_endpoint = None;
    spec.workspace_template_apply_name = None;
    serde_json::to_value(&spec).unwrap_or_default()
}

/// The control plane's dependency graph, from the caches.
fn build_graph(cp: &CAPTControlPlane, ctx: &Context, obs: &Observation) -> graph::BuiltGraph {
    let facts = observe::CachedFacts {
        stores: &ctx.stores,
        workspace_api: ctx.config.workspace_api,
    };
    graph::build_from(&obs.subject(cp, ctx), &facts)
}

/// Placeholders the template uses that the control plane gives no value.
fn unresolved_placeholders(cp: &CAPTControlPlane, obs: &Observation, cluster_name: &str) -> Vec<String> {
    let namespace = cp.namespace().unwrap_or_default();
    let tref = &cp.spec.workspace_template_ref;
    let Some(template) = &obs.template else {
        return Vec::new();
    };
    let provided = desired_apply::variables(cp, cluster_name);
    render::placeholders(&template.spec.template.spec)
        .into_iter()
        .filter(|p| p != render::WORKSPACE_NAME && !provided.contains_key(p))
        .map(|p| {
            format!(
                "WorkspaceTemplate {}/{} uses ${{{p}}}, which the control plane does not provide",
                tref.namespace_or(&namespace),
                tref.name
            )
        })
        .collect()
}

/// Composes the whole status from the machine and what the pass learned.
fn write_status(
    st: &mut CAPTControlPlaneStatus,
    machine: &AnyControlPlane,
    operation: &Operation,
    pass: &Pass<'_>,
    now: &Time,
) {
    let state = machine.state();
    let generation = pass.generation;
    machine.write_status(st, operation);
    let ready = matches!(state, StateName::Ready | StateName::Degraded);
    st.ready = ready;
    st.initialized |= ready;
    st.initialization = Some(Initialization {
        control_plane_initialized: st.initialized,
    });
    st.external_managed_control_plane = true;
    if ready {
        st.version = Some(pass.cp.spec.version.clone());
        st.versions = vec![crate::api::StatusVersion {
            version: pass.cp.spec.version.clone(),
        }];
    }
    st.observed_generation = generation;

    let mut input = health::MetricsInput::new(machine, st.health.as_ref());
    input.report = pass.report.as_ref();
    let previous_checks = st.health.as_ref().map(|h| h.checks.clone()).unwrap_or_default();
    let mut metrics = health::metrics(&input);
    if pass.report.is_none() && ready {
        metrics.checks = previous_checks;
    }
    // Between transitions the availability ratio drifts every few seconds; recomputing it then
    // would write status at steady state. It is measured as of the last transition.
    if machine.core().transitions().is_empty()
        && let Some(previous) = st.health.as_ref()
    {
        metrics.availability_percent = previous.availability_percent;
        metrics.availability_window = previous.availability_window.clone();
    }
    st.health = Some(metrics);
    st.recovery = Some(pass.planner.status(&pass.record));
    st.dependency_graph = Some(pass.graph_after(ready).to_status());

    // Upstream's views, which addon templates and users of upstream CAPT read.
    let ws = pass.obs.workspace.as_ref();
    st.workspace_status = ws.map(|w| WorkspaceStatus {
        ready: w.is_ready(),
        state: w.ready.as_ref().map(|c| c.reason.clone()),
        at_provider: w.at_provider.clone(),
    });
    // Upstream's "the apply is Ready" is its Workspace's Ready, which the apply mirrors: read at
    // the source, it is current in the same pass instead of one mirror write (and one more
    // status write) later.
    let apply_ready = ws.is_some_and(|w| w.is_ready());
    let mut wts = st.workspace_template_status.clone().unwrap_or_default();
    wts = WorkspaceTemplateStatus {
        ready: apply_ready,
        state: Some(state.as_str().to_owned()),
        last_applied_revision: if ready {
            pass.ready_hash.clone().or(wts.last_applied_revision)
        } else {
            wts.last_applied_revision
        },
        last_failure_message: ws.and_then(|w| w.reconcile_error().map(str::to_owned)),
        // The spec a failure happened with: a different one is a reason to try again.
        last_failed_revision: if state == StateName::Failed {
            wts.last_failed_revision
                .clone()
                .filter(|_| machine.core().transitions().is_empty())
                .or_else(|| Some(pass.configuration_revision()))
        } else {
            None
        },
        ..wts
    };
    st.workspace_template_status = Some(wts);
    if ready {
        st.ready_spec_hash = pass.ready_spec_hash.clone().or(st.ready_spec_hash.take());
    }
    if let Some((kc, ca)) = &pass.secrets {
        st.secrets_ready = *kc == SecretOutcome::Ready && *ca == SecretOutcome::Ready;
    }

    // Conditions.
    let c = &mut st.conditions;
    let (avail_status, avail_reason) = if ready {
        (Status::True, reason::AVAILABLE)
    } else {
        (Status::False, reason::NOT_AVAILABLE)
    };
    let summary = if ready {
        String::new()
    } else {
        operation.description.clone()
    };
    condition::set(
        c,
        types::AVAILABLE,
        avail_status,
        avail_reason,
        &summary,
        generation,
        now,
    );
    condition::set(
        c,
        types::READY,
        avail_status,
        state.as_str(),
        &summary,
        generation,
        now,
    );
    match evidence::validate(&pass.validation) {
        Validation::Valid(_) => condition::set(
            c,
            types::DEPENDENCIES_VALID,
            Status::True,
            "DependenciesValid",
            "",
            generation,
            now,
        ),
        Validation::Invalid(e) => condition::set(
            c,
            types::DEPENDENCIES_VALID,
            Status::False,
            evidence::Evidence::reason(&e),
            evidence::Evidence::message(&e),
            generation,
            now,
        ),
        Validation::Waiting(w) => condition::set(
            c,
            types::DEPENDENCIES_VALID,
            Status::False,
            w.reason,
            w.message,
            generation,
            now,
        ),
    }
    match evidence::workspace_provisioned(ws) {
        Ok(_) => condition::set(
            c,
            types::WORKSPACE_READY,
            Status::True,
            "WorkspaceReady",
            "",
            generation,
            now,
        ),
        Err(w) => condition::set(
            c,
            types::WORKSPACE_READY,
            Status::False,
            w.reason,
            w.message,
            generation,
            now,
        ),
    }
    match (&pass.endpoint, &pass.configure_problem) {
        (Some(ep), _) => condition::set(
            c,
            types::ENDPOINT_READY,
            Status::True,
            "EndpointReady",
            format!("{}:{}", ep.host, ep.port),
            generation,
            now,
        ),
        (None, Some((r, m))) => condition::set(
            c,
            types::ENDPOINT_READY,
            Status::False,
            r,
            m.clone(),
            generation,
            now,
        ),
        (None, None) => condition::set(
            c,
            types::ENDPOINT_READY,
            Status::False,
            "WaitingForWorkspace",
            "the endpoint is not known yet",
            generation,
            now,
        ),
    }
    match (&pass.secrets, &pass.configure_problem) {
        (Some((SecretOutcome::Ready, SecretOutcome::Ready)), _) => condition::set(
            c,
            types::KUBECONFIG_READY,
            Status::True,
            "KubeconfigReady",
            "",
            generation,
            now,
        ),
        (_, Some((r, m))) => condition::set(
            c,
            types::KUBECONFIG_READY,
            Status::False,
            r,
            m.clone(),
            generation,
            now,
        ),
        (None, None) if st.secrets_ready => {}
        _ => condition::set(
            c,
            types::KUBECONFIG_READY,
            Status::False,
            "WaitingForConfiguring",
            "the secrets are written once the Workspace is ready",
            generation,
            now,
        ),
    }
    if let Some(report) = &pass.report {
        match report.first_failure() {
            None => condition::set(
                c,
                types::HEALTHY,
                Status::True,
                "HealthChecksPassing",
                "",
                generation,
                now,
            ),
            Some((name, f)) => condition::set(
                c,
                types::HEALTHY,
                Status::False,
                "HealthCheckFailed",
                format!("{name}: {}", f.message),
                generation,
                now,
            ),
        }
    }
    match (&pass.record.current, pass.record.next_attempt_after) {
        (Some(a), _) => condition::set(
            c,
            types::REMEDIATING,
            Status::True,
            a.action.as_str(),
            format!(
                "attempt {} started, deadline {}",
                pass.record.attempts, a.deadline
            ),
            generation,
            now,
        ),
        // Nothing of ours can fix it: not remediating, and the reason says who can.
        (None, _) if let Some((fixer, message)) = &pass.held => condition::set(
            c,
            types::REMEDIATING,
            Status::False,
            fixer.reason(),
            format!("{message}; {fixer}"),
            generation,
            now,
        ),
        (None, Some(next)) => condition::set(
            c,
            types::REMEDIATING,
            Status::True,
            "WaitingForBackoff",
            format!("next attempt at {next}"),
            generation,
            now,
        ),
        (None, None) => condition::set(
            c,
            types::REMEDIATING,
            Status::False,
            "NotRemediating",
            "",
            generation,
            now,
        ),
    }
    condition::remove(c, types::DELETING);
    c.sort_by(|a, b| a.type_.cmp(&b.type_));
    // The pass's own spec write (the endpoint) moved the generation, and this status was made
    // with it: it observes that generation, or the next pass would write again only to say so.
    if let Some(written) = pass.spec_generation {
        st.observed_generation = Some(written);
        for c in st
            .conditions
            .iter_mut()
            .filter(|c| c.observed_generation == generation)
        {
            c.observed_generation = Some(written);
        }
    }
}

/// Deletion: the apply first (its finalizer destroys the Workspace), then our secrets; the
/// finalizer goes once the apply is gone.
async fn release(cp: &CAPTControlPlane, ctx: &Context, api: &Api<CAPTControlPlane>) -> Result<Cleanup> {
    let name = cp.name_any();
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let apply_name = desired_apply::name(cp);
    let applies: Api<crate::api::WorkspaceTemplateApply> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut st = cp.status.clone().unwrap_or_default();
    let now = Time(Timestamp::now());
    let existing = applies.get_opt(&apply_name).await?;
    let owned = existing.as_ref().is_some_and(|a| {
        a.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == cp.uid().as_ref())
    });
    if let (Some(apply), true) = (&existing, owned) {
        let message =
            format!("waiting for WorkspaceTemplateApply {apply_name} and its Workspace to be deleted");
        condition::set(
            &mut st.conditions,
            types::DELETING,
            Status::True,
            reason::WAITING_FOR_WORKSPACE_DELETION,
            &message,
            cp.metadata.generation,
            &now,
        );
        if let Some(p) = st.progress.as_mut() {
            p.current_operation = format!("Deleting: {message}");
        }
        if status::differs(cp.status.as_ref(), &st) {
            status::apply(api, &name, &st).await?;
        }
        if apply.metadata.deletion_timestamp.is_none() {
            applies.delete(&apply_name, &DeleteParams::background()).await?;
            tracing::info!(controlplane = %name, apply = %apply_name, "deleting workspace template apply");
        }
        return Ok(Cleanup::Waiting(Action::requeue(Duration::from_secs(2))));
    }
    let cluster_name = cluster_ref(&cp.metadata)
        .map(|r| r.name)
        .unwrap_or_else(|| name.clone());
    effects::delete_cluster_secrets(
        cp,
        ctx,
        &[
            graph::kubeconfig_secret_name(&cluster_name),
            kubeconfig::user_kubeconfig_secret_name(&cluster_name),
            graph::ca_secret_name(&cluster_name),
        ],
    )
    .await?;
    let key = key_of(cp);
    ctx.metrics.set_state(&key, None);
    ctx.written.forget(&key);
    ctx.status_writes.forget(&key);
    ctx.probe_streaks.forget(&key);
    tracing::info!(controlplane = %name, "control plane released");
    Ok(Cleanup::Done)
}
