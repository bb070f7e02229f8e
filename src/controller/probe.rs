//! The optional HTTPS probe of a control plane's endpoint: a real TLS handshake against the CA we
//! wrote, and `GET /readyz`, which Kubernetes serves to anonymous clients.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::Context;
use crate::{
    api::{ApiEndpoint, CAPTControlPlane},
    endpoint, graph,
    health::ProbeResult,
};

/// How long the probe may take; a hung endpoint counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Failed probes in a row, per control plane, for [`ProbeFacts::failures_in_a_row`].
///
/// Kept in memory: an operator that restarts starts counting again, which can only delay a
/// verdict by a few health intervals, never invent one. A run ends with an answer, and when the
/// control plane is not probed (probing off, or a state that is not Ready or Degraded).
///
/// [`ProbeFacts::failures_in_a_row`]: crate::health::ProbeFacts::failures_in_a_row
#[derive(Debug, Default)]
pub struct ProbeStreaks(Mutex<HashMap<String, u32>>);

impl ProbeStreaks {
    /// Records the probe of control plane `key`; returns its failures in a row, this one included.
    pub fn record(&self, key: &str, result: &ProbeResult) -> u32 {
        let mut streaks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if result.is_healthy() {
            streaks.remove(key);
            return 0;
        }
        let failures = streaks.entry(key.to_owned()).or_default();
        *failures = failures.saturating_add(1);
        *failures
    }

    /// Ends control plane `key`'s run of failures: it was not probed, or it is gone.
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

/// Probes `ep` trusting the CA in the control plane's `<cluster>-ca` secret.
pub async fn probe(
    cp: &CAPTControlPlane,
    ctx: &Context,
    cluster_name: &str,
    ep: &ApiEndpoint,
) -> ProbeResult {
    let namespace = cp.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let ca = match secrets.get_opt(&graph::ca_secret_name(cluster_name)).await {
        Ok(Some(s)) => s.data.and_then(|d| d.get("ca.crt").map(|b| b.0.clone())),
        Ok(None) => None,
        Err(e) => return ProbeResult::Failed(format!("cannot read the CA secret: {e}")),
    };
    let Some(ca) = ca else {
        return ProbeResult::Failed("no CA to verify the endpoint with".into());
    };
    let ders = pem_to_der(&ca);
    if ders.is_empty() {
        return ProbeResult::Failed("the CA secret holds no PEM certificate".into());
    }
    let url = match endpoint::url(ep).parse() {
        Ok(u) => u,
        Err(e) => return ProbeResult::Failed(format!("bad endpoint URL: {e}")),
    };
    let mut config = kube::Config::new(url);
    config.root_cert = Some(ders);
    config.connect_timeout = Some(PROBE_TIMEOUT);
    config.read_timeout = Some(PROBE_TIMEOUT);
    let client = match kube::Client::try_from(config) {
        Ok(c) => c,
        Err(e) => return ProbeResult::Failed(format!("cannot build a client: {e}")),
    };
    let request = match http::Request::get("/readyz").body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return ProbeResult::Failed(e.to_string()),
    };
    match tokio::time::timeout(PROBE_TIMEOUT, client.request_text(request)).await {
        Ok(Ok(_)) => ProbeResult::Responded(200),
        Ok(Err(kube::Error::Api(status))) => ProbeResult::Responded(status.code),
        Ok(Err(e)) => ProbeResult::Failed(e.to_string()),
        Err(_) => ProbeResult::Failed(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The DER bytes of every certificate in a PEM bundle.
fn pem_to_der(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            body = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            if let Some(b) = body.take().and_then(|b| STANDARD.decode(b).ok()) {
                out.push(b);
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_certificate_of_a_bundle() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAwQF\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(pem.as_bytes()), vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert!(pem_to_der(b"garbage").is_empty());
    }

    #[test]
    fn an_answer_ends_the_streak_of_failures() {
        let streaks = ProbeStreaks::default();
        let refused = ProbeResult::Failed("connection refused".into());
        assert_eq!(streaks.record("ns/a", &refused), 1);
        assert_eq!(streaks.record("ns/a", &ProbeResult::Responded(503)), 2);
        assert_eq!(streaks.record("ns/b", &refused), 1, "counted per control plane");
        assert_eq!(streaks.record("ns/a", &ProbeResult::Responded(401)), 0);
        assert_eq!(streaks.record("ns/a", &refused), 1);
        streaks.forget("ns/b");
        assert_eq!(streaks.record("ns/b", &refused), 1);
    }
}
