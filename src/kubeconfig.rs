//! The Cluster API kubeconfig and CA secrets, built from the Workspace's connection details.
//!
//! provider-terraform writes every Terraform output to the Workspace's connection secret (type
//! `connection.crossplane.io/v1alpha1`, controlled by the Workspace), so that secret cannot itself be
//! the `<cluster>-kubeconfig` Cluster API wants. We render ours from it:
//!
//! | Secret | for | user |
//! |---|---|---|
//! | `<cluster>-kubeconfig` | Cluster API's controllers | a bearer token: the template's own `kubeconfig` output if Cluster API can use it, else an EKS token minted from `spec.tokenCredentialsRef` ([`crate::eks_token`]) |
//! | `<cluster>-user-kubeconfig` | people | an `aws eks get-token` exec credential, which renews itself |
//! | `<cluster>-ca` | anyone | the CA certificate only |
//!
//! Cluster API refuses exec and auth-provider users (`ExecProvider is not supported in
//! ClusterCache`): its controllers run no `aws` binary. So the exec form, which never expires, is
//! only for people; the token form is refreshed by the operator before it expires.
//!
//! Pure: bytes in, bytes out. Writing them is the controller's job.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::Value;

use crate::{api::ApiEndpoint, endpoint};

/// Secret type Cluster API requires for its secrets.
pub const CLUSTER_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
/// Output holding the endpoint URL.
pub const ENDPOINT_OUTPUT: &str = "cluster_endpoint";
/// Output holding the base64 PEM CA bundle (EKS' `certificate_authority[0].data`).
pub const CA_OUTPUT: &str = "cluster_certificate_authority_data";
/// Output holding a ready-made kubeconfig.
pub const KUBECONFIG_OUTPUT: &str = "kubeconfig";
/// Annotation on `<cluster>-kubeconfig`: when its token is due for replacement (RFC 3339). Kept
/// on the Secret so a restarted operator neither re-mints early nor lets a token lapse.
pub const TOKEN_REFRESH_ANNOTATION: &str = "controlplane.cluster.x-k8s.io/token-refresh-at";

/// The people's kubeconfig Secret of a cluster (CAPA's name for it).
pub fn user_kubeconfig_secret_name(cluster: &str) -> String {
    format!("{cluster}-user-kubeconfig")
}

/// The connection details lack something a kubeconfig needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingConnection {
    /// No CA bundle in the outputs.
    #[error("the connection secret has no {CA_OUTPUT}")]
    Ca,
    /// The CA output is neither PEM nor base64 of PEM.
    #[error("{CA_OUTPUT} is neither PEM nor base64-encoded PEM")]
    CaFormat,
}

/// The CA bundle as PEM: EKS gives base64 of the PEM; a PEM given directly is accepted too.
/// Secret data is already decoded by Kubernetes, so this decodes exactly once.
pub fn ca_pem(outputs: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, MissingConnection> {
    let raw = outputs.get(CA_OUTPUT).ok_or(MissingConnection::Ca)?;
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return Ok(text.as_bytes().to_vec());
    }
    let decoded = STANDARD
        .decode(text.as_bytes())
        .map_err(|_| MissingConnection::CaFormat)?;
    if decoded.starts_with(b"-----BEGIN") {
        Ok(decoded)
    } else {
        Err(MissingConnection::CaFormat)
    }
}

/// Why Cluster API cannot use a kubeconfig (parsed from YAML or JSON), if it cannot: its current
/// context's user runs an exec plugin or an auth provider, or there is no such user.
pub fn refused_by_cluster_api(doc: &Value) -> Option<String> {
    let current = doc.get("current-context").and_then(Value::as_str);
    let context = doc
        .get("contexts")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| current.is_none_or(|name| c.get("name").and_then(Value::as_str) == Some(name)))
        })
        .and_then(|c| c.get("context"));
    let Some(user_name) = context.and_then(|c| c.get("user")).and_then(Value::as_str) else {
        return Some("it names no user in its current context".into());
    };
    let user = doc
        .get("users")
        .and_then(Value::as_array)
        .and_then(|us| {
            us.iter()
                .find(|u| u.get("name").and_then(Value::as_str) == Some(user_name))
        })
        .and_then(|u| u.get("user"));
    match user {
        None => Some(format!("its user {user_name:?} is not defined")),
        Some(u) if u.get("exec").is_some_and(|e| !e.is_null()) => Some(format!(
            "its user {user_name:?} runs an exec plugin, which Cluster API refuses"
        )),
        Some(u) if u.get("auth-provider").is_some_and(|e| !e.is_null()) => Some(format!(
            "its user {user_name:?} uses an auth provider, which Cluster API refuses"
        )),
        Some(_) => None,
    }
}

/// The kubeconfig Cluster API reads: `cluster` at `endpoint`, trusting `ca_pem`, authenticated by
/// a bearer `token`.
pub fn token_kubeconfig(cluster: &str, endpoint: &ApiEndpoint, ca_pem: &[u8], token: &str) -> Vec<u8> {
    config(cluster, endpoint, ca_pem, serde_json::json!({"token": token}))
}

/// The bearer token of a kubeconfig [`token_kubeconfig`] wrote.
pub fn token_of(kubeconfig: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(kubeconfig).ok()?;
    doc.pointer("/users/0/user/token")?.as_str().map(str::to_owned)
}

/// The people's kubeconfig: an `aws eks get-token` exec credential for EKS cluster `eks_name` in
/// `region`, which renews itself.
pub fn user_kubeconfig(
    cluster: &str,
    endpoint: &ApiEndpoint,
    ca_pem: &[u8],
    eks_name: &str,
    region: Option<&str>,
) -> Vec<u8> {
    let mut args = vec![
        "eks".to_owned(),
        "get-token".to_owned(),
        "--cluster-name".to_owned(),
        eks_name.to_owned(),
    ];
    if let Some(region) = region {
        args.extend(["--region".to_owned(), region.to_owned()]);
    }
    let exec = serde_json::json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": args,
        "interactiveMode": "Never",
    }});
    config(cluster, endpoint, ca_pem, exec)
}

fn config(cluster: &str, endpoint: &ApiEndpoint, ca_pem: &[u8], user: Value) -> Vec<u8> {
    let user_name = format!("{cluster}-capt");
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": endpoint::url(endpoint),
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user_name}}],
        "current-context": cluster,
    });
    // JSON is YAML; kubectl and client-go read it as a kubeconfig.
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

/// Data of the `<cluster>-kubeconfig` secret.
pub fn kubeconfig_secret_data(kubeconfig: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([("value".to_owned(), kubeconfig)])
}

/// Data of the `<cluster>-ca` secret: the certificate only; AWS keeps the key.
pub fn ca_secret_data(ca_pem: &[u8]) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("tls.crt".to_owned(), ca_pem.to_vec()),
        ("ca.crt".to_owned(), ca_pem.to_vec()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

    fn outputs(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
    }

    #[test]
    fn ca_is_decoded_exactly_once() {
        let b64 = STANDARD.encode(PEM);
        assert_eq!(
            ca_pem(&outputs(&[(CA_OUTPUT, b64.as_bytes())])).unwrap(),
            PEM.as_bytes()
        );
        assert_eq!(
            ca_pem(&outputs(&[(CA_OUTPUT, PEM.as_bytes())])).unwrap(),
            PEM.as_bytes()
        );
        assert_eq!(
            ca_pem(&outputs(&[(CA_OUTPUT, b"not pem")])),
            Err(MissingConnection::CaFormat)
        );
        assert_eq!(ca_pem(&outputs(&[])), Err(MissingConnection::Ca));
    }

    fn endpoint() -> ApiEndpoint {
        ApiEndpoint {
            host: "abc.eks.amazonaws.com".into(),
            port: 443,
        }
    }

    #[test]
    fn the_user_kubeconfig_uses_a_renewable_exec_credential() {
        let k = user_kubeconfig(
            "prod",
            &endpoint(),
            PEM.as_bytes(),
            "prod",
            Some("ap-northeast-1"),
        );
        let v: Value = serde_json::from_slice(&k).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://abc.eks.amazonaws.com:443"
        );
        assert_eq!(v["users"][0]["user"]["exec"]["command"], "aws");
        assert_eq!(v["users"][0]["user"]["exec"]["args"][3], "prod");
        assert_eq!(v["users"][0]["user"]["exec"]["args"][5], "ap-northeast-1");
        assert!(refused_by_cluster_api(&v).unwrap().contains("exec plugin"));
    }

    #[test]
    fn the_cluster_api_kubeconfig_carries_its_token_and_cluster_api_accepts_it() {
        let k = token_kubeconfig("prod", &endpoint(), PEM.as_bytes(), "k8s-aws-v1.abc");
        let v: Value = serde_json::from_slice(&k).unwrap();
        assert_eq!(refused_by_cluster_api(&v), None);
        assert_eq!(token_of(&k).as_deref(), Some("k8s-aws-v1.abc"));
    }

    #[test]
    fn cluster_api_refuses_auth_providers_and_missing_users() {
        let doc = |user: Value| {
            serde_json::json!({
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": user}],
            })
        };
        assert!(
            refused_by_cluster_api(&doc(serde_json::json!({"auth-provider": {"name": "oidc"}})))
                .unwrap()
                .contains("auth provider")
        );
        assert_eq!(
            refused_by_cluster_api(&doc(serde_json::json!({"token": "t"}))),
            None
        );
        assert!(refused_by_cluster_api(&serde_json::json!({})).is_some());
    }
}
