//! Where the server keeps things, under its data directory.

use std::path::{Path, PathBuf};

/// The data directory when none is named: `$WHARF_DATA_DIR`, else
/// `$XDG_STATE_HOME/wharf/server`, else `~/.local/state/wharf/server`.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WHARF_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("wharf").join("server"))
}

/// A project name: `[A-Za-z0-9_-]`, 1 to 64 characters (it is part of paths and URLs).
pub fn valid_project_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The server's key file, which seals webhook secrets and every project's secrets.
pub(crate) fn key_file(data: &Path) -> PathBuf {
    data.join("secret.key")
}

/// A project's directory.
pub(crate) fn project(data: &Path, name: &str) -> PathBuf {
    data.join("projects").join(name)
}

/// A project's mirror of its repository.
pub(crate) fn mirror(data: &Path, name: &str) -> PathBuf {
    project(data, name).join("repo.git")
}

/// A project's run store (what `.wharf` is to `wharf run`).
pub(crate) fn state(data: &Path, name: &str) -> PathBuf {
    project(data, name).join("state")
}

/// Where event `id` of a project is checked out while it runs.
pub(crate) fn checkout(data: &Path, name: &str, id: i64) -> PathBuf {
    project(data, name).join("checkouts").join(id.to_string())
}

/// Where a project's deployments check out its files (one directory each, for the
/// deployment's life: script targets run there).
pub(crate) fn deploys(data: &Path, name: &str) -> PathBuf {
    project(data, name).join("deploys")
}
