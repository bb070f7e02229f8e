//! The Cluster API kubeconfig and CA secrets, built from the Workspace's connection details.
//!
//! provider-terraform writes every Terraform output to the Workspace's connection secret (type
//! `connection.crossplane.io/v1alpha1`, controlled by the Workspace), so that secret cannot itself be
//! the `<cluster>-kubeconfig` Cluster API wants. We render ours from it:
//!
//! - if the outputs carry a `kubeconfig`, it is used as is (a template that mints one);
//! - otherwise a kubeconfig is built from `cluster_endpoint` and `cluster_certificate_authority_data`
//!   with an `aws eks get-token` exec credential, which renews itself instead of expiring after 15
//!   minutes like a static token.
//!
//! Pure: bytes in, bytes out. Writing them is the controller's job.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{api::ApiEndpoint, endpoint};

/// Secret type Cluster API requires for its secrets.
pub const CLUSTER_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
/// Output holding the endpoint URL.
pub const ENDPOINT_OUTPUT: &str = "cluster_endpoint";
/// Output holding the base64 PEM CA bundle (EKS' `certificate_authority[0].data`).
pub const CA_OUTPUT: &str = "cluster_certificate_authority_data";
/// Output holding a ready-made kubeconfig.
pub const KUBECONFIG_OUTPUT: &str = "kubeconfig";

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

/// The kubeconfig for `cluster`: the outputs' own, else one with an `aws eks get-token` exec
/// credential for EKS cluster `eks_name` in `region`.
pub fn kubeconfig(
    cluster: &str,
    endpoint: &ApiEndpoint,
    ca_pem: &[u8],
    outputs: &BTreeMap<String, Vec<u8>>,
    eks_name: &str,
    region: Option<&str>,
) -> Vec<u8> {
    if let Some(given) = outputs.get(KUBECONFIG_OUTPUT).filter(|k| !k.is_empty()) {
        return given.clone();
    }
    let mut args = vec![
        "eks".to_owned(),
        "get-token".to_owned(),
        "--cluster-name".to_owned(),
        eks_name.to_owned(),
    ];
    if let Some(region) = region {
        args.extend(["--region".to_owned(), region.to_owned()]);
    }
    let user = format!("{cluster}-capt");
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": endpoint::url(endpoint),
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": args,
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
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

    #[test]
    fn built_kubeconfig_uses_a_renewable_exec_credential() {
        let ep = ApiEndpoint {
            host: "abc.eks.amazonaws.com".into(),
            port: 443,
        };
        let k = kubeconfig(
            "prod",
            &ep,
            PEM.as_bytes(),
            &BTreeMap::new(),
            "prod",
            Some("ap-northeast-1"),
        );
        let v: serde_json::Value = serde_json::from_slice(&k).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://abc.eks.amazonaws.com:443"
        );
        assert_eq!(v["users"][0]["user"]["exec"]["command"], "aws");
        assert_eq!(v["users"][0]["user"]["exec"]["args"][3], "prod");
        assert_eq!(v["users"][0]["user"]["exec"]["args"][5], "ap-northeast-1");
    }

    #[test]
    fn a_kubeconfig_output_is_used_verbatim() {
        let ep = ApiEndpoint {
            host: "h".into(),
            port: 443,
        };
        let given = outputs(&[(KUBECONFIG_OUTPUT, b"apiVersion: v1\nkind: Config\n")]);
        assert_eq!(
            kubeconfig("c", &ep, b"", &given, "c", None),
            b"apiVersion: v1\nkind: Config\n"
        );
    }
}
