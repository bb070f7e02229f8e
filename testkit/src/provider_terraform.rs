//! The real Crossplane provider-terraform, running real OpenTofu, next to the test plane: the
//! software the simulator ([`crate::simulator`]) imitates, so the imitation can be checked.
//!
//! `tools/tfbins/build.sh` builds provider-terraform v1.1.1 and OpenTofu v1.10.10 from the Go
//! module proxy (OpenTofu named `terraform`, as the provider runs it) with the provider's CRDs,
//! and prints that directory, which `TFBINS_ASSETS` names. Started out of cluster
//! ([`ProviderTerraform::start`], or [`PlaneOptions::provider_terraform`](crate::PlaneOptions)):
//!
//! 1. the provider's seven CRDs;
//! 2. a `ClusterProviderConfig` and a cluster-scoped `ProviderConfig`, both named `default` (what
//!    Workspaces refer to when they name none), keeping Terraform state in the test API server
//!    (the `kubernetes` backend, namespace `default`): the provider keeps no state of its own, and
//!    a local backend cannot create a new Terraform workspace's first state;
//! 3. the provider, with the plane's admin kubeconfig, a fresh working directory, OpenTofu
//!    first on its `PATH`, polling every 10 s, five Workspaces at a time, until its metrics answer.
//!
//! [`ProviderTerraform::kill`] is a pod's crash: the provider and the OpenTofu runs it started
//! die together, and a restart begins from an empty working directory, as a new container would.
//!
//! Nothing is downloaded: modules are inline and use only what OpenTofu has built in
//! (`terraform_data`, `local-exec`, outputs). The provider's metrics port is fixed at 8080, so
//! one runs per machine at a time (test binaries run one after another).

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use serde_json::json;

use crate::{
    crds::{install_crds, load_crds},
    error::{Error, Result},
    harness::TestControlPlane,
    process::ManagedProcess,
};

/// The provider's metrics port: fixed by controller-runtime's default, no flag changes it.
pub const METRICS_PORT: u16 = 8080;
/// The `kubernetes` backend's secret suffix: state lives in Secret `tfstate-<workspace>-<suffix>`.
pub const STATE_SUFFIX: &str = "capt-test";
/// The namespace Terraform state Secrets go to.
pub const STATE_NAMESPACE: &str = "default";

/// Where the provider, OpenTofu and the CRDs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderTerraformAssets {
    /// provider-terraform's binary.
    pub provider: PathBuf,
    /// A directory holding OpenTofu as `terraform`.
    pub bin: PathBuf,
    /// The provider's CRDs.
    pub crds: PathBuf,
}

impl ProviderTerraformAssets {
    /// The directory `TFBINS_ASSETS` names.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] with instructions when it is not set or incomplete.
    pub fn from_env() -> Result<Self> {
        let dir = std::env::var_os("TFBINS_ASSETS")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::MissingAssets(
                    "TFBINS_ASSETS is not set: run `export TFBINS_ASSETS=$(tools/tfbins/build.sh)` (hack/test.sh \
                     does), which builds provider-terraform and OpenTofu from the Go module proxy"
                        .into(),
                )
            })?;
        let assets = Self {
            provider: dir.join("provider-terraform"),
            bin: dir.join("bin"),
            crds: dir.join("crds"),
        };
        for path in [&assets.provider, &assets.bin.join("terraform"), &assets.crds] {
            if !path.exists() {
                return Err(Error::MissingAssets(format!(
                    "TFBINS_ASSETS={} has no {}: rebuild it with tools/tfbins/build.sh",
                    dir.display(),
                    path.display()
                )));
            }
        }
        Ok(assets)
    }
}

/// A running provider-terraform. Dropping it kills the provider and its OpenTofu runs.
#[derive(Debug)]
pub struct ProviderTerraform {
    process: ManagedProcess,
    crds: Vec<String>,
}

/// How many providers this test binary started: each gets its own working directory and log.
static STARTS: AtomicU32 = AtomicU32::new(0);

impl ProviderTerraform {
    /// Installs the CRDs and the default provider configs on `plane` and starts the provider
    /// with the binaries `TFBINS_ASSETS` names, returning once its metrics answer.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] without the binaries; whatever failed the CRDs, the configs or
    /// the start.
    pub async fn start(plane: &TestControlPlane) -> Result<Self> {
        let assets = ProviderTerraformAssets::from_env()?;
        let admin = plane.client().await?;
        start(
            &admin,
            plane.dir(),
            plane.kubeconfig_path(),
            &assets,
            Duration::from_secs(60),
        )
        .await
    }

    /// Kills the provider and every OpenTofu process it started, at once (`SIGKILL` to the
    /// process group): what a node failure or an OOM kill does to the pod.
    pub fn kill(&self) {
        self.process.kill();
    }

    /// The CRDs installed.
    pub fn crds(&self) -> &[String] {
        &self.crds
    }

    /// The provider's log file.
    pub fn log(&self) -> &Path {
        self.process.log()
    }

    pub(crate) fn into_parts(self) -> (ManagedProcess, Vec<String>) {
        (self.process, self.crds)
    }
}

/// Installs the CRDs and the default provider configs and starts the provider.
pub(crate) async fn start(
    admin: &Client,
    dir: &Path,
    admin_kubeconfig: &Path,
    assets: &ProviderTerraformAssets,
    timeout: Duration,
) -> Result<ProviderTerraform> {
    let installed = install_crds(admin, &load_crds(&assets.crds)?, Duration::from_secs(60)).await?;
    let backend = format!(
        "terraform {{\n  backend \"kubernetes\" {{\n    secret_suffix = \"{STATE_SUFFIX}\"\n    namespace     = \"{STATE_NAMESPACE}\"\n    config_path   = \"{}\"\n  }}\n}}\n",
        admin_kubeconfig.display()
    );
    for (group, kind) in [
        ("tf.m.upbound.io", "ClusterProviderConfig"),
        ("tf.upbound.io", "ProviderConfig"),
    ] {
        let config = json!({
            "apiVersion": format!("{group}/v1beta1"),
            "kind": kind,
            "metadata": {"name": "default"},
            // No plugin cache: nothing is downloaded, and its lock serialises init with applies.
            "spec": {"pluginCache": false, "configuration": backend},
        });
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1beta1", kind));
        Api::<DynamicObject>::all_with(admin.clone(), &resource)
            .patch(
                "default",
                &PatchParams::apply("capt-testkit").force(),
                &Patch::Apply(&config),
            )
            .await?;
    }

    let n = STARTS.fetch_add(1, Ordering::Relaxed);
    let work = dir.join(format!("provider-terraform-{n}"));
    let (tf_dir, home) = (work.join("tf"), work.join("home"));
    for d in [&tf_dir, &home] {
        std::fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
    }
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut dirs = vec![assets.bin.clone()];
            dirs.extend(std::env::split_paths(&p));
            std::env::join_paths(dirs).map_err(|e| Error::Manifest {
                path: assets.bin.clone(),
                message: e.to_string(),
            })?
        }
        None => assets.bin.clone().into_os_string(),
    };
    let args = vec![
        "--poll=10s".to_owned(),
        // The jitter must stay below the poll, or the requeue goes negative and polling stops.
        "--poll-jitter=0s".to_owned(),
        "--max-reconcile-rate=5".to_owned(),
        "--timeout=2m".to_owned(),
        "--debug".to_owned(),
    ];
    let env = [
        ("KUBECONFIG", admin_kubeconfig.as_os_str().to_owned()),
        // The kubernetes backend does not read KUBECONFIG.
        ("KUBE_CONFIG_PATH", admin_kubeconfig.as_os_str().to_owned()),
        ("XP_TF_DIR", tf_dir.into_os_string()),
        ("HOME", home.into_os_string()),
        ("PATH", path),
        ("TF_IN_AUTOMATION", "1".into()),
        ("CHECKPOINT_DISABLE", "1".into()),
    ];
    let process = ManagedProcess::spawn_with_env(
        "provider-terraform",
        &assets.provider,
        &args,
        &env,
        &dir.join(format!("provider-terraform-{n}.log")),
    )?;
    let started = Instant::now();
    loop {
        process.check_running()?;
        if crate::http::get(METRICS_PORT, "/metrics")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        if started.elapsed() > timeout {
            return Err(Error::Timeout {
                what: format!("provider-terraform's metrics on 127.0.0.1:{METRICS_PORT}"),
                timeout,
                last: crate::process::log_tail(process.log(), 20),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tracing::info!(crds = installed.len(), "provider-terraform ready");
    Ok(ProviderTerraform {
        process,
        crds: installed,
    })
}
