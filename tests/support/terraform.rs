//! The operator next to the real provider-terraform (`tools/tfbins`): the EKS-like module, and a
//! namespace with an operator and a WorkspaceTemplate rendering it.
//!
//! The module is what the real EKS module gives, without a cloud: outputs `cluster_endpoint`
//! (the test API server, so probes and Cluster API reach it), `cluster_certificate_authority_data`
//! and `cluster_name`, no `kubeconfig`; its one resource is OpenTofu's built-in `terraform_data`,
//! whose `local-exec` provisioner fails (`exit 1`) when the control plane's tag `fail` is `true`
//! and otherwise sleeps for its tag `delay` (seconds). Nothing is downloaded. Terraform state
//! lives in the test API server (the `kubernetes` backend).

use std::{collections::BTreeMap, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, ControlPlaneConfig, RecoveryStrategy, WorkspaceApi,
    WorkspaceTemplateReference,
};
use capt_testkit::{TestControlPlane, TestNamespace, provider_terraform};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

use super::Operator;

/// Real Terraform is slower than the simulator: init, plan and apply per change, a 10 s poll.
pub const SLOW: Duration = Duration::from_secs(150);

/// The EKS-like inline module, with the test API server as the endpoint.
pub fn eks_module(server: &str, ca_pem: &str) -> String {
    format!(
        r#"variable "cluster_name" {{
  type = string
}}
variable "kubernetes_version" {{
  type = string
}}
variable "fail" {{
  type    = string
  default = "false"
}}
variable "delay" {{
  type    = string
  default = "0"
}}
resource "terraform_data" "cluster" {{
  input            = {{ name = var.cluster_name, version = var.kubernetes_version }}
  triggers_replace = [var.kubernetes_version]
  provisioner "local-exec" {{
    command = var.fail == "true" ? "echo scripted failure >&2; exit 1" : format("sleep %s", var.delay)
  }}
}}
output "cluster_endpoint" {{
  value = "{server}"
}}
output "cluster_certificate_authority_data" {{
  value = "{ca}"
}}
output "cluster_name" {{
  value = terraform_data.cluster.output.name
}}
output "cluster_version" {{
  value = terraform_data.cluster.output.version
}}
"#,
        ca = STANDARD.encode(ca_pem)
    )
}

/// Outputs of the template's module that hold the tag `note` as the module text carries it.
const NOTE_OUTPUTS: &str = r#"
output "note_quoted" {
  value = "${tags_note}"
}
output "note_heredoc" {
  value = <<EOT
${tags_note}
EOT
}
output "note_indented" {
  value = <<-EOT
    ${tags_note}
    EOT
}
"#;

/// The Workspace spec both halves of the fidelity test use, and templates render into.
pub fn workspace_spec(plane: &TestControlPlane, api: WorkspaceApi, vars: Value) -> Value {
    let provider_config = match api {
        WorkspaceApi::Namespaced => json!({"kind": "ClusterProviderConfig", "name": "default"}),
        WorkspaceApi::ClusterScoped => json!({"name": "default"}),
    };
    json!({
        "providerConfigRef": provider_config,
        "forProvider": {
            "source": "Inline",
            "module": eks_module(plane.server_url(), plane.ca_pem()),
            "vars": vars,
        },
    })
}

/// A namespace with an operator (its own RBAC-bound user), token credentials and the `eks`
/// WorkspaceTemplate rendering [`eks_module`]: `fail` and `delay` come from the control plane's
/// tags.
pub struct World<'p> {
    pub plane: &'p TestControlPlane,
    pub admin: Client,
    pub ns: TestNamespace,
    pub api: WorkspaceApi,
    operator: Option<Operator>,
}

impl<'p> World<'p> {
    pub async fn new(plane: &'p TestControlPlane, prefix: &str, api: WorkspaceApi) -> World<'p> {
        let (admin, ns, operator_client) = super::namespace_with_operator_user(plane, prefix).await;
        let operator = Operator::start_for(operator_client, ns.name(), api).await;
        super::create_token_credentials(&admin, ns.name()).await;
        let mut spec = workspace_spec(
            plane,
            api,
            json!([
                {"key": "cluster_name", "value": "${cluster_name}"},
                {"key": "kubernetes_version", "value": "${kubernetes_version}"},
                {"key": "fail", "value": "${tags_fail}"},
                {"key": "delay", "value": "${tags_delay}"},
            ]),
        );
        // The tag `note` lands in the module's own text, in a quoted string and in heredocs: what
        // OpenTofu reads back is what rendering made of it.
        let module = spec["forProvider"]["module"].as_str().unwrap().to_owned();
        spec["forProvider"]["module"] = Value::String(module + NOTE_OUTPUTS);
        let template = json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "WorkspaceTemplate",
            "metadata": {"name": "eks"},
            "spec": {"template": {"spec": spec}},
        });
        Api::<capt_controlplane::api::WorkspaceTemplate>::namespaced(admin.clone(), ns.name())
            .create(&PostParams::default(), &serde_json::from_value(template).unwrap())
            .await
            .unwrap();
        World {
            plane,
            admin,
            ns,
            api,
            operator: Some(operator),
        }
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    pub fn cps(&self) -> Api<CAPTControlPlane> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    pub fn workspaces(&self) -> Api<DynamicObject> {
        let resource = self.api.api_resource();
        match self.api {
            WorkspaceApi::Namespaced => Api::namespaced_with(self.admin.clone(), self.name(), &resource),
            WorkspaceApi::ClusterScoped => Api::all_with(self.admin.clone(), &resource),
        }
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.admin.clone(), self.name())
    }

    /// A Cluster and its control plane (owned by it), the `fail` tag as given; recovery waits an
    /// hour, so what the provider does is seen without a recovery action in the way.
    pub async fn control_plane(&self, name: &str, fail: bool) {
        let strategy = json!({"backoff": {"initialDelay": "1h", "maxDelay": "1h"}});
        let fail = fail.to_string();
        self.control_plane_with(name, &[("fail", &fail)], strategy).await;
    }

    /// [`control_plane`](Self::control_plane) with `tags` over the defaults (`fail` false,
    /// `delay` 0 seconds, `note` plain) and `recovery_strategy`.
    pub async fn control_plane_with(&self, name: &str, tags: &[(&str, &str)], recovery_strategy: Value) {
        let clusters = Api::<DynamicObject>::namespaced_with(
            self.admin.clone(),
            self.name(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Cluster"),
                "clusters",
            ),
        );
        let cluster = clusters
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "cluster.x-k8s.io/v1beta2",
                    "kind": "Cluster",
                    "metadata": {"name": name},
                    "spec": {"controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": format!("{name}-cp")}},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        self.plane
            .eks()
            .expect("the plane runs the EKS authenticator")
            .accept_cluster(name);
        let mut cp = CAPTControlPlane::new(
            &format!("{name}-cp"),
            CAPTControlPlaneSpec {
                version: "1.31".into(),
                workspace_template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                control_plane_config: Some(ControlPlaneConfig {
                    region: "eu-west-1".into(),
                    ..Default::default()
                }),
                additional_tags: [("fail", "false"), ("delay", "0"), ("note", "plain")]
                    .iter()
                    .chain(tags)
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                recovery_strategy: Some(
                    serde_json::from_value::<RecoveryStrategy>(recovery_strategy).unwrap(),
                ),
                token_credentials_ref: Some(super::token_credentials_ref()),
                ..Default::default()
            },
        );
        cp.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "cluster.x-k8s.io/v1beta2".into(),
                kind: "Cluster".into(),
                name: name.into(),
                uid: cluster.uid().unwrap(),
                ..Default::default()
            },
        ]);
        self.cps().create(&PostParams::default(), &cp).await.unwrap();
    }

    pub async fn wait_cp(
        &self,
        name: &str,
        what: &str,
        holds: impl Fn(&CAPTControlPlane) -> bool,
    ) -> CAPTControlPlane {
        capt_testkit::wait_for_object(&self.cps(), name, SLOW, holds)
            .await
            .unwrap_or_else(|e| panic!("{name}: {what}: {e}"))
    }

    pub async fn wait_state(&self, name: &str, state: &str) -> CAPTControlPlane {
        self.wait_cp(name, &format!("state {state}"), |cp| {
            cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state)
        })
        .await
    }

    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.cps()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap();
    }

    pub async fn finish(mut self) {
        if let Some(op) = self.operator.take() {
            op.stop().await;
        }
        let _ = self.ns.delete().await;
    }
}

/// Condition `type_` of an object's `status.conditions`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The Secret holding Workspace `workspace`'s Terraform state.
pub fn state_secret(workspace: &str) -> String {
    format!("tfstate-{workspace}-{}", provider_terraform::STATE_SUFFIX)
}

/// Where Terraform state Secrets live.
pub async fn state_secrets(admin: &Client) -> Api<Secret> {
    Api::namespaced(admin.clone(), provider_terraform::STATE_NAMESPACE)
}
