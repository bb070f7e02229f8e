//! What the operator's integration tests share: an in-process operator and the EKS
//! WorkspaceTemplate they provision from. (`tests/support/` is a module, not a test target.)

#![allow(dead_code)] // each test binary uses part of it

pub mod terraform;
pub mod world;

use std::time::Duration;

use capt_controlplane::{
    api::{CredentialsSecretReference, WorkspaceApi, WorkspaceTemplate},
    controller::{self, Config, run::Runtime},
};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, api::PostParams};
use serde_json::json;

/// How long a test waits for anything the operator does.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A running operator instance, through the library's own embedding API.
pub struct Operator(controller::Running);

impl Operator {
    /// Starts an operator watching `namespace` (health checks every 2 s) and waits until its
    /// caches have synced.
    pub async fn start(client: Client, namespace: &str) -> Operator {
        Self::start_for(client, namespace, WorkspaceApi::default()).await
    }

    /// [`start`](Self::start), with Workspaces of `api`.
    pub async fn start_for(client: Client, namespace: &str, api: WorkspaceApi) -> Operator {
        Self::start_with(
            client,
            Config {
                namespace: Some(namespace.to_owned()),
                health_interval: Duration::from_secs(2),
                workspace_api: api,
                ..Config::default()
            },
        )
        .await
    }

    /// Starts an operator with `config` and waits until its caches have synced.
    pub async fn start_with(client: Client, config: Config) -> Operator {
        let mut running = controller::spawn(Runtime::new(client), config);
        let synced = tokio::time::timeout(TIMEOUT, running.ready())
            .await
            .expect("operator caches sync in time");
        assert!(synced, "the operator stopped before its caches synced");
        Operator(running)
    }

    /// Stops it gracefully.
    pub async fn stop(self) {
        tokio::time::timeout(TIMEOUT, self.0.stop())
            .await
            .expect("operator stops in time")
            .unwrap();
    }
}

/// A fresh namespace on `plane`, and a client for the user the operator runs as there: bound
/// only to the operator's ClusterRole (`manifests/rbac/role.yaml`). Returns (admin, namespace,
/// operator client).
pub async fn namespace_with_operator_user(
    plane: &capt_testkit::TestControlPlane,
    prefix: &str,
) -> (Client, capt_testkit::TestNamespace, Client) {
    let admin = plane.client().await.unwrap();
    let ns = capt_testkit::TestNamespace::create(&admin, prefix).await.unwrap();
    let user = format!("capt-operator-{}", ns.name());
    let role = capt_testkit::rbac::operator_role().unwrap();
    capt_testkit::rbac::bind_cluster_role(&admin, &role, &user)
        .await
        .unwrap();
    let operator_client = plane.client_for(&user, None).await.unwrap();
    (admin, ns, operator_client)
}

/// The Secret every test namespace gets with the test AWS identity's credentials
/// ([`capt_testkit::eks`]), which the operator signs EKS tokens with.
pub const TOKEN_CREDENTIALS: &str = "aws-credentials";

/// Creates [`TOKEN_CREDENTIALS`] in `namespace`: the test identity as an AWS credentials file, as
/// a provider-terraform ProviderConfig secret holds it.
pub async fn create_token_credentials(admin: &Client, namespace: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TOKEN_CREDENTIALS},
        "stringData": {"credentials": capt_testkit::eks::credentials_file()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// `spec.tokenCredentialsRef` naming [`TOKEN_CREDENTIALS`].
pub fn token_credentials_ref() -> CredentialsSecretReference {
    CredentialsSecretReference {
        name: TOKEN_CREDENTIALS.into(),
        key: None,
    }
}

/// Makes the test API server accept EKS tokens signed for cluster `name`.
pub async fn accept_eks_cluster(name: &str) {
    capt_testkit::shared_plane()
        .await
        .eks()
        .expect("the test plane runs the EKS authenticator")
        .accept_cluster(name);
}

/// Creates WorkspaceTemplate `name` in `namespace`: an inline EKS module using `cluster_name`,
/// `kubernetes_version`, `region` and each of `extra_vars` as placeholders, with a `$${...}`
/// Terraform escape that rendering must leave alone.
pub async fn create_template(admin: &Client, namespace: &str, name: &str, extra_vars: &[&str]) {
    let mut vars = vec![
        json!({"key": "cluster_name", "value": "${cluster_name}"}),
        json!({"key": "kubernetes_version", "value": "${kubernetes_version}"}),
        json!({"key": "region", "value": "${region}"}),
    ];
    for v in extra_vars {
        vars.push(json!({"key": v, "value": format!("${{{v}}}")}));
    }
    let template: WorkspaceTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": name},
        "spec": {"template": {
            "metadata": {"description": "EKS control plane (test)"},
            "spec": {
                "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-connection"},
                "forProvider": {
                    "source": "Inline",
                    "module": "resource \"aws_eks_cluster\" \"this\" { name = var.cluster_name }\n# name = \"$${var.cluster_name}\"",
                    "vars": vars,
                }
            }
        }}
    }))
    .unwrap();
    Api::<WorkspaceTemplate>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
}
