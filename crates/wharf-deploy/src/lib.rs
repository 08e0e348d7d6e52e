//! Deployments: a recorded release promoted to an environment.
//!
//! A deployment takes the environment's lease, runs the release's recorded digests on
//! the environment's target (a container behind `wharf proxy`, or the project's own
//! script), moves traffic with the environment's strategy, watches it with the analysis,
//! and rolls back by itself when the health gate or the analysis fails. Every phase is
//! recorded before it starts, so a deployer that dies is reconciled by the next one.

pub mod analysis;
mod ask;
mod deployer;
pub mod docker;
mod environments;
pub mod error;
pub mod proxy;
mod reconcile;
mod target;

pub use ask::Ask;
pub use deployer::{Decision, Decisions, DeployRequest, Deployer, Say, older, system_now};
pub use environments::{EnvironmentState, TargetSummary, declared};
pub use error::{Error, Result, held_message};
pub use reconcile::Reconciled;
pub use target::{DockerState, Step};
