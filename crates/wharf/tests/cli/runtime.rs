//! The runtime driven in-process, as the server will drive it, records the same run as
//! `wharf run` does for the same pipeline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wharf_model::RunEvent;

use crate::helper::Project;

const PIPELINE: &str = r#"version: 1
jobs:
  build:
    outputs: [v]
    run: |
      mkdir -p dist
      echo wheel > dist/a.whl
      echo "v=1" >> "$WHARF_OUTPUT"
    artifacts: [dist/a.whl]
    reports: [missing.xml]
  test:
    needs: [build]
    env: { V: "${{ needs.build.outputs.v }}" }
    steps:
      - run: echo "got $V $(cat dist/a.whl)"
      - run: exit 2
        continue-on-error: true
  skipped:
    needs: [test]
    if: event == 'tag'
    run: "true"
"#;

/// Collects the events a run shows.
struct Collect(Arc<Mutex<Vec<RunEvent>>>);

impl wharf_runtime::Observer for Collect {
    fn event(&mut self, ev: &RunEvent) {
        self.0.lock().unwrap().push(ev.clone());
    }

    fn warn(&mut self, text: &str) {
        panic!("unexpected warning: {text}");
    }
}

/// `wharf show 1 --json` without what differs between any two runs (times).
fn record(p: &Project) -> serde_json::Value {
    let mut v = p.wharf(&["show", "1", "--json"]).expect(0).json();
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("_at"));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_in_process_records_what_the_cli_records() {
    let cli = Project::new(PIPELINE);
    cli.wharf(&["run", "--plain"]).expect(0);

    let inproc = Project::new(PIPELINE);
    let root = inproc.path().canonicalize().unwrap();
    let pipelines = wharf_pipeline::load_project(&root).expect("valid pipeline");
    // The actor is the front end's to say (the CLI: the local user; the server: who or
    // what delivered the event): the same one here.
    let mut event = wharf_model::Event::new(wharf_model::EventKind::Push);
    event.actor = record(&cli)["event"]["actor"].as_str().map(String::from);
    let plans = wharf_runtime::select(&pipelines, &event, &Default::default()).unwrap();
    let state = root.join(".wharf");
    let store = wharf_store::Store::open(&state).await.unwrap();
    let request = wharf_runtime::RunRequest {
        root: root.clone(),
        state_dir: state.clone(),
        max_parallel: 2,
        kill_grace: Duration::from_secs(5),
        keep_workspaces: false,
        no_deps: false,
        secrets: wharf_runtime::SecretSource::Store,
        key_file: None,
        display: true,
        host_env: wharf_engine::env::host_env(std::env::vars()),
        cache: wharf_engine::cache::JobCache::new(state.join("cache/jobs"), 1 << 30),
        reuse: Vec::new(),
        gate_log: None,
    };
    let shown = Arc::new(Mutex::new(Vec::new()));
    let (_cancel, interrupt) = tokio::sync::watch::channel(0u32);
    let finished = wharf_runtime::run(
        &store,
        plans,
        &request,
        &mut || Box::new(Collect(shown.clone())),
        interrupt,
        &|w| panic!("unexpected notice: {w}"),
    )
    .await
    .unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].status, wharf_model::RunStatus::Success);
    drop(store);

    assert_eq!(record(&inproc), record(&cli));
    // The observer saw the run from its start to its end, with the steps' lines.
    let shown = shown.lock().unwrap();
    assert!(matches!(
        shown.first(),
        Some(RunEvent::RunStarted { run: 1, .. })
    ));
    assert!(matches!(shown.last(), Some(RunEvent::RunFinished { .. })));
    assert!(shown.iter().any(
        |e| matches!(e, RunEvent::Lines { job, text, .. } if job == "test" && text.contains("got 1 wheel"))
    ));
    // And the same logs.
    let logs = |p: &Project| p.wharf(&["logs", "1", "test"]).expect(0).stdout();
    assert_eq!(logs(&inproc), logs(&cli));
}
