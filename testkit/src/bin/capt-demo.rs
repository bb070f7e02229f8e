//! `capt-demo` (`make demo`): the operator at work, on this machine, in about a minute.
//!
//! It starts its **own** local control plane (etcd + kube-apiserver + kube-controller-manager from
//! `KUBEBUILDER_ASSETS`, in a fresh directory) and never reads `KUBECONFIG` or a current context,
//! so it cannot touch a cluster the user did not ask for. Then it runs `capt-operator` as a
//! separate process (the real binary, bound only to `manifests/rbac/role.yaml`), plays
//! provider-terraform with the in-process Workspace **simulator** (no Terraform, no AWS), applies
//! `manifests/samples/`, shows live progress, deletes the control plane's Workspace to show
//! self-healing, prints and renders the dependency graph, and stops everything.
//!
//! Exit status: 0 when the control plane became Ready, degraded and recovered; 1 on any failure,
//! with the reason and the tail of the operator's log; 130 on Ctrl-C.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use capt_controlplane::api::{CAPTControlPlane, CLUSTER_NAME_LABEL};
use capt_controlplane::graph::{DependencyGraph, rendered_workspace_name};
use capt_testkit::http;
use capt_testkit::util::parse_duration;
use capt_testkit::{PlaneOptions, Script, SimulatedCluster, Simulator, SimulatorConfig, TestControlPlane};
use clap::Parser;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Client, ResourceExt as _};
use serde_json::json;

/// The namespace the samples go to.
const NAMESPACE: &str = "capt-demo";
/// The samples' Cluster and control plane.
const CLUSTER: &str = "demo";
const CONTROL_PLANE: &str = "demo-control-plane";
/// The Secret the sample control plane's `tokenCredentialsRef` names.
const TOKEN_CREDENTIALS: &str = "demo-token-credentials";
/// Field manager of the demo's server-side applies.
const FIELD_MANAGER: &str = "capt-demo";
/// The identity the operator runs as: a plain user bound to the shipped ClusterRole, so the demo
/// also shows that `manifests/rbac/role.yaml` is enough.
const OPERATOR_USER: &str = "capt-operator-demo";
/// How long each phase may take before the demo gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs capt-operator against a private local control plane with a simulated provider-terraform,
/// and shows a control plane being provisioned, broken and healed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Directory for the operator log and the rendered graph.
    #[arg(long, default_value_os_t = repo_root().join("target/demo"))]
    dir: PathBuf,
    /// Where to write the dependency graph as SVG (default: <dir>/graph.svg). Without graphviz's
    /// `dot`, the DOT source is written next to it instead.
    #[arg(long)]
    out: Option<PathBuf>,
    /// How long the simulated `terraform apply` of each Workspace takes.
    #[arg(long, default_value = "12s", value_parser = duration)]
    create_delay: Duration,
    /// Keep everything running after the demo, for exploration with kubectl, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration such as 12s or 1m"))
}

/// The repository the samples and CRDs are read from.
fn repo_root() -> PathBuf {
    capt_testkit::util::repo_root()
}

/// A failure: what went wrong, in words for the terminal.
#[derive(Debug)]
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `.context("doing x")?` turns any error into a [`Failure`] that says what was being done.
trait Context<T> {
    fn context(self, what: &str) -> Result<T, Failure>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure(format!("{what}: {e}")))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut demo = Demo::default();
    let outcome = tokio::select! {
        // Biased: with --keep-running, `run` waits for Ctrl-C itself and then ends successfully;
        // both see the same signal, and that branch must win.
        biased;
        outcome = demo.run(&args) => outcome.map(|()| ExitCode::SUCCESS),
        _ = tokio::signal::ctrl_c() => {
            println!("\nInterrupted; stopping.");
            Ok(ExitCode::from(130))
        }
    };
    let code = match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("\ncapt-demo failed: {failure}");
            if let Some(log) = &demo.operator_log {
                eprintln!(
                    "last lines of the operator log ({}):\n{}",
                    log.display(),
                    tail(log, 25)
                );
            }
            ExitCode::FAILURE
        }
    };
    demo.stop().await;
    code
}

/// Everything the demo started, stopped in reverse order by [`Demo::stop`] (and, should the demo
/// itself die, by the children's kill-on-drop and the plane's parent-death signal).
#[derive(Default)]
struct Demo {
    plane: Option<TestControlPlane>,
    operator: Option<tokio::process::Child>,
    operator_log: Option<PathBuf>,
    simulator: Option<capt_testkit::SimulatorHandle>,
}

impl Demo {
    async fn run(&mut self, args: &Args) -> Result<(), Failure> {
        let started = Instant::now();
        std::fs::create_dir_all(&args.dir).context(&format!("creating {}", args.dir.display()))?;
        println!("capt-demo: capt-operator against a private local control plane.");
        println!(
            "Provider-terraform is SIMULATED (no Terraform, no AWS): Workspaces take {} to \"apply\"\n\
             and report this local API server as the \"EKS\" endpoint.",
            fmt_duration(args.create_delay)
        );

        // 1. The control plane. Its own directory and kubeconfig; KUBECONFIG is never read.
        step("Starting etcd + kube-apiserver + kube-controller-manager (KUBEBUILDER_ASSETS)");
        let plane = TestControlPlane::start(PlaneOptions::default())
            .await
            .context("starting the local control plane (run `tools/k8sbins/build.sh` and export KUBEBUILDER_ASSETS=<its output>; `make demo` does both)")?;
        println!(
            "  API server {} ready in {:.1}s; CRDs installed: {}",
            plane.server_url(),
            plane.startup_time().as_secs_f64(),
            plane.installed_crds().len()
        );
        let client = plane
            .client()
            .await
            .context("connecting to the local API server")?;
        let plane = self.plane.insert(plane);

        // 2. The operator, as its own process and its own (RBAC-limited) user.
        step("Starting capt-operator (its own process, bound to manifests/rbac/role.yaml)");
        bind_operator_role(&client).await?;
        let kubeconfig = args.dir.join("operator.kubeconfig");
        let operator_config = plane
            .kubeconfig_for(OPERATOR_USER, None)
            .context("issuing the operator's client certificate")?;
        let yaml =
            capt_testkit::kubeconfig::to_yaml(&operator_config).context("writing the operator kubeconfig")?;
        write_private(&kubeconfig, &yaml)?;
        let log = args.dir.join("operator.log");
        let (child, health_port, metrics_port) = start_operator(&kubeconfig, &log).await?;
        self.operator_log = Some(log.clone());
        self.operator = Some(child);
        wait_operator_ready(self.operator.as_mut(), health_port).await?;
        println!(
            "  ready: /metrics on 127.0.0.1:{metrics_port}, /readyz on 127.0.0.1:{health_port}, JSON log {}",
            log.display()
        );

        // 3. The simulated provider, in this process.
        step("Starting the provider-terraform SIMULATOR (in-process)");
        self.simulator = Some(Simulator::spawn(
            client.clone(),
            SimulatorConfig::new(SimulatedCluster::from_plane(plane))
                .in_namespace(NAMESPACE)
                .with_default_script(
                    Script::new()
                        .create_delay(args.create_delay)
                        .destroy_delay(Duration::from_secs(2)),
                ),
        ));

        // 4. The samples.
        step(&format!(
            "Applying manifests/samples/ to namespace {NAMESPACE} (server-side apply)"
        ));
        apply_samples(&client).await?;
        // The sample's tokenCredentialsRef, with the test identity the local API server accepts
        // (its EKS authenticator stand-in), in place of real AWS credentials.
        create_token_credentials(&client).await?;
        if let Some(eks) = plane.eks() {
            eks.accept_cluster(CLUSTER);
        }

        // 5. Provisioning, live.
        step("Provisioning (live; the simulator's apply is the slow part)");
        let cps: Api<CAPTControlPlane> = Api::namespaced(client.clone(), NAMESPACE);
        let mut view = LiveView::new();
        let ready = view
            .follow(&cps, "Ready", |cp| state(cp) == Some("Ready"))
            .await?;

        // 6. Break it.
        let workspace = control_plane_workspace(&ready);
        step(&format!(
            "Breaking it: deleting Workspace {NAMESPACE}/{workspace} (as if someone ran `kubectl delete workspace`)"
        ));
        let workspaces =
            Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &workspace_resource());
        workspaces
            .delete(&workspace, &DeleteParams::default())
            .await
            .context(&format!("deleting Workspace {workspace}"))?;
        let healed = view
            // The first Ready → Degraded is the one this deletion caused (the history is bounded,
            // so its length is no measure of progress).
            .follow(&cps, "Degraded → Ready", |cp| {
                state(cp) == Some("Ready")
                    && history(cp)
                        .iter()
                        .any(|(from, to)| from == "Ready" && to == "Degraded")
            })
            .await?;
        print_recovery(&healed);

        step(&format!(
            "The operator's metrics (GET 127.0.0.1:{metrics_port}/metrics, excerpt)"
        ));
        print_metrics(metrics_port).await;

        // 7. The dependency graph.
        step("Dependency graph (status.dependencyGraph)");
        let graph_status = healed
            .status
            .as_ref()
            .and_then(|s| s.dependency_graph.as_ref())
            .ok_or_else(|| Failure("the control plane has no status.dependencyGraph".into()))?;
        let graph = DependencyGraph::from_status(graph_status).context("reading status.dependencyGraph")?;
        print!("{}", indent(&graph.to_text_tree()));
        let svg = args.out.clone().unwrap_or_else(|| args.dir.join("graph.svg"));
        write_graph(&graph.to_dot(), &svg)?;

        println!(
            "\nDone in {:.0}s: provisioned, degraded, recovered.",
            started.elapsed().as_secs_f64()
        );
        if args.keep_running {
            self.keep_running(plane_kubeconfig(self.plane.as_ref())?).await;
        }
        Ok(())
    }

    /// Waits for Ctrl-C with everything up, after saying how to look around.
    async fn keep_running(&self, kubeconfig: PathBuf) {
        println!("\nEverything keeps running (--keep-running). In another terminal:\n");
        println!("  export KUBECONFIG={}", kubeconfig.display());
        // kubectl finds plugins on PATH; `make demo` builds kubectl-capt next to this binary.
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_owned))
            && dir.join("kubectl-capt").is_file()
        {
            println!(
                "  export PATH={}:$PATH   # the kubectl-capt plugin",
                dir.display()
            );
        }
        println!("  kubectl get captcontrolplanes -A");
        println!("  kubectl capt status -A");
        println!("  kubectl capt graph -n {NAMESPACE} {CONTROL_PLANE}");
        println!(
            "  kubectl -n {NAMESPACE} delete workspace {CONTROL_PLANE}-eks-controlplane   # break it again"
        );
        if let Some(log) = &self.operator_log {
            println!("  tail -f {}", log.display());
        }
        println!("\nCtrl-C stops everything.");
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handler: nothing could ever stop us gracefully, so stop now.
            eprintln!("cannot listen for Ctrl-C; stopping instead of keeping everything running");
        }
    }

    /// Stops the operator (SIGTERM, then wait), the simulator and the plane.
    async fn stop(&mut self) {
        let mut stopped = Vec::new();
        if let Some(mut child) = self.operator.take() {
            stopped.push("the operator");
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
                Ok(Ok(status)) if !status.success() => {
                    eprintln!("capt-operator exited with {status} on SIGTERM");
                }
                Ok(_) => {}
                Err(_) => {
                    eprintln!("capt-operator did not stop within 20s of SIGTERM; killing it");
                    let _ = child.kill().await;
                }
            }
        }
        if let Some(simulator) = self.simulator.take() {
            simulator.shutdown().await;
            stopped.push("the simulator");
        }
        if let Some(plane) = self.plane.take() {
            plane.stop();
            stopped.push("the local control plane");
        }
        if !stopped.is_empty() {
            println!("Stopped {}.", stopped.join(", "));
        }
    }
}

fn plane_kubeconfig(plane: Option<&TestControlPlane>) -> Result<PathBuf, Failure> {
    plane
        .map(|p| p.kubeconfig_path().to_owned())
        .ok_or_else(|| Failure("the control plane is not running".into()))
}

fn step(text: &str) {
    println!("\n==> {text}");
}

/// Binds the ClusterRole of `manifests/rbac/role.yaml` to the operator's user.
async fn bind_operator_role(client: &Client) -> Result<(), Failure> {
    let role = capt_testkit::rbac::operator_role().context("reading manifests/rbac/role.yaml")?;
    capt_testkit::rbac::bind_cluster_role(client, &role, OPERATOR_USER)
        .await
        .context("binding the operator's ClusterRole")?;
    Ok(())
}

/// `capt-operator`, next to this binary in cargo's target directory (`make demo` builds both).
fn operator_binary() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe().context("locating capt-demo")?;
    let dir = exe
        .parent()
        .ok_or_else(|| Failure(format!("{} has no parent directory", exe.display())))?;
    let binary = dir.join("capt-operator");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(Failure(format!(
            "{} not found: build it first with `cargo build --bin capt-operator` (`make demo` does)",
            binary.display()
        )))
    }
}

/// Starts capt-operator with the demo's kubeconfig and free loopback ports; returns the child
/// and its health and metrics ports.
async fn start_operator(kubeconfig: &Path, log: &Path) -> Result<(tokio::process::Child, u16, u16), Failure> {
    let binary = operator_binary()?;
    let (health_port, metrics_port) = (free_port()?, free_port()?);
    let stdout = std::fs::File::create(log).context(&format!("creating {}", log.display()))?;
    let stderr = stdout.try_clone().context("duplicating the log file handle")?;
    let child = tokio::process::Command::new(&binary)
        .args(["--namespace", NAMESPACE, "--log-format", "json"])
        // Health checks every 5 s instead of every minute, so a break shows at once.
        .args(["--health-interval-seconds", "5"])
        .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg(format!("--health-addr=127.0.0.1:{health_port}"))
        // Only this kubeconfig: not the user's, and not an in-cluster config either.
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .context(&format!("starting {}", binary.display()))?;
    Ok((child, health_port, metrics_port))
}

/// Polls `/readyz` until it answers 200 (the operator's caches have synced).
async fn wait_operator_ready(child: Option<&mut tokio::process::Child>, port: u16) -> Result<(), Failure> {
    let child = child.ok_or_else(|| Failure("the operator is not running".into()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().context("checking the operator process")? {
            return Err(Failure(format!(
                "capt-operator exited during start-up with {status}"
            )));
        }
        if http::get(port, "/readyz").await.is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure("capt-operator did not become ready within 60s".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A few of the operator's own Prometheus series, to show they are real.
async fn print_metrics(port: u16) {
    let Ok(http::Response { body, .. }) = http::get(port, "/metrics").await else {
        println!("  (the metrics endpoint did not answer)");
        return;
    };
    let wanted = [
        "capt_controlplanes{",
        "capt_transitions_total",
        "capt_reconciles_total",
    ];
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && wanted.iter().any(|w| l.starts_with(w)))
        .filter(|l| !l.ends_with(" 0"))
    {
        println!("  {line}");
    }
}

fn free_port() -> Result<u16, Failure> {
    // Bound and released at once: the operator binds it a moment later (a race with another
    // process taking it is possible but unlikely on loopback; start-up would fail clearly).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener
        .local_addr()
        .context("finding a free loopback port")?
        .port())
}

fn write_private(path: &Path, contents: &str) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .context(&format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .context(&format!("writing {}", path.display()))
}

/// Server-side applies every document of `manifests/samples/*.yaml`: cluster-scoped ones as they
/// are, namespaced ones into [`NAMESPACE`].
///
/// No Cluster API controller runs here, so nothing would set the control plane's ownerReference
/// to its Cluster, as Cluster API does; the demo sets it itself (the sample also carries the
/// `cluster.x-k8s.io/cluster-name` label, the operator's fallback).
async fn apply_samples(client: &Client) -> Result<(), Failure> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            NAMESPACE,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})),
        )
        .await
        .context(&format!("creating namespace {NAMESPACE}"))?;

    let dir = repo_root().join("manifests/samples");
    let mut documents = Vec::new();
    for path in capt_testkit::crds::yaml_files(&dir).context(&format!("listing {}", dir.display()))? {
        let text = std::fs::read_to_string(&path).context(&format!("reading {}", path.display()))?;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).context(&format!("parsing {}", path.display()))?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        documents.extend(
            docs.into_iter()
                .filter(|d| d.is_object())
                .map(|d| (file.clone(), d)),
        );
    }
    // The Cluster first: the control plane's ownerReference needs its uid.
    documents.sort_by_key(|(_, d)| d["kind"] != "Cluster");
    let mut cluster_uid = None;
    for (file, mut doc) in documents {
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if kind == "CAPTControlPlane" && name == CONTROL_PLANE {
            let uid: &String = cluster_uid
                .as_ref()
                .ok_or_else(|| Failure(format!("the samples have no Cluster {CLUSTER}")))?;
            adapt_control_plane(&mut doc, uid);
        }
        let applied = apply(client, &doc)
            .await
            .context(&format!("applying {kind} {name} from {file}"))?;
        if kind == "Cluster" && name == CLUSTER {
            cluster_uid = applied.uid();
        }
        println!("  {file:<42} {kind}/{name}");
    }
    println!(
        "  (no Cluster API controllers run here: the demo itself set {CONTROL_PLANE}'s ownerReference to \
         Cluster {CLUSTER},\n   and shortened the sample's first recovery delay from 30s to 3s)"
    );
    Ok(())
}

/// The Secret the sample control plane's `tokenCredentialsRef` names, holding the test AWS
/// identity ([`capt_testkit::eks`]).
async fn create_token_credentials(client: &Client) -> Result<(), Failure> {
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TOKEN_CREDENTIALS, "namespace": NAMESPACE},
        "stringData": {"credentials": capt_testkit::eks::credentials_file()},
    });
    apply(client, &secret)
        .await
        .context(&format!("creating Secret {TOKEN_CREDENTIALS}"))?;
    println!(
        "  Secret/{TOKEN_CREDENTIALS}: the test AWS identity the local API server accepts, for the EKS token"
    );
    Ok(())
}

/// What Cluster API would do (the ownerReference), and a shorter first recovery delay: the
/// sample waits 30s before its first recovery attempt, which is right for EKS but long for a demo.
fn adapt_control_plane(doc: &mut serde_json::Value, cluster_uid: &str) {
    doc["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "name": CLUSTER,
        "uid": cluster_uid,
    }]);
    if doc["metadata"]["labels"][CLUSTER_NAME_LABEL].is_null() {
        doc["metadata"]["labels"][CLUSTER_NAME_LABEL] = json!(CLUSTER);
    }
    if doc["spec"]["recoveryStrategy"]["backoff"].is_object() {
        doc["spec"]["recoveryStrategy"]["backoff"]["initialDelay"] = json!("3s");
        doc["spec"]["recoveryStrategy"]["backoff"]["jitter"] = json!(0);
    }
}

/// Server-side apply of one document, its resource found by discovery.
async fn apply(client: &Client, doc: &serde_json::Value) -> Result<DynamicObject, Failure> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let name = doc["metadata"]["name"]
        .as_str()
        .ok_or_else(|| Failure("a document without metadata.name".into()))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .context(&format!("discovering {api_version} {kind}"))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), NAMESPACE, &resource),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let mut doc = doc.clone();
    if capabilities.scope == Scope::Namespaced {
        doc["metadata"]["namespace"] = json!(NAMESPACE);
    }
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&doc),
    )
    .await
    .map_err(|e| Failure(e.to_string()))
}

fn workspace_resource() -> kube::core::ApiResource {
    kube::core::ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tf.m.upbound.io", "v1beta1", "Workspace"),
        "workspaces",
    )
}

/// The Workspace the control plane's WorkspaceTemplateApply renders.
fn control_plane_workspace(cp: &CAPTControlPlane) -> String {
    let apply = cp
        .spec
        .workspace_template_apply_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| capt_controlplane::graph::default_apply_name(&cp.name_any()));
    rendered_workspace_name(&apply).to_owned()
}

fn state(cp: &CAPTControlPlane) -> Option<&str> {
    cp.status.as_ref().and_then(|s| s.state.as_deref())
}

/// The transitions recorded in status, oldest first.
fn history(cp: &CAPTControlPlane) -> Vec<(String, String)> {
    cp.status
        .as_ref()
        .and_then(|s| s.progress.as_ref())
        .map(|p| p.history.iter().map(|r| (r.from.clone(), r.to.clone())).collect())
        .unwrap_or_default()
}

fn print_recovery(cp: &CAPTControlPlane) {
    let Some(status) = &cp.status else { return };
    if let Some(recovery) = &status.recovery {
        for attempt in &recovery.history {
            println!(
                "  recovery: {} because {}: {}",
                attempt.action.as_str(),
                attempt.trigger,
                attempt.result.as_deref().unwrap_or("in progress")
            );
        }
    }
    if let Some(health) = &status.health {
        println!(
            "  health: degradations {}, availability {}%",
            health.degradations,
            health
                .availability_percent
                .map_or("-".to_owned(), |p| p.to_string())
        );
    }
}

/// The live progress display: one line per control plane, redrawn in place on a terminal; on
/// anything else (a pipe, a CI log) a line is appended only when it changes. Transitions are
/// printed as permanent lines above the live ones, from `status.progress.history`, so a state
/// that lasted less than a poll interval is still shown.
struct LiveView {
    tty: bool,
    /// Terminal width: live lines are cut to fit, since a wrapped line would break the redraw.
    columns: usize,
    /// Live lines currently on screen (TTY only).
    drawn: usize,
    /// The last line printed per control plane (non-TTY only).
    last: BTreeMap<String, String>,
    /// Transitions already printed, per control plane, by (time, from, to).
    seen: BTreeMap<String, std::collections::BTreeSet<(String, String, String)>>,
    started: Instant,
}

impl LiveView {
    fn new() -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            columns: terminal_columns().unwrap_or(110),
            drawn: 0,
            last: BTreeMap::new(),
            seen: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// Polls the control planes until `done` holds for [`CONTROL_PLANE`], showing progress.
    async fn follow(
        &mut self,
        cps: &Api<CAPTControlPlane>,
        goal: &str,
        done: impl Fn(&CAPTControlPlane) -> bool,
    ) -> Result<CAPTControlPlane, Failure> {
        let deadline = Instant::now() + PHASE_TIMEOUT;
        loop {
            let list = cps
                .list(&Default::default())
                .await
                .context("listing control planes")?;
            self.show(&list.items);
            if let Some(cp) = list
                .items
                .iter()
                .find(|cp| cp.name_any() == CONTROL_PLANE && done(cp))
            {
                self.finish_live();
                return Ok(cp.clone());
            }
            if Instant::now() >= deadline {
                self.finish_live();
                let now = list.items.iter().find(|cp| cp.name_any() == CONTROL_PLANE);
                return Err(Failure(format!(
                    "{CONTROL_PLANE} did not reach {goal} within {}s; last seen: {}",
                    PHASE_TIMEOUT.as_secs(),
                    now.map_or("not found".to_owned(), describe)
                )));
            }
            tokio::time::sleep(Duration::from_millis(if self.tty { 250 } else { 500 })).await;
        }
    }

    fn show(&mut self, cps: &[CAPTControlPlane]) {
        let mut out = std::io::stdout().lock();
        if self.tty && self.drawn > 0 {
            // Back to the first live line and clear everything below it.
            let _ = write!(out, "\x1b[{}F\x1b[J", self.drawn);
        }
        for cp in cps {
            let name = cp.name_any();
            let seen = self.seen.entry(name.clone()).or_default();
            let records = cp
                .status
                .as_ref()
                .and_then(|s| s.progress.as_ref())
                .map(|p| p.history.as_slice())
                .unwrap_or_default();
            for r in records {
                let key = (r.time.0.to_string(), r.from.clone(), r.to.clone());
                if seen.insert(key) {
                    let took = r
                        .duration
                        .as_deref()
                        .map(|d| format!(" after {d}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  [{:>5.1}s] {name}: {} → {}{took} ({})",
                        self.started.elapsed().as_secs_f64(),
                        r.from,
                        r.to,
                        r.reason
                    );
                }
            }
        }
        let lines: Vec<String> = cps.iter().map(progress_line).collect();
        if self.tty {
            for line in &lines {
                let _ = writeln!(
                    out,
                    "  {}",
                    truncate(line, self.columns.saturating_sub(3).max(20))
                );
            }
            self.drawn = lines.len();
        } else {
            for (cp, line) in cps.iter().zip(lines) {
                if self.last.get(&cp.name_any()) != Some(&line) {
                    let _ = writeln!(out, "  {line}");
                    self.last.insert(cp.name_any(), line);
                }
            }
        }
        let _ = out.flush();
    }

    /// Leaves the live lines on screen as they are; the next phase starts below them.
    fn finish_live(&mut self) {
        self.drawn = 0;
        self.last.clear();
    }
}

/// `name  State  [#####.....]  45%  ETA 20s  current operation`.
fn progress_line(cp: &CAPTControlPlane) -> String {
    const WIDTH: usize = 20;
    let progress = cp.status.as_ref().and_then(|s| s.progress.as_ref());
    let percent = progress.map_or(0, |p| p.percent_complete.clamp(0, 100)) as usize;
    let filled = percent * WIDTH / 100;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
    let eta = progress
        .and_then(|p| p.estimated_time_remaining.clone())
        .unwrap_or_else(|| "-".to_owned());
    let operation = progress
        .map(|p| p.current_operation.as_str())
        .unwrap_or("waiting for the operator");
    format!(
        "{:<20} {:<12} [{bar}] {percent:>3}%  ETA {eta:<6} {operation}",
        cp.name_any(),
        state(cp).unwrap_or("Pending"),
    )
}

fn describe(cp: &CAPTControlPlane) -> String {
    let conditions: Vec<String> = cp
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .filter(|c| c.status != "True")
        .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
        .collect();
    format!("{}; false conditions: {conditions:?}", progress_line(cp))
}

/// The width of the terminal on stdout, if it is one.
fn terminal_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to a live,
    // properly aligned value for the duration of the call; on failure nothing is written.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

fn truncate(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// Writes `dot` rendered as SVG to `svg` with graphviz; without `dot` on PATH, writes the DOT
/// source next to it (`.dot`) and says so.
fn write_graph(dot: &str, svg: &Path) -> Result<(), Failure> {
    if let Some(dir) = svg.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).context(&format!("creating {}", dir.display()))?;
    }
    let dot_path = svg.with_extension("dot");
    std::fs::write(&dot_path, dot).context(&format!("writing {}", dot_path.display()))?;
    match std::process::Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(svg)
        .arg(&dot_path)
        .status()
    {
        Ok(status) if status.success() => {
            println!(
                "  wrote {} (and its DOT source {})",
                svg.display(),
                dot_path.display()
            );
            Ok(())
        }
        Ok(status) => Err(Failure(format!(
            "`dot -Tsvg` failed with {status} on {}",
            dot_path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "  graphviz's `dot` is not installed, so no SVG: wrote the DOT source to {} (render it with `dot -Tsvg`)",
                dot_path.display()
            );
            Ok(())
        }
        Err(e) => Err(Failure(format!("running dot: {e}"))),
    }
}

fn fmt_duration(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// The last `lines` lines of a file, or why it cannot be read.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}
