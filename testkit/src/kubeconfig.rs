//! Kubeconfigs and clients for a test plane, with every credential embedded as data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};
use crate::pki::CertifiedKey;

/// The name of the cluster, user and context in generated kubeconfigs.
pub const CONTEXT: &str = "capt-test";

/// A kubeconfig for `server`, trusting `ca_pem`, authenticating with the client certificate
/// `client`. Everything is embedded, so the file can be copied anywhere (into a Secret, too).
///
/// # Errors
///
/// [`Error::Serialize`] if the document does not fit kube's `Kubeconfig` type (it always does).
pub fn kubeconfig(server: &str, ca_pem: &str, user: &str, client: &CertifiedKey) -> Result<Kubeconfig> {
    // Built as JSON because `AuthInfo::client_key_data` is a `secrecy::SecretString`, which this
    // crate would otherwise need a direct dependency to construct.
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CONTEXT,
            "cluster": { "server": server, "certificate-authority-data": BASE64.encode(ca_pem) },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": BASE64.encode(&client.cert_pem),
                "client-key-data": BASE64.encode(&client.key_pem),
            },
        }],
        "contexts": [{ "name": CONTEXT, "context": { "cluster": CONTEXT, "user": user } }],
        "current-context": CONTEXT,
    });
    serde_json::from_value(doc).map_err(|e| Error::Serialize {
        what: "kubeconfig",
        message: e.to_string(),
    })
}

/// The kubeconfig as YAML, as `kubectl` writes it.
///
/// # Errors
///
/// [`Error::Serialize`] if serialisation fails.
pub fn to_yaml(kubeconfig: &Kubeconfig) -> Result<String> {
    // Through serde_json::Value: kube's types use `#[serde(flatten)]`, which YAML serialisers
    // handle less uniformly than a plain map.
    let value = serde_json::to_value(kubeconfig).map_err(|e| Error::Serialize {
        what: "kubeconfig",
        message: e.to_string(),
    })?;
    serde_saphyr::to_string(&value).map_err(|e| Error::Serialize {
        what: "kubeconfig",
        message: e.to_string(),
    })
}

/// A client for `kubeconfig`, bound to the calling tokio runtime.
///
/// # Errors
///
/// [`Error::Kubeconfig`] for an unusable kubeconfig, [`Error::Kube`] if the client cannot be built.
pub async fn client(kubeconfig: Kubeconfig) -> Result<kube::Client> {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
