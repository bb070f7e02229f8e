//! The operator with the real Crossplane provider-terraform running real OpenTofu
//! (`tools/tfbins`), and the simulator checked against it. The module and the world are in
//! `tests/support/terraform.rs`.

use std::{collections::BTreeMap, time::Duration};

use capt_controlplane::api::WorkspaceApi;
use capt_testkit::{
    ConditionHistory, PlaneOptions, Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig,
    TestControlPlane, TestNamespace,
};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

mod support;
use support::terraform::{SLOW, World, condition, state_secret, state_secrets, workspace_spec};

async fn plane() -> &'static TestControlPlane {
    match TestControlPlane::shared_with(PlaneOptions::with_provider_terraform()).await {
        Ok(plane) => plane,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_reaches_ready_on_what_the_provider_wrote() {
    let w = World::new(plane().await, "tf-happy", WorkspaceApi::Namespaced).await;
    w.control_plane("tfhappy", false).await;
    let cp = w.wait_state("tfhappy-cp", "Ready").await;
    let st = cp.status.as_ref().unwrap();
    let outputs = &st
        .workspace_status
        .as_ref()
        .unwrap()
        .at_provider
        .as_ref()
        .unwrap()["outputs"];
    assert_eq!(outputs["cluster_name"], "tfhappy");
    assert_eq!(outputs["cluster_version"], "1.31");
    assert_eq!(outputs["cluster_endpoint"], plane().await.server_url());
    // The connection secret is the provider's: Crossplane's type, controlled by the Workspace.
    let ws = w.workspaces().get("tfhappy-cp-eks-controlplane").await.unwrap();
    let secret = w.secrets().get("tfhappy-cp-eks-connection").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("connection.crossplane.io/v1alpha1"));
    assert!(
        secret
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == ws.uid().unwrap())
    );
    let keys: Vec<String> = secret.data.unwrap_or_default().into_keys().collect();
    assert_eq!(
        keys,
        [
            "cluster_certificate_authority_data",
            "cluster_endpoint",
            "cluster_name",
            "cluster_version",
            "note_heredoc",
            "note_indented",
            "note_quoted"
        ]
    );
    // And the kubeconfig built from it authenticates with the EKS token.
    let value = w.secrets().get("tfhappy-kubeconfig").await.unwrap().data.unwrap()["value"]
        .0
        .clone();
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(std::str::from_utf8(&value).unwrap()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Node>::all(Client::try_from(config).unwrap())
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        state_secrets(&w.admin)
            .await
            .get_opt(&state_secret("tfhappy-cp-eks-controlplane"))
            .await
            .unwrap()
            .is_some(),
        "Terraform state is in the test API server"
    );
    w.finish().await;
}

/// A value full of HCL syntax, substituted into the module's own text (a quoted string, a heredoc,
/// an indented heredoc), reaches OpenTofu exactly: rendering escaped it for where it sits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_with_hcl_syntax_reaches_opentofu_intact() {
    let w = World::new(plane().await, "tf-escape", WorkspaceApi::Namespaced).await;
    let note = "he said \"hi\" in C:\\temp, ${var.x} %{ if y } $${z} $$${w} 100%{\nEOT\n  EOT\n\tdone";
    let strategy = json!({"backoff": {"initialDelay": "1h", "maxDelay": "1h"}});
    w.control_plane_with("tfesc", &[("note", note)], strategy).await;
    let cp = w.wait_state("tfesc-cp", "Ready").await;
    let status = cp.status.unwrap();
    let outputs = &status.workspace_status.unwrap().at_provider.unwrap()["outputs"];
    assert_eq!(outputs["note_quoted"], note);
    assert_eq!(outputs["note_heredoc"], format!("{note}\n"));
    assert_eq!(outputs["note_indented"], format!("{note}\n"));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_apply_is_reported_and_a_spec_change_fixes_it() {
    let w = World::new(plane().await, "tf-fail", WorkspaceApi::Namespaced).await;
    w.control_plane("tffail", true).await;
    let cp = w
        .wait_cp("tffail-cp", "WorkspaceReady naming the provider's error", |cp| {
            cp.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "WorkspaceReady" && c.message.contains("local-exec provisioner error")
                })
            })
        })
        .await;
    let st = cp.status.as_ref().unwrap();
    assert!(
        matches!(st.state.as_deref(), Some("Provisioning" | "Recovering")),
        "{:?}",
        st.state
    );
    let ws = w.workspaces().get("tffail-cp-eks-controlplane").await.unwrap();
    let synced = condition(&ws.data, "Synced").unwrap();
    assert_eq!(
        (synced["status"].as_str(), synced["reason"].as_str()),
        (Some("False"), Some("ReconcileError"))
    );
    let message = synced["message"].as_str().unwrap();
    assert!(
        message.contains("failed: cannot apply Terraform configuration: Terraform encountered an error. Summary: local-exec provisioner error"),
        "{message}"
    );
    let ready = condition(&ws.data, "Ready").unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("Creating"))
    );

    w.patch_spec("tffail-cp", json!({"additionalTags": {"fail": "false"}}))
        .await;
    w.wait_state("tffail-cp", "Ready").await;
    w.finish().await;
}

/// The provider keeps `Ready=True` when an update fails and says so only in `Synced`: a failed
/// upgrade of a serving control plane is waited for, never "recovered" by destroying it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_leaves_the_old_apply_ready_and_is_waited_for() {
    let w = World::new(plane().await, "tf-reapply", WorkspaceApi::Namespaced).await;
    w.control_plane("tfre", false).await;
    w.wait_state("tfre-cp", "Ready").await;
    w.patch_spec(
        "tfre-cp",
        json!({"version": "1.32", "additionalTags": {"fail": "true"}}),
    )
    .await;
    let ws = capt_testkit::wait_for_object(
        &w.workspaces(),
        "tfre-cp-eks-controlplane",
        SLOW,
        |ws: &DynamicObject| condition(&ws.data, "Synced").is_some_and(|c| c["reason"] == "ReconcileError"),
    )
    .await
    .unwrap();
    let ready = condition(&ws.data, "Ready").unwrap();
    assert_eq!(
        ready["status"], "True",
        "what the real provider reports after a failed update: {ready}"
    );
    let cp = w
        .wait_cp("tfre-cp", "waiting for the provider", |cp| {
            cp.status
                .as_ref()
                .and_then(|s| s.progress.as_ref())
                .is_some_and(|p| p.current_operation.contains("provider-terraform retries"))
        })
        .await;
    assert_eq!(cp.status.as_ref().unwrap().state.as_deref(), Some("Provisioning"));
    assert!(
        w.workspaces()
            .get("tfre-cp-eks-controlplane")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    w.patch_spec("tfre-cp", json!({"additionalTags": {"fail": "false"}}))
        .await;
    let cp = w
        .wait_cp("tfre-cp", "Ready at 1.32", |cp| {
            cp.status
                .as_ref()
                .is_some_and(|s| s.state.as_deref() == Some("Ready") && s.version.as_deref() == Some("1.32"))
        })
        .await;
    let outputs = &cp
        .status
        .as_ref()
        .unwrap()
        .workspace_status
        .as_ref()
        .unwrap()
        .at_provider
        .as_ref()
        .unwrap()["outputs"];
    assert_eq!(outputs["cluster_version"], "1.32");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_re_renders_and_re_applies() {
    let w = World::new(plane().await, "tf-upgrade", WorkspaceApi::Namespaced).await;
    w.control_plane("tfup", false).await;
    w.wait_state("tfup-cp", "Ready").await;
    let generation = w
        .workspaces()
        .get("tfup-cp-eks-controlplane")
        .await
        .unwrap()
        .metadata
        .generation;
    w.patch_spec("tfup-cp", json!({"version": "1.32"})).await;
    let cp = w
        .wait_cp("tfup-cp", "Ready at 1.32", |cp| {
            cp.status
                .as_ref()
                .is_some_and(|s| s.state.as_deref() == Some("Ready") && s.version.as_deref() == Some("1.32"))
        })
        .await;
    let outputs = &cp
        .status
        .as_ref()
        .unwrap()
        .workspace_status
        .as_ref()
        .unwrap()
        .at_provider
        .as_ref()
        .unwrap()["outputs"];
    assert_eq!(outputs["cluster_version"], "1.32");
    let ws = w.workspaces().get("tfup-cp-eks-controlplane").await.unwrap();
    assert!(ws.metadata.generation > generation, "the same Workspace, updated");
    assert!(
        cp.status
            .unwrap()
            .progress
            .unwrap()
            .history
            .iter()
            .any(|r| r.from == "Ready" && r.to == "Provisioning")
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_destroys_before_the_finalizer_goes_and_retention_keeps_it() {
    let w = World::new(plane().await, "tf-delete", WorkspaceApi::Namespaced).await;
    w.control_plane("tfdel", false).await;
    w.control_plane("tfkeep", false).await;
    w.wait_state("tfdel-cp", "Ready").await;
    w.wait_state("tfkeep-cp", "Ready").await;
    let states = state_secrets(&w.admin).await;

    // Deleted: Terraform destroys, the Workspace goes, and only then the control plane.
    w.cps()
        .delete("tfdel-cp", &DeleteParams::default())
        .await
        .unwrap();
    let saw_destroying = std::sync::atomic::AtomicBool::new(false);
    capt_testkit::wait_for("the control plane gone", SLOW, || async {
        let cp = w.cps().get_opt("tfdel-cp").await?;
        let ws = w.workspaces().get_opt("tfdel-cp-eks-controlplane").await?;
        if cp.is_some() && ws.is_some() {
            saw_destroying.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        assert!(
            cp.is_some() || ws.is_none(),
            "the control plane went before its Workspace"
        );
        Ok::<_, kube::Error>(cp.is_none().then_some(()))
    })
    .await
    .unwrap();
    assert!(
        saw_destroying.into_inner(),
        "the Workspace was seen while the control plane waited for it"
    );
    assert!(
        states
            .get_opt(&state_secret("tfdel-cp-eks-controlplane"))
            .await
            .unwrap()
            .is_none()
    );

    // Retained: the Workspace and its state stay, and no longer belong to the apply.
    let applies = Api::<DynamicObject>::namespaced_with(
        w.admin.clone(),
        w.name(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(
                "infrastructure.cluster.x-k8s.io",
                "v1beta1",
                "WorkspaceTemplateApply",
            ),
            "workspacetemplateapplies",
        ),
    );
    applies
        .patch(
            "tfkeep-cp-eks-controlplane-apply",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"retainWorkspaceOnDelete": true}})),
        )
        .await
        .unwrap();
    w.cps()
        .delete("tfkeep-cp", &DeleteParams::default())
        .await
        .unwrap();
    capt_testkit::wait_for_deletion(&w.cps(), "tfkeep-cp", SLOW)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kept = w.workspaces().get("tfkeep-cp-eks-controlplane").await.unwrap();
    assert!(kept.metadata.deletion_timestamp.is_none());
    assert!(
        kept.owner_references()
            .iter()
            .all(|o| o.kind != "WorkspaceTemplateApply")
    );
    assert!(
        states
            .get_opt(&state_secret("tfkeep-cp-eks-controlplane"))
            .await
            .unwrap()
            .is_some()
    );
    w.workspaces()
        .delete("tfkeep-cp-eks-controlplane", &DeleteParams::default())
        .await
        .unwrap();
    capt_testkit::wait_for_deletion(&w.workspaces(), "tfkeep-cp-eks-controlplane", SLOW)
        .await
        .unwrap();
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_scoped_workspace_api_works_with_the_real_provider() {
    let w = World::new(plane().await, "tf-legacy", WorkspaceApi::ClusterScoped).await;
    w.control_plane("tflegacy", false).await;
    let cp = w.wait_state("tflegacy-cp", "Ready").await;
    let ws = w.workspaces().get("tflegacy-cp-eks-controlplane").await.unwrap();
    assert_eq!(ws.metadata.namespace, None, "cluster-scoped");
    let secret = w.secrets().get("tflegacy-cp-eks-connection").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("connection.crossplane.io/v1alpha1"));
    assert!(cp.status.unwrap().workspace_status.unwrap().ready);
    w.cps()
        .delete("tflegacy-cp", &DeleteParams::default())
        .await
        .unwrap();
    capt_testkit::wait_for_deletion(&w.cps(), "tflegacy-cp", SLOW)
        .await
        .unwrap();
    assert!(
        w.workspaces()
            .get_opt("tflegacy-cp-eks-controlplane")
            .await
            .unwrap()
            .is_none()
    );
    w.finish().await;
}

/// What a scenario looked like, in the terms the operator reads: the reasons each condition went
/// through, the final conditions, crossplane's create annotations, and the shape of outputs and
/// connection secret.
#[derive(Debug, PartialEq)]
struct Observed {
    ready_path: Vec<String>,
    synced_path: Vec<String>,
    synced_message_shape: String,
    synced_has_generation: bool,
    create_annotations: Vec<String>,
    create_incomplete: bool,
    output_kinds: BTreeMap<String, String>,
    secret_type: Option<String>,
    secret_keys: Vec<String>,
    secret_controller: Option<String>,
}

/// The message with what varies between runs (the summary, the gzip of stderr) taken out.
fn message_shape(message: &str) -> String {
    let shape = message.split("Summary: ").next().unwrap_or_default().to_owned();
    if message.contains("To see the full error run: echo \"") {
        format!("{shape}Summary: …. To see the full error run: …")
    } else {
        shape
    }
}

/// One fidelity scenario: a Workspace created with `fail`, waited for until `settled`, and, with
/// `update`, then given a new version that fails to apply and waited for until that failure.
struct Scenario {
    name: &'static str,
    fail: bool,
    settled: fn(&DynamicObject) -> bool,
    update: bool,
}

/// Creates the scenario's Workspace in `namespace` (with the fidelity module), drives it, and
/// observes it.
async fn observe_scenario(
    plane: &TestControlPlane,
    admin: &Client,
    namespace: &str,
    scenario: &Scenario,
) -> Observed {
    let Scenario {
        name,
        fail,
        settled,
        update,
    } = *scenario;
    let api = WorkspaceApi::Namespaced;
    let workspaces: Api<DynamicObject> = Api::namespaced_with(admin.clone(), namespace, &api.api_resource());
    let mut spec = workspace_spec(
        plane,
        api,
        json!([
            {"key": "cluster_name", "value": name},
            {"key": "kubernetes_version", "value": "1.31"},
            {"key": "fail", "value": fail.to_string()},
        ]),
    );
    spec["writeConnectionSecretToRef"] = json!({"name": format!("{name}-connection")});
    let history = ConditionHistory::record(workspaces.clone(), name, &["Ready", "Synced"])
        .await
        .unwrap();
    workspaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": api.api_resource().api_version,
                "kind": "Workspace",
                "metadata": {"name": name},
                "spec": spec,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut ws = capt_testkit::wait_for_object(&workspaces, name, SLOW, settled)
        .await
        .unwrap();
    if update {
        spec["forProvider"]["vars"] = json!([
            {"key": "cluster_name", "value": name},
            {"key": "kubernetes_version", "value": "1.32"},
            {"key": "fail", "value": "true"},
        ]);
        workspaces
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap();
        ws = capt_testkit::wait_for_object(&workspaces, name, SLOW, |ws| {
            condition(&ws.data, "Synced").is_some_and(|c| c["reason"] == "ReconcileError")
        })
        .await
        .unwrap();
    }
    let synced = condition(&ws.data, "Synced").cloned().unwrap_or_default();
    let annotations = ws.annotations();
    let outputs = ws.data["status"]["atProvider"]["outputs"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let kind = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        _ => "other",
    };
    let secret = Api::<Secret>::namespaced(admin.clone(), namespace)
        .get_opt(&format!("{name}-connection"))
        .await
        .unwrap();
    let observed = Observed {
        ready_path: history.reasons("Ready"),
        synced_path: history.reasons("Synced"),
        synced_message_shape: message_shape(synced["message"].as_str().unwrap_or_default()),
        synced_has_generation: synced.get("observedGeneration").is_some(),
        create_annotations: annotations
            .keys()
            .filter(|k| k.starts_with("crossplane.io/external-create-"))
            .cloned()
            .collect(),
        create_incomplete: capt_testkit::simulator::provider::external_create_incomplete(annotations),
        output_kinds: outputs
            .iter()
            .map(|(k, v)| (k.clone(), kind(v).to_owned()))
            .collect(),
        secret_type: secret.as_ref().and_then(|s| s.type_.clone()),
        secret_keys: secret
            .as_ref()
            .map(|s| s.data.clone().unwrap_or_default().into_keys().collect())
            .unwrap_or_default(),
        secret_controller: secret.and_then(|s| {
            s.owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
                .map(|o| o.kind.clone())
        }),
    };
    workspaces.delete(name, &DeleteParams::default()).await.unwrap();
    capt_testkit::wait_for_deletion(&workspaces, name, SLOW)
        .await
        .unwrap();
    observed
}

fn available(ws: &DynamicObject) -> bool {
    condition(&ws.data, "Ready").is_some_and(|c| c["reason"] == "Available")
        && condition(&ws.data, "Synced").is_some_and(|c| c["status"] == "True")
}

/// A failed create retried: the retry is an update, since the failed apply left resources in the
/// Terraform state.
fn failing_retried(ws: &DynamicObject) -> bool {
    condition(&ws.data, "Synced").is_some_and(|c| {
        c["reason"] == "ReconcileError"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("update failed"))
    })
}

/// The simulator stands in for provider-terraform everywhere else: the same scenarios, driven
/// through both, must look the same to the operator (conditions, reasons, message shape, outputs,
/// connection secret). The simulator runs on a private plane, where the real provider does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_behaves_as_the_real_provider_does() {
    let shared = plane().await;
    let admin = shared.client().await.unwrap();
    let ns = TestNamespace::create(&admin, "fidelity").await.unwrap();
    let private = TestControlPlane::start(PlaneOptions {
        eks_authenticator: false,
        ..PlaneOptions::default()
    })
    .await
    .unwrap();
    let private_admin = private.client().await.unwrap();
    let sim_ns = TestNamespace::create(&private_admin, "fidelity-sim")
        .await
        .unwrap();
    let sim = Simulator::spawn(
        private_admin.clone(),
        SimulatorConfig::new(SimulatedCluster::from_plane(&private)).in_namespace(sim_ns.name()),
    );
    let failure = "local-exec provisioner error";
    sim.script(
        ScriptKey::namespaced(sim_ns.name(), "fid-fail"),
        // The module's endpoint and CA outputs are constants: Terraform evaluates them even
        // though the resource failed.
        Script::new()
            .apply_error(failure)
            .outputs_after_failure(["cluster_endpoint", "cluster_certificate_authority_data"]),
    );
    sim.script(
        ScriptKey::namespaced(sim_ns.name(), "fid-update"),
        Script::new().reapply_error(failure),
    );

    let scenarios = [
        Scenario {
            name: "fid-ok",
            fail: false,
            settled: available,
            update: false,
        },
        Scenario {
            name: "fid-fail",
            fail: true,
            settled: failing_retried,
            update: false,
        },
        Scenario {
            name: "fid-update",
            fail: false,
            settled: available,
            update: true,
        },
    ];
    for scenario in &scenarios {
        let real = observe_scenario(shared, &admin, ns.name(), scenario).await;
        let simulated = observe_scenario(&private, &private_admin, sim_ns.name(), scenario).await;
        assert_eq!(
            simulated, real,
            "{}: the simulator differs from provider-terraform",
            scenario.name
        );
    }
    sim.shutdown().await;
    let _ = ns.delete().await;
    drop(private);
}
