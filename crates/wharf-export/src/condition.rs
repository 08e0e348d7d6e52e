//! A job's `if:` on the CI platform, so that a job the pipeline skips starts no runner and
//! a `failure()` or `always()` job runs there as it runs locally.
//!
//! The exported job still runs `wharf run --no-deps JOB`, which evaluates the `if:` itself:
//! the platform's condition only has to let the job start whenever wharf's would hold (it
//! may start it more often, never less). Where the expression reads something the platform
//! cannot (`version`, a job's outputs, `env.*`), the platform condition falls back to one
//! that holds at least as often: its status function alone, or `always()`.

/// What GitHub Actions' job `if:` should be: `None` for its default (`success()`), which is
/// also wharf's.
pub(crate) fn github_if(condition: Option<&str>) -> Option<String> {
    let source = condition?;
    let expr = wharf_expr::parse(source).ok()?;
    let has_status = has_status_function(&expr);
    match expr.rewrite(&github_path) {
        Some(text) => Some(simplify_events(text)),
        None if has_status => Some("always()".to_string()),
        None => None,
    }
}

/// GitLab's `when:` for a job with this `if:`: `on_failure` for a `failure()` job,
/// `always` for one that runs whatever came before (`always()`, `!cancelled()`), or a
/// condition that mixes status functions otherwise; `None` for the default
/// (`on_success`).
pub(crate) fn gitlab_when(condition: Option<&str>) -> Option<&'static str> {
    let expr = wharf_expr::parse(condition?).ok()?;
    let functions: Vec<String> = expr.functions().into_iter().map(|(f, _)| f).collect();
    let status: Vec<&str> = functions
        .iter()
        .map(String::as_str)
        .filter(|f| matches!(*f, "success" | "failure" | "always" | "cancelled"))
        .collect();
    match status.as_slice() {
        [] | ["success"] => None,
        ["failure"] => Some("on_failure"),
        _ => Some("always"),
    }
}

/// Whether the `if:` calls a status function (then the job may run after a failure, and
/// on GitLab needs to see every job before it, not only its direct needs).
pub(crate) fn has_status(condition: Option<&str>) -> bool {
    condition
        .and_then(|c| wharf_expr::parse(c).ok())
        .is_some_and(|e| has_status_function(&e))
}

fn has_status_function(expr: &wharf_expr::Expr) -> bool {
    expr.functions()
        .iter()
        .any(|(f, _)| matches!(f.as_str(), "success" | "failure" | "always" | "cancelled"))
}

/// wharf's event name on GitHub, as [`github_path`] writes it.
const GITHUB_EVENT: &str = "(github.ref_type == 'tag' && 'tag' || github.event_name == 'workflow_dispatch' && 'manual' || github.event_name)";

/// `event == 'tag'` and its kind read better as GitHub's own test for that event.
fn simplify_events(mut text: String) -> String {
    for (name, github) in [
        ("tag", "github.ref_type == 'tag'"),
        ("manual", "github.event_name == 'workflow_dispatch'"),
        ("schedule", "github.event_name == 'schedule'"),
        ("pull_request", "github.event_name == 'pull_request'"),
        (
            "push",
            "(github.event_name == 'push' && github.ref_type != 'tag')",
        ),
    ] {
        text = text
            .replace(
                &format!("({GITHUB_EVENT} == '{name}')"),
                &format!("({github})"),
            )
            .replace(
                &format!("({GITHUB_EVENT} != '{name}')"),
                &format!("!({github})"),
            );
    }
    text
}

/// wharf's context in GitHub Actions' terms, or `None` for what GitHub cannot know.
fn github_path(path: &[String]) -> Option<String> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        // wharf's event names: push, tag, pull_request, schedule, manual.
        ["event"] => GITHUB_EVENT.to_string(),
        ["branch"] => {
            "(github.head_ref || github.ref_type == 'branch' && github.ref_name || '')".to_string()
        }
        ["tag"] => "(github.ref_type == 'tag' && github.ref_name || '')".to_string(),
        ["sha"] => "github.sha".to_string(),
        ["actor"] => "github.actor".to_string(),
        ["inputs", name] => format!("inputs.{name}"),
        ["needs", job, "result"] => format!("needs.{job}.result"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_conditions_keep_their_meaning_or_start_at_least_as_often() {
        assert_eq!(github_if(None), None);
        assert_eq!(github_if(Some("failure()")).as_deref(), Some("failure()"));
        assert_eq!(
            github_if(Some("always() && needs.test.result == 'failure'")).as_deref(),
            Some("(always() && (needs.test.result == 'failure'))")
        );
        assert_eq!(
            github_if(Some("event == 'tag' || event == 'manual'")).as_deref(),
            Some("((github.ref_type == 'tag') || (github.event_name == 'workflow_dispatch'))")
        );
        assert_eq!(
            github_if(Some("contains(event, 'pull')")).as_deref(),
            Some(
                "contains((github.ref_type == 'tag' && 'tag' || github.event_name == 'workflow_dispatch' && 'manual' || github.event_name), 'pull')"
            )
        );
        // GitHub cannot know wharf's version: with a status function the job starts
        // always and wharf decides; without, GitHub's default (success()) is a superset.
        assert_eq!(
            github_if(Some("failure() && version != ''")).as_deref(),
            Some("always()")
        );
        assert_eq!(github_if(Some("version != ''")), None);
    }

    #[test]
    fn gitlab_when_from_status_functions() {
        assert_eq!(gitlab_when(None), None);
        assert_eq!(gitlab_when(Some("event == 'tag'")), None);
        assert_eq!(gitlab_when(Some("failure()")), Some("on_failure"));
        assert_eq!(
            gitlab_when(Some("failure() && branch == 'main'")),
            Some("on_failure")
        );
        assert_eq!(gitlab_when(Some("always()")), Some("always"));
        assert_eq!(gitlab_when(Some("!cancelled()")), Some("always"));
        assert!(has_status(Some("!cancelled()")));
        assert!(!has_status(Some("event == 'tag'")));
    }
}
