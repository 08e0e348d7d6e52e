//! Administration the CLI (`wharf server …`) and the API share: projects and the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wharf_forge::ForgeKind;
use wharf_secrets::crypto;
use wharf_secrets::key::SecretKey;
use wharf_secrets::secret::SecretString;

use crate::audit::{Action, Actor, Change};
use crate::db::{Db, Project};
use crate::error::{Error, Result};
use crate::paths;

/// The scope webhook secrets are sealed under (another scope than any project secret's).
const HOOK_SCOPE: &str = "webhook";

/// Opens the data directory (created 0700 when missing) and the server's database.
pub async fn open(data_dir: &Path) -> Result<Db> {
    create_private_dir(data_dir)?;
    Db::open(data_dir).await
}

/// Creates `dir` (mode 0700) when missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::io("create the data directory", dir))
}

/// The server's key file (`secret.key` in the data directory).
pub fn key_file(data_dir: &Path) -> PathBuf {
    paths::key_file(data_dir)
}

/// The server's key: `WHARF_SECRET_KEY` when set, else its key file, created (0600) on
/// first use when `create`.
pub fn load_key(data_dir: &Path, create: bool) -> Result<SecretKey> {
    let env = std::env::var(wharf_secrets::key::KEY_ENV).ok();
    let (key, _) =
        wharf_secrets::key::load_key_from(env.as_deref(), &paths::key_file(data_dir), create)?;
    Ok(key)
}

/// A project to register.
#[derive(Debug)]
pub struct NewProject {
    /// Its name: `[A-Za-z0-9_-]`, at most 64.
    pub name: String,
    /// The git URL to clone.
    pub repo: String,
    /// Its forge.
    pub forge: ForgeKind,
    /// How often to poll, if at all.
    pub poll: Option<Duration>,
    /// The webhook secret, or `None` to make one.
    pub hook_secret: Option<SecretString>,
    /// Where to report commit statuses (nothing set: not reported).
    pub statuses: crate::statuses::StatusUpdate,
}

/// A registered project, as shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProjectInfo {
    /// Its name.
    pub name: String,
    /// Its repository.
    pub repo: String,
    /// Its forge.
    pub forge: ForgeKind,
    /// The polling interval in seconds, if any.
    pub poll_secs: Option<u64>,
    /// The webhook route on this server.
    pub hook_path: String,
    /// Where its commit statuses are reported (never the token), if anywhere.
    pub statuses: Option<crate::statuses::StatusInfo>,
}

impl From<&Project> for ProjectInfo {
    fn from(p: &Project) -> ProjectInfo {
        ProjectInfo {
            name: p.name.clone(),
            repo: p.repo.clone(),
            forge: p.forge,
            poll_secs: p.poll.map(|d| d.as_secs()),
            hook_path: hook_path(&p.name),
            statuses: None,
        }
    }
}

/// The webhook route of project `name`.
pub fn hook_path(name: &str) -> String {
    format!("/hooks/{name}")
}

/// Registers a project, sealing its webhook secret with the server's key, recorded in the
/// audit log as done `by`. Returns what was added and the secret (made here when none was
/// given: shown once, stored sealed).
pub async fn add_project(
    data_dir: &Path,
    new: NewProject,
    by: &Actor,
) -> Result<(ProjectInfo, SecretString)> {
    if !paths::valid_project_name(&new.name) {
        return Err(Error::invalid(
            format!("`{}` is not a project name", new.name),
            Some("use letters, digits, `-` and `_`, at most 64 characters"),
        ));
    }
    if new.repo.trim().is_empty() || new.repo.starts_with('-') {
        return Err(Error::invalid(
            format!("`{}` is not a git URL", new.repo),
            Some("a URL git can clone: https://…, git://…, ssh://…, or a path"),
        ));
    }
    if new.poll.is_some_and(|p| p < Duration::from_secs(1)) {
        return Err(Error::invalid(
            "the polling interval must be at least 1s",
            None,
        ));
    }
    crate::statuses::config::check_new(&new.statuses, new.forge, &new.repo)?;
    let db = open(data_dir).await?;
    let key = load_key(data_dir, true)?;
    let secret = match new.hook_secret {
        Some(s) => s,
        None => crypto::random_token()?,
    };
    if secret.is_empty() {
        return Err(Error::invalid("the webhook secret is empty", None));
    }
    let sealed = crypto::seal(&key, &new.name, Some(HOOK_SCOPE), &secret)?;
    let project = Project {
        name: new.name,
        repo: new.repo,
        forge: new.forge,
        poll: new.poll,
        hook_secret: sealed,
        created_at: crate::now(),
    };
    db.add_project(&project).await?;
    let mut info = ProjectInfo::from(&project);
    if !new.statuses.is_empty() {
        let set = crate::statuses::config::apply(
            &db,
            &key,
            &project.name,
            project.forge,
            &project.repo,
            new.statuses,
        )
        .await;
        match set {
            Ok(s) => info.statuses = s,
            Err(e) => {
                // All or nothing: a project whose status settings were refused is not kept.
                db.remove_project(&project.name).await?;
                return Err(e);
            }
        }
    }
    let detail = serde_json::json!({
        "repo": without_credentials(&project.repo),
        "forge": project.forge.as_str(),
        "poll_secs": project.poll.map(|d| d.as_secs()),
    });
    let change = Change::new(Action::ProjectAdd, &project.name, detail);
    if let Err(e) = crate::audit::record(&db, by, change).await {
        // No unaudited change: a project that could not be recorded is not kept.
        db.remove_project(&project.name).await?;
        return Err(e);
    }
    Ok((info, secret))
}

/// Changes project `name`'s commit status settings (the token sealed with the server's
/// key); what is now set.
pub async fn set_statuses(
    data_dir: &Path,
    name: &str,
    update: crate::statuses::StatusUpdate,
    by: &Actor,
) -> Result<ProjectInfo> {
    let db = open(data_dir).await?;
    let project = db
        .project(name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no project named `{name}`")))?;
    let key = load_key(data_dir, true)?;
    let mut info = ProjectInfo::from(&project);
    // What changed, for the audit log: never the token itself.
    let detail = serde_json::json!({
        "statuses": {
            "api": update.api,
            "repo": update.repo,
            "token_changed": update.token.is_some(),
            "off": update.off,
        }
    });
    info.statuses =
        crate::statuses::config::apply(&db, &key, name, project.forge, &project.repo, update)
            .await?;
    crate::audit::record(&db, by, Change::new(Action::ProjectUpdate, name, detail)).await?;
    Ok(info)
}

/// `projects` as shown, each with its commit status settings.
pub(crate) async fn infos(db: &Db, projects: &[Project]) -> Result<Vec<ProjectInfo>> {
    let mut settings = crate::statuses::config::all(db).await?;
    Ok(projects
        .iter()
        .map(|p| {
            let mut info = ProjectInfo::from(p);
            info.statuses = settings.remove(&p.name);
            info
        })
        .collect())
}

/// Every registered project.
pub async fn list_projects(data_dir: &Path) -> Result<Vec<ProjectInfo>> {
    let db = open(data_dir).await?;
    infos(&db, &db.projects().await?).await
}

/// Unregisters a project (its queue with it), recorded in the audit log as done `by`; its
/// run history stays on disk under `projects/NAME`. `false` when there was no such
/// project.
pub async fn remove_project(data_dir: &Path, name: &str, by: &Actor) -> Result<bool> {
    let db = open(data_dir).await?;
    unregister(&db, name, by).await
}

/// [`remove_project`] on an open database: removed and recorded in one transaction.
pub(crate) async fn unregister(db: &Db, name: &str, by: &Actor) -> Result<bool> {
    let mut audit = crate::audit::Pending::begin(db).await?;
    if !crate::db::delete_project(audit.conn(), name).await? {
        return Ok(false);
    }
    let change = Change::new(Action::ProjectRemove, name, serde_json::json!({}));
    audit.commit(by, change).await?;
    Ok(true)
}

/// A repository URL without the user and password it may carry (`https://u:p@host/…`), for
/// the audit log.
fn without_credentials(repo: &str) -> String {
    if let Some((scheme, rest)) = repo.split_once("://") {
        let host_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    repo.to_string()
}

/// The run store directory of project `name` (for `wharf server secrets`, `runs` …),
/// refusing an unknown project.
pub async fn project_state(data_dir: &Path, name: &str) -> Result<PathBuf> {
    let db = open(data_dir).await?;
    if db.project(name).await?.is_none() {
        return Err(Error::NotFound(format!("no project named `{name}`")));
    }
    Ok(paths::state(data_dir, name))
}

/// Opens a project's webhook secret.
pub(crate) fn hook_secret(key: &SecretKey, p: &Project) -> Result<SecretString> {
    Ok(crypto::open(
        key,
        &p.name,
        Some(HOOK_SCOPE),
        &p.hook_secret,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_credentials_stay_out_of_the_audit_log() {
        assert_eq!(
            without_credentials("https://bot:ghp_x@github.com/a/b.git"),
            "https://***@github.com/a/b.git"
        );
        assert_eq!(
            without_credentials("https://github.com/a/b@v1"),
            "https://github.com/a/b@v1"
        );
        assert_eq!(without_credentials("/srv/git/app.git"), "/srv/git/app.git");
        assert_eq!(
            without_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }
}
