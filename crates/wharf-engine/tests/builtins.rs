//! Built-in steps through the engine: templates rendered with the run-time context, the
//! runner's outcome and products, and `WHARF_IMAGE_DIGEST` for later steps and jobs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use wharf_engine::logs::LogWriter;
use wharf_engine::{
    BoxFuture, BuiltinOutcome, BuiltinRequest, BuiltinRunner, FakeExecutor, RunOptions, StepOutcome,
};
use wharf_model::{
    Builtin, Event, EventKind, JobStatus, Produced, ProducedKind, RunEvent, RunStatus,
};

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// Records what it was asked and answers with a scripted result.
struct FakeBuiltins {
    seen: Mutex<Vec<Builtin>>,
    fail: Option<String>,
}

impl BuiltinRunner for FakeBuiltins {
    fn run(
        &self,
        req: BuiltinRequest,
        _: watch::Receiver<bool>,
        mut log: LogWriter,
    ) -> BoxFuture<BuiltinOutcome> {
        self.seen.lock().unwrap().push(req.builtin.clone());
        if self.fail.as_deref() == Some("PANIC") {
            panic!("the fake runner broke");
        }
        log.write(wharf_model::LogStream::Stdout, b"built\n");
        let _ = log.finish();
        let out = match &self.fail {
            None => BuiltinOutcome {
                outcome: StepOutcome::Exited(0),
                produced: vec![Produced {
                    kind: ProducedKind::PushedImage,
                    name: "127.0.0.1:5000/demo:dev".into(),
                    digest: DIGEST.into(),
                    size: None,
                }],
                error: None,
                release: None,
                warnings: Vec::new(),
            },
            Some(e) => BuiltinOutcome {
                outcome: StepOutcome::Exited(1),
                produced: vec![],
                error: Some(e.clone()),
                release: None,
                warnings: Vec::new(),
            },
        };
        Box::pin(std::future::ready(out))
    }
}

const PIPELINE: &str = r#"version: 1
env: { REGISTRY: "127.0.0.1:5000" }
jobs:
  image:
    steps:
      - build-image:
          layers: [{ src: dist, dest: /app }]
          image: "${{ env.REGISTRY }}/demo"
          tags: ["${{ version || 'dev' }}"]
          push: true
      - run: ./after-build
  deploy:
    needs: [image]
    run: ./deploy
"#;

async fn run(builtins: Option<Arc<FakeBuiltins>>) -> (RunStatus, Arc<FakeExecutor>, Vec<RunEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = wharf_pipeline::parse("wharf.yml", PIPELINE).expect("valid pipeline");
    let plan = Arc::new(
        pipeline
            .plan(&Event::new(EventKind::Push), &[])
            .expect("plan"),
    );
    let mut opts = RunOptions::minimal(1, dir.path());
    opts.max_parallel = 4;
    opts.host_env = vec![];
    opts.builtins = builtins.map(|b| b as Arc<dyn BuiltinRunner>);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (_itx, irx) = watch::channel(0);
    let fake = Arc::new(FakeExecutor::new());
    let status = wharf_engine::run(
        plan,
        opts,
        fake.clone(),
        Arc::new(wharf_engine::FakeArtifacts::default()),
        tx,
        irx,
    )
    .await;
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (status, fake, events)
}

fn env_of(fake: &FakeExecutor, job: &str) -> BTreeMap<String, String> {
    fake.calls()
        .into_iter()
        .find(|c| c.job == job)
        .expect("step ran")
        .env
        .into_iter()
        .collect()
}

#[tokio::test]
async fn parameters_are_rendered_and_the_digest_reaches_later_steps_and_jobs() {
    let runner = Arc::new(FakeBuiltins {
        seen: Mutex::new(vec![]),
        fail: None,
    });
    let (status, fake, events) = run(Some(runner.clone())).await;
    assert_eq!(status, RunStatus::Success);
    let seen = runner.seen.lock().unwrap().clone();
    let Builtin::BuildImage(b) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(b.image.as_deref(), Some("127.0.0.1:5000/demo"));
    assert_eq!(
        b.tags,
        vec!["dev".to_string()],
        "a push event has no version"
    );
    assert_eq!(
        env_of(&fake, "image")
            .get("WHARF_IMAGE_DIGEST")
            .map(String::as_str),
        Some(DIGEST)
    );
    assert_eq!(
        env_of(&fake, "deploy")
            .get("WHARF_IMAGE_DIGEST")
            .map(String::as_str),
        Some(DIGEST)
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Produced { job, item, .. }
        if job == "image" && item.digest == DIGEST))
    );
}

#[tokio::test]
async fn a_failing_builtin_fails_the_job_with_its_reason() {
    let runner = Arc::new(FakeBuiltins {
        seen: Mutex::new(vec![]),
        fail: Some("registry said no".into()),
    });
    let (status, fake, events) = run(Some(runner)).await;
    assert_eq!(status, RunStatus::Failed);
    let reason = events.iter().find_map(|e| match e {
        RunEvent::JobFinished {
            job,
            status: JobStatus::Failed,
            reason,
            ..
        } if job == "image" => reason.clone(),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("step `build-image`: registry said no")
    );
    assert!(fake.calls().is_empty(), "nothing after the failed step ran");
}

#[tokio::test]
async fn without_a_runner_builtin_steps_fail_clearly() {
    let (status, _, events) = run(None).await;
    assert_eq!(status, RunStatus::Failed);
    let reason = events.iter().find_map(|e| match e {
        RunEvent::JobFinished { job, reason, .. } if job == "image" => reason.clone(),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("step `build-image`: built-in steps are not available in this runner")
    );
}

#[tokio::test]
async fn a_panicking_job_fails_with_the_panic_message_and_the_run_ends() {
    let runner = Arc::new(FakeBuiltins {
        seen: Mutex::new(vec![]),
        fail: Some("PANIC".into()),
    });
    let (status, _, events) = run(Some(runner)).await;
    assert_eq!(status, RunStatus::Failed);
    let finished: Vec<(String, JobStatus, Option<String>)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::JobFinished {
                job,
                status,
                reason,
                ..
            } => Some((job.clone(), *status, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        [
            (
                "image".to_string(),
                JobStatus::Failed,
                Some("internal error in wharf, the job stopped: the fake runner broke".to_string())
            ),
            (
                "deploy".to_string(),
                JobStatus::Skipped,
                Some("a job it needs did not succeed (failed)".to_string())
            ),
        ]
    );
    assert!(matches!(events.last(), Some(RunEvent::RunFinished { .. })));
}
