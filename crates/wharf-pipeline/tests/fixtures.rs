//! Runs every pipeline fixture in `tests/fixtures/pipelines/`.
//!
//! `NN_name.yml` sits beside `NN_name.expected.txt` (the rendered diagnostics, color off)
//! when the file is invalid, or `NN_name.expected.json` (the plan for a push to `main`)
//! when it is valid. `WHARF_UPDATE_FIXTURES=1` rewrites the expected files; review the
//! diff before committing it.

use std::path::{Path, PathBuf};

use wharf_model::{Event, EventKind};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pipelines")
}

fn push_to_main() -> Event {
    let mut event = Event::new(EventKind::Push);
    event.branch = Some("main".into());
    event.sha = Some("0000000".into());
    event
}

/// What a fixture produces: the plan as JSON, or the rendered diagnostics.
fn outcome(name: &str, text: &str) -> (&'static str, String) {
    match wharf_pipeline::parse(name, text) {
        Ok(p) => match p.plan(&push_to_main(), &[]) {
            Ok(plan) => {
                let json = serde_json::to_string_pretty(&plan).expect("plans serialize");
                ("expected.json", json + "\n")
            }
            Err(ds) => ("expected.txt", ds.render(false)),
        },
        Err(ds) => ("expected.txt", ds.render(false)),
    }
}

#[test]
fn fixtures() {
    let update = std::env::var_os("WHARF_UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(files.len() > 20, "fixtures missing");
    let mut failures = Vec::new();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("fixture text");
        let (kind, actual) = outcome(&format!("{stem}.yml"), &text);
        let expected_path = path.with_file_name(format!("{stem}.{kind}"));
        let other = if kind == "expected.json" {
            "expected.txt"
        } else {
            "expected.json"
        };
        let stale = path.with_file_name(format!("{stem}.{other}"));
        if update {
            std::fs::write(&expected_path, &actual).expect("write expected");
            let _ = std::fs::remove_file(&stale);
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{stem}: output differs from {kind}\n--- expected\n{expected}\n--- actual\n{actual}"
            )),
            Err(_) => failures.push(format!("{stem}: no {kind}; actual output:\n{actual}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nrun with WHARF_UPDATE_FIXTURES=1 to accept the new output (and review the diff)",
        failures.join("\n\n")
    );
}
