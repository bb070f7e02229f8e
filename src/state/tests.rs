//! Tests of the state machine's runtime view; illegal moves are proved in `tests/ui`.

use super::{evidence::*, *};
use crate::api::{CAPTControlPlaneStatus, ClusterView, Phase, WorkspaceView};

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

/// The table of DESIGN §5, written out by hand: the generated table must say exactly this.
const DESIGN_TABLE: &[(&str, &str)] = &[
    ("Pending", "Validating"),
    ("Validating", "Provisioning"),
    ("Validating", "Failed"),
    ("Provisioning", "Configuring"),
    ("Provisioning", "Recovering"),
    ("Configuring", "Recovering"),
    ("Provisioning", "Failed"),
    ("Configuring", "Failed"),
    ("Degraded", "Failed"),
    ("Recovering", "Failed"),
    ("Configuring", "Ready"),
    ("Ready", "Degraded"),
    ("Ready", "Provisioning"),
    ("Degraded", "Ready"),
    ("Degraded", "Recovering"),
    ("Recovering", "Provisioning"),
    ("Recovering", "Configuring"),
    ("Recovering", "Ready"),
    ("Failed", "Recovering"),
];

#[test]
fn generated_table_is_the_design_table() {
    let mut generated: Vec<(&str, &str)> = TRANSITIONS
        .iter()
        .map(|(f, t, _)| (f.as_str(), t.as_str()))
        .collect();
    let mut expected = DESIGN_TABLE.to_vec();
    generated.sort();
    expected.sort();
    assert_eq!(generated, expected);
    for from in StateName::ALL {
        for to in StateName::ALL {
            assert_eq!(
                from.can_transition_to(*to),
                expected.contains(&(from.as_str(), to.as_str())),
                "{from}->{to}"
            );
        }
    }
}

#[test]
fn state_names_round_trip_and_unknown_names_are_errors() {
    for s in StateName::ALL {
        assert_eq!(s.as_str().parse::<StateName>(), Ok(*s));
    }
    let err = "Exploding".parse::<StateName>().unwrap_err();
    assert!(err.to_string().contains("\"Exploding\""));
}

#[test]
fn absent_state_is_pending_and_unknown_state_is_an_error_not_a_panic() {
    assert_eq!(
        AnyControlPlane::from_status(None, t(0)).unwrap().state(),
        StateName::Pending
    );
    let status = CAPTControlPlaneStatus {
        state: Some("Exploding".into()),
        ..Default::default()
    };
    assert_eq!(
        AnyControlPlane::from_status(Some(&status), t(0)).unwrap_err(),
        UnknownState("Exploding".into())
    );
}

fn workspace_ready() -> WorkspaceView {
    serde_json::from_value::<kube::core::DynamicObject>(serde_json::json!({
        "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
        "metadata": {"name": "prod-eks-controlplane", "namespace": "default", "generation": 1},
        "status": {"atProvider": {"outputs": {"cluster_endpoint": "https://abc.eks.amazonaws.com"}},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Available"},
                                  {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}]}
    }))
    .map(|o| WorkspaceView::from_dynamic(&o).unwrap())
    .unwrap()
}

/// Walks the happy path through the typed API, the way a reconciler would across passes, and
/// checks every move lands in history with its duration and the status round-trips.
#[test]
fn happy_path_records_history_and_round_trips_through_status() {
    let cluster = ClusterView {
        name: "prod".into(),
        ..Default::default()
    };
    let cp = ControlPlane::new(t(0));
    let cp = cp.into_validating(resolve_cluster(Some(&cluster), false).unwrap());
    let Validation::Valid(valid) = validate(&ValidationFacts::default()) else {
        panic!("valid")
    };
    let cp = cp.into_provisioning(valid);
    let mut status = CAPTControlPlaneStatus::default();
    AnyControlPlane::from(cp).write_status(&mut status, &progress::Operation::new("Provisioning", 0.2));
    assert_eq!(status.state.as_deref(), Some("Provisioning"));
    assert_eq!(status.phase, Some(Phase::Creating));

    // A later pass, ten minutes on.
    let AnyControlPlane::Provisioning(cp) = AnyControlPlane::from_status(Some(&status), t(600)).unwrap()
    else {
        panic!("rehydrated into the wrong state")
    };
    assert_eq!(cp.core().time_in_state(), std::time::Duration::from_secs(600));
    let cp = cp.into_configuring(workspace_provisioned(Some(&workspace_ready())).unwrap());
    let facts = ConfigurationFacts {
        endpoint: Some("abc.eks.amazonaws.com:443".into()),
        kubeconfig_secret: true,
        ca_secret: true,
    };
    let cp = cp.into_ready(configured(&facts).unwrap());
    let any = AnyControlPlane::from(cp);
    any.write_status(&mut status, &progress::Operation::new("Serving", 1.0));

    let history = &status.progress.as_ref().unwrap().history;
    let moves: Vec<(&str, &str)> = history.iter().map(|r| (r.from.as_str(), r.to.as_str())).collect();
    assert_eq!(
        moves,
        [
            ("Pending", "Validating"),
            ("Validating", "Provisioning"),
            ("Provisioning", "Configuring"),
            ("Configuring", "Ready")
        ]
    );
    assert_eq!(history[2].duration.as_deref(), Some("10m0s"));
    assert_eq!(status.progress.as_ref().unwrap().percent_complete, 100);
    assert_eq!(status.progress.as_ref().unwrap().estimated_time_remaining, None);
    assert_eq!(status.phase, Some(Phase::Ready));
    assert_eq!(
        any.core().transitions().len(),
        2,
        "only this pass's moves are reported"
    );
}

#[test]
fn history_is_bounded_to_the_newest_records() {
    let mut status = CAPTControlPlaneStatus::default();
    let op = progress::Operation::new("x", 0.0);
    for i in 0..(HISTORY_LIMIT as i64 + 5) {
        let any = AnyControlPlane::from_status(Some(&status), t(i)).unwrap();
        let next: AnyControlPlane = match any {
            AnyControlPlane::Pending(cp) => cp
                .into_validating(ClusterResolved::new("ClusterResolved", ""))
                .into(),
            AnyControlPlane::Validating(cp) => cp
                .into_failed(ConfigurationInvalid::new("DependencyCycle", "a -> a"))
                .into(),
            AnyControlPlane::Failed(cp) => cp
                .into_recovering(RetryRequested::new("RetryRequested", ""))
                .into(),
            AnyControlPlane::Recovering(cp) => cp.into_failed(Escalated::new("RetriesExhausted", "")).into(),
            other => panic!("unexpected {:?}", other.state()),
        };
        next.write_status(&mut status, &op);
    }
    let history = &status.progress.as_ref().unwrap().history;
    assert_eq!(history.len(), HISTORY_LIMIT);
    assert_eq!(history.last().unwrap().time, Time(t(HISTORY_LIMIT as i64 + 4)));
}

#[test]
fn failure_fields_are_set_on_failed_and_cleared_on_recovery() {
    let mut status = CAPTControlPlaneStatus {
        state: Some("Validating".into()),
        ..Default::default()
    };
    let AnyControlPlane::Validating(cp) = AnyControlPlane::from_status(Some(&status), t(0)).unwrap() else {
        panic!()
    };
    let facts = ValidationFacts {
        cycle: Some(vec!["a".into(), "b".into(), "a".into()]),
        ..Default::default()
    };
    let Validation::Invalid(invalid) = validate(&facts) else {
        panic!("cycle is invalid")
    };
    let failed = AnyControlPlane::from(cp.into_failed(invalid));
    failed.write_status(&mut status, &progress::Operation::new("Failed", 0.0));
    assert_eq!(status.failure_reason.as_deref(), Some("DependencyCycle"));
    assert_eq!(
        status.failure_message.as_deref(),
        Some("dependency cycle: a -> b -> a")
    );
    assert_eq!(status.phase, Some(Phase::Failed));

    // Rehydrated Failed keeps its failure; retrying clears it.
    let AnyControlPlane::Failed(cp) = AnyControlPlane::from_status(Some(&status), t(5)).unwrap() else {
        panic!()
    };
    assert_eq!(
        cp.core().failure(),
        Some(("DependencyCycle", "dependency cycle: a -> b -> a"))
    );
    let retry = retry_requested(true, false).unwrap();
    AnyControlPlane::from(cp.into_recovering(retry))
        .write_status(&mut status, &progress::Operation::new("r", 0.0));
    assert_eq!(status.failure_reason, None);
    assert_eq!(status.failure_message, None);
}

#[test]
fn checks_wait_instead_of_producing_evidence() {
    assert_eq!(
        resolve_cluster(None, false).unwrap_err().reason,
        "WaitingForCluster"
    );
    let paused = ClusterView {
        name: "c".into(),
        paused: true,
        ..Default::default()
    };
    assert_eq!(
        resolve_cluster(Some(&paused), false).unwrap_err().reason,
        "Paused"
    );
    let missing = ValidationFacts {
        missing: vec!["WorkspaceTemplate/default/eks".into()],
        ..Default::default()
    };
    assert!(
        matches!(validate(&missing), Validation::Waiting(w) if w.message.contains("WorkspaceTemplate/default/eks"))
    );
    assert_eq!(
        workspace_provisioned(None).unwrap_err().reason,
        "WaitingForWorkspace"
    );
    assert_eq!(
        configured(&ConfigurationFacts::default()).unwrap_err().reason,
        "WaitingForEndpoint"
    );
    assert!(spec_changed(false, false).is_none());
    assert_eq!(spec_changed(true, false).unwrap().reason(), "SpecChanged");
    assert_eq!(spec_changed(true, true).unwrap().reason(), "TemplateChanged");
    assert!(retry_requested(false, false).is_none());
}
