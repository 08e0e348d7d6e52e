//! Pipeline files: YAML to a typed file, validation with precise diagnostics, and the Plan.
//!
//! The flow is `text -> file types (serde, with positions) -> validated Pipeline -> Plan`.
//! Everything here is pure except [`load_project`], which reads the project's files;
//! every problem in a file becomes a [`Diagnostic`] pointing at exact bytes of it.
//!
//! ```
//! use wharf_model::{Event, EventKind};
//!
//! let text = "version: 1\njobs:\n  test:\n    run: make test\n";
//! let pipeline = wharf_pipeline::parse("wharf.yml", text).expect("valid");
//! let plan = pipeline.plan(&Event::new(EventKind::Push), &[]).expect("plan");
//! let step = &plan.jobs[0].steps[0].action;
//! assert!(matches!(step, wharf_model::StepAction::Run { run, .. } if run == "make test"));
//! ```

mod builtin;
mod dag;
pub mod deploy;
mod diagnostic;
mod duration;
mod exprs;
mod file;
pub mod gates;
pub mod graph;
mod inputs;
mod matrix;
mod ordered_map;
mod pipeline;
mod plan;
mod project;
mod reporter;
mod scalar;
mod schema;
mod settings;
mod suggest;
mod triggers;
mod validate;
mod yaml;

use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use duration::duration_ms;
pub use exprs::ROOTS;
pub use file::{Rollback, TriggerStatus};
pub use inputs::Input;
pub use matrix::{Cell, MAX_CELLS, Matrix, cell_id, cell_matches, env_var as matrix_env_var};
pub use pipeline::FoundSetting;
pub use pipeline::{Cache, Defaults, Environment, Job, Pipeline, Step};
pub use project::{PIPELINE_DIR, ROOT_FILE, is_project, load_project, load_project_on};
pub use schema::schema;
pub use settings::DEFAULT_POLICY_FILE;
pub use triggers::{Globs, PipelineTrigger, PullRequestTrigger, PushTrigger, Triggers, last_tick};

/// The largest pipeline file accepted, in bytes (1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Parses and validates one pipeline file. `file` is its display path (it names the
/// pipeline when there is no `name:`); nothing is read from disk.
pub fn parse(file: &str, text: &str) -> Result<Pipeline, Diagnostics> {
    if text.len() > MAX_FILE_BYTES {
        return Err(project::too_large(file, text.len() as u64).into());
    }
    let mut r = reporter::Reporter::new(file, Arc::from(text));
    let raw = yaml::read(&r)?;
    let pipeline = validate::validate(&mut r, &raw);
    if r.diagnostics.is_empty() {
        Ok(pipeline)
    } else {
        let mut ds = Diagnostics(r.diagnostics);
        ds.sort();
        Err(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_model::{Event, EventKind};

    #[test]
    fn oversized_text_is_refused_before_parsing() {
        let text = format!("version: 1\n#{}\n", "x".repeat(MAX_FILE_BYTES));
        let err = parse("wharf.yml", &text).expect_err("too large");
        assert!(err.0[0].message.contains("limited to 1 MiB"), "{err}");
    }

    #[test]
    fn alias_floods_fail_fast() {
        let mut text = String::from(
            "version: 1\njobs:\n  t:\n    run: x\n    env: { A: &a lol }\n    artifacts: [",
        );
        text.push_str(&vec!["*a"; 50_000].join(", "));
        text.push_str("]\n");
        let started = std::time::Instant::now();
        let err = parse("wharf.yml", &text).expect_err("budget");
        assert_eq!(
            err.0[0].message,
            "the file uses more than 1000 aliases (`*name`)"
        );
        assert!(started.elapsed().as_secs() < 2);
    }

    #[test]
    fn names_default_to_the_file_stem() {
        let text = "version: 1\njobs:\n  t:\n    run: x\n";
        assert_eq!(parse("wharf.yml", text).expect("valid").name(), "wharf");
        assert_eq!(
            parse(".wharf/release.yml", text).expect("valid").name(),
            "release"
        );
    }

    #[test]
    fn manual_inputs_are_resolved_through_the_pipeline() {
        let text = "version: 1\non:\n  manual:\n    inputs:\n      target: { default: staging, options: [staging, production] }\njobs:\n  t:\n    run: x\n";
        let p = parse("wharf.yml", text).expect("valid");
        let mut event = Event::new(EventKind::Manual);
        assert!(p.matches(&event));
        assert!(!p.matches(&Event::new(EventKind::Push)));
        p.resolve_inputs(&mut event).expect("defaults");
        assert_eq!(
            event.inputs.get("target").map(String::as_str),
            Some("staging")
        );
        event.inputs.insert("target".into(), "prod".into());
        assert!(p.resolve_inputs(&mut event).is_err());
    }

    #[test]
    fn a_file_without_on_matches_every_event_but_another_pipelines_end() {
        let p = parse("wharf.yml", "version: 1\njobs:\n  t:\n    run: x\n").expect("valid");
        assert!(
            EventKind::ALL
                .into_iter()
                .filter(|k| *k != EventKind::Pipeline)
                .all(|k| p.matches(&Event::new(k)))
        );
        // only `on.pipeline` follows another pipeline
        assert!(!p.matches(&Event::new(EventKind::Pipeline)));
    }

    #[test]
    fn load_project_reads_root_and_dot_wharf_files() {
        let dir = std::env::temp_dir().join(format!("wharf-pipeline-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".wharf")).expect("mkdir");
        let none = load_project(&dir).expect_err("no files");
        assert!(none.0[0].message.starts_with("no pipeline file"), "{none}");
        let body = "version: 1\njobs:\n  t:\n    run: x\n";
        std::fs::write(dir.join("wharf.yml"), body).expect("write");
        std::fs::write(dir.join(".wharf/b.yml"), body).expect("write");
        std::fs::write(dir.join(".wharf/a.yml"), format!("name: b\n{body}")).expect("write");
        std::fs::write(dir.join(".wharf/notes.txt"), "ignored").expect("write");
        let err = load_project(&dir).expect_err("duplicate name");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].file, ".wharf/b.yml");
        assert!(
            err.0[0].message.contains("already used by `.wharf/a.yml`"),
            "{err}"
        );
        std::fs::write(dir.join(".wharf/b.yml"), format!("name: c\n{body}")).expect("write");
        let names: Vec<String> = load_project(&dir)
            .expect("valid")
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        assert_eq!(names, ["wharf", "b", "c"]);
        let big = std::fs::File::create(dir.join(".wharf/big.yml")).expect("create");
        big.set_len(MAX_FILE_BYTES as u64 + 1).expect("grow");
        let err = load_project(&dir).expect_err("too big");
        assert!(err.0[0].message.contains("limited to 1 MiB"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
