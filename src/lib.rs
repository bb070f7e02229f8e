//! # capt-controlplane
//!
//! A Cluster API control plane provider for CAPT: EKS control planes provisioned through
//! Crossplane provider-terraform `Workspace`s, managed with the CAPTEP-0002 model of granular
//! states, progress, health, a dependency graph and self-healing. The crate is both the operator
//! (`capt-operator`) and a library for platform engineers who write their own reconcilers.
//!
//! ## The state machine
//!
//! Each state is a type; each legal move is a method that consumes the control plane and demands
//! evidence that only the crate's checks can produce. Illegal moves do not compile.
//!
//! | from | to | evidence |
//! |---|---|---|
//! | Pending | Validating | the owning Cluster was resolved and nothing is paused |
//! | Validating | Provisioning | dependencies validated: graph acyclic, all present, template renders |
//! | Validating | Failed | a permanent configuration error |
//! | Provisioning | Configuring | the Workspace is Synced and Ready for this generation, with outputs |
//! | Provisioning, Configuring, Degraded | Recovering | a failure and a recovery plan with budget left |
//! | Provisioning, Configuring, Degraded, Recovering | Failed | no budget left, or an action timed out |
//! | Configuring | Ready | endpoint written, kubeconfig and CA secrets in place |
//! | Ready | Degraded | a failing health report |
//! | Ready | Provisioning | the spec or the template changed |
//! | Degraded | Ready | the health report is clean again |
//! | Recovering | Provisioning, Configuring, Ready | the action finished; it says where to resume |
//! | Failed | Recovering | the retry annotation or a spec change |
//!
//! ## Library use
//!
//! Rehydrate the machine from a stored status, let the facts decide the moves, write it back:
//!
//! ```
//! use capt_controlplane::{
//!     api::{CAPTControlPlaneStatus, ClusterView},
//!     progress::Operation,
//!     state::{AnyControlPlane, evidence},
//! };
//!
//! let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
//! let mut status = CAPTControlPlaneStatus::default(); // no state yet: Pending
//! let cluster = ClusterView { name: "prod".into(), ..Default::default() };
//!
//! let next: AnyControlPlane = match AnyControlPlane::from_status(Some(&status), now)? {
//!     AnyControlPlane::Pending(cp) => match evidence::resolve_cluster(Some(&cluster), false) {
//!         Ok(resolved) => cp.into_validating(resolved).into(),
//!         Err(_waiting) => cp.into(),
//!     },
//!     other => other,
//! };
//! next.write_status(&mut status, &Operation::new("Validating dependencies", 0.0));
//! assert_eq!(status.state.as_deref(), Some("Validating"));
//! assert_eq!(next.core().transitions()[0].reason, "ClusterResolved");
//! # Ok::<(), capt_controlplane::state::UnknownState>(())
//! ```
//!
//! `cp.into_ready(..)` on a Pending control plane would not compile: `ControlPlane<Pending>` has
//! no such method.
//!
//! ## Modules
//!
//! The pure core holds no client and does no I/O: [`state`], [`progress`], [`render`], [`graph`]
//! (dependency graph: cycles, orders, impact, rendering), [`health`] (checks, verdict, metrics) and
//! [`recovery`] (strategy, backoff, planner, retry record) with [`remedy`] (which action, if any,
//! can fix a failure). The Kubernetes types are in [`api`].
//! With the `operator` feature, `cli` renders what the `kubectl-capt` plugin prints.

pub mod api;
#[cfg(feature = "operator")]
pub mod cli;
#[cfg(feature = "operator")]
pub mod controller;
pub mod desired_apply;
#[cfg(feature = "eks-token")]
pub mod eks_token;
pub mod endpoint;
pub mod graph;
pub mod health;
pub mod kubeconfig;
#[cfg(feature = "operator")]
pub mod metrics;
pub mod progress;
pub mod recovery;
pub mod remedy;
pub mod render;
#[cfg(feature = "operator")]
pub mod server;
pub mod state;
#[cfg(feature = "operator")]
pub mod telemetry;
