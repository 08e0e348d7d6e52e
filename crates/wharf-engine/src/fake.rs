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
