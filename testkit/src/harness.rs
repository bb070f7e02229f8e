//! [`TestControlPlane`]: a real etcd + kube-apiserver (+ kube-controller-manager) on loopback.
//!
//! Started the way controller-runtime's envtest starts it (see `notes/real-control-plane.md` §4):
//! etcd with `--unsafe-no-fsync`, then kube-apiserver with RBAC, the `ServiceAccount` admission
//! plugin off, a generated CA and serving certificate and an admin client certificate in
//! `system:masters`. Ready means etcd `/health`, then apiserver `/readyz`, then the `default`
//! namespace. Then the CRDs are installed, and then kube-controller-manager starts with only the
//! garbage-collector and namespace controllers, so ownerReference cascades and namespace deletion
//! behave as in a real cluster (started after the CRDs so its first discovery already sees them).
//!
//! One plane per test binary ([`TestControlPlane::shared`]); every test builds its own client
//! ([`TestControlPlane::client`]) because a kube client belongs to the tokio runtime it was made
//! on, and each `#[tokio::test]` has its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::Api;
use kube::config::Kubeconfig;
use tokio::sync::OnceCell;

use crate::assets::BinaryAssets;
use crate::capi::ClusterApiAssets;
use crate::crds::{default_crd_dirs, install_crds, load_crds};
use crate::eks::EksAuthenticator;
use crate::error::{Error, Result};
use crate::kubeconfig;
use crate::pki::{CertifiedKey, Pki};
use crate::process::{ManagedProcess, free_port};
use crate::util::{parse_duration, random_suffix};

/// User name of the admin client certificate (group `system:masters`), as in envtest.
pub const ADMIN_USER: &str = "admin";

/// How often the whole start-up is tried when a child exits early (typically a port taken between
/// picking it and binding it), as envtest does.
const START_ATTEMPTS: u32 = 3;

/// What to start and install.
#[derive(Clone, Debug)]
pub struct PlaneOptions {
    /// Directories whose YAML files hold CRDs to install; default: [`default_crd_dirs`].
    pub crd_dirs: Vec<PathBuf>,
    /// Start kube-controller-manager (garbage collector and namespace controller) when its binary
    /// is available. Default true.
    pub controller_manager: bool,
    /// How long etcd and kube-apiserver may take to become ready. Default 60 s (start-up takes
    /// several CPU-seconds on 2 cores); `KUBEBUILDER_CONTROLPLANE_START_TIMEOUT` (a Go duration,
    /// as for envtest) overrides it.
    pub start_timeout: Duration,
    /// Extra kube-apiserver flags, appended after the defaults (a later flag wins).
    pub extra_apiserver_args: Vec<String>,
    /// Accept EKS bearer tokens signed with the test AWS identity ([`crate::eks`]). Default true.
    pub eks_authenticator: bool,
    /// Run the real Cluster API core manager ([`crate::capi`], binaries from `CAPI_ASSETS`).
    /// Default false.
    pub cluster_api: bool,
    /// Run the real provider-terraform with OpenTofu ([`crate::provider_terraform`], binaries
    /// from `TFBINS_ASSETS`). Default false.
    pub provider_terraform: bool,
}

impl PlaneOptions {
    /// The defaults plus the real Cluster API core manager.
    pub fn with_cluster_api() -> Self {
        Self {
            cluster_api: true,
            ..Self::default()
        }
    }

    /// The defaults plus the real provider-terraform.
    pub fn with_provider_terraform() -> Self {
        Self {
            provider_terraform: true,
            ..Self::default()
        }
    }
}

impl Default for PlaneOptions {
    fn default() -> Self {
        let start_timeout = std::env::var("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT")
            .ok()
            .and_then(|t| parse_duration(&t))
            .unwrap_or(Duration::from_secs(60));
        Self {
            crd_dirs: default_crd_dirs(),
            controller_manager: true,
            start_timeout,
            extra_apiserver_args: Vec::new(),
            eks_authenticator: true,
            cluster_api: false,
            provider_terraform: false,
        }
    }
}

/// A running etcd + kube-apiserver (+ kube-controller-manager) with its certificates and
/// kubeconfig. Dropping or [`stop`](Self::stop)ping it kills the processes and removes its
/// directory; the shared instance is cleaned up when the test binary exits.
pub struct TestControlPlane {
    dir: PathBuf,
    keep_dir: bool,
    server_url: String,
    pki: Pki,
    admin: Kubeconfig,
    admin_yaml: String,
    kubeconfig_path: PathBuf,
    /// In start order; stopped in reverse.
    processes: Vec<ManagedProcess>,
    crds: Vec<String>,
    startup: Duration,
    stopped: AtomicBool,
    eks: Option<EksAuthenticator>,
    cluster_api: Option<ClusterApiAssets>,
}

/// The plane shared by all tests of one test binary. The outcome of the first start is kept,
/// failure included, so one broken setup fails every test with the same reason at once instead
/// of each test retrying a 60-second start.
static SHARED: OnceCell<std::result::Result<TestControlPlane, String>> = OnceCell::const_new();

impl TestControlPlane {
    /// The plane shared by every test in this test binary, started on first use with
    /// [`PlaneOptions::default`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] when the binaries are not found, or whatever made the start fail;
    /// later calls return [`Error::SharedStartFailed`] with the first failure's message.
    pub async fn shared() -> Result<&'static TestControlPlane> {
        Self::shared_with(PlaneOptions::default()).await
    }

    /// The plane shared by every test in this test binary, started on first use with `options`.
    /// Options only count on the first call of the binary: a test binary that needs more than
    /// the defaults (the Cluster API manager, say) asks for them before anything else.
    ///
    /// # Errors
    ///
    /// As [`shared`](Self::shared).
    pub async fn shared_with(options: PlaneOptions) -> Result<&'static TestControlPlane> {
        let outcome = SHARED
            .get_or_init(|| async {
                let started = Self::start(options).await.map_err(|e| e.to_string());
                if started.is_ok() {
                    register_exit_cleanup();
                }
                started
            })
            .await;
        outcome
            .as_ref()
            .map_err(|message| Error::SharedStartFailed(message.clone()))
    }

    /// Starts a private plane. Prefer [`shared`](Self::shared): each plane costs several
    /// CPU-seconds and about 150 MB of memory.
    ///
    /// Data, certificates and logs go to a fresh directory under `$CAPT_TEST_RUN_DIR` (so a
    /// wrapper script can check that nothing outlives the tests) or else the system temp dir. The
    /// directory is removed on stop unless `CAPT_TEST_KEEP=1`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] when the binaries are not found; [`Error::Exited`] (with the
    /// process's log tail) when a process dies during start-up; [`Error::Timeout`] when a
    /// component is not ready in time; [`Error::Kube`] when a CRD is rejected.
    pub async fn start(options: PlaneOptions) -> Result<Self> {
        let assets = BinaryAssets::from_env()?;
        let base = match std::env::var_os("CAPT_TEST_RUN_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&base).map_err(|e| Error::io("create directory", &base, e))?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&assets, &options, &base).await {
                Err(Error::Exited {
                    name,
                    status,
                    log,
                    tail,
                }) if attempt < START_ATTEMPTS => {
                    tracing::warn!(name, status, log = %log.display(), tail, attempt, "control plane start failed; retrying");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(assets: &BinaryAssets, options: &PlaneOptions, base: &Path) -> Result<Self> {
        let started = Instant::now();
        let dir = base.join(format!("capt-plane-{}-{}", std::process::id(), random_suffix(6)));
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir).map_err(|e| Error::io("create directory", &pki_dir, e))?;
        // From here on, `plane` owns the directory and the processes: an early return drops it,
        // which kills what was started and removes the directory.
        let mut plane = Self {
            keep_dir: std::env::var("CAPT_TEST_KEEP").is_ok_and(|v| v == "1" || v == "true"),
            dir,
            server_url: String::new(),
            pki: Pki::generate()?,
            admin: Kubeconfig::default(),
            admin_yaml: String::new(),
            kubeconfig_path: PathBuf::new(),
            processes: Vec::new(),
            crds: Vec::new(),
            startup: Duration::ZERO,
            stopped: AtomicBool::new(false),
            eks: None,
            cluster_api: None,
        };
        let dir = plane.dir.clone();
        // kube-apiserver reads apiserver.crt/apiserver.key from --cert-dir.
        write_file(&pki_dir.join("ca.crt"), plane.pki.ca_pem())?;
        write_file(&pki_dir.join("apiserver.crt"), &plane.pki.serving.cert_pem)?;
        write_secret(&pki_dir.join("apiserver.key"), &plane.pki.serving.key_pem)?;
        write_file(&pki_dir.join("sa.pub"), &plane.pki.service_account.cert_pem)?;
        write_secret(&pki_dir.join("sa.key"), &plane.pki.service_account.key_pem)?;

        // etcd, loopback only (its defaults listen on every interface).
        let (etcd_port, peer_port) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd_args = vec![
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        plane.processes.push(ManagedProcess::spawn(
            "etcd",
            &assets.etcd,
            &etcd_args,
            &dir.join("etcd.log"),
        )?);
        wait_ready(&plane.processes[0], "etcd /health", options.start_timeout, || {
            etcd_healthy(etcd_port)
        })
        .await?;

        let port = free_port()?;
        plane.server_url = format!("https://127.0.0.1:{port}");
        let mut apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            format!("--cert-dir={}", pki_dir.display()),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--allow-privileged=true".to_owned(),
            // No controller-manager token controller and no default ServiceAccounts.
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            "--authorization-mode=RBAC".to_owned(),
            format!("--client-ca-file={}", pki_dir.join("ca.crt").display()),
            format!("--service-account-issuer={}/", plane.server_url),
            format!("--service-account-key-file={}", pki_dir.join("sa.pub").display()),
            format!(
                "--service-account-signing-key-file={}",
                pki_dir.join("sa.key").display()
            ),
            // The `kubernetes` Service would advertise 127.0.0.1, which the endpoint reconciler
            // rejects noisily every few seconds; nothing here dials that Service.
            "--endpoint-reconciler-type=none".to_owned(),
        ];
        // Every request is audited, so tests can count writes as the server saw them.
        apiserver_args.extend(crate::audit::apiserver_args(&dir)?);
        if options.eks_authenticator {
            plane.eks = Some(EksAuthenticator::start(&dir)?);
            apiserver_args.extend(EksAuthenticator::apiserver_args(&dir));
        }
        apiserver_args.extend(options.extra_apiserver_args.iter().cloned());
        plane.processes.push(ManagedProcess::spawn(
            "kube-apiserver",
            &assets.kube_apiserver,
            &apiserver_args,
            &dir.join("kube-apiserver.log"),
        )?);

        plane.admin = plane.kubeconfig_for(ADMIN_USER, Some("system:masters"))?;
        plane.admin_yaml = kubeconfig::to_yaml(&plane.admin)?;
        plane.kubeconfig_path = dir.join("kubeconfig");
        write_secret(&plane.kubeconfig_path, &plane.admin_yaml)?;
        let client = kubeconfig::client(plane.admin.clone()).await?;
        let apiserver = &plane.processes[1];
        wait_ready(
            apiserver,
            "kube-apiserver /readyz",
            options.start_timeout,
            || async {
                let request = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                client
                    .request_text(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )
        .await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        wait_ready(
            apiserver,
            "the default namespace",
            options.start_timeout,
            || async {
                namespaces
                    .get("default")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )
        .await?;

        let mut crds = Vec::new();
        for crd_dir in &options.crd_dirs {
            crds.extend(load_crds(crd_dir)?);
        }
        plane.crds = install_crds(&client, &crds, Duration::from_secs(30)).await?;

        if options.controller_manager
            && let Some(kcm) = &assets.kube_controller_manager
        {
            let identity = plane
                .pki
                .issue_client("system:kube-controller-manager", Some("system:masters"))?;
            let kcm_kubeconfig = dir.join("kube-controller-manager.kubeconfig");
            let yaml = kubeconfig::to_yaml(&kubeconfig::kubeconfig(
                &plane.server_url,
                plane.pki.ca_pem(),
                "system:kube-controller-manager",
                &identity,
            )?)?;
            write_secret(&kcm_kubeconfig, &yaml)?;
            let args = vec![
                format!("--kubeconfig={}", kcm_kubeconfig.display()),
                "--controllers=garbage-collector-controller,namespace-controller".to_owned(),
                // Controllers act as the manager's own identity, so no token controller is needed.
                "--use-service-account-credentials=false".to_owned(),
                "--leader-elect=false".to_owned(),
                "--bind-address=127.0.0.1".to_owned(),
                // No serving endpoint at all: nothing scrapes it, and it needs no free port.
                "--secure-port=0".to_owned(),
            ];
            plane.processes.push(ManagedProcess::spawn(
                "kube-controller-manager",
                kcm,
                &args,
                &dir.join("kube-controller-manager.log"),
            )?);
        }
        if options.cluster_api {
            let assets = ClusterApiAssets::from_env()?;
            let manager_kubeconfig_yaml =
                kubeconfig::to_yaml(&plane.kubeconfig_for(crate::capi::MANAGER_USER, None)?)?;
            let (manager, crds) = crate::capi::start(
                crate::capi::PlaneAccess {
                    admin: &client,
                    pki: &plane.pki,
                    dir: &dir,
                    manager_kubeconfig_yaml,
                    timeout: options.start_timeout,
                },
                &assets,
            )
            .await?;
            plane.processes.push(manager);
            plane.crds.extend(crds);
            plane.cluster_api = Some(assets);
        }
        if options.provider_terraform {
            let assets = crate::provider_terraform::ProviderTerraformAssets::from_env()?;
            let (provider, crds) = crate::provider_terraform::start(
                &client,
                &dir,
                &plane.kubeconfig_path,
                &assets,
                options.start_timeout,
            )
            .await?
            .into_parts();
            plane.processes.push(provider);
            plane.crds.extend(crds);
        }
        // A process that died in the meantime (a bad flag makes kube-controller-manager exit at
        // once) should fail the start, not a test later on.
        for process in &plane.processes {
            process.check_running()?;
        }
        plane.startup = started.elapsed();
        tracing::info!(
            server = plane.server_url,
            dir = %plane.dir.display(),
            startup = ?plane.startup,
            crds = plane.crds.len(),
            "test control plane ready"
        );
        Ok(plane)
    }

    /// The Cluster API binaries and manifests, when the plane runs the Cluster API manager
    /// ([`PlaneOptions::cluster_api`]).
    pub fn cluster_api(&self) -> Option<&ClusterApiAssets> {
        self.cluster_api.as_ref()
    }

    /// The EKS authenticator stand-in, when the plane runs one ([`PlaneOptions::eks_authenticator`]).
    pub fn eks(&self) -> Option<&EksAuthenticator> {
        self.eks.as_ref()
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The CA certificate (PEM) that signed the serving and client certificates.
    pub fn ca_pem(&self) -> &str {
        self.pki.ca_pem()
    }

    /// The admin kubeconfig (user `admin`, group `system:masters`, credentials embedded).
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.admin
    }

    /// The admin kubeconfig as YAML.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.admin_yaml
    }

    /// Path of the admin kubeconfig file (`KUBECONFIG=<this> kubectl ...` while a test runs).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// A new admin client, bound to the calling tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Kube`] if the client cannot be built.
    pub async fn client(&self) -> Result<Client> {
        kubeconfig::client(self.admin.clone()).await
    }

    /// A kubeconfig authenticating as `user` in `group` with a fresh client certificate. The
    /// user has no permissions until RBAC grants some (only `system:masters` bypasses RBAC).
    ///
    /// # Errors
    ///
    /// [`Error::Pki`] if the certificate cannot be issued.
    pub fn kubeconfig_for(&self, user: &str, group: Option<&str>) -> Result<Kubeconfig> {
        let identity: CertifiedKey = self.pki.issue_client(user, group)?;
        kubeconfig::kubeconfig(&self.server_url, self.pki.ca_pem(), user, &identity)
    }

    /// A client authenticated as `user` in `group` (see [`kubeconfig_for`](Self::kubeconfig_for)).
    ///
    /// # Errors
    ///
    /// [`Error::Pki`] or [`Error::Kube`].
    pub async fn client_for(&self, user: &str, group: Option<&str>) -> Result<Client> {
        kubeconfig::client(self.kubeconfig_for(user, group)?).await
    }

    /// Whether kube-controller-manager (garbage collector, namespace controller) is running.
    pub fn has_controller_manager(&self) -> bool {
        self.processes
            .iter()
            .any(|p| p.name() == "kube-controller-manager")
    }

    /// `Ok` when kube-controller-manager runs; else an error saying how to get it. For tests that
    /// need garbage collection: like a missing API server, a missing controller-manager fails
    /// the test rather than skipping it.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAssets`] when it is not running.
    pub fn require_controller_manager(&self) -> Result<()> {
        if self.has_controller_manager() {
            return Ok(());
        }
        Err(Error::MissingAssets(
            "this test needs kube-controller-manager (garbage collector), which is not running: \
             put it next to kube-apiserver in KUBEBUILDER_ASSETS or set \
             TEST_ASSET_KUBE_CONTROLLER_MANAGER; tools/k8sbins/build.sh builds it (envtest's \
             downloads do not include it)"
                .to_owned(),
        ))
    }

    /// The names of the CRDs installed at start-up.
    pub fn installed_crds(&self) -> &[String] {
        &self.crds
    }

    /// Requests `user` made between `from` and `to`, from the API server's audit log.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the log cannot be read.
    pub fn audit_events(
        &self,
        user: &str,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Vec<crate::audit::AuditEvent>> {
        crate::audit::events(&self.dir.join("audit.log"), user, from, to)
    }
    /// The plane's directory (etcd data, certificates, kubeconfigs, one log per process).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last `lines` lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> Option<String> {
        self.processes
            .iter()
            .find(|p| p.name() == component)
            .map(|p| crate::process::log_tail(p.log(), lines))
    }

    /// How long start-up took, from spawning etcd to the CRDs being established.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The process ids of the running components, in start order.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes.iter().map(|p| (p.name(), p.pid())).collect()
    }

    /// Kills the processes and removes the directory (unless `CAPT_TEST_KEEP=1`).
    pub fn stop(self) {
        // Drop does the work.
    }

    fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        for process in self.processes.iter().rev() {
            process.kill();
        }
        if self.keep_dir {
            eprintln!("capt-testkit: kept {} (CAPT_TEST_KEEP=1)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for TestControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for TestControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestControlPlane")
            .field("server_url", &self.server_url)
            .field("dir", &self.dir)
            .field("processes", &self.pids())
            .finish_non_exhaustive()
    }
}

/// The shared plane, or a panic with the reason it cannot start.
///
/// For tests: a test that needs an API server and has none must fail, never pass or skip, and
/// the panic message says how to get the binaries.
///
/// # Panics
///
/// When the shared plane cannot start (see [`TestControlPlane::shared`]).
pub async fn shared_plane() -> &'static TestControlPlane {
    match TestControlPlane::shared().await {
        Ok(plane) => plane,
        Err(e) => panic!("{e}"),
    }
}

/// Registers (once) an `atexit` hook that stops the shared plane when the test binary exits
/// normally. Statics are never dropped, so without it the data directory would stay behind (the
/// processes would still die through `PR_SET_PDEATHSIG`).
fn register_exit_cleanup() {
    extern "C" fn stop_shared_plane() {
        if let Some(Ok(plane)) = SHARED.get() {
            plane.shutdown();
        }
    }
    // SAFETY: `atexit` only stores the function pointer; the hook touches no thread-locals and
    // cannot unwind (`shutdown` uses non-blocking locks and ignores errors).
    let registered = unsafe { libc::atexit(stop_shared_plane) };
    if registered != 0 {
        tracing::warn!("cannot register the exit hook; the plane directory will stay behind");
    }
}

/// Polls `probe` until it succeeds, failing early with the process's log tail when it exits.
async fn wait_ready<F, Fut>(
    process: &ManagedProcess,
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        process.check_running()?;
        match probe().await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            let tail = crate::process::log_tail(process.log(), 20);
            return Err(Error::Timeout {
                what: what.to_owned(),
                timeout,
                last: format!("{last}; last lines of {}:\n{tail}", process.log().display()),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /health` on etcd's client port; healthy when it answers 200 with `"health":"true"`.
async fn etcd_healthy(port: u16) -> std::result::Result<(), String> {
    let response = crate::http::get(port, "/health")
        .await
        .map_err(|e| e.to_string())?;
    if response.status == 200 && response.body.replace(' ', "").contains("\"health\":\"true\"") {
        Ok(())
    } else {
        Err(format!(
            "etcd answered {}: {}",
            response.status,
            response.body.trim()
        ))
    }
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io("write", path, e))
}

/// Writes a file readable by the owner only (keys, kubeconfigs).
fn write_secret(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::io("write", path, e))
}
