//! Finding the kube-apiserver, etcd and kube-controller-manager binaries.
//!
//! The lookup follows controller-runtime's envtest, so a developer who already has envtest
//! binaries (`setup-envtest use 1.36.x -p path`) runs the same suite:
//!
//! 1. `TEST_ASSET_KUBE_APISERVER`, `TEST_ASSET_ETCD`, `TEST_ASSET_KUBE_CONTROLLER_MANAGER`
//!    (one binary each);
//! 2. `KUBEBUILDER_ASSETS=<dir>` holding `kube-apiserver`, `etcd` and optionally
//!    `kube-controller-manager`;
//! 3. `/usr/local/kubebuilder/bin`, envtest's last resort.
//!
//! `tools/k8sbins/build.sh` builds all three from the Go module proxy and prints such a directory.
//! envtest's downloads do not include kube-controller-manager; without it the plane still starts,
//! but nothing garbage-collects or finalises namespaces (see [`BinaryAssets::kube_controller_manager`]).

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// envtest's default asset directory, used when neither variable is set.
const ENVTEST_DEFAULT_DIR: &str = "/usr/local/kubebuilder/bin";

/// Where the control plane binaries are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryAssets {
    /// The `kube-apiserver` binary.
    pub kube_apiserver: PathBuf,
    /// The `etcd` binary.
    pub etcd: PathBuf,
    /// The `kube-controller-manager` binary, if there is one (envtest's assets have none).
    pub kube_controller_manager: Option<PathBuf>,
}

impl BinaryAssets {
    /// Finds the binaries from the environment (see the module docs for the order).
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] with instructions when kube-apiserver or etcd is not found. There is
    /// deliberately no "skip" outcome: a test that needs an API server and has none must fail.
    pub fn from_env() -> Result<Self> {
        let dir = env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from);
        let find = |name: &str, var: &str| -> Option<PathBuf> {
            if let Some(path) = env::var_os(var).filter(|p| !p.is_empty()) {
                return Some(PathBuf::from(path));
            }
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from(ENVTEST_DEFAULT_DIR));
            let path = dir.join(name);
            is_executable(&path).then_some(path)
        };
        let kube_apiserver = find("kube-apiserver", "TEST_ASSET_KUBE_APISERVER");
        let etcd = find("etcd", "TEST_ASSET_ETCD");
        let kube_controller_manager = find("kube-controller-manager", "TEST_ASSET_KUBE_CONTROLLER_MANAGER");
        match (kube_apiserver, etcd) {
            (Some(kube_apiserver), Some(etcd)) => {
                for path in [&kube_apiserver, &etcd] {
                    if !is_executable(path) {
                        return Err(Error::MissingAssets(format!(
                            "{} is not an executable file. {}",
                            path.display(),
                            how_to_get_binaries()
                        )));
                    }
                }
                Ok(Self {
                    kube_apiserver,
                    etcd,
                    kube_controller_manager,
                })
            }
            (apiserver, etcd) => {
                let mut missing = Vec::new();
                if apiserver.is_none() {
                    missing.push("kube-apiserver");
                }
                if etcd.is_none() {
                    missing.push("etcd");
                }
                let searched = match &dir {
                    Some(dir) => format!("KUBEBUILDER_ASSETS={}", dir.display()),
                    None => format!("KUBEBUILDER_ASSETS is not set; looked in {ENVTEST_DEFAULT_DIR}"),
                };
                Err(Error::MissingAssets(format!(
                    "{} not found ({searched}). {}",
                    missing.join(" and "),
                    how_to_get_binaries()
                )))
            }
        }
    }
}

/// Whether the environment demands a real API server (CI, or the project's test script).
///
/// The outcome is the same either way (a test without its API server fails); this only changes
/// the wording, so a CI log says plainly that the setup is broken.
pub fn apiserver_required() -> bool {
    env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || env::var("CAPT_REQUIRE_APISERVER").is_ok_and(|v| v == "1" || v == "true")
}

fn how_to_get_binaries() -> String {
    let required = if apiserver_required() {
        "This run requires them (CI=true or CAPT_REQUIRE_APISERVER=1). "
    } else {
        ""
    };
    format!(
        "{required}Integration tests run against a real kube-apiserver + etcd and fail without them \
         (they are never skipped). Get them with `export KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)` \
         (builds Kubernetes v1.36.3 from the Go module proxy into a cache, about 5 minutes cold), \
         or point KUBEBUILDER_ASSETS at envtest's binaries (`setup-envtest use 1.36.x -p path`), \
         or set TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD. `hack/test.sh` does all of this."
    )
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
