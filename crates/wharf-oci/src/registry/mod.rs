//! A focused OCI Distribution client: push an image from an OCI layout ([`push()`]) and
//! pull a base image into a digest-addressed layout ([`pull()`]).
//!
//! Auth follows the registry's `WWW-Authenticate` challenge: Basic with the credentials,
//! or a Bearer token fetched from the challenge's realm for the request's scope, as the
//! distribution token spec describes. Credentials come from the caller (wharf secrets) or
//! from a docker `config.json` ([`docker_config`]). Plain HTTP only for loopback
//! registries and those the caller lists as insecure. 5xx, 429 and connection failures
//! are retried with backoff.
//!
//! Push: blobs first (a HEAD check skips what the registry has, a cross-repository mount
//! brings what another repository of the same registry has, the rest is uploaded eight at
//! a time, streamed from the layout), the manifest last, so no tag ever names a missing
//! blob. Pull: the manifest (an index picks the platform), then the config and layers,
//! each verified against its digest before it is stored; blobs already in the layout are
//! not fetched again.

pub mod docker_config;
mod pull;
mod push;

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode, header};
use wharf_secrets::secret::SecretString;

use crate::{Digest, Error, Result};

pub use pull::{Pulled, inspect, pull};
pub use push::{Pushed, Pusher, push};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Hosts (`host:port`) reached over plain HTTP although not loopback.
    pub insecure: Vec<String>,
    /// Credentials for every registry reached; `None` looks each host up in docker's
    /// `config.json` (anonymous when it has none).
    pub credentials: Option<Credentials>,
}

/// A registry image reference: `host[:port]/name[:tag][@sha256:...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host and port.
    pub host: String,
    /// Repository path.
    pub name: String,
    /// Tag (`latest` when neither a tag nor a digest is given).
    pub tag: Option<String>,
    /// A pinned manifest digest.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a full reference; the registry host is required (nothing defaults to a
    /// public registry).
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| Error::Registry(format!("`{s}` {why}"));
        let (host, rest) = s
            .split_once('/')
            .filter(|(h, _)| h.contains('.') || h.contains(':') || *h == "localhost")
            .ok_or_else(|| {
                bad("does not name a registry: write HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]")
            })?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|_| bad("has an invalid digest after `@`"))?),
            ),
            None => (rest, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (rest, None),
        };
        let name_ok = !name.is_empty()
            && name.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        let tag_ok = tag.is_none_or(|tag| {
            !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !tag.starts_with(['.', '-'])
        });
        if !name_ok || !tag_ok {
            return Err(bad(
                "is not a valid image reference (lowercase name, tag of letters, digits, `._-`)",
            ));
        }
        // Docker Hub's official images live under `library/`, as docker resolves them.
        let name = if is_docker_hub(host) && !name.contains('/') {
            format!("library/{name}")
        } else {
            name.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            host: host.to_string(),
            name,
            tag,
            digest,
        })
    }

    /// The digest if pinned, else the tag: what `/v2/NAME/manifests/...` takes.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `host/name`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// A registry user and its password or token. The password never shows in `Debug`.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user (`__token__`, `oauth2accesstoken`, a name...).
    pub username: String,
    /// The password or token.
    pub password: SecretString,
    /// `password` is an identity token (an OAuth2 refresh token, as `docker login` stores
    /// for registries such as Azure's): it is exchanged at the token server with the
    /// OAuth2 `refresh_token` grant, never sent as a password.
    pub identity_token: bool,
}

impl Credentials {
    /// A user and password (or access token).
    pub fn password(username: impl Into<String>, password: SecretString) -> Credentials {
        Credentials {
            username: username.into(),
            password,
            identity_token: false,
        }
    }

    /// A user and identity token.
    pub fn identity_token(username: impl Into<String>, token: SecretString) -> Credentials {
        Credentials {
            username: username.into(),
            password: token,
            identity_token: true,
        }
    }
}

/// Whether references with this host name Docker Hub: `docker.io`, or the legacy
/// `index.docker.io`. Docker Hub's API answers at `registry-1.docker.io`, and `docker
/// login` files its credentials under `https://index.docker.io/v1/`.
pub(crate) fn is_docker_hub(host: &str) -> bool {
    host == "docker.io" || host == "index.docker.io"
}

/// The host that serves the registry API for `host`.
fn api_host(host: &str) -> &str {
    if is_docker_hub(host) {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// Whether plain HTTP may be used with `host`: this machine, or a host the user lists.
fn plain_http_allowed(host: &str, insecure: &[String]) -> bool {
    is_loopback(host) || insecure.iter().any(|i| i == host)
}

/// Whether a registry host is on this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    h == "localhost"
        || h == "[::1]"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A session with one registry: the HTTP client, the credentials and the current
/// `Authorization` header (Basic, or the Bearer token of the last challenge).
pub(crate) struct Session {
    client: reqwest::Client,
    base: String,
    host: String,
    credentials: Option<Credentials>,
    /// Hosts the user allows over plain HTTP (for the registry and its token realm).
    insecure: Vec<String>,
    auth: Mutex<Option<SecretString>>,
    /// Every scope a token was asked for in this session: each new token covers them all,
    /// so requests for different repositories never take each other's access away.
    scopes: Mutex<Vec<String>>,
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    File(std::path::PathBuf, u64),
}

/// Blobs up to this size are read into memory for their upload.
const SMALL_BLOB: u64 = 8 << 20;

/// Attempts per request for 5xx, 429 and broken connections.
const ATTEMPTS: u32 = 4;

impl Session {
    /// A session with `host` with the options' credentials, else docker's `config.json`'s
    /// for that host, else none.
    pub(crate) fn for_host(host: &str, options: &ClientOptions) -> Result<Session> {
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => docker_config::lookup(host)?,
        };
        Session::new(host, &options.insecure, credentials)
    }

    /// A session with `host`; HTTPS unless the host is loopback or listed in `insecure`.
    fn new(host: &str, insecure: &[String], credentials: Option<Credentials>) -> Result<Session> {
        // reqwest is built without a default crypto provider; install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let scheme = if plain_http_allowed(host, insecure) {
            "http"
        } else {
            "https"
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| Error::Registry(format!("cannot build an HTTP client: {e}")))?;
        Ok(Session {
            client,
            base: format!("{scheme}://{}", api_host(host)),
            host: host.to_string(),
            credentials,
            insecure: insecure.to_vec(),
            auth: Mutex::new(None),
            scopes: Mutex::new(Vec::new()),
        })
    }

    /// `{scheme}://{host}`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request, answering an auth challenge once (for `scopes`) and retrying
    /// 5xx, 429 and broken connections with backoff (honouring `Retry-After`).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        body: &Body,
        headers: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response> {
        self.send_with(method, url, scopes, body, headers, ATTEMPTS)
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
    ) -> Result<reqwest::Response> {
        self.send_with(method, url, scopes, body, headers, 1).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        body: &Body,
        headers: &[(header::HeaderName, String)],
        attempts: u32,
    ) -> Result<reqwest::Response> {
        let mut delay = Duration::from_millis(250);
        let mut challenged = false;
        // The challenge's round trip does not count as an attempt.
        let mut attempt = 0;
        while attempt < attempts {
            attempt += 1;
            let mut req = self.client.request(method.clone(), url);
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
            match req.send().await {
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
                    tokio::time::sleep(wait).await;
                    delay *= 2;
                }
                Ok(resp) => return Ok(resp),
                Err(e)
                    if attempt < attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(Error::Registry(format!("{method} {url}: {e}"))),
            }
        }
        Err(Error::Registry(format!(
            "{method} {url}: the registry kept failing after {attempts} attempts"
        )))
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
            let realm_url = reqwest::Url::parse(&realm)
                .map_err(|e| Error::Registry(format!("token realm `{realm}`: {e}")))?;
            let realm_host = match realm_url.port() {
                Some(port) => format!("{}:{port}", realm_url.host_str().unwrap_or("")),
                None => realm_url.host_str().unwrap_or("").to_string(),
            };
            if realm_url.scheme() != "https" && !plain_http_allowed(&realm_host, &self.insecure) {
                return Err(Error::Registry(format!(
                    "{} sends its token requests to `{realm}`, not HTTPS: wharf does not send \
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
            let resp = match self.credentials.as_ref().filter(|c| c.identity_token) {
                Some(c) => {
                    // distribution's OAuth2 form of the token request.
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("client_id", "wharf".to_string()),
                        ("refresh_token", c.password.expose().to_string()),
                        ("scope", all_scopes.join(" ")),
                    ];
                    form.extend(service.map(|s| ("service", s)));
                    self.client.post(realm_url).form(&form).send().await
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
                    let mut req = self.client.get(url);
                    if let Some(b) = basic() {
                        let mut value = header::HeaderValue::from_str(&b).map_err(|_| {
                            Error::Registry("the registry user is not a header".into())
                        })?;
                        value.set_sensitive(true);
                        req = req.header(header::AUTHORIZATION, value);
                    }
                    req.send().await
                }
            }
            .map_err(|e| Error::Registry(format!("token request to {realm}: {e}")))?;
            if !resp.status().is_success() {
                return Err(Error::Registry(format!(
                    "{realm} refused a token ({})\n  hint: check the registry user and password",
                    resp.status()
                )));
            }
            let json: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| Error::Registry(format!("token from {realm}: {e}")))?;
            let token = json["token"]
                .as_str()
                .or(json["access_token"].as_str())
                .ok_or_else(|| Error::Registry(format!("the answer of {realm} has no token")))?;
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

/// The parameters of a `WWW-Authenticate` challenge after its scheme
/// (`realm="...",service="...",scope="..."`), keys lowercased. Registries send it, so it
/// takes anything: a malformed header gives fewer or odd pairs, never a panic.
pub fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((k, after)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.split_once('"') {
                Some((v, t)) => (v.to_string(), t),
                None => (q.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, t)) => (v.trim().to_string(), t),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, v));
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

/// The body of an error answer, shortened, for messages.
pub(crate) async fn error_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    format!(
        "{status} {}",
        text.trim().chars().take(300).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2.3").unwrap();
        assert_eq!(
            (r.host.as_str(), r.name.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/app", Some("1.2.3"))
        );
        assert_eq!(
            Reference::parse("localhost/app").unwrap().tag.as_deref(),
            Some("latest")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("localhost:5000/base@{d}")).unwrap();
        assert_eq!(
            (pinned.tag.clone(), pinned.manifest_ref()),
            (None, d.clone())
        );
        let both = Reference::parse(&format!("localhost:5000/base:1@{d}")).unwrap();
        assert_eq!(both.to_string(), format!("localhost:5000/base:1@{d}"));
        let hub = Reference::parse("docker.io/python:3.12-slim").unwrap();
        assert_eq!(
            (hub.name.as_str(), api_host(&hub.host)),
            ("library/python", "registry-1.docker.io")
        );
        assert_eq!(
            Reference::parse("docker.io/team/app").unwrap().name,
            "team/app"
        );
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
        for bad in [
            "app:1",
            "docker.io/App:1",
            "127.0.0.1:5000/app:-x",
            "127.0.0.1:5000/",
            "127.0.0.1:5000/app@sha256:12",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

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
        let session = Session::new(&format!("127.0.0.1:{port}"), &[], Some(creds)).unwrap();
        let url = format!("{}/v2/", session.base());
        let err = session
            .send(Method::GET, &url, &[], &Body::Empty, &[])
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

    #[test]
    fn loopback_and_challenges() {
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:80")
        );
        assert!(!is_loopback("registry.example.invalid:5000") && !is_loopback("10.0.0.1"));
        let c = parse_challenge(
            r#" realm="https://auth.example/token",service="registry",scope="repository:a:pull""#,
        );
        assert_eq!(
            c[0],
            (
                "realm".to_string(),
                "https://auth.example/token".to_string()
            )
        );
        assert_eq!(c[1], ("service".to_string(), "registry".to_string()));
    }
}
