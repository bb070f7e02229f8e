//! The one error type of the testkit.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or using the test control plane or the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kube-apiserver / etcd binaries were not found. The message says how to get them.
    #[error("{0}")]
    MissingAssets(String),

    /// A file system operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted, e.g. "create directory".
        action: &'static str,
        /// The path it was attempted on.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A child process could not be spawned.
    #[error("cannot start {name} ({path}): {source}")]
    Spawn {
        /// Component name, e.g. "etcd".
        name: &'static str,
        /// The binary.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A child process exited while we were waiting for it to become ready.
    #[error("{name} exited before it was ready ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// Component name.
        name: &'static str,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },

    /// Something did not happen within its deadline.
    #[error("timed out after {timeout:?} waiting for {what}; last observation: {last}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        timeout: Duration,
        /// The last error or state seen, to tell why.
        last: String,
    },

    /// The API server refused a CustomResourceDefinition (a schema error, or CEL rules over the
    /// cost budget); the message is the server's.
    #[error("the API server rejected CRD {name}: {message}")]
    CrdRejected {
        /// The CRD's name.
        name: String,
        /// The API server's message.
        message: String,
    },

    /// Certificate or key generation failed.
    #[error("cannot generate certificates: {0}")]
    Pki(#[from] rcgen::Error),

    /// A kubeconfig could not be turned into a client configuration.
    #[error("invalid kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),

    /// A request to the API server failed.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    /// A manifest could not be read as YAML.
    #[error("cannot parse {path}: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// A value could not be serialised (kubeconfig, patch).
    #[error("cannot serialise {what}: {message}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// The serialiser's message.
        message: String,
    },

    /// The shared control plane failed to start earlier in this test binary; the first failure is
    /// repeated so every test fails with the real reason instead of starting another plane.
    #[error("the shared test control plane failed to start: {0}")]
    SharedStartFailed(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
