//! Uploading Python wheels and sdists through the upload API twine uses (the "legacy"
//! API: a multipart POST with `:action=file_upload`), idempotently: before uploading a
//! file, the index's simple page (PEP 503) is read; the same file name with the same
//! sha256 is skipped, with another sha256 it is an error that names both digests.
//!
//! Metadata comes from the files themselves (python-pkginfo reads a wheel's METADATA or an
//! sdist's PKG-INFO). Files are small, so each is read into memory for its request. A
//! token is sent only over HTTPS, or plain HTTP to this machine.
//!
//! Every request is under the network limits of [`wharf_net`]: an index that never
//! answers or stops reading fails the upload within the idle limit, naming the index
//! and the file. 5xx, 429 and refused or broken connections are retried with backoff,
//! each retry said as it happens (`retrying upload of app-1.0.whl (2/5) after 503`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wharf_net::{Exchange, Limits, Net, NetError, human_size, redact_url, retrying};
use wharf_secrets::secret::SecretString;

use crate::{Error, Result};

/// Attempts per request for 5xx, 429 and refused or broken connections.
const ATTEMPTS: u32 = 5;

/// One upload job.
#[derive(Debug)]
pub struct PublishRequest {
    /// The upload URL, e.g. `https://upload.pypi.org/legacy/`.
    pub repository: String,
    /// The simple index; default: derived from the upload URL.
    pub index_url: Option<String>,
    /// The files (wheels, sdists).
    pub files: Vec<PathBuf>,
    /// User name (default `__token__` when a token is given).
    pub username: Option<String>,
    /// The token or password.
    pub token: Option<SecretString>,
    /// The network limits; `None` takes them from the `WHARF_NET_*` variables.
    pub limits: Option<Limits>,
}

/// One file that is on the index now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The file name, e.g. `app-1.0-py3-none-any.whl`.
    pub filename: String,
    /// `sha256:HEX` of its content.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Uploaded now (`false`: the index had it already).
    pub uploaded: bool,
}

/// Uploads every file; returns what is now on the index (uploaded or already there).
pub async fn publish(
    req: &PublishRequest,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<Published>> {
    if req.files.is_empty() {
        return Err(Error::Invalid("no files to publish".into()));
    }
    if req.token.is_some() {
        refuse_plain_http(&req.repository)?;
    }
    let net = Net::new(match req.limits {
        Some(l) => l,
        None => Limits::from_env()?,
    })?;
    let index = match &req.index_url {
        Some(i) => i.trim_end_matches('/').to_string(),
        None => simple_index(&req.repository),
    };
    let mut published = Vec::new();
    for path in &req.files {
        let file = read(path)?;
        let listed = listed_digest(&net, &index, &file.name, &file.filename, say).await?;
        let digest = format!("sha256:{}", file.sha256);
        let uploaded = match listed {
            Some(d) if d == file.sha256 => {
                say(format!(
                    "{}: already on the index with the same content, skipped",
                    file.filename
                ));
                false
            }
            Some(d) => {
                return Err(Error::Conflict {
                    filename: file.filename,
                    index: d,
                    file: file.sha256,
                });
            }
            None => {
                upload(&net, req, &file, say).await?;
                say(format!(
                    "{}: uploaded ({} bytes, {digest})",
                    file.filename,
                    file.bytes.len()
                ));
                true
            }
        };
        published.push(Published {
            filename: file.filename,
            digest,
            size: file.bytes.len() as u64,
            uploaded,
        });
    }
    Ok(published)
}

/// A token goes over HTTPS, or plain HTTP only to this machine.
fn refuse_plain_http(repository: &str) -> Result<()> {
    let url = reqwest::Url::parse(repository)
        .map_err(|e| Error::Invalid(format!("`{repository}` is not a URL: {e}")))?;
    if url.scheme() == "https" {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && loopback {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "refusing to send the index token to `{}` over {}: only https, or http to \
         this machine\n  hint: use the index's https:// upload URL",
        redact_url(repository),
        url.scheme()
    )))
}

/// A file ready to upload.
struct Dist {
    filename: String,
    name: String,
    bytes: Vec<u8>,
    sha256: String,
    fields: Vec<(&'static str, String)>,
}

fn read(path: &Path) -> Result<Dist> {
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::File(format!("{}: not a file name", path.display())))?
        .to_string();
    let dist = python_pkginfo::Distribution::new(path).map_err(|e| {
        Error::File(format!(
            "{}: not a wheel or sdist whose metadata can be read ({e})",
            path.display()
        ))
    })?;
    let (filetype, pyversion) = match dist.r#type() {
        python_pkginfo::DistributionType::Wheel => {
            ("bdist_wheel", dist.python_version().to_string())
        }
        python_pkginfo::DistributionType::SDist => ("sdist", "source".to_string()),
        other => {
            return Err(Error::File(format!(
                "{}: {other:?} files are not uploaded (wheels and sdists are)",
                path.display()
            )));
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| Error::File(format!("cannot read {}: {e}", path.display())))?;
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let m = dist.metadata();
    let mut fields = vec![
        (":action", "file_upload".to_string()),
        ("protocol_version", "1".to_string()),
        ("metadata_version", m.metadata_version.clone()),
        ("name", m.name.clone()),
        ("version", m.version.clone()),
        ("filetype", filetype.to_string()),
        ("pyversion", pyversion),
        ("sha256_digest", sha256.clone()),
    ];
    if let Some(s) = &m.summary {
        fields.push(("summary", s.clone()));
    }
    if let Some(r) = &m.requires_python {
        fields.push(("requires_python", r.clone()));
    }
    Ok(Dist {
        filename,
        name: m.name.clone(),
        bytes,
        sha256,
        fields,
    })
}

/// The simple index for an upload URL: PyPI's and TestPyPI's are known; otherwise the
/// URL's root plus `simple` (pypiserver, devpi-style servers).
fn simple_index(repository: &str) -> String {
    match repository.trim_end_matches('/') {
        "https://upload.pypi.org/legacy" => "https://pypi.org/simple".into(),
        "https://test.pypi.org/legacy" => "https://test.pypi.org/simple".into(),
        other => {
            let base = other.strip_suffix("/legacy").unwrap_or(other);
            format!("{base}/simple")
        }
    }
}

/// PEP 503 name normalisation.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The sha256 the index lists for `filename`, if it lists the file.
async fn listed_digest(
    net: &Net,
    index: &str,
    name: &str,
    filename: &str,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Option<String>> {
    let url = format!("{index}/{}/", normalize(name));
    let exchange = Exchange::new("index", &url, format!("the request for the page of {name}"));
    let subject = format!("index page of {}", normalize(name));
    let resp = with_retries(net, &exchange, &subject, say, || net.client().get(&url)).await?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(Error::Index(format!(
            "GET {}: {}",
            redact_url(&url),
            resp.status()
        )));
    }
    let page = resp
        .text()
        .await
        .map_err(|e| exchange.error(&e, net.limits()))?;
    // Links look like <a href="../../packages/NAME-1.0-py3-none-any.whl#sha256=HEX">.
    for href in page
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let (path, fragment) = href.split_once('#').unwrap_or((href, ""));
        if path.rsplit('/').next() == Some(filename) {
            let sha = fragment.strip_prefix("sha256=").map(str::to_string);
            return Ok(Some(sha.unwrap_or_default()));
        }
    }
    Ok(None)
}

async fn upload(
    net: &Net,
    req: &PublishRequest,
    file: &Dist,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<()> {
    let url = &req.repository;
    let shown = redact_url(url);
    let exchange = Exchange::new(
        "index",
        url,
        format!(
            "the upload of {} ({})",
            file.filename,
            human_size(file.bytes.len() as u64)
        ),
    );
    let subject = format!("upload of {}", file.filename);
    let resp = with_retries(net, &exchange, &subject, say, || {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in &file.fields {
            form = form.text(*k, v.clone());
        }
        let part = reqwest::multipart::Part::bytes(file.bytes.clone())
            .file_name(file.filename.clone())
            .mime_str("application/octet-stream")
            .expect("a valid mime type");
        form = form.part("content", part);
        let mut r = net.client().post(url).multipart(form);
        if let Some(token) = &req.token {
            let user = req.username.as_deref().unwrap_or("__token__");
            r = r.basic_auth(user, Some(token.expose()));
        }
        r
    })
    .await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let message: String = text
        .chars()
        .take(300)
        .collect::<String>()
        .trim()
        .to_string();
    Err(Error::Index(match status.as_u16() {
        401 | 403 => format!(
            "{shown} refused the upload of {} ({status})\n  hint: check the token in the secret the step names (user `{}`)",
            file.filename,
            req.username.as_deref().unwrap_or("__token__")
        ),
        409 => format!(
            "{shown}: {} already exists on the index ({status})",
            file.filename
        ),
        _ => format!("{shown} refused {} ({status}): {message}", file.filename),
    }))
}

/// Sends the request `build` makes (again for each attempt), retrying 5xx, 429 and
/// refused or broken connections with backoff (never other 4xx, never a stall), and
/// saying each retry.
async fn with_retries(
    net: &Net,
    exchange: &Exchange,
    subject: &str,
    say: &mut (dyn FnMut(String) + Send),
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, NetError> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1.. {
        let result = net.send(build(), exchange).await;
        let reason = match &result {
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                Some(r.status().as_str().to_string())
            }
            Ok(_) => None,
            Err(e) => e.retry_reason().map(str::to_string),
        };
        match reason {
            Some(reason) if attempt < ATTEMPTS => {
                say(retrying(subject, attempt + 1, ATTEMPTS, &reason));
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            _ => return result,
        }
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_and_names() {
        assert_eq!(
            simple_index("https://upload.pypi.org/legacy/"),
            "https://pypi.org/simple"
        );
        assert_eq!(
            simple_index("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/simple"
        );
        assert_eq!(normalize("Wharf_Demo.App"), "wharf-demo-app");
    }

    #[test]
    fn a_token_never_goes_over_plain_http_to_another_machine() {
        for ok in [
            "https://upload.pypi.org/legacy/",
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://[::1]:80/",
        ] {
            assert!(refuse_plain_http(ok).is_ok(), "{ok}");
        }
        let e = refuse_plain_http("http://pypi.internal.example/legacy/").unwrap_err();
        assert!(
            e.to_string().contains("refusing to send the index token"),
            "{e}"
        );
        assert!(refuse_plain_http("ftp://127.0.0.1/").is_err());
    }
}
