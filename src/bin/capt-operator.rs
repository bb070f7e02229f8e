//! `capt-operator`: reconciles CAPTControlPlanes and WorkspaceTemplateApplies.
//!
//! Every flag has an environment variable fallback (shown in `--help`), so the Deployment can be
//! configured either way. SIGTERM or SIGINT stops it gracefully: no new reconciles start, the
//! running ones finish, the lease (if any) is released.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use capt_controlplane::{
    api::WorkspaceApi,
    controller::{self, Config, run::Runtime},
    metrics::Metrics,
    server,
    telemetry::{self, LogFormat},
};
use clap::{Parser, ValueEnum};
use futures::FutureExt;
use kube::runtime::events::Reporter;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// Cluster API control plane operator for CAPT (EKS through provider-terraform Workspaces).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Watch only this namespace (default: all namespaces). Templates, waited Workspaces and
    /// Secrets are read from the watches, so they must live in it too.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,

    /// Reconcile only objects labelled `cluster.x-k8s.io/watch-filter=<VALUE>`.
    #[arg(long, env = "WATCH_FILTER")]
    watch_filter: Option<String>,

    /// Which provider-terraform Workspace API to write.
    #[arg(long, env = "WORKSPACE_API", value_enum, default_value_t = WorkspaceApiArg::Namespaced)]
    workspace_api: WorkspaceApiArg,

    /// Elect a leader through a coordination.k8s.io Lease, so only one replica reconciles.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,

    /// Namespace of the leader-election Lease (default: the watch namespace, else "default").
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,

    /// Name of the leader-election Lease.
    #[arg(long, env = "LEADER_ELECTION_ID", default_value = "capt-controlplane-leader")]
    leader_election_id: String,

    /// Address of the /metrics endpoint.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,

    /// Address of the /healthz and /readyz endpoints.
    #[arg(long, env = "HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,

    /// How often a Ready control plane is health-checked, in seconds (at most 600).
    #[arg(long, env = "HEALTH_INTERVAL_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    health_interval_seconds: u64,

    /// Do not probe control plane endpoints over HTTPS during health checks.
    #[arg(long, env = "NO_ENDPOINT_PROBE", default_value_t = false)]
    no_endpoint_probe: bool,

    /// Reconciles in flight per controller.
    #[arg(long, env = "CONCURRENCY", default_value_t = 4)]
    concurrency: u16,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkspaceApiArg {
    /// tf.m.upbound.io/v1beta1, namespaced (Crossplane v2).
    Namespaced,
    /// tf.upbound.io/v1beta1, cluster-scoped (legacy).
    ClusterScoped,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_format);
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "capt-operator stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let registry = Arc::new(registry);
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("capt-operator-{}", std::process::id()));

    let config = Config {
        namespace: args.namespace.clone(),
        watch_filter: args.watch_filter.clone(),
        workspace_api: match args.workspace_api {
            WorkspaceApiArg::Namespaced => WorkspaceApi::Namespaced,
            WorkspaceApiArg::ClusterScoped => WorkspaceApi::ClusterScoped,
        },
        health_interval: Duration::from_secs(args.health_interval_seconds),
        probe_endpoints: !args.no_endpoint_probe,
        concurrency: args.concurrency,
    };
    tracing::info!(
        ?config,
        leader_elect = args.leader_elect,
        "starting capt-operator"
    );
    let runtime = Runtime {
        client: client.clone(),
        reporter: Reporter {
            controller: "capt-controlplane".into(),
            instance: Some(identity.clone()),
        },
        metrics,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    // Shared so every task can wait on the same signal.
    let shutdown = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
        .boxed()
        .shared()
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });

    let (ready_tx, ready_rx) = watch::channel(false);
    let server = tokio::spawn(server::serve(
        args.metrics_addr,
        args.health_addr,
        registry,
        ready_rx,
        shutdown.clone(),
    ));

    let lease = if args.leader_elect {
        let ns = args
            .leader_election_namespace
            .or(args.namespace)
            .unwrap_or_else(|| "default".into());
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.leader_election_id)
            .with_namespace(ns)
            .with_identity(&identity)
            .build()
            .await?;
        let (mut leading, task) = manager.watch().await;
        tracing::info!(identity, "waiting to become leader");
        tokio::select! {
            r = leading.wait_for(|l| *l) => { r?; }
            () = shutdown.clone() => return Ok(()),
        }
        tracing::info!(identity, "became leader");
        Some((leading, task))
    } else {
        None
    };

    match lease {
        None => controller::run(runtime, config, ready_tx, shutdown).await?,
        Some((mut leading, task)) => {
            // Losing the lease stops reconciling at once: another replica now writes.
            let lost = async move {
                let _ = leading.wait_for(|l| !*l).await;
                tracing::warn!("lost leadership; stopping");
            };
            tokio::select! {
                r = controller::run(runtime, config, ready_tx, shutdown) => r?,
                () = lost => return Err("lost leadership".into()),
            }
            // Dropping the receiver ends the lease task, which releases the lease.
            if let Ok(Ok(manager)) = task.await {
                let _ = manager.release().await;
            }
        }
    }
    server.abort();
    Ok(())
}
