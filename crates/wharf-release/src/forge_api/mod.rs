//! Publishing a release to GitHub or Gitea/Forgejo through their REST APIs: the release
//! for a tag with its notes, and its asset files.
//!
//! Publishing is idempotent, because a release step is re-run after a failure: the
//! release of a tag is found and updated rather than created twice, an asset already
//! there with the same content is left alone, and one with the same name but other
//! content is replaced. Transient failures (5xx, 429, a dropped connection) are retried
//! with backoff; the rest become [`ForgeError`]s that say what to fix.

mod client;
mod error;
mod releases;
mod remote;
mod token;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use error::{ForgeError, ForgeResult};
pub use remote::parse_remote;
pub use token::ForgeToken;

use client::{Api, Report};
use releases::{LocalAsset, RemoteAsset, RemoteRelease};

/// The forge APIs wharf publishes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise Server (REST API, version 2022-11-28).
    GitHub,
    /// Gitea or Forgejo (the `/api/v1` REST API they share).
    Gitea,
}

impl ForgeKind {
    /// The kind for a pipeline file's `kind:` (`github`, `gitea` or `forgejo`, any case).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "github" => Some(Self::GitHub),
            "gitea" | "forgejo" => Some(Self::Gitea),
            _ => None,
        }
    }

    /// The public API URL where there is one: `https://api.github.com` for GitHub; a
    /// Gitea/Forgejo instance has to be named.
    pub fn default_api_url(self) -> Option<&'static str> {
        match self {
            Self::GitHub => Some("https://api.github.com"),
            Self::Gitea => None,
        }
    }
}

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct ForgeRelease {
    /// Which API.
    pub forge: ForgeKind,
    /// GitHub: the API root (`https://api.github.com`, or `https://HOST/api/v3` for
    /// Enterprise Server). Gitea/Forgejo: the instance's base URL; the API is under
    /// `/api/v1`.
    pub api_url: String,
    /// The repository's owner (user or organization).
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The git tag the release is for (`v1.5.0`).
    pub tag: String,
    /// The release's title.
    pub name: String,
    /// The release notes (Markdown).
    pub body: String,
    /// Marks the release as a pre-release.
    pub prerelease: bool,
    /// Keeps the release a draft (unpublished).
    pub draft: bool,
    /// Files to attach, each under its file name.
    pub assets: Vec<PathBuf>,
    /// The API token (redacted in `Debug`).
    pub token: ForgeToken,
    /// The network limits; `None` takes them from the `WHARF_NET_*` variables.
    pub limits: Option<wharf_net::Limits>,
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The release's web page (`html_url`).
    pub url: String,
    /// The forge's id of the release.
    pub id: u64,
    /// Whether the release was created (else an existing one was updated).
    pub created: bool,
    /// Each asset's file name and what happened to it, in the order given.
    pub assets: Vec<(String, AssetOutcome)>,
}

/// What happened to one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetOutcome {
    /// It was not there and was uploaded.
    Uploaded,
    /// It was there with the same content and was left alone.
    Unchanged,
    /// It was there with other content: deleted and uploaded again.
    Replaced,
}

impl fmt::Display for AssetOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Uploaded => "uploaded",
            Self::Unchanged => "unchanged",
            Self::Replaced => "replaced",
        })
    }
}

/// Progress reported while publishing, for a caller to show on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The release was created or updated.
    Release {
        /// Its id.
        id: u64,
        /// Created rather than updated.
        created: bool,
        /// Its web page.
        url: String,
    },
    /// An asset upload starts.
    Uploading {
        /// The asset's name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// An asset is done.
    Asset {
        /// The asset's name.
        name: String,
        /// What happened.
        outcome: AssetOutcome,
    },
    /// A request failed transiently and is sent again after `delay`.
    Retrying {
        /// What is sent again: the method and URL (without its query), or `upload of
        /// asset NAME`.
        what: String,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// How many attempts are made at most.
        attempts: u32,
        /// Why: the HTTP status (`503`) or the network failure (`connection reset`).
        reason: String,
        /// The wait before the next attempt.
        delay: Duration,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Release { created, url, .. } => {
                let verb = if *created { "created" } else { "updated" };
                write!(f, "release {verb}: {url}")
            }
            Self::Uploading { name, size } => write!(f, "uploading {name} ({size} bytes)"),
            Self::Asset { name, outcome } => write!(f, "asset {name}: {outcome}"),
            Self::Retrying {
                what,
                attempt,
                attempts,
                reason,
                ..
            } => f.write_str(&wharf_net::retrying(what, attempt + 1, *attempts, reason)),
        }
    }
}

/// Creates or updates the release of `release.tag` and attaches its assets, reporting
/// each step to `progress`. See the module docs for what is idempotent.
pub async fn publish<F>(release: &ForgeRelease, mut progress: F) -> ForgeResult<Published>
where
    F: FnMut(&Progress) + Send,
{
    let progress: Report<'_> = &mut progress;
    validate(release)?;
    // Every asset is checked before anything is sent, so a typo does not leave a
    // half-published release behind.
    let assets = local_assets(release)?;
    let api = Api::new(release)?;
    let (remote, created) = match releases::find(&api, progress).await? {
        Some(found) => (releases::save(&api, Some(found.id), progress).await?, false),
        None => match releases::save(&api, None, progress).await {
            Ok(made) => (made, true),
            // A create retried after its answer was lost meets the release it made
            // (GitHub 422 already_exists, Gitea 409): update that one instead.
            Err(
                err @ ForgeError::Rejected {
                    status: 409 | 422, ..
                },
            ) => {
                let Some(found) = releases::find(&api, progress).await? else {
                    return Err(err);
                };
                (releases::save(&api, Some(found.id), progress).await?, true)
            }
            Err(err) => return Err(err),
        },
    };
    progress(&Progress::Release {
        id: remote.id,
        created,
        url: remote.html_url.clone(),
    });
    let mut outcomes = Vec::with_capacity(assets.len());
    for local in &assets {
        let there: Vec<&RemoteAsset> = remote
            .assets
            .iter()
            .filter(|a| a.name == local.name)
            .collect();
        let outcome = match there.as_slice() {
            [] => AssetOutcome::Uploaded,
            [one] if releases::same_content(one, local).await? => AssetOutcome::Unchanged,
            // Other content, or duplicates of the name (Gitea allows them): start clean.
            several => {
                for asset in several {
                    releases::delete_asset(&api, &remote, asset, progress).await?;
                }
                AssetOutcome::Replaced
            }
        };
        if outcome != AssetOutcome::Unchanged {
            progress(&Progress::Uploading {
                name: local.name.clone(),
                size: local.size,
            });
            upload(&api, &remote, local, progress).await?;
        }
        progress(&Progress::Asset {
            name: local.name.clone(),
            outcome,
        });
        outcomes.push((local.name.clone(), outcome));
    }
    Ok(Published {
        url: remote.html_url,
        id: remote.id,
        created,
        assets: outcomes,
    })
}

/// Uploads `local`, recovering from a retry that met its own first copy: when the answer
/// to an upload is lost (a 5xx after the work was done), the retry is refused because
/// the name is taken (GitHub 422). The copy there is kept if it is complete and equal,
/// else replaced.
async fn upload(
    api: &Api<'_>,
    remote: &RemoteRelease,
    local: &LocalAsset,
    progress: Report<'_>,
) -> ForgeResult<()> {
    let err = match releases::upload(api, remote, local, progress).await {
        Ok(_) => return Ok(()),
        Err(err @ ForgeError::Rejected { status: 422, .. }) => err,
        Err(err) => return Err(err),
    };
    let Some(fresh) = releases::find(api, progress)
        .await?
        .filter(|r| r.id == remote.id)
    else {
        return Err(err);
    };
    let Some(asset) = fresh.assets.iter().find(|a| a.name == local.name) else {
        return Err(err);
    };
    if releases::same_content(asset, local).await? {
        return Ok(());
    }
    releases::delete_asset(api, &fresh, asset, progress).await?;
    releases::upload(api, &fresh, local, progress)
        .await
        .map(drop)
}

fn validate(release: &ForgeRelease) -> ForgeResult<()> {
    for (what, value) in [
        ("owner", &release.owner),
        ("repository", &release.repo),
        ("tag", &release.tag),
    ] {
        if value.trim().is_empty() {
            return Err(ForgeError::Invalid(format!("the {what} is empty")));
        }
    }
    if release.owner.contains('/') || release.repo.contains('/') {
        return Err(ForgeError::Invalid(format!(
            "owner `{}` and repository `{}` must be single path segments",
            release.owner, release.repo
        )));
    }
    Ok(())
}

fn local_assets(release: &ForgeRelease) -> ForgeResult<Vec<LocalAsset>> {
    let mut assets: Vec<LocalAsset> = Vec::with_capacity(release.assets.len());
    for path in &release.assets {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                ForgeError::Invalid(format!("asset {} has no UTF-8 file name", path.display()))
            })?
            .to_owned();
        if let Some(other) = assets.iter().find(|a| a.name == name) {
            return Err(ForgeError::Invalid(format!(
                "assets {} and {} have the same name `{name}`",
                other.path.display(),
                path.display()
            )));
        }
        let meta = std::fs::metadata(path).map_err(|source| ForgeError::Asset {
            path: path.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(ForgeError::Asset {
                path: path.clone(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        assets.push(LocalAsset {
            path: path.clone(),
            name,
            size: meta.len(),
        });
    }
    Ok(assets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> ForgeRelease {
        ForgeRelease {
            forge: ForgeKind::GitHub,
            api_url: "https://api.github.com".into(),
            owner: "acme".into(),
            repo: "app".into(),
            tag: "v1.0.0".into(),
            name: "1.0.0".into(),
            body: String::new(),
            prerelease: false,
            draft: false,
            assets: Vec::new(),
            token: ForgeToken::new("s3cr3t-token"),
            limits: None,
        }
    }

    #[test]
    fn kinds_by_name() {
        assert_eq!(ForgeKind::from_name("GitHub"), Some(ForgeKind::GitHub));
        assert_eq!(ForgeKind::from_name("forgejo"), Some(ForgeKind::Gitea));
        assert_eq!(ForgeKind::from_name("gitlab"), None);
        assert_eq!(ForgeKind::Gitea.default_api_url(), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        assert!(!format!("{:?}", release()).contains("s3cr3t"));
    }

    #[test]
    fn bad_descriptions_fail_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a/x.zip"), dir.path().join("b/x.zip"));
        for p in [&a, &b] {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let mut r = release();
        r.assets = vec![a, b];
        let err = local_assets(&r).unwrap_err().to_string();
        assert!(err.contains("same name `x.zip`"), "{err}");
        r.assets = vec![dir.path().join("missing.zip")];
        let err = local_assets(&r).unwrap_err().to_string();
        assert!(err.contains("missing.zip"), "{err}");
        r.owner = "a/b".into();
        assert!(validate(&r).is_err());
    }
}
