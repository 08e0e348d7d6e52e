//! A project's status API settings: the forge's API root, the repository there and the
//! token (sealed with the server's key, like the webhook secret; never shown again).

use sqlx::Row;
use wharf_forge::ForgeKind;
use wharf_secrets::crypto::{self, Sealed};
use wharf_secrets::key::SecretKey;
use wharf_secrets::secret::SecretString;

use crate::db::Db;
use crate::error::{Error, Result};

/// The scope status tokens are sealed under (apart from webhook and project secrets).
const TOKEN_SCOPE: &str = "status-token";

/// What to change of a project's status reporting (`--status-api`, `--status-token-stdin`,
/// `--status-repo`, `--no-statuses`). All `None` and `off == false`: nothing.
#[derive(Debug, Default)]
pub struct StatusUpdate {
    /// The forge's API root: `https://api.github.com`, `https://gitlab.example/api/v4`,
    /// `https://gitea.example/api/v1`.
    pub api: Option<String>,
    /// The API token.
    pub token: Option<SecretString>,
    /// `owner/name` (GitHub, Gitea), or GitLab's project id or `group/project` path;
    /// derived from the repository URL when not given.
    pub repo: Option<String>,
    /// Stop reporting (forgets the settings and the token).
    pub off: bool,
}

impl StatusUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.api.is_none() && self.token.is_none() && self.repo.is_none() && !self.off
    }
}

/// A project's status reporting, as shown (never the token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusInfo {
    /// The forge's API root.
    pub api: String,
    /// The repository (or GitLab project) statuses are posted to.
    pub repo: String,
}

/// A project's stored settings, the token still sealed.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub info: StatusInfo,
    pub token: Sealed,
}

impl Stored {
    /// Opens the token.
    pub fn token(&self, key: &SecretKey, project: &str) -> Result<SecretString> {
        Ok(crypto::open(key, project, Some(TOKEN_SCOPE), &self.token)?)
    }
}

/// `text` as an http(s) URL with a host, without a trailing `/`; `flag` names it in the
/// error, which exits 2 with a hint.
pub fn http_url(flag: &str, text: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid(
            format!("{flag} `{text}` is not an http(s) URL: {why}"),
            Some("write it in full, e.g. https://ci.example.com or http://127.0.0.1:8720"),
        )
    };
    let url = reqwest::Url::parse(text.trim()).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(&format!("the scheme is `{}`", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries credentials (give the token on stdin)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it has a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The repository a forge knows a clone URL by: `owner/name` (GitLab: the whole path,
/// groups included), or `None` for a local path or a URL without one.
pub(crate) fn repo_from_url(url: &str) -> Option<String> {
    let path = if let Some((_, rest)) = url.split_once("://") {
        // scheme://[user@]host[:port]/path
        let (_, path) = rest.split_once('/')?;
        path
    } else if let Some((host, path)) = url.split_once(':') {
        // scp-like: [user@]host:path
        if host.is_empty() || host.contains('/') {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    (segments.len() >= 2 && segments.iter().all(|s| !s.is_empty())).then(|| path.to_string())
}

/// Checks `repo` names a repository on `forge`.
fn check_repo(forge: ForgeKind, repo: &str) -> Result<()> {
    let segments: Vec<&str> = repo.split('/').collect();
    let ok_segment = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let ok = match forge {
        ForgeKind::Gitlab => {
            (segments.len() == 1 && repo.chars().all(|c| c.is_ascii_digit()) && !repo.is_empty())
                || (segments.len() >= 2 && segments.iter().all(ok_segment))
        }
        _ => segments.len() == 2 && segments.iter().all(ok_segment),
    };
    if ok {
        return Ok(());
    }
    let hint = match forge {
        ForgeKind::Gitlab => "GitLab takes the project's numeric id or its path, group/project",
        _ => "write it as owner/name",
    };
    Err(Error::invalid(
        format!(
            "--status-repo `{repo}` is not a {} repository",
            forge.as_str()
        ),
        Some(hint),
    ))
}

/// Checks `update` for a project being added (nothing stored yet): the same refusals
/// [`apply`] makes, before the project is.
pub(crate) fn check_new(update: &StatusUpdate, forge: ForgeKind, repo_url: &str) -> Result<()> {
    if update.is_empty() || update.off {
        return Ok(());
    }
    let api = update.api.as_deref().ok_or_else(needs_api)?;
    http_url("--status-api", api)?;
    let repo = match &update.repo {
        Some(r) => r.trim().trim_matches('/').to_string(),
        None => repo_from_url(repo_url).ok_or_else(|| underivable(repo_url))?,
    };
    check_repo(forge, &repo)?;
    if update
        .token
        .as_ref()
        .is_none_or(|t| t.expose().trim().is_empty())
    {
        return Err(needs_token());
    }
    Ok(())
}

fn needs_api() -> Error {
    Error::invalid(
        "reporting statuses needs the forge's API URL",
        Some(
            "add --status-api URL (e.g. https://api.github.com, https://gitlab.example/api/v4, https://gitea.example/api/v1)",
        ),
    )
}

fn needs_token() -> Error {
    Error::invalid(
        "reporting statuses needs an API token",
        Some("pipe it in with --status-token-stdin: printf %s \"$TOKEN\" | wharf server project …"),
    )
}

fn underivable(repo_url: &str) -> Error {
    Error::invalid(
        format!("cannot tell the forge's repository from `{repo_url}`"),
        Some("name it with --status-repo owner/name"),
    )
}

/// Applies `update` to project `project` (of `forge`, cloned from `repo_url`): stores the
/// new settings, token sealed, or forgets them. Returns what is now set.
pub(crate) async fn apply(
    db: &Db,
    key: &SecretKey,
    project: &str,
    forge: ForgeKind,
    repo_url: &str,
    update: StatusUpdate,
) -> Result<Option<StatusInfo>> {
    if update.off {
        if update.api.is_some() || update.token.is_some() || update.repo.is_some() {
            return Err(Error::invalid(
                "--no-statuses cannot be given with --status-api, --status-token-stdin or --status-repo",
                None,
            ));
        }
        forget(db, project).await?;
        return Ok(None);
    }
    let current = get(db, project).await?;
    if update.is_empty() {
        return Ok(current.map(|c| c.info));
    }
    let api = match (&update.api, &current) {
        (Some(a), _) => http_url("--status-api", a)?,
        (None, Some(c)) => c.info.api.clone(),
        (None, None) => return Err(needs_api()),
    };
    let repo = match (&update.repo, &current) {
        (Some(r), _) => r.trim().trim_matches('/').to_string(),
        (None, Some(c)) => c.info.repo.clone(),
        (None, None) => repo_from_url(repo_url).ok_or_else(|| underivable(repo_url))?,
    };
    check_repo(forge, &repo)?;
    let token = match (update.token, &current) {
        (Some(t), _) => {
            if t.expose().trim().is_empty() {
                return Err(Error::invalid("the status token on stdin is empty", None));
            }
            crypto::seal(key, project, Some(TOKEN_SCOPE), &t)?
        }
        (None, Some(c)) => c.token.clone(),
        (None, None) => return Err(needs_token()),
    };
    let info = StatusInfo { api, repo };
    sqlx::query(
        "INSERT INTO status_configs (project, api, repo, key_id, nonce, token) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (project) DO UPDATE SET api = excluded.api, repo = excluded.repo, \
         key_id = excluded.key_id, nonce = excluded.nonce, token = excluded.token",
    )
    .bind(project)
    .bind(&info.api)
    .bind(&info.repo)
    .bind(&token.key_id)
    .bind(&token.nonce)
    .bind(&token.ciphertext)
    .execute(db.pool())
    .await
    .map_err(Error::db("store a project's status settings"))?;
    Ok(Some(info))
}

/// Forgets project `project`'s settings.
async fn forget(db: &Db, project: &str) -> Result<()> {
    sqlx::query("DELETE FROM status_configs WHERE project = ?")
        .bind(project)
        .execute(db.pool())
        .await
        .map_err(Error::db("forget a project's status settings"))?;
    Ok(())
}

/// Project `project`'s settings, if any.
pub(crate) async fn get(db: &Db, project: &str) -> Result<Option<Stored>> {
    let row =
        sqlx::query("SELECT api, repo, key_id, nonce, token FROM status_configs WHERE project = ?")
            .bind(project)
            .fetch_optional(db.pool())
            .await
            .map_err(Error::db("read a project's status settings"))?;
    Ok(row.map(|r| Stored {
        info: StatusInfo {
            api: r.get(0),
            repo: r.get(1),
        },
        token: Sealed {
            key_id: r.get(2),
            nonce: r.get(3),
            ciphertext: r.get(4),
        },
    }))
}

/// Every project's settings, as shown, by project.
pub(crate) async fn all(db: &Db) -> Result<std::collections::HashMap<String, StatusInfo>> {
    let rows = sqlx::query("SELECT project, api, repo FROM status_configs")
        .fetch_all(db.pool())
        .await
        .map_err(Error::db("read status settings"))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                StatusInfo {
                    api: r.get(1),
                    repo: r.get(2),
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_comes_from_the_clone_url() {
        for (url, want) in [
            ("https://github.com/acme/app.git", Some("acme/app")),
            ("https://github.com/acme/app", Some("acme/app")),
            ("git@github.com:acme/app.git", Some("acme/app")),
            (
                "ssh://git@gitlab.example:2222/grp/sub/app.git",
                Some("grp/sub/app"),
            ),
            ("git://127.0.0.1:9418/acme/app.git/", Some("acme/app")),
            ("/srv/git/app.git", None),
            ("https://example.com/app.git", None),
        ] {
            assert_eq!(repo_from_url(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_taken() {
        assert_eq!(
            http_url("--public-url", "https://ci.example.com/").unwrap(),
            "https://ci.example.com"
        );
        assert_eq!(
            http_url("--status-api", "http://127.0.0.1:1/api/v4").unwrap(),
            "http://127.0.0.1:1/api/v4"
        );
        for bad in [
            "not-a-url",
            "ftp://x",
            "https://user:pw@host",
            "http://h/?q=1",
        ] {
            let e = http_url("--status-api", bad).unwrap_err();
            assert!(
                e.to_string().contains("is not an http(s) URL"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn repositories_are_checked_per_forge() {
        assert!(check_repo(ForgeKind::Github, "acme/app").is_ok());
        assert!(check_repo(ForgeKind::Github, "acme/sub/app").is_err());
        assert!(check_repo(ForgeKind::Gitea, "acme").is_err());
        assert!(check_repo(ForgeKind::Gitlab, "grp/sub/app").is_ok());
        assert!(check_repo(ForgeKind::Gitlab, "1234").is_ok());
        assert!(check_repo(ForgeKind::Gitlab, "app").is_err());
        assert!(check_repo(ForgeKind::Github, "acme/../x").is_err());
    }
}
