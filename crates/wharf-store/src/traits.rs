//! The store as the runtime sees it: narrow traits, so that a second backend (PostgreSQL
//! for a server with several replicas) can stand where [`crate::Store`] (SQLite) does
//! without touching the runtime, the server or the agent.
//!
//! Each method returns a `Send` future, so generic callers can move the work to another
//! task (the recorder runs on its own). [`crate::Store`] implements them all by delegating to
//! its inherent methods; the content-addressed artifact store has its own trait in the
//! engine (`wharf_engine::ArtifactStore`), and logs are files named by
//! [`crate::log_path`].

use std::future::Future;

use wharf_model::{Millis, ReleaseRecord, RunEvent, RunRecord, RunSummary};

use crate::error::Result;
use crate::secrets::{SecretMeta, SecretRecord};
use crate::signing_keys::SigningKeyRecord;
use crate::store::{NewRun, Store};

/// Runs and their events.
pub trait RunStore: Clone + Send + Sync + 'static {
    /// Records a new run (status `running`, owned by this process) and returns its number.
    fn start_run(&self, new: &NewRun) -> impl Future<Output = Result<u64>> + Send;
    /// Applies a batch of the run's events, all or nothing.
    fn record(&self, run: u64, events: &[RunEvent]) -> impl Future<Output = Result<()>> + Send;
    /// Extends the run's lease to `until` while it runs.
    fn renew_lease(&self, run: u64, until: Millis) -> impl Future<Output = Result<()>> + Send;
    /// One run with its jobs and steps.
    fn get_run(&self, number: u64) -> impl Future<Output = Result<Option<RunRecord>>> + Send;
    /// The latest runs, newest first.
    fn list_runs(&self, limit: u32) -> impl Future<Output = Result<Vec<RunSummary>>> + Send;
}

/// Encrypted secret records (the values stay sealed here).
pub trait SecretStore: Clone + Send + Sync + 'static {
    /// The record of `name` for `scope` (an environment; `None`: every environment).
    fn get_secret(
        &self,
        name: &str,
        scope: Option<&str>,
    ) -> impl Future<Output = Result<Option<SecretRecord>>> + Send;
    /// Stores (or replaces) a record.
    fn put_secret(&self, rec: &SecretRecord) -> impl Future<Output = Result<()>> + Send;
    /// Every record's name and scope, never values.
    fn list_secrets(&self) -> impl Future<Output = Result<Vec<SecretMeta>>> + Send;
    /// Removes a record; whether there was one.
    fn delete_secret(
        &self,
        name: &str,
        scope: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The current release key (its private half sealed), if one was made.
    fn current_signing_key(&self) -> impl Future<Output = Result<Option<SigningKeyRecord>>> + Send;
    /// Stores a release key as the current one (retiring the one before).
    fn put_signing_key(&self, rec: &SigningKeyRecord) -> impl Future<Output = Result<()>> + Send;
}

/// Release records.
pub trait ReleaseStore: Clone + Send + Sync + 'static {
    /// Every release, newest first, without items or evidence.
    fn list_releases(&self) -> impl Future<Output = Result<Vec<ReleaseRecord>>> + Send;
    /// Every release, newest first, whole (items and evidence).
    fn list_releases_whole(&self) -> impl Future<Output = Result<Vec<ReleaseRecord>>> + Send;
    /// One release with its items.
    fn get_release(
        &self,
        version: &str,
    ) -> impl Future<Output = Result<Option<ReleaseRecord>>> + Send;
}

/// Approval gates of deployment jobs.
pub trait ApprovalStore: Clone + Send + Sync + 'static {
    /// Opens (or finds) the gate of a run's job; its id.
    fn open_gate(&self, g: &crate::NewGate<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// One gate with its approvals.
    fn get_gate(&self, id: i64)
    -> impl Future<Output = Result<Option<crate::ApprovalGate>>> + Send;
    /// Ends a gate still waiting.
    fn close_gate(
        &self,
        id: i64,
        state: &str,
        at: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Everything a run needs of the store.
pub trait StateStore: RunStore + SecretStore + ReleaseStore + ApprovalStore {}

impl<T: RunStore + SecretStore + ReleaseStore + ApprovalStore> StateStore for T {}

impl ApprovalStore for Store {
    fn open_gate(&self, g: &crate::NewGate<'_>) -> impl Future<Output = Result<i64>> + Send {
        Store::open_gate(self, g)
    }
    fn get_gate(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<crate::ApprovalGate>>> + Send {
        Store::get_gate(self, id)
    }
    fn close_gate(
        &self,
        id: i64,
        state: &str,
        at: Millis,
    ) -> impl Future<Output = Result<()>> + Send {
        Store::close_gate(self, id, state, at)
    }
}

impl RunStore for Store {
    fn start_run(&self, new: &NewRun) -> impl Future<Output = Result<u64>> + Send {
        Store::start_run(self, new)
    }
    fn record(&self, run: u64, events: &[RunEvent]) -> impl Future<Output = Result<()>> + Send {
        Store::record(self, run, events)
    }
    fn renew_lease(&self, run: u64, until: Millis) -> impl Future<Output = Result<()>> + Send {
        Store::renew_lease(self, run, until)
    }
    fn get_run(&self, number: u64) -> impl Future<Output = Result<Option<RunRecord>>> + Send {
        Store::get_run(self, number)
    }
    fn list_runs(&self, limit: u32) -> impl Future<Output = Result<Vec<RunSummary>>> + Send {
        Store::list_runs(self, limit)
    }
}

impl SecretStore for Store {
    fn get_secret(
        &self,
        name: &str,
        scope: Option<&str>,
    ) -> impl Future<Output = Result<Option<SecretRecord>>> + Send {
        Store::get_secret(self, name, scope)
    }
    fn put_secret(&self, rec: &SecretRecord) -> impl Future<Output = Result<()>> + Send {
        Store::put_secret(self, rec)
    }
    fn list_secrets(&self) -> impl Future<Output = Result<Vec<SecretMeta>>> + Send {
        Store::list_secrets(self)
    }
    fn delete_secret(
        &self,
        name: &str,
        scope: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send {
        Store::delete_secret(self, name, scope)
    }
    fn current_signing_key(&self) -> impl Future<Output = Result<Option<SigningKeyRecord>>> + Send {
        Store::current_signing_key(self)
    }
    fn put_signing_key(&self, rec: &SigningKeyRecord) -> impl Future<Output = Result<()>> + Send {
        Store::put_signing_key(self, rec)
    }
}

impl ReleaseStore for Store {
    fn list_releases(&self) -> impl Future<Output = Result<Vec<ReleaseRecord>>> + Send {
        Store::list_releases(self)
    }
    fn list_releases_whole(&self) -> impl Future<Output = Result<Vec<ReleaseRecord>>> + Send {
        Store::list_releases_whole(self)
    }
    fn get_release(
        &self,
        version: &str,
    ) -> impl Future<Output = Result<Option<ReleaseRecord>>> + Send {
        Store::get_release(self, version)
    }
}
