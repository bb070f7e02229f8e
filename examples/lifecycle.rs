//! Walks one control plane offline through its whole life, with the library alone: no API server.
//!
//! Pending → Validating → Provisioning → Configuring → Ready, then its Workspace fails a re-apply:
//! Degraded → Recovering (RecreateWorkspace) → Provisioning → Configuring → Ready again.
//! Each step prints the state, the progress and the evidence that allowed the move.
//!
//! ```text
//! cargo run --example lifecycle
//! ```

use capt_controlplane::{
    api::{
        ApiEndpoint, CAPTControlPlane, CAPTControlPlaneSpec, CAPTControlPlaneStatus, ClusterView,
        WorkspaceTemplateReference, WorkspaceView, workspace::WorkspaceCondition,
    },
    graph::{self, Observed},
    health::{HealthChecks, HealthFacts, SecretState, Verdict},
    progress::Operation,
    recovery::{Failure, FixedJitter, Plan, Planner, Resume, RetryRecord, Strategy},
    state::{
        AnyControlPlane, ControlPlane, Transition,
        evidence::{self, ConfigurationFacts, Validation, ValidationFacts},
    },
};
use jiff::{Timestamp, ToSpan};

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Option<WorkspaceCondition> {
    Some(WorkspaceCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(1),
    })
}

/// The Workspace as provider-terraform reports it at each point of the story.
fn workspace(synced: bool) -> WorkspaceView {
    let synced = if synced {
        condition("Synced", "True", "ReconcileSuccess", "")
    } else {
        condition(
            "Synced",
            "False",
            "ReconcileError",
            "update failed: cannot apply Terraform configuration: Terraform encountered an error. Summary: Error: ResourceInUseException",
        )
    };
    WorkspaceView {
        name: "prod-eks-controlplane".into(),
        namespace: "default".into(),
        generation: Some(1),
        observed_generation: Some(1),
        ready: condition("Ready", "True", "Available", ""),
        synced,
        at_provider: Some(
            serde_json::json!({"outputs": {"cluster_endpoint": "https://ABC.gr7.ap-northeast-1.eks.amazonaws.com"}}),
        ),
        ..Default::default()
    }
}

/// Prints the moves of this pass and the progress it leaves, and stores the status.
fn show(
    cp: impl Into<AnyControlPlane>,
    status: &mut CAPTControlPlaneStatus,
    operation: &str,
    fraction: f64,
) -> AnyControlPlane {
    let cp = cp.into();
    for Transition {
        from,
        to,
        reason,
        message,
    } in cp.core().transitions()
    {
        println!("  {from:>12} → {to:<12} {reason}: {message}");
    }
    cp.write_status(status, &Operation::new(operation, fraction));
    let progress = status.progress.as_ref().expect("write_status sets progress");
    let eta = progress.estimated_time_remaining.as_deref().unwrap_or("-");
    println!(
        "  [{:<12}] {:>3}%  ETA {eta:<6} {}",
        status.state.as_deref().unwrap_or("?"),
        progress.percent_complete,
        progress.current_operation
    );
    cp
}

fn main() {
    let start = Timestamp::from_second(1_767_225_600).expect("a valid time"); // 2026-01-01
    let at = |minutes: i64| start + minutes.minutes();
    let mut status = CAPTControlPlaneStatus::default();
    let cluster = ClusterView {
        name: "prod".into(),
        namespace: "default".into(),
        ..Default::default()
    };

    println!("A control plane is created; its Cluster exists.");
    let cp = ControlPlane::new(at(0));
    let cp =
        cp.into_validating(evidence::resolve_cluster(Some(&cluster), false).expect("the Cluster is there"));
    let Validation::Valid(valid) = evidence::validate(&ValidationFacts::default()) else {
        unreachable!("nothing is missing or cyclic")
    };
    let cp = cp.into_provisioning(valid);
    show(cp, &mut status, "Applying Workspace prod-eks-controlplane", 0.3);

    println!("\n14 minutes later, provider-terraform reports the Workspace Synced and Ready.");
    let AnyControlPlane::Provisioning(cp) =
        AnyControlPlane::from_status(Some(&status), at(14)).expect("known state")
    else {
        unreachable!()
    };
    let cp =
        cp.into_configuring(evidence::workspace_provisioned(Some(&workspace(true))).expect("provisioned"));
    let cp = cp.into_ready(evidence::configured(&facts_after()).expect("configured"));
    show(cp, &mut status, "Serving", 1.0);

    println!("\nA day later, a re-apply fails while the Workspace still says Ready=True.");
    let endpoint = ApiEndpoint {
        host: "ABC.gr7.ap-northeast-1.eks.amazonaws.com".into(),
        port: 443,
    };
    let failing = workspace(false);
    let facts = HealthFacts {
        workspace: Some(&failing),
        endpoint: Some(&endpoint),
        kubeconfig_secret: SecretState::Owned,
        ca_secret: SecretState::Owned,
        ..Default::default()
    };
    let report = HealthChecks::defaults().evaluate(&facts);
    let AnyControlPlane::Ready(cp) =
        AnyControlPlane::from_status(Some(&status), at(24 * 60)).expect("known state")
    else {
        unreachable!()
    };
    let Verdict::Failing(unhealthy) = report.verdict() else {
        unreachable!("Synced=False fails a check")
    };
    let cp = cp.into_degraded(unhealthy);
    show(cp, &mut status, "Unhealthy", 0.0);

    println!("\nThe recovery planner waits out the backoff, then recreates the Workspace.");
    let strategy = Strategy::from_spec(None).expect("the defaults are valid");
    let planner = Planner::new(strategy);
    let mut record = RetryRecord::default();
    let failure = Failure::from_report(&report).expect("a failing report has a failure");
    let mut jitter = FixedJitter(0.0);
    let Plan::Wait { until } = planner.plan(&failure, &mut record, at(24 * 60), &mut jitter) else {
        unreachable!("the first attempt waits for the initial delay")
    };
    println!("  next attempt at {until}");
    let AnyControlPlane::Degraded(cp) =
        AnyControlPlane::from_status(Some(&status), at(24 * 60 + 1)).expect("known")
    else {
        unreachable!()
    };
    let Plan::Act {
        action,
        deadline,
        evidence,
        ..
    } = planner.plan(&failure, &mut record, at(24 * 60 + 1), &mut jitter)
    else {
        unreachable!("the backoff has passed")
    };
    println!("  {} now, deadline {deadline}", action.as_str());
    let cp = cp.into_recovering(evidence);
    show(cp, &mut status, "RecreateWorkspace in progress", 0.5);

    println!("\nThe Workspace is recreated and applies cleanly.");
    let AnyControlPlane::Recovering(cp) =
        AnyControlPlane::from_status(Some(&status), at(24 * 60 + 16)).expect("known")
    else {
        unreachable!()
    };
    let Ok(Resume::Provisioning(repaired)) = planner.succeeded(&mut record, &facts_after(), at(24 * 60 + 16))
    else {
        unreachable!("a recreated Workspace is provisioned again")
    };
    let cp = cp.into_provisioning(repaired);
    let cp =
        cp.into_configuring(evidence::workspace_provisioned(Some(&workspace(true))).expect("provisioned"));
    let cp = cp.into_ready(evidence::configured(&facts_after()).expect("configured"));
    show(cp, &mut status, "Serving", 1.0);

    let recovery = planner.status(&record);
    println!(
        "\nRecovery: {} attempt(s), success rate {:?}%",
        recovery.attempts, recovery.success_rate_percent
    );
    println!(
        "History ({} transitions):",
        status.progress.as_ref().map_or(0, |p| p.history.len())
    );
    for record in status.progress.iter().flat_map(|p| &p.history) {
        println!(
            "  {} {:>12} → {:<12} after {}",
            record.time.0,
            record.from,
            record.to,
            record.duration.as_deref().unwrap_or("-")
        );
    }

    let mut control_plane = CAPTControlPlane::new(
        "prod-control-plane",
        CAPTControlPlaneSpec {
            version: "1.31".into(),
            workspace_template_ref: WorkspaceTemplateReference {
                name: "eks-controlplane-template".into(),
                namespace: None,
            },
            ..Default::default()
        },
    );
    control_plane.metadata.namespace = Some("default".into());
    let mut observed = Observed::new(&control_plane);
    observed.cluster = Some(&cluster);
    println!("\nWhat it depends on (Missing: nothing was observed in this offline walk):");
    print!("{}", graph::build(&observed).graph.to_text_tree());
}

fn facts_after() -> ConfigurationFacts {
    ConfigurationFacts {
        endpoint: Some("ABC.gr7.ap-northeast-1.eks.amazonaws.com:443".into()),
        kubeconfig_secret: true,
        ca_secret: true,
    }
}
