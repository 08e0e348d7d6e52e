//! The run history (SQLite) and the content-addressed artifact store.
//!
//! Everything wharf remembers about earlier runs lives under one directory (`.wharf/` in
//! a project): `wharf.db` records runs from the engine's [`wharf_model::RunEvent`]s and
//! answers with [`wharf_model::RunRecord`]s; `artifacts/` keeps the files jobs declared,
//! by sha256; `logs/` keeps each step's output, at the path [`log_path`] gives.
//! `wharf.db` also keeps the encrypted secrets ([`SecretRecord`]), as bytes it cannot read.

mod approvals;
mod artifact_store;
pub mod deployments;
mod error;
mod hash;
pub mod lease;
mod logs;
pub mod migrations;
mod process;
mod queries;
mod record;
mod recovery;
mod releases;
mod secrets;
mod signing_keys;
mod store;
mod traits;

pub use approvals::{Approval, ApprovalGate, NewGate};
pub use artifact_store::ArtifactStore;
pub use deployments::{LeaseHolder, NewDeployment, Orphan};
pub use error::{Error, Result};
pub use logs::log_path;
pub use queries::RunFilter;
pub use secrets::{SecretMeta, SecretRecord};
pub use signing_keys::{SigningKeyMeta, SigningKeyRecord};
pub use store::{NewRun, Store};
pub use traits::{ApprovalStore, ReleaseStore, RunStore, SecretStore, StateStore};
