//! The job-level API: a serialisable JobSpec in, a JobRun out, a cancel token honoured.
//! What a remote agent will do with a job the server hands it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wharf_engine::scheduler::Outcome;
use wharf_engine::{JobEnv, JobRun, LocalExecutor, RunOptions, run_job};
use wharf_model::{Event, EventKind, JobSpec, JobStatus};

const PIPELINE: &str = r#"version: 1
jobs:
  build:
    outputs: [v]
    run: echo "v=1" >> "$WHARF_OUTPUT"
  test:
    needs: [build]
    outputs: [seen]
    env: { V: "${{ needs.build.outputs.v }}" }
    run: echo "seen=$V" >> "$WHARF_OUTPUT"
  slow:
    run: sleep 30
"#;

/// The spec of job `name`, as it would cross the wire to an agent.
fn spec(name: &str, outputs: HashMap<String, BTreeMap<String, String>>) -> JobSpec {
    let pipeline = wharf_pipeline::parse("wharf.yml", PIPELINE).expect("valid");
    let plan = Arc::new(pipeline.plan(&Event::new(EventKind::Push), &[]).unwrap());
    let index = plan.jobs.iter().position(|j| j.name == name).unwrap();
    let results = outputs
        .keys()
        .map(|k| (k.clone(), JobStatus::Success))
        .collect();
    let spec = JobSpec {
        run: 7,
        plan,
        index,
        attempt: 1,
        outputs,
        results,
        inherited: vec![],
        image_digest: None,
        upstream: vec![],
        upstream_artifacts: vec![],
    };
    let wire = serde_json::to_string(&spec).unwrap();
    let back: JobSpec = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, spec, "a spec survives the wire");
    back
}

fn env(dir: &Path, cancel: watch::Receiver<bool>) -> JobEnv {
    std::fs::create_dir_all(dir.join(".wharf/tmp/run-7")).unwrap();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    JobEnv {
        opts: Arc::new(RunOptions::minimal(7, dir)),
        executor: Arc::new(LocalExecutor::new()),
        store: Arc::new(wharf_engine::FakeArtifacts::default()),
        events,
        cancel,
    }
}

#[tokio::test]
async fn a_job_runs_from_its_spec_with_its_needs_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (_tx, cancel) = watch::channel(false);
    let mut needs = HashMap::new();
    needs.insert(
        "build".to_string(),
        BTreeMap::from([("v".to_string(), "1".to_string())]),
    );
    let done = run_job(spec("test", needs), env(dir.path(), cancel)).await;
    assert_eq!(done.outcome, Outcome::Success, "{done:?}");
    assert_eq!(done.outputs.get("seen").map(String::as_str), Some("1"));
    // The result crosses the wire back as well.
    let back: JobRun = serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
    assert_eq!(back, done);
}

#[tokio::test]
async fn the_cancel_token_stops_a_running_job() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, cancel) = watch::channel(false);
    let started = Instant::now();
    let job = tokio::spawn(run_job(
        spec("slow", HashMap::new()),
        env(dir.path(), cancel),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(true).unwrap();
    let done = job.await.unwrap();
    assert_eq!(done.outcome, Outcome::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
