//! Scale benchmark against a real API server (issue 7): N control planes, one `capt-operator`
//! process, the provider-terraform simulator, and the API server's own view of the traffic.
//!
//! ```sh
//! export CARGO_TARGET_DIR=$HOME/.cache/capt-controlplane/target
//! export KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)
//! cargo build --release --bin capt-operator
//! cargo bench --bench scale -- 10 100 1000
//! ```
//!
//! For each N, on a **fresh** API server (so audit log, `/metrics` counters and the operator's
//! peak RSS belong to that N alone):
//!
//! 1. start etcd + kube-apiserver (no kube-controller-manager: nothing here is garbage
//!    collected, and it would only add noise on a small machine), bind the operator's ClusterRole
//!    (`manifests/rbac/role.yaml`) to a dedicated user, and start `capt-operator` as a separate
//!    process authenticated as that user through a kubeconfig file, watching all namespaces,
//!    `--health-interval-seconds 60 --no-endpoint-probe` (the probe would be an HTTPS request to
//!    this same API server per control plane, load that is not the operator's API traffic);
//! 2. run the simulator in this process as the admin (a separate actor: its writes are not the
//!    operator's) with a one-hour create delay, the **gate**: every Workspace reaches
//!    Ready=False/Creating, Synced=True and stays there;
//! 3. create one WorkspaceTemplate, N Clusters and N CAPTControlPlanes, wait until every control
//!    plane is Provisioning and every Workspace is held;
//! 4. **release**: replace the gated simulator with one without delay at a known instant; record,
//!    with client-side watches, when each Workspace first shows Ready=True+Synced=True and when
//!    its control plane first shows `status.state: Ready`;
//! 5. a 60 s steady-state window once all are Ready;
//! 6. stop the operator and the simulator and measure what the API server sustains: two tasks
//!    server-side applying the status of the N control planes for 10 s.
//!
//! Request counts come from the audit log (the operator's user only) and from
//! `apiserver_request_total` (every client, this bench's watches and the simulator included).
//! Nothing is written to files but the plane's own directory, which is removed afterwards.
//!
//! Under `cargo test` (no `--bench` argument) it prints one line and exits: CI builds it but
//! must not spend minutes running it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, ControlPlaneConfig, CredentialsSecretReference,
    WorkspaceTemplate, WorkspaceTemplateReference,
};
use capt_testkit::{
    PlaneOptions, Script, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle, TestControlPlane,
    WorkspaceApi,
};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tokio::sync::watch;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The operator's ClusterRole, as installed by `kubectl apply -k manifests/`.
/// Namespace of every object the bench creates.
const NAMESPACE: &str = "scale";
/// The Secret of AWS credentials the control planes sign their EKS tokens with.
const TOKEN_CREDENTIALS: &str = "aws-credentials";
/// The user the operator authenticates as (the client certificate's CN).
const OPERATOR_USER: &str = "capt-operator-scale";
/// Suffix the operator gives a control plane's Workspace (`<cp>-eks-controlplane`).
const WORKSPACE_SUFFIX: &str = "-eks-controlplane";
/// Length of the steady-state window.
const STEADY_WINDOW: Duration = Duration::from_secs(60);
/// Length of the API server limit measurement, and its concurrency.
const LIMIT_WINDOW: Duration = Duration::from_secs(10);
const LIMIT_TASKS: usize = 2;
/// Requests in flight while the bench creates objects (a client, not a stress test).
const CREATE_CONCURRENCY: usize = 16;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and must not run this.
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "scale: not run outside `cargo bench --bench scale -- N...` (needs minutes and a real API server)"
        );
        return std::process::ExitCode::SUCCESS;
    }
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 100] } else { sizes };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run_all(&sizes)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_all(sizes: &[usize]) -> Result<()> {
    let operator = operator_binary()?;
    eprintln!(
        "scale: operator binary {}; extra flags {:?}",
        operator.display(),
        extra_operator_args()
    );
    let mut reports = Vec::new();
    for &n in sizes {
        eprintln!("scale: N={n}: starting a fresh API server");
        let report = run_one(n, &operator).await?;
        eprintln!("{}", report.detail());
        reports.push(report);
    }
    println!("\n{}", markdown(&reports));
    Ok(())
}

/// `<target>/<profile>/capt-operator`, next to the directory of this bench's executable
/// (`<target>/<profile>/deps/scale-<hash>`). Benches get no `CARGO_BIN_EXE_*`, so the binary must
/// have been built first.
fn operator_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1) {
        let candidate = dir.join("capt-operator");
        if candidate.is_file() {
            return Ok(candidate);
        }
        if dir.file_name().is_some_and(|n| n == "deps") {
            continue;
        }
        break;
    }
    Err(format!(
        "no capt-operator next to {}: run `cargo build --release --bin capt-operator` first",
        exe.display()
    )
    .into())
}

fn cluster_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Cluster"),
        "clusters",
    )
}

/// What one N measured.
#[derive(Debug, Default)]
struct Report {
    n: usize,
    /// Why not every control plane became Ready, when one did not: the figures below then cover
    /// only those that did.
    incomplete: Option<String>,
    /// Control planes and Workspaces that became Ready.
    cps_ready: usize,
    workspaces_ready: usize,
    /// Release instant → last Workspace Ready, last control plane Ready.
    all_workspaces_ready: Duration,
    all_ready: Duration,
    /// Last Workspace Ready → last control plane Ready.
    last_ws_to_last_cp: Duration,
    /// Workspace Ready → its control plane Ready, per control plane, sorted.
    latencies: Vec<Duration>,
    /// Operator requests from the first create to all Ready (+ settle), from the audit log.
    provisioning: Traffic,
    provisioning_seconds: f64,
    /// Operator requests in the steady-state window.
    steady: Traffic,
    /// `apiserver_request_total` deltas (every client) over the same two windows.
    metrics_provisioning: Traffic,
    metrics_steady: Traffic,
    /// Operator writes by "verb resource" during provisioning.
    provisioning_writes: BTreeMap<String, usize>,
    /// Operator requests by "verb resource" in the steady-state window.
    steady_requests: BTreeMap<String, usize>,
    rss_peak_kib: u64,
    rss_steady_kib: u64,
    cpu_provisioning: f64,
    cpu_steady: f64,
    /// Status server-side applies per second two plain client tasks achieve.
    limit_per_second: f64,
    load: String,
}

/// Write and read request counts.
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    writes: u64,
    reads: u64,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank: the smallest value with at least p% of the samples at or below it.
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn detail(&self) -> String {
        format!(
            "scale: N={}: release→all Workspaces Ready {:.2?}, →all control planes Ready {:.2?}; \
             latency p50 {:.1?} p95 {:.1?} p99 {:.1?} max {:.1?}; operator writes during provisioning {:?}; \
             steady {:?}/min {:?}; peak RSS {} KiB; CPU {:.2}+{:.2} s; limit {:.0} status applies/s; load {}",
            self.n,
            self.all_workspaces_ready,
            self.all_ready,
            self.percentile(50.0),
            self.percentile(95.0),
            self.percentile(99.0),
            self.latencies.last().copied().unwrap_or_default(),
            self.provisioning_writes,
            self.steady,
            self.steady_requests,
            self.rss_peak_kib,
            self.cpu_provisioning,
            self.cpu_steady,
            self.limit_per_second,
            self.load,
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The summary, one column per N.
fn markdown(reports: &[Report]) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    let mut row = |name: &'static str, f: &dyn Fn(&Report) -> String| {
        rows.push((name, reports.iter().map(f).collect()));
    };
    row("Workspaces / control planes Ready", &|r| {
        let mark = if r.incomplete.is_some() {
            " (timed out)"
        } else {
            ""
        };
        format!("{} / {} of {}{mark}", r.workspaces_ready, r.cps_ready, r.n)
    });
    row("release → all Workspaces Ready", &|r| ms(r.all_workspaces_ready));
    row("release → all control planes Ready", &|r| ms(r.all_ready));
    row("last Workspace Ready → last control plane Ready", &|r| {
        ms(r.last_ws_to_last_cp)
    });
    row("Workspace Ready → control plane Ready, p50", &|r| {
        ms(r.percentile(50.0))
    });
    row("… p95", &|r| ms(r.percentile(95.0)));
    row("… p99", &|r| ms(r.percentile(99.0)));
    row("… max", &|r| {
        ms(r.latencies.last().copied().unwrap_or_default())
    });
    let per = |t: u64, n: usize| format!("{:.1}", t as f64 / n as f64);
    row("operator writes per control plane, provisioning (audit)", &|r| {
        per(r.provisioning.writes, r.n)
    });
    row("operator reads per control plane, provisioning (audit)", &|r| {
        per(r.provisioning.reads, r.n)
    });
    row("operator writes/s, provisioning (audit; % of limit)", &|r| {
        let rate = r.provisioning.writes as f64 / r.provisioning_seconds.max(1e-9);
        format!("{rate:.1} ({:.0}%)", 100.0 * rate / r.limit_per_second.max(1e-9))
    });
    row("operator writes per minute, steady state (audit)", &|r| {
        r.steady.writes.to_string()
    });
    row("operator reads per minute, steady state (audit)", &|r| {
        r.steady.reads.to_string()
    });
    row(
        "all clients' writes / reads, provisioning (apiserver_request_total)",
        &|r| {
            format!(
                "{} / {}",
                r.metrics_provisioning.writes, r.metrics_provisioning.reads
            )
        },
    );
    row(
        "all clients' writes / reads per minute, steady (apiserver_request_total)",
        &|r| format!("{} / {}", r.metrics_steady.writes, r.metrics_steady.reads),
    );
    row("operator peak RSS (VmHWM)", &|r| {
        format!("{:.1} MiB", r.rss_peak_kib as f64 / 1024.0)
    });
    row("operator RSS at steady state (VmRSS)", &|r| {
        format!("{:.1} MiB", r.rss_steady_kib as f64 / 1024.0)
    });
    row("operator CPU, start → all Ready", &|r| {
        format!("{:.2} s", r.cpu_provisioning)
    });
    row("operator CPU, steady minute", &|r| {
        format!("{:.2} s", r.cpu_steady)
    });
    row("API server limit: status applies/s (2 tasks, 10 s)", &|r| {
        format!("{:.0}", r.limit_per_second)
    });
    row("load average at start (1/5/15 min)", &|r| r.load.clone());

    let mut out = String::from("| measure |");
    for r in reports {
        out.push_str(&format!(" N={} |", r.n));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(reports.len()));
    for (name, cells) in rows {
        out.push_str(&format!("\n| {name} |"));
        for c in cells {
            out.push_str(&format!(" {c} |"));
        }
    }
    out
}

/// First instants at which each object was seen in the wanted condition, keyed by control plane.
#[derive(Default)]
struct Seen {
    workspace_ready: HashMap<String, Instant>,
    cp_ready: HashMap<String, Instant>,
    cp_provisioning: HashMap<String, Instant>,
    workspace_held: HashMap<String, Instant>,
}

async fn run_one(n: usize, operator_bin: &Path) -> Result<Report> {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let plane = TestControlPlane::start(PlaneOptions {
        controller_manager: false,
        ..PlaneOptions::default()
    })
    .await?;
    let admin = plane.client().await?;
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await?;
    bind_operator_role(&admin).await?;

    // The gate: every Workspace is held Creating until the gated simulator is replaced.
    let gated = spawn_simulator(&plane, &admin, Some(Duration::from_secs(3600)));

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (progress_tx, mut progress) = watch::channel(());
    let watches = tokio::spawn(watch_progress(admin.clone(), seen.clone(), progress_tx));

    let operator = Operator::start(&plane, operator_bin).await?;
    let clk_tck = clock_ticks();

    let metrics_start = request_totals(&admin).await?;
    let provisioning_from = jiff::Timestamp::now();
    let provisioning_started = Instant::now();
    create_objects(&admin, n).await?;
    eprintln!("scale: N={n}: created in {:.1?}", provisioning_started.elapsed());

    // Generous: at N=1000 provisioning is tens of thousands of requests on a shared 2-core box.
    let hold_timeout = Duration::from_secs(120) + Duration::from_secs(1) * n as u32;
    wait_until(
        &mut progress,
        hold_timeout,
        "every control plane Provisioning with its Workspace held",
        || {
            let s = lock(&seen);
            (s.cp_provisioning.len() >= n && s.workspace_held.len() >= n)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "{} Provisioning, {} held",
                        s.cp_provisioning.len(),
                        s.workspace_held.len()
                    )
                })
        },
    )
    .await?;
    eprintln!(
        "scale: N={n}: all held after {:.1?}; releasing",
        provisioning_started.elapsed()
    );
    // Let the operator's last Provisioning writes land, so the release is all that happens next.
    tokio::time::sleep(Duration::from_secs(2)).await;

    gated.shutdown().await;
    let release = Instant::now();
    let simulator = spawn_simulator(&plane, &admin, None);
    // Past this, report what was reached instead of nothing: a run that does not finish is a
    // result too (`SCALE_READY_TIMEOUT_SECONDS` shortens it).
    let ready_timeout = std::env::var("SCALE_READY_TIMEOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(hold_timeout, Duration::from_secs);
    let outcome = wait_until(&mut progress, ready_timeout, "every control plane Ready", || {
        let s = lock(&seen);
        (s.cp_ready.len() >= n).then_some(()).ok_or_else(|| {
            format!(
                "{} Workspaces Ready, {} control planes Ready",
                s.workspace_ready.len(),
                s.cp_ready.len()
            )
        })
    })
    .await;
    let cpu_at_ready = operator.cpu_seconds(clk_tck)?;
    let mut report = Report {
        n,
        load,
        ..Report::default()
    };
    match outcome {
        Ok(()) => eprintln!("scale: N={n}: all Ready {:.1?} after release", release.elapsed()),
        Err(e) => {
            eprintln!("scale: N={n}: INCOMPLETE: {e}");
            report.incomplete = Some(e.to_string());
        }
    }
    {
        let s = lock(&seen);
        let last_ws = s.workspace_ready.values().max().copied().unwrap_or(release);
        let last_cp = s.cp_ready.values().max().copied().unwrap_or(release);
        report.all_workspaces_ready = last_ws.saturating_duration_since(release);
        report.all_ready = last_cp.saturating_duration_since(release);
        report.last_ws_to_last_cp = last_cp.saturating_duration_since(last_ws);
        report.latencies = s
            .cp_ready
            .iter()
            .filter_map(|(cp, ready)| Some(ready.saturating_duration_since(*s.workspace_ready.get(cp)?)))
            .collect();
        report.latencies.sort();
        report.cps_ready = s.cp_ready.len();
        report.workspaces_ready = s.workspace_ready.len();
    }

    // The transition's trailing writes (events, secrets) settle before the window ends.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let provisioning_to = jiff::Timestamp::now();
    report.provisioning_seconds = provisioning_started.elapsed().as_secs_f64();
    let metrics_ready = request_totals(&admin).await?;
    report.metrics_provisioning = metrics_ready.since(&metrics_start);
    let events = plane.audit_events(OPERATOR_USER, provisioning_from, provisioning_to)?;
    report.provisioning = audit_traffic(&events);
    for e in events.iter().filter(|e| e.is_write()) {
        *report
            .provisioning_writes
            .entry(format!("{} {}", e.verb, resource_of(&e.request_u_r_i)))
            .or_default() += 1;
    }
    report.cpu_provisioning = cpu_at_ready;

    eprintln!("scale: N={n}: steady-state window ({}s)", STEADY_WINDOW.as_secs());
    let cpu_before = operator.cpu_seconds(clk_tck)?;
    let steady_from = jiff::Timestamp::now();
    tokio::time::sleep(STEADY_WINDOW).await;
    let steady_to = jiff::Timestamp::now();
    report.cpu_steady = operator.cpu_seconds(clk_tck)? - cpu_before;
    report.metrics_steady = request_totals(&admin).await?.since(&metrics_ready);
    let steady_events = plane.audit_events(OPERATOR_USER, steady_from, steady_to)?;
    report.steady = audit_traffic(&steady_events);
    for e in &steady_events {
        *report
            .steady_requests
            .entry(format!("{} {}", e.verb, resource_of(&e.request_u_r_i)))
            .or_default() += 1;
    }
    if report.steady.writes > 0 {
        let writes: Vec<String> = steady_events
            .iter()
            .filter(|e| e.is_write())
            .map(|e| format!("{} {}", e.verb, e.request_u_r_i))
            .collect();
        eprintln!("scale: N={n}: steady-state writes: {writes:#?}");
    }
    let (peak, current) = operator.memory_kib()?;
    report.rss_peak_kib = peak;
    report.rss_steady_kib = current;
    operator.stop().await;
    simulator.shutdown().await;
    watches.abort();

    report.limit_per_second = status_apply_limit(&admin).await?;
    plane.stop();
    Ok(report)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `done` holds, re-checking on every watch event (and every second), or fails after
/// `timeout` with `done`'s last explanation.
async fn wait_until(
    progress: &mut watch::Receiver<()>,
    timeout: Duration,
    what: &str,
    done: impl Fn() -> std::result::Result<(), String>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match done() {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}: {last}").into());
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), progress.changed()).await;
    }
}

/// The simulator as the admin user, serving only the bench's namespace; with `gate`, every
/// first apply "takes" that long.
fn spawn_simulator(plane: &TestControlPlane, admin: &Client, gate: Option<Duration>) -> SimulatorHandle {
    let mut config = SimulatorConfig::new(SimulatedCluster::from_plane(plane))
        .in_namespace(NAMESPACE)
        .with_apis([WorkspaceApi::Namespaced]);
    if let Some(delay) = gate {
        config = config.with_default_script(Script::new().create_delay(delay));
    }
    Simulator::spawn(admin.clone(), config)
}

/// Records when each Workspace and control plane first reaches the states the bench waits for.
async fn watch_progress(client: Client, seen: Arc<Mutex<Seen>>, progress: watch::Sender<()>) {
    let workspaces: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &WorkspaceApi::Namespaced.resource());
    let cps: Api<CAPTControlPlane> = Api::namespaced(client, NAMESPACE);
    let ws_seen = seen.clone();
    let ws_progress = progress.clone();
    let ws = watcher(workspaces, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .for_each(move |ws| {
            if let Ok(ws) = ws {
                let now = Instant::now();
                let Some(cp) = ws.name_any().strip_suffix(WORKSPACE_SUFFIX).map(str::to_owned) else {
                    return std::future::ready(());
                };
                let synced = condition_true(&ws, "Synced");
                let mut s = lock(&ws_seen);
                if synced && condition_true(&ws, "Ready") {
                    s.workspace_ready.entry(cp.clone()).or_insert(now);
                }
                if synced {
                    s.workspace_held.entry(cp).or_insert(now);
                }
                ws_progress.send_replace(());
            }
            std::future::ready(())
        });
    let cp = watcher(cps, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .for_each(move |cp| {
            if let Ok(cp) = cp {
                let now = Instant::now();
                let state = cp.status.as_ref().and_then(|s| s.state.as_deref());
                let mut s = lock(&seen);
                match state {
                    Some("Ready") => {
                        s.cp_ready.entry(cp.name_any()).or_insert(now);
                    }
                    Some("Provisioning") => {
                        s.cp_provisioning.entry(cp.name_any()).or_insert(now);
                    }
                    _ => {}
                }
                progress.send_replace(());
            }
            std::future::ready(())
        });
    futures::join!(ws, cp);
}

fn condition_true(obj: &DynamicObject, type_: &str) -> bool {
    obj.data
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

/// Binds the operator's ClusterRole to [`OPERATOR_USER`] (as `tests/operator.rs` does).
async fn bind_operator_role(admin: &Client) -> Result<()> {
    let role = capt_testkit::rbac::operator_role()?;
    capt_testkit::rbac::bind_cluster_role(admin, &role, OPERATOR_USER).await?;
    Ok(())
}

/// One WorkspaceTemplate, then N Clusters each owning one CAPTControlPlane (as Cluster API sets
/// the ownerReference).
async fn create_objects(admin: &Client, n: usize) -> Result<()> {
    let template: WorkspaceTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "eks"},
        "spec": {"template": {
            "metadata": {"description": "EKS control plane (scale bench)"},
            "spec": {
                "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "default"},
                "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-connection"},
                "forProvider": {
                    "source": "Inline",
                    "module": "resource \"aws_eks_cluster\" \"this\" { name = var.cluster_name }",
                    "vars": [
                        {"key": "cluster_name", "value": "${cluster_name}"},
                        {"key": "kubernetes_version", "value": "${kubernetes_version}"},
                        {"key": "region", "value": "${region}"},
                    ],
                }
            }
        }}
    }))?;
    Api::<WorkspaceTemplate>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &template)
        .await?;
    // The AWS credentials every control plane signs its EKS token with (the test identity).
    let credentials: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": TOKEN_CREDENTIALS},
        "stringData": {"credentials": capt_testkit::eks::credentials_file()},
    }))?;
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &credentials)
        .await?;
    let clusters: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NAMESPACE, &cluster_ar());
    let cps: Api<CAPTControlPlane> = Api::namespaced(admin.clone(), NAMESPACE);
    futures::stream::iter(0..n)
        .map(|i| {
            let (clusters, cps) = (clusters.clone(), cps.clone());
            async move {
                let name = format!("c{i:04}");
                let cp_name = format!("{name}-cp");
                let cluster: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "cluster.x-k8s.io/v1beta2",
                    "kind": "Cluster",
                    "metadata": {"name": name},
                    "spec": {"controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": cp_name}}
                }))?;
                let cluster = clusters.create(&PostParams::default(), &cluster).await?;
                let mut cp = CAPTControlPlane::new(
                    &cp_name,
                    CAPTControlPlaneSpec {
                        version: "1.31".into(),
                        workspace_template_ref: WorkspaceTemplateReference {
                            name: "eks".into(),
                            namespace: None,
                        },
                        control_plane_config: Some(ControlPlaneConfig {
                            region: "ap-northeast-1".into(),
                            ..Default::default()
                        }),
                        token_credentials_ref: Some(CredentialsSecretReference {
                            name: TOKEN_CREDENTIALS.into(),
                            key: None,
                        }),
                        ..Default::default()
                    },
                );
                cp.metadata.owner_references =
                    Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: "cluster.x-k8s.io/v1beta2".into(),
                        kind: "Cluster".into(),
                        name: cluster.name_any(),
                        uid: cluster.uid().unwrap_or_default(),
                        ..Default::default()
                    }]);
                cps.create(&PostParams::default(), &cp).await?;
                Ok::<_, BoxError>(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// `capt-operator` as a child process.
struct Operator {
    child: tokio::process::Child,
    pid: u32,
}

impl Operator {
    async fn start(plane: &TestControlPlane, binary: &Path) -> Result<Self> {
        let kubeconfig = plane.dir().join("operator.kubeconfig");
        let yaml = capt_testkit::kubeconfig::to_yaml(&plane.kubeconfig_for(OPERATOR_USER, None)?)?;
        std::fs::write(&kubeconfig, yaml)?;
        let log_path = plane.dir().join("capt-operator.log");
        let log = std::fs::File::create(&log_path)?;
        let health = free_port()?;
        let child = tokio::process::Command::new(binary)
            .env("KUBECONFIG", &kubeconfig)
            // The operator's own filter defaults apply; keep the environment's RUST_LOG out.
            .env_remove("RUST_LOG")
            .args([
                "--log-format",
                "json",
                "--health-interval-seconds",
                "60",
                "--no-endpoint-probe",
            ])
            .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()?))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            // Extra flags for experiments (`SCALE_OPERATOR_ARGS="--concurrency 16"`); the
            // report's figures are without.
            .args(extra_operator_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("capt-operator exited at once")?;
        let mut operator = Self { child, pid };
        // Ready once its caches have synced (`/readyz` is 200).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = operator.child.try_wait()? {
                return Err(format!("capt-operator exited ({status}); see {}", log_path.display()).into());
            }
            if capt_testkit::http::get(health, "/readyz")
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return Ok(operator);
            }
            if Instant::now() >= deadline {
                return Err(format!("capt-operator not ready in 60 s; see {}", log_path.display()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// utime + stime, in seconds.
    fn cpu_seconds(&self, clk_tck: f64) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name, which is parenthesised and may contain spaces: state is
        // field 3, utime 14 and stime 15, i.e. indices 11 and 12 after the closing parenthesis.
        let rest = &stat[stat.rfind(')').ok_or("malformed /proc/<pid>/stat")? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
            + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
        Ok(ticks as f64 / clk_tck)
    }

    /// (VmHWM, VmRSS) in KiB.
    fn memory_kib(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .ok_or_else(|| format!("no {name} in /proc/<pid>/status"))?;
            Ok(line[name.len()..].trim().trim_end_matches("kB").trim().parse()?)
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// `SCALE_OPERATOR_ARGS`, split on whitespace (no quoting: flags and plain values only).
fn extra_operator_args() -> Vec<String> {
    std::env::var("SCALE_OPERATOR_ARGS")
        .map(|a| a.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The kernel's clock tick (`getconf CLK_TCK`), 100 when it cannot be asked.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Reads and writes among audit events (`get`/`list`/`watch` are reads).
fn audit_traffic(events: &[capt_testkit::audit::AuditEvent]) -> Traffic {
    let writes = events.iter().filter(|e| e.is_write()).count() as u64;
    Traffic {
        writes,
        reads: events.len() as u64 - writes,
    }
}

/// `resource[/subresource]` of a request path such as
/// `/apis/g/v/namespaces/ns/resource/name/subresource?query`.
fn resource_of(uri: &str) -> String {
    let path = uri.split('?').next().unwrap_or(uri);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Skip `api/v1` or `apis/group/version`.
    let skip = if segments.first() == Some(&"api") { 2 } else { 3 };
    let mut rest = segments.get(skip..).unwrap_or_default();
    if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        rest = &rest[2..];
    }
    match rest {
        [resource, _name, sub, ..] => format!("{resource}/{sub}"),
        [resource, ..] => (*resource).to_owned(),
        [] => path.to_owned(),
    }
}

/// `apiserver_request_total` summed by verb: a snapshot of the API server's own counters.
struct RequestTotals(BTreeMap<String, f64>);

impl RequestTotals {
    /// Writes and reads since `earlier`.
    fn since(&self, earlier: &RequestTotals) -> Traffic {
        let mut traffic = Traffic::default();
        for (verb, count) in &self.0 {
            let delta = (count - earlier.0.get(verb).copied().unwrap_or(0.0)).max(0.0) as u64;
            match verb.as_str() {
                // Server-side apply is counted as its own verb, APPLY, not PATCH.
                "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION" => {
                    traffic.writes += delta;
                }
                "GET" | "LIST" | "WATCH" | "WATCHLIST" => traffic.reads += delta,
                _ => {}
            }
        }
        traffic
    }
}

/// GET /metrics with the admin client and sum `apiserver_request_total` by verb.
async fn request_totals(admin: &Client) -> Result<RequestTotals> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(request).await?;
    let mut totals = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some(verb) = labels.split("verb=\"").nth(1).and_then(|v| v.split('"').next()) else {
            continue;
        };
        *totals.entry(verb.to_owned()).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
    }
    Ok(RequestTotals(totals))
}

/// What the API server sustains on this machine: [`LIMIT_TASKS`] tasks server-side applying the
/// status of the control planes in turn (their whole stored status, with `version` changed so
/// each apply is a real write) for [`LIMIT_WINDOW`]. Run with the operator stopped.
async fn status_apply_limit(admin: &Client) -> Result<f64> {
    let api: Api<CAPTControlPlane> = Api::namespaced(admin.clone(), NAMESPACE);
    let objects = Arc::new(api.list(&ListParams::default()).await?.items);
    if objects.is_empty() {
        return Ok(0.0);
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..LIMIT_TASKS)
        .map(|task| {
            let (api, objects) = (api.clone(), objects.clone());
            tokio::spawn(async move {
                let params = PatchParams::apply("capt-scale-bench-limit").force();
                let mut done = 0u64;
                let mut i = task;
                while started.elapsed() < LIMIT_WINDOW {
                    let cp = &objects[i % objects.len()];
                    let mut status = serde_json::to_value(&cp.status)?;
                    status["version"] = format!("limit-{task}-{i}").into();
                    let patch = json!({
                        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                        "kind": "CAPTControlPlane",
                        "status": status,
                    });
                    api.patch_status(&cp.name_any(), &params, &Patch::Apply(&patch))
                        .await?;
                    done += 1;
                    i += LIMIT_TASKS;
                }
                Ok::<_, BoxError>(done)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
