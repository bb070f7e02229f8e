//! provider-terraform killed in the middle of a create, as a node failure kills its pod, with
//! the OpenTofu run it started: what the real provider does afterwards, and that the operator's
//! self-healing fixes what it can, hands the rest to the user with what to do, and destroys
//! nothing.
//!
//! Its own test binary: it kills and restarts the provider, whose metrics port is fixed, so it
//! can share neither a plane nor a process with `tests/provider_terraform.rs`.

use std::time::Duration;

use capt_controlplane::api::{CAPTControlPlane, WorkspaceApi};
use capt_testkit::{ConditionHistory, PlaneOptions, TestControlPlane, provider_terraform::ProviderTerraform};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
};
use serde_json::json;

mod support;
use support::terraform::{SLOW, World, condition, state_secret};

/// crossplane-runtime's Synced message when it refuses to act on a cut-off create.
const CREATE_INCOMPLETE: &str = "cannot determine creation result";

fn ready_message(cp: &CAPTControlPlane) -> String {
    cp.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_killed_mid_create_is_healed_and_a_stale_lock_goes_to_the_user() {
    let plane = TestControlPlane::start(PlaneOptions::default()).await.unwrap();
    let provider = ProviderTerraform::start(&plane).await.unwrap();
    let w = World::new(&plane, "tf-restart", WorkspaceApi::Namespaced).await;
    let started = jiff::Timestamp::now();
    let fast = json!({"maxRetries": 3, "backoff": {"initialDelay": "1s", "maxDelay": "2s"}});
    w.control_plane_with("tfcut", &[("delay", "20")], fast).await;
    let name = "tfcut-cp-eks-controlplane";

    // The create is running: crossplane set the pending annotation and OpenTofu sleeps in the
    // provisioner, holding the state lock.
    let workspaces = w.workspaces();
    capt_testkit::wait_for_object(&workspaces, name, SLOW, |ws: &DynamicObject| {
        ws.annotations()
            .contains_key("crossplane.io/external-create-pending")
    })
    .await
    .unwrap();
    let history = ConditionHistory::record(workspaces.clone(), name, &["Synced"])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let leases: Api<Lease> = Api::namespaced(w.admin.clone(), "default");
    let lock = format!("lock-{}", state_secret(name));
    let held = leases.get(&lock).await.unwrap();
    assert!(
        held.spec.and_then(|s| s.holder_identity).is_some(),
        "the apply holds the state lock"
    );

    provider.kill();
    drop(provider);
    let provider = ProviderTerraform::start(&plane).await.unwrap();

    // The new provider refuses the cut-off create; the operator clears the annotation (the
    // provider's documented fix); the provider creates again and meets the lock the killed run
    // left: the operator says so, and how to release it, and waits for the user.
    let cp = w
        .wait_cp(
            "tfcut-cp",
            "waiting for the user to release the state lock",
            |cp| ready_message(cp).contains("terraform force-unlock"),
        )
        .await;
    let messages = history.messages("Synced");
    assert!(
        messages.iter().any(|m| m.starts_with(CREATE_INCOMPLETE)),
        "the real provider refused the cut-off create: {messages:#?}"
    );
    let status = cp.status.clone().unwrap();
    let attempts: Vec<_> = status
        .recovery
        .as_ref()
        .map(|r| {
            r.history
                .iter()
                .chain(r.current_action.as_ref())
                .map(|a| a.action.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(attempts, ["ClearCreatePending"], "{:#?}", status.recovery);
    let remediating = status.conditions.iter().find(|c| c.type_ == "Remediating");
    assert_eq!(
        remediating.map(|c| c.reason.as_str()),
        Some("WaitingForUser"),
        "{:#?}",
        status.conditions
    );

    // ... and an Event says it where `kubectl get events` shows it.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(w.admin.clone(), w.name());
    let warned = capt_testkit::wait_for("a Warning event about the lock", SLOW, || async {
        let list = events.list(&Default::default()).await?;
        Ok::<_, kube::Error>(
            list.items
                .into_iter()
                .find(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.note.as_deref().is_some_and(|n| n.contains("force-unlock"))
                })
                .map(|e| e.reason.unwrap_or_default()),
        )
    })
    .await
    .unwrap();
    assert!(!warned.is_empty());

    // The user's `terraform force-unlock`: for the kubernetes backend, the Lease loses its holder.
    leases
        .patch(
            &lock,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": null}})),
        )
        .await
        .unwrap();
    w.wait_state("tfcut-cp", "Ready").await;

    // Nothing was destroyed on the way: the operator never deleted a Workspace.
    let deletes: Vec<_> = plane
        .audit_events(
            &format!("capt-operator-{}", w.name()),
            started,
            jiff::Timestamp::now(),
        )
        .unwrap()
        .into_iter()
        .filter(|e| e.verb == "delete" || e.verb == "deletecollection")
        .collect();
    assert!(deletes.is_empty(), "{deletes:#?}");
    let ws = workspaces.get(name).await.unwrap();
    assert!(condition(&ws.data, "Ready").is_some_and(|c| c["status"] == "True"));

    w.cps()
        .delete("tfcut-cp", &DeleteParams::default())
        .await
        .unwrap();
    capt_testkit::wait_for_deletion(&w.cps(), "tfcut-cp", SLOW)
        .await
        .unwrap();
    w.finish().await;
    drop(provider);
    plane.stop();
}
