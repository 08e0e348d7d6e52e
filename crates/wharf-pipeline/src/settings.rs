//! wharf's own insecure settings — a plain-HTTP registry (`insecure:` of `build-image`),
//! secrets for pull requests, `workspace: shared`, an environment named `production` that
//! needs no approval — are refused unless the project's policy file has a valid `setting`
//! exception for them, so every one of them is justified, owned, approved by someone else
//! and expires. Validation notes each setting where the file sets it; this module judges
//! them against the policy the pipeline uses and hands them to the pipeline's `policy`
//! steps, which record the exceptions that allow them with the release.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::Arc;

use chrono::NaiveDate;
use wharf_model::{Builtin, InsecureSetting, StepAction};
use wharf_policy::{Policy, SettingCover, settings};

use crate::diagnostic::{Diagnostic, offset_of};
use crate::pipeline::{FoundSetting, Pipeline};

/// The policy file a pipeline's settings are judged by when no `policy` step names one.
pub const DEFAULT_POLICY_FILE: &str = "wharf.policy.toml";

/// Judges every insecure setting of `pipelines` against its pipeline's policy file (read
/// from `root`) on `today`, returning a diagnostic for each one no valid exception allows,
/// and for each problem of a policy file that had to be read. When nothing is refused, the
/// project's settings are given to every `policy` step.
pub(crate) fn check(root: &Path, pipelines: &mut [Pipeline], today: NaiveDate) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    // Each policy file read once, however many pipelines name it.
    let mut read: HashMap<String, Loaded> = HashMap::new();
    for p in pipelines.iter().filter(|p| !p.insecure.is_empty()) {
        let file = p.policy_file();
        let loaded = read
            .entry(file.clone())
            .or_insert_with(|| load(root, &file, &mut errors));
        for found in &p.insecure {
            let (cover, exists) = match loaded {
                Loaded::Policy(policy) => (policy.setting_cover(&found.setting, today), true),
                Loaded::Missing => (SettingCover::Uncovered, false),
                // Its problems are reported; judging against it would only add noise.
                Loaded::Unusable => break,
            };
            if !matches!(cover, SettingCover::Covered(_)) {
                errors.push(refusal(p, found, &file, cover, exists));
            }
        }
    }
    if errors.is_empty() {
        let all: Vec<InsecureSetting> = pipelines
            .iter()
            .flat_map(|p| p.insecure.iter().map(|f| f.setting.clone()))
            .collect();
        if !all.is_empty() {
            for p in pipelines.iter_mut() {
                for job in &mut p.jobs {
                    for step in &mut job.steps {
                        if let StepAction::Builtin(Builtin::Policy(s)) = &mut step.action {
                            s.settings = all.clone();
                        }
                    }
                }
            }
        }
    }
    errors
}

impl Pipeline {
    /// The policy file this pipeline's insecure settings are judged by, relative to the
    /// project root: the file of its first `policy` step (in that step's working
    /// directory), else [`DEFAULT_POLICY_FILE`]. A file named by an expression cannot be
    /// known before the run, so such a step is passed over; so is one outside the project.
    pub fn policy_file(&self) -> String {
        policy_file(self)
    }
}

fn policy_file(p: &Pipeline) -> String {
    for job in &p.jobs {
        for step in &job.steps {
            let StepAction::Builtin(Builtin::Policy(s)) = &step.action else {
                continue;
            };
            if s.file.contains("${{") {
                continue;
            }
            let dir = step
                .working_directory
                .as_deref()
                .or(job.working_directory.as_deref());
            let path = match dir {
                Some(d) if !d.contains("${{") => Path::new(d).join(&s.file),
                Some(_) => continue,
                None => Path::new(&s.file).to_path_buf(),
            };
            let inside = path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if inside {
                return path.to_string_lossy().into_owned();
            }
        }
    }
    DEFAULT_POLICY_FILE.to_string()
}

/// What a pipeline's policy file turned out to be.
enum Loaded {
    /// Parsed and valid.
    Policy(Policy),
    /// Not there: each setting says it needs an exception (nothing else to report).
    Missing,
    /// Unreadable or with problems, each reported, located.
    Unusable,
}

/// Reads and parses the policy file, reporting into `errors` why it cannot be used.
fn load(root: &Path, file: &str, errors: &mut Vec<Diagnostic>) -> Loaded {
    let path = root.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => {
            errors.push(Diagnostic::whole_file(
                file,
                format!("cannot read the policy file `{file}`: {e}"),
            ));
            return Loaded::Unusable;
        }
    };
    match Policy::parse(file, &text) {
        Ok(policy) => Loaded::Policy(policy),
        Err(wharf_policy::Error::Policy { problems, .. }) => {
            let source: Arc<str> = Arc::from(text.as_str());
            for problem in problems {
                let at = offset_of(&source, problem.location.line, problem.location.column);
                let end = source[at..]
                    .chars()
                    .next()
                    .map_or(at, |c| at + c.len_utf8());
                errors.push(
                    Diagnostic::at(file, &source, at..end, problem.kind.to_string())
                        .with_hint_opt(problem.hint()),
                );
            }
            Loaded::Unusable
        }
        Err(e) => {
            errors.push(Diagnostic::whole_file(file, e.to_string()));
            Loaded::Unusable
        }
    }
}

/// The diagnostic refusing `found`, at the value that sets it.
fn refusal(
    p: &Pipeline,
    found: &FoundSetting,
    file: &str,
    cover: SettingCover<'_>,
    file_exists: bool,
) -> Diagnostic {
    let s = &found.setting;
    // The diagnostic is located already: the message need not repeat it.
    let mut bare = s.clone();
    bare.location = None;
    let message = cover.refusal(&bare).unwrap_or_default();
    let remove = match s.key.as_str() {
        settings::SHARED_WORKSPACE => {
            "remove `workspace: shared` (each job gets a workspace of its own)"
        }
        settings::PULL_REQUEST_SECRETS => {
            "remove `secrets: true` (pull requests then run without secrets)"
        }
        settings::UNAPPROVED_PRODUCTION => {
            "declare the environment with `approval: { required: 1 }`"
        }
        settings::PLAIN_HTTP_REGISTRY => {
            "reach the registry over https and drop it from `insecure:`"
        }
        _ => "remove the setting",
    };
    let hint = match cover {
        SettingCover::Expired(e) => format!(
            "renew exception {} in `{file}` (a new `created` and `expires`, approved again), or {remove}",
            e.id
        ),
        _ => {
            let subject = s
                .subject
                .as_ref()
                .map(|v| format!("subject = {v:?}, "))
                .unwrap_or_default();
            format!(
                "{} `{file}`{}: [[exception]] id = \"…\", kind = \"setting\", setting = \"{}\", \
                 {subject}reason, owner, approved-by, created, expires — or {remove}",
                if file_exists {
                    "add an exception to"
                } else {
                    "create"
                },
                if file_exists {
                    ""
                } else {
                    " with an exception"
                },
                s.key
            )
        }
    };
    Diagnostic::at(&p.file, &p.source, found.span.clone(), message)
        .with_label("insecure setting")
        .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pipeline: &str, policy: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wharf.yml"), pipeline).unwrap();
        std::fs::write(dir.path().join(DEFAULT_POLICY_FILE), policy).unwrap();
        dir
    }

    const SHARED: &str = "version: 1\nworkspace: shared\njobs:\n  a:\n    run: \"true\"\n  gate:\n    steps:\n      - policy: { reports: [r.json] }\n";

    const EXCEPTION: &str = "[[exception]]\nid = \"E1\"\nkind = \"setting\"\nsetting = \"workspace.shared\"\nreason = \"r\"\nowner = \"a\"\napproved-by = \"b\"\ncreated = 2026-11-01\nexpires = 2026-12-31\n";

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn an_exception_covers_through_its_last_day_on_the_injected_clock() {
        let dir = project(SHARED, EXCEPTION);
        let ok = crate::load_project_on(dir.path(), day("2026-12-31")).unwrap();
        // The policy step receives the project's settings.
        let step = &ok[0].jobs()[1].steps[0].action;
        let StepAction::Builtin(Builtin::Policy(s)) = step else {
            panic!("{step:?}")
        };
        assert_eq!(s.settings.len(), 1);
        assert_eq!(s.settings[0].key, settings::SHARED_WORKSPACE);
        assert_eq!(s.settings[0].subject.as_deref(), Some("wharf"));
        assert_eq!(s.settings[0].location.as_deref(), Some("wharf.yml:2:12"));
        let err = crate::load_project_on(dir.path(), day("2027-01-01")).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(
            err.0[0].message,
            "insecure setting workspace.shared wharf is covered only by exception E1, which \
             expired on 2026-12-31 (owner a, approved by b); renew or remove it"
        );
        assert_eq!((err.0[0].line, err.0[0].column), (2, 12));
    }

    #[test]
    fn a_policy_step_names_the_file_the_settings_are_judged_by() {
        let pipeline = SHARED.replace("policy: {", "policy: { file: sec/p.toml,");
        let dir = project(&pipeline, "");
        std::fs::create_dir(dir.path().join("sec")).unwrap();
        let err = crate::load_project_on(dir.path(), day("2026-12-01")).unwrap_err();
        assert!(
            err.0[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("create `sec/p.toml` with an exception"),
            "{:?}",
            err.0[0].hint
        );
        std::fs::write(dir.path().join("sec/p.toml"), EXCEPTION).unwrap();
        crate::load_project_on(dir.path(), day("2026-12-01")).unwrap();
        // A file outside the project is never read: the default one is used.
        let outside = SHARED.replace("policy: {", "policy: { file: ../p.toml,");
        std::fs::write(dir.path().join("wharf.yml"), outside).unwrap();
        let err = crate::load_project_on(dir.path(), day("2026-12-01")).unwrap_err();
        assert!(
            err.0[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("`wharf.policy.toml`"),
            "{:?}",
            err.0[0].hint
        );
    }

    #[test]
    fn loopback_registries_are_not_plain_http_settings() {
        for host in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(crate::builtin::is_loopback_host(host), "{host}");
        }
        for host in ["registry.internal:5000", "10.0.0.1:5000", "127.example:80"] {
            assert!(!crate::builtin::is_loopback_host(host), "{host}");
        }
    }
}
