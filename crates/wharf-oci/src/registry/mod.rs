//! A focused OCI Distribution client: push an image from an OCI layout ([`push()`]) and
//! pull a base image into a digest-addressed layout ([`pull()`]).
//!
//! Auth follows the registry's `WWW-Authenticate` challenge: Basic with the credentials,
//! or a Bearer token fetched from the challenge's realm for the request's scope, as the
//! distribution token spec describes. Credentials come from the caller (wharf secrets) or
//! from a docker `config.json` ([`docker_config`]). Plain HTTP only for loopback
//! registries and those the caller lists as insecure. Every request is under the
//! network limits of [`wharf_net`] (`WHARF_NET_*`, or [`ClientOptions::limits`]): a
//! registry that stops reading an upload or stops answering fails the push within the
//! idle limit. 5xx, 429 and refused or broken connections are retried with backoff, each
//! retry said as it happens.
//!
//! Push: blobs first (a HEAD check skips what the registry has, a cross-repository mount
//! brings what another repository of the same registry has, the rest is uploaded eight at
//! a time, streamed from the layout), the manifest last, so no tag ever names a missing
//! blob. Pull: the manifest (an index picks the platform), then the config and layers,
//! each verified against its digest before it is stored; blobs already in the layout are
//! not fetched again.

pub mod attach;
pub mod docker_config;
mod pull;
mod push;
mod session;

use wharf_secrets::secret::SecretString;

use crate::{Digest, Error, Result};
use session::{Body, Session};

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
    /// The network limits; `None` takes them from the `WHARF_NET_*` variables.
    pub limits: Option<wharf_net::Limits>,
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
