//! `kubectl capt`: a kubectl plugin that shows CAPT control planes the CAPTEP-0002 way (states,
//! progress, dependency graph, why not Ready, history) and asks a Failed one to retry.
//!
//! Thin I/O: parse arguments, fetch, call the renderers of `capt_controlplane::cli`, print, and
//! map the outcome to the documented exit codes.

use std::{path::PathBuf, process::ExitCode};

use capt_controlplane::{api::CAPTControlPlane, cli, graph::Format};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error talking to the cluster, or the control plane was not found
  2  usage error
  3  refused: retry on a control plane that is not Failed";

/// Inspect CAPT control planes (CAPTControlPlane): state, progress, dependency graph, why they are
/// not Ready, their history; retry a Failed one.
#[derive(Parser, Debug)]
#[command(name = "kubectl capt", bin_name = "kubectl capt", version, after_help = EXIT_CODES)]
struct Args {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    context: Option<String>,
    /// Namespace (default: the context's namespace, else "default").
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A table of control planes: state, progress, ETA, readiness, version, age.
    Status {
        /// One control plane; all in the namespace when absent.
        name: Option<String>,
        /// List control planes in every namespace.
        #[arg(short = 'A', long, conflicts_with_all = ["name", "namespace"])]
        all_namespaces: bool,
    },
    /// The dependency graph from status.dependencyGraph.
    Graph {
        /// The control plane.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = GraphFormat::Tree)]
        output: GraphFormat,
    },
    /// Why a control plane is not Ready (root cause, conditions, recovery) and what to do.
    Explain {
        /// The control plane.
        name: String,
    },
    /// State transitions and recovery attempts.
    History {
        /// The control plane.
        name: String,
    },
    /// Ask a Failed control plane to try again (sets the retry annotation).
    Retry {
        /// The control plane.
        name: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum GraphFormat {
    /// An indented tree.
    Tree,
    /// Graphviz DOT (pipe to `dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// JSON, in the shape of status.dependencyGraph.
    Json,
}

impl From<GraphFormat> for Format {
    fn from(f: GraphFormat) -> Format {
        match f {
            GraphFormat::Tree => Format::Text,
            GraphFormat::Dot => Format::Dot,
            GraphFormat::Mermaid => Format::Mermaid,
            GraphFormat::Json => Format::Json,
        }
    }
}

/// How a command ended, beyond success.
enum Failure {
    /// The cluster could not be reached, an object was not found, or it could not be shown.
    Error(String),
    /// The request makes no sense for the object's state.
    Refused(String),
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Self {
        Failure::Error(e.to_string())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap exits with 2 on usage errors and 0 for --help and --version.
    let args = Args::parse();
    if let Command::Status {
        all_namespaces: true, ..
    } = args.command
        && args.namespace.is_some()
    {
        // clap checks the conflict only when -n follows the subcommand; `-n NS status -A` is
        // caught here, with clap's message and exit code.
        Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the argument '--all-namespaces' cannot be used with '--namespace <NAMESPACE>'",
            )
            .exit();
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("refused: {message}");
            ExitCode::from(3)
        }
    }
}

/// A client for the chosen kubeconfig and context, and the namespace to default to.
async fn connect(args: &Args) -> Result<(Client, String), Failure> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let loading = |e: &dyn std::fmt::Display| Failure::Error(format!("loading kubeconfig: {e}"));
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| Failure::Error(format!("reading kubeconfig {}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| loading(&e))?
        }
        None if args.context.is_some() => Config::from_kubeconfig(&options).await.map_err(|e| loading(&e))?,
        // infer() also covers running inside a Pod.
        None => Config::infer().await.map_err(|e| loading(&e))?,
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Failure::Error(format!("creating client: {e}")))?;
    Ok((client, namespace))
}

/// Gets one control plane, turning 404 into a message that names it and its namespace.
async fn get(api: &Api<CAPTControlPlane>, name: &str, namespace: &str) -> Result<CAPTControlPlane, Failure> {
    api.get_opt(name)
        .await?
        .ok_or_else(|| Failure::Error(format!("control plane {name} not found in namespace {namespace}")))
}

async fn run(args: Args) -> Result<(), Failure> {
    let (client, namespace) = connect(&args).await?;
    let api: Api<CAPTControlPlane> = Api::namespaced(client.clone(), &namespace);
    let now = jiff::Timestamp::now();
    match &args.command {
        Command::Status { name, all_namespaces } => {
            let mut cps = match (name, all_namespaces) {
                (Some(name), _) => vec![get(&api, name, &namespace).await?],
                (None, true) => {
                    Api::<CAPTControlPlane>::all(client)
                        .list(&ListParams::default())
                        .await?
                        .items
                }
                (None, false) => api.list(&ListParams::default()).await?.items,
            };
            if cps.is_empty() {
                // As kubectl get: an empty list is not an error, and the note goes to stderr.
                if *all_namespaces {
                    eprintln!("No control planes found.");
                } else {
                    eprintln!("No control planes found in {namespace} namespace.");
                }
                return Ok(());
            }
            cps.sort_by_key(|cp| (cp.namespace(), cp.name_any()));
            print!("{}", cli::status_table(&cps, *all_namespaces, now));
        }
        Command::Graph { name, output } => {
            let cp = get(&api, name, &namespace).await?;
            let text = cli::graph(&cp, (*output).into()).map_err(|e| Failure::Error(e.to_string()))?;
            print!("{text}");
        }
        Command::Explain { name } => {
            let cp = get(&api, name, &namespace).await?;
            print!("{}", cli::explain(&cp, now));
        }
        Command::History { name } => {
            let cp = get(&api, name, &namespace).await?;
            print!("{}", cli::history(&cp, now));
        }
        Command::Retry { name } => {
            let cp = get(&api, name, &namespace).await?;
            if let Some(refusal) = cli::retry_refusal(&cp) {
                return Err(Failure::Refused(refusal));
            }
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(cli::retry_patch(now)),
            )
            .await?;
            println!(
                "control plane {name} in namespace {namespace}: retry requested; follow it with \
                 `kubectl capt status {name} -n {namespace}`"
            );
        }
    }
    Ok(())
}
