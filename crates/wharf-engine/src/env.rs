//! A step's environment, built from an allow-list.
//!
//! A step sees only: a few host variables it needs to work at all (`PATH`, `HOME`, locale,
//! terminal), the `WHARF_*` event context, the pipeline, job and step `env:`, and (later)
//! the secrets the job declares. wharf's own credentials and everything else in the
//! invoking shell stay out, so a step behaves the same on a laptop and on the server.

use wharf_model::{Plan, PlannedJob};

/// Host variables passed through to steps, by exact name.
pub const HOST_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "TMPDIR",
];

/// Host variables passed through by prefix (the locale categories).
pub const HOST_PREFIXES: &[&str] = &["LC_"];

/// The allow-listed part of `vars` (normally `std::env::vars()`).
pub fn host_env(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .filter(|(k, _)| {
            HOST_VARS.contains(&k.as_str()) || HOST_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .collect();
    out.sort();
    out
}

/// The name of the variable carrying manual input `name`: `WHARF_INPUT_` + upper case,
/// with every character outside `[A-Z0-9_]` turned into `_`.
pub fn input_var(name: &str) -> String {
    let mut v = String::from("WHARF_INPUT_");
    v.extend(name.chars().map(|c| {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    v
}

/// The `WHARF_*` context of a job: what outside values steps may use, as variables.
pub fn context_env(
    plan: &Plan,
    job: &PlannedJob,
    run: u64,
    workspace: &std::path::Path,
) -> Vec<(String, String)> {
    let e = &plan.event;
    let mut out = vec![
        ("CI".to_string(), "true".to_string()),
        ("WHARF".to_string(), "true".to_string()),
        ("WHARF_EVENT".to_string(), e.kind.as_str().to_string()),
        ("WHARF_RUN_ID".to_string(), run.to_string()),
        ("WHARF_PIPELINE".to_string(), plan.pipeline.clone()),
        ("WHARF_JOB".to_string(), job.id.clone()),
        (
            "WHARF_WORKSPACE".to_string(),
            workspace.display().to_string(),
        ),
    ];
    let optional = [
        ("WHARF_BRANCH", &e.branch),
        ("WHARF_TAG", &e.tag),
        ("WHARF_VERSION", &e.version),
        ("WHARF_SHA", &e.sha),
        ("WHARF_ACTOR", &e.actor),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            out.push((k.to_string(), v.clone()));
        }
    }
    for (k, v) in &e.inputs {
        out.push((input_var(k), v.clone()));
    }
    out
}

/// Layers `over` on `base`: later names replace earlier ones, order otherwise kept.
pub fn layer(base: &mut Vec<(String, String)>, over: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in over {
        match base.iter_mut().find(|(bk, _)| *bk == k) {
            Some(slot) => slot.1 = v,
            None => base.push((k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_host_vars_pass() {
        let vars = [
            ("PATH", "/bin"),
            ("WHARF_SECRET_KEY", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("LC_ALL", "C"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()));
        let env = host_env(vars);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["LC_ALL", "PATH"]);
    }

    #[test]
    fn input_names() {
        assert_eq!(input_var("target-env"), "WHARF_INPUT_TARGET_ENV");
        assert_eq!(input_var("x.y"), "WHARF_INPUT_X_Y");
    }

    #[test]
    fn layering_replaces() {
        let mut base = vec![("A".to_string(), "1".to_string())];
        layer(
            &mut base,
            [("B".to_string(), "2".into()), ("A".to_string(), "3".into())],
        );
        assert_eq!(
            base,
            vec![("A".into(), "3".into()), ("B".into(), "2".into())]
        );
    }
}
