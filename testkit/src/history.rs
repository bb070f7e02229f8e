//! Recording the conditions an object goes through, from a watch: every version the API server
//! sends is seen, so a test can check the *path* (Creating before Available, Deleting at the end)
//! without racing the controller by polling.

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;

use crate::error::{Error, Result};

/// The reasons of the watched conditions in one version of the object (`-` when absent).
pub type Snapshot = Vec<String>;

/// The (reason, message) of each watched condition in one version of the object.
type Seen = Vec<(String, String)>;

/// Records, for one object, the reasons and messages of the given condition types in every
/// version the API server sends (consecutive duplicates collapsed). Stops when dropped.
#[derive(Debug)]
pub struct ConditionHistory {
    types: Vec<String>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConditionHistory {
    /// Starts watching object `name` through `api` and returns once the watch is established, so
    /// nothing that happens afterwards is missed.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the watch does not start within [`crate::DEFAULT_TIMEOUT`].
    pub async fn record(api: Api<DynamicObject>, name: &str, types: &[&str]) -> Result<Self> {
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let (sink, watched) = (seen.clone(), types.clone());
        let task = tokio::spawn(async move {
            let mut started = Some(started_tx);
            let mut events = std::pin::pin!(watcher(api, config));
            while let Some(event) = events.next().await {
                let object = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = started.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
                    _ => continue,
                };
                let snapshot: Seen = watched.iter().map(|t| reason_and_message(&object, t)).collect();
                let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
                if seen.last() != Some(&snapshot) {
                    seen.push(snapshot);
                }
            }
        });
        match tokio::time::timeout(crate::DEFAULT_TIMEOUT, started_rx).await {
            Ok(Ok(())) => Ok(Self { types, seen, task }),
            _ => {
                task.abort();
                Err(Error::Timeout {
                    what: format!("a watch on {name}"),
                    timeout: crate::DEFAULT_TIMEOUT,
                    last: "the watch did not start".to_owned(),
                })
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every distinct snapshot of reasons so far, in order.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = Vec::new();
        for seen in self.seen() {
            let snapshot: Snapshot = seen.into_iter().map(|(reason, _)| reason).collect();
            if out.last() != Some(&snapshot) {
                out.push(snapshot);
            }
        }
        out
    }

    /// The successive reasons of condition `type_` (consecutive duplicates collapsed).
    pub fn reasons(&self, type_: &str) -> Vec<String> {
        self.successive(type_, |(reason, _)| reason)
    }

    /// The successive messages of condition `type_` (consecutive duplicates collapsed; empty
    /// when the condition is absent or has none).
    pub fn messages(&self, type_: &str) -> Vec<String> {
        self.successive(type_, |(_, message)| message)
    }

    fn successive(&self, type_: &str, field: impl Fn((String, String)) -> String) -> Vec<String> {
        let Some(index) = self.types.iter().position(|t| t == type_) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for mut seen in self.seen() {
            let value = field(seen.swap_remove(index));
            if out.last() != Some(&value) {
                out.push(value);
            }
        }
        out
    }
}

impl Drop for ConditionHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reason_and_message(object: &DynamicObject, type_: &str) -> (String, String) {
    let condition = object
        .data
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .and_then(|c| c.iter().find(|c| c["type"] == type_));
    let field = |name: &str| condition.and_then(|c| c[name].as_str()).map(str::to_owned);
    (
        field("reason").unwrap_or_else(|| "-".to_owned()),
        field("message").unwrap_or_default(),
    )
}
