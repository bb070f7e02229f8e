//! What every reconcile pass shares: the client, the event recorder, metrics and settings.

use std::{sync::Arc, time::Duration};

use kube::{Client, runtime::events::Recorder};

use super::Stores;
use crate::{api::WorkspaceApi, metrics::Metrics};

/// Operator settings, from flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Watch only this namespace; all when `None`.
    pub namespace: Option<String>,
    /// Reconcile only objects labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
    /// Which Workspace API to write.
    pub workspace_api: WorkspaceApi,
    /// How often a Ready control plane is health-checked (capped at 10 minutes).
    pub health_interval: Duration,
    /// Probe control plane endpoints over HTTPS during health checks.
    pub probe_endpoints: bool,
    /// Reconciles in flight per controller.
    pub concurrency: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            watch_filter: None,
            workspace_api: WorkspaceApi::Namespaced,
            health_interval: Duration::from_secs(60),
            probe_endpoints: true,
            concurrency: 4,
        }
    }
}

/// The longest a control plane goes without a reconcile: EKS tokens live 15 minutes.
pub const MAX_REQUEUE: Duration = Duration::from_secs(600);

/// Shared state of the reconcilers.
#[derive(Clone)]
pub struct Context {
    /// API client.
    pub client: Client,
    /// Publishes events.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Config,
    /// Caches of the objects the reconcilers read.
    pub stores: Stores,
}

impl Context {
    /// The health interval, never longer than [`MAX_REQUEUE`].
    pub fn health_interval(&self) -> Duration {
        self.config.health_interval.min(MAX_REQUEUE)
    }
}
