//! Test and demo support for `capt-controlplane`. **Not part of the operator**: nothing here is
//! shipped in the operator image or linked into the library.
//!
//! Two things:
//!
//! - [`TestControlPlane`] ([`harness`]): a real etcd + kube-apiserver (+ kube-controller-manager
//!   with the garbage collector and namespace controller) on loopback ports, started like
//!   controller-runtime's envtest from the binaries in `KUBEBUILDER_ASSETS`, with the project's
//!   CRDs installed. One per test binary, shared by its tests; each test makes its own client and
//!   namespace ([`TestNamespace`]).
//! - [`Simulator`] ([`simulator`]): plays Crossplane provider-terraform against that API server,
//!   so Workspaces become Ready with outputs and a connection secret, fail, get stuck and are
//!   destroyed on a script. Also a binary, `capt-sim`, for the local demo.
//!
//! ```no_run
//! use capt_testkit::{Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig, TestNamespace};
//!
//! # async fn example() -> capt_testkit::Result<()> {
//! let plane = capt_testkit::shared_plane().await; // fails the test when there is no API server
//! let client = plane.client().await?;
//! let ns = TestNamespace::create(&client, "my-test").await?;
//! let sim = Simulator::spawn(
//!     client.clone(),
//!     SimulatorConfig::new(SimulatedCluster::from_plane(plane)).in_namespace(ns.name()),
//! );
//! sim.script(ScriptKey::namespaced(ns.name(), "demo-eks"), Script::new().apply_error("AccessDenied"));
//! // ... create objects, wait with capt_testkit::wait::wait_for_object ...
//! sim.shutdown().await;
//! ns.delete().await?;
//! # Ok(())
//! # }
//! ```
//!
//! A test that needs the API server never skips: without binaries it fails with instructions
//! (`tools/k8sbins/build.sh`, or envtest's `setup-envtest`); see [`assets`].

pub mod assets;
pub mod audit;
pub mod capi;
pub mod crds;
pub mod eks;
pub mod error;
pub mod harness;
pub mod history;
pub mod http;
pub mod kubeconfig;
pub mod namespace;
pub mod pki;
mod process;
pub mod provider_terraform;
pub mod rbac;
pub mod simulator;
pub mod util;
pub mod wait;
pub mod workspace_api;

pub use assets::BinaryAssets;
pub use error::{Error, Result};
pub use harness::{PlaneOptions, TestControlPlane, shared_plane};
pub use history::ConditionHistory;
pub use namespace::TestNamespace;
pub use simulator::{
    Output, Script, ScriptKey, SimulatedCluster, Simulator, SimulatorConfig, SimulatorHandle,
};
pub use wait::{DEFAULT_TIMEOUT, wait_for, wait_for_deletion, wait_for_object};
pub use workspace_api::WorkspaceApi;
