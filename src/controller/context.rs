//! What every reconcile pass shares: the client, the event reporter, metrics and settings.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{Client, runtime::events::Reporter};

use super::{Stores, probe::ProbeStreaks};
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
    /// Who the events say reported them.
    pub reporter: Reporter,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Config,
    /// Caches of the objects the reconcilers read.
    pub stores: Stores,
    /// What this operator last wrote to each control plane and apply.
    pub written: Arc<WrittenVersions>,
    /// When this operator last wrote each control plane's and apply's status.
    pub status_writes: Arc<StatusWrites>,
    /// Failed endpoint probes in a row, per control plane.
    pub probe_streaks: Arc<ProbeStreaks>,
    /// True once every cache has synced. No pass decides anything before: a cache still filling
    /// would read as objects gone (an apply missing reads as a spec change, a Cluster missing as
    /// a lost owner) and make transitions nothing caused, as after every operator restart.
    pub synced: tokio::sync::watch::Receiver<bool>,
}

impl Context {
    /// Whether every cache has synced.
    pub fn synced(&self) -> bool {
        *self.synced.borrow()
    }
}

/// When this operator last wrote the status of each control plane and apply: a change that moves
/// nothing may wait a little after a write, so that a burst of observations costs one write
/// ([`super::status::may_wait`]). In memory only: after a restart the first change is written at
/// once, which is what no record means.
#[derive(Debug, Default)]
pub struct StatusWrites(Mutex<HashMap<String, std::time::Instant>>);

impl StatusWrites {
    /// Records a status write to `key`, now.
    pub fn record(&self, key: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key.to_owned(), std::time::Instant::now());
        }
    }

    /// How long ago the last status write to `key` was, if there was one.
    pub fn since(&self, key: &str) -> Option<Duration> {
        self.0.lock().ok()?.get(key).map(|at| at.elapsed())
    }

    /// Forgets `key` (the object is gone).
    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(key);
        }
    }
}

/// The resourceVersion of the last status write this operator made to each control plane and
/// each WorkspaceTemplateApply.
///
/// A pass reads the control plane from the cache, which lags behind our own writes until their
/// watch events arrive. Acting on such an older copy would act on stale status (a retry already
/// consumed, a recovery attempt already started), so a pass that sees a copy older than its own
/// last write waits for the newer one instead. Resource versions are opaque in the API contract;
/// the API server's are etcd revisions, and anything that does not parse as one disables the guard.
#[derive(Debug, Default)]
pub struct WrittenVersions(Mutex<HashMap<String, u64>>);

impl WrittenVersions {
    /// Records a write to `key` that produced `resource_version`.
    pub fn record(&self, key: &str, resource_version: Option<&str>) {
        let (Some(rv), Ok(mut map)) = (
            resource_version.and_then(|v| v.parse::<u64>().ok()),
            self.0.lock(),
        ) else {
            return;
        };
        let entry = map.entry(key.to_owned()).or_insert(rv);
        *entry = (*entry).max(rv);
    }

    /// Whether `resource_version` is older than our last write to `key`.
    pub fn is_stale(&self, key: &str, resource_version: Option<&str>) -> bool {
        let Some(rv) = resource_version.and_then(|v| v.parse::<u64>().ok()) else {
            return false;
        };
        self.0
            .lock()
            .map(|map| map.get(key).is_some_and(|&written| rv < written))
            .unwrap_or(false)
    }

    /// Forgets `key` (the object is gone).
    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(key);
        }
    }
}

impl Context {
    /// The health interval, never longer than [`MAX_REQUEUE`].
    pub fn health_interval(&self) -> Duration {
        self.config.health_interval.min(MAX_REQUEUE)
    }
}

#[cfg(test)]
mod tests {
    use super::WrittenVersions;

    #[test]
    fn a_copy_older_than_our_last_write_is_stale() {
        let written = WrittenVersions::default();
        assert!(!written.is_stale("ns/cp", Some("10")), "nothing written yet");
        written.record("ns/cp", Some("12"));
        written.record("ns/cp", Some("11"));
        assert!(written.is_stale("ns/cp", Some("11")));
        assert!(!written.is_stale("ns/cp", Some("12")));
        assert!(!written.is_stale("ns/other", Some("1")));
        assert!(
            !written.is_stale("ns/cp", Some("not-a-number")),
            "opaque versions disable the guard"
        );
        written.forget("ns/cp");
        assert!(!written.is_stale("ns/cp", Some("1")));
    }
}
