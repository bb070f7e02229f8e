//! EKS bearer tokens: what `aws eks get-token` prints, minted from AWS credentials.
//!
//! Cluster API reads `<cluster>-kubeconfig` and refuses exec and auth-provider users (its
//! controllers run no `aws` binary), so that kubeconfig carries a bearer token, as CAPA's does:
//! `k8s-aws-v1.` followed by the unpadded base64url of a presigned STS `GetCallerIdentity` URL
//! whose signature covers the header `x-k8s-aws-id: <EKS cluster name>`. The EKS authenticator
//! replays the URL to STS, learns who signed it, and maps that identity to Kubernetes users
//! through access entries (or `aws-auth`).
//!
//! # Guarantees
//!
//! - Signing is AWS's own SigV4 implementation ([`aws_sigv4`]), checked against AWS's published
//!   test vectors (`tests/fixtures/sigv4`); nothing here does cryptography.
//! - A token is valid for [`TOKEN_VALIDITY`] after it is signed, whatever `X-Amz-Expires` says.
//!   [`Token::refresh_at`] is [`REFRESH_AFTER`] after signing, so a reader always holds a token
//!   with at least five minutes left.
//! - Secrets never reach a log: [`AwsCredentials`] and [`Token`] print redacted `Debug` output.
//!
//! # Least privilege
//!
//! Presigning calls no AWS API, and `sts:GetCallerIdentity` needs no IAM permission: the identity
//! whose keys sign only has to be mapped in the EKS cluster, to what Cluster API needs (a
//! read-only view of Nodes and `GET /` for its probe). A dedicated IAM user with no IAM policy
//! at all is enough.
//!
//! Pure: credentials and a clock reading in, a token out.

use std::{collections::BTreeMap, fmt, time::Duration};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;

/// Prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The signed header that binds a token to one EKS cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// What `aws eks get-token`, aws-iam-authenticator and CAPA put in `X-Amz-Expires`; the EKS
/// authenticator ignores it.
pub const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
/// How long the EKS authenticator accepts a token after `X-Amz-Date`.
pub const TOKEN_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// When a token is replaced: well before it expires, and at most every ten minutes, which is
/// also the operator's longest requeue.
pub const REFRESH_AFTER: Duration = Duration::from_secs(10 * 60);
/// The key of the credentials file in a Secret, as provider-terraform ProviderConfigs name it.
pub const DEFAULT_CREDENTIALS_KEY: &str = "credentials";

/// Why no token could be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The Secret holds no usable credentials.
    #[error("{0}")]
    Credentials(String),
    /// The signer refused the request (a region or name it cannot sign).
    #[error("cannot sign the STS request: {0}")]
    Signing(String),
}

/// AWS credentials, read from a Secret. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AwsCredentials {
    /// Credentials from their parts.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// With a session token (temporary credentials: the token dies with them).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Reads a Secret's data: either the keys `aws_access_key_id`, `aws_secret_access_key` and
    /// optionally `aws_session_token`, or an AWS shared credentials file (INI, the `[default]`
    /// profile, as a provider-terraform ProviderConfig secret holds it) under `key`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Result<Self, TokenError> {
        let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(v).trim().to_owned());
        if let (Some(id), Some(secret)) = (text("aws_access_key_id"), text("aws_secret_access_key")) {
            let mut creds = Self::new(id, secret);
            creds.session_token = text("aws_session_token").filter(|t| !t.is_empty());
            return creds.checked();
        }
        let file = data.get(key).ok_or_else(|| {
            TokenError::Credentials(format!(
                "the Secret has neither the key {key:?} (an AWS credentials file) nor \
                 aws_access_key_id and aws_secret_access_key"
            ))
        })?;
        Self::from_credentials_file(&String::from_utf8_lossy(file))
    }

    /// The `[default]` profile of an AWS shared credentials file.
    pub fn from_credentials_file(text: &str) -> Result<Self, TokenError> {
        let mut profile = None::<&str>;
        let mut fields = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                profile = Some(name.trim());
                continue;
            }
            if profile == Some("default")
                && let Some((k, v)) = line.split_once('=')
            {
                fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let get = |k: &str| fields.get(k).cloned();
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                let mut creds = Self::new(id, secret);
                creds.session_token = get("aws_session_token").filter(|t| !t.is_empty());
                creds.checked()
            }
            _ => Err(TokenError::Credentials(
                "the credentials file has no [default] profile with aws_access_key_id and \
                 aws_secret_access_key"
                    .into(),
            )),
        }
    }

    fn checked(self) -> Result<Self, TokenError> {
        if self.access_key_id.is_empty() || self.secret_access_key.is_empty() {
            return Err(TokenError::Credentials(
                "aws_access_key_id and aws_secret_access_key must not be empty".into(),
            ));
        }
        Ok(self)
    }
}

/// A minted token. `Debug` hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: String,
    /// When it was signed (`X-Amz-Date`).
    pub signed_at: Timestamp,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("signed_at", &self.signed_at)
            .finish()
    }
}

impl Token {
    /// The bearer token, for a kubeconfig. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// When the EKS authenticator stops accepting it.
    pub fn expires_at(&self) -> Timestamp {
        self.signed_at + TOKEN_VALIDITY
    }

    /// When to replace it.
    pub fn refresh_at(&self) -> Timestamp {
        self.signed_at + REFRESH_AFTER
    }
}

/// The STS endpoint a token for `region` is presigned for (the regional one, as CAPA and
/// `aws eks get-token --region` use).
pub fn sts_url(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sts.{region}.{domain}/?Action=GetCallerIdentity&Version=2011-06-15")
}

/// One request to presign: SigV4 in the query string, every header given signed.
#[derive(Debug, Clone)]
pub struct PresignRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The full URL, already percent-encoded.
    pub url: &'a str,
    /// Headers to sign (besides `host`, which the URL gives).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body whose hash is signed.
    pub body: &'a [u8],
    /// Signing region.
    pub region: &'a str,
    /// Signing service name (`sts`).
    pub service: &'a str,
    /// Signing time, whole seconds.
    pub at: Timestamp,
    /// `X-Amz-Expires`.
    pub expires_in: Duration,
}

/// Presigns `request` with `credentials`: the URL with the `X-Amz-*` query parameters added.
pub fn presign(credentials: &AwsCredentials, request: &PresignRequest<'_>) -> Result<String, TokenError> {
    let signing = |e: &dyn fmt::Display| TokenError::Signing(e.to_string());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(request.expires_in);
    let identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "capt-controlplane",
    )
    .into();
    let time = std::time::SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(request.at.as_second()).unwrap_or(0));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(request.region)
        .name(request.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| signing(&e))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| signing(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| signing(&e))?.into_parts();
    let mut presigned = http::Request::builder()
        .method(request.method)
        .uri(request.url)
        .body(())
        .map_err(|e| signing(&e))?;
    instructions.apply_to_request_http1x(&mut presigned);
    Ok(presigned.uri().to_string())
}

/// Mints the token for EKS cluster `eks_cluster` in `region`, signed at `now` (truncated to whole
/// seconds: SigV4 dates have none).
pub fn mint(
    credentials: &AwsCredentials,
    region: &str,
    eks_cluster: &str,
    now: Timestamp,
) -> Result<Token, TokenError> {
    let signed_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let url = sts_url(region);
    let presigned = presign(
        credentials,
        &PresignRequest {
            method: "GET",
            url: &url,
            headers: &[(CLUSTER_ID_HEADER, eks_cluster)],
            body: &[],
            region,
            service: "sts",
            at: signed_at,
            expires_in: PRESIGN_EXPIRES,
        },
    )?;
    Ok(Token {
        value: format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(presigned)),
        signed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn credentials_come_from_keys_or_a_credentials_file() {
        let keys = BTreeMap::from([
            ("aws_access_key_id".to_owned(), ID.as_bytes().to_vec()),
            ("aws_secret_access_key".to_owned(), b" secret \n".to_vec()),
        ]);
        let creds = AwsCredentials::from_secret_data(&keys, DEFAULT_CREDENTIALS_KEY).unwrap();
        assert_eq!(creds, AwsCredentials::new(ID, "secret"));

        let file = "# ProviderConfig\n[other]\naws_access_key_id = NO\n[default]\naws_access_key_id = AKID\n\
                    aws_secret_access_key=s3cr3t\naws_session_token = tok\n";
        let data = BTreeMap::from([("creds.ini".to_owned(), file.as_bytes().to_vec())]);
        let creds = AwsCredentials::from_secret_data(&data, "creds.ini").unwrap();
        assert_eq!(
            creds,
            AwsCredentials::new("AKID", "s3cr3t").with_session_token("tok")
        );
    }

    #[test]
    fn missing_credentials_say_what_is_missing() {
        let err = AwsCredentials::from_secret_data(&BTreeMap::new(), "credentials").unwrap_err();
        assert!(
            err.to_string().contains("neither the key \"credentials\""),
            "{err}"
        );
        let err = AwsCredentials::from_credentials_file("[prod]\naws_access_key_id=x\n").unwrap_err();
        assert!(err.to_string().contains("[default]"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let creds = AwsCredentials::new(ID, SECRET).with_session_token("SESSION");
        let shown = format!("{creds:?}");
        assert!(!shown.contains(SECRET) && !shown.contains("SESSION"), "{shown}");
        let token = mint(&creds, "us-west-2", "my-cluster", at(1_440_938_160)).unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.expose()), "{shown}");
    }

    #[test]
    fn a_token_is_refreshed_five_minutes_before_it_expires() {
        let token = mint(&AwsCredentials::new(ID, SECRET), "eu-west-1", "c", at(1_000)).unwrap();
        assert_eq!(token.refresh_at(), at(1_600));
        assert_eq!(token.expires_at(), at(1_900));
    }

    #[test]
    fn china_regions_sign_for_their_own_domain() {
        assert_eq!(
            sts_url("cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn/?Action=GetCallerIdentity&Version=2011-06-15"
        );
    }
}
