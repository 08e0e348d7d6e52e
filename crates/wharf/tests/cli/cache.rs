//! `cache:`: a missed key saves, an exact key restores, a restore key falls back; the cap,
//! bad paths, and `wharf cache list|rm|prune`.

use std::process::Stdio;

use crate::helper::Project;

const PIPELINE: &str = r#"version: 1
name: demo
jobs:
  deps:
    cache:
      key: [deps.txt]
      paths: [.deps]
      restore-keys: [[]]
    run: |
      if [ -f .deps/installed ]; then echo "cached: $(cat .deps/installed)"; else echo installing; fi
      mkdir -p .deps
      cat deps.txt > .deps/installed
      echo "changed by the job" > .deps/scratch
"#;

fn log_lines(r: &crate::helper::Run) -> Vec<String> {
    r.events()
        .iter()
        .filter(|e| e["type"] == "log")
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

#[test]
fn a_miss_saves_a_hit_restores_and_a_restore_key_falls_back() {
    let p = Project::new(PIPELINE);
    p.write("deps.txt", "flask==3\n");
    let first = p.wharf(&["run", "--json"]).expect(0);
    let lines = log_lines(&first);
    assert!(lines.contains(&"installing".to_string()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("wharf: cache: no entry for demo/deps/")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("wharf: cache: saved demo/deps/") && l.contains("(2 files,")),
        "{lines:?}"
    );
    // The project itself never gets the cached directory: the job ran in a workspace.
    assert!(!p.path().join(".deps").exists());

    let second = p.wharf(&["run", "--json"]).expect(0);
    let lines = log_lines(&second);
    assert!(lines.contains(&"cached: flask==3".to_string()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("wharf: cache: restored demo/deps/")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("cache: saved")),
        "an exact hit is not saved again: {lines:?}"
    );

    // A new key misses, the restore key brings the newest entry of the job, and the new
    // key is saved.
    p.write("deps.txt", "flask==4\n");
    let third = p.wharf(&["run", "--json"]).expect(0);
    let lines = log_lines(&third);
    assert!(lines.contains(&"cached: flask==3".to_string()), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("from a restore key")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("cache: saved")),
        "{lines:?}"
    );

    let list = p.wharf(&["cache", "list", "--json"]).expect(0).json();
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list}");
    assert!(entries.iter().all(|e| e["files"] == 2));
    // `scratch` is the same in both entries: stored once.
    let objects = walk_files(&p.path().join(".wharf/cache/jobs/objects"));
    assert_eq!(objects, 3, "installed twice + scratch once");

    let pruned = p
        .wharf(&["cache", "prune", "--max-size", "0", "--json"])
        .expect(0)
        .json();
    assert_eq!(pruned["evicted"], 2);
    let r = p.wharf(&["cache", "rm", "demo/"]).expect(2);
    assert!(
        r.stderr().contains("no cache entry starts with `demo/`"),
        "{}",
        r.stderr()
    );
    p.wharf(&["run", "--json"]).expect(0);
    let rm = p
        .wharf(&["cache", "rm", "--all", "--json"])
        .expect(0)
        .json();
    assert_eq!(rm["removed"], 1);
    let empty = p.wharf(&["cache", "list"]).expect(0);
    assert!(empty.stderr().contains("the job cache is empty"));
}

fn walk_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            n += walk_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

#[test]
fn bad_cache_declarations_are_refused_before_the_run() {
    let cases = [
        (
            "paths: [../shared]",
            "error: cache path `../shared` leaves the workspace",
        ),
        (
            "paths: [/var/cache/pip]",
            "error: cache path `/var/cache/pip` leaves the workspace",
        ),
        (
            "key: [a.lock, b.lock]\n      paths: [.x]\n      restore-keys: [[b.lock]]",
            "error: restore key [b.lock] is not a leading part of the cache key",
        ),
        (
            "key: [a.lock]\n      paths: []",
            "error: `cache` has no `paths`",
        ),
        (
            "key: [a.lock]",
            "error: missing key `paths` in `cache` of job `a`",
        ),
    ];
    for (cache, expected) in cases {
        let p = Project::new(&format!(
            "version: 1\njobs:\n  a:\n    run: \"true\"\n    cache:\n      {cache}\n"
        ));
        for cmd in [&["validate"][..], &["run", "--plain"]] {
            let r = p.wharf(cmd).expect(2);
            assert!(r.stderr().contains(expected), "{cache}: {}", r.stderr());
        }
    }
}

#[test]
fn an_unmatched_key_file_warns_and_a_cache_over_the_cap_is_not_saved() {
    let p = Project::new(
        "version: 1\nname: demo\njobs:\n  a:\n    cache: { key: [poetry.lock], paths: [big] }\n    run: head -c 4096 /dev/zero > big\n",
    );
    let r = p
        .cmd(&["run", "--plain"])
        .env("WHARF_CACHE_MAX_SIZE", "1K")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "warning: cache key `poetry.lock` matched no file; the key is made of the other parts"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: cache not saved: 4.0 KiB is over the cache's cap of 1.0 KiB"),
        "{err}"
    );
    // Both are run warnings too: under the summary, and in the run's record.
    let summary = &err[err.find("JOB").unwrap_or(0)..];
    assert!(
        summary.contains("warning: [a] cache key `poetry.lock` matched no file"),
        "{summary}"
    );
    assert!(
        summary.contains("warning: [a] cache not saved: 4.0 KiB"),
        "{summary}"
    );
    let bad = p
        .cmd(&["run", "--plain"])
        .env("WHARF_CACHE_MAX_SIZE", "lots")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("WHARF_CACHE_MAX_SIZE=`lots` is not a size"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn runs_saving_and_restoring_one_key_at_once_leave_a_whole_entry() {
    let p = Project::new(
        r#"version: 1
name: demo
jobs:
  a:
    cache: { key: [k], paths: [data] }
    run: |
      if [ -d data ]; then
        n=$(ls data | wc -l); echo "restored $n"; test "$n" = 201
        cmp data/f7 data/f7.copy
      else
        mkdir data
        for i in $(seq 200); do head -c 20000 /dev/urandom > data/f$i; done
        cp data/f7 data/f7.copy
      fi
"#,
    );
    p.write("k", "1");
    let run_many = |n: usize| {
        let children: Vec<_> = (0..n)
            .map(|_| {
                p.cmd(&["run", "--plain"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    };
    // Four runs miss and save the same key at once; then four restore it at once.
    for out in run_many(4).into_iter().chain(run_many(4)) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = p.wharf(&["cache", "list", "--json"]).expect(0).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["files"], 201);
    let last = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        last.stderr().contains("[a] restored 201"),
        "{}",
        last.stderr()
    );
}
