//! `CAPTControlPlane`: an EKS control plane provisioned through provider-terraform Workspaces.
//!
//! The spec keeps upstream CAPT's fields and JSON names; `recoveryStrategy`, `healthChecks` and
//! `dependencies` are new (CAPTEP-0002) and optional. The status carries the CAPTEP-0002 view
//! (`state`, `progress`, `health`, `recovery`, `dependencyGraph`), both Cluster API contract
//! generations, and upstream's fields that addon templates read
//! (`status.workspaceStatus.atProvider.outputs`).

// clippy reads the repeated `type_ = "string"` of the printer columns as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;

/// Desired state of a control plane.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "controlplane.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CAPTControlPlane",
    plural = "captcontrolplanes",
    singular = "captcontrolplane",
    namespaced,
    status = "CAPTControlPlaneStatus",
    category = "cluster-api",
    category = "capt",
    label("cluster.x-k8s.io/v1beta1", "v1beta1"),
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("cluster.x-k8s.io/provider", "control-plane-capt"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "CAPTEP-0002 state"
    ),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.progress.percentComplete",
        description = "Percent complete of the current operation"
    ),
    printcolumn(
        name = "Ready",
        type_ = "boolean",
        json_path = ".status.ready",
        description = "The control plane is ready"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Upstream CAPT's phase: Creating, Ready or Failed"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.version",
        description = "Kubernetes version"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.controlPlaneEndpoint.host",
        description = "API server endpoint"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "CAPTControlPlane is an EKS control plane provisioned by Crossplane provider-terraform Workspaces."
)]
#[serde(rename_all = "camelCase")]
pub struct CAPTControlPlaneSpec {
    /// Kubernetes version of the control plane, e.g. `1.31` or `v1.31.2`.
    #[x_kube(validation = Rule::new("self.matches('^v?[0-9]+\\\\.[0-9]+(\\\\.[0-9]+)?$')").message("must be a Kubernetes version such as 1.31 or v1.31.2"))]
    #[schemars(length(min = 1, max = 64))]
    pub version: String,

    /// The WorkspaceTemplate that provisions the EKS control plane.
    pub workspace_template_ref: WorkspaceTemplateReference,

    /// EKS settings passed to the template as variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_config: Option<ControlPlaneConfig>,

    /// Tags added to every AWS resource; each becomes the template variable `tags_<key>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_tags: BTreeMap<String, String>,

    /// The API server endpoint. Written by the operator from the Workspace outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,

    /// Name of the WorkspaceTemplateApply that provisions this control plane. Written by the
    /// operator on first reconcile and kept stable afterwards; do not modify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_template_apply_name: Option<String>,

    /// How the control plane heals itself (CAPTEP-0002). Defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_strategy: Option<RecoveryStrategy>,

    /// Overrides of the default health checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<HealthCheckOverrides>,

    /// Extra objects the control plane depends on (a VPC Workspace, a credentials Secret); they join
    /// the dependency graph and must exist and be ready before provisioning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub dependencies: Vec<DeclaredDependency>,

    /// AWS credentials the operator signs the short-lived EKS bearer token with, which the
    /// Cluster API kubeconfig `<cluster>-kubeconfig` carries (Cluster API refuses exec
    /// kubeconfigs); refreshed every 10 minutes. A Secret in the control plane's namespace with
    /// `aws_access_key_id` and `aws_secret_access_key` (and optionally `aws_session_token`), or
    /// an AWS credentials file under `key`. The identity needs no IAM permission, only an EKS
    /// access entry. Without it, a template must output a `kubeconfig` with a token or a client
    /// certificate, or the control plane waits in Configuring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_credentials_ref: Option<CredentialsSecretReference>,
}

/// A Secret in the control plane's own namespace holding AWS credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretReference {
    /// Name of the Secret.
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Key of an AWS shared credentials file (its `[default]` profile) in the Secret; default
    /// `credentials`. Ignored when the Secret has the `aws_access_key_id` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub key: Option<String>,
}

/// Reference to a WorkspaceTemplate; the namespace defaults to the referring object's.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateReference {
    /// Name of the WorkspaceTemplate.
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Namespace of the WorkspaceTemplate; defaults to the referring object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl WorkspaceTemplateReference {
    /// The namespace to look in: the reference's own, else `default_namespace`.
    pub fn namespace_or<'a>(&'a self, default_namespace: &'a str) -> &'a str {
        self.namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(default_namespace)
    }
}

/// EKS control plane settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneConfig {
    /// AWS region, e.g. `ap-northeast-1` or `us-gov-west-1`.
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')").message("must be an AWS region such as ap-northeast-1 or us-gov-west-1"))]
    #[schemars(length(max = 32))]
    pub region: String,
    /// Public and private API endpoint access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_access: Option<EndpointAccess>,
    /// EKS addons (kept for upstream compatibility; the template decides what to install).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub addons: Vec<Addon>,
    /// Timeouts in minutes (kept for upstream compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutConfig>,
}

/// API endpoint access of the EKS cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAccess {
    /// Whether the API endpoint is reachable from the internet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Whether the API endpoint is reachable from inside the VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// CIDR blocks allowed to reach the public endpoint.
    #[serde(default, rename = "publicCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub public_cidrs: Vec<String>,
}

/// An EKS addon.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Addon {
    /// Addon name.
    #[x_kube(validation = Rule::new("self != ''").message("addon name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Addon version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Addon configuration values (JSON or YAML text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_values: Option<String>,
}

/// Timeouts in minutes, as upstream declares them.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutConfig {
    /// Minutes allowed for control plane creation (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub control_plane_timeout: Option<i32>,
    /// Minutes allowed for the VPC to become ready (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub vpc_ready_timeout: Option<i32>,
}

/// Host and port of an API server (`clusterv1.APIEndpoint`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    /// Host name or IP address, without scheme.
    #[x_kube(validation = Rule::new("!self.contains('://')").message("host must not contain a scheme such as https://"))]
    #[schemars(length(max = 512))]
    pub host: String,
    /// Port, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// CAPTEP-0002 `RecoveryStrategy`: retries, backoff and the actions to try.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryStrategy {
    /// Recovery attempts before the control plane is marked Failed (default 3: a RecreateWorkspace
    /// destroys and recreates the whole EKS control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_retries: Option<i32>,
    /// Delay between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// After this long Ready without failure the attempt count resets; also the least time between
    /// two Workspace deletions (default 1h, as Cluster API's KubeadmControlPlane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub min_healthy_period: Option<String>,
    /// The actions allowed to run, with their timeouts. Each failure calls for the one action that
    /// can fix it, or none; an action not listed is not run (the control plane waits, or fails
    /// when `Escalate` is listed). Default: ClearCreatePending, RefreshKubeconfig and
    /// RecreateWorkspace, each only for the failures it can fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub actions: Vec<RecoveryAction>,
}

/// Exponential backoff: `initialDelay * factor^attempt`, capped at `maxDelay`, plus up to
/// `jitter * delay` at random.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.initialDelay) || !has(self.maxDelay) || duration(self.maxDelay) >= duration(self.initialDelay)").message("maxDelay must not be shorter than initialDelay"))]
pub struct Backoff {
    /// Delay before the first retry (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub initial_delay: Option<String>,
    /// Upper bound of the delay (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub max_delay: Option<String>,
    /// Growth factor per attempt, at least 1 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1.0").message("factor must be at least 1"))]
    pub factor: Option<f64>,
    /// Random extra delay as a fraction of the delay, 0 to 1 (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("jitter must be between 0 and 1"))]
    pub jitter: Option<f64>,
}

/// A recovery action (CAPTEP-0002 `RecoveryAction`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryAction {
    /// What to do.
    #[serde(rename = "type")]
    pub type_: RecoveryActionType,
    /// Action parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// How long the action may take before it counts as failed (default 30m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub timeout: Option<String>,
}

/// The recovery actions the operator knows.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecoveryActionType {
    /// Delete the Workspace so its WorkspaceTemplateApply renders a new one: with the real
    /// provider a `terraform destroy` and `apply`. Only for a Workspace that is missing or whose
    /// create keeps failing and never served, at most once per `minHealthyPeriod`.
    RecreateWorkspace,
    /// Remove provider-terraform's stuck `crossplane.io/external-create-pending` annotation.
    ClearCreatePending,
    /// Rebuild the kubeconfig and CA secrets from the connection secret.
    RefreshKubeconfig,
    /// Stop trying: mark the control plane Failed and emit a Warning event.
    Escalate,
}

impl RecoveryActionType {
    /// The name used in the API and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecreateWorkspace => "RecreateWorkspace",
            Self::ClearCreatePending => "ClearCreatePending",
            Self::RefreshKubeconfig => "RefreshKubeconfig",
            Self::Escalate => "Escalate",
        }
    }
}

/// Overrides of the default health checks.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckOverrides {
    /// Names of default checks to skip, e.g. `EndpointProbe`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<String>,
    /// Probe the API endpoint over HTTPS (default true); three unanswered probes in a row fail
    /// the `EndpointProbe` check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_endpoint: Option<bool>,
    /// How often a Ready control plane is checked; at most 10m (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub interval: Option<String>,
}

/// An object the control plane depends on besides the ones it creates.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredDependency {
    /// Kind of the object.
    pub kind: DependencyKind,
    /// Name of the object.
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Namespace of the object; defaults to the control plane's (ignored for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds a declared dependency may have.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DependencyKind {
    /// A provider-terraform Workspace (the configured API); ready when Synced and Ready.
    Workspace,
    /// A WorkspaceTemplateApply; ready when its Workspace is.
    WorkspaceTemplateApply,
    /// A Secret; ready when it exists.
    Secret,
    /// A ConfigMap; ready when it exists.
    ConfigMap,
}

impl DependencyKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workspace => "Workspace",
            Self::WorkspaceTemplateApply => "WorkspaceTemplateApply",
            Self::Secret => "Secret",
            Self::ConfigMap => "ConfigMap",
        }
    }
}

/// A version the control plane runs (Cluster API's `StatusVersion`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusVersion {
    /// The Kubernetes version, as in `spec.version`.
    #[schemars(length(min = 1, max = 256))]
    pub version: String,
}

/// Observed state of a control plane.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CAPTControlPlaneStatus {
    // --- CAPTEP-0002 ---
    /// Current state; absent means Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::state")]
    pub state: Option<String>,
    /// Progress of the current operation and the history of past ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressInfo>,
    /// Measured health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthMetrics>,
    /// Self-healing bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryInfo>,
    /// The objects this control plane depends on, in the proposal's nodes/edges shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_graph: Option<DependencyGraphStatus>,

    // --- Cluster API contract ---
    /// v1beta2 contract: initialization status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// v1beta1 contract: the control plane has been initialized once (sticky).
    #[serde(default)]
    pub initialized: bool,
    /// v1beta1 contract: the control plane is ready to serve requests.
    #[serde(default)]
    pub ready: bool,
    /// The control plane has no Machines (EKS): always true.
    #[serde(default)]
    pub external_managed_control_plane: bool,
    /// The Kubernetes version the control plane runs (v1beta1 contract; deprecated in v1beta2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Hash of the WorkspaceTemplateApply spec the control plane was last Ready with: a different
    /// one is an upgrade. Stored, so a restarted operator tells an upgrade from an unchanged spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_spec_hash: Option<String>,
    /// v1beta2 contract: the versions the control plane runs, oldest first; Cluster API copies
    /// them to `Cluster.status.controlPlane.versions`. EKS runs one version at a time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub versions: Vec<StatusVersion>,
    /// Terminal failure reason: set only when retries are spent or the configuration is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Terminal failure message, with `failureReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Conditions (metav1.Condition), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The generation this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    // --- upstream CAPT compatibility ---
    /// Upstream's coarse phase, derived from `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The kubeconfig and CA secrets are in place.
    #[serde(default)]
    pub secrets_ready: bool,
    /// The WorkspaceTemplateApply's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_template_status: Option<WorkspaceTemplateStatus>,
    /// The Workspace's view; `atProvider` is copied verbatim (addon templates read its outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_status: Option<WorkspaceStatus>,
}

/// Upstream CAPT's phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not ready yet, or recovering.
    Creating,
    /// Ready (also while Degraded: it still serves).
    Ready,
    /// Failed terminally.
    Failed,
}

/// v1beta2 contract initialization fields.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Initialization {
    /// The control plane has been initialized once (sticky).
    #[serde(default)]
    pub control_plane_initialized: bool,
}

/// CAPTEP-0002 `ProgressInfo`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProgressInfo {
    /// What the operator is doing now, in words.
    pub current_operation: String,
    /// Percent complete, 0 to 100.
    #[schemars(range(min = 0, max = 100))]
    pub percent_complete: i32,
    /// Estimated time until Ready, as a duration (`4m30s`); absent when Ready, Degraded or
    /// Failed, and while waiting for something only someone else can change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_time_remaining: Option<String>,
    /// When the current state was entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_since: Option<Time>,
    /// Past transitions, newest last, bounded: the first few (where the control plane came
    /// from) and the latest; `historyOmitted` counts the ones dropped between them.
    #[serde(default)]
    pub history: Vec<OperationRecord>,
    /// How many transitions were dropped between the first records kept and the latest ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_omitted: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// One transition of the state machine (CAPTEP-0002 `OperationRecord`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationRecord {
    /// The operation this transition completed or began, in words.
    pub operation: String,
    /// State left.
    pub from: String,
    /// State entered.
    pub to: String,
    /// Why, as a CamelCase reason.
    pub reason: String,
    /// Details.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the transition happened.
    pub time: Time,
    /// How long the control plane spent in `from`, as a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// CAPTEP-0002 `HealthMetrics`: only measured values.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthMetrics {
    /// Since when the control plane has been Ready without interruption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<Time>,
    /// How many times it went from Ready to Degraded.
    #[serde(default)]
    pub degradations: i32,
    /// Percent of the availability window spent serving (Ready or Degraded), 0 to 100, as of the
    /// last transition (recomputing it between transitions would rewrite status continually).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<i32>,
    /// The window `availabilityPercent` covers, as a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_window: Option<String>,
    /// How long the last provisioning took (Pending or Provisioning until Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_provisioning_duration: Option<String>,
    /// How long the last recovery took (Degraded or Recovering until Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recovery_duration: Option<String>,
    /// Results of the last health evaluation, one per check; failing ones first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HealthCheckResult>,
}

/// Outcome of one health check.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckResult {
    /// Check name, e.g. `WorkspaceSynced`.
    pub name: String,
    /// Whether the check passed.
    pub healthy: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// CAPTEP-0002 `RecoveryInfo`: attempts, the one in flight and the next one.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryInfo {
    /// Attempts since the last healthy period.
    #[serde(default)]
    pub attempts: i32,
    /// The budget (`maxRetries`); absent means unlimited (a library user's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// The action in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_action: Option<RecoveryAttempt>,
    /// Not before this time will the next attempt start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_after: Option<Time>,
    /// Percent of recorded attempts that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate_percent: Option<i32>,
    /// Past attempts, newest last, bounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RecoveryAttempt>,
}

/// One recovery attempt.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryAttempt {
    /// The action taken.
    pub action: RecoveryActionType,
    /// Which health check or failure triggered it.
    pub trigger: String,
    /// When it started.
    pub started: Time,
    /// When it counts as failed if not finished.
    pub deadline: Time,
    /// `Succeeded`, `Failed`, `TimedOut`, or absent while in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// The dependency graph in the proposal's shape: nodes by id, and edges "id depends on ids".
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyGraphStatus {
    /// Nodes keyed by id (`Kind/namespace/name`).
    #[serde(default)]
    pub nodes: BTreeMap<String, ResourceNode>,
    /// For each node id, the ids it depends on.
    #[serde(default)]
    pub edges: BTreeMap<String, Vec<String>>,
}

/// A node of the dependency graph (CAPTEP-0002 `ResourceNode`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceNode {
    /// Kind of the object (Cluster, Workspace, Secret, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// Name of the object.
    pub name: String,
    /// Namespace of the object; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `Ready`, `NotReady`, `Missing` or `Unknown`.
    pub status: String,
}

/// Upstream's view of the WorkspaceTemplateApply.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateStatus {
    /// The apply's Workspace is ready.
    #[serde(default)]
    pub ready: bool,
    /// The apply's state in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When the apply last rendered its Workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Non-sensitive outputs, as strings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The revision whose apply failed last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_revision: Option<String>,
    /// The last failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_message: Option<String>,
}

/// Upstream's view of the Workspace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    /// The Workspace is Ready.
    #[serde(default)]
    pub ready: bool,
    /// The reason of the Workspace's Ready condition (e.g. `Available`, `Creating`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `status.atProvider` of the Workspace, verbatim (`outputs`, `checksum`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::optional_preserve_unknown_object")]
    pub at_provider: Option<serde_json::Value>,
}
