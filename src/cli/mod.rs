//! What `kubectl capt` prints: pure renderers from `CAPTControlPlane` objects to text.
//!
//! The `kubectl-capt` binary fetches objects and calls these; everything that decides what a user
//! reads lives here, so it is tested without an API server. Every function that shows a time takes
//! `now`, which keeps the output a function of its inputs (ages, "in 25s", "3m ago").
//!
//! | command | renderer |
//! |---|---|
//! | `kubectl capt status` | [`status_table`] (with [`progress_bar`] and [`age`]) |
//! | `kubectl capt graph` | [`graph`] |
//! | `kubectl capt explain` | [`explain`] |
//! | `kubectl capt history` | [`history`] |
//! | `kubectl capt retry` | [`retry_refusal`] and [`retry_patch`] |

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use crate::{
    api::{CAPTControlPlane, CAPTControlPlaneStatus, RETRY_ANNOTATION, RecoveryAttempt},
    controller::reasons::types,
    graph::{DependencyGraph, Format, GraphError, Kind, NodeId},
};

#[cfg(test)]
mod tests;

/// Why a graph cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum GraphUnavailable {
    /// The operator has not written `status.dependencyGraph` yet.
    #[error("control plane {0} has no dependency graph in its status yet")]
    NotRecorded(String),
    /// `status.dependencyGraph` does not parse back into a graph.
    #[error("the dependency graph of {name} is invalid: {source}")]
    Invalid {
        /// The control plane.
        name: String,
        /// What is wrong with it.
        source: GraphError,
    },
}

/// The state of a control plane as stored; a status without one is Pending (the operator's rule).
pub fn state_of(cp: &CAPTControlPlane) -> &str {
    cp.status
        .as_ref()
        .and_then(|s| s.state.as_deref())
        .unwrap_or("Pending")
}

/// A ten-cell text progress bar with the percent, e.g. `[#######---] 70%`; the percent is clamped
/// to 0..=100 so a bad status cannot draw a broken bar.
pub fn progress_bar(percent: i32) -> String {
    const CELLS: i32 = 10;
    let percent = percent.clamp(0, 100);
    // Rounded down: a bar is full only at 100%, never at 95%.
    let filled = (percent * CELLS / 100) as usize;
    format!(
        "[{}{}] {percent}%",
        "#".repeat(filled),
        "-".repeat(CELLS as usize - filled)
    )
}

/// A duration as kubectl prints ages: two units at most, coarser as it grows (`45s`, `3m20s`,
/// `47m`, `5h12m`, `3d4h`, `400d`, `2y30d`). Negative durations (clock skew) print as `0s`.
pub fn age(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    let with = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match () {
        _ if secs < 120 => format!("{secs}s"),
        _ if m < 10 => with(m, "m", secs % 60, "s"),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => with(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => with(d, "d", h % 24, "h"),
        _ if d < 730 => format!("{d}d"),
        _ if d < 2920 => with(d / 365, "y", d % 365, "d"),
        _ => format!("{}y", d / 365),
    }
}

/// `then` relative to `now`: `in 25s` when it is ahead, `3m ago` when past, `now` within a second.
pub fn relative(then: Timestamp, now: Timestamp) -> String {
    let d = then.duration_since(now);
    if d.as_secs() == 0 {
        "now".into()
    } else if d.is_positive() {
        format!("in {}", age(d))
    } else {
        format!("{} ago", age(d.abs()))
    }
}

/// A timestamp to the second, with its relative form: `2026-11-26T07:00:00Z (3m ago)`.
pub fn when(then: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", seconds(then), relative(then, now))
}

fn seconds(t: Timestamp) -> Timestamp {
    // Sub-second digits are noise to a reader.
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// One line per cell: a message with newlines would break the table's columns.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Left-aligned columns separated by three spaces, as kubectl prints; no trailing spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `kubectl capt status`: NAMESPACE (with `all_namespaces`), NAME, STATE, PROGRESS, ETA, READY,
/// VERSION and AGE, one row per control plane in the order given.
///
/// VERSION is the version the control plane runs (`status.version`), else the one asked for.
pub fn status_table(cps: &[CAPTControlPlane], all_namespaces: bool, now: Timestamp) -> String {
    let mut header = vec!["NAME", "STATE", "PROGRESS", "ETA", "READY", "VERSION", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = cps
        .iter()
        .map(|cp| {
            let st = cp.status.as_ref();
            let progress = st.and_then(|s| s.progress.as_ref());
            let mut row = vec![
                cp.name_any(),
                state_of(cp).to_owned(),
                progress.map_or_else(|| progress_bar(0), |p| progress_bar(p.percent_complete)),
                progress
                    .and_then(|p| p.estimated_time_remaining.clone())
                    .unwrap_or_else(|| "-".into()),
                st.is_some_and(|s| s.ready).to_string(),
                st.and_then(|s| s.version.clone())
                    .unwrap_or_else(|| cp.spec.version.clone()),
                cp.metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or_else(|| "<unknown>".into(), |t| age(now.duration_since(t.0))),
            ];
            if all_namespaces {
                row.insert(0, cp.namespace().unwrap_or_default());
            }
            row
        })
        .collect();
    table(&header, &rows)
}

fn graph_of(cp: &CAPTControlPlane) -> Result<DependencyGraph, GraphUnavailable> {
    let status = cp
        .status
        .as_ref()
        .and_then(|s| s.dependency_graph.as_ref())
        .filter(|g| !g.nodes.is_empty())
        .ok_or_else(|| GraphUnavailable::NotRecorded(cp.name_any()))?;
    DependencyGraph::from_status(status).map_err(|source| GraphUnavailable::Invalid {
        name: cp.name_any(),
        source,
    })
}

/// `kubectl capt graph`: `status.dependencyGraph` rendered in `format` (tree, DOT, Mermaid, JSON).
pub fn graph(cp: &CAPTControlPlane, format: Format) -> Result<String, GraphUnavailable> {
    let mut out = graph_of(cp)?.render(format);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The control plane's own node id in its graph.
fn root_id(cp: &CAPTControlPlane) -> NodeId {
    NodeId::new(
        Kind::CAPTControlPlane,
        &cp.namespace().unwrap_or_default(),
        &cp.name_any(),
    )
}

/// A `kubectl capt` command line for `cp`; it always names the namespace, since the user's
/// default namespace is not known here and a suggestion must work when copy-pasted.
fn command(verb: &str, cp: &CAPTControlPlane) -> String {
    format!(
        "kubectl capt {verb} {} -n {}",
        cp.name_any(),
        cp.namespace().unwrap_or_default()
    )
}

/// `kubectl capt explain`: why the control plane is not Ready, or that it is and how healthy.
///
/// In order: state and current operation; the root causes from the dependency graph (deepest
/// unready node and the path to it); conditions that are False; failing health checks; the
/// recovery record; the terminal failure; and one suggested next step.
pub fn explain(cp: &CAPTControlPlane, now: Timestamp) -> String {
    let mut out = String::new();
    let default = CAPTControlPlaneStatus::default();
    let st = cp.status.as_ref().unwrap_or(&default);
    let state = state_of(cp);
    let id = format!(
        "CAPTControlPlane {}/{}",
        cp.namespace().unwrap_or_default(),
        cp.name_any()
    );
    let since = st
        .progress
        .as_ref()
        .and_then(|p| p.state_since.as_ref())
        .map(|t| format!(" since {}", when(t.0, now)))
        .unwrap_or_default();

    if state == "Ready" {
        let _ = writeln!(out, "{id} is Ready{since}.");
        let version = st.version.as_deref().unwrap_or(&cp.spec.version);
        let _ = writeln!(out, "Version: {version}");
        if let Some(ep) = &cp.spec.control_plane_endpoint {
            let _ = writeln!(out, "Endpoint: https://{}:{}", ep.host, ep.port);
        }
        health_summary(&mut out, st, now);
        recovery_section(&mut out, st, now);
        return out;
    }

    let _ = writeln!(out, "{id} is not Ready: it is {state}{since}.");
    if let Some(p) = &st.progress {
        let eta = p
            .estimated_time_remaining
            .as_deref()
            .map(|e| format!(", about {e} left"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Operation: {} {}{eta}",
            one_line(&p.current_operation),
            progress_bar(p.percent_complete)
        );
    }
    if st.ready {
        // Degraded still serves: say so, it changes how urgent this is.
        out.push_str("It still serves requests (ready=true).\n");
    }

    out.push_str("\nRoot cause:\n");
    let failure = (state == "Failed")
        .then(|| st.failure_reason.as_deref().zip(st.failure_message.as_deref()))
        .flatten();
    // A Failed control plane failed for its own reason (a configuration error, a spent budget):
    // the objects it never got to create are its consequence, not its cause.
    if let Some((reason, message)) = failure {
        let _ = writeln!(out, "  {reason}: {}", one_line(message));
    } else {
        match graph_of(cp) {
            Err(e) => {
                let _ = writeln!(out, "  {e}");
            }
            Ok(g) => match g.broken_dependencies(&root_id(cp)) {
                Err(e) => {
                    let _ = writeln!(out, "  {e}");
                }
                Ok(broken) if broken.is_empty() => out.push_str("  every dependency is Ready\n"),
                Ok(broken) => {
                    for b in broken {
                        let _ = writeln!(out, "  {} is {}", b.root_cause.describe(), b.status);
                        let path: Vec<String> = b.path.iter().map(NodeId::describe).collect();
                        let _ = writeln!(out, "    path: {}", path.join(" -> "));
                    }
                }
            },
        }
    }

    let failing: Vec<_> = st.conditions.iter().filter(|c| holds_back(c)).collect();
    if !failing.is_empty() {
        out.push_str("\nFailing conditions:\n");
        for c in failing {
            let message = one_line(&c.message);
            let message = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            let _ = writeln!(out, "  {}={} {}{message}", c.type_, c.status, c.reason);
        }
    }

    let checks: Vec<_> = st
        .health
        .iter()
        .flat_map(|h| &h.checks)
        .filter(|c| !c.healthy)
        .collect();
    if !checks.is_empty() {
        out.push_str("\nFailing health checks:\n");
        for c in checks {
            let _ = writeln!(out, "  {}: {}", c.name, one_line(&c.message));
        }
    }

    recovery_section(&mut out, st, now);

    // A Failed control plane without its failure fields (written by an older operator, say):
    // the root cause above could not name it.
    if state == "Failed" && failure.is_none() {
        out.push_str("\nFailure:\n");
        let _ = writeln!(
            out,
            "  {}: {}",
            st.failure_reason.as_deref().unwrap_or("Unknown"),
            one_line(st.failure_message.as_deref().unwrap_or("no message recorded"))
        );
    }

    let _ = writeln!(out, "\nSuggestion: {}", suggestion(cp, st, state));
    out
}

/// Whether a condition stands in the way of Ready. Most conditions are good when True; `Paused`
/// and `Deleting` are the opposite (True is what blocks), and `Remediating` only reports the
/// recovery the Recovery section already shows.
fn holds_back(c: &Condition) -> bool {
    match c.type_.as_str() {
        types::PAUSED | types::DELETING => c.status == "True",
        types::REMEDIATING => false,
        _ => c.status == "False",
    }
}

fn suggestion(cp: &CAPTControlPlane, st: &CAPTControlPlaneStatus, state: &str) -> String {
    let paused = st
        .conditions
        .iter()
        .any(|c| c.type_ == "Paused" && c.status == "True");
    if paused {
        return "reconciliation is paused: unpause the Cluster (spec.paused) or remove the \
                cluster.x-k8s.io/paused annotation"
            .into();
    }
    match state {
        "Failed" if st.failure_reason.as_deref() == Some("InvalidConfiguration") => format!(
            "fix the configuration named above (a spec change retries by itself), or after fixing \
             the template run `{}`",
            command("retry", cp)
        ),
        "Failed" => format!("fix the cause above, then run `{}`", command("retry", cp)),
        "Pending" => "create the owning Cluster, or set the cluster.x-k8s.io/cluster-name label".into(),
        "Validating" => {
            "create or fix the missing dependencies named above; validation resumes by itself".into()
        }
        "Recovering" => format!(
            "a recovery action is in flight; follow it with `{}`",
            command("history", cp)
        ),
        "Degraded" => format!(
            "the operator recovers it by itself; follow it with `{}`",
            command("status", cp)
        ),
        _ => format!(
            "provisioning is in progress; follow it with `{}`",
            command("status", cp)
        ),
    }
}

fn health_summary(out: &mut String, st: &CAPTControlPlaneStatus, now: Timestamp) {
    out.push_str("\nHealth:\n");
    let Some(h) = &st.health else {
        out.push_str("  no health recorded yet\n");
        return;
    };
    if let Some(t) = &h.ready_since {
        let _ = writeln!(out, "  ready since:        {}", when(t.0, now));
    }
    if let Some(p) = h.availability_percent {
        let window = h
            .availability_window
            .as_deref()
            .map(|w| format!(" over {w}"))
            .unwrap_or_default();
        // Computed at the last transition, not now: say so, or 0% right after Ready misleads.
        let _ = writeln!(
            out,
            "  availability:       {p}%{window} (as of the last transition)"
        );
    }
    let _ = writeln!(out, "  degradations:       {}", h.degradations);
    if let Some(d) = &h.last_provisioning_duration {
        let _ = writeln!(out, "  last provisioning:  {d}");
    }
    if let Some(d) = &h.last_recovery_duration {
        let _ = writeln!(out, "  last recovery:      {d}");
    }
    let (passing, failing): (Vec<_>, Vec<_>) = h.checks.iter().partition(|c| c.healthy);
    let names: Vec<&str> = passing.iter().map(|c| c.name.as_str()).collect();
    let _ = writeln!(
        out,
        "  checks:             {} passing{}",
        passing.len(),
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        }
    );
    for c in failing {
        let _ = writeln!(out, "  failing:            {}: {}", c.name, one_line(&c.message));
    }
}

fn budget(attempts: i32, max: Option<i32>) -> String {
    match max {
        Some(max) => format!("{attempts}/{max}"),
        None => format!("{attempts} (no limit)"),
    }
}

fn recovery_section(out: &mut String, st: &CAPTControlPlaneStatus, now: Timestamp) {
    let Some(r) = &st.recovery else {
        return;
    };
    if r.attempts == 0 && r.current_action.is_none() && r.next_attempt_after.is_none() {
        return;
    }
    out.push_str("\nRecovery:\n");
    let _ = writeln!(out, "  attempts: {}", budget(r.attempts, r.max_retries));
    if let Some(a) = &r.current_action {
        let _ = writeln!(
            out,
            "  in flight: {} (trigger: {}), started {}, deadline {}",
            a.action.as_str(),
            one_line(&a.trigger),
            relative(a.started.0, now),
            when(a.deadline.0, now)
        );
    }
    if let Some(t) = &r.next_attempt_after {
        let _ = writeln!(out, "  next attempt: {}", when(t.0, now));
    } else if r.current_action.is_none() && r.max_retries.is_some_and(|m| r.attempts >= m) {
        out.push_str("  next attempt: none, the budget is spent\n");
    }
    if let Some(p) = r.success_rate_percent {
        let _ = writeln!(out, "  success rate: {p}%");
    }
}

/// `kubectl capt history`: the state transitions (time, from → to, duration in `from`, reason,
/// message), oldest first, then the recovery attempts (action, trigger, started, deadline,
/// result), the one in flight last.
pub fn history(cp: &CAPTControlPlane, now: Timestamp) -> String {
    let mut out = String::new();
    let st = cp.status.as_ref();
    let transitions: Vec<Vec<String>> = st
        .and_then(|s| s.progress.as_ref())
        .map(|p| p.history.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            vec![
                when(r.time.0, now),
                format!("{} → {}", r.from, r.to),
                r.duration.clone().unwrap_or_else(|| "-".into()),
                r.reason.clone(),
                one_line(&r.message),
            ]
        })
        .collect();
    out.push_str("Transitions:\n");
    if transitions.is_empty() {
        out.push_str("  none recorded\n");
    } else {
        out.push_str(&table(
            &["TIME", "TRANSITION", "DURATION", "REASON", "MESSAGE"],
            &transitions,
        ));
    }

    let recovery = st.and_then(|s| s.recovery.as_ref());
    // A deadline means something only while the attempt runs.
    let attempt = |a: &RecoveryAttempt, result: &str| {
        let deadline = if a.result.is_none() {
            when(a.deadline.0, now)
        } else {
            "-".to_owned()
        };
        vec![
            a.action.as_str().to_owned(),
            one_line(&a.trigger),
            when(a.started.0, now),
            deadline,
            result.to_owned(),
        ]
    };
    let mut attempts: Vec<Vec<String>> = recovery
        .map(|r| r.history.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|a| attempt(a, a.result.as_deref().unwrap_or("-")))
        .collect();
    if let Some(a) = recovery.and_then(|r| r.current_action.as_ref()) {
        attempts.push(attempt(a, "in flight"));
    }
    out.push_str("\nRecovery attempts:\n");
    if attempts.is_empty() {
        out.push_str("  none\n");
    } else {
        out.push_str(&table(
            &["ACTION", "TRIGGER", "STARTED", "DEADLINE", "RESULT"],
            &attempts,
        ));
    }
    out
}

/// Why `kubectl capt retry` refuses, or `None` when the control plane is Failed and a retry
/// applies: the operator reads the retry annotation only in Failed, so one set in another state
/// would linger and fire at some later failure nobody asked to retry.
pub fn retry_refusal(cp: &CAPTControlPlane) -> Option<String> {
    let state = state_of(cp);
    (state != "Failed").then(|| {
        format!(
            "control plane {} is {state}, not Failed; retry only applies to Failed control planes",
            cp.name_any()
        )
    })
}

/// The merge patch `kubectl capt retry` sends: the retry annotation with the request time, which
/// makes each request a distinct write (and tells a reader when it was asked for).
pub fn retry_patch(now: Timestamp) -> serde_json::Value {
    serde_json::json!({"metadata": {"annotations": {RETRY_ANNOTATION: seconds(now).to_string()}}})
}
