//! A stand-in for the EKS authenticator, so the test API server accepts EKS bearer tokens.
//!
//! Real EKS hands a `k8s-aws-v1.` token to aws-iam-authenticator, which replays the presigned STS
//! `GetCallerIdentity` URL inside it; STS checks the SigV4 signature and says who signed. Here the
//! test API server asks [`EksAuthenticator`] through its token webhook
//! (`--authentication-token-webhook-config-file`), and the authenticator plays both parts: it
//! checks the token's shape as aws-iam-authenticator does, then recomputes the signature with the
//! test credentials ([`TEST_ACCESS_KEY_ID`], [`TEST_SECRET_ACCESS_KEY`]) for each EKS cluster
//! name a test registered ([`EksAuthenticator::accept_cluster`]). A match authenticates as
//! [`TEST_USER`] in `system:masters`, like the identity that created an EKS cluster.
//!
//! Test support: it checks what aws-iam-authenticator checks, but nothing leaves the machine.
//! It recomputes signatures with AWS's own signer crate, independently of the operator's code.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;
use serde_json::json;

use crate::error::{Error, Result};

/// The test identity's access key id (an AWS-documented example value, never a real key).
pub const TEST_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// The test identity's secret access key (AWS's documented example).
pub const TEST_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// Who a valid token authenticates as.
pub const TEST_USER: &str = "arn:aws:iam::000000000000:user/capt-test";
/// How long a token is accepted after it was signed, as aws-iam-authenticator does.
pub const TOKEN_VALIDITY: Duration = Duration::from_secs(15 * 60);

const PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// The test credentials as an AWS shared credentials file (what a provider-terraform
/// ProviderConfig secret holds).
pub fn credentials_file() -> String {
    format!(
        "[default]\naws_access_key_id = {TEST_ACCESS_KEY_ID}\naws_secret_access_key = {TEST_SECRET_ACCESS_KEY}\n"
    )
}

/// The token webhook the test API server asks.
pub struct EksAuthenticator {
    port: u16,
    clusters: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EksAuthenticator {
    /// Starts the webhook on a loopback port and writes, under `dir`, the kubeconfig the API
    /// server reads it from.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot listen or write its configuration.
    pub fn start(dir: &Path) -> Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("listen on", "127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("read the address of", "the EKS authenticator", e))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("configure", "the EKS authenticator", e))?;
        let clusters = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (clusters, stop) = (clusters.clone(), stop.clone());
            std::thread::Builder::new()
                .name("eks-authenticator".into())
                .spawn(move || serve(&listener, &clusters, &stop))
                .map_err(|e| Error::io("start", "the EKS authenticator thread", e))?
        };
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "eks-authenticator", "cluster": {"server": format!("http://127.0.0.1:{port}/authenticate")}}],
            "users": [{"name": "kube-apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "eks-authenticator", "user": "kube-apiserver"}}],
            "current-context": "webhook",
        });
        let path = dir.join("eks-authenticator.kubeconfig");
        std::fs::write(&path, config.to_string()).map_err(|e| Error::io("write", &path, e))?;
        Ok(Self {
            port,
            clusters,
            stop,
            thread: Some(thread),
        })
    }

    /// The kube-apiserver flags that send bearer tokens here (answers are not cached, so a test
    /// sees each token judged).
    pub fn apiserver_args(dir: &Path) -> Vec<String> {
        vec![
            format!(
                "--authentication-token-webhook-config-file={}",
                dir.join("eks-authenticator.kubeconfig").display()
            ),
            "--authentication-token-webhook-version=v1".to_owned(),
            "--authentication-token-webhook-cache-ttl=0s".to_owned(),
        ]
    }

    /// The webhook's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Accepts tokens signed for EKS cluster `name` from now on.
    pub fn accept_cluster(&self, name: &str) {
        self.clusters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
    }
}

impl Drop for EksAuthenticator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, clusters: &Mutex<BTreeSet<String>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let accepted = clusters.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if let Err(e) = answer(stream, &accepted) {
                    tracing::warn!(error = %e, "EKS authenticator: bad request");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => tracing::warn!(error = %e, "EKS authenticator: accept failed"),
        }
    }
}

/// One HTTP/1.1 TokenReview exchange, then the connection closes.
fn answer(stream: TcpStream, clusters: &BTreeSet<String>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let status = match verify(token, clusters, Timestamp::now()) {
        Ok(cluster) => json!({
            "authenticated": true,
            "user": {"username": TEST_USER, "uid": format!("eks:{cluster}"), "groups": ["system:masters", "system:authenticated"]},
        }),
        Err(why) => {
            tracing::info!(why, "EKS authenticator: token refused");
            json!({"authenticated": false, "error": why})
        }
    };
    let reply = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "status": status,
    })
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}

/// Judges `token` as aws-iam-authenticator and STS would: returns the EKS cluster it was signed
/// for, or why it is refused.
pub fn verify(token: &str, clusters: &BTreeSet<String>, now: Timestamp) -> Result<String, String> {
    let body = token.strip_prefix(PREFIX).ok_or("not an EKS token")?;
    let url = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the token is not base64url of a URL")?;
    let (base, query) = url.split_once("/?").ok_or("the URL has no query")?;
    let host = base.strip_prefix("https://").ok_or("the URL is not https")?;
    if !(host.starts_with("sts.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")))
    {
        return Err(format!("{host} is not an STS endpoint"));
    }
    let params: Vec<(&str, &str)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let get = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if get("Action") != Some("GetCallerIdentity") {
        return Err("the action is not GetCallerIdentity".into());
    }
    if !get("X-Amz-SignedHeaders").is_some_and(|h| h.split("%3B").any(|h| h == CLUSTER_ID_HEADER)) {
        return Err(format!("{CLUSTER_ID_HEADER} is not signed"));
    }
    let date = get("X-Amz-Date").ok_or("no X-Amz-Date")?;
    let signed_at = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", date)
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or("X-Amz-Date does not parse")?;
    if now > signed_at + TOKEN_VALIDITY {
        return Err(format!("the token expired: signed at {signed_at}"));
    }
    let credential = get("X-Amz-Credential").ok_or("no X-Amz-Credential")?;
    let scope: Vec<&str> = credential.split("%2F").collect();
    let [key_id, _day, region, "sts", "aws4_request"] = scope[..] else {
        return Err(format!("unexpected credential scope {credential}"));
    };
    if key_id != TEST_ACCESS_KEY_ID {
        return Err(format!("unknown access key {key_id}"));
    }
    let expires = get("X-Amz-Expires")
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or("no X-Amz-Expires")?;
    let signature = get("X-Amz-Signature").ok_or("no X-Amz-Signature")?;
    let unsigned: Vec<String> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("X-Amz-"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let request_url = format!("{base}/?{}", unsigned.join("&"));
    clusters
        .iter()
        .find(|cluster| {
            resign(&request_url, region, cluster, signed_at, expires).as_deref() == Some(signature)
        })
        .cloned()
        .ok_or_else(|| "the signature matches no accepted cluster".to_owned())
}

/// The signature of the presigned `url` for `cluster`, as STS computes it.
fn resign(url: &str, region: &str, cluster: &str, at: Timestamp, expires: u64) -> Option<String> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let identity = Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        None,
        None,
        "capt-testkit",
    )
    .into();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.as_second()).ok()?);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        "GET",
        url,
        std::iter::once((CLUSTER_ID_HEADER, cluster)),
        SignableBody::Bytes(&[]),
    )
    .ok()?;
    let (_, signature) = sign(request, &params).ok()?.into_parts();
    Some(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token `aws eks get-token` printed (botocore, clock frozen at 2015-08-30T12:36:00Z) for
    /// cluster `my-cluster` in us-west-2, with AWS's documented example key `AKIDEXAMPLE`.
    const REFERENCE: &str = "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMTUwODMwJTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAxNTA4MzBUMTIzNjAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9MGU0NjQwYjE3YmM4ZDUxMDMwODQyNDE2ODVhN2M5MDdiNTEzOTZhN2ZkNWY2ZTYxODEzNThkMGRmNGYzN2U5ZA";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn tokens_of_unknown_keys_expired_tokens_and_junk_are_refused() {
        let clusters = BTreeSet::from(["my-cluster".to_owned()]);
        let signed = 1_440_938_160;
        // Signed with a key the test identity does not have.
        let err = verify(REFERENCE, &clusters, at(signed + 60)).unwrap_err();
        assert!(err.contains("unknown access key AKIDEXAMPLE"), "{err}");
        let err = verify(REFERENCE, &clusters, at(signed + 16 * 60)).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        assert!(verify("Bearer abc", &clusters, at(signed)).is_err());
        assert!(verify("k8s-aws-v1.!!!", &clusters, at(signed)).is_err());
    }

    #[test]
    fn a_signature_is_recomputed_for_each_accepted_cluster() {
        let url = "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15";
        let now = at(1_700_000_000);
        let signature = resign(url, "us-west-2", "prod", now, 60).unwrap();
        let date = jiff::tz::TimeZone::UTC
            .to_datetime(now)
            .strftime("%Y%m%dT%H%M%SZ");
        let presigned = format!(
            "{url}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={TEST_ACCESS_KEY_ID}%2F{}%2Fus-west-2%2Fsts%2Faws4_request\
             &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature={signature}",
            &date.to_string()[..8]
        );
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(presigned));
        let prod = BTreeSet::from(["dev".to_owned(), "prod".to_owned()]);
        assert_eq!(
            verify(&token, &prod, now + Duration::from_secs(5)),
            Ok("prod".into())
        );
        let other = BTreeSet::from(["dev".to_owned()]);
        assert!(
            verify(&token, &other, now)
                .unwrap_err()
                .contains("no accepted cluster")
        );
    }
}
