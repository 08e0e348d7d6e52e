//! The store against real SQLite files and a real file system, in temp dirs.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use wharf_model::{
    ArtifactRecord, Event, EventKind, FailedTest, FailureKind, JobInfo, JobRecord, JobStatus,
    LogStream, Produced, ProducedKind, ReportRecord, RunEvent, RunRecord, RunStatus, RunSummary,
    StepRecord, StepStatus, WarningRecord,
};
use wharf_store::{ArtifactStore, Error, NewRun, SecretMeta, SecretRecord, Store, log_path};

fn push_event() -> Event {
    let mut event = Event::new(EventKind::Push);
    event.branch = Some("main".into());
    event.sha = Some("0123abcd".into());
    event.inputs.insert("why".into(), "test".into());
    event
}

fn job(id: &str, needs: &[&str], steps: &[&str]) -> JobInfo {
    JobInfo {
        id: id.into(),
        name: id.split(' ').next().unwrap().into(),
        needs: needs.iter().map(|s| s.to_string()).collect(),
        steps: steps.iter().map(|s| s.to_string()).collect(),
    }
}

fn new_run(jobs: Vec<JobInfo>, pid: u32) -> NewRun {
    NewRun {
        pipeline: "release".into(),
        file: "wharf.yml".into(),
        event: push_event(),
        jobs,
        at: 1_000,
        pid,
    }
}

fn simple_run() -> NewRun {
    new_run(vec![job("build", &[], &["compile"])], std::process::id())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn run_numbers_continue_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.latest_run().await.unwrap(), None);
    assert!(store.list_runs(10).await.unwrap().is_empty());
    assert_eq!(store.start_run(&simple_run()).await.unwrap(), 1);
    assert_eq!(store.start_run(&simple_run()).await.unwrap(), 2);
    drop(store);

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.start_run(&simple_run()).await.unwrap(), 3);
    assert_eq!(store.latest_run().await.unwrap(), Some(3));
    let numbers: Vec<u64> = store
        .list_runs(2)
        .await
        .unwrap()
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, [3, 2]);
    assert_eq!(store.path(), dir.path().join("wharf.db"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_start_run_from_two_handles_never_shares_a_number() {
    let dir = tempfile::tempdir().unwrap();
    // Opening at the same time also exercises the first-open schema creation race.
    let (a, b) = tokio::join!(Store::open(dir.path()), Store::open(dir.path()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.start_run(&simple_run()).await.unwrap()
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<u64>>());
    assert_eq!(b.latest_run().await.unwrap(), Some(40));
}

#[tokio::test]
async fn a_recorded_run_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let jobs = vec![
        job("build", &[], &["compile", "package"]),
        job("test (py=3.11)", &["build"], &["pytest"]),
        job("deploy", &["test (py=3.11)"], &["ship"]),
    ];
    let run = store
        .start_run(&new_run(jobs.clone(), std::process::id()))
        .await
        .unwrap();
    let (_, log0) = log_path(dir.path(), run, "build", 0);
    let (_, log1) = log_path(dir.path(), run, "build", 1);
    let (_, test_log) = log_path(dir.path(), run, "test (py=3.11)", 0);
    let digest = "ab".repeat(32);
    let failed_tests = vec![
        FailedTest {
            name: "test_sub".into(),
            classname: "tests.test_calc".into(),
            kind: FailureKind::Failure,
            message: "assert 1 == 2\n  where 1 = sub(3, 2)".into(),
        },
        FailedTest {
            name: "test_read".into(),
            classname: String::new(),
            kind: FailureKind::Error,
            message: "FileNotFoundError".into(),
        },
    ];

    let batch1 = vec![
        RunEvent::RunStarted {
            run,
            pipeline: "release".into(),
            file: "wharf.yml".into(),
            event: push_event(),
            jobs,
            at: 1_000,
        },
        RunEvent::JobStarted {
            job: "build".into(),
            attempt: 1,
            at: 1_010,
        },
        RunEvent::StepStarted {
            job: "build".into(),
            step: 0,
            name: "compile".into(),
            at: 1_020,
        },
        RunEvent::Lines {
            job: "build".into(),
            step: 0,
            stream: LogStream::Output,
            text: "compiling".into(),
        },
    ];
    let batch2 = vec![
        RunEvent::StepFinished {
            job: "build".into(),
            step: 0,
            status: StepStatus::Success,
            exit_code: Some(0),
            log: Some(log0.clone()),
            at: 1_030,
        },
        RunEvent::StepStarted {
            job: "build".into(),
            step: 1,
            name: "package".into(),
            at: 1_040,
        },
        RunEvent::StepFinished {
            job: "build".into(),
            step: 1,
            status: StepStatus::Success,
            exit_code: Some(0),
            log: Some(log1.clone()),
            at: 1_050,
        },
        RunEvent::ArtifactStored {
            job: "build".into(),
            path: "dist/app.tar".into(),
            sha256: digest.clone(),
            size: 42,
            mode: 0o644,
        },
        RunEvent::JobFinished {
            job: "build".into(),
            status: JobStatus::Success,
            exit_code: Some(0),
            reason: None,
            outputs: BTreeMap::from([("version".into(), "1.2.3".into())]),
            at: 1_060,
        },
        RunEvent::JobStarted {
            job: "test (py=3.11)".into(),
            attempt: 1,
            at: 1_070,
        },
        RunEvent::StepStarted {
            job: "test (py=3.11)".into(),
            step: 0,
            name: "pytest".into(),
            at: 1_080,
        },
        RunEvent::StepFinished {
            job: "test (py=3.11)".into(),
            step: 0,
            status: StepStatus::Failed,
            exit_code: Some(1),
            log: Some(test_log.clone()),
            at: 1_090,
        },
        RunEvent::ReportParsed {
            job: "test (py=3.11)".into(),
            path: "reports/junit.xml".into(),
            tests: 10,
            failures: 2,
            errors: 1,
            skipped: 3,
            failed_tests: failed_tests.clone(),
        },
        RunEvent::Warning {
            job: "test (py=3.11)".into(),
            step: None,
            message: "reports: `coverage.xml` matched no file".into(),
        },
        RunEvent::Warning {
            job: "build".into(),
            step: Some(1),
            message: "second".into(),
        },
        RunEvent::Produced {
            job: "test (py=3.11)".into(),
            step: 0,
            item: Produced {
                kind: ProducedKind::PushedImage,
                name: "127.0.0.1:5000/demo:1.0".into(),
                digest: format!("sha256:{}", "ab".repeat(32)),
                size: None,
            },
        },
        RunEvent::JobFinished {
            job: "test (py=3.11)".into(),
            status: JobStatus::Failed,
            exit_code: Some(1),
            reason: None,
            outputs: BTreeMap::new(),
            at: 1_100,
        },
        RunEvent::JobFinished {
            job: "deploy".into(),
            status: JobStatus::Skipped,
            exit_code: None,
            reason: Some("needs `test (py=3.11)` failed".into()),
            outputs: BTreeMap::new(),
            at: 1_100,
        },
        RunEvent::RunFinished {
            status: RunStatus::Failed,
            at: 1_110,
        },
    ];
    store.record(run, &batch1).await.unwrap();
    // Mid-run, readers see the run in progress.
    let live = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(live.summary.status, RunStatus::Running);
    assert_eq!(live.jobs[0].steps[0].status, StepStatus::Running);
    store.record(run, &batch2).await.unwrap();

    let step =
        |index, name: &str, status, exit_code, times: Option<(i64, i64)>, log: Option<&String>| {
            StepRecord {
                index,
                name: name.into(),
                status,
                exit_code,
                started_at: times.map(|t| t.0),
                finished_at: times.map(|t| t.1),
                log: log.cloned(),
            }
        };
    let summary = RunSummary {
        number: run,
        pipeline: "release".into(),
        event: push_event(),
        status: RunStatus::Failed,
        started_at: 1_000,
        finished_at: Some(1_110),
    };
    let expected = RunRecord {
        summary: summary.clone(),
        file: "wharf.yml".into(),
        jobs: vec![
            JobRecord {
                id: "build".into(),
                needs: vec![],
                status: JobStatus::Success,
                exit_code: Some(0),
                reason: None,
                attempt: 1,
                started_at: Some(1_010),
                finished_at: Some(1_060),
                steps: vec![
                    step(
                        0,
                        "compile",
                        StepStatus::Success,
                        Some(0),
                        Some((1_020, 1_030)),
                        Some(&log0),
                    ),
                    step(
                        1,
                        "package",
                        StepStatus::Success,
                        Some(0),
                        Some((1_040, 1_050)),
                        Some(&log1),
                    ),
                ],
                outputs: BTreeMap::from([("version".into(), "1.2.3".into())]),
                artifacts: vec![ArtifactRecord {
                    job: "build".into(),
                    path: "dist/app.tar".into(),
                    sha256: digest,
                    size: 42,
                    mode: 0o644,
                }],
                reports: vec![],
                produced: vec![],
            },
            JobRecord {
                id: "test (py=3.11)".into(),
                needs: vec!["build".into()],
                status: JobStatus::Failed,
                exit_code: Some(1),
                reason: None,
                attempt: 1,
                started_at: Some(1_070),
                finished_at: Some(1_100),
                steps: vec![step(
                    0,
                    "pytest",
                    StepStatus::Failed,
                    Some(1),
                    Some((1_080, 1_090)),
                    Some(&test_log),
                )],
                outputs: BTreeMap::new(),
                artifacts: vec![],
                reports: vec![ReportRecord {
                    job: "test (py=3.11)".into(),
                    path: "reports/junit.xml".into(),
                    tests: 10,
                    failures: 2,
                    errors: 1,
                    skipped: 3,
                    failed_tests,
                }],
                produced: vec![Produced {
                    kind: ProducedKind::PushedImage,
                    name: "127.0.0.1:5000/demo:1.0".into(),
                    digest: format!("sha256:{}", "ab".repeat(32)),
                    size: None,
                }],
            },
            JobRecord {
                id: "deploy".into(),
                needs: vec!["test (py=3.11)".into()],
                status: JobStatus::Skipped,
                exit_code: None,
                reason: Some("needs `test (py=3.11)` failed".into()),
                attempt: 0,
                started_at: None,
                finished_at: Some(1_100),
                steps: vec![step(0, "ship", StepStatus::Pending, None, None, None)],
                outputs: BTreeMap::new(),
                artifacts: vec![],
                reports: vec![],
                produced: vec![],
            },
        ],
        warnings: vec![
            WarningRecord {
                job: "test (py=3.11)".into(),
                step: None,
                message: "reports: `coverage.xml` matched no file".into(),
            },
            WarningRecord {
                job: "build".into(),
                step: Some(1),
                message: "second".into(),
            },
        ],
    };
    assert_eq!(store.get_run(run).await.unwrap(), Some(expected));
    assert_eq!(store.list_runs(10).await.unwrap(), vec![summary]);
    assert_eq!(store.get_run(run + 1).await.unwrap(), None);
}

#[tokio::test]
async fn a_retry_starts_its_steps_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let run = store
        .start_run(&new_run(
            vec![job("flaky", &[], &["a", "b"])],
            std::process::id(),
        ))
        .await
        .unwrap();
    let started = |step: usize, at| RunEvent::StepStarted {
        job: "flaky".into(),
        step,
        name: ["a", "b"][step].into(),
        at,
    };
    let finished = |step: usize, status, code, at| RunEvent::StepFinished {
        job: "flaky".into(),
        step,
        status,
        exit_code: Some(code),
        log: Some(format!("logs/1/flaky/{step}.log")),
        at,
    };
    store
        .record(
            run,
            &[
                RunEvent::JobStarted {
                    job: "flaky".into(),
                    attempt: 1,
                    at: 10,
                },
                started(0, 11),
                finished(0, StepStatus::Success, 0, 12),
                started(1, 13),
                finished(1, StepStatus::Failed, 3, 14),
                // What the failed attempt kept.
                RunEvent::ReportParsed {
                    job: "flaky".into(),
                    path: "junit.xml".into(),
                    tests: 1,
                    failures: 1,
                    errors: 0,
                    skipped: 0,
                    failed_tests: vec![FailedTest {
                        name: "t".into(),
                        classname: "c".into(),
                        kind: FailureKind::Failure,
                        message: "m".into(),
                    }],
                },
                RunEvent::ArtifactStored {
                    job: "flaky".into(),
                    path: "junit.xml".into(),
                    sha256: "cd".repeat(32),
                    size: 1,
                    mode: 0o644,
                },
                RunEvent::Warning {
                    job: "flaky".into(),
                    step: None,
                    message: "w".into(),
                },
            ],
        )
        .await
        .unwrap();
    let record = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(record.jobs[0].reports[0].failed_tests.len(), 1);
    assert_eq!(record.jobs[0].artifacts.len(), 1);
    assert_eq!(record.warnings.len(), 1);
    store
        .record(
            run,
            &[RunEvent::JobStarted {
                job: "flaky".into(),
                attempt: 2,
                at: 20,
            }],
        )
        .await
        .unwrap();
    let record = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(
        (
            &record.jobs[0].reports,
            &record.jobs[0].artifacts,
            &record.warnings
        ),
        (&vec![], &vec![], &vec![]),
        "the latest attempt's, as its steps"
    );
    let job = &record.jobs[0];
    assert_eq!(job.attempt, 2);
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.started_at, Some(20));
    for (index, step) in job.steps.iter().enumerate() {
        assert_eq!(
            step,
            &StepRecord {
                index,
                name: ["a", "b"][index].into(),
                status: StepStatus::Pending,
                exit_code: None,
                started_at: None,
                finished_at: None,
                log: None,
            }
        );
    }
    store.record(run, &[started(0, 21)]).await.unwrap();
    let job = &store.get_run(run).await.unwrap().unwrap().jobs[0];
    assert_eq!(job.steps[0].status, StepStatus::Running);
    assert_eq!(job.steps[1].status, StepStatus::Pending);
}

#[tokio::test]
async fn a_batch_naming_an_unknown_job_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let run = store.start_run(&simple_run()).await.unwrap();
    let start = RunEvent::JobStarted {
        job: "build".into(),
        attempt: 1,
        at: 5,
    };
    for stray in [
        RunEvent::JobStarted {
            job: "nope".into(),
            attempt: 1,
            at: 6,
        },
        RunEvent::StepStarted {
            job: "nope".into(),
            step: 0,
            name: "x".into(),
            at: 6,
        },
        RunEvent::Warning {
            job: "nope".into(),
            step: None,
            message: "x".into(),
        },
    ] {
        let err = store
            .record(run, &[start.clone(), stray])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownJob { run: 1, job } if job == "nope"),
            "{err}"
        );
    }
    let record = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(record.jobs[0].status, JobStatus::Pending, "rolled back");
    let finish = RunEvent::RunFinished {
        status: RunStatus::Success,
        at: 9,
    };
    let err = store.record(99, &[finish]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownRun { run: 99 }), "{err}");
}

/// A connection of our own to the store's database, to damage it on purpose.
async fn raw_connection(store: &Store) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", store.path().display());
    <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap()
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[tokio::test]
async fn open_marks_runs_of_dead_processes_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let jobs = vec![
        job("build", &[], &["compile", "link"]),
        job("test", &["build"], &["pytest"]),
    ];
    let dead = store
        .start_run(&new_run(jobs.clone(), dead_pid()))
        .await
        .unwrap();
    let alive = store
        .start_run(&new_run(jobs, std::process::id()))
        .await
        .unwrap();
    for run in [dead, alive] {
        store
            .record(
                run,
                &[
                    RunEvent::JobStarted {
                        job: "build".into(),
                        attempt: 1,
                        at: 10,
                    },
                    RunEvent::StepStarted {
                        job: "build".into(),
                        step: 0,
                        name: "compile".into(),
                        at: 11,
                    },
                ],
            )
            .await
            .unwrap();
    }
    drop(store);

    let store = Store::open(dir.path()).await.unwrap();
    let record = store.get_run(dead).await.unwrap().unwrap();
    assert_eq!(record.summary.status, RunStatus::Interrupted);
    let now = record.summary.finished_at.expect("finished_at set");
    assert!(now > 1_000_000_000_000, "a real clock time: {now}");
    let build = &record.jobs[0];
    assert_eq!(
        (build.status, build.finished_at),
        (JobStatus::Interrupted, Some(now))
    );
    assert_eq!(build.steps[0].status, StepStatus::Interrupted);
    assert_eq!(build.steps[0].finished_at, Some(now));
    assert_eq!(build.steps[1].status, StepStatus::Pending, "never started");
    assert_eq!(record.jobs[1].status, JobStatus::Interrupted, "was pending");

    let record = store.get_run(alive).await.unwrap().unwrap();
    assert_eq!(record.summary.status, RunStatus::Running);
    assert_eq!(record.summary.finished_at, None);
    assert_eq!(record.jobs[0].status, JobStatus::Running);
    assert_eq!(record.jobs[1].status, JobStatus::Pending);
}

#[tokio::test]
async fn a_recycled_pid_does_not_keep_a_run_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let run = store.start_run(&simple_run()).await.unwrap();
    // Pretend the run's process started at another time: our pid now names a stranger.
    let mut conn = raw_connection(&store).await;
    sqlx::query("UPDATE runs SET pid_start_time = pid_start_time + 1")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    drop(store);
    let store = Store::open(dir.path()).await.unwrap();
    let record = store.get_run(run).await.unwrap().unwrap();
    assert_eq!(record.summary.status, RunStatus::Interrupted);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_gives_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wharf.db");
    std::fs::write(&db, b"this is not a database, just some text\n".repeat(200)).unwrap();
    let err = Store::open(dir.path()).await.unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { ref path, .. } if path == &db),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("wharf.db"), "{message}");
    assert!(message.contains("hint: move it aside"), "{message}");
}

#[tokio::test]
async fn a_database_from_a_newer_wharf_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut conn = raw_connection(&store).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop((conn, store));
    let err = Store::open(dir.path()).await.unwrap_err();
    assert!(
        matches!(err, Error::TooNew { version: 9999, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("hint: upgrade wharf"), "{err}");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn storing_the_same_content_twice_keeps_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path());
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "hello\n").unwrap();
    std::fs::write(&b, "hello\n").unwrap();
    let first = store.put_file(&a).unwrap();
    let second = store.put_file(&b).unwrap();
    let expected = hex(&Sha256::digest(b"hello\n"));
    assert_eq!(first, (expected.clone(), 6));
    assert_eq!(second, first);

    let object = store.object_path(&expected).unwrap();
    assert_eq!(
        object,
        dir.path()
            .join("artifacts/sha256")
            .join(&expected[..2])
            .join(&expected)
    );
    assert_eq!(std::fs::read(&object).unwrap(), b"hello\n");
    assert_eq!(mode_of(&object), 0o444);
    let fan_out: Vec<_> = std::fs::read_dir(object.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(fan_out.len(), 1);
    let tmp = std::fs::read_dir(dir.path().join("artifacts/tmp")).unwrap();
    assert_eq!(tmp.count(), 0, "no temporary file left");
    assert!(store.verify(&expected).unwrap());
}

#[test]
fn materialize_writes_content_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path());
    let src = dir.path().join("tool.sh");
    std::fs::write(&src, "#!/bin/sh\necho hi\n").unwrap();
    let (digest, _) = store.put_file(&src).unwrap();

    let dest = dir.path().join("workspace/bin/tool.sh");
    store.materialize(&digest, &dest, 0o755).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(mode_of(&dest), 0o755);

    // Same content: left in place, only the mode follows the request.
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
    store.materialize(&digest, &dest, 0o700).unwrap();
    let after = std::fs::metadata(&dest).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&after), inode);
    assert_eq!(mode_of(&dest), 0o700);

    // Other content of the same size is replaced.
    std::fs::write(&dest, "#!/bin/sh\necho ho\n").unwrap();
    store.materialize(&digest, &dest, 0o644).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(mode_of(&dest), 0o644);
    let leftovers: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["tool.sh"]);
}

#[test]
fn bad_digests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path());
    let dest = dir.path().join("out");
    for bad in [
        "",
        "abc",
        &"AB".repeat(32),
        &"zz".repeat(32),
        &"ab".repeat(33),
        "../../../../etc/passwd",
    ] {
        let err = store.materialize(bad, &dest, 0o644).unwrap_err();
        assert!(matches!(err, Error::InvalidDigest(_)), "{bad}: {err}");
        assert!(matches!(
            store.object_path(bad),
            Err(Error::InvalidDigest(_))
        ));
        assert!(matches!(store.verify(bad), Err(Error::InvalidDigest(_))));
    }
    assert!(!dest.exists());
    let absent = "0".repeat(64);
    let err = store.materialize(&absent, &dest, 0o644).unwrap_err();
    assert!(matches!(err, Error::MissingObject { .. }), "{err}");
}

#[test]
fn verify_notices_a_damaged_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path());
    let src = dir.path().join("f");
    std::fs::write(&src, "original").unwrap();
    let (digest, _) = store.put_file(&src).unwrap();
    let object = store.object_path(&digest).unwrap();
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&object, "tampered").unwrap();
    assert!(!store.verify(&digest).unwrap());
}

#[test]
fn a_large_file_hashes_like_sha2_does() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    let mut expected = Sha256::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&src).unwrap());
    // 10 MiB of a cheap pseudo-random sequence, in odd-sized chunks so that buffer
    // boundaries do not line up with write boundaries.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut written = 0usize;
    while written < 10 * 1024 * 1024 {
        let chunk: Vec<u8> = (0..4099)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        expected.update(&chunk);
        file.write_all(&chunk).unwrap();
        written += chunk.len();
    }
    file.flush().unwrap();
    drop(file);

    let store = ArtifactStore::new(dir.path());
    let (digest, size) = store.put_file(&src).unwrap();
    assert_eq!(digest, hex(&expected.finalize()));
    assert_eq!(size, written as u64);
    assert!(store.verify(&digest).unwrap());
    let copy = dir.path().join("copy.bin");
    store.materialize(&digest, &copy, 0o600).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&src).unwrap());
}

// Secrets. The store cannot use wharf-secrets (it holds opaque bytes), so these tests seal
// with a stand-in: XOR with a fixed byte. Only the bytes' round trip matters here.

/// A stand-in "cipher": the store must keep exactly the bytes it is given.
fn xor_seal(plaintext: &str) -> Vec<u8> {
    plaintext.bytes().map(|b| b ^ 0x5a).collect()
}

fn secret(name: &str, scope: Option<&str>, value: &str, at: i64) -> SecretRecord {
    SecretRecord {
        name: name.into(),
        scope: scope.map(Into::into),
        key_id: "0123456789abcdef".into(),
        nonce: vec![7; 24],
        ciphertext: xor_seal(value),
        updated_at: at,
    }
}

fn meta(record: &SecretRecord) -> SecretMeta {
    SecretMeta {
        name: record.name.clone(),
        scope: record.scope.clone(),
        key_id: record.key_id.clone(),
        updated_at: record.updated_at,
    }
}

#[tokio::test]
async fn secrets_are_put_listed_read_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert!(store.list_secrets().await.unwrap().is_empty());
    assert_eq!(store.get_secret("TOKEN", None).await.unwrap(), None);
    assert!(!store.delete_secret("TOKEN", None).await.unwrap());

    let token = secret("TOKEN", None, "t-value", 10);
    let api = secret("API_KEY", Some("prod"), "a-value", 20);
    store.put_secret(&token).await.unwrap();
    store.put_secret(&api).await.unwrap();
    assert_eq!(
        store.get_secret("TOKEN", None).await.unwrap().as_ref(),
        Some(&token)
    );
    assert_eq!(
        store
            .get_secret("API_KEY", Some("prod"))
            .await
            .unwrap()
            .as_ref(),
        Some(&api)
    );
    assert_eq!(
        store.list_secrets().await.unwrap(),
        [meta(&api), meta(&token)],
        "sorted by name"
    );

    // Secrets outlive the handle, and deleting takes exactly the one named.
    drop(store);
    let store = Store::open(dir.path()).await.unwrap();
    assert!(store.delete_secret("TOKEN", None).await.unwrap());
    assert!(!store.delete_secret("TOKEN", None).await.unwrap());
    assert_eq!(store.get_secret("TOKEN", None).await.unwrap(), None);
    assert_eq!(store.list_secrets().await.unwrap(), [meta(&api)]);
}

#[tokio::test]
async fn putting_a_secret_again_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store
        .put_secret(&secret("TOKEN", Some("prod"), "old", 10))
        .await
        .unwrap();
    let mut new = secret("TOKEN", Some("prod"), "new-value", 20);
    new.key_id = "fedcba9876543210".into();
    new.nonce = vec![9; 24];
    store.put_secret(&new).await.unwrap();
    assert_eq!(
        store.get_secret("TOKEN", Some("prod")).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(store.list_secrets().await.unwrap(), [meta(&new)]);
}

#[tokio::test]
async fn each_scope_holds_its_own_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let all = secret("TOKEN", None, "for-all", 1);
    let prod = secret("TOKEN", Some("prod"), "for-prod", 2);
    let staging = secret("TOKEN", Some("staging"), "for-staging", 3);
    for record in [&staging, &all, &prod] {
        store.put_secret(record).await.unwrap();
    }
    assert_eq!(
        store.list_secrets().await.unwrap(),
        [meta(&all), meta(&prod), meta(&staging)],
        "the unscoped one first, then by scope"
    );
    for record in [&all, &prod, &staging] {
        let got = store
            .get_secret("TOKEN", record.scope.as_deref())
            .await
            .unwrap();
        assert_eq!(got.as_ref(), Some(record));
    }
    // Exact scope only: no fallback to the unscoped secret.
    assert_eq!(store.get_secret("TOKEN", Some("dev")).await.unwrap(), None);
    // The empty scope is "every environment".
    assert_eq!(
        store.get_secret("TOKEN", Some("")).await.unwrap().as_ref(),
        Some(&all)
    );

    assert!(store.delete_secret("TOKEN", Some("prod")).await.unwrap());
    assert_eq!(
        store.list_secrets().await.unwrap(),
        [meta(&all), meta(&staging)]
    );
}

#[tokio::test]
async fn secret_meta_serializes_for_json_output() {
    let value = serde_json::to_value([
        meta(&secret("TOKEN", None, "x", 5)),
        meta(&secret("TOKEN", Some("prod"), "x", 6)),
    ])
    .unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"name": "TOKEN", "scope": null, "key_id": "0123456789abcdef", "updated_at": 5},
            {"name": "TOKEN", "scope": "prod", "key_id": "0123456789abcdef", "updated_at": 6},
        ])
    );
}

#[tokio::test]
async fn a_database_from_before_secrets_gains_the_table_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.start_run(&simple_run()).await.unwrap(), 1);
    // Make it a database that only ever saw migration 1.
    let mut conn = raw_connection(&store).await;
    sqlx::query("DROP TABLE secrets")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    drop((conn, store));

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.latest_run().await.unwrap(), Some(1));
    let record = secret("TOKEN", None, "v", 1);
    store.put_secret(&record).await.unwrap();
    assert_eq!(store.get_secret("TOKEN", None).await.unwrap(), Some(record));
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of `wharf.db` and its `-wal` and `-shm` files, those that exist.
fn database_bytes(dir: &Path) -> Vec<u8> {
    ["wharf.db", "wharf.db-wal", "wharf.db-shm"]
        .iter()
        .filter_map(|name| std::fs::read(dir.join(name)).ok())
        .flatten()
        .collect()
}

#[tokio::test]
async fn only_the_sealed_bytes_reach_the_database_files() {
    const PLAINTEXT: &str = "plaintext-marker-4f2a9c-never-stored";
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let record = secret("DEPLOY_TOKEN", Some("prod"), PLAINTEXT, 1);
    assert!(!contains(&record.ciphertext, PLAINTEXT.as_bytes()));
    store.put_secret(&record).await.unwrap();

    let check = |phase: &str| {
        let bytes = database_bytes(dir.path());
        assert!(
            contains(&bytes, &record.ciphertext),
            "{phase}: the ciphertext is in the files, byte for byte as given"
        );
        assert!(
            !contains(&bytes, PLAINTEXT.as_bytes()),
            "{phase}: the plaintext is nowhere in the files"
        );
    };
    // While the store is open, the row is in the WAL; after a reopen, wherever SQLite
    // checkpointed it.
    check("open");
    drop(store);
    let store = Store::open(dir.path()).await.unwrap();
    check("reopened");
    let stored = store
        .get_secret("DEPLOY_TOKEN", Some("prod"))
        .await
        .unwrap();
    assert_eq!(stored, Some(record));
}

#[tokio::test]
async fn releases_are_recorded_once_per_version_with_their_items() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let item = |kind, name: &str| Produced {
        kind,
        name: name.into(),
        digest: format!("sha256:{}", "cd".repeat(32)),
        size: Some(42),
    };
    let rec = wharf_model::ReleaseRecord {
        version: "0.2.0".into(),
        tag: "v0.2.0".into(),
        commit: "a".repeat(40),
        run: 7,
        notes: "## 0.2.0\n".into(),
        created_at: 1_000,
        items: vec![
            item(ProducedKind::Artifact, "dist/app.whl"),
            item(ProducedKind::PushedImage, "127.0.0.1:5000/app:0.2.0"),
        ],
        evidence: vec![
            wharf_model::Evidence {
                kind: wharf_model::EvidenceKind::Provenance,
                subject: String::new(),
                name: "release/0.2.0/provenance.intoto.jsonl".into(),
                digest: format!("sha256:{}", "ef".repeat(32)),
                attached: None,
            },
            wharf_model::Evidence {
                kind: wharf_model::EvidenceKind::Signature,
                subject: format!("sha256:{}", "cd".repeat(32)),
                name: "127.0.0.1:5000/app:sha256-cdcd.sig".into(),
                digest: format!("sha256:{}", "12".repeat(32)),
                attached: Some("127.0.0.1:5000/app:sha256-cdcd.sig".into()),
            },
        ],
    };
    store.put_release(&rec).await.unwrap();
    assert_eq!(store.get_release("0.2.0").await.unwrap(), Some(rec.clone()));
    // a re-run from the same commit replaces the record
    let mut again = rec.clone();
    again.run = 8;
    again.items.truncate(1);
    store.put_release(&again).await.unwrap();
    assert_eq!(
        store.get_release("0.2.0").await.unwrap(),
        Some(again.clone())
    );
    // another commit may not reuse the version
    let mut other = rec.clone();
    other.commit = "b".repeat(40);
    let err = store.put_release(&other).await.unwrap_err().to_string();
    assert!(
        err.contains("release 0.2.0 was already recorded from commit aaaaaaaaaaaa"),
        "{err}"
    );
    let list = store.list_releases().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].version.as_str(), list[0].run), ("0.2.0", 8));
    assert!(list[0].items.is_empty(), "the summary has no items");
    // Whole, as one release is read.
    let whole = store.list_releases_whole().await.unwrap();
    assert_eq!(whole, [again.clone()]);
    assert_eq!(store.get_release("9.9.9").await.unwrap(), None);
}

#[tokio::test]
async fn a_run_owned_on_another_host_is_interrupted_when_its_lease_lapses() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let lapsed = store.start_run(&simple_run()).await.unwrap();
    let held = store.start_run(&simple_run()).await.unwrap();
    let ours = store.start_run(&simple_run()).await.unwrap();
    // Two runs of a wharf on another host (our pid means nothing there): one whose lease
    // lapsed a second ago, one whose lease holds for a minute.
    let now = wharf_engine_now();
    let mut conn = raw_connection(&store).await;
    for (run, until) in [(lapsed, now - 1_000), (held, now + 60_000)] {
        sqlx::query(
            "UPDATE runs SET owner = 'build-host-2', lease_until = ?, pid = ? WHERE number = ?",
        )
        .bind(until)
        .bind(i64::from(dead_pid()))
        .bind(run as i64)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    // Ours: a lapsed lease, but this host and a live process: still running.
    sqlx::query("UPDATE runs SET lease_until = 1 WHERE number = ?")
        .bind(ours as i64)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    drop(store);
    let store = Store::open(dir.path()).await.unwrap();
    let status = |r: u64| {
        let store = store.clone();
        async move { store.get_run(r).await.unwrap().unwrap().summary.status }
    };
    assert_eq!(status(lapsed).await, RunStatus::Interrupted);
    assert_eq!(status(held).await, RunStatus::Running);
    assert_eq!(status(ours).await, RunStatus::Running);
    // Renewing extends the lease of a running run.
    store.renew_lease(held, now + 120_000).await.unwrap();
}

fn wharf_engine_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
