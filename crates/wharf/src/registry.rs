//! A focused OCI Distribution client for pushing an image from an OCI layout: blobs
//! first (a HEAD check skips what the registry has; the rest are uploaded concurrently,
//! streamed from the layout), the manifest last, so no tag ever names a missing blob.
//! Auth follows the registry's `WWW-Authenticate` challenge (Basic, or a Bearer token
//! from the realm, per the distribution token spec). Plain HTTP only for loopback
//! registries and those the caller lists as insecure. 5xx, 429 and connection failures
//! are retried with backoff, restarting a blob's upload from a new session.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::{Method, StatusCode, header};
use wharf_oci::{Digest, OciLayout};
use wharf_secrets::secret::SecretString;

/// `host[:port]/name:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host and port.
    pub host: String,
    /// Repository path.
    pub name: String,
    /// Tag.
    pub tag: String,
}

impl Reference {
    /// Parses a full reference; the registry host is required (nothing defaults to a
    /// public registry).
    pub fn parse(s: &str) -> Result<Reference, String> {
        let (host, rest) = s
            .split_once('/')
            .filter(|(h, _)| h.contains('.') || h.contains(':') || *h == "localhost")
            .ok_or_else(|| format!("`{s}` does not name a registry: write HOST[:PORT]/NAME:TAG"))?;
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t),
            _ => (rest, "latest"),
        };
        let name_ok = !name.is_empty()
            && name.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !tag.starts_with(['.', '-']);
        if !name_ok || !tag_ok {
            return Err(format!(
                "`{s}` is not a valid image reference (lowercase name, tag of letters, digits, `._-`)"
            ));
        }
        Ok(Reference {
            host: host.to_string(),
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// Whether a registry host is on this machine.
fn is_loopback(host: &str) -> bool {
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

/// A session with one registry.
pub struct Registry {
    client: reqwest::Client,
    base: String,
    host: String,
    username: Option<String>,
    password: Option<SecretString>,
    auth: Mutex<Option<String>>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry had it.
    Skipped,
    /// Uploaded.
    Uploaded,
}

impl Registry {
    /// A session with `host`; HTTPS unless the host is loopback or listed in `insecure`.
    pub fn new(
        host: &str,
        insecure: &[String],
        username: Option<&str>,
        password: Option<SecretString>,
    ) -> Result<Registry, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let scheme = if is_loopback(host) || insecure.iter().any(|i| i == host) {
            "http"
        } else {
            "https"
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Registry {
            client,
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            username: username.map(str::to_string),
            password,
            auth: Mutex::new(None),
        })
    }

    /// Sends a request, answering an auth challenge once and retrying transient failures.
    async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        body: &Body,
        headers: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response, String> {
        let mut delay = Duration::from_millis(250);
        let mut challenged = false;
        for attempt in 1..=4 {
            let mut req = self.client.request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(a) = self.auth.lock().expect("auth lock").clone() {
                req = req.header(header::AUTHORIZATION, a);
            }
            req = match body {
                Body::Empty => req,
                Body::Bytes(b) => req.body(b.clone()),
                Body::File(path, len) => {
                    let f = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    req.header(header::CONTENT_LENGTH, *len).body(f)
                }
            };
            match req.send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let challenge = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    self.authenticate(&challenge, scope).await?;
                }
                Ok(resp)
                    if (resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < 4 =>
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
                    if attempt < 4
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(format!("{method} {url}: {e}")),
            }
        }
        Err(format!(
            "{method} {url}: the registry kept failing after 4 attempts"
        ))
    }

    /// Answers a `WWW-Authenticate` challenge: Basic with the credentials, or a Bearer
    /// token from the realm for `scope`.
    async fn authenticate(&self, challenge: &str, scope: &str) -> Result<(), String> {
        let basic = || -> Option<String> {
            let user = self.username.as_ref()?;
            let pass = self.password.as_ref()?;
            let raw = format!("{user}:{}", pass.expose());
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        };
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            let b = basic().ok_or_else(|| {
                format!("{} asks for credentials\n  hint: set `username:` and `password:` (a secret) on the step", self.host)
            })?;
            *self.auth.lock().expect("auth lock") = Some(b);
            return Ok(());
        }
        if lower.starts_with("bearer") {
            let params = parse_challenge(&challenge[6..]);
            let realm = params
                .iter()
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.clone())
                .ok_or("bearer challenge without a realm")?;
            let mut url =
                reqwest::Url::parse(&realm).map_err(|e| format!("token realm `{realm}`: {e}"))?;
            {
                let mut q = url.query_pairs_mut();
                if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                    q.append_pair("service", service);
                }
                q.append_pair("scope", scope);
            }
            let mut req = self.client.get(url);
            if let Some(b) = basic() {
                req = req.header(header::AUTHORIZATION, b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("token request to {realm}: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!(
                    "{realm} refused a token ({})\n  hint: check the registry user and password secret",
                    resp.status()
                ));
            }
            let json: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| format!("token from {realm}: {e}"))?;
            let token = json["token"]
                .as_str()
                .or(json["access_token"].as_str())
                .ok_or("the token answer has no token")?;
            *self.auth.lock().expect("auth lock") = Some(format!("Bearer {token}"));
            return Ok(());
        }
        Err(format!(
            "{} refused the request (401) without a challenge wharf knows",
            self.host
        ))
    }

    /// Pushes blob `digest` (from `layout`) to `name` unless the registry has it.
    async fn push_blob(
        &self,
        name: &str,
        layout: &OciLayout,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobOutcome, String> {
        let scope = format!("repository:{name}:pull,push");
        let head = format!("{}/v2/{name}/blobs/{digest}", self.base);
        let resp = self
            .send(Method::HEAD, &head, &scope, &Body::Empty, &[])
            .await?;
        if resp.status().is_success() {
            return Ok(BlobOutcome::Skipped);
        }
        check_auth(&resp, &self.host)?;
        let path = layout.blob_path(digest);
        for attempt in 1..=3 {
            let start = format!("{}/v2/{name}/blobs/uploads/", self.base);
            let resp = self
                .send(Method::POST, &start, &scope, &Body::Empty, &[])
                .await?;
            check_auth(&resp, &self.host)?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(format!("POST {start}: {}", resp.status()));
            }
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or("the registry gave no upload location")?;
            let mut url = if location.starts_with("http") {
                location.to_string()
            } else {
                format!("{}{location}", self.base)
            };
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("digest={digest}"));
            let resp = self
                .send(
                    Method::PUT,
                    &url,
                    &scope,
                    &Body::File(path.clone(), size),
                    &[(header::CONTENT_TYPE, "application/octet-stream".to_string())],
                )
                .await;
            match resp {
                Ok(r) if r.status() == StatusCode::CREATED => return Ok(BlobOutcome::Uploaded),
                Ok(r)
                    if attempt < 3
                        && (r.status().is_server_error()
                            || r.status() == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    continue;
                }
                Ok(r) => {
                    check_auth(&r, &self.host)?;
                    return Err(format!("uploading {digest}: {}", r.status()));
                }
                Err(_) if attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(format!("uploading {digest}: the registry kept failing"))
    }
}

enum Body {
    Empty,
    Bytes(Vec<u8>),
    File(PathBuf, u64),
}

fn check_auth(resp: &reqwest::Response, host: &str) -> Result<(), String> {
    match resp.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(format!(
            "{host} refused the credentials ({})\n  hint: check `username:` and the `password:` secret of the step",
            resp.status()
        )),
        _ => Ok(()),
    }
}

/// `key="value",key2="value2"` of a challenge.
fn parse_challenge(s: &str) -> Vec<(String, String)> {
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

/// Pushes the image tagged `tag` (or the only one) in `layout` to every reference;
/// returns each reference with the manifest digest the registry stored.
pub async fn push(
    layout_dir: &Path,
    tag: Option<&str>,
    refs: &[Reference],
    insecure: &[String],
    username: Option<&str>,
    password: Option<SecretString>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<(String, String)>, String> {
    let layout = OciLayout::open(layout_dir).map_err(|e| e.to_string())?;
    let desc = layout.resolve(tag).map_err(|e| e.to_string())?;
    let manifest_digest = Digest::parse(desc.digest().as_ref()).map_err(|e| e.to_string())?;
    let manifest_bytes = layout
        .read_blob(&manifest_digest)
        .map_err(|e| e.to_string())?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).map_err(|e| format!("the image manifest: {e}"))?;
    let media_type = desc.media_type().to_string();
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for d in std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
    {
        let digest =
            Digest::parse(d["digest"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
        blobs.push((digest, d["size"].as_u64().unwrap_or(0)));
    }
    let mut pushed = Vec::new();
    let mut sessions: Vec<(String, Registry)> = Vec::new();
    for r in refs {
        if !sessions.iter().any(|(h, _)| h == &r.host) {
            sessions.push((
                r.host.clone(),
                Registry::new(&r.host, insecure, username, password.clone())?,
            ));
        }
    }
    let mut done_repos: Vec<(String, String)> = Vec::new();
    for r in refs {
        let reg = &sessions
            .iter()
            .find(|(h, _)| h == &r.host)
            .expect("one session per host")
            .1;
        if !done_repos.contains(&(r.host.clone(), r.name.clone())) {
            let started = std::time::Instant::now();
            // Up to 8 uploads at once over the client's kept-alive connections.
            let mut queue = blobs.iter();
            let mut running = FuturesUnordered::new();
            let mut uploaded = 0;
            let mut skipped = 0;
            loop {
                while running.len() < 8 {
                    match queue.next() {
                        Some((d, size)) => running.push(reg.push_blob(&r.name, &layout, d, *size)),
                        None => break,
                    }
                }
                match running.next().await {
                    Some(outcome) => match outcome? {
                        BlobOutcome::Uploaded => uploaded += 1,
                        BlobOutcome::Skipped => skipped += 1,
                    },
                    None => break,
                }
            }
            say(format!(
                "{}/{}: {uploaded} blob(s) uploaded, {skipped} already there ({:.2}s)",
                r.host,
                r.name,
                started.elapsed().as_secs_f64()
            ));
            done_repos.push((r.host.clone(), r.name.clone()));
        }
        // The manifest last: every blob it names is in the registry now.
        let url = format!("{}/v2/{}/manifests/{}", reg.base, r.name, r.tag);
        let scope = format!("repository:{}:pull,push", r.name);
        let resp = reg
            .send(
                Method::PUT,
                &url,
                &scope,
                &Body::Bytes(manifest_bytes.clone()),
                &[(header::CONTENT_TYPE, media_type.clone())],
            )
            .await?;
        check_auth(&resp, &r.host)?;
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(format!(
                "PUT {url}: {status} {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        let stored = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(manifest_digest.as_str())
            .to_string();
        if stored != manifest_digest.as_str() {
            return Err(format!(
                "{url}: the registry stored {stored}, not {manifest_digest}"
            ));
        }
        let full = format!("{}/{}:{}", r.host, r.name, r.tag);
        say(format!("pushed {full} {stored}"));
        pushed.push((full, stored));
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2.3").unwrap();
        assert_eq!(
            (r.host.as_str(), r.name.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "team/app", "1.2.3")
        );
        assert_eq!(Reference::parse("localhost/app").unwrap().tag, "latest");
        for bad in [
            "app:1",
            "docker.io/App:1",
            "127.0.0.1:5000/app:-x",
            "127.0.0.1:5000/",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
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
