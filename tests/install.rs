//! The install path a cluster operator takes: `kubectl apply -k manifests/ --server-side`, run
//! with the real kubectl against the real API server, and the kustomization's output checked for
//! what clusterctl relies on (the provider label on every object).
//!
//! kubectl is required: without it these tests fail with a message, never skip.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";
const PROVIDER: &str = "control-plane-capt";
const INSTALL_NAMESPACE: &str = "capt-system";
const MANAGER: &str = "capt-controlplane-manager";
/// Cluster-scoped RBAC carries the namespace prefix `clusterctl delete` looks for.
const MANAGER_RBAC: &str = "capt-system-controlplane-manager";

fn repo() -> PathBuf {
    capt_testkit::util::repo_root()
}

/// kubectl from PATH, or a failure that says how to get it.
fn kubectl() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "kubectl is not on PATH: these tests run the real `kubectl apply -k` (install kubectl \
             1.27 or newer, which embeds kustomize v5)"
        )
    })
}

/// Runs kubectl and returns its stdout, failing the test with stderr when it fails.
fn run_kubectl(args: &[&str]) -> String {
    let output = Command::new(kubectl())
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    assert!(
        output.status.success(),
        "kubectl {} failed with {}:\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
}

/// The objects `kubectl kustomize manifests/` renders.
fn kustomized() -> Vec<serde_json::Value> {
    let text = run_kubectl(&["kustomize", "manifests/"]);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("kustomize output is YAML");
    docs.into_iter().filter(|d| d.is_object()).collect()
}

/// The names of the CRDs in `manifests/crds/` (what crd-gen wrote).
fn generated_crd_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("manifests/crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
            for doc in docs.iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
                names.insert(doc["metadata"]["name"].as_str().unwrap().to_owned());
            }
        }
    }
    names
}

#[test]
fn kustomization_labels_every_object_and_includes_every_crd() {
    let objects = kustomized();
    for object in &objects {
        assert_eq!(
            object["metadata"]["labels"][PROVIDER_LABEL], PROVIDER,
            "{} {} lacks the label clusterctl selects a provider's objects by",
            object["kind"], object["metadata"]["name"]
        );
    }
    // kustomize has no globs: a CRD added to crd-gen must also be listed in the kustomization.
    let crds: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        crds,
        generated_crd_names(),
        "manifests/kustomization.yaml vs manifests/crds/"
    );
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    // The label must not leak into selectors: changing a Deployment's selector is rejected on
    // upgrade, and the Service must keep selecting the pods it selected before.
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app.kubernetes.io/name": "capt-controlplane"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_k_installs_the_operator() {
    let plane = capt_testkit::shared_plane().await;
    let dir = std::env::temp_dir().join(format!("capt-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, plane.kubeconfig_yaml()).unwrap();
    let kubeconfig_arg = kubeconfig.to_str().unwrap();

    // Server-side: the CRDs are larger than client-side apply's last-applied annotation allows.
    // The plane already has the CRDs (the harness installs them); applying the same content
    // under another field manager must not conflict.
    let out = run_kubectl(&[
        "apply",
        "-k",
        "manifests/",
        "--server-side",
        "--kubeconfig",
        kubeconfig_arg,
    ]);
    assert!(
        out.contains("deployment.apps/capt-controlplane-manager serverside-applied"),
        "{out}"
    );

    // Everything is there. The Deployment's pod never runs: this plane has no kubelet and no
    // scheduler, so only the objects are checked, not a rollout.
    let client = plane.client().await.unwrap();
    Api::<Namespace>::all(client.clone())
        .get(INSTALL_NAMESPACE)
        .await
        .unwrap();
    let deployment = Api::<Deployment>::namespaced(client.clone(), INSTALL_NAMESPACE)
        .get(MANAGER)
        .await
        .unwrap();
    assert_eq!(
        deployment
            .metadata
            .labels
            .unwrap_or_default()
            .get(PROVIDER_LABEL)
            .map(String::as_str),
        Some(PROVIDER)
    );
    Api::<ServiceAccount>::namespaced(client.clone(), INSTALL_NAMESPACE)
        .get(MANAGER)
        .await
        .unwrap();
    Api::<Service>::namespaced(client.clone(), INSTALL_NAMESPACE)
        .get("capt-controlplane-metrics")
        .await
        .unwrap();
    Api::<ClusterRole>::all(client.clone())
        .get(MANAGER_RBAC)
        .await
        .unwrap();
    let binding = Api::<ClusterRoleBinding>::all(client.clone())
        .get(MANAGER_RBAC)
        .await
        .unwrap();
    let subject = &binding.subjects.unwrap_or_default()[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.name.as_str(),
            subject.namespace.as_deref()
        ),
        ("ServiceAccount", MANAGER, Some(INSTALL_NAMESPACE))
    );
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for name in [
        "captcontrolplanes.controlplane.cluster.x-k8s.io",
        "captcontrolplanetemplates.controlplane.cluster.x-k8s.io",
        "workspacetemplates.infrastructure.cluster.x-k8s.io",
        "workspacetemplateapplies.infrastructure.cluster.x-k8s.io",
    ] {
        let crd = crds.get(name).await.unwrap();
        assert_eq!(
            crd.metadata
                .labels
                .unwrap_or_default()
                .get(PROVIDER_LABEL)
                .map(String::as_str),
            Some(PROVIDER),
            "{name}"
        );
    }

    // Applying again changes nothing and still succeeds (what an upgrade with no changes does).
    run_kubectl(&[
        "apply",
        "-k",
        "manifests/",
        "--server-side",
        "--kubeconfig",
        kubeconfig_arg,
    ]);
    let _ = std::fs::remove_dir_all(&dir);
}
