//! Asking a deployment that has not ended to resume or abort (`wharf deploy resume|abort`,
//! the server's API and dashboard): the request goes into its record, and its deployer,
//! which looks for requests every 200 ms, acts on it.

use std::time::Duration;

use wharf_model::{DeployStatus, DeploymentRecord};
use wharf_store::Store;

use crate::error::{Error, Result};

/// What is asked of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Go on (a paused deployment).
    Resume,
    /// Stop, traffic back on the previous release.
    Abort,
}

impl Ask {
    /// `resume` or `abort`, as the record keeps the request.
    pub fn as_str(self) -> &'static str {
        match self {
            Ask::Resume => "resume",
            Ask::Abort => "abort",
        }
    }

    /// Why it cannot be asked of `rec`, if it cannot: an ended deployment, or a resume of
    /// one that is not paused.
    pub fn refused(self, rec: &DeploymentRecord) -> Option<String> {
        if rec.status.is_final() {
            return Some(format!(
                "deployment {} is over ({}): there is nothing to {}",
                rec.id,
                rec.status.as_str(),
                self.as_str()
            ));
        }
        (self == Ask::Resume && rec.status != DeployStatus::Paused).then(|| {
            format!(
                "deployment {} is not paused ({}): there is nothing to resume",
                rec.id,
                rec.status.as_str()
            )
        })
    }

    /// Whether the deployer has acted on it, as `rec` shows.
    fn acted(self, rec: &DeploymentRecord) -> bool {
        rec.status.is_final() || (self == Ask::Resume && rec.status != DeployStatus::Paused)
    }

    /// Records the request on `rec` (checked with [`Ask::refused`]) and waits up to `wait`
    /// for its deployer to act: whether it did, and the deployment as it is then.
    pub async fn send(
        self,
        store: &Store,
        rec: &DeploymentRecord,
        wait: Duration,
    ) -> Result<(bool, DeploymentRecord)> {
        if let Some(why) = self.refused(rec) {
            return Err(Error::Refused {
                message: why,
                hint: None,
            });
        }
        if !store.request_deployment(rec.id, self.as_str()).await? {
            // It ended meanwhile.
            let now = store.get_deployment(rec.id).await?.unwrap_or(rec.clone());
            return Err(Error::Refused {
                message: self.refused(&now).unwrap_or_default(),
                hint: None,
            });
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = store.get_deployment(rec.id).await?.unwrap_or(rec.clone());
            if self.acted(&now) || tokio::time::Instant::now() > deadline {
                return Ok((self.acted(&now), now));
            }
        }
    }
}
