//! Micro benchmarks of the pure paths every reconcile pass takes: rehydrating the typed state
//! from the stored status plus one transition, comparing the desired status with the stored one,
//! and rendering a large WorkspaceTemplate. Numbers: `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::hint::black_box;

use capt_controlplane::{
    api::{CAPTControlPlaneStatus, ClusterView, WorkspaceView},
    controller::status::differs,
    progress,
    render::render,
    state::{
        AnyControlPlane, ControlPlane,
        evidence::{
            ConfigurationFacts, Validation, ValidationFacts, configured, resolve_cluster, validate,
            workspace_provisioned,
        },
    },
};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use serde_json::{Value, json};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A Workspace as provider-terraform leaves it after a successful apply.
fn workspace_ready() -> WorkspaceView {
    let object: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
        "metadata": {"name": "prod-eks-controlplane", "namespace": "default", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "atProvider": {
                "checksum": "6c62272e07bb014262b821756295c58d",
                "outputs": {
                    "cluster_endpoint": "https://ABCDEF0123456789.gr7.ap-northeast-1.eks.amazonaws.com",
                    "cluster_name": "prod",
                    "cluster_version": "1.31",
                    "cluster_certificate_authority_data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t".repeat(30),
                }
            },
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "observedGeneration": 1,
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        }
    }))
    .expect("valid Workspace");
    WorkspaceView::from_dynamic(&object).expect("a Workspace view")
}

/// A stored status in Provisioning, with the history of the moves that led there, as the
/// reconciler reads it on the pass that sees the Workspace become Ready.
fn provisioning_status() -> CAPTControlPlaneStatus {
    let cluster = ClusterView {
        name: "prod".into(),
        ..Default::default()
    };
    let cp =
        ControlPlane::new(at(0)).into_validating(resolve_cluster(Some(&cluster), false).expect("resolved"));
    let Validation::Valid(valid) = validate(&ValidationFacts::default()) else {
        unreachable!("no facts means valid")
    };
    let cp = cp.into_provisioning(valid);
    let mut status = CAPTControlPlaneStatus::default();
    AnyControlPlane::from(cp).write_status(&mut status, &progress::Operation::new("Provisioning", 0.2));
    status
}

/// A Ready control plane's status as the operator stores it: state, history, conditions, the
/// Workspace's outputs and health, about 4 KB of JSON.
fn ready_status() -> CAPTControlPlaneStatus {
    let status = provisioning_status();
    let AnyControlPlane::Provisioning(cp) =
        AnyControlPlane::from_status(Some(&status), at(600)).expect("known state")
    else {
        unreachable!("stored as Provisioning")
    };
    let cp = cp.into_configuring(workspace_provisioned(Some(&workspace_ready())).expect("provisioned"));
    let facts = ConfigurationFacts {
        endpoint: Some("ABCDEF0123456789.gr7.ap-northeast-1.eks.amazonaws.com:443".into()),
        kubeconfig_secret: true,
        ca_secret: true,
    };
    let cp = cp.into_ready(configured(&facts).expect("configured"));
    let mut status = status;
    AnyControlPlane::from(cp).write_status(&mut status, &progress::Operation::new("Serving", 1.0));
    let condition = |type_: &str, reason: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": format!("{type_} is fine: {reason}"),
               "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:10:00Z"})
    };
    let mut value = serde_json::to_value(&status).expect("serializable");
    value["conditions"] = json!([
        condition("Ready", "ControlPlaneReady"),
        condition("Available", "ControlPlaneReady"),
        condition("ClusterResolved", "ClusterResolved"),
        condition("DependenciesValid", "DependenciesValid"),
        condition("WorkspaceReady", "WorkspaceReady"),
        condition("SecretsReady", "SecretsReady"),
        condition("Healthy", "AllChecksPassed"),
    ]);
    value["ready"] = true.into();
    value["initialized"] = true.into();
    value["externalManagedControlPlane"] = true.into();
    value["version"] = "1.31".into();
    value["observedGeneration"] = 1.into();
    value["secretsReady"] = true.into();
    value["workspaceStatus"] = json!({
        "ready": true, "state": "Available",
        "atProvider": workspace_ready_at_provider(),
    });
    serde_json::from_value(value).expect("a status")
}

fn workspace_ready_at_provider() -> Value {
    json!({
        "checksum": "6c62272e07bb014262b821756295c58d",
        "outputs": {
            "cluster_endpoint": "https://ABCDEF0123456789.gr7.ap-northeast-1.eks.amazonaws.com",
            "cluster_name": "prod",
            "cluster_version": "1.31",
            "cluster_certificate_authority_data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t".repeat(30),
        }
    })
}

fn dispatch(c: &mut Criterion) {
    let stored = provisioning_status();
    let workspace = workspace_ready();
    let mut group = c.benchmark_group("state");
    group.bench_function("from_status", |b| {
        b.iter(|| black_box(AnyControlPlane::from_status(Some(black_box(&stored)), at(600))))
    });
    // What one reconcile pass does when the Workspace turns Ready: rehydrate, gather the evidence,
    // move Provisioning → Configuring.
    group.bench_function("from_status_and_transition", |b| {
        b.iter(|| {
            let any = AnyControlPlane::from_status(Some(black_box(&stored)), at(600)).expect("known");
            let AnyControlPlane::Provisioning(cp) = any else {
                unreachable!("stored as Provisioning")
            };
            let evidence = workspace_provisioned(Some(black_box(&workspace))).expect("provisioned");
            black_box(AnyControlPlane::from(cp.into_configuring(evidence)))
        })
    });
    group.finish();
}

fn status_differs(c: &mut Criterion) {
    let stored = ready_status();
    let size = serde_json::to_string(&stored).map(|s| s.len()).unwrap_or(0);
    // Equal but for condition transition times: the steady-state case, which must say "same".
    let mut desired = stored.clone();
    for condition in &mut desired.conditions {
        condition.last_transition_time.0 = at(9_999);
    }
    let mut changed = stored.clone();
    changed.version = Some("1.32".into());
    let mut group = c.benchmark_group("status");
    group.bench_function(format!("differs_unchanged_{size}B"), |b| {
        b.iter(|| {
            let differs = differs(Some(black_box(&stored)), black_box(&desired));
            assert!(!differs);
            differs
        })
    });
    group.bench_function(format!("differs_changed_{size}B"), |b| {
        b.iter(|| black_box(differs(Some(black_box(&stored)), black_box(&changed))))
    });
    group.finish();
}

fn render_large(c: &mut Criterion) {
    const VARS: usize = 200;
    let names: Vec<String> = (0..VARS).map(|i| format!("var_{i:03}")).collect();
    // A 50 KB inline module that uses every variable many times, with Terraform's own `$${...}`
    // escapes and `${var.x}` interpolations mixed in, as real modules have.
    let mut module = String::new();
    let mut i = 0;
    while module.len() < 50 * 1024 {
        let name = &names[i % VARS];
        module.push_str(&format!(
            "resource \"aws_ssm_parameter\" \"p{i}\" {{\n  name  = \"/eks/${{{name}}}/p{i}\"\n  value = \"$${{var.region}}-${{var.suffix}}\"\n}}\n"
        ));
        i += 1;
    }
    let vars: Vec<Value> = names
        .iter()
        .map(|n| json!({"key": n, "value": format!("${{{n}}}")}))
        .collect();
    let template = json!({
        "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
        "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-connection"},
        "forProvider": {"source": "Inline", "module": module, "vars": vars},
    });
    let mut variables: BTreeMap<String, String> = names
        .iter()
        .map(|n| (n.clone(), format!("value-of-{n}")))
        .collect();
    variables.insert("WORKSPACE_NAME".into(), "prod-eks-controlplane".into());
    let mut group = c.benchmark_group("render");
    group.bench_function(
        format!("template_{VARS}_vars_{}KB_module", module.len() / 1024),
        |b| b.iter(|| black_box(render(black_box(&template), black_box(&variables)).expect("renders"))),
    );
    group.finish();
}

criterion_group!(benches, dispatch, status_differs, render_large);
criterion_main!(benches);
