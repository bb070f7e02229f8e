use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;

/// The fixed "now" of every test: 2026-01-01T12:00:00Z.
fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().unwrap()
}

fn cp(name: &str, created: &str, status: serde_json::Value) -> CAPTControlPlane {
    serde_json::from_value(json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlane",
        "metadata": {"name": name, "namespace": "team-a", "creationTimestamp": created},
        "spec": {"version": "1.31", "workspaceTemplateRef": {"name": "eks"}},
        "status": status,
    }))
    .unwrap()
}

fn graph_status(template: &str, apply: &str, workspace: &str) -> serde_json::Value {
    json!({
        "nodes": {
            "CAPTControlPlane/team-a/prod-cp": {"type": "CAPTControlPlane", "name": "prod-cp", "namespace": "team-a", "status": "NotReady"},
            "Cluster/team-a/prod": {"type": "Cluster", "name": "prod", "namespace": "team-a", "status": "Ready"},
            "WorkspaceTemplate/team-a/eks": {"type": "WorkspaceTemplate", "name": "eks", "namespace": "team-a", "status": template},
            "WorkspaceTemplateApply/team-a/prod-cp-eks-controlplane-apply": {"type": "WorkspaceTemplateApply", "name": "prod-cp-eks-controlplane-apply", "namespace": "team-a", "status": apply},
            "Workspace/team-a/prod-cp-eks-controlplane": {"type": "Workspace", "name": "prod-cp-eks-controlplane", "namespace": "team-a", "status": workspace},
        },
        "edges": {
            "CAPTControlPlane/team-a/prod-cp": ["Cluster/team-a/prod", "WorkspaceTemplateApply/team-a/prod-cp-eks-controlplane-apply"],
            "WorkspaceTemplateApply/team-a/prod-cp-eks-controlplane-apply": ["WorkspaceTemplate/team-a/eks"],
            "Workspace/team-a/prod-cp-eks-controlplane": ["WorkspaceTemplateApply/team-a/prod-cp-eks-controlplane-apply"],
        },
    })
}

fn ready() -> CAPTControlPlane {
    let mut cp = cp(
        "prod-cp",
        "2025-12-30T09:00:00Z",
        json!({
            "state": "Ready", "ready": true, "initialized": true, "version": "1.31",
            "progress": {
                "currentOperation": "Ready", "percentComplete": 100,
                "stateSince": "2026-01-01T11:40:00Z",
                "history": [
                    {"operation": "Resolving the Cluster", "from": "Pending", "to": "Validating", "reason": "ClusterResolved", "message": "Cluster team-a/prod", "time": "2026-01-01T11:20:00Z", "duration": "1s"},
                    {"operation": "Provisioning", "from": "Validating", "to": "Provisioning", "reason": "DependenciesValid", "time": "2026-01-01T11:20:02Z", "duration": "2s"},
                    {"operation": "Configuring", "from": "Provisioning", "to": "Configuring", "reason": "WorkspaceReady", "message": "Workspace team-a/prod-cp-eks-controlplane is Ready", "time": "2026-01-01T11:38:10Z", "duration": "18m8s"},
                    {"operation": "Ready", "from": "Configuring", "to": "Ready", "reason": "ControlPlaneReady", "message": "endpoint https://ABC.gr7.ap-northeast-1.eks.amazonaws.com:443", "time": "2026-01-01T11:40:00Z", "duration": "1m50s"},
                ],
            },
            "health": {
                "readySince": "2026-01-01T11:40:00Z", "degradations": 0, "availabilityPercent": 100,
                "availabilityWindow": "24h0m0s", "lastProvisioningDuration": "20m0s",
                "checks": [
                    {"name": "WorkspaceReady", "healthy": true},
                    {"name": "WorkspaceSynced", "healthy": true},
                    {"name": "EndpointProbe", "healthy": true},
                ],
            },
            "recovery": {"attempts": 0, "maxRetries": 3},
            "dependencyGraph": graph_status("Ready", "Ready", "Ready"),
        }),
    );
    cp.spec.control_plane_endpoint = Some(crate::api::ApiEndpoint {
        host: "ABC.gr7.ap-northeast-1.eks.amazonaws.com".into(),
        port: 443,
    });
    if let Some(g) = cp.status.as_mut().and_then(|s| s.dependency_graph.as_mut()) {
        g.nodes.get_mut("CAPTControlPlane/team-a/prod-cp").unwrap().status = "Ready".into();
    }
    cp
}

/// Failed in validation: the template is missing.
fn failed() -> CAPTControlPlane {
    cp(
        "prod-cp",
        "2026-01-01T11:55:00Z",
        json!({
            "state": "Failed", "ready": false,
            "failureReason": "InvalidConfiguration",
            "failureMessage": "WorkspaceTemplate team-a/eks: placeholder ${vpc_id} has no value\n(variables: cluster_name, region)",
            "progress": {
                "currentOperation": "Failed: invalid configuration", "percentComplete": 10,
                "stateSince": "2026-01-01T11:55:02Z",
                "history": [
                    {"operation": "Resolving the Cluster", "from": "Pending", "to": "Validating", "reason": "ClusterResolved", "time": "2026-01-01T11:55:01Z", "duration": "1s"},
                    {"operation": "Validating dependencies", "from": "Validating", "to": "Failed", "reason": "InvalidConfiguration", "message": "placeholder ${vpc_id} has no value", "time": "2026-01-01T11:55:02Z", "duration": "1s"},
                ],
            },
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "InvalidConfiguration", "message": "see DependenciesValid", "lastTransitionTime": "2026-01-01T11:55:02Z"},
                {"type": "ClusterResolved", "status": "True", "reason": "ClusterResolved", "message": "", "lastTransitionTime": "2026-01-01T11:55:01Z"},
                {"type": "DependenciesValid", "status": "False", "reason": "InvalidConfiguration", "message": "placeholder ${vpc_id} has no value", "lastTransitionTime": "2026-01-01T11:55:02Z"},
                // False is the good state of these two: not listed as failing.
                {"type": "Paused", "status": "False", "reason": "NotPaused", "message": "", "lastTransitionTime": "2026-01-01T11:55:01Z"},
                {"type": "Deleting", "status": "False", "reason": "NotDeleting", "message": "", "lastTransitionTime": "2026-01-01T11:55:01Z"},
            ],
            "dependencyGraph": graph_status("Missing", "Missing", "Missing"),
        }),
    )
}

/// Recovering from a failed apply: one action in flight, one failed attempt behind it.
fn recovering() -> CAPTControlPlane {
    cp(
        "prod-cp",
        "2026-01-01T11:00:00Z",
        json!({
            "state": "Recovering", "ready": false,
            "progress": {
                "currentOperation": "Recreating the Workspace", "percentComplete": 40,
                "estimatedTimeRemaining": "12m0s", "stateSince": "2026-01-01T11:59:00Z",
                "history": [],
            },
            "health": {"checks": [
                {"name": "WorkspaceSynced", "healthy": false, "message": "apply failed: AccessDeniedException"},
                {"name": "WorkspaceReady", "healthy": true},
            ]},
            "recovery": {
                "attempts": 2, "maxRetries": 5, "successRatePercent": 0,
                "currentAction": {"action": "RecreateWorkspace", "trigger": "WorkspaceSynced", "started": "2026-01-01T11:59:00Z", "deadline": "2026-01-01T12:29:00Z"},
                "history": [
                    {"action": "RecreateWorkspace", "trigger": "WorkspaceSynced", "started": "2026-01-01T11:50:00Z", "deadline": "2026-01-01T12:20:00Z", "result": "Failed"},
                ],
            },
            "dependencyGraph": graph_status("Ready", "Ready", "NotReady"),
        }),
    )
}

#[test]
fn progress_bar_rounds_down_and_clamps() {
    assert_eq!(progress_bar(70), "[#######---] 70%");
    assert_eq!(progress_bar(0), "[----------] 0%");
    assert_eq!(progress_bar(99), "[#########-] 99%");
    assert_eq!(progress_bar(100), "[##########] 100%");
    assert_eq!(progress_bar(250), "[##########] 100%");
    assert_eq!(progress_bar(-5), "[----------] 0%");
}

#[test]
fn ages_read_like_kubectl() {
    let cases = [
        (0, "0s"),
        (-30, "0s"),
        (45, "45s"),
        (119, "119s"),
        (200, "3m20s"),
        (300, "5m"),
        (47 * 60, "47m"),
        (5 * 3600 + 12 * 60, "5h12m"),
        (30 * 3600, "30h"),
        (3 * 86_400 + 4 * 3600, "3d4h"),
        (400 * 86_400, "400d"),
        (3 * 365 * 86_400 + 30 * 86_400, "3y30d"),
        (10 * 365 * 86_400, "10y"),
    ];
    for (secs, expected) in cases {
        assert_eq!(age(SignedDuration::from_secs(secs)), expected, "{secs}s");
    }
}

#[test]
fn relative_times_say_in_or_ago() {
    let now = now();
    assert_eq!(relative(now + SignedDuration::from_secs(25), now), "in 25s");
    assert_eq!(relative(now - SignedDuration::from_secs(180), now), "3m ago");
    assert_eq!(relative(now, now), "now");
    assert_eq!(
        when(now + SignedDuration::from_millis(25_400), now),
        "2026-01-01T12:00:25Z (in 25s)"
    );
}

#[test]
fn status_table_one_namespace_and_all() {
    let mut other = recovering();
    other.metadata.name = Some("staging-cp".into());
    other.metadata.namespace = Some("team-b".into());
    let mut pending = cp("new-cp", "2026-01-01T11:59:58Z", json!({}));
    pending.status = None;
    let cps = [ready(), other, pending];
    insta::assert_snapshot!("status_one_namespace", status_table(&cps, false, now()));
    insta::assert_snapshot!("status_all_namespaces", status_table(&cps, true, now()));
}

#[test]
fn graph_renders_the_status_graph() {
    insta::assert_snapshot!("graph_tree", graph(&failed(), Format::Text).unwrap());
    let dot = graph(&failed(), Format::Dot).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    let mut none = failed();
    none.status.as_mut().unwrap().dependency_graph = None;
    assert_eq!(
        graph(&none, Format::Text).unwrap_err().to_string(),
        "control plane prod-cp has no dependency graph in its status yet"
    );
}

#[test]
fn explain_failed_names_root_cause_conditions_failure_and_retry() {
    let text = explain(&failed(), now());
    // The root cause is what it failed for, not the objects it never got to create.
    assert!(
        text.contains("Root cause:\n  InvalidConfiguration: WorkspaceTemplate team-a/eks: placeholder"),
        "{text}"
    );
    assert!(!text.contains("is Missing"), "{text}");
    assert!(text.contains("kubectl capt retry prod-cp -n team-a"), "{text}");
    insta::assert_snapshot!("explain_failed", text);
}

#[test]
fn explain_recovering_shows_the_action_in_flight_and_its_deadline() {
    let text = explain(&recovering(), now());
    assert!(text.contains("deadline 2026-01-01T12:29:00Z (in 29m)"), "{text}");
    insta::assert_snapshot!("explain_recovering", text);
}

#[test]
fn explain_next_attempt_is_relative() {
    let mut cp = recovering();
    let r = cp.status.as_mut().unwrap().recovery.as_mut().unwrap();
    r.current_action = None;
    r.next_attempt_after = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        now() + SignedDuration::from_secs(25),
    ));
    let text = explain(&cp, now());
    assert!(
        text.contains("next attempt: 2026-01-01T12:00:25Z (in 25s)"),
        "{text}"
    );
}

#[test]
fn explain_paused_lists_paused_and_suggests_unpausing() {
    let mut cp = recovering();
    let st = cp.status.as_mut().unwrap();
    st.conditions = serde_json::from_value(json!([
        {"type": "Paused", "status": "True", "reason": "Paused", "message": "the Cluster has spec.paused", "lastTransitionTime": "2026-01-01T11:59:00Z"},
        {"type": "Remediating", "status": "True", "reason": "Remediating", "message": "RecreateWorkspace", "lastTransitionTime": "2026-01-01T11:59:00Z"},
    ]))
    .unwrap();
    let text = explain(&cp, now());
    assert!(
        text.contains("Failing conditions:\n  Paused=True Paused: the Cluster has spec.paused\n\n"),
        "{text}"
    );
    assert!(text.contains("Suggestion: reconciliation is paused"), "{text}");
}

#[test]
fn explain_ready_summarises_health() {
    insta::assert_snapshot!("explain_ready", explain(&ready(), now()));
}

#[test]
fn history_lists_transitions_and_attempts() {
    insta::assert_snapshot!("history_ready", history(&ready(), now()));
    insta::assert_snapshot!("history_recovering", history(&recovering(), now()));
}

#[test]
fn retry_only_applies_to_failed() {
    assert_eq!(retry_refusal(&failed()), None);
    assert_eq!(
        retry_refusal(&recovering()).unwrap(),
        "control plane prod-cp is Recovering, not Failed; retry only applies to Failed control planes"
    );
    let mut pending = failed();
    pending.status = None;
    assert!(
        retry_refusal(&pending)
            .unwrap()
            .contains("is Pending, not Failed")
    );
    assert_eq!(
        retry_patch(now() + SignedDuration::from_millis(500)),
        json!({"metadata": {"annotations": {"controlplane.cluster.x-k8s.io/retry": "2026-01-01T12:00:00Z"}}})
    );
}
