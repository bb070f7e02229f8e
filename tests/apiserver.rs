//! Integration tests against a real kube-apiserver + etcd (+ kube-controller-manager), started
//! once for this test binary by `capt_testkit`. Without the binaries every test fails with
//! instructions (`tools/k8sbins/build.sh`); it never skips. `hack/test.sh` runs the whole suite.
//!
//! Each test makes its own client and namespace, so they run in parallel on the shared plane.
//! Nothing here asserts on wall-clock time: waits have deadlines only to bound a hang.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use capt_controlplane::api::workspace::CREATE_PENDING_CLEARED_ANNOTATION;
use capt_testkit::crds::{load_crds, load_documents, yaml_files};
use capt_testkit::simulator::provider::{
    ANNOTATION_CREATE_FAILED, ANNOTATION_CREATE_PENDING, ANNOTATION_EXTERNAL_NAME, CONNECTION_SECRET_TYPE,
    FINALIZER, MESSAGE_CREATE_PENDING,
};
use capt_testkit::{
    ConditionHistory, DEFAULT_TIMEOUT, Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig,
    SimulatorHandle, TestControlPlane, TestNamespace, WorkspaceApi, shared_plane, wait_for,
    wait_for_deletion, wait_for_object,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams, ValidationDirective,
};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

/// Deadline for garbage collection: the collector's informers start after the plane is up.
const GC_TIMEOUT: Duration = Duration::from_secs(90);

fn repo(path: &str) -> PathBuf {
    capt_testkit::util::repo_root().join(path)
}

/// The shared plane, an admin client and a fresh namespace for one test.
async fn setup(prefix: &str) -> (&'static TestControlPlane, Client, TestNamespace) {
    let plane = shared_plane().await;
    let client = plane.client().await.expect("admin client");
    let ns = TestNamespace::create(&client, prefix)
        .await
        .expect("test namespace");
    (plane, client, ns)
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

fn control_planes(client: &Client, ns: &str) -> Api<DynamicObject> {
    let ar = resource(
        "controlplane.cluster.x-k8s.io/v1beta1",
        "CAPTControlPlane",
        "captcontrolplanes",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn template_applies(client: &Client, ns: &str) -> Api<DynamicObject> {
    let ar = resource(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "WorkspaceTemplateApply",
        "workspacetemplateapplies",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn object(api_version: &str, kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("valid object")
}

/// Sets the value at a JSON pointer, creating objects along the way; `Value::Null` removes it.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a parent");
    let mut target = doc;
    for part in parent.split('/').skip(1) {
        target = target
            .as_object_mut()
            .expect("object")
            .entry(part)
            .or_insert_with(|| json!({}));
    }
    let map = target.as_object_mut().expect("object");
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), value);
    }
}

fn valid_control_plane_spec() -> Value {
    json!({
        "version": "v1.31.2",
        "workspaceTemplateRef": {"name": "eks-controlplane-template"},
        "controlPlaneConfig": {"region": "ap-northeast-1", "endpointAccess": {"public": true, "private": false}},
        "recoveryStrategy": {
            "maxRetries": 3,
            "backoff": {"initialDelay": "30s", "maxDelay": "10m", "factor": 2.0, "jitter": 0.1},
            "minHealthyPeriod": "10m",
        },
    })
}

fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    object
        .data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn condition_is(object: &DynamicObject, type_: &str, status: &str, reason: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

// (i)
#[tokio::test]
async fn apiserver_reports_the_pinned_kubernetes_version() {
    let plane = shared_plane().await;
    eprintln!(
        "test control plane: {} started in {:?}",
        plane.server_url(),
        plane.startup_time()
    );
    let client = plane.client().await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.36.3");
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "36"));
}

// (ii)
#[tokio::test]
async fn every_crd_is_accepted_structural_and_established() {
    let plane = shared_plane().await;
    let client = plane.client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let ours = load_crds(&repo("manifests/crds")).unwrap();
    assert!(
        ours.len() >= 4,
        "manifests/crds holds our four CRDs, found {}",
        ours.len()
    );
    let fixtures = load_crds(&repo("tests/fixtures/crds")).unwrap();
    for crd in ours.iter().chain(&fixtures) {
        let name = crd["metadata"]["name"].as_str().unwrap();
        assert!(
            plane.installed_crds().iter().any(|n| n == name),
            "{name} was not installed"
        );
        let served = crds.get(name).await.unwrap();
        let conditions = served.status.and_then(|s| s.conditions).unwrap_or_default();
        let status_of = |t: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.as_str())
        };
        assert_eq!(status_of("Established"), Some("True"), "{name}: {conditions:?}");
        assert_eq!(status_of("NamesAccepted"), Some("True"), "{name}: {conditions:?}");
        // The API server marks a non-structural schema with this condition (and stops pruning).
        assert_eq!(status_of("NonStructuralSchema"), None, "{name}: {conditions:?}");
    }
}

// (iii)
#[tokio::test]
async fn crd_validation_rejects_bad_objects_with_clear_messages() {
    let (_, client, ns) = setup("validation").await;
    let cps = control_planes(&client, ns.name());
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };

    type Edit = (&'static str, Value);
    let cases: Vec<(&str, Vec<Edit>, &str)> = vec![
        (
            "version",
            vec![("/version", json!("latest"))],
            "must be a Kubernetes version such as 1.31 or v1.31.2",
        ),
        (
            "version-required",
            vec![("/version", Value::Null)],
            "spec.version: Required value",
        ),
        (
            "region",
            vec![("/controlPlaneConfig/region", json!("tokyo"))],
            "must be an AWS region such as ap-northeast-1 or us-gov-west-1",
        ),
        (
            "endpoint-scheme",
            vec![(
                "/controlPlaneEndpoint",
                json!({"host": "https://demo.eks.amazonaws.com", "port": 443}),
            )],
            "host must not contain a scheme such as https://",
        ),
        (
            "endpoint-port",
            vec![(
                "/controlPlaneEndpoint",
                json!({"host": "demo.eks.amazonaws.com", "port": 65536}),
            )],
            "should be less than or equal to 65535",
        ),
        (
            "max-retries",
            vec![("/recoveryStrategy/maxRetries", json!(-1))],
            "should be greater than or equal to 0",
        ),
        (
            "factor",
            vec![("/recoveryStrategy/backoff/factor", json!(0.5))],
            "factor must be at least 1",
        ),
        (
            "jitter",
            vec![("/recoveryStrategy/backoff/jitter", json!(1.5))],
            "jitter must be between 0 and 1",
        ),
        (
            "duration",
            vec![("/recoveryStrategy/backoff/initialDelay", json!("soon"))],
            "must be a duration such as 30s, 5m or 1h30m",
        ),
        (
            "max-delay",
            vec![
                ("/recoveryStrategy/backoff/initialDelay", json!("1m")),
                ("/recoveryStrategy/backoff/maxDelay", json!("10s")),
            ],
            "maxDelay must not be shorter than initialDelay",
        ),
        (
            "template-ref",
            vec![("/workspaceTemplateRef/name", json!(""))],
            "name must not be empty",
        ),
    ];
    for (name, edits, expected) in cases {
        let mut spec = valid_control_plane_spec();
        for (pointer, value) in edits {
            set(&mut spec, pointer, value);
        }
        let bad = object(
            "controlplane.cluster.x-k8s.io/v1beta1",
            "CAPTControlPlane",
            &format!("bad-{name}"),
            spec,
        );
        match cps.create(&dry_run, &bad).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{name}: {status:?}");
                assert!(
                    status.message.contains(expected),
                    "{name}: expected {expected:?} in {:?}",
                    status.message
                );
            }
            other => panic!("{name}: expected a validation error containing {expected:?}, got {other:?}"),
        }
    }

    let applies = template_applies(&client, ns.name());
    let wta_cases = [
        (
            "wait-workspace",
            json!({"waitForWorkspaces": [{"name": ""}]}),
            "workspace name must not be empty",
        ),
        (
            "wait-secret",
            json!({"waitForSecrets": [{"name": ""}]}),
            "secret name must not be empty",
        ),
        ("template-ref", json!({}), "name must not be empty"),
    ];
    for (name, extra, expected) in wta_cases {
        let mut spec =
            json!({"templateRef": {"name": if name == "template-ref" { "" } else { "vpc-template" }}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let bad = object(
            "infrastructure.cluster.x-k8s.io/v1beta1",
            "WorkspaceTemplateApply",
            &format!("bad-{name}"),
            spec,
        );
        match applies.create(&dry_run, &bad).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{name}: {status:?}");
                assert!(
                    status.message.contains(expected),
                    "{name}: expected {expected:?} in {:?}",
                    status.message
                );
            }
            other => panic!("WTA {name}: expected a validation error containing {expected:?}, got {other:?}"),
        }
    }

    // A ClusterClass template may leave the version to the topology, or carry upstream's
    // placeholder; anything else must still be a version.
    let templates = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        ns.name(),
        &resource(
            "controlplane.cluster.x-k8s.io/v1beta1",
            "CAPTControlPlaneTemplate",
            "captcontrolplanetemplates",
        ),
    );
    let template = |name: &str, version: Option<&str>| {
        let mut spec = valid_control_plane_spec();
        match version {
            Some(v) => set(&mut spec, "/version", json!(v)),
            None => {
                spec.as_object_mut().unwrap().remove("version");
            }
        }
        object(
            "controlplane.cluster.x-k8s.io/v1beta1",
            "CAPTControlPlaneTemplate",
            name,
            json!({"template": {"spec": spec}}),
        )
    };
    for (name, version) in [
        ("no-version", None),
        ("placeholder", Some(capt_controlplane::api::VERSION_PLACEHOLDER)),
        ("a-version", Some("v1.31.2")),
    ] {
        templates
            .create(&dry_run, &template(name, version))
            .await
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    match templates
        .create(&dry_run, &template("bad-version", Some("latest")))
        .await
    {
        Err(kube::Error::Api(status)) => assert!(
            status
                .message
                .contains("builtin.controlPlane.version placeholder"),
            "{:?}",
            status.message
        ),
        other => panic!("a template version of `latest` must be refused, got {other:?}"),
    }

    // The good object, with a region the upstream pattern rejected, is accepted and stored.
    let mut spec = valid_control_plane_spec();
    set(&mut spec, "/controlPlaneConfig/region", json!("us-gov-west-1"));
    let good = object(
        "controlplane.cluster.x-k8s.io/v1beta1",
        "CAPTControlPlane",
        "good",
        spec,
    );
    let created = cps.create(&PostParams::default(), &good).await.unwrap();
    assert_eq!(
        created.data["spec"]["controlPlaneConfig"]["region"],
        "us-gov-west-1"
    );
    ns.delete().await.unwrap();
}

// (iv)
#[tokio::test]
async fn every_sample_applies_cleanly_and_templates_render_valid_workspaces() {
    let (_, client, ns) = setup("samples").await;
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    // Strict: a misspelt or misplaced field is an error, not silently pruned.
    let params = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::apply("capt-samples-test").force()
    };
    let files = yaml_files(&repo("manifests/samples")).unwrap();
    assert!(files.len() >= 6, "expected the sample set, found {files:?}");
    let mut kinds = Vec::new();
    for file in &files {
        for doc in load_documents(file).unwrap() {
            let sample: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
            let what = format!("{} ({})", file.display(), sample.name_any());
            assert!(
                sample.metadata.namespace.is_none(),
                "{what}: samples carry no namespace"
            );
            let types = sample.types.clone().expect("apiVersion and kind");
            let gvk = GroupVersionKind::try_from(&types).unwrap();
            let (ar, caps) = discovery
                .resolve_gvk(&gvk)
                .unwrap_or_else(|| panic!("{what}: {gvk:?} is not served"));
            let api: Api<DynamicObject> = match caps.scope {
                kube::discovery::Scope::Namespaced => Api::namespaced_with(client.clone(), ns.name(), &ar),
                kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &ar),
            };
            api.patch(&sample.name_any(), &params, &Patch::Apply(&doc))
                .await
                .unwrap_or_else(|e| panic!("{what} does not apply: {e}"));
            kinds.push(types.kind.clone());

            // A template's Workspace spec must be what tf.m.upbound.io accepts (strictly), with
            // the placeholders still in: they sit in string values only.
            if types.kind == "WorkspaceTemplate" {
                let spec = doc.pointer("/spec/template/spec").cloned().unwrap();
                let ws = WorkspaceApi::Namespaced.api(client.clone(), Some(ns.name()));
                let workspace = json!({
                    "apiVersion": "tf.m.upbound.io/v1beta1",
                    "kind": "Workspace",
                    "metadata": {"name": sample.name_any()},
                    "spec": spec,
                });
                let dry_run = PatchParams {
                    dry_run: true,
                    ..params.clone()
                };
                ws.patch(&sample.name_any(), &dry_run, &Patch::Apply(&workspace))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{what}: template.spec is not a valid tf.m.upbound.io Workspace: {e}")
                    });
            }
        }
    }
    for kind in [
        "WorkspaceTemplate",
        "Cluster",
        "CAPTControlPlane",
        "WorkspaceTemplateApply",
        "ClusterProviderConfig",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} sample in {kinds:?}");
    }
    ns.delete().await.unwrap();
}

fn namespaced_workspace(name: &str, cluster: &str, version: &str) -> DynamicObject {
    object(
        "tf.m.upbound.io/v1beta1",
        "Workspace",
        name,
        json!({
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "aws-provider-config"},
            "writeConnectionSecretToRef": {"name": format!("{name}-connection")},
            "forProvider": {
                "source": "Inline",
                "module": "output \"cluster_name\" { value = var.cluster_name }",
                "vars": [{"key": "cluster_name", "value": cluster}, {"key": "kubernetes_version", "value": version}],
            },
        }),
    )
}

fn simulator_for(plane: &TestControlPlane, client: &Client, ns: &TestNamespace) -> SimulatorHandle {
    let config = SimulatorConfig::new(SimulatedCluster::from_plane(plane))
        .with_apis([WorkspaceApi::Namespaced])
        .in_namespace(ns.name());
    Simulator::spawn(client.clone(), config)
}

// (v)
#[tokio::test]
async fn simulator_drives_a_namespaced_workspace_from_create_to_destroy() {
    let (plane, client, ns) = setup("sim-lifecycle").await;
    let sim = simulator_for(plane, &client, &ns);
    let key = ScriptKey::namespaced(ns.name(), "demo-eks");
    sim.script(
        key.clone(),
        Script::new().create_delay(Duration::from_millis(300)),
    );
    let workspaces = WorkspaceApi::Namespaced.api(client.clone(), Some(ns.name()));
    let history = ConditionHistory::record(workspaces.clone(), "demo-eks", &["Ready"])
        .await
        .unwrap();

    // Create: Creating, then Ready and Synced for this generation, with outputs.
    workspaces
        .create(
            &PostParams::default(),
            &namespaced_workspace("demo-eks", "demo", "1.31"),
        )
        .await
        .unwrap();
    let ready = wait_for_object(&workspaces, "demo-eks", DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Ready", "True", "Available")
            && condition_is(ws, "Synced", "True", "ReconcileSuccess")
    })
    .await
    .unwrap();
    let generation = ready.metadata.generation.unwrap();
    assert_eq!(ready.data["status"]["observedGeneration"], generation);
    assert_eq!(
        condition(&ready, "Synced").unwrap()["observedGeneration"],
        generation
    );
    assert!(ready.finalizers().iter().any(|f| f == FINALIZER));
    assert_eq!(
        ready
            .annotations()
            .get(ANNOTATION_EXTERNAL_NAME)
            .map(String::as_str),
        Some("demo-eks")
    );
    let outputs = &ready.data["status"]["atProvider"]["outputs"];
    assert_eq!(outputs["cluster_endpoint"], plane.server_url());
    // k8s-openapi's ByteString deserialises base64.
    let ca: k8s_openapi::ByteString =
        serde_json::from_value(outputs["cluster_certificate_authority_data"].clone()).unwrap();
    assert_eq!(String::from_utf8(ca.0).unwrap(), plane.ca_pem());
    assert_eq!(outputs["cluster_name"], "demo");
    assert_eq!(outputs["cluster_version"], "1.31");
    assert!(
        outputs.get("kubeconfig").is_none(),
        "sensitive outputs stay out of status"
    );
    // Before the simulator's first status write the Workspace has no Ready condition ("-"). The
    // history is fed by a watch, which may trail the GET above by a moment.
    let ready_path = || -> Vec<String> {
        (history.reasons("Ready").into_iter())
            .filter(|r| r != "-")
            .collect()
    };
    let seen = wait_for("the watch to see Available", DEFAULT_TIMEOUT, || async {
        let path = ready_path();
        Ok::<_, std::convert::Infallible>(
            (path.last().map(String::as_str) == Some("Available")).then_some(()),
        )
    })
    .await;
    assert!(seen.is_ok(), "{:?}", ready_path());
    assert_eq!(ready_path(), ["Creating", "Available"]);

    // The connection secret: Crossplane's type, controlled by the Workspace, every output the
    // real EKS module gives (no kubeconfig), and an endpoint and CA that reach the "EKS" API
    // server for real.
    let secrets: Api<Secret> = ns.api();
    let secret = secrets.get("demo-eks-connection").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some(CONNECTION_SECRET_TYPE));
    let owner = secret
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .unwrap();
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Workspace", ready.uid().unwrap().as_str())
    );
    let data = secret.data.unwrap();
    for key in [
        "cluster_endpoint",
        "cluster_certificate_authority_data",
        "cluster_name",
    ] {
        assert!(data.contains_key(key), "connection secret lacks {key}");
    }
    assert!(
        !data.contains_key("kubeconfig"),
        "the EKS module outputs no kubeconfig, so neither does the simulator"
    );
    let anonymous: kube::config::Kubeconfig = serde_json::from_value(json!({
        "clusters": [{"name": "eks", "cluster": {
            "server": std::str::from_utf8(&data["cluster_endpoint"].0).unwrap(),
            "certificate-authority-data": std::str::from_utf8(&data["cluster_certificate_authority_data"].0).unwrap(),
        }}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "anonymous"}}],
        "current-context": "eks",
    }))
    .unwrap();
    let eks = capt_testkit::kubeconfig::client(anonymous).await.unwrap();
    assert_eq!(eks.apiserver_version().await.unwrap().git_version, "v1.36.3");

    // A failed re-apply: Synced False with provider-terraform's message, Ready stays True.
    sim.script(
        key.clone(),
        Script::new().reapply_error("updating EKS Cluster (demo) version: InvalidParameterException"),
    );
    let upgrade = json!({"spec": {"forProvider": {"vars": [
        {"key": "cluster_name", "value": "demo"}, {"key": "kubernetes_version", "value": "1.32"}]}}});
    workspaces
        .patch("demo-eks", &PatchParams::default(), &Patch::Merge(&upgrade))
        .await
        .unwrap();
    let failed = wait_for_object(&workspaces, "demo-eks", DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Synced", "False", "ReconcileError")
    })
    .await
    .unwrap();
    let synced = condition(&failed, "Synced").unwrap();
    let message = synced["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "update failed: cannot apply Terraform configuration: Terraform encountered an error. Summary: \
             updating EKS Cluster (demo) version: InvalidParameterException. To see the full error run: echo \""
        ),
        "{message}"
    );
    assert_eq!(synced["observedGeneration"], failed.metadata.generation.unwrap());
    assert!(
        condition_is(&failed, "Ready", "True", "Available"),
        "Ready stays True after a failed re-apply"
    );
    assert_eq!(
        failed.data["status"]["atProvider"]["outputs"]["cluster_version"],
        "1.31"
    );

    // The error clears: the re-apply succeeds and the outputs follow the spec.
    sim.clear_script(&key);
    wait_for_object(&workspaces, "demo-eks", DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Synced", "True", "ReconcileSuccess")
            && ws.data["status"]["atProvider"]["outputs"]["cluster_version"] == "1.32"
    })
    .await
    .unwrap();

    // Destroy: Deleting for the scripted time, then the finalizer goes and so does the object.
    sim.script(
        key.clone(),
        Script::new().destroy_delay(Duration::from_millis(500)),
    );
    workspaces
        .delete("demo-eks", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&workspaces, "demo-eks", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    let path = history.reasons("Ready");
    assert_eq!(path.last().map(String::as_str), Some("Deleting"), "{path:?}");
    assert!(path.iter().any(|r| r == "Available"), "{path:?}");
    if plane.has_controller_manager() {
        wait_for_deletion(&secrets, "demo-eks-connection", GC_TIMEOUT)
            .await
            .unwrap();
    }
    sim.shutdown().await;
    ns.delete().await.unwrap();
}

// (v), failure scripts
#[tokio::test]
async fn simulator_reports_create_errors_and_recovers_when_they_clear() {
    let (plane, client, ns) = setup("sim-create-error").await;
    let sim = simulator_for(plane, &client, &ns);
    let key = ScriptKey::namespaced(ns.name(), "broken");
    sim.script(
        key.clone(),
        Script::new().apply_error("creating EKS Cluster (demo): AccessDeniedException"),
    );
    let workspaces = WorkspaceApi::Namespaced.api(client.clone(), Some(ns.name()));
    let history = ConditionHistory::record(workspaces.clone(), "broken", &["Synced"])
        .await
        .unwrap();
    workspaces
        .create(
            &PostParams::default(),
            &namespaced_workspace("broken", "demo", "1.31"),
        )
        .await
        .unwrap();

    // The create fails; its retries are updates, as with the real provider once a failed apply
    // left resources in the Terraform state. Ready stays Creating and no outputs appear.
    let failed = wait_for_object(&workspaces, "broken", DEFAULT_TIMEOUT, |ws| {
        condition(ws, "Synced").is_some_and(|c| {
            c["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("update failed"))
        })
    })
    .await
    .unwrap();
    assert!(failed.annotations().contains_key(ANNOTATION_CREATE_FAILED));
    let messages: Vec<String> = history
        .messages("Synced")
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    let summary = "cannot apply Terraform configuration: Terraform encountered an error. Summary: \
                   creating EKS Cluster (demo): AccessDeniedException. To see the full error run: echo \"";
    assert!(messages.len() >= 2, "{messages:#?}");
    for (message, verb) in messages.iter().zip(["create failed", "update failed"]) {
        assert!(message.starts_with(&format!("{verb}: {summary}")), "{message}");
        assert!(message.ends_with("\" | base64 -d | gunzip"), "{message}");
    }
    assert!(condition_is(&failed, "Ready", "False", "Creating"));
    assert!(failed.data.pointer("/status/atProvider/outputs").is_none());

    sim.clear_script(&key);
    wait_for_object(&workspaces, "broken", DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Ready", "True", "Available")
            && condition_is(ws, "Synced", "True", "ReconcileSuccess")
    })
    .await
    .unwrap();
    // Deleted while the simulator still runs, or its finalizer would keep the namespace.
    workspaces
        .delete("broken", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&workspaces, "broken", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    sim.shutdown().await;
    ns.delete().await.unwrap();
}

// (v), the stuck create-pending annotation
#[tokio::test]
async fn simulator_gets_stuck_create_pending_until_the_annotation_is_removed() {
    let (plane, client, ns) = setup("sim-pending").await;
    let sim = simulator_for(plane, &client, &ns);
    sim.script(
        ScriptKey::namespaced(ns.name(), "stuck"),
        Script::new().stuck_create_pending(),
    );
    let workspaces = WorkspaceApi::Namespaced.api(client.clone(), Some(ns.name()));
    workspaces
        .create(
            &PostParams::default(),
            &namespaced_workspace("stuck", "demo", "1.31"),
        )
        .await
        .unwrap();

    let stuck = wait_for_object(&workspaces, "stuck", DEFAULT_TIMEOUT, |ws| {
        condition(ws, "Synced").is_some_and(|c| c["message"] == MESSAGE_CREATE_PENDING)
    })
    .await
    .unwrap();
    assert!(condition_is(&stuck, "Synced", "False", "ReconcileError"));
    assert!(stuck.annotations().contains_key(ANNOTATION_CREATE_PENDING));

    // Removing the annotation alone: crossplane ignores edits of its create annotations, so the
    // provider does not look again (until its hourly resync).
    let clear = json!({"metadata": {"annotations": {ANNOTATION_CREATE_PENDING: null}}});
    workspaces
        .patch("stuck", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ignored = workspaces.get("stuck").await.unwrap();
    assert!(condition(&ignored, "Synced").is_some_and(|c| c["message"] == MESSAGE_CREATE_PENDING));

    // What the ClearCreatePending recovery action adds: a change the provider watches.
    let nudge =
        json!({"metadata": {"annotations": {CREATE_PENDING_CLEARED_ANNOTATION: "2026-01-01T00:00:00Z"}}});
    workspaces
        .patch("stuck", &PatchParams::default(), &Patch::Merge(&nudge))
        .await
        .unwrap();
    wait_for_object(&workspaces, "stuck", DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Ready", "True", "Available")
            && condition_is(ws, "Synced", "True", "ReconcileSuccess")
    })
    .await
    .unwrap();
    workspaces
        .delete("stuck", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&workspaces, "stuck", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    sim.shutdown().await;
    ns.delete().await.unwrap();
}

// (v), the legacy cluster-scoped API
#[tokio::test]
async fn simulator_creates_and_destroys_a_cluster_scoped_workspace() {
    let (plane, client, ns) = setup("sim-cluster").await;
    // Cluster-scoped names are global: unique per run, and the simulator only sees this one.
    let name = format!("{}-eks", ns.name());
    let label = format!("capt-testkit/sim={}", ns.name());
    let config = SimulatorConfig::new(SimulatedCluster::from_plane(plane))
        .with_apis([WorkspaceApi::ClusterScoped])
        .with_label_selector(label.clone());
    let sim = Simulator::spawn(client.clone(), config);
    let workspaces = WorkspaceApi::ClusterScoped.api(client.clone(), None);
    let mut workspace = object(
        "tf.upbound.io/v1beta1",
        "Workspace",
        &name,
        json!({
            "providerConfigRef": {"name": "aws-provider-config"},
            "writeConnectionSecretToRef": {"name": "legacy-connection", "namespace": ns.name()},
            "forProvider": {"source": "Inline", "module": "# nothing"},
        }),
    );
    workspace.metadata.labels = Some(BTreeMap::from([(
        "capt-testkit/sim".to_owned(),
        ns.name().to_owned(),
    )]));
    workspaces
        .create(&PostParams::default(), &workspace)
        .await
        .unwrap();

    let ready = wait_for_object(&workspaces, &name, DEFAULT_TIMEOUT, |ws| {
        condition_is(ws, "Ready", "True", "Available")
            && condition_is(ws, "Synced", "True", "ReconcileSuccess")
    })
    .await
    .unwrap();
    assert_eq!(
        ready.data["status"]["atProvider"]["outputs"]["cluster_name"],
        name.as_str()
    );
    let secrets: Api<Secret> = ns.api();
    let secret = secrets.get("legacy-connection").await.unwrap();
    let owner = &secret.owner_references()[0];
    assert_eq!(
        owner.api_version, "tf.upbound.io/v1beta1",
        "a namespaced Secret owned by a cluster-scoped Workspace"
    );
    assert_eq!(owner.uid, ready.uid().unwrap());

    workspaces.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_for_deletion(&workspaces, &name, DEFAULT_TIMEOUT)
        .await
        .unwrap();
    if plane.has_controller_manager() {
        wait_for_deletion(&secrets, "legacy-connection", GC_TIMEOUT)
            .await
            .unwrap();
    }
    sim.shutdown().await;
    ns.delete().await.unwrap();
}

// (vi)
#[tokio::test]
async fn garbage_collector_and_namespace_controller_run() {
    let (plane, client, ns) = setup("gc").await;
    plane.require_controller_manager().unwrap();
    let config_maps: Api<ConfigMap> = ns.api();
    let owner = config_maps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.uid().unwrap(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    config_maps
        .create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    config_maps
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    if let Err(e) = wait_for_deletion(&config_maps, "dependent", GC_TIMEOUT).await {
        panic!(
            "{e}\nkube-controller-manager log:\n{}",
            plane.log_tail("kube-controller-manager", 30).unwrap_or_default()
        );
    }

    // The namespace controller empties and removes a deleted namespace.
    let name = ns.name().to_owned();
    ns.delete().await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    wait_for_deletion(&namespaces, &name, GC_TIMEOUT).await.unwrap();
}

// The harness's other identities: a user with no RBAC is refused until a binding grants access,
// as the operator's own RBAC will be tested.
#[tokio::test]
async fn users_other_than_admin_are_subject_to_rbac() {
    let (plane, _, ns) = setup("rbac").await;
    let user = format!("{}-user", ns.name());
    let restricted = plane.client_for(&user, None).await.unwrap();
    let as_user: Api<ConfigMap> = Api::namespaced(restricted, ns.name());
    match as_user.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
    // A Role of our own: the built-in `view` ClusterRole is aggregated by a controller this plane
    // does not run, so its rules are empty here.
    let role = Role {
        metadata: ObjectMeta {
            name: Some("read-config-maps".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..PolicyRule::default()
        }]),
    };
    ns.api::<Role>()
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("read-config-maps".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "read-config-maps".into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: user.clone(),
            ..Subject::default()
        }]),
    };
    ns.api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    wait_for("the role binding to take effect", DEFAULT_TIMEOUT, || async {
        as_user.list(&ListParams::default()).await.map(Some)
    })
    .await
    .unwrap();
    ns.delete().await.unwrap();
}
