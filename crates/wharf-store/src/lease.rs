//! Who owns a running run, and until when.
//!
//! A run is owned by the process that started it, on its host; the owner renews a lease
//! while the run goes on ([`Store::renew_lease`], every [`RENEW_EVERY`]). Recovery marks a
//! `running` run interrupted when its owner is gone: on this host the process table says so
//! at once; for an owner on another host (a server replica, a remote agent sharing the
//! database) the lapsed lease does, after at most [`LEASE_MS`].

use wharf_model::Millis;

use crate::error::Result;
use crate::store::{Store, to_sql};

/// How long a lease lasts without renewal, in milliseconds.
pub const LEASE_MS: Millis = 30_000;

/// How often an owner renews its lease.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// This host's name, as recorded in a run's `owner`.
pub fn host() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

impl Store {
    /// Extends the lease of run `run` to `until` (ms since the epoch) while it is running;
    /// the renewal (`until` - [`LEASE_MS`]) is the owner's last sign of life.
    pub async fn renew_lease(&self, run: u64, until: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET lease_until = ?, last_seen = MAX(COALESCE(last_seen, 0), ?) \
             WHERE number = ? AND status = 'running'",
        )
        .bind(until)
        .bind(until - LEASE_MS)
        .bind(to_sql(run))
        .execute(&self.pool)
        .await
        .map_err(self.db_err("renew a run's lease"))?;
        Ok(())
    }
}
