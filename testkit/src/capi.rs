//! The real Cluster API core manager on the test plane, so the control-plane contract is proven by
//! the software that reads it.
//!
//! `tools/capibins/build.sh` builds the manager and clusterctl from the Go module proxy and copies,
//! from the same module version, the 13 core CRDs, the webhook configurations and the manager's
//! ClusterRole; it prints that directory, which `CAPI_ASSETS` names. Started as in a cluster
//! ([`start`]), but without cert-manager or a Service:
//!
//! 1. the core CRDs, each with its conversion webhook pointed at the manager by URL
//!    (`https://127.0.0.1:<port>/convert`) and the plane's CA as `caBundle`;
//! 2. the manager's ClusterRole (`core/config/rbac/role.yaml`) bound to the user it runs as;
//! 3. the manager, with a serving certificate the plane's CA signed, `ClusterTopology` on, leader
//!    election and metrics off, until `/readyz` answers;
//! 4. then its mutating and validating webhooks, by URL.
//!
//! A missing `CAPI_ASSETS` fails, with instructions, like the API server binaries do.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use serde_json::json;

use crate::{
    crds::{install_crds, load_documents, yaml_files},
    error::{Error, Result},
    pki::Pki,
    process::{ManagedProcess, free_port},
};

/// The user the manager runs as, bound only to its own ClusterRole.
pub const MANAGER_USER: &str = "capi-manager";
/// The Cluster API version `tools/capibins` pins.
pub const CAPI_VERSION: &str = "v1.14.2";

/// Where the Cluster API binaries and manifests are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterApiAssets {
    /// The core manager.
    pub manager: PathBuf,
    /// clusterctl.
    pub clusterctl: PathBuf,
    /// `config/` with `crd/`, `webhook/manifests.yaml`, `rbac/role.yaml` and `metadata.yaml`.
    pub config: PathBuf,
}

impl ClusterApiAssets {
    /// The directory `CAPI_ASSETS` names.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] with instructions when it is not set or incomplete.
    pub fn from_env() -> Result<Self> {
        let dir = std::env::var_os("CAPI_ASSETS")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::MissingAssets(
                    "CAPI_ASSETS is not set: run `export CAPI_ASSETS=$(tools/capibins/build.sh)` (hack/test.sh \
                     does), which builds the Cluster API manager and clusterctl from the Go module proxy"
                        .into(),
                )
            })?;
        let assets = Self {
            manager: dir.join("capi-manager"),
            clusterctl: dir.join("clusterctl"),
            config: dir.join("config"),
        };
        for path in [
            &assets.manager,
            &assets.clusterctl,
            &assets.config.join("webhook/manifests.yaml"),
        ] {
            if !path.exists() {
                return Err(Error::MissingAssets(format!(
                    "CAPI_ASSETS={} has no {}: rebuild it with tools/capibins/build.sh",
                    dir.display(),
                    path.display()
                )));
            }
        }
        Ok(assets)
    }
}

/// Everything [`start`] needs from the plane.
pub(crate) struct PlaneAccess<'a> {
    pub admin: &'a Client,
    pub pki: &'a Pki,
    pub dir: &'a Path,
    pub manager_kubeconfig_yaml: String,
    pub timeout: Duration,
}

/// Installs the core CRDs and RBAC, starts the manager and registers its webhooks; returns the
/// manager's process and the CRDs installed.
pub(crate) async fn start(
    plane: PlaneAccess<'_>,
    assets: &ClusterApiAssets,
) -> Result<(ManagedProcess, Vec<String>)> {
    let webhook_port = free_port()?;
    let health_port = free_port()?;
    let ca_bundle = STANDARD.encode(plane.pki.ca_pem());
    let base_url = format!("https://127.0.0.1:{webhook_port}");

    let mut crds = Vec::new();
    for path in yaml_files(&assets.config.join("crd"))? {
        for mut crd in load_documents(&path)? {
            crd["spec"]["conversion"] = json!({
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"url": format!("{base_url}/convert"), "caBundle": ca_bundle},
                },
            });
            crds.push(crd);
        }
    }
    let installed = install_crds(plane.admin, &crds, Duration::from_secs(60)).await?;

    let role = crate::rbac::cluster_role_from(&assets.config.join("rbac/role.yaml"))?;
    crate::rbac::bind_cluster_role(plane.admin, &role, MANAGER_USER).await?;

    let certs = plane.dir.join("capi-webhook-certs");
    std::fs::create_dir_all(&certs).map_err(|e| Error::io("create directory", &certs, e))?;
    let serving = plane.pki.issue_serving("capi-webhook")?;
    write(&certs.join("tls.crt"), &serving.cert_pem)?;
    write(&certs.join("tls.key"), &serving.key_pem)?;
    let kubeconfig = plane.dir.join("capi-manager.kubeconfig");
    write(&kubeconfig, &plane.manager_kubeconfig_yaml)?;
    let args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--feature-gates=ClusterTopology=true".to_owned(),
        format!("--webhook-port={webhook_port}"),
        format!("--webhook-cert-dir={}", certs.display()),
        format!("--health-addr=127.0.0.1:{health_port}"),
        "--diagnostics-address=0".to_owned(),
        "--leader-elect=false".to_owned(),
        "--v=2".to_owned(),
    ];
    let process = ManagedProcess::spawn(
        "capi-manager",
        &assets.manager,
        &args,
        &plane.dir.join("capi-manager.log"),
    )?;
    let started = Instant::now();
    loop {
        process.check_running()?;
        if crate::http::get(health_port, "/readyz")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        if started.elapsed() > plane.timeout {
            return Err(Error::Timeout {
                what: "the Cluster API manager's /readyz".into(),
                timeout: plane.timeout,
                last: crate::process::log_tail(process.log(), 20),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for mut configuration in load_documents(&assets.config.join("webhook/manifests.yaml"))? {
        let name = format!(
            "capi-{}",
            configuration["metadata"]["name"].as_str().unwrap_or("webhooks")
        );
        configuration["metadata"]["name"] = json!(name);
        let kind = configuration["kind"].as_str().unwrap_or_default().to_owned();
        for webhook in configuration["webhooks"].as_array_mut().into_iter().flatten() {
            let path = webhook["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap_or("/")
                .to_owned();
            webhook["clientConfig"] = json!({"url": format!("{base_url}{path}"), "caBundle": ca_bundle});
        }
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            &kind,
        ));
        Api::<DynamicObject>::all_with(plane.admin.clone(), &resource)
            .patch(
                &name,
                &PatchParams::apply("capt-testkit").force(),
                &Patch::Apply(&configuration),
            )
            .await?;
    }
    tracing::info!(
        webhook_port,
        health_port,
        crds = installed.len(),
        "Cluster API manager ready"
    );
    Ok((process, installed))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io("write", path, e))
}
