//! The API server's audit log: who made which request, as the server itself saw it.
//!
//! Tests that claim "no writes" read it instead of trusting the client's own counters. The plane
//! logs every request at `Metadata` level (no bodies) to `audit.log` in its directory.

use std::{io::BufRead, path::Path};

use jiff::Timestamp;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The audit policy the plane starts kube-apiserver with: metadata of every request.
pub const POLICY: &str =
    "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n";

/// The kube-apiserver flags that enable auditing to `dir/audit.log` with [`POLICY`] written to
/// `dir/audit-policy.yaml`.
pub fn apiserver_args(dir: &Path) -> Result<Vec<String>> {
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, POLICY).map_err(|e| Error::io("write audit policy", &policy, e))?;
    Ok(vec![
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", dir.join("audit.log").display()),
        // Write events as they happen, so a test reads them right after the request.
        "--audit-log-mode=blocking".to_owned(),
        "--audit-log-maxsize=0".to_owned(),
    ])
}

/// One audited request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    pub verb: String,
    /// The request path.
    pub request_u_r_i: String,
    /// Who made it.
    pub user: AuditUser,
    /// When the server received it.
    pub request_received_timestamp: Timestamp,
    /// The response code, when known.
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
}

/// The requesting user.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditUser {
    /// User name (the client certificate's CN).
    pub username: String,
}

/// The response status of an audited request.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: Option<u16>,
}

impl AuditEvent {
    /// Whether the request changes state.
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

/// The events of `user` received in `[from, to)`, read from the audit log at `path`.
///
/// # Errors
///
/// [`Error::Io`] when the log cannot be read. Lines that are not audit events are skipped.
pub fn events(path: &Path, user: &str, from: Timestamp, to: Timestamp) -> Result<Vec<AuditEvent>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open audit log", path, e))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::io("read audit log", path, e))?;
        let Ok(event) = serde_json::from_str::<AuditEvent>(&line) else {
            continue;
        };
        if event.user.username == user
            && event.request_received_timestamp >= from
            && event.request_received_timestamp < to
        {
            out.push(event);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_users_events_in_a_window() {
        let dir = std::env::temp_dir().join(format!("capt-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let line = |user: &str, verb: &str, at: &str| {
            format!(
                r#"{{"kind":"Event","verb":"{verb}","requestURI":"/api/v1/secrets","user":{{"username":"{user}"}},"requestReceivedTimestamp":"{at}"}}"#
            )
        };
        let text = [
            line("op", "get", "2026-01-01T00:00:01Z"),
            line("op", "patch", "2026-01-01T00:00:02Z"),
            line("admin", "patch", "2026-01-01T00:00:02Z"),
            line("op", "patch", "2026-01-01T00:00:09Z"),
            "not json".to_owned(),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let to: Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        let events = events(&path, "op", from, to).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events.iter().filter(|e| e.is_write()).count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
