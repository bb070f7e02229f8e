//! A platform engineer's own reconcile function, driving the typed states with no operator binary.
//!
//! The function takes the stored status and what the caller observed, and returns the new status.
//! It never builds evidence itself (it cannot: the constructors are private); it asks the crate's
//! checks, and each check either hands over the evidence for a move or says what it waits for.
//!
//! ```text
//! cargo run --example custom_reconciler
//! ```

use capt_controlplane::{
    api::{CAPTControlPlaneStatus, ClusterView, WorkspaceView, workspace::WorkspaceCondition},
    progress::Operation,
    state::{
        AnyControlPlane, UnknownState,
        evidence::{self, ConfigurationFacts, Validation, ValidationFacts},
    },
};
use jiff::{Timestamp, ToSpan};

/// What this platform's own watchers know about one control plane.
#[derive(Default)]
struct Observed {
    cluster: Option<ClusterView>,
    missing: Vec<String>,
    workspace: Option<WorkspaceView>,
    secrets_written: bool,
}

/// One reconcile pass: as many legal moves as the facts allow, then write back.
fn reconcile(
    stored: &CAPTControlPlaneStatus,
    seen: &Observed,
    now: Timestamp,
) -> Result<CAPTControlPlaneStatus, UnknownState> {
    let mut cp = AnyControlPlane::from_status(Some(stored), now)?;
    let operation = loop {
        cp = match cp {
            AnyControlPlane::Pending(pending) => {
                match evidence::resolve_cluster(seen.cluster.as_ref(), false) {
                    Ok(resolved) => pending.into_validating(resolved).into(),
                    Err(waiting) => break (pending.into(), Operation::new(waiting.message, 0.0)),
                }
            }
            AnyControlPlane::Validating(validating) => {
                let facts = ValidationFacts {
                    missing: seen.missing.clone(),
                    ..Default::default()
                };
                match evidence::validate(&facts) {
                    Validation::Valid(valid) => validating.into_provisioning(valid).into(),
                    Validation::Invalid(invalid) => validating.into_failed(invalid).into(),
                    Validation::Waiting(waiting) => {
                        break (validating.into(), Operation::new(waiting.message, 0.5));
                    }
                }
            }
            AnyControlPlane::Provisioning(provisioning) => {
                match evidence::workspace_provisioned(seen.workspace.as_ref()) {
                    Ok(done) => provisioning.into_configuring(done).into(),
                    Err(waiting) => break (provisioning.into(), Operation::new(waiting.message, 0.4)),
                }
            }
            AnyControlPlane::Configuring(configuring) => {
                let facts = ConfigurationFacts {
                    endpoint: seen
                        .secrets_written
                        .then(|| "abc.eks.amazonaws.com:443".to_owned()),
                    kubeconfig_secret: seen.secrets_written,
                    ca_secret: seen.secrets_written,
                };
                match evidence::configured(&facts) {
                    Ok(configured) => configuring.into_ready(configured).into(),
                    Err(waiting) => break (configuring.into(), Operation::new(waiting.message, 0.5)),
                }
            }
            // This platform leaves health and recovery to another component.
            other => break (other, Operation::new("Serving", 1.0)),
        };
    };
    let (cp, operation) = operation;
    for t in cp.core().transitions() {
        println!("    event: {} -> {} ({})", t.from, t.to, t.reason);
    }
    let mut status = stored.clone();
    cp.write_status(&mut status, &operation);
    Ok(status)
}

fn main() -> Result<(), UnknownState> {
    let start = Timestamp::from_second(1_767_225_600).expect("a valid time");
    let ready = |status: &str, reason: &str| {
        Some(WorkspaceCondition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            ..Default::default()
        })
    };
    let synced = Some(WorkspaceCondition {
        type_: "Synced".into(),
        status: "True".into(),
        reason: "ReconcileSuccess".into(),
        ..Default::default()
    });
    let workspace = |ready_condition| WorkspaceView {
        name: "prod-eks".into(),
        ready: ready_condition,
        synced: synced.clone(),
        at_provider: Some(
            serde_json::json!({"outputs": {"cluster_endpoint": "https://abc.eks.amazonaws.com"}}),
        ),
        ..Default::default()
    };
    let cluster = Some(ClusterView {
        name: "prod".into(),
        ..Default::default()
    });

    // What the platform saw, pass by pass.
    let passes = [
        ("no Cluster yet", Observed::default()),
        (
            "the Cluster, but not the VPC Secret",
            Observed {
                cluster: cluster.clone(),
                missing: vec!["Secret prod-vpc".into()],
                ..Default::default()
            },
        ),
        (
            "everything present, Workspace creating",
            Observed {
                cluster: cluster.clone(),
                workspace: Some(workspace(ready("False", "Creating"))),
                ..Default::default()
            },
        ),
        (
            "Workspace Ready",
            Observed {
                cluster: cluster.clone(),
                workspace: Some(workspace(ready("True", "Available"))),
                ..Default::default()
            },
        ),
        (
            "secrets written",
            Observed {
                cluster,
                workspace: Some(workspace(ready("True", "Available"))),
                secrets_written: true,
                ..Default::default()
            },
        ),
    ];

    let mut status = CAPTControlPlaneStatus::default();
    for (minute, (what, seen)) in passes.iter().enumerate() {
        println!("pass {minute}: {what}");
        status = reconcile(&status, seen, start + (minute as i64 * 5).minutes())?;
        let progress = status.progress.as_ref().expect("written");
        println!(
            "    {:<12} {:>3}%  {}",
            status.state.as_deref().unwrap_or("?"),
            progress.percent_complete,
            progress.current_operation
        );
    }
    assert_eq!(status.state.as_deref(), Some("Ready"));

    // A status written by something else is reported by name, not a panic.
    let corrupt = CAPTControlPlaneStatus {
        state: Some("Exploded".into()),
        ..Default::default()
    };
    if let Err(e) = reconcile(&corrupt, &Observed::default(), start) {
        println!("bad stored state: {e}");
    }
    Ok(())
}
