//! The operator against a real kube-apiserver, with the provider-terraform simulator playing the
//! provider. Each test gets its own namespace, its own simulator, and its own operator instance
//! watching only that namespace and authenticating as its own user bound only to
//! `manifests/rbac/role.yaml`, so tests can run in parallel and the audit log tells their writes
//! apart.

use std::{collections::BTreeMap, time::Duration};

use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, CLUSTER_NAME_LABEL, ControlPlaneConfig, DeclaredDependency,
    DependencyKind, PAUSED_ANNOTATION, RETRY_ANNOTATION, WorkspaceTemplateApply, WorkspaceTemplateReference,
};
use capt_testkit::{Script, ScriptKey, http};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde_json::json;

mod support;

use support::TIMEOUT;

use support::world::{World, condition, fast_recovery, first_in_state, pairs, transitions};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_reaches_ready_with_contract_fields_secrets_and_events() {
    let w = World::new("happy").await;
    w.template("eks", &[]).await;
    let cluster = w.cluster("prod", false).await;
    let first_ready = first_in_state(w.cps(), "prod-control-plane", "Ready").await;
    w.control_plane("prod-control-plane", &cluster, |_| {}).await;
    let cp = w.wait_state("prod-control-plane", "Ready").await;
    // The status that says Ready already draws itself Ready and the secrets written on the way.
    let first_ready = first_ready.await.unwrap();
    let graph = first_ready.status.unwrap().dependency_graph.unwrap();
    for (kind, name) in [
        ("CAPTControlPlane", "prod-control-plane"),
        ("Secret", "prod-kubeconfig"),
        ("Secret", "prod-ca"),
    ] {
        let node = graph.nodes.values().find(|n| n.type_ == kind && n.name == name);
        assert_eq!(
            node.map(|n| n.status.as_str()),
            Some("Ready"),
            "{name}: {graph:#?}"
        );
    }
    let history = &cp.status.as_ref().unwrap().progress.as_ref().unwrap().history;
    let explained: Vec<String> = history
        .iter()
        .map(|r| format!("{} -> {}: {} {}", r.from, r.to, r.reason, r.message))
        .collect();
    assert_eq!(
        transitions(&cp),
        pairs(&[
            ("Pending", "Validating"),
            ("Validating", "Provisioning"),
            ("Provisioning", "Configuring"),
            ("Configuring", "Ready")
        ]),
        "{explained:#?}"
    );
    let st = cp.status.clone().unwrap();
    assert!(st.ready && st.initialized && st.external_managed_control_plane);
    assert!(st.initialization.unwrap().control_plane_initialized);
    assert_eq!(st.version.as_deref(), Some("1.31"));
    assert_eq!(st.progress.as_ref().unwrap().percent_complete, 100);
    assert_eq!(st.phase, Some(capt_controlplane::api::Phase::Ready));
    assert!(st.workspace_status.unwrap().at_provider.unwrap()["outputs"]["cluster_endpoint"].is_string());
    assert!(condition(&cp, "Available").is_some_and(|c| c.status == "True"));

    // The endpoint is a bare host and port: the test API server's own.
    let plane = capt_testkit::shared_plane().await;
    let ep = cp.spec.control_plane_endpoint.clone().unwrap();
    assert_eq!(format!("https://{}:{}", ep.host, ep.port), plane.server_url());

    // Cluster API secrets, owned by the control plane; the kubeconfig really reaches the server.
    let kubeconfig = w.secrets().get("prod-kubeconfig").await.unwrap();
    assert_eq!(kubeconfig.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
    assert_eq!(
        kubeconfig.labels().get(CLUSTER_NAME_LABEL).map(String::as_str),
        Some("prod")
    );
    assert!(
        kubeconfig
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == cp.uid().as_ref())
    );
    assert!(
        kubeconfig
            .annotations()
            .contains_key("controlplane.cluster.x-k8s.io/token-refresh-at")
    );
    let value = kubeconfig.data.unwrap().remove("value").unwrap().0;
    let parsed = kube::config::Kubeconfig::from_yaml(std::str::from_utf8(&value).unwrap()).unwrap();
    assert!(
        parsed.auth_infos[0].auth_info.as_ref().unwrap().exec.is_none(),
        "Cluster API refuses exec kubeconfigs"
    );
    let doc: serde_json::Value = serde_json::from_slice(&value).unwrap();
    assert!(
        doc["users"][0]["user"]["token"]
            .as_str()
            .unwrap()
            .starts_with("k8s-aws-v1.")
    );
    // What Cluster API's cluster cache does with it: list Nodes, authenticated by the EKS token.
    let config = kube::Config::from_custom_kubeconfig(parsed, &Default::default())
        .await
        .unwrap();
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(Client::try_from(config).unwrap());
    nodes.list(&Default::default()).await.unwrap();
    // People get the exec form, which renews itself.
    let user_kubeconfig = w.secrets().get("prod-user-kubeconfig").await.unwrap();
    let value = user_kubeconfig.data.unwrap().remove("value").unwrap().0;
    let parsed = kube::config::Kubeconfig::from_yaml(std::str::from_utf8(&value).unwrap()).unwrap();
    let exec = parsed.auth_infos[0].auth_info.clone().unwrap().exec.unwrap();
    assert_eq!(exec.command.as_deref(), Some("aws"));
    assert_eq!(
        st.versions,
        [capt_controlplane::api::StatusVersion {
            version: "1.31".into()
        }]
    );
    let ca = w.secrets().get("prod-ca").await.unwrap();
    assert!(ca.data.unwrap().contains_key("tls.crt"));

    // One event per pass that moved, each naming its moves: every transition, in order.
    w.wait_event("prod-control-plane", "Normal", "ControlPlaneReady")
        .await;
    let events = w.events("prod-control-plane").await;
    let reasons: Vec<&str> = events.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons, ["DependenciesValid", "ControlPlaneReady"]);
    let notes = w.event_notes("prod-control-plane").await.join("; ");
    let moves = [
        "Pending -> Validating (ClusterResolved)",
        "Validating -> Provisioning (DependenciesValid)",
        "Provisioning -> Configuring (WorkspaceReady)",
        "Configuring -> Ready (ControlPlaneReady)",
    ];
    let mut at = 0;
    for m in moves {
        let found = notes[at..]
            .find(m)
            .unwrap_or_else(|| panic!("{m} in order in {notes}"));
        at += found + m.len();
    }
    w.finish().await;
}

/// Cluster API refuses exec kubeconfigs, so without AWS credentials to sign an EKS token (and
/// no usable `kubeconfig` output) there is nothing Cluster API could connect with: the control
/// plane must not claim Ready, and it says why, once, as a Warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_token_credentials_the_control_plane_waits_and_says_why() {
    let w = World::new("notoken").await;
    w.template("eks", &[]).await;
    let cluster = w.cluster("nt", false).await;
    w.control_plane("nt-cp", &cluster, |cp| cp.spec.token_credentials_ref = None)
        .await;
    let cp = w
        .wait_cp("nt-cp", "KubeconfigReady NoTokenCredentials", |cp| {
            condition(cp, "KubeconfigReady").is_some_and(|c| c.reason == "NoTokenCredentials")
        })
        .await;
    assert_eq!(
        cp.status.as_ref().and_then(|s| s.state.as_deref()),
        Some("Configuring")
    );
    let message = &condition(&cp, "KubeconfigReady").unwrap().message;
    assert!(message.contains("spec.tokenCredentialsRef"), "{message}");
    w.wait_event("nt-cp", "Warning", "NoTokenCredentials").await;
    assert!(w.secrets().get_opt("nt-kubeconfig").await.unwrap().is_none());
    assert!(w.secrets().get_opt("nt-user-kubeconfig").await.unwrap().is_some());

    // Naming the credentials is enough to go on.
    w.cps()
        .patch(
            "nt-cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tokenCredentialsRef": {"name": support::TOKEN_CREDENTIALS}}})),
        )
        .await
        .unwrap();
    w.wait_state("nt-cp", "Ready").await;
    let warnings = w
        .events("nt-cp")
        .await
        .into_iter()
        .filter(|(_, reason)| reason == "NoTokenCredentials")
        .count();
    assert_eq!(warnings, 1, "told once, not once a pass");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_found_by_label_when_names_differ() {
    let w = World::new("classy").await;
    w.template("eks", &[]).await;
    let _cluster = w.cluster("prod-x7k2p", false).await;
    // ClusterClass-style names, and no ownerReference yet: only the cluster-name label links them.
    let mut cp = CAPTControlPlane::new(
        "prod-x7k2p-cp-9qv4z",
        CAPTControlPlaneSpec {
            version: "1.31".into(),
            workspace_template_ref: WorkspaceTemplateReference {
                name: "eks".into(),
                namespace: None,
            },
            control_plane_config: Some(ControlPlaneConfig {
                region: "us-gov-west-1".into(),
                ..Default::default()
            }),
            token_credentials_ref: Some(support::token_credentials_ref()),
            ..Default::default()
        },
    );
    cp.metadata.labels = Some(BTreeMap::from([(
        CLUSTER_NAME_LABEL.to_owned(),
        "prod-x7k2p".to_owned(),
    )]));
    w.cps().create(&PostParams::default(), &cp).await.unwrap();
    w.wait_state("prod-x7k2p-cp-9qv4z", "Ready").await;
    assert!(
        w.secrets()
            .get_opt("prod-x7k2p-kubeconfig")
            .await
            .unwrap()
            .is_some()
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_template_waits_in_validating_then_proceeds() {
    let w = World::new("late").await;
    let cluster = w.cluster("late", false).await;
    w.control_plane("late-cp", &cluster, |_| {}).await;
    let cp = w.wait_state("late-cp", "Validating").await;
    let valid = condition(&cp, "DependenciesValid").unwrap();
    assert_eq!(valid.status, "False");
    assert_eq!(valid.reason, "WaitingForDependencies");
    assert!(valid.message.contains("WorkspaceTemplate"), "{}", valid.message);
    w.template("eks", &[]).await;
    w.wait_state("late-cp", "Ready").await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyclic_waits_fail_with_the_cycle_and_a_fixed_spec_recovers() {
    let w = World::new("cycle").await;
    w.template("eks", &[]).await;
    w.template("side", &[]).await;
    let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.admin.clone(), w.name());
    for (me, other) in [("cyc-a", "cyc-b"), ("cyc-b", "cyc-a")] {
        let apply: WorkspaceTemplateApply = serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "WorkspaceTemplateApply",
            "metadata": {"name": format!("{me}-apply")},
            "spec": {"templateRef": {"name": "side"}, "waitForWorkspaces": [{"name": other}],
                     "variables": {"cluster_name": me, "kubernetes_version": "1", "region": "r"}}
        }))
        .unwrap();
        applies.create(&PostParams::default(), &apply).await.unwrap();
    }
    let cluster = w.cluster("cyc", false).await;
    w.control_plane("cyc-cp", &cluster, |cp| {
        cp.spec.dependencies = vec![DeclaredDependency {
            kind: DependencyKind::Workspace,
            name: "cyc-a".into(),
            namespace: None,
        }];
    })
    .await;
    let cp = w.wait_state("cyc-cp", "Failed").await;
    let st = cp.status.clone().unwrap();
    assert_eq!(st.failure_reason.as_deref(), Some("DependencyCycle"));
    let message = st.failure_message.unwrap();
    assert!(
        message.contains("cyc-a-apply") && message.contains("cyc-b-apply"),
        "{message}"
    );
    w.wait_event("cyc-cp", "Warning", "DependencyCycle").await;

    // Fix the spec: drop the dependency on the cycle.
    w.cps()
        .patch(
            "cyc-cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dependencies": null}})),
        )
        .await
        .unwrap();
    let cp = w.wait_state("cyc-cp", "Ready").await;
    assert_eq!(cp.status.unwrap().failure_reason, None);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_error_recovers_with_attempts_and_backoff_in_status() {
    let w = World::new("applyerr").await;
    w.template("eks", &[]).await;
    w.script(
        "flaky-cp-eks-controlplane",
        Script::new().apply_error("creating EKS Cluster: AccessDeniedException"),
    );
    let cluster = w.cluster("flaky", false).await;
    w.control_plane("flaky-cp", &cluster, |_| {}).await;
    let cp = w.wait_move("flaky-cp", "Provisioning", "Recovering").await;
    let recovery = cp.status.unwrap().recovery.unwrap();
    assert!(recovery.attempts >= 1, "{recovery:?}");
    let actions: Vec<_> = (recovery.current_action.iter())
        .chain(&recovery.history)
        .map(|a| a.action.as_str())
        .collect();
    assert!(
        !actions.is_empty() && actions.iter().all(|a| *a == "RecreateWorkspace"),
        "{recovery:?}"
    );
    // The cause is fixed (permissions granted): the recreated Workspace applies cleanly.
    w.sim()
        .clear_script(&ScriptKey::namespaced(w.name(), "flaky-cp-eks-controlplane"));
    let cp = w.wait_state("flaky-cp", "Ready").await;
    let moves = transitions(&cp);
    assert!(
        moves.contains(&("Provisioning".into(), "Recovering".into())),
        "{moves:?}"
    );
    assert!(
        moves.contains(&("Recovering".into(), "Provisioning".into())),
        "{moves:?}"
    );
    let recovery = cp.status.unwrap().recovery.unwrap();
    assert!(
        recovery
            .history
            .iter()
            .any(|a| a.result.as_deref() == Some("Succeeded")),
        "{recovery:?}"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_terminally_and_the_retry_annotation_resumes() {
    let w = World::new("exhaust").await;
    w.template("eks", &[]).await;
    w.script(
        "doomed-cp-eks-controlplane",
        Script::new().apply_error("Error: InvalidParameterException"),
    );
    let cluster = w.cluster("doomed", false).await;
    w.control_plane("doomed-cp", &cluster, |cp| {
        cp.spec.recovery_strategy = Some(fast_recovery(Some(1)))
    })
    .await;
    let cp = w.wait_state("doomed-cp", "Failed").await;
    let st = cp.status.clone().unwrap();
    assert_eq!(st.failure_reason.as_deref(), Some("RetriesExhausted"));
    assert!(st.failure_message.unwrap().contains("InvalidParameterException"));
    w.wait_event("doomed-cp", "Warning", "RetriesExhausted").await;

    w.sim()
        .clear_script(&ScriptKey::namespaced(w.name(), "doomed-cp-eks-controlplane"));
    w.cps()
        .patch(
            "doomed-cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {RETRY_ANNOTATION: "now"}}})),
        )
        .await
        .unwrap();
    let cp = w.wait_state("doomed-cp", "Ready").await;
    assert!(
        !cp.annotations().contains_key(RETRY_ANNOTATION),
        "the retry request is consumed"
    );
    assert!(transitions(&cp).contains(&("Failed".into(), "Recovering".into())));
    w.finish().await;
}

/// Someone deletes the Workspace of a Ready control plane: it degrades, waits while the provider
/// destroys it (nothing of ours can speed that up), and is Ready again once its apply has rendered
/// the Workspace anew. The operator itself deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_workspace_degrades_and_is_rendered_again_without_a_destroy() {
    let w = World::new("recreate").await;
    w.template("eks", &[]).await;
    w.script(
        "gone-cp-eks-controlplane",
        Script::new().destroy_delay(Duration::from_secs(4)),
    );
    let cluster = w.cluster("gone", false).await;
    w.control_plane("gone-cp", &cluster, |_| {}).await;
    let before = w.wait_state("gone-cp", "Ready").await;
    let old = w.workspaces().get("gone-cp-eks-controlplane").await.unwrap();
    let start = jiff::Timestamp::now();
    w.workspaces()
        .delete("gone-cp-eks-controlplane", &DeleteParams::default())
        .await
        .unwrap();
    let degraded = w.wait_move("gone-cp", "Ready", "Degraded").await;
    let degraded_record = degraded
        .status
        .as_ref()
        .unwrap()
        .progress
        .as_ref()
        .unwrap()
        .history
        .last()
        .cloned();
    assert!(
        degraded_record.is_some_and(|r| r.message.contains("gone-cp-eks-controlplane")),
        "the Degraded record names the Workspace"
    );
    let after = w
        .wait_cp("gone-cp", "Ready again", |cp| {
            cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some("Ready")
                && transitions(cp).len() > transitions(&before).len()
        })
        .await;
    let moves = transitions(&after);
    assert!(moves.contains(&("Ready".into(), "Degraded".into())), "{moves:?}");
    let new = w.workspaces().get("gone-cp-eks-controlplane").await.unwrap();
    assert_ne!(new.uid(), old.uid(), "a new Workspace");
    let deletions = w.operator_requests("delete", "/workspaces/", start).await;
    assert_eq!(deletions, Vec::<String>::new(), "the operator destroyed nothing");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_degrades_after_three_failed_probes() {
    let w = World::new("probe").await;
    w.template("eks", &[]).await;
    // The "EKS" API server reports an endpoint nothing listens on.
    let endpoint = format!("https://127.0.0.1:{}", free_port());
    w.script(
        "dark-cp-eks-controlplane",
        Script::new().output("cluster_endpoint", capt_testkit::Output::plain(endpoint)),
    );
    let cluster = w.cluster("dark", false).await;
    w.control_plane("dark-cp", &cluster, |_| {}).await;
    // Ready first: the probe is a health check, not a condition for Ready.
    let cp = w.wait_move("dark-cp", "Ready", "Degraded").await;
    let history = &cp.status.as_ref().unwrap().progress.as_ref().unwrap().history;
    let degraded = history.iter().find(|r| r.to == "Degraded").unwrap();
    assert!(
        history.iter().any(|r| r.from == "Configuring" && r.to == "Ready"),
        "{history:#?}"
    );
    // One refused connection is not an outage: the verdict comes on the third in a row.
    assert!(
        degraded
            .message
            .contains("EndpointProbe: the API server is unreachable")
            && degraded.message.contains("(3 probes in a row)"),
        "{}",
        degraded.message
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reapply_while_workspace_stays_ready_degrades() {
    let w = World::new("reapply").await;
    w.template("eks", &[]).await;
    w.script(
        "drift-cp-eks-controlplane",
        Script::new().reapply_error("Error: updating EKS Cluster: ResourceInUseException"),
    );
    let cluster = w.cluster("drift", false).await;
    // The default strategy, with the short delays of these tests: a failed update must not be
    // "recovered" however soon recovery could act.
    w.control_plane("drift-cp", &cluster, |_| {}).await;
    w.wait_state("drift-cp", "Ready").await;
    // Someone edits the Workspace out of band; provider-terraform re-applies and fails, and keeps
    // Ready=True (it does not reset Ready on a failed update).
    w.workspaces()
        .patch(
            "drift-cp-eks-controlplane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"forProvider": {"env": [{"name": "TF_LOG", "value": "DEBUG"}]}}})),
        )
        .await
        .unwrap();
    capt_testkit::wait_for("Workspace Ready=True and Synced=False", TIMEOUT, || async {
        let ws = w.workspaces().get("drift-cp-eks-controlplane").await?;
        let view = capt_controlplane::api::WorkspaceView::from_dynamic(&ws).unwrap();
        Ok::<_, kube::Error>((view.is_ready() && view.reconcile_error().is_some()).then_some(()))
    })
    .await
    .unwrap();
    let cp = w.wait_state("drift-cp", "Degraded").await;
    assert!(
        transitions(&cp).contains(&("Ready".into(), "Degraded".into())),
        "{:?}",
        transitions(&cp)
    );
    // The failing check names the provider's error once the provider has reported it, and says
    // the provider retries: the serving control plane is not destroyed to "fix" an update.
    let start = jiff::Timestamp::now();
    let cp = w
        .wait_cp("drift-cp", "Healthy=False naming the failed update", |cp| {
            condition(cp, "Healthy")
                .is_some_and(|c| c.status == "False" && c.message.contains("update failed"))
        })
        .await;
    let operation = cp.status.unwrap().progress.unwrap().current_operation;
    assert!(operation.contains("provider-terraform retries"), "{operation}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cp = w.cps().get("drift-cp").await.unwrap();
    assert!(
        !transitions(&cp).iter().any(|(_, to)| to == "Recovering"),
        "{:?}",
        transitions(&cp)
    );
    assert_eq!(
        w.operator_requests("delete", "/workspaces/", start).await,
        Vec::<String>::new()
    );
    // The update goes through: healthy again.
    w.sim()
        .clear_script(&ScriptKey::namespaced(w.name(), "drift-cp-eks-controlplane"));
    w.workspaces()
        .patch(
            "drift-cp-eks-controlplane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"forProvider": {"env": [{"name": "TF_LOG", "value": "INFO"}]}}})),
        )
        .await
        .unwrap();
    w.wait_move("drift-cp", "Degraded", "Ready").await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_upgrade_reprovisions_the_workspace() {
    let w = World::new("upgrade").await;
    w.template("eks", &[]).await;
    w.script(
        "up-cp-eks-controlplane",
        Script::new().update_delay(Duration::from_secs(2)),
    );
    let cluster = w.cluster("up", false).await;
    w.control_plane("up-cp", &cluster, |_| {}).await;
    w.wait_state("up-cp", "Ready").await;
    w.cps()
        .patch(
            "up-cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "1.32"}})),
        )
        .await
        .unwrap();
    let cp = w
        .wait_cp("up-cp", "Ready at 1.32", |cp| {
            let st = cp.status.clone().unwrap_or_default();
            st.state.as_deref() == Some("Ready") && st.version.as_deref() == Some("1.32")
        })
        .await;
    let moves = transitions(&cp);
    assert!(
        moves.ends_with(&pairs(&[
            ("Ready", "Provisioning"),
            ("Provisioning", "Configuring"),
            ("Configuring", "Ready")
        ])),
        "{moves:?}"
    );
    let ws = w.workspaces().get("up-cp-eks-controlplane").await.unwrap();
    let vars = ws.data["spec"]["forProvider"]["vars"].as_array().unwrap().clone();
    assert!(
        vars.contains(&json!({"key": "kubernetes_version", "value": "1.32"})),
        "{vars:?}"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_by_cluster_and_by_annotation_stops_writes() {
    let w = World::new("pause").await;
    w.template("eks", &[]).await;
    let cluster = w.cluster("still", true).await;
    w.control_plane("still-cp", &cluster, |_| {}).await;
    let cp = w
        .wait_cp("still-cp", "Paused condition", |cp| {
            condition(cp, "Paused").is_some_and(|c| c.status == "True")
        })
        .await;
    assert!(condition(&cp, "Paused").unwrap().message.contains("spec.paused"));
    // Paused: nothing but that condition is written, and nothing is created.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = w.cps().get("still-cp").await.unwrap();
    assert_eq!(
        later.resource_version(),
        cp.resource_version(),
        "no writes while paused"
    );
    // Pending may have been written before the paused Cluster reached the operator's cache.
    let state = later.status.unwrap().state;
    assert!(matches!(state.as_deref(), None | Some("Pending")), "{state:?}");
    let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.admin.clone(), w.name());
    assert!(applies.list(&Default::default()).await.unwrap().items.is_empty());

    w.clusters()
        .patch(
            "still",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    w.wait_state("still-cp", "Ready").await;

    // The annotation pauses a single control plane.
    w.cps()
        .patch(
            "still-cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: ""}}})),
        )
        .await
        .unwrap();
    let cp = w
        .wait_cp("still-cp", "Paused by annotation", |cp| {
            condition(cp, "Paused").is_some_and(|c| c.status == "True")
        })
        .await;
    assert!(condition(&cp, "Paused").unwrap().message.contains("annotation"));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_waits_for_destroy_and_retain_keeps_the_workspace() {
    let w = World::new("delete").await;
    w.template("eks", &[]).await;
    w.script(
        "bye-cp-eks-controlplane",
        Script::new().destroy_delay(Duration::from_secs(3)),
    );
    let cluster = w.cluster("bye", false).await;
    w.control_plane("bye-cp", &cluster, |_| {}).await;
    w.wait_state("bye-cp", "Ready").await;
    w.cps().delete("bye-cp", &DeleteParams::default()).await.unwrap();
    let deleting = capt_testkit::wait_for(
        "Deleting condition while the Workspace is destroyed",
        TIMEOUT,
        || async {
            let cp = w.cps().get_opt("bye-cp").await?;
            Ok::<_, kube::Error>(
                cp.filter(|cp| condition(cp, "Deleting").is_some_and(|c| c.status == "True")),
            )
        },
    )
    .await
    .unwrap();
    assert!(
        deleting
            .status
            .unwrap()
            .progress
            .unwrap()
            .current_operation
            .starts_with("Deleting")
    );
    assert!(
        w.workspaces()
            .get_opt("bye-cp-eks-controlplane")
            .await
            .unwrap()
            .is_some(),
        "still being destroyed"
    );
    w.wait_gone(&w.cps(), "bye-cp").await;
    assert!(
        w.workspaces()
            .get_opt("bye-cp-eks-controlplane")
            .await
            .unwrap()
            .is_none(),
        "destroyed before the control plane went"
    );

    // retainWorkspaceOnDelete: the Workspace outlives its apply.
    let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.admin.clone(), w.name());
    let apply: WorkspaceTemplateApply = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "WorkspaceTemplateApply",
        "metadata": {"name": "keep-apply"},
        "spec": {"templateRef": {"name": "eks"}, "retainWorkspaceOnDelete": true,
                 "variables": {"cluster_name": "keep", "kubernetes_version": "1.31", "region": "ap-northeast-1"}}
    }))
    .unwrap();
    applies.create(&PostParams::default(), &apply).await.unwrap();
    capt_testkit::wait_for("retained Workspace exists", TIMEOUT, || async {
        w.workspaces().get_opt("keep").await
    })
    .await
    .unwrap();
    applies
        .delete("keep-apply", &DeleteParams::default())
        .await
        .unwrap();
    w.wait_gone(&applies, "keep-apply").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kept = w
        .workspaces()
        .get("keep")
        .await
        .expect("retained Workspace survives its apply");
    assert!(kept.metadata.deletion_timestamp.is_none());
    assert!(
        kept.owner_references().is_empty(),
        "no ownerReference left for garbage collection to follow"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_restart_mid_provisioning_converges_without_duplicates() {
    let mut w = World::new("restart").await;
    w.template("eks", &[]).await;
    w.script(
        "phoenix-cp-eks-controlplane",
        Script::new().create_delay(Duration::from_secs(4)),
    );
    let cluster = w.cluster("phoenix", false).await;
    w.control_plane("phoenix-cp", &cluster, |_| {}).await;
    w.wait_state("phoenix-cp", "Provisioning").await;
    capt_testkit::wait_for("Workspace created", TIMEOUT, || async {
        w.workspaces().get_opt("phoenix-cp-eks-controlplane").await
    })
    .await
    .unwrap();
    w.stop_operator().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    w.start_operator().await;
    w.wait_state("phoenix-cp", "Ready").await;
    let workspaces = w.workspaces().list(&Default::default()).await.unwrap().items;
    assert_eq!(
        workspaces.len(),
        1,
        "{:?}",
        workspaces.iter().map(|w| w.name_any()).collect::<Vec<_>>()
    );
    let applies: Api<WorkspaceTemplateApply> = Api::namespaced(w.admin.clone(), w.name());
    assert_eq!(applies.list(&Default::default()).await.unwrap().items.len(), 1);
    w.finish().await;
}

/// A secret someone made by hand, `value: hand-made`, owned by nobody.
async fn create_hand_made_secret(w: &World, name: &str) {
    let foreign = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("value".to_owned(), "hand-made".to_owned())])),
        ..Default::default()
    };
    w.secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_kubeconfig_secret_is_never_overwritten() {
    let w = World::new("foreign").await;
    w.template("eks", &[]).await;
    create_hand_made_secret(&w, "mine-kubeconfig").await;
    let cluster = w.cluster("mine", false).await;
    w.control_plane("mine-cp", &cluster, |_| {}).await;
    let cp = w
        .wait_cp("mine-cp", "KubeconfigReady=False/SecretNotOwned", |cp| {
            condition(cp, "KubeconfigReady").is_some_and(|c| c.reason == "SecretNotOwned")
        })
        .await;
    assert_eq!(
        cp.status.as_ref().and_then(|s| s.state.as_deref()),
        Some("Configuring")
    );
    assert!(
        condition(&cp, "KubeconfigReady")
            .unwrap()
            .message
            .contains("mine-kubeconfig")
    );
    let secret = w.secrets().get("mine-kubeconfig").await.unwrap();
    assert_eq!(secret.data.unwrap()["value"].0, b"hand-made");
    w.finish().await;
}

/// The Ready pass reads a Cluster API secret only when its cache has it. A cache that lags (the
/// secret was created a moment ago, by someone else or by us) must not make the operator take a
/// secret over: it creates, the server refuses a taken name, and the secret is judged as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_secret_a_lagging_cache_misses_is_created_never_taken_over() {
    use capt_controlplane::controller::{
        Config, Context, Stores,
        effects::{self, DesiredSecret, SecretOutcome},
        run::Runtime,
    };
    use kube::runtime::reflector::store::Writer;

    let w = World::without_operator("lagging").await;
    let cluster = w.cluster("lag", false).await;
    let cp = w.control_plane("lag-cp", &cluster, |_| {}).await;
    create_hand_made_secret(&w, "lag-kubeconfig").await;

    // Every cache empty: the worst lag there is.
    let runtime = Runtime::new(w.operator_client.clone());
    let cluster_resource = support::world::cluster_ar();
    let (_synced_tx, synced) = tokio::sync::watch::channel(true);
    let ctx = Context {
        client: runtime.client,
        reporter: runtime.reporter,
        metrics: runtime.metrics,
        config: Config::default(),
        stores: Stores {
            control_planes: Writer::default().as_reader(),
            templates: Writer::default().as_reader(),
            applies: Writer::default().as_reader(),
            workspaces: Writer::new(support::world::workspace_ar()).as_reader(),
            secrets: Writer::default().as_reader(),
            clusters: Writer::new(cluster_resource.clone()).as_reader(),
            cluster_resource,
        },
        written: Default::default(),
        status_writes: Default::default(),
        probe_streaks: Default::default(),
        synced,
    };
    let desired = || DesiredSecret {
        data: BTreeMap::from([("value".to_owned(), b"ours".to_vec())]),
        ..Default::default()
    };
    let existing = effects::fetch_cached_secret(&cp, &ctx, "lag-kubeconfig")
        .await
        .unwrap();
    assert!(existing.is_none(), "an empty cache means no read");

    let taken = effects::ensure_cluster_secret(&cp, &ctx, "lag-kubeconfig", "lag", None, desired())
        .await
        .unwrap();
    assert_eq!(taken, SecretOutcome::NotOwned);
    let theirs = w.secrets().get("lag-kubeconfig").await.unwrap();
    assert_eq!(theirs.data.unwrap()["value"].0, b"hand-made");
    assert!(theirs.metadata.owner_references.is_none());

    let created = effects::ensure_cluster_secret(&cp, &ctx, "lag-ca", "lag", None, desired())
        .await
        .unwrap();
    assert_eq!(created, SecretOutcome::Ready);
    let ours = w.secrets().get("lag-ca").await.unwrap();
    assert!(effects::controlled_by(&ours, &cp));
    assert_eq!(
        ours.labels().get(CLUSTER_NAME_LABEL).map(String::as_str),
        Some("lag")
    );

    // Our own secret, missed by the cache: refused create, read, holds what it should: no write.
    let again = effects::ensure_cluster_secret(&cp, &ctx, "lag-ca", "lag", None, desired())
        .await
        .unwrap();
    assert_eq!(again, SecretOutcome::Ready);
    let after = w.secrets().get("lag-ca").await.unwrap();
    assert_eq!(after.resource_version(), ours.resource_version());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_placeholder_is_named_in_a_condition() {
    let w = World::new("placeholder").await;
    w.template("eks", &["vpc_id"]).await;
    let cluster = w.cluster("holes", false).await;
    w.control_plane("holes-cp", &cluster, |_| {}).await;
    let cp = w.wait_state("holes-cp", "Failed").await;
    let valid = condition(&cp, "DependenciesValid").unwrap();
    assert_eq!(valid.status, "False");
    assert!(valid.message.contains("${vpc_id}"), "{}", valid.message);
    assert!(cp.status.unwrap().failure_message.unwrap().contains("${vpc_id}"));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_ready_control_planes_cause_no_writes_for_a_minute() {
    let w = World::new("steady").await;
    w.template("eks", &[]).await;
    for i in 0..10 {
        // One Cluster per control plane, as Cluster API has it.
        let cluster = w.cluster(&format!("steady-{i}"), false).await;
        w.control_plane(&format!("steady-{i}-cp"), &cluster, |cp| {
            // Every control plane is health-checked every 2 s by this operator; probes are reads.
            cp.spec.health_checks = Some(serde_json::from_value(json!({"interval": "2s"})).unwrap());
        })
        .await;
    }
    for i in 0..10 {
        w.wait_state(&format!("steady-{i}-cp"), "Ready").await;
    }
    // The transitions' last writes (events, the applies' copies of their Workspaces' readiness)
    // trail the Ready status; the audit window starts once 5 s have passed without one.
    let plane = capt_testkit::shared_plane().await;
    let is_write = |verb: &str| matches!(verb, "create" | "update" | "patch" | "delete");
    capt_testkit::wait_for("the operator quiet for 5 s", TIMEOUT, || async {
        let now = jiff::Timestamp::now();
        let recent = plane.audit_events(&w.user, now - Duration::from_secs(5), now)?;
        Ok::<_, capt_testkit::Error>(recent.iter().all(|e| !is_write(&e.verb)).then_some(()))
    })
    .await
    .unwrap();
    let start = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let end = jiff::Timestamp::now();
    let audit = plane.audit_events(&w.user, start, end).unwrap();
    let writes: Vec<_> = audit.iter().filter(|e| is_write(&e.verb)).collect();
    let reads = audit.len() - writes.len();
    assert!(
        reads > 0,
        "the audit log saw the operator's reads, so it would see writes"
    );
    assert!(writes.is_empty(), "writes at steady state: {writes:#?}");
    w.finish().await;
}

/// A free loopback port (bound, then released for the process under test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A template the Workspace API would refuse (upstream's top-level `module`) says so on itself,
/// with a Warning event, before any control plane uses it; fixed, it is checked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_the_workspace_api_refuses_is_flagged_before_anyone_uses_it() {
    let w = World::new("tplcheck").await;
    let templates: Api<capt_controlplane::api::WorkspaceTemplate> =
        Api::namespaced(w.admin.clone(), w.name());
    let upstream_mistake = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "flat"},
        "spec": {"template": {"spec": {
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
            "forProvider": {"source": "Inline", "module": "locals {}"},
            "module": "locals { name = \"${cluster_name}\" }",
        }}},
    });
    templates
        .create(
            &PostParams::default(),
            &serde_json::from_value(upstream_mistake).unwrap(),
        )
        .await
        .unwrap();
    let valid = |generation: i64, status: &'static str| {
        move |t: &capt_controlplane::api::WorkspaceTemplate| {
            t.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == "Valid" && c.status == status && c.observed_generation == Some(generation)
                })
            })
        }
    };
    let refused = capt_testkit::wait_for_object(&templates, "flat", TIMEOUT, valid(1, "False"))
        .await
        .unwrap();
    let verdict = refused
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Valid")
        .unwrap();
    assert_eq!(verdict.reason, "WorkspaceRejected");
    assert!(verdict.message.contains("module"), "{}", verdict.message);
    // The event follows the status write: wait for it rather than read once.
    w.wait_event("flat", "Warning", "WorkspaceRejected").await;

    // Fixed: the new generation is checked and accepted.
    templates
        .patch(
            "flat",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "remove", "path": "/spec/template/spec/module"}]))
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    capt_testkit::wait_for_object(&templates, "flat", TIMEOUT, valid(2, "True"))
        .await
        .unwrap();
    w.finish().await;
}

/// `--log-format text` into a file (a pipe, a log collector): plain text, no colour codes, which
/// would be noise there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_into_a_file_carry_no_colour_codes() {
    let w = World::without_operator("textlog").await;
    let plane = capt_testkit::shared_plane().await;
    let kubeconfig =
        capt_testkit::kubeconfig::to_yaml(&plane.kubeconfig_for(&w.user, None).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("capt-textlog-{}", w.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig_path = dir.join("kubeconfig");
    std::fs::write(&kubeconfig_path, kubeconfig).unwrap();
    let log_path = dir.join("operator.log");
    let (metrics_port, health_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capt-operator"))
        .args(["--namespace", w.name(), "--log-format", "text"])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
        ])
        .env("KUBECONFIG", &kubeconfig_path)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    capt_testkit::wait_for("/readyz answers 200", TIMEOUT, || async {
        let ok = http::get(health_port, "/readyz")
            .await
            .is_ok_and(|r| r.status == 200);
        Ok::<_, std::io::Error>(ok.then_some(()))
    })
    .await
    .unwrap();
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains(" INFO "), "text lines with levels: {log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escape codes in a file: {log:?}");
    let _ = std::fs::remove_dir_all(&dir);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_binary_logs_transitions_serves_metrics_and_stops_on_sigterm() {
    let w = World::without_operator("binary").await;
    w.template("eks", &[]).await;
    let plane = capt_testkit::shared_plane().await;
    let kubeconfig =
        capt_testkit::kubeconfig::to_yaml(&plane.kubeconfig_for(&w.user, None).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("capt-binary-{}", w.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig_path = dir.join("kubeconfig");
    std::fs::write(&kubeconfig_path, kubeconfig).unwrap();
    let log_path = dir.join("operator.log");
    let (metrics_port, health_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capt-operator"))
        .args([
            "--namespace",
            w.name(),
            "--log-format",
            "json",
            "--health-interval-seconds",
            "5",
        ])
        .args(["--leader-elect", "--leader-election-namespace", w.name()])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
        ])
        .env("KUBECONFIG", &kubeconfig_path)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    capt_testkit::wait_for("/readyz answers 200", TIMEOUT, || async {
        let ok = tokio::net::TcpStream::connect(("127.0.0.1", health_port))
            .await
            .is_ok()
            && http::get(health_port, "/readyz")
                .await
                .is_ok_and(|r| r.status == 200);
        Ok::<_, std::io::Error>(ok.then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(http::get(health_port, "/healthz").await.unwrap().status, 200);

    // It reconciles only as the holder of the Lease.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(w.admin.clone(), w.name());
    let lease = leases.get("capt-controlplane-leader").await.unwrap();
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_some_and(|h| !h.is_empty())
    );

    let cluster = w.cluster("bin", false).await;
    w.control_plane("bin-cp", &cluster, |_| {}).await;
    w.wait_state("bin-cp", "Ready").await;

    let http::Response {
        status,
        body: metrics,
    } = http::get(metrics_port, "/metrics").await.unwrap();
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("capt_controlplanes{state=\"Ready\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("capt_reconciles_total{controller=\"captcontrolplane\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("capt_reconcile_duration_seconds_bucket"),
        "{metrics}"
    );

    // SIGTERM: a graceful stop, exit code 0.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    // One JSON log line per transition, naming the object and both states.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let moves: Vec<(String, String, String)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "state transition")
        .map(|v| {
            (
                v["controlplane"].as_str().unwrap_or_default().to_owned(),
                v["from"].as_str().unwrap_or_default().to_owned(),
                v["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("Pending", "Validating"),
        ("Validating", "Provisioning"),
        ("Provisioning", "Configuring"),
        ("Configuring", "Ready"),
    ]
    .iter()
    .map(|(f, t)| ("bin-cp".to_owned(), (*f).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(moves, expected, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    w.finish().await;
}
