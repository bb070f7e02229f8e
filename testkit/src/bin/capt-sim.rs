//! `capt-sim`: the provider-terraform Workspace simulator as a process, for the local demo.
//!
//! It connects with the usual kubeconfig (`KUBECONFIG`, `~/.kube/config` or in-cluster) and
//! reports, as the "EKS cluster" of every Workspace, the cluster of `--cluster-kubeconfig`
//! (default: the same kubeconfig file): its server URL, CA and the file itself as the
//! `kubeconfig` output. Per-Workspace behaviour comes from `sim.capt.dev/*` annotations (see
//! `capt_testkit::simulator::script`); the flags set the defaults.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use capt_testkit::util::parse_duration;
use capt_testkit::{Script, SimulatedCluster, Simulator, SimulatorConfig, WorkspaceApi};
use clap::{Parser, ValueEnum};
use kube::config::Kubeconfig;

/// Plays Crossplane provider-terraform for Workspaces, without Terraform (test and demo only).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Which Workspace APIs to serve.
    #[arg(long, value_enum, default_value = "both", env = "CAPT_SIM_API")]
    api: ApiChoice,
    /// Only namespaced Workspaces in this namespace.
    #[arg(long, env = "CAPT_SIM_NAMESPACE")]
    namespace: Option<String>,
    /// Only Workspaces matching this label selector.
    #[arg(long, env = "CAPT_SIM_SELECTOR")]
    selector: Option<String>,
    /// Default duration of a first apply.
    #[arg(long, default_value = "5s", value_parser = duration, env = "CAPT_SIM_CREATE_DELAY")]
    create_delay: Duration,
    /// Default duration of a re-apply after a spec change.
    #[arg(long, default_value = "2s", value_parser = duration, env = "CAPT_SIM_UPDATE_DELAY")]
    update_delay: Duration,
    /// Default duration of a destroy.
    #[arg(long, default_value = "3s", value_parser = duration, env = "CAPT_SIM_DESTROY_DELAY")]
    destroy_delay: Duration,
    /// Wait between failed attempts.
    #[arg(long, default_value = "2s", value_parser = duration, env = "CAPT_SIM_RETRY_INTERVAL")]
    retry_interval: Duration,
    /// Re-observation period of healthy Workspaces.
    #[arg(long, default_value = "30s", value_parser = duration, env = "CAPT_SIM_POLL_INTERVAL")]
    poll_interval: Duration,
    /// Kubeconfig of the cluster reported in the outputs (default: the one used to connect).
    #[arg(long, env = "CAPT_SIM_CLUSTER_KUBECONFIG")]
    cluster_kubeconfig: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ApiChoice {
    /// tf.m.upbound.io (namespaced)
    Namespaced,
    /// tf.upbound.io (cluster-scoped)
    ClusterScoped,
    /// both
    Both,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration such as 30s or 1m30s"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    let args = Args::parse();
    let client = kube::Client::try_default().await?;
    let cluster = simulated_cluster(args.cluster_kubeconfig.as_deref())?;
    let apis = match args.api {
        ApiChoice::Namespaced => vec![WorkspaceApi::Namespaced],
        ApiChoice::ClusterScoped => vec![WorkspaceApi::ClusterScoped],
        ApiChoice::Both => WorkspaceApi::ALL.to_vec(),
    };
    let mut config = SimulatorConfig::new(cluster).with_apis(apis).with_default_script(
        Script::new()
            .create_delay(args.create_delay)
            .update_delay(args.update_delay)
            .destroy_delay(args.destroy_delay),
    );
    config.namespace = args.namespace;
    config.label_selector = args.selector;
    config.retry_interval = args.retry_interval;
    config.poll_interval = args.poll_interval;
    tracing::info!(endpoint = config.cluster.server, apis = ?config.apis, "capt-sim running; Ctrl-C stops");
    let handle = Simulator::spawn(client, config);
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}

/// The cluster of `path` (or of `$KUBECONFIG` / `~/.kube/config`): server and CA.
fn simulated_cluster(path: Option<&std::path::Path>) -> Result<SimulatedCluster, Box<dyn std::error::Error>> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => std::env::split_paths(&list).next().ok_or("KUBECONFIG is empty")?,
            None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?).join(".kube/config"),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let kubeconfig = Kubeconfig::from_yaml(&text)?;
    let context_name = kubeconfig
        .current_context
        .clone()
        .ok_or("the kubeconfig has no current-context")?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or("the current context is missing")?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or("the current context's cluster is missing")?;
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => String::from_utf8(BASE64.decode(data.trim())?)?,
        (None, Some(file)) => std::fs::read_to_string(file)?,
        (None, None) => return Err("the cluster has no certificate authority".into()),
    };
    Ok(SimulatedCluster {
        server: cluster.server.clone().ok_or("the cluster has no server")?,
        ca_pem,
    })
}
