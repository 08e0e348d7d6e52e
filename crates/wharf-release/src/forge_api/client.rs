//! The HTTP side of forge publishing: the forge's headers, the network limits of
//! [`wharf_net`] (a forge that stops reading an asset or never answers fails within the
//! idle limit; reqwest's own `read_timeout` would also fail any upload longer than
//! itself), retries with backoff for the failures that pass (5xx, 429, a refused or
//! dropped connection), and the mapping of the other statuses to [`ForgeError`]s that
//! say what to fix.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use wharf_net::{Exchange, Limits, Net, redact_url};
use zeroize::Zeroizing;

use super::{ForgeError, ForgeKind, ForgeRelease, ForgeResult, Progress};

/// How often one request is sent at most before its failure is reported.
pub(super) const MAX_ATTEMPTS: u32 = 5;
/// The first retry's delay; each later one doubles it.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest wait, whatever a `Retry-After` asks for: a release step should fail
/// visibly rather than hang on a rate limit.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// The progress callback, `Send` so that `publish`'s future can be spawned.
pub(super) type Report<'p> = &'p mut (dyn FnMut(&Progress) + Send);

/// One forge repository's API, with the token in a ready header.
pub(super) struct Api<'a> {
    net: Net,
    pub(super) release: &'a ForgeRelease,
    base: Url,
    auth: HeaderValue,
}

impl<'a> Api<'a> {
    /// Builds the client for `release`'s forge, under the release's limits (else the
    /// `WHARF_NET_*` variables').
    pub(super) fn new(release: &'a ForgeRelease) -> ForgeResult<Self> {
        let net = Net::new(match release.limits {
            Some(l) => l,
            None => Limits::from_env()?,
        })?;
        let root = release.api_url.trim_end_matches('/');
        let root = match release.forge {
            ForgeKind::GitHub => root.to_owned(),
            ForgeKind::Gitea => format!("{root}/api/v1"),
        };
        let base = Url::parse(&root)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.query().is_none())
            .ok_or_else(|| {
                ForgeError::Invalid(format!(
                    "api url `{}` is not an http(s) URL",
                    redact_url(&release.api_url)
                ))
            })?;
        let scheme = match release.forge {
            ForgeKind::GitHub => "Bearer",
            ForgeKind::Gitea => "token",
        };
        let value = Zeroizing::new(format!("{scheme} {}", release.token.expose()));
        let mut auth = HeaderValue::from_str(&value).map_err(|_| {
            ForgeError::Invalid("the token has characters an HTTP header cannot carry".into())
        })?;
        auth.set_sensitive(true);
        Ok(Self {
            net,
            release,
            base,
            auth,
        })
    }

    /// The forge's name for messages.
    pub(super) fn forge(&self) -> &'static str {
        match self.release.forge {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::Gitea => "Gitea/Forgejo",
        }
    }

    /// The peer's name in network errors.
    fn peer(&self) -> &'static str {
        match self.release.forge {
            ForgeKind::GitHub => "GitHub API",
            ForgeKind::Gitea => "Gitea/Forgejo API",
        }
    }

    fn repository(&self) -> String {
        format!("{}/{}", self.release.owner, self.release.repo)
    }

    /// `{api}/repos/{owner}/{repo}/{tail...}`, each segment percent-encoded (a tag may
    /// hold `/`).
    pub(super) fn repo_url(&self, tail: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(
                ["repos", &self.release.owner, &self.release.repo]
                    .iter()
                    .chain(tail),
            );
        }
        url
    }

    /// A request with the forge's headers.
    pub(super) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self
            .net
            .client()
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone());
        match self.release.forge {
            ForgeKind::GitHub => builder
                .header(ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ForgeKind::Gitea => builder.header(ACCEPT, "application/json"),
        }
    }

    /// Sends the request `build` makes (again on each retry, so a streamed body is
    /// reopened), and returns the response for 2xx, `None` for 404, and an error for the
    /// rest once the retries are spent.
    pub(super) async fn send(
        &self,
        method: &Method,
        url: &Url,
        build: impl FnMut() -> ForgeResult<RequestBuilder>,
        progress: Report<'_>,
    ) -> ForgeResult<Option<Response>> {
        let what = format!("{method} {}", redact_url(url.as_str()));
        self.send_about(
            method,
            url,
            &what,
            &format!("the request {what}"),
            build,
            progress,
        )
        .await
    }

    /// [`Api::send`] with the words for messages: `subject` for retry lines (`upload of
    /// asset app.zip`), `what` for a network failure (`the upload of asset app.zip (2.0
    /// MiB)`).
    pub(super) async fn send_about(
        &self,
        method: &Method,
        url: &Url,
        subject: &str,
        what: &str,
        mut build: impl FnMut() -> ForgeResult<RequestBuilder>,
        progress: Report<'_>,
    ) -> ForgeResult<Option<Response>> {
        let exchange = Exchange::new(self.peer(), url.as_str(), what);
        let mut attempt = 1;
        loop {
            let (retry_after, reason) = match self.net.send(build()?, &exchange).await {
                Ok(response) if response.status().is_success() => return Ok(Some(response)),
                Ok(response) if response.status() == StatusCode::NOT_FOUND => return Ok(None),
                Ok(response) => {
                    let status = response.status();
                    let passing =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    if !passing || attempt >= MAX_ATTEMPTS {
                        return Err(self.status_error(method, url, response, attempt).await);
                    }
                    let after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (after, status.as_str().to_string())
                }
                // A stall or a limit is not retried: the forge had the whole limit.
                Err(err) => match err.retry_reason() {
                    Some(reason) if attempt < MAX_ATTEMPTS => (None, reason.to_string()),
                    _ => return Err(err.into()),
                },
            };
            let delay = retry_after
                .unwrap_or(FIRST_DELAY * 2u32.pow(attempt - 1))
                .min(MAX_DELAY);
            progress(&Progress::Retrying {
                what: subject.to_string(),
                attempt,
                attempts: MAX_ATTEMPTS,
                reason,
                delay,
            });
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The error for a 404 on a request inside the repository.
    pub(super) fn not_found(&self, method: &Method, url: &Url) -> ForgeError {
        ForgeError::RepoNotFound {
            repository: self.repository(),
            api_url: redact_url(self.base.as_str()),
            request: format!("{method} {}", redact_url(url.as_str())),
        }
    }

    async fn status_error(
        &self,
        method: &Method,
        url: &Url,
        response: Response,
        attempts: u32,
    ) -> ForgeError {
        let status = response.status().as_u16();
        let message = api_message(&response.bytes().await.unwrap_or_default());
        let request = format!("{method} {}", redact_url(url.as_str()));
        match status {
            401 | 403 => ForgeError::Auth {
                forge: self.forge(),
                status,
                request,
                message,
                repository: self.repository(),
            },
            500.. | 429 => ForgeError::Server {
                forge: self.forge(),
                status,
                request,
                message,
                attempts,
            },
            _ => ForgeError::Rejected {
                forge: self.forge(),
                status,
                request,
                message,
            },
        }
    }
}

impl Api<'_> {
    /// Reads a 2xx response's JSON body, under the idle limit.
    pub(super) async fn read_json<T: DeserializeOwned>(
        &self,
        response: Response,
    ) -> ForgeResult<T> {
        let url = redact_url(response.url().as_str());
        let exchange = Exchange::new(
            self.peer(),
            response.url().as_str(),
            format!("the answer from {url}"),
        );
        let body = response
            .bytes()
            .await
            .map_err(|err| exchange.error(&err, self.net.limits()))?;
        serde_json::from_slice(&body).map_err(|err| ForgeError::Response {
            url,
            detail: err.to_string(),
        })
    }
}

/// The API's own words from an error body: GitHub's and Gitea's `message`, with GitHub's
/// field errors (`tag_name: already_exists`); the raw text when it is not JSON.
fn api_message(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() {
            "(no message)".into()
        } else {
            text.chars().take(500).collect()
        };
    };
    let mut message = json["message"]
        .as_str()
        .unwrap_or("(no message)")
        .to_owned();
    let details: Vec<String> = json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(
            |e| match (e["field"].as_str(), e["code"].as_str(), e.as_str()) {
                (Some(field), Some(code), _) => format!("{field}: {code}"),
                (_, _, Some(text)) => text.to_owned(),
                _ => e["message"].as_str().unwrap_or_default().to_owned(),
            },
        )
        .filter(|d| !d.is_empty())
        .collect();
    if !details.is_empty() {
        message = format!("{message} ({})", details.join(", "));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_messages() {
        assert_eq!(
            api_message(
                br#"{"message":"Validation Failed","errors":[{"resource":"Release","code":"already_exists","field":"tag_name"}]}"#
            ),
            "Validation Failed (tag_name: already_exists)"
        );
        assert_eq!(
            api_message(br#"{"message":"Bad credentials"}"#),
            "Bad credentials"
        );
        assert_eq!(api_message(b"oops"), "oops");
        assert_eq!(api_message(b""), "(no message)");
    }
}
