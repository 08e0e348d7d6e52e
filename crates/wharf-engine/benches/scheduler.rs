//! The scheduler alone, and the whole engine on the fake executor, driving 10,000 jobs.
//!
//! Run: `cargo bench -p wharf-engine --bench scheduler`. Prints medians of several runs;
//! figures go in docs/benchmarks.md. Not a CI test: nothing here asserts a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_engine::scheduler::{Action, Input, JobNode, NeedsStatus, Outcome, Scheduler};
use wharf_model::{Event, EventKind, Plan, PlannedJob, PlannedStep, RetryPolicy};

/// A DAG of `n` jobs in layers of `width`; job (k, i) needs (k-1, i) and (k-1, (i+1) % width).
fn dag(n: usize, width: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|j| {
            if j < width {
                vec![]
            } else {
                let (k, i) = (j / width, j % width);
                vec![(k - 1) * width + i, (k - 1) * width + (i + 1) % width]
            }
        })
        .collect()
}

fn scheduler_alone(needs: &[Vec<usize>], parallel: usize) -> Duration {
    let nodes = needs
        .iter()
        .map(|n| JobNode {
            needs: n.clone(),
            retries: 0,
            retry_on_timeout: false,
            continue_on_error: false,
        })
        .collect();
    let started = Instant::now();
    let mut s = Scheduler::new(nodes, parallel, true);
    let mut decide = |_: usize, n: NeedsStatus| -> Result<bool, String> { Ok(n.success) };
    let mut running = std::collections::VecDeque::new();
    let mut actions = s.handle(Input::Start, &mut decide);
    loop {
        for a in &actions {
            if let Action::Start { job, .. } = a {
                running.push_back(*job);
            }
        }
        if s.is_done() {
            break;
        }
        let job = running.pop_front().expect("progress");
        actions = s.handle(
            Input::Finished {
                job,
                outcome: Outcome::Success,
            },
            &mut decide,
        );
    }
    started.elapsed()
}

fn plan(needs: &[Vec<usize>]) -> Plan {
    Plan {
        pipeline: "bench".into(),
        file: "wharf.yml".into(),
        event: Event::new(EventKind::Manual),
        env: BTreeMap::new(),
        fail_fast: true,
        pull_request_secrets: false,
        environments: Vec::new(),
        jobs: needs
            .iter()
            .enumerate()
            .map(|(i, n)| PlannedJob {
                id: format!("j{i}"),
                name: format!("j{i}"),
                matrix: BTreeMap::new(),
                needs: n.clone(),
                condition: None,
                steps: vec![PlannedStep {
                    name: "true".into(),
                    action: wharf_model::StepAction::Run {
                        run: "true".into(),
                        shell: "bash".into(),
                    },
                    env: BTreeMap::new(),
                    working_directory: None,
                    timeout_ms: None,
                    continue_on_error: false,
                    condition: None,
                }],
                env: BTreeMap::new(),
                secrets: vec![],
                timeout_ms: None,
                retry: RetryPolicy::default(),
                continue_on_error: false,
                working_directory: None,
                artifacts: vec![],
                artifacts_when: Default::default(),
                reports: vec![],
                outputs: vec![],
                workspace: wharf_model::WorkspaceMode::Shared,
                cache: None,
                image: None,
                services: vec![],
                environment: None,
                external_needs: vec![],
            })
            .collect(),
    }
}

fn engine_on_fake(
    rt: &tokio::runtime::Runtime,
    needs: &[Vec<usize>],
    dir: &std::path::Path,
) -> Duration {
    let plan = Arc::new(plan(needs));
    let started = Instant::now();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let mut opts = wharf_engine::RunOptions::minimal(1, dir);
        opts.max_parallel = 8;
        opts.host_env = vec![];
        let (_itx, irx) = tokio::sync::watch::channel(0);
        let fake = Arc::new(wharf_engine::FakeExecutor::new());
        let status = wharf_engine::run(
            plan,
            opts,
            fake,
            Arc::new(wharf_engine::FakeArtifacts::default()),
            tx,
            irx,
        )
        .await;
        assert_eq!(status, wharf_model::RunStatus::Success);
        drain.await.unwrap();
    });
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let needs = dag(10_000, 8);
    let chain: Vec<Vec<usize>> = (0..10_000)
        .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
        .collect();
    let alone = median((0..9).map(|_| scheduler_alone(&needs, 8)).collect());
    let alone_chain = median((0..9).map(|_| scheduler_alone(&chain, 1)).collect());
    println!(
        "scheduler alone, 10,000-job DAG width 8, -j 8:   {:>8.2} ms",
        alone.as_secs_f64() * 1e3
    );
    println!(
        "scheduler alone, 10,000-job chain, -j 1:         {:>8.2} ms",
        alone_chain.as_secs_f64() * 1e3
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let full = median(
        (0..5)
            .map(|_| engine_on_fake(&rt, &needs, dir.path()))
            .collect(),
    );
    println!(
        "whole engine on the fake executor (log files, outputs files, events), 10,000 jobs: {:>8.1} ms ({:.1} µs/job)",
        full.as_secs_f64() * 1e3,
        full.as_secs_f64() * 1e6 / 10_000.0
    );
}
