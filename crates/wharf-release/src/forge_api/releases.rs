//! The release and asset endpoints of GitHub's REST API and Gitea's (Forgejo's is the
//! same) `/api/v1`, as their documentation describes them. The two differ only in
//! paths, in how an asset is uploaded (GitHub: the raw bytes to the release's
//! `upload_url`; Gitea: a multipart `attachment` field) and in how one is deleted.

use std::path::{Path, PathBuf};

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Method, Url};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::client::{Api, Report};
use super::{ForgeError, ForgeKind, ForgeResult};

/// A release as both APIs return it (fields wharf does not use are ignored).
#[derive(Debug, Deserialize)]
pub(super) struct RemoteRelease {
    pub id: u64,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub upload_url: Option<String>,
    #[serde(default)]
    pub tag_name: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub assets: Vec<RemoteAsset>,
}

/// A release asset (GitHub) or attachment (Gitea).
#[derive(Debug, Deserialize)]
pub(super) struct RemoteAsset {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub size: u64,
    /// GitHub's `sha256:<hex>`; Gitea has none.
    #[serde(default)]
    pub digest: Option<String>,
    /// GitHub's upload state: `uploaded`, or `starter` for an upload that failed half-way.
    #[serde(default)]
    pub state: Option<String>,
}

/// A file to attach, checked before anything is sent.
#[derive(Debug)]
pub(super) struct LocalAsset {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
}

/// The release for the tag, if there is one. The by-tag endpoint does not see drafts, so
/// when it answers 404 the release list is searched for a draft of that tag; the list
/// also tells a missing repository (404) from a missing release.
pub(super) async fn find(
    api: &Api<'_>,
    progress: Report<'_>,
) -> ForgeResult<Option<RemoteRelease>> {
    let tag = api.release.tag.as_str();
    let url = api.repo_url(&["releases", "tags", tag]);
    if let Some(response) = api
        .send(
            &Method::GET,
            &url,
            || Ok(api.request(Method::GET, url.clone())),
            progress,
        )
        .await?
    {
        return api.read_json(response).await.map(Some);
    }
    // Drafts have no tag yet, so the by-tag lookup misses them: page through the list
    // (newest first) until the draft turns up or a short page ends it.
    let (size_param, size) = match api.release.forge {
        ForgeKind::GitHub => ("per_page", 100),
        ForgeKind::Gitea => ("limit", 50),
    };
    for page in 1..=MAX_LIST_PAGES {
        let mut url = api.repo_url(&["releases"]);
        url.query_pairs_mut()
            .append_pair(size_param, &size.to_string())
            .append_pair("page", &page.to_string());
        let response = api
            .send(
                &Method::GET,
                &url,
                || Ok(api.request(Method::GET, url.clone())),
                progress,
            )
            .await?
            .ok_or_else(|| api.not_found(&Method::GET, &url))?;
        let releases: Vec<RemoteRelease> = api.read_json(response).await?;
        let short = releases.len() < size;
        if let Some(found) = releases.into_iter().find(|r| r.draft && r.tag_name == tag) {
            return Ok(Some(found));
        }
        if short {
            break;
        }
    }
    Ok(None)
}

/// How many pages of releases are searched for a draft (5,000 on GitHub, 2,500 on Gitea).
const MAX_LIST_PAGES: usize = 50;

/// Creates the release (`id` `None`) or updates release `id` to the wanted fields.
pub(super) async fn save(
    api: &Api<'_>,
    id: Option<u64>,
    progress: Report<'_>,
) -> ForgeResult<RemoteRelease> {
    let r = api.release;
    let fields = serde_json::json!({
        "tag_name": r.tag,
        "name": r.name,
        "body": r.body,
        "draft": r.draft,
        "prerelease": r.prerelease,
    });
    let (method, url) = match id {
        None => (Method::POST, api.repo_url(&["releases"])),
        Some(id) => (Method::PATCH, api.repo_url(&["releases", &id.to_string()])),
    };
    let response = api
        .send(
            &method,
            &url,
            || Ok(api.request(method.clone(), url.clone()).json(&fields)),
            progress,
        )
        .await?
        .ok_or_else(|| api.not_found(&method, &url))?;
    api.read_json(response).await
}

/// Uploads `asset` to `release`.
pub(super) async fn upload(
    api: &Api<'_>,
    release: &RemoteRelease,
    asset: &LocalAsset,
    progress: Report<'_>,
) -> ForgeResult<RemoteAsset> {
    let (url, build): (
        Url,
        Box<dyn Fn() -> ForgeResult<reqwest::RequestBuilder> + Send + Sync>,
    ) = match api.release.forge {
        ForgeKind::GitHub => {
            let template = release.upload_url.as_deref().unwrap_or_default();
            let url =
                expand_upload_url(template, &asset.name).ok_or_else(|| ForgeError::Response {
                    url: api
                        .repo_url(&["releases", &release.id.to_string()])
                        .to_string(),
                    detail: format!("the release has no usable upload_url ({template:?})"),
                })?;
            let u = url.clone();
            (
                url,
                Box::new(move || {
                    Ok(api
                        .request(Method::POST, u.clone())
                        .header(CONTENT_TYPE, content_type(&asset.name))
                        .header(CONTENT_LENGTH, asset.size)
                        .body(file_body(&asset.path)?))
                }),
            )
        }
        ForgeKind::Gitea => {
            let mut url = api.repo_url(&["releases", &release.id.to_string(), "assets"]);
            url.query_pairs_mut().append_pair("name", &asset.name);
            let u = url.clone();
            (
                url,
                Box::new(move || {
                    let part = reqwest::multipart::Part::stream_with_length(
                        file_body(&asset.path)?,
                        asset.size,
                    )
                    .file_name(asset.name.clone())
                    .mime_str(content_type(&asset.name))
                    .map_err(ForgeError::Client)?;
                    let form = reqwest::multipart::Form::new().part("attachment", part);
                    Ok(api.request(Method::POST, u.clone()).multipart(form))
                }),
            )
        }
    };
    let what = format!(
        "the upload of asset {} ({})",
        asset.name,
        wharf_net::human_size(asset.size)
    );
    let response = api
        .send_about(
            &Method::POST,
            &url,
            &format!("upload of asset {}", asset.name),
            &what,
            build,
            progress,
        )
        .await?
        .ok_or_else(|| api.not_found(&Method::POST, &url))?;
    api.read_json(response).await
}

/// Deletes an asset of `release`; one already gone (404) is fine.
pub(super) async fn delete_asset(
    api: &Api<'_>,
    release: &RemoteRelease,
    asset: &RemoteAsset,
    progress: Report<'_>,
) -> ForgeResult<()> {
    let url = match api.release.forge {
        ForgeKind::GitHub => api.repo_url(&["releases", "assets", &asset.id.to_string()]),
        ForgeKind::Gitea => api.repo_url(&[
            "releases",
            &release.id.to_string(),
            "assets",
            &asset.id.to_string(),
        ]),
    };
    api.send(
        &Method::DELETE,
        &url,
        || Ok(api.request(Method::DELETE, url.clone())),
        progress,
    )
    .await?;
    Ok(())
}

/// Whether the remote asset already holds the local file: fully uploaded, same size and,
/// where the forge reports a sha256 digest (GitHub), the same digest.
pub(super) async fn same_content(remote: &RemoteAsset, local: &LocalAsset) -> ForgeResult<bool> {
    // GitHub documents that a failed upload can leave a `starter` asset, to be deleted.
    let complete = remote.state.as_deref().is_none_or(|s| s == "uploaded");
    if !complete || remote.size != local.size {
        return Ok(false);
    }
    let Some(digest) = remote
        .digest
        .as_deref()
        .and_then(|d| d.strip_prefix("sha256:"))
    else {
        return Ok(true);
    };
    Ok(digest.eq_ignore_ascii_case(&sha256_file(&local.path).await?))
}

/// RFC 6570's `{?name,label}` expanded with `name` only, as GitHub documents for
/// `upload_url`.
fn expand_upload_url(template: &str, name: &str) -> Option<Url> {
    let base = template.split('{').next()?;
    let mut url = Url::parse(base).ok()?;
    url.query_pairs_mut().append_pair("name", name);
    Some(url)
}

/// The file as a streamed body: assets can be large and are never read whole.
fn file_body(path: &Path) -> ForgeResult<Body> {
    let file = std::fs::File::open(path).map_err(|source| ForgeError::Asset {
        path: path.to_owned(),
        source,
    })?;
    let chunks =
        futures_util::stream::try_unfold(tokio::fs::File::from_std(file), |mut file| async move {
            let mut buf = vec![0; 64 * 1024];
            let n = file.read(&mut buf).await?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((n > 0).then(|| (bytes::Bytes::from(buf), file)))
        });
    Ok(Body::wrap_stream(chunks))
}

async fn sha256_file(path: &Path) -> ForgeResult<String> {
    let owned = path.to_owned();
    let digest = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use sha2::Digest;
        use std::io::Read;
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    })
    .await
    .map_err(|err| ForgeError::Asset {
        path: path.to_owned(),
        source: std::io::Error::other(err),
    })?;
    digest.map_err(|source| ForgeError::Asset {
        path: path.to_owned(),
        source,
    })
}

/// A Content-Type from the file name, for the common release files; forges show it and
/// browsers use it on download.
fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let types = [
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".zip", "application/zip"),
        (".json", "application/json"),
        (".txt", "text/plain"),
        (".md", "text/markdown"),
        (".sha256", "text/plain"),
        (".whl", "application/zip"),
    ];
    types
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map_or("application/octet-stream", |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_url_template() {
        let url = expand_upload_url(
            "https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}",
            "app 1.0.tar.gz",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://uploads.github.com/repos/o/r/releases/1/assets?name=app+1.0.tar.gz"
        );
        assert_eq!(expand_upload_url("", "x"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("app-1.0.tar.gz"), "application/gzip");
        assert_eq!(content_type("app.exe"), "application/octet-stream");
    }
}
