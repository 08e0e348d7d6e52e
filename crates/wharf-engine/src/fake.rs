//! An executor that runs nothing: for testing and benchmarking the engine's control flow.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::executor::{BoxFuture, Executor, StepOutcome, StepRequest};
use crate::logs::LogWriter;

/// Answers every step at once: with the scripted outcome for `(job, step)`, else success.
#[derive(Debug, Default)]
pub struct FakeExecutor {
    scripted: Mutex<HashMap<(String, usize), Vec<StepOutcome>>>,
    calls: Mutex<Vec<StepRequest>>,
}

impl FakeExecutor {
    /// A fake where every step succeeds.
    pub fn new() -> FakeExecutor {
        FakeExecutor::default()
    }

    /// Makes successive runs of `job`'s step `step` end with `outcomes`, in order (the
    /// last one repeats).
    pub fn script(&self, job: &str, step: usize, outcomes: Vec<StepOutcome>) {
        self.scripted
            .lock()
            .expect("fake lock")
            .insert((job.to_string(), step), outcomes);
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<StepRequest> {
        self.calls.lock().expect("fake lock").clone()
    }
}

impl Executor for FakeExecutor {
    fn run_step(
        &self,
        req: StepRequest,
        _cancel: watch::Receiver<bool>,
        mut log: LogWriter,
    ) -> BoxFuture<StepOutcome> {
        let outcome = {
            let mut scripted = self.scripted.lock().expect("fake lock");
            match scripted.get_mut(&(req.job.clone(), req.step)) {
                Some(list) if list.len() > 1 => list.remove(0),
                Some(list) if list.len() == 1 => list[0].clone(),
                _ => StepOutcome::Exited(0),
            }
        };
        log.write(
            wharf_model::LogStream::Stdout,
            format!("fake: {}\n", req.argv.join(" ")).as_bytes(),
        );
        let _ = log.finish();
        if !self.calls.lock().is_ok_and(|c| c.len() > 100_000) {
            self.calls.lock().expect("fake lock").push(req);
        }
        Box::pin(std::future::ready(outcome))
    }
}

/// An artifact store in memory: what tests and benchmarks of the engine give it instead of
/// the content-addressed store on disk.
#[derive(Debug, Default)]
pub struct FakeArtifacts {
    objects: Mutex<HashMap<String, Vec<u8>>>,
}

impl crate::ArtifactStore for FakeArtifacts {
    fn put(&self, path: &std::path::Path) -> std::io::Result<(String, u64)> {
        use sha2::Digest;
        let bytes = std::fs::read(path)?;
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let size = bytes.len() as u64;
        self.objects
            .lock()
            .expect("fake lock")
            .insert(sha.clone(), bytes);
        Ok((sha, size))
    }

    fn materialize(&self, sha256: &str, dest: &std::path::Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let bytes = self
            .objects
            .lock()
            .expect("fake lock")
            .get(sha256)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("no object {sha256}")))?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(dest, bytes)?;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
    }
}
