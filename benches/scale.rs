//! Scale benchmark against a real API server (issue 7): N control planes, one `capt-operator`
//! process, the provider-terraform simulator, and the API server's own view of the traffic.
//!
//! ```sh
//! export CARGO_TARGET_DIR=$HOME/.cache/capt-controlplane/target
//! export KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)
//! cargo build --release --bin capt-operator
//! cargo bench --bench scale -- 10 100 1000
//! cargo bench --bench scale -- --workspace-api cluster-scoped 10 100
//! SCALE_LABEL=after cargo bench --bench scale -- 100
//! # The tables again, from the JSON files alone (no API server, no KUBEBUILDER_ASSETS):
//! cargo bench --bench scale -- --render benches/results/*.json
//! ```
//!
//! Arguments (after `--`): the sizes N (default `10 100`); `--workspace-api namespaced` (the
//! default, `tf.m.upbound.io` Workspaces) or `--workspace-api cluster-scoped` (the legacy
//! `tf.upbound.io` ones), which the operator (`--workspace-api`), the simulator and the bench's
//! watches all use; or `--render FILE.json...` instead of a run. `hack/bench.sh` runs this and
//! writes the rendered tables into BENCHMARKS.md.
//!
//! For each N, on a **fresh** API server (so audit log, `/metrics` counters and the operator's
//! peak RSS belong to that N alone):
//!
//! 1. start etcd + kube-apiserver (no kube-controller-manager: nothing here is garbage
//!    collected, and it would only add noise on a small machine), bind the operator's ClusterRole
//!    (`manifests/rbac/role.yaml`) to a dedicated user, and start `capt-operator` as a separate
//!    process authenticated as that user through a kubeconfig file, watching all namespaces,
//!    `--workspace-api <mode> --health-interval-seconds 60 --no-endpoint-probe` (the probe would
//!    be an HTTPS request to this same API server per control plane, load that is not the
//!    operator's API traffic);
//! 2. run the simulator in this process as the admin (a separate actor: its writes are not the
//!    operator's), serving only the chosen Workspace API, with a one-hour create delay, the
//!    **gate**: every Workspace gets the provider's create-pending annotation (its create has
//!    started; like the real provider, no status while Terraform applies) and stays there;
//! 3. create one WorkspaceTemplate (its `providerConfigRef` in the chosen API's shape), N
//!    Clusters and N CAPTControlPlanes, wait until every control plane is Provisioning and every
//!    Workspace (`<cp>-eks-controlplane`, in the namespace or cluster-wide) is held;
//! 4. **release**: lift every Workspace's create delay in the same simulator at a known instant
//!    (its wall-clock time is in the report); record, with client-side watches, when each Workspace
//!    first shows Ready=True+Synced=True and when its control plane first shows
//!    `status.state: Ready`;
//! 5. a 60 s steady-state window once all are Ready;
//! 6. stop the operator and the simulator and measure what the API server sustains: two tasks
//!    server-side applying the status of the N control planes for 10 s.
//!
//! Request counts come from the audit log (the operator's user only) and from
//! `apiserver_request_total` (every client, this bench's watches and the simulator included).
//! The operator's writes from the release to the end of provisioning are counted apart: before
//! the release every Workspace is held, so each of them follows a Workspace turning Ready; per
//! control plane they are "writes after Workspace Ready", and divided by the measured limit they
//! are the **floor**: the seconds the API server needs for the operator's own writes alone.
//!
//! After each N the report is written as one JSON file, `<YYYYMMDD-HHMMSS>-<mode>-n<N>.json`
//! (the N's start, UTC), into `$SCALE_RESULTS_DIR` (default `benches/results/` in the
//! repository), with the commit (`git rev-parse --short HEAD`, `-dirty` when `git status
//! --porcelain` outside `benches/results/` is not empty), `$SCALE_LABEL` (free text, e.g.
//! `before` / `after`), the machine (nproc, CPU model, MemTotal) and the load average at start.
//! Durations are milliseconds; latencies are p50/p95/p99/max. `--render` reads such files and
//! prints, per Workspace API mode, one table with a column per file (label and N, in the order
//! given), then the operator's writes per control plane by verb and resource, during
//! provisioning and after the release. A run prints the same tables for its own reports. Nothing
//! else is written but the plane's own directory, which is removed afterwards.
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
    PlaneOptions, Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle,
    TestControlPlane, WorkspaceApi,
};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

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
/// Where the JSON reports go, relative to the repository, unless `SCALE_RESULTS_DIR` says.
const RESULTS_DIR: &str = "benches/results";
/// Version of the JSON report's layout.
const SCHEMA: u32 = 1;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and must not run this.
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "scale: not run outside `cargo bench --bench scale -- N...` (needs minutes and a real API server)"
        );
        return std::process::ExitCode::SUCCESS;
    }
    let outcome = match parse_args(&args) {
        Err(e) => Err(e.into()),
        Ok(Command::Render(files)) => render_files(&files),
        Ok(Command::Run { sizes, mode }) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(BoxError::from)
            .and_then(|runtime| runtime.block_on(run_all(&sizes, mode))),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    /// Measure these sizes with this Workspace API.
    Run { sizes: Vec<usize>, mode: Mode },
    /// Print the tables of these JSON reports.
    Render(Vec<PathBuf>),
}

const USAGE: &str = "usage: cargo bench --bench scale -- [--workspace-api namespaced|cluster-scoped] [N...] \
                     | --render FILE.json...";

fn parse_args(args: &[String]) -> std::result::Result<Command, String> {
    let mut mode = None;
    let mut render = false;
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--render" => render = true,
            "--workspace-api" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--workspace-api needs a value; {USAGE}"))?;
                mode = Some(Mode::parse(value)?);
            }
            other => {
                if let Some(value) = other.strip_prefix("--workspace-api=") {
                    mode = Some(Mode::parse(value)?);
                } else if other.starts_with('-') {
                    return Err(format!("unknown flag {other}; {USAGE}"));
                } else if render {
                    files.push(PathBuf::from(other));
                } else {
                    sizes.push(
                        other
                            .parse()
                            .map_err(|_| format!("not a size: {other:?}; {USAGE}"))?,
                    );
                }
            }
        }
    }
    if render {
        if !sizes.is_empty() || mode.is_some() {
            return Err(format!(
                "--render takes JSON files only (the sizes and modes are in them); {USAGE}"
            ));
        }
        if files.is_empty() {
            return Err(format!("--render needs at least one JSON file; {USAGE}"));
        }
        return Ok(Command::Render(files));
    }
    if sizes.is_empty() {
        sizes = vec![10, 100];
    }
    Ok(Command::Run {
        sizes,
        mode: mode.unwrap_or_default(),
    })
}

/// The Workspace API the operator writes, the simulator serves and the bench watches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// `tf.m.upbound.io`, in [`NAMESPACE`].
    #[default]
    Namespaced,
    /// `tf.upbound.io`, cluster-wide.
    ClusterScoped,
}

impl Mode {
    fn parse(value: &str) -> std::result::Result<Self, String> {
        match value {
            "namespaced" => Ok(Mode::Namespaced),
            "cluster-scoped" => Ok(Mode::ClusterScoped),
            other => Err(format!(
                "--workspace-api is namespaced or cluster-scoped, not {other:?}"
            )),
        }
    }

    /// The value of `--workspace-api` (the operator's and this bench's), and of file names.
    fn as_str(self) -> &'static str {
        match self {
            Mode::Namespaced => "namespaced",
            Mode::ClusterScoped => "cluster-scoped",
        }
    }

    fn api(self) -> WorkspaceApi {
        match self {
            Mode::Namespaced => WorkspaceApi::Namespaced,
            Mode::ClusterScoped => WorkspaceApi::ClusterScoped,
        }
    }

    /// The template's `providerConfigRef`: the namespaced API's names its kind, the legacy one's
    /// has no such field.
    fn provider_config_ref(self) -> serde_json::Value {
        match self {
            Mode::Namespaced => json!({"kind": "ClusterProviderConfig", "name": "default"}),
            Mode::ClusterScoped => json!({"name": "default"}),
        }
    }
}

async fn run_all(sizes: &[usize], mode: Mode) -> Result<()> {
    let operator = operator_binary()?;
    let extra = extra_operator_args();
    if extra.iter().any(|a| a.starts_with("--workspace-api")) {
        return Err(
            "SCALE_OPERATOR_ARGS must not set --workspace-api: give it to the bench, which passes it on"
                .into(),
        );
    }
    let results = results_dir();
    // Before any file is written: the reports of this run do not make the checkout dirty.
    let commit = commit();
    let machine = Machine::read();
    let label = std::env::var("SCALE_LABEL").unwrap_or_default();
    eprintln!(
        "scale: operator binary {}; Workspace API {}; extra flags {extra:?}; commit {commit:?}, label {label:?}; \
         reports to {}",
        operator.display(),
        mode.as_str(),
        results.display(),
    );
    let mut reports = Vec::new();
    let mut unwritten = Vec::new();
    for &n in sizes {
        eprintln!("scale: N={n}: starting a fresh API server");
        let mut report = run_one(n, mode, &operator).await?;
        report.label = label.clone();
        report.commit = commit.clone();
        report.machine = machine.clone();
        eprintln!("{}", report.detail());
        match report.write_to(&results) {
            Ok(path) => eprintln!("scale: N={n}: report written to {}", path.display()),
            Err(e) => {
                eprintln!(
                    "scale: N={n}: could not write the report into {}: {e}",
                    results.display()
                );
                unwritten.push(n);
            }
        }
        reports.push(report);
    }
    println!("\n{}", render(&reports));
    if !unwritten.is_empty() {
        return Err(format!("the reports of N={unwritten:?} were not written (see above)").into());
    }
    Ok(())
}

/// `$SCALE_RESULTS_DIR`, else [`RESULTS_DIR`] in the repository.
fn results_dir() -> PathBuf {
    std::env::var_os("SCALE_RESULTS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| capt_testkit::util::repo_root().join(RESULTS_DIR))
}

/// `git rev-parse --short HEAD`, with `-dirty` when the checkout has changes outside
/// [`RESULTS_DIR`]; empty when git cannot say.
fn commit() -> String {
    let root = capt_testkit::util::repo_root();
    let git = |args: &[&str]| -> Option<String> {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]).filter(|h| !h.is_empty()) else {
        return String::new();
    };
    let exclude = format!(":(exclude){RESULTS_DIR}");
    match git(&["status", "--porcelain", "--", ".", exclude.as_str()]) {
        Some(status) if status.is_empty() => head,
        Some(_) => format!("{head}-dirty"),
        None => String::new(),
    }
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

/// What one N measured: printed, and written as one JSON file (durations in milliseconds, the
/// field names ending in `_ms`). Fields missing from a file read as zero or empty, so `--render`
/// takes hand-written or older files too.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Report {
    /// [`SCHEMA`].
    schema: u32,
    /// `$SCALE_LABEL`: free text naming the run (e.g. "before", "after").
    label: String,
    /// `git rev-parse --short HEAD` (+ `-dirty`), empty when git could not say.
    commit: String,
    workspace_api: Mode,
    n: usize,
    /// Wall clock (UTC, RFC 3339) when this N started, and of the release instant.
    started_at: String,
    release_at: String,
    machine: Machine,
    /// Load average at start (1/5/15 min).
    load: String,
    /// Why not every control plane became Ready, when one did not: the figures below then cover
    /// only those that did.
    incomplete: Option<String>,
    /// Control planes and Workspaces that became Ready.
    cps_ready: usize,
    workspaces_ready: usize,
    /// Release instant → last Workspace Ready, last control plane Ready.
    #[serde(rename = "all_workspaces_ready_ms", with = "millis")]
    all_workspaces_ready: Duration,
    #[serde(rename = "all_ready_ms", with = "millis")]
    all_ready: Duration,
    /// Last Workspace Ready → last control plane Ready.
    #[serde(rename = "last_ws_to_last_cp_ms", with = "millis")]
    last_ws_to_last_cp: Duration,
    /// Workspace Ready → its control plane Ready, over the control planes.
    latency: Latency,
    /// Operator requests from the first create to all Ready (+ settle), from the audit log.
    provisioning: Traffic,
    provisioning_seconds: f64,
    /// Operator requests in the steady-state window.
    steady: Traffic,
    /// `apiserver_request_total` deltas (every client) over the same two windows.
    metrics_provisioning: Traffic,
    metrics_steady: Traffic,
    /// Operator writes by "verb resource" during provisioning.
    provisioning_writes: BTreeMap<String, u64>,
    /// Operator writes from the release to the end of provisioning: all follow a Workspace
    /// turning Ready. In all, and by "verb resource".
    writes_after_release: u64,
    writes_after_release_by_request: BTreeMap<String, u64>,
    /// `writes_after_release / n`, and `writes_after_release / limit_per_second` (seconds): written
    /// for readers of the file; `--render` computes them again from the fields above.
    writes_per_cp_after_workspace_ready: f64,
    floor_seconds: f64,
    /// Operator requests by "verb resource" in the steady-state window.
    steady_requests: BTreeMap<String, u64>,
    rss_peak_kib: u64,
    rss_steady_kib: u64,
    /// Operator CPU (utime + stime) from its start to all Ready, and in the steady window.
    #[serde(rename = "cpu_provisioning_seconds")]
    cpu_provisioning: f64,
    #[serde(rename = "cpu_steady_seconds")]
    cpu_steady: f64,
    /// Status server-side applies per second two plain client tasks achieve.
    limit_per_second: f64,
}

/// Write and read request counts.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
struct Traffic {
    writes: u64,
    reads: u64,
}

/// Percentiles (nearest rank) of Workspace Ready → control plane Ready.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
struct Latency {
    /// Control planes measured.
    samples: usize,
    #[serde(rename = "p50_ms", with = "millis")]
    p50: Duration,
    #[serde(rename = "p95_ms", with = "millis")]
    p95: Duration,
    #[serde(rename = "p99_ms", with = "millis")]
    p99: Duration,
    #[serde(rename = "max_ms", with = "millis")]
    max: Duration,
}

impl Latency {
    fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        // Nearest rank: the smallest value with at least p% of the samples at or below it.
        let percentile = |p: f64| {
            if latencies.is_empty() {
                return Duration::ZERO;
            }
            let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
            latencies[rank.clamp(1, latencies.len()) - 1]
        };
        Self {
            samples: latencies.len(),
            p50: percentile(50.0),
            p95: percentile(95.0),
            p99: percentile(99.0),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// The machine the run measured on (it may be shared: the load average is in the report).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
struct Machine {
    /// Cores this process may use (`nproc`).
    nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    cpu_model: String,
    /// `MemTotal` from `/proc/meminfo`.
    mem_total_kib: u64,
}

impl Machine {
    fn read() -> Self {
        let field = |file: &str, name: &str| -> Option<String> {
            let text = std::fs::read_to_string(file).ok()?;
            let line = text.lines().find(|l| l.starts_with(name))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        };
        Self {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field("/proc/cpuinfo", "model name").unwrap_or_default(),
            mem_total_kib: field("/proc/meminfo", "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_default(),
        }
    }
}

/// `Duration` as milliseconds (`f64`) in the JSON report.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(D::Error::custom)
    }
}

impl Report {
    /// `writes_after_release` per control plane.
    fn writes_per_cp_after_ready(&self) -> f64 {
        self.writes_after_release as f64 / self.n.max(1) as f64
    }

    /// Seconds the API server needs for the operator's writes after the release, at the
    /// measured limit (0 when no limit was measured).
    fn floor(&self) -> f64 {
        if self.limit_per_second > 0.0 {
            self.writes_after_release as f64 / self.limit_per_second
        } else {
            0.0
        }
    }

    fn detail(&self) -> String {
        format!(
            "scale: N={} ({}): release→all Workspaces Ready {:.2?}, →all control planes Ready {:.2?}; \
             latency p50 {:.1?} p95 {:.1?} p99 {:.1?} max {:.1?}; operator writes during provisioning {:?}; \
             after the release {} ({:.1} per control plane, floor {:.2} s) {:?}; \
             steady {:?}/min {:?}; peak RSS {} KiB; CPU {:.2}+{:.2} s; limit {:.0} status applies/s; load {}",
            self.n,
            self.workspace_api.as_str(),
            self.all_workspaces_ready,
            self.all_ready,
            self.latency.p50,
            self.latency.p95,
            self.latency.p99,
            self.latency.max,
            self.provisioning_writes,
            self.writes_after_release,
            self.writes_per_cp_after_ready(),
            self.floor(),
            self.writes_after_release_by_request,
            self.steady,
            self.steady_requests,
            self.rss_peak_kib,
            self.cpu_provisioning,
            self.cpu_steady,
            self.limit_per_second,
            self.load,
        )
    }

    /// `<YYYYMMDD-HHMMSS>-<mode>-n<N>.json`, from the N's start.
    fn file_name(&self) -> String {
        let stamp = self
            .started_at
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .strftime("%Y%m%d-%H%M%S");
        format!("{stamp}-{}-n{}.json", self.workspace_api.as_str(), self.n)
    }

    /// Writes the report into `dir` (created if need be); returns the file's path.
    fn write_to(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let mut json = serde_json::to_string_pretty(self)?;
        json.push('\n');
        std::fs::write(&path, json)?;
        Ok(path)
    }
}

/// `--render`: the tables of these reports, in this order.
fn render_files(files: &[PathBuf]) -> Result<()> {
    let mut reports = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let report: Report = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        reports.push(report);
    }
    println!("{}", render(&reports));
    Ok(())
}

/// Per Workspace API mode (in order of first appearance): the summary, then the operator's writes
/// per control plane by verb and resource, during provisioning and after the release; one column
/// per report.
fn render(reports: &[Report]) -> String {
    let mut modes: Vec<Mode> = Vec::new();
    for r in reports {
        if !modes.contains(&r.workspace_api) {
            modes.push(r.workspace_api);
        }
    }
    let mut sections = Vec::new();
    for mode in modes {
        let runs: Vec<&Report> = reports.iter().filter(|r| r.workspace_api == mode).collect();
        sections.push(format!(
            "Workspace API `{}` (`{}` Workspaces):\n\n{}",
            mode.as_str(),
            mode.api().api_version(),
            markdown(&runs)
        ));
        sections.push(format!(
            "Operator writes per control plane during provisioning, by verb and resource (audit; \
             Workspace API `{}`):\n\n{}",
            mode.as_str(),
            breakdown(&runs, |r| &r.provisioning_writes)
        ));
        sections.push(format!(
            "Operator writes per control plane from the release to the end of provisioning (after \
             Workspace Ready), by verb and resource (audit; Workspace API `{}`):\n\n{}",
            mode.as_str(),
            breakdown(&runs, |r| &r.writes_after_release_by_request)
        ));
    }
    sections.join("\n\n")
}

/// A run's column heading: `N=100`, or `before N=100` with a label.
fn column(r: &Report) -> String {
    if r.label.is_empty() {
        format!("N={}", r.n)
    } else {
        format!("{} N={}", r.label, r.n)
    }
}

/// A markdown table: `first` heads the row names' column, one column per run.
fn table(first: &str, runs: &[&Report], rows: Vec<(String, Vec<String>)>) -> String {
    let mut out = format!("| {first} |");
    for r in runs {
        out.push_str(&format!(" {} |", column(r)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(runs.len()));
    for (name, cells) in rows {
        out.push_str(&format!("\n| {name} |"));
        for c in cells {
            out.push_str(&format!(" {c} |"));
        }
    }
    out
}

/// Rows "verb resource", the count per control plane in each run.
fn breakdown(runs: &[&Report], counts: impl Fn(&Report) -> &BTreeMap<String, u64>) -> String {
    let mut keys: Vec<&String> = runs.iter().copied().flat_map(|r| counts(r).keys()).collect();
    keys.sort();
    keys.dedup();
    let rows = keys
        .into_iter()
        .map(|key| {
            let cells = runs
                .iter()
                .map(|r| {
                    let count = counts(r).get(key).copied().unwrap_or(0);
                    format!("{:.1}", count as f64 / r.n.max(1) as f64)
                })
                .collect();
            (key.clone(), cells)
        })
        .collect();
    table("verb resource", runs, rows)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The summary, one column per run.
fn markdown(reports: &[&Report]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, f: &dyn Fn(&Report) -> String| {
        rows.push((name.to_owned(), reports.iter().copied().map(f).collect()));
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
        ms(r.latency.p50)
    });
    row("… p95", &|r| ms(r.latency.p95));
    row("… p99", &|r| ms(r.latency.p99));
    row("… max", &|r| ms(r.latency.max));
    let per = |t: u64, n: usize| format!("{:.1}", t as f64 / n.max(1) as f64);
    row("operator writes per control plane, provisioning (audit)", &|r| {
        per(r.provisioning.writes, r.n)
    });
    row("operator writes per control plane after Workspace Ready", &|r| {
        format!("{:.1}", r.writes_per_cp_after_ready())
    });
    row("operator reads per control plane, provisioning (audit)", &|r| {
        per(r.provisioning.reads, r.n)
    });
    row("operator writes/s, provisioning (audit; % of limit)", &|r| {
        let rate = r.provisioning.writes as f64 / r.provisioning_seconds.max(1e-9);
        format!("{rate:.1} ({:.0}%)", 100.0 * rate / r.limit_per_second.max(1e-9))
    });
    row("floor: writes after release ÷ limit", &|r| {
        format!("{:.1} s ({} writes)", r.floor(), r.writes_after_release)
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
    row("commit", &|r| {
        if r.commit.is_empty() {
            "?".to_owned()
        } else {
            format!("`{}`", r.commit)
        }
    });
    row("started (UTC)", &|r| {
        r.started_at.parse::<jiff::Timestamp>().map_or_else(
            |_| r.started_at.clone(),
            |t| t.strftime("%Y-%m-%d %H:%M").to_string(),
        )
    });
    row("machine (nproc, CPU, MemTotal)", &|r| {
        if r.machine.nproc == 0 {
            return "?".to_owned();
        }
        format!(
            "{}, {}, {:.1} GiB",
            r.machine.nproc,
            r.machine.cpu_model,
            r.machine.mem_total_kib as f64 / (1024.0 * 1024.0)
        )
    });
    table("measure", reports, rows)
}

/// First instants at which each object was seen in the wanted condition, keyed by control plane.
#[derive(Default)]
struct Seen {
    workspace_ready: HashMap<String, Instant>,
    cp_ready: HashMap<String, Instant>,
    cp_provisioning: HashMap<String, Instant>,
    workspace_held: HashMap<String, Instant>,
}

async fn run_one(n: usize, mode: Mode, operator_bin: &Path) -> Result<Report> {
    let started_at = jiff::Timestamp::now();
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

    // The gate: every Workspace is held in its create until its delay is lifted.
    let gated = spawn_simulator(&plane, &admin, mode, Some(Duration::from_secs(3600)));

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (progress_tx, mut progress) = watch::channel(());
    let watches = tokio::spawn(watch_progress(admin.clone(), mode, seen.clone(), progress_tx));

    let operator = Operator::start(&plane, operator_bin, mode).await?;
    let clk_tck = clock_ticks();

    let metrics_start = request_totals(&admin).await?;
    let provisioning_from = jiff::Timestamp::now();
    let provisioning_started = Instant::now();
    create_objects(&admin, n, mode).await?;
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

    // The release: the same simulator, every Workspace's create delay lifted. (Replacing the
    // simulator would look to it like a provider restarted mid-create: crossplane, and the
    // simulator with it, refuses a create whose outcome it never recorded.)
    let held: Vec<String> = lock(&seen).workspace_held.keys().cloned().collect();
    let release = Instant::now();
    let release_at = jiff::Timestamp::now();
    for cp in held {
        let workspace = format!("{cp}{WORKSPACE_SUFFIX}");
        let key = match mode.api() {
            WorkspaceApi::Namespaced => ScriptKey::namespaced(NAMESPACE, workspace),
            WorkspaceApi::ClusterScoped => ScriptKey::cluster_scoped(workspace),
        };
        gated.script(key, Script::new().create_delay(Duration::ZERO));
    }
    let simulator = gated;
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
        schema: SCHEMA,
        workspace_api: mode,
        n,
        started_at: started_at.to_string(),
        release_at: release_at.to_string(),
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
        report.latency = Latency::of(
            s.cp_ready
                .iter()
                .filter_map(|(cp, ready)| Some(ready.saturating_duration_since(*s.workspace_ready.get(cp)?)))
                .collect(),
        );
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
        let key = format!("{} {}", e.verb, resource_of(&e.request_u_r_i));
        // Every Workspace was held until the release: what the operator writes from then on
        // follows a Workspace turning Ready.
        if e.request_received_timestamp >= release_at {
            report.writes_after_release += 1;
            *report
                .writes_after_release_by_request
                .entry(key.clone())
                .or_default() += 1;
        }
        *report.provisioning_writes.entry(key).or_default() += 1;
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
    report.writes_per_cp_after_workspace_ready = report.writes_per_cp_after_ready();
    report.floor_seconds = report.floor();
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

/// The simulator as the admin user, serving only the bench's namespace (for namespaced
/// Workspaces) and only `mode`'s Workspace API; with `gate`, every first apply "takes" that long.
fn spawn_simulator(
    plane: &TestControlPlane,
    admin: &Client,
    mode: Mode,
    gate: Option<Duration>,
) -> SimulatorHandle {
    let mut config = SimulatorConfig::new(SimulatedCluster::from_plane(plane))
        .in_namespace(NAMESPACE)
        .with_apis([mode.api()]);
    if let Some(delay) = gate {
        config = config.with_default_script(Script::new().create_delay(delay));
    }
    Simulator::spawn(admin.clone(), config)
}

/// Records when each Workspace and control plane first reaches the states the bench waits for.
/// Workspaces are those of `mode`'s API: in [`NAMESPACE`], or cluster-wide (the API server is the
/// bench's own, so every one is the bench's).
async fn watch_progress(client: Client, mode: Mode, seen: Arc<Mutex<Seen>>, progress: watch::Sender<()>) {
    let workspaces: Api<DynamicObject> = mode.api().api(client.clone(), Some(NAMESPACE));
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
                // Held: the provider has started its create (crossplane's pending annotation; like
                // the real provider, the simulator reports no status while Terraform applies).
                if ws
                    .annotations()
                    .contains_key("crossplane.io/external-create-pending")
                {
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

/// One WorkspaceTemplate (for `mode`'s Workspace API), then N Clusters each owning one
/// CAPTControlPlane (as Cluster API sets the ownerReference).
async fn create_objects(admin: &Client, n: usize, mode: Mode) -> Result<()> {
    let template: WorkspaceTemplate = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "eks"},
        "spec": {"template": {
            "metadata": {"description": "EKS control plane (scale bench)"},
            "spec": {
                "providerConfigRef": mode.provider_config_ref(),
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
    async fn start(plane: &TestControlPlane, binary: &Path, mode: Mode) -> Result<Self> {
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
            // The Workspace API is the bench's `--workspace-api`, given below, not the environment's.
            .env_remove("WORKSPACE_API")
            .args([
                "--workspace-api",
                mode.as_str(),
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
