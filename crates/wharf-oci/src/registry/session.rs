//! A session with one registry: the HTTP client under the network limits, the
//! credentials and the answer to the registry's auth challenge, and the retries.
//!
//! Every request goes through [`wharf_net::Net::send`], so a registry that stops reading
//! an upload, never answers or stops sending fails the request within the idle limit,
//! with a message naming the registry and the blob or manifest; such a stall is never
//! retried (the user waited for the idle limit once already). 5xx, 429 and refused or
//! broken connections are retried with backoff, each retry said as it happens through
//! the session's notes (`retrying blob sha256:… (2/5) after 503`).

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode, header};
use tokio::sync::mpsc::UnboundedSender;
use wharf_net::{Exchange, Net, human_size, redact_url, retrying};
use wharf_secrets::secret::SecretString;

use super::{
    ClientOptions, Credentials, api_host, docker_config, error_text, parse_challenge,
    plain_http_allowed,
};
use crate::{Error, Result};

/// A session with one registry: the HTTP client, the credentials and the current
/// `Authorization` header (Basic, or the Bearer token of the last challenge).
pub(crate) struct Session {
    net: Net,
    base: String,
    host: String,
    credentials: Option<Credentials>,
    /// Hosts the user allows over plain HTTP (for the registry and its token realm).
    insecure: Vec<String>,
    auth: Mutex<Option<SecretString>>,
    /// Every scope a token was asked for in this session: each new token covers them all,
    /// so requests for different repositories never take each other's access away.
    scopes: Mutex<Vec<String>>,
    /// Where retry lines go, as they happen (the caller shows them).
    notes: Option<UnboundedSender<String>>,
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    File(std::path::PathBuf, u64),
}

/// Blobs up to this size are read into memory for their upload.
const SMALL_BLOB: u64 = 8 << 20;

/// Attempts per request for 5xx, 429 and refused or broken connections.
pub(crate) const ATTEMPTS: u32 = 5;

impl Session {
    /// A session with `host` with the options' credentials, else docker's `config.json`'s
    /// for that host, else none.
    pub(crate) fn for_host(host: &str, options: &ClientOptions) -> Result<Session> {
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => docker_config::lookup(host)?,
        };
        let limits = match options.limits {
            Some(l) => l,
            None => wharf_net::Limits::from_env()?,
        };
        Session::new(host, &options.insecure, credentials, Net::new(limits)?)
    }

    /// A session with `host`; HTTPS unless the host is loopback or listed in `insecure`.
    fn new(
        host: &str,
        insecure: &[String],
        credentials: Option<Credentials>,
        net: Net,
    ) -> Result<Session> {
        let scheme = if plain_http_allowed(host, insecure) {
            "http"
        } else {
            "https"
        };
        Ok(Session {
            net,
            base: format!("{scheme}://{}", api_host(host)),
            host: host.to_string(),
            credentials,
            insecure: insecure.to_vec(),
            auth: Mutex::new(None),
            scopes: Mutex::new(Vec::new()),
            notes: None,
        })
    }

    /// Sends this session's retry lines to `notes`.
    pub(crate) fn with_notes(mut self, notes: UnboundedSender<String>) -> Session {
        self.notes = Some(notes);
        self
    }

    fn note(&self, line: String) {
        if let Some(n) = &self.notes {
            let _ = n.send(line);
        }
    }

    /// `{scheme}://{host}`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The registry's host as the user wrote it (`127.0.0.1:5000`, `docker.io`).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Sends a request about `subject` (`blob sha256:…`, `manifest …`), answering an
    /// auth challenge once (for `scopes`) and retrying 5xx, 429 and refused or broken
    /// connections with backoff (honouring `Retry-After`), each retry noted.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        body: &Body,
        headers: &[(header::HeaderName, String)],
        subject: &str,
    ) -> Result<reqwest::Response> {
        self.send_with(method, url, scopes, body, headers, subject, ATTEMPTS)
            .await
    }

    /// [`Session::send`] without the retries (only the auth challenge is answered): for a
    /// blob upload's `PUT`, whose upload session a failure may have spent; the caller
    /// starts a new one instead.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        body: &Body,
        headers: &[(header::HeaderName, String)],
        subject: &str,
    ) -> Result<reqwest::Response> {
        self.send_with(method, url, scopes, body, headers, subject, 1)
            .await
    }

    /// Notes that `subject` is tried again (`attempt` of `attempts`) after `reason`.
    pub(crate) fn note_retry(&self, subject: &str, attempt: u32, attempts: u32, reason: &str) {
        self.note(retrying(subject, attempt, attempts, reason));
    }

    /// The exchange of a request, for messages: the registry's host and what is sent.
    pub(crate) fn exchange(
        &self,
        method: &Method,
        url: &str,
        body: &Body,
        subject: &str,
    ) -> Exchange {
        let what = match body {
            Body::File(_, len) => format!("the upload of {subject} ({})", human_size(*len)),
            Body::Bytes(b) => format!("the upload of {subject} ({})", human_size(b.len() as u64)),
            Body::Empty => match *method {
                Method::HEAD => format!("the check for {subject}"),
                Method::GET => format!("the download of {subject}"),
                Method::POST => format!("the upload session for {subject}"),
                _ => format!("the {method} of {subject}"),
            },
        };
        Exchange::new("registry", url, what)
    }

    /// Reads a body that [`Session::send`] answered, its failure worded like the
    /// request's.
    pub(crate) async fn bytes(
        &self,
        resp: reqwest::Response,
        url: &str,
        subject: &str,
    ) -> Result<bytes::Bytes> {
        resp.bytes().await.map_err(|e| {
            self.exchange(&Method::GET, url, &Body::Empty, subject)
                .error(&e, self.net.limits())
                .into()
        })
    }

    /// The limits of this session.
    pub(crate) fn limits(&self) -> &wharf_net::Limits {
        self.net.limits()
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        body: &Body,
        headers: &[(header::HeaderName, String)],
        subject: &str,
        attempts: u32,
    ) -> Result<reqwest::Response> {
        let exchange = self.exchange(&method, url, body, subject);
        let mut delay = Duration::from_millis(250);
        let mut challenged = false;
        // The challenge's round trip does not count as an attempt.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.net.client().request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(a) = self.auth.lock().expect("auth lock").as_ref() {
                let mut value = header::HeaderValue::from_str(a.expose())
                    .map_err(|_| Error::Registry("the registry token is not a header".into()))?;
                value.set_sensitive(true);
                req = req.header(header::AUTHORIZATION, value);
            }
            req = match body {
                Body::Empty => req,
                Body::Bytes(b) => req.body(b.clone()),
                // Small blobs are read in one go; large ones streamed in 1 MiB reads (a
                // bare tokio File body reads a few KiB at a time: measured, a 100 MiB
                // push spent 0.4 s of system time).
                Body::File(path, len) if *len <= SMALL_BLOB => {
                    let bytes = tokio::fs::read(path)
                        .await
                        .map_err(|e| Error::io("cannot read", path, e))?;
                    req.body(bytes)
                }
                Body::File(path, len) => {
                    let f = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| Error::io("cannot read", path, e))?;
                    let stream = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20);
                    req.header(header::CONTENT_LENGTH, *len)
                        .body(reqwest::Body::wrap_stream(stream))
                }
            };
            let wait = match self.net.send(req, &exchange).await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    attempt -= 1;
                    let challenge = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    self.authenticate(&challenge, scopes).await?;
                    continue;
                }
                Ok(resp)
                    if (resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < attempts =>
                {
                    let wait = resp
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)))
                        .unwrap_or(delay);
                    self.note_retry(subject, attempt + 1, attempts, resp.status().as_str());
                    wait
                }
                Ok(resp) => return Ok(resp),
                Err(e) => match e.retry_reason() {
                    Some(reason) if attempt < attempts => {
                        self.note_retry(subject, attempt + 1, attempts, reason);
                        delay
                    }
                    _ => return Err(e.into()),
                },
            };
            tokio::time::sleep(wait).await;
            delay *= 2;
        }
    }

    /// Answers a `WWW-Authenticate` challenge: Basic with the credentials, or a Bearer
    /// token from the realm for `scopes`.
    async fn authenticate(&self, challenge: &str, scopes: &[String]) -> Result<()> {
        let basic = || -> Option<String> {
            let c = self.credentials.as_ref().filter(|c| !c.identity_token)?;
            let raw = format!("{}:{}", c.username, c.password.expose());
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        };
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            if self.credentials.as_ref().is_some_and(|c| c.identity_token) {
                return Err(Error::Registry(format!(
                    "{} asks for a password, and docker's config.json has an identity token \
                     for it, which only a token server takes\n  hint: give `username:` and \
                     `password:` (a secret) on the step",
                    self.host
                )));
            }
            let b = basic().ok_or_else(|| {
                Error::Registry(format!(
                    "{} asks for credentials\n  hint: set `username:` and `password:` (a secret) on \
                     the step, or log in with `docker login {}` (wharf reads docker's config.json)",
                    self.host, self.host
                ))
            })?;
            *self.auth.lock().expect("auth lock") = Some(SecretString::new(b));
            return Ok(());
        }
        if lower.starts_with("bearer") {
            let params = parse_challenge(&challenge[6..]);
            let realm = params
                .iter()
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::Registry("bearer challenge without a realm".into()))?;
            // Credentials go to the realm: over HTTPS, or plain HTTP only where the
            // registry itself may be reached that way.
            let shown = redact_url(&realm);
            let realm_url = reqwest::Url::parse(&realm)
                .map_err(|e| Error::Registry(format!("token realm `{shown}`: {e}")))?;
            let realm_host = match realm_url.port() {
                Some(port) => format!("{}:{port}", realm_url.host_str().unwrap_or("")),
                None => realm_url.host_str().unwrap_or("").to_string(),
            };
            if realm_url.scheme() != "https" && !plain_http_allowed(&realm_host, &self.insecure) {
                return Err(Error::Registry(format!(
                    "{} sends its token requests to `{shown}`, not HTTPS: wharf does not send \
                     credentials there\n  hint: list `{realm_host}` in `insecure:` if that is \
                     intended",
                    self.host
                )));
            }
            let all_scopes = {
                let mut known = self.scopes.lock().expect("scopes lock");
                for scope in scopes {
                    if !known.contains(scope) {
                        known.push(scope.clone());
                    }
                }
                known.clone()
            };
            let service = params
                .iter()
                .find(|(k, _)| k == "service")
                .map(|(_, v)| v.clone());
            let exchange = Exchange::new(
                "token server",
                &realm,
                format!("the token request for {}", self.host),
            );
            let req = match self.credentials.as_ref().filter(|c| c.identity_token) {
                Some(c) => {
                    // distribution's OAuth2 form of the token request.
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("client_id", "wharf".to_string()),
                        ("refresh_token", c.password.expose().to_string()),
                        ("scope", all_scopes.join(" ")),
                    ];
                    form.extend(service.map(|s| ("service", s)));
                    self.net.client().post(realm_url).form(&form)
                }
                None => {
                    let mut url = realm_url;
                    {
                        let mut q = url.query_pairs_mut();
                        if let Some(service) = &service {
                            q.append_pair("service", service);
                        }
                        for scope in &all_scopes {
                            q.append_pair("scope", scope);
                        }
                        if let Some(c) = &self.credentials {
                            q.append_pair("account", &c.username);
                        }
                    }
                    let mut req = self.net.client().get(url);
                    if let Some(b) = basic() {
                        let mut value = header::HeaderValue::from_str(&b).map_err(|_| {
                            Error::Registry("the registry user is not a header".into())
                        })?;
                        value.set_sensitive(true);
                        req = req.header(header::AUTHORIZATION, value);
                    }
                    req
                }
            };
            let resp = self.net.send(req, &exchange).await?;
            if !resp.status().is_success() {
                return Err(Error::Registry(format!(
                    "{shown} refused a token ({})\n  hint: check the registry user and password",
                    resp.status()
                )));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| Error::from(exchange.error(&e, self.net.limits())))?;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| Error::Registry(format!("token from {shown}: {e}")))?;
            let token = json["token"]
                .as_str()
                .or(json["access_token"].as_str())
                .ok_or_else(|| Error::Registry(format!("the answer of {shown} has no token")))?;
            *self.auth.lock().expect("auth lock") =
                Some(SecretString::new(format!("Bearer {token}")));
            return Ok(());
        }
        Err(Error::Registry(format!(
            "{} refused the request (401) without a challenge wharf knows",
            self.host
        )))
    }

    /// `resp` when it is a success; else the error for it (with the hint for 401/403).
    pub(crate) async fn success(
        &self,
        resp: reqwest::Response,
        what: &str,
    ) -> Result<reqwest::Response> {
        self.check_auth(&resp)?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(Error::Registry(format!(
                "{what}: {}",
                error_text(resp).await
            )))
        }
    }

    /// An error for a 401/403 answer.
    pub(crate) fn check_auth(&self, resp: &reqwest::Response) -> Result<()> {
        match resp.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Registry(format!(
                "{} refused the credentials ({})\n  hint: check `username:` and the `password:` \
                 secret of the step, or docker's config.json",
                self.host,
                resp.status()
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry on 127.0.0.1 that answers every request with `answer`.
    fn one_answer_server(answer: &'static str) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        port
    }

    #[tokio::test]
    async fn credentials_never_go_to_a_plain_http_realm_elsewhere() {
        // 192.0.2.1 (TEST-NET-1) is never contacted: the realm is refused first.
        let port = one_answer_server(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://192.0.2.1/token\",\
             service=\"r\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let creds = Credentials::password("ci", SecretString::new("s3cret".into()));
        let net = Net::new(wharf_net::Limits::default()).unwrap();
        let session = Session::new(&format!("127.0.0.1:{port}"), &[], Some(creds), net).unwrap();
        let url = format!("{}/v2/", session.base());
        let err = session
            .send(Method::GET, &url, &[], &Body::Empty, &[], "the API root")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not HTTPS: wharf does not send credentials there"),
            "{err}"
        );
        assert!(err.contains("list `192.0.2.1` in `insecure:`"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
