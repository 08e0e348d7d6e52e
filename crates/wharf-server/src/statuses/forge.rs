//! Each forge's commit status request, and what its answer means for the outbox.
//!
//! - GitHub: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, `Authorization: Bearer`,
//!   `Accept: application/vnd.github+json`, JSON `{state, target_url, description,
//!   context}` (<https://docs.github.com/en/rest/commits/statuses#create-a-commit-status>).
//! - GitLab: `POST {api}/projects/{id}/statuses/{sha}` (the id, or the path with `/` as
//!   `%2F`), `PRIVATE-TOKEN`, JSON `{state, ref, name, target_url, description}`
//!   (<https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit>).
//! - Gitea/Forgejo: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, `Authorization:
//!   token`, JSON `{state, target_url, description, context}`
//!   (<https://gitea.com/api/swagger#/repository/repoCreateStatus>).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use wharf_forge::ForgeKind;
use wharf_secrets::secret::SecretString;

use super::State;
use super::config::StatusInfo;
use super::outbox::Transition;

/// What an answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Taken.
    Taken,
    /// May pass: try again (after the forge's `Retry-After`, when it gave one).
    Transient {
        /// What went wrong.
        error: String,
        /// How long the forge asked to wait.
        after: Option<Duration>,
    },
    /// Refused: sending it again cannot help.
    Refused {
        /// The status and the forge's message.
        error: String,
    },
}

/// The forge's word for `state`. GitHub and Gitea have no `running`, `canceled` or
/// `skipped`: running is `pending`, cancelled is `error`, skipped is `success` (its
/// description says "skipped").
pub(crate) fn state_word(forge: ForgeKind, state: State) -> &'static str {
    match (forge, state) {
        (ForgeKind::Gitlab, State::Pending) => "pending",
        (ForgeKind::Gitlab, State::Running) => "running",
        (ForgeKind::Gitlab, State::Success) => "success",
        (ForgeKind::Gitlab, State::Failure | State::Error) => "failed",
        (ForgeKind::Gitlab, State::Cancelled) => "canceled",
        (ForgeKind::Gitlab, State::Skipped) => "skipped",
        (_, State::Pending | State::Running) => "pending",
        (_, State::Success | State::Skipped) => "success",
        (_, State::Failure) => "failure",
        (_, State::Error | State::Cancelled) => "error",
    }
}

/// The request for `t` on `forge`.
pub(crate) fn request(
    client: &reqwest::Client,
    forge: ForgeKind,
    cfg: &StatusInfo,
    token: &SecretString,
    t: &Transition,
) -> Result<reqwest::RequestBuilder, String> {
    let mut url = reqwest::Url::parse(&cfg.api).map_err(|e| format!("the API URL: {e}"))?;
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| "the API URL cannot take a path".to_string())?;
        path.pop_if_empty();
        match forge {
            // The id or the URL-encoded path: one segment, its `/` sent as `%2F`.
            ForgeKind::Gitlab => path.extend(["projects", cfg.repo.as_str()]),
            _ => path.push("repos").extend(cfg.repo.split('/')),
        };
        path.extend(["statuses", t.sha.as_str()]);
    }
    let mut headers = HeaderMap::new();
    let (name, value) = match forge {
        ForgeKind::Github => {
            headers.insert(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            );
            headers.insert(
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static("2022-11-28"),
            );
            (
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            )
        }
        ForgeKind::Gitlab => (
            HeaderName::from_static("private-token"),
            token.expose().to_string(),
        ),
        ForgeKind::Gitea => (
            reqwest::header::AUTHORIZATION,
            format!("token {}", token.expose()),
        ),
    };
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| "the token is not a valid header value".to_string())?;
    value.set_sensitive(true);
    headers.insert(name, value);
    let state = state_word(forge, t.state);
    let body = match forge {
        ForgeKind::Gitlab => {
            let mut b = serde_json::json!({
                "state": state,
                "name": t.context,
                "target_url": t.target_url,
                "description": t.description,
            });
            if let Some(r) = &t.reference {
                b["ref"] = serde_json::Value::String(r.clone());
            }
            b
        }
        _ => serde_json::json!({
            "state": state,
            "target_url": t.target_url,
            "description": t.description,
            "context": t.context,
        }),
    };
    Ok(client.post(url).headers(headers).json(&body))
}

/// What `status` with `body` (and a `Retry-After` of `retry_after`) means.
pub(crate) fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Taken;
    }
    let error = format!("{status} {}", message(body));
    if status == 429 || status >= 500 {
        let after = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Answer::Transient { error, after };
    }
    Answer::Refused { error }
}

/// The forge's message in an error body: GitHub's and Gitea's `message` (with GitHub's
/// `errors`), GitLab's `message` or `error`; else the body's start.
fn message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let mut m = match (&v["message"], &v["error"]) {
                (serde_json::Value::String(s), _) | (_, serde_json::Value::String(s)) => s.clone(),
                (serde_json::Value::Null, serde_json::Value::Null) => v.to_string(),
                (m, _) if !m.is_null() => m.to_string(),
                (_, e) => e.to_string(),
            };
            if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
                m = format!("{m}: {}", serde_json::Value::Array(errors.clone()));
            }
            m
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    super::truncate(&one_line, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_taken_retried_and_refused() {
        assert_eq!(classify(201, None, b"{}"), Answer::Taken);
        assert_eq!(
            classify(500, None, b"oops"),
            Answer::Transient {
                error: "500 oops".into(),
                after: None
            }
        );
        assert_eq!(
            classify(429, Some("7"), br#"{"message":"slow down"}"#),
            Answer::Transient {
                error: "429 slow down".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify(401, None, br#"{"message":"Bad credentials"}"#),
            Answer::Refused {
                error: "401 Bad credentials".into()
            }
        );
        assert_eq!(
            classify(
                400,
                None,
                br#"{"error":"state does not have a valid value"}"#
            ),
            Answer::Refused {
                error: "400 state does not have a valid value".into()
            }
        );
    }

    #[test]
    fn each_forge_gets_its_own_words() {
        use ForgeKind::*;
        assert_eq!(state_word(Github, State::Running), "pending");
        assert_eq!(state_word(Gitlab, State::Running), "running");
        assert_eq!(state_word(Github, State::Cancelled), "error");
        assert_eq!(state_word(Gitea, State::Cancelled), "error");
        assert_eq!(state_word(Gitlab, State::Cancelled), "canceled");
        assert_eq!(state_word(Gitlab, State::Failure), "failed");
        assert_eq!(state_word(Gitea, State::Skipped), "success");
        assert_eq!(state_word(Gitlab, State::Skipped), "skipped");
    }
}
