//! The scheduler: a pure state machine that decides which job runs when.
//!
//! It never touches a process, a clock or a socket: the driver feeds it [`Input`]s (a job
//! finished, the user pressed Ctrl-C) and performs the [`Action`]s it returns. That keeps
//! the hard part (ordering, fail-fast, retries, conditions, concurrency bounds) testable
//! without processes and fast enough to drive 10,000 jobs in milliseconds.
//!
//! A job becomes ready the moment its own needs are finished: there are no levels or
//! stages (a slow job delays only its own dependants). Among ready jobs, the one earliest in
//! the plan starts first, so runs are deterministic.

use std::collections::BTreeSet;

use wharf_model::{JobStatus, RunStatus};

/// What the scheduler needs to know about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobNode {
    /// Indices of the jobs this one needs.
    pub needs: Vec<usize>,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Retry also after a timeout.
    pub retry_on_timeout: bool,
    /// A failure does not fail the run and does not trigger fail-fast.
    pub continue_on_error: bool,
}

/// How one attempt of a job ended, as reported by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded.
    Success,
    /// A step failed.
    Failed,
    /// The job ran past its timeout and was killed.
    TimedOut,
    /// The job was killed because the scheduler asked (fail-fast or Ctrl-C).
    Cancelled,
}

impl Outcome {
    /// Whether attempt `attempt` ending so is retried under a policy of `max` extra attempts
    /// (timeouts only with `on_timeout`), unless the run is being cancelled. The one place
    /// the rule lives: the scheduler decides with it, the job runner keeps a failed
    /// attempt's workspace by it.
    pub fn retries(self, attempt: u32, max: u32, on_timeout: bool) -> bool {
        let retryable = match self {
            Outcome::Failed => true,
            Outcome::TimedOut => on_timeout,
            Outcome::Success | Outcome::Cancelled => false,
        };
        retryable && attempt <= max
    }
}

/// What happened, fed to [`Scheduler::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Begin the run.
    Start,
    /// An attempt of a job ended.
    Finished {
        /// The job's index.
        job: usize,
        /// How the attempt ended.
        outcome: Outcome,
    },
    /// The user asked to stop (Ctrl-C): cancel running jobs, start nothing that does not
    /// ask to run when cancelled.
    Interrupt,
}

/// What the scheduler asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start an attempt of a job.
    Start {
        /// The job's index.
        job: usize,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Kill a running job; the driver reports it back as [`Outcome::Cancelled`].
    Cancel {
        /// The job's index.
        job: usize,
    },
    /// A job reached its final status (including jobs that never started).
    Finish {
        /// The job's index.
        job: usize,
        /// Its final status.
        status: JobStatus,
        /// Why, when the status alone does not say it.
        reason: Option<String>,
    },
    /// Every job is final: the run is over.
    Done(RunStatus),
}

/// The status functions' view of a job's needs, given to the condition callback. As in
/// GitHub Actions, they judge every job the job needs directly or through others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsStatus {
    /// Every job needed, directly or not, succeeded (`success()`).
    pub success: bool,
    /// At least one job needed, directly or not, failed (`failure()`).
    pub failure: bool,
    /// The run was cancelled: interrupted by the user (`cancelled()`). As in GitHub
    /// Actions, a failure does not make it true, fail-fast or not.
    pub cancelled: bool,
    /// The run is stopping (fail-fast after a failure, or interrupted): jobs not started
    /// run only when their `if:` asks to with a status function (`always()`,
    /// `failure()`, `!cancelled()` …), and `success()` is false for them.
    pub stopping: bool,
}

/// Decides whether a job whose needs are final should run. The driver evaluates the job's
/// `if:` here; without one, the default is `success() && !cancelled()` and the run must not
/// be stopping.
pub trait Decide {
    /// `Ok(true)` to run the job, `Ok(false)` to skip it, `Err(message)` when its
    /// condition cannot be evaluated (the job then fails with that message).
    fn should_run(&mut self, job: usize, needs: NeedsStatus) -> Result<bool, String>;

    /// [`Decide::should_run`], with the final status of any job that has one (`done`):
    /// the jobs a decision follows may have ended within the same [`Scheduler::handle`],
    /// before their caller could record them (`needs.JOB.result` reads them here).
    fn should_run_with(
        &mut self,
        job: usize,
        needs: NeedsStatus,
        done: &dyn Fn(usize) -> Option<JobStatus>,
    ) -> Result<bool, String> {
        let _ = done;
        self.should_run(job, needs)
    }
}

impl<F: FnMut(usize, NeedsStatus) -> Result<bool, String>> Decide for F {
    fn should_run(&mut self, job: usize, needs: NeedsStatus) -> Result<bool, String> {
        self(job, needs)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Some needs are not final yet.
    Waiting,
    /// Needs final and condition true; waiting for a free slot.
    Ready { attempt: u32 },
    /// An attempt is running.
    Running {
        attempt: u32,
        cancel_requested: bool,
    },
    /// Final.
    Done(JobStatus),
}

/// The scheduler's state. Drive it with [`Scheduler::handle`].
#[derive(Debug)]
pub struct Scheduler {
    nodes: Vec<JobNode>,
    dependants: Vec<Vec<usize>>,
    /// How many needs of each job are not final yet.
    open_needs: Vec<usize>,
    states: Vec<State>,
    /// Per job, once decided: whether every job it needs, directly or not, succeeded
    /// (what `success()` sees), and whether one of them failed (`failure()`). GitHub
    /// Actions judges the whole chain: a job after a job that ran `if: always()` past a
    /// failure still sees that failure.
    chain_ok: Vec<bool>,
    chain_failed: Vec<bool>,
    /// Ready jobs, ordered by plan index.
    ready: BTreeSet<usize>,
    running: usize,
    done: usize,
    max_parallel: usize,
    fail_fast: bool,
    /// Fail-fast tripped or the user interrupted.
    cancelled: bool,
    interrupted: bool,
    finished: bool,
}

impl Scheduler {
    /// A scheduler for `nodes` (needs must point at valid indices and form no cycle: the
    /// pipeline validator guarantees both), running at most `max_parallel` jobs at once.
    pub fn new(nodes: Vec<JobNode>, max_parallel: usize, fail_fast: bool) -> Scheduler {
        let n = nodes.len();
        let mut dependants = vec![Vec::new(); n];
        let mut open_needs = vec![0; n];
        for (i, node) in nodes.iter().enumerate() {
            open_needs[i] = node.needs.len();
            for &need in &node.needs {
                dependants[need].push(i);
            }
        }
        Scheduler {
            nodes,
            dependants,
            open_needs,
            states: vec![State::Waiting; n],
            chain_ok: vec![true; n],
            chain_failed: vec![false; n],
            ready: BTreeSet::new(),
            running: 0,
            done: 0,
            max_parallel: max_parallel.max(1),
            fail_fast,
            cancelled: false,
            interrupted: false,
            finished: false,
        }
    }

    /// Applies one input and returns the actions to perform, in order.
    pub fn handle(&mut self, input: Input, decide: &mut dyn Decide) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Start => {
                for job in 0..self.nodes.len() {
                    if self.open_needs[job] == 0 {
                        self.decide(job, decide, &mut actions);
                    }
                }
            }
            Input::Finished { job, outcome } => self.finished(job, outcome, decide, &mut actions),
            Input::Interrupt => {
                self.interrupted = true;
                self.cancel_everything(decide, &mut actions);
            }
        }
        self.fill_slots(&mut actions);
        if !self.finished && self.done == self.nodes.len() {
            self.finished = true;
            actions.push(Action::Done(self.run_status()));
        }
        actions
    }

    /// Whether every job is final.
    pub fn is_done(&self) -> bool {
        self.finished
    }

    /// The final status of a job, if it has one.
    pub fn status(&self, job: usize) -> Option<JobStatus> {
        match self.states[job] {
            State::Done(s) => Some(s),
            _ => None,
        }
    }

    fn finished(
        &mut self,
        job: usize,
        outcome: Outcome,
        decide: &mut dyn Decide,
        actions: &mut Vec<Action>,
    ) {
        let State::Running {
            attempt,
            cancel_requested,
        } = self.states[job]
        else {
            return; // a stale report for a job that is not running: ignore
        };
        self.running -= 1;
        let node = &self.nodes[job];
        let retry = outcome.retries(attempt, node.retries, node.retry_on_timeout);
        if retry && !self.cancelled && !cancel_requested {
            self.states[job] = State::Ready {
                attempt: attempt + 1,
            };
            self.ready.insert(job);
            return;
        }
        let status = match outcome {
            Outcome::Success => JobStatus::Success,
            Outcome::Cancelled => JobStatus::Cancelled,
            Outcome::Failed if node.continue_on_error => JobStatus::FailedAllowed,
            Outcome::TimedOut if node.continue_on_error => JobStatus::FailedAllowed,
            Outcome::Failed => JobStatus::Failed,
            Outcome::TimedOut => JobStatus::TimedOut,
        };
        let reason = (status == JobStatus::FailedAllowed)
            .then(|| "failed, allowed by continue-on-error".to_string());
        self.complete(job, status, reason, decide, actions);
        if status.fails_run() && self.fail_fast && !self.cancelled {
            self.cancel_everything(decide, actions);
        }
    }

    /// Records a final status and wakes the dependants whose needs are now all final.
    fn complete(
        &mut self,
        job: usize,
        status: JobStatus,
        reason: Option<String>,
        decide: &mut dyn Decide,
        actions: &mut Vec<Action>,
    ) {
        self.states[job] = State::Done(status);
        self.done += 1;
        actions.push(Action::Finish {
            job,
            status,
            reason,
        });
        // Iterative wake-up: skipping a job can complete a long chain of dependants, and
        // recursion would then be as deep as the chain.
        let mut woken = Vec::new();
        for i in 0..self.dependants[job].len() {
            let d = self.dependants[job][i];
            self.open_needs[d] -= 1;
            if self.open_needs[d] == 0 {
                woken.push(d);
            }
        }
        for d in woken {
            self.decide(d, decide, actions);
        }
    }

    fn decide(&mut self, job: usize, decide: &mut dyn Decide, actions: &mut Vec<Action>) {
        let mut stack = vec![job];
        while let Some(job) = stack.pop() {
            let needs = self.needs_status(job);
            self.chain_ok[job] = needs.success;
            self.chain_failed[job] = needs.failure;
            let states = &self.states;
            let done = |n: usize| match states.get(n) {
                Some(State::Done(s)) => Some(*s),
                _ => None,
            };
            match decide.should_run_with(job, needs, &done) {
                Ok(true) => {
                    self.states[job] = State::Ready { attempt: 1 };
                    self.ready.insert(job);
                }
                Ok(false) => {
                    let (status, reason) = self.skip_reason(job);
                    self.states[job] = State::Done(status);
                    self.done += 1;
                    actions.push(Action::Finish {
                        job,
                        status,
                        reason: Some(reason),
                    });
                    self.wake(job, &mut stack);
                }
                Err(message) => {
                    self.states[job] = State::Done(JobStatus::Failed);
                    self.done += 1;
                    actions.push(Action::Finish {
                        job,
                        status: JobStatus::Failed,
                        reason: Some(message),
                    });
                    self.wake(job, &mut stack);
                    if self.fail_fast && !self.cancelled {
                        self.cancel_everything(decide, actions);
                    }
                }
            }
        }
    }

    fn wake(&mut self, job: usize, stack: &mut Vec<usize>) {
        for i in (0..self.dependants[job].len()).rev() {
            let d = self.dependants[job][i];
            self.open_needs[d] -= 1;
            if self.open_needs[d] == 0 {
                stack.push(d);
            }
        }
    }

    /// What the status functions see for `job`: over every job it needs, directly or
    /// through others (each need's own chain was settled when it was decided).
    fn needs_status(&self, job: usize) -> NeedsStatus {
        let mut success = true;
        let mut failure = false;
        for &need in &self.nodes[job].needs {
            if let State::Done(s) = self.states[need] {
                success &= s.counts_as_success() && self.chain_ok[need];
                failure |= s.fails_run() || self.chain_failed[need];
            }
        }
        NeedsStatus {
            success,
            failure,
            cancelled: self.interrupted,
            stopping: self.cancelled,
        }
    }

    fn skip_reason(&self, job: usize) -> (JobStatus, String) {
        if self.cancelled {
            let why = if self.interrupted {
                "the run was interrupted"
            } else {
                "fail-fast: another job failed"
            };
            return (JobStatus::Cancelled, why.to_string());
        }
        let failed: Vec<&str> = self.nodes[job]
            .needs
            .iter()
            .filter_map(|&n| match self.states[n] {
                State::Done(s) if !s.counts_as_success() => Some(s.as_str()),
                _ => None,
            })
            .collect();
        let chain = self.nodes[job].needs.iter().any(|&n| !self.chain_ok[n]);
        if failed.is_empty() && chain {
            (
                JobStatus::Skipped,
                "a job earlier in its needs chain did not succeed (success() judges every \
                 ancestor, as in GitHub Actions)"
                    .to_string(),
            )
        } else if failed.is_empty() {
            (
                JobStatus::Skipped,
                "its if: condition was false".to_string(),
            )
        } else {
            (
                JobStatus::Skipped,
                format!("a job it needs did not succeed ({})", failed.join(", ")),
            )
        }
    }

    /// Cancels the running jobs, and decides again, under the cancel, on the jobs that were
    /// ready but had no slot yet (with `-j 1`, every job after the running one): only
    /// `if: always()` / `cancelled()` jobs still run.
    fn cancel_everything(&mut self, decide: &mut dyn Decide, actions: &mut Vec<Action>) {
        self.cancelled = true;
        for job in 0..self.states.len() {
            if let State::Running {
                attempt,
                cancel_requested: false,
            } = self.states[job]
            {
                self.states[job] = State::Running {
                    attempt,
                    cancel_requested: true,
                };
                actions.push(Action::Cancel { job });
            }
        }
        for job in std::mem::take(&mut self.ready) {
            self.states[job] = State::Waiting;
            self.decide(job, decide, actions);
        }
    }

    fn fill_slots(&mut self, actions: &mut Vec<Action>) {
        while self.running < self.max_parallel {
            let Some(job) = self.ready.pop_first() else {
                break;
            };
            let State::Ready { attempt } = self.states[job] else {
                continue;
            };
            self.states[job] = State::Running {
                attempt,
                cancel_requested: false,
            };
            self.running += 1;
            actions.push(Action::Start { job, attempt });
        }
    }

    fn run_status(&self) -> RunStatus {
        if self.interrupted {
            return RunStatus::Cancelled;
        }
        let failed = self
            .states
            .iter()
            .any(|s| matches!(s, State::Done(st) if st.fails_run()));
        if failed {
            RunStatus::Failed
        } else {
            RunStatus::Success
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(needs: &[usize]) -> JobNode {
        JobNode {
            needs: needs.to_vec(),
            retries: 0,
            retry_on_timeout: false,
            continue_on_error: false,
        }
    }

    /// Reports that `job` ended with `outcome`.
    fn finish(s: &mut Scheduler, job: usize, outcome: Outcome, d: &mut dyn Decide) -> Vec<Action> {
        s.handle(Input::Finished { job, outcome }, d)
    }

    fn default_decide(_: usize, n: NeedsStatus) -> Result<bool, String> {
        Ok(n.success && !n.stopping)
    }

    /// Runs to completion, finishing started jobs in FIFO order with `outcome_of`.
    fn simulate(
        sched: &mut Scheduler,
        mut outcome_of: impl FnMut(usize, u32) -> Outcome,
    ) -> (Vec<Action>, RunStatus) {
        let mut log = Vec::new();
        let mut queue = std::collections::VecDeque::new();
        let mut decide = default_decide;
        let mut pending = sched.handle(Input::Start, &mut decide);
        loop {
            for a in &pending {
                if let Action::Start { job, attempt } = a {
                    queue.push_back((*job, *attempt));
                }
                if let Action::Cancel { job } = a {
                    queue.retain(|(j, _)| j != job);
                    queue.push_front((*job, 0));
                }
            }
            log.extend(pending.iter().cloned());
            if let Some(Action::Done(s)) = pending.last() {
                return (log, *s);
            }
            let (job, attempt) = queue.pop_front().expect("scheduler stalled");
            let outcome = if attempt == 0 {
                Outcome::Cancelled
            } else {
                outcome_of(job, attempt)
            };
            pending = sched.handle(Input::Finished { job, outcome }, &mut decide);
        }
    }

    fn starts(log: &[Action]) -> Vec<usize> {
        log.iter()
            .filter_map(|a| match a {
                Action::Start { job, .. } => Some(*job),
                _ => None,
            })
            .collect()
    }

    fn final_status(log: &[Action], job: usize) -> JobStatus {
        log.iter()
            .rev()
            .find_map(|a| match a {
                Action::Finish { job: j, status, .. } if *j == job => Some(*status),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_job_starts_as_soon_as_its_own_needs_succeed() {
        // 0 -> 2, 1 -> 3; 0 finishes first: 2 must start before 1 finishes.
        let mut s = Scheduler::new(vec![node(&[]), node(&[]), node(&[0]), node(&[1])], 4, true);
        let mut d = default_decide;
        let a = s.handle(Input::Start, &mut d);
        assert_eq!(starts(&a), vec![0, 1]);
        let a = finish(&mut s, 0, Outcome::Success, &mut d);
        assert_eq!(starts(&a), vec![2]);
    }

    #[test]
    fn concurrency_is_bounded_and_ordered_by_plan_position() {
        let nodes = (0..10).map(|_| node(&[])).collect();
        let mut s = Scheduler::new(nodes, 3, true);
        let mut d = default_decide;
        let a = s.handle(Input::Start, &mut d);
        assert_eq!(starts(&a), vec![0, 1, 2]);
        let a = finish(&mut s, 1, Outcome::Success, &mut d);
        assert_eq!(starts(&a), vec![3]);
    }

    #[test]
    fn fail_fast_cancels_running_and_waiting_jobs() {
        let mut s = Scheduler::new(vec![node(&[]), node(&[]), node(&[1])], 4, true);
        let mut d = default_decide;
        s.handle(Input::Start, &mut d);
        let a = finish(&mut s, 0, Outcome::Failed, &mut d);
        assert!(a.contains(&Action::Cancel { job: 1 }));
        let a = finish(&mut s, 1, Outcome::Cancelled, &mut d);
        assert_eq!(final_status(&a, 1), JobStatus::Cancelled);
        assert!(matches!(
            a.iter()
                .find(|x| matches!(x, Action::Finish { job: 2, .. })),
            Some(Action::Finish {
                status: JobStatus::Cancelled,
                ..
            })
        ));
        assert_eq!(a.last(), Some(&Action::Done(RunStatus::Failed)));
    }

    #[test]
    fn fail_fast_with_one_slot_cancels_the_jobs_not_started() {
        // -j 1: jobs 1 and 2 are ready but wait for the slot job 0 holds.
        let mut s = Scheduler::new(vec![node(&[]), node(&[]), node(&[])], 1, true);
        let mut d = default_decide;
        let a = s.handle(Input::Start, &mut d);
        assert_eq!(starts(&a), vec![0]);
        let a = finish(&mut s, 0, Outcome::Failed, &mut d);
        assert!(
            starts(&a).is_empty(),
            "nothing starts after the failure: {a:?}"
        );
        assert_eq!(final_status(&a, 1), JobStatus::Cancelled);
        assert_eq!(final_status(&a, 2), JobStatus::Cancelled);
        assert_eq!(a.last(), Some(&Action::Done(RunStatus::Failed)));
    }

    #[test]
    fn without_fail_fast_independent_jobs_finish() {
        let mut s = Scheduler::new(vec![node(&[]), node(&[]), node(&[1])], 4, false);
        let (log, status) = simulate(&mut s, |j, _| {
            if j == 0 {
                Outcome::Failed
            } else {
                Outcome::Success
            }
        });
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(final_status(&log, 2), JobStatus::Success);
    }

    #[test]
    fn continue_on_error_neither_fails_the_run_nor_blocks_dependants() {
        let mut n0 = node(&[]);
        n0.continue_on_error = true;
        let mut s = Scheduler::new(vec![n0, node(&[0])], 4, true);
        let (log, status) = simulate(&mut s, |j, _| {
            if j == 0 {
                Outcome::Failed
            } else {
                Outcome::Success
            }
        });
        assert_eq!(status, RunStatus::Success);
        assert_eq!(final_status(&log, 0), JobStatus::FailedAllowed);
        assert_eq!(final_status(&log, 1), JobStatus::Success);
    }

    #[test]
    fn retries_until_success_or_exhausted() {
        let mut n = node(&[]);
        n.retries = 2;
        let mut s = Scheduler::new(vec![n.clone()], 1, true);
        let (log, status) = simulate(&mut s, |_, attempt| {
            if attempt < 3 {
                Outcome::Failed
            } else {
                Outcome::Success
            }
        });
        assert_eq!(status, RunStatus::Success);
        assert_eq!(starts(&log).len(), 3);

        let mut s = Scheduler::new(vec![n], 1, true);
        let (log, status) = simulate(&mut s, |_, _| Outcome::Failed);
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(starts(&log).len(), 3);
    }

    #[test]
    fn timeouts_retry_only_when_asked() {
        let mut n = node(&[]);
        n.retries = 1;
        let mut s = Scheduler::new(vec![n.clone()], 1, true);
        let (log, _) = simulate(&mut s, |_, _| Outcome::TimedOut);
        assert_eq!(starts(&log).len(), 1);
        assert_eq!(final_status(&log, 0), JobStatus::TimedOut);
        n.retry_on_timeout = true;
        let mut s = Scheduler::new(vec![n], 1, true);
        let (log, _) = simulate(&mut s, |_, _| Outcome::TimedOut);
        assert_eq!(starts(&log).len(), 2);
    }

    #[test]
    fn status_functions_judge_the_whole_needs_chain() {
        // 0 fails; 1 needs 0 and always runs; 2 needs 1 (default condition); 3 needs 2
        // and runs on failure(): as in GitHub Actions, 2 sees 0's failure through 1 and
        // is skipped, and 3 sees it through 1 and 2 (skipped) and runs.
        let nodes = vec![node(&[]), node(&[0]), node(&[1]), node(&[2])];
        let mut s = Scheduler::new(nodes, 4, false);
        let mut d = |job: usize, n: NeedsStatus| -> Result<bool, String> {
            Ok(match job {
                1 => true,
                3 => n.failure,
                _ => n.success && !n.stopping,
            })
        };
        s.handle(Input::Start, &mut d);
        let a = finish(&mut s, 0, Outcome::Failed, &mut d);
        assert_eq!(starts(&a), vec![1]);
        let a = finish(&mut s, 1, Outcome::Success, &mut d);
        assert_eq!(final_status(&a, 2), JobStatus::Skipped);
        let reason = a.iter().find_map(|x| match x {
            Action::Finish { job: 2, reason, .. } => reason.clone(),
            _ => None,
        });
        assert!(reason.unwrap().contains("earlier in its needs chain"));
        assert_eq!(starts(&a), vec![3]);
    }

    #[test]
    fn conditions_see_needs_status() {
        // 2 runs on failure of 0 (always-style condition), 1 only on success.
        let mut s = Scheduler::new(vec![node(&[]), node(&[0]), node(&[0])], 4, false);
        let mut d = |job: usize, n: NeedsStatus| -> Result<bool, String> {
            Ok(if job == 2 { n.failure } else { n.success })
        };
        s.handle(Input::Start, &mut d);
        let a = finish(&mut s, 0, Outcome::Failed, &mut d);
        assert_eq!(starts(&a), vec![2]);
        assert_eq!(final_status(&a, 1), JobStatus::Skipped);
    }

    #[test]
    fn a_condition_error_fails_the_job() {
        let mut s = Scheduler::new(vec![node(&[])], 1, true);
        let mut d = |_: usize, _: NeedsStatus| -> Result<bool, String> { Err("bad".into()) };
        let a = s.handle(Input::Start, &mut d);
        assert_eq!(final_status(&a, 0), JobStatus::Failed);
        assert_eq!(a.last(), Some(&Action::Done(RunStatus::Failed)));
    }

    #[test]
    fn interrupt_cancels_running_and_pending_jobs() {
        let mut s = Scheduler::new(vec![node(&[]), node(&[0]), node(&[])], 1, false);
        let mut d = default_decide;
        s.handle(Input::Start, &mut d);
        let a = s.handle(Input::Interrupt, &mut d);
        assert_eq!(
            a,
            vec![Action::Cancel { job: 0 }, {
                Action::Finish {
                    job: 2,
                    status: JobStatus::Cancelled,
                    reason: Some("the run was interrupted".into()),
                }
            }]
        );
        let a = finish(&mut s, 0, Outcome::Cancelled, &mut d);
        assert_eq!(final_status(&a, 1), JobStatus::Cancelled);
        assert_eq!(a.last(), Some(&Action::Done(RunStatus::Cancelled)));
    }

    #[test]
    fn a_long_skipped_chain_does_not_recurse() {
        let n = 100_000;
        let nodes = (0..n)
            .map(|i| if i == 0 { node(&[]) } else { node(&[i - 1]) })
            .collect();
        let mut s = Scheduler::new(nodes, 8, false);
        let (log, status) = simulate(&mut s, |_, _| Outcome::Failed);
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(final_status(&log, n - 1), JobStatus::Skipped);
    }

    #[test]
    fn empty_plan_is_done_at_once() {
        let mut s = Scheduler::new(vec![], 1, true);
        let mut d = default_decide;
        assert_eq!(
            s.handle(Input::Start, &mut d),
            vec![Action::Done(RunStatus::Success)]
        );
    }
}
