//! The certificates of a test control plane, generated in memory with `rcgen`.
//!
//! One CA signs both the serving certificate and the client certificates (envtest uses three CAs;
//! one is enough for a private test plane and keeps the kubeconfig simple). Keys are ECDSA P-256
//! in PKCS#8 PEM, which kube-apiserver, etcd, kube-controller-manager and kube-rs' rustls all
//! accept (rustls rejects P-521, and old kube-rs rejected SEC1 keys). The service-account signing
//! key is a separate P-256 key pair (ES256 tokens).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::Result;

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    // Never print a private key, even in test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// The CA of a test plane, able to issue more client certificates after start-up.
pub struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// Serving certificate for kube-apiserver (SANs `localhost`, `127.0.0.1`).
    pub serving: CertifiedKey,
    /// Service-account token signing key (private) and its public key, PEM.
    pub service_account: CertifiedKey,
}

impl Pki {
    /// Generates a CA, a serving certificate and a service-account key pair.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Pki`] if rcgen fails (it does not for these fixed parameters).
    pub fn generate() -> Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "capt-testkit-ca");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "capt-testkit");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca_params.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut serving = CertificateParams::new(vec!["localhost".to_owned()])?;
        serving
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        serving.distinguished_name.push(DnType::CommonName, "localhost");
        serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving.use_authority_key_identifier_extension = true;
        let serving_key = KeyPair::generate()?;
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let sa_key = KeyPair::generate()?;
        Ok(Self {
            ca_pem,
            issuer,
            serving: CertifiedKey {
                cert_pem: serving_cert.pem(),
                key_pem: serving_key.serialize_pem(),
            },
            service_account: CertifiedKey {
                cert_pem: sa_key.public_key_pem(),
                key_pem: sa_key.serialize_pem(),
            },
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Issues a client certificate for `user` (`CN=user`) in at most one `group` (`O=group`),
    /// which kube-apiserver's x509 authenticator maps to that user and group (plus
    /// `system:authenticated`).
    ///
    /// One group because rcgen's distinguished name holds one value per attribute type; RBAC
    /// tests bind roles to the user or to that one group.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Pki`] if rcgen fails, e.g. for a name it cannot encode.
    pub fn issue_client(&self, user: &str, group: Option<&str>) -> Result<CertifiedKey> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = group {
            params.distinguished_name.push(DnType::OrganizationName, group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl Pki {
    /// Issues a serving certificate for `127.0.0.1` and `localhost` signed by the plane's CA, for a
    /// webhook server the API server calls (its `caBundle` is [`Pki::ca_pem`]).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Pki`] if rcgen fails.
    pub fn issue_serving(&self, common_name: &str) -> Result<CertifiedKey> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}
