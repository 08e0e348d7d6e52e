//! Releases from git history: the last release from semver tags, the next version from the
//! conventional commits since it, and the release notes and changelog for it.
//!
//! Everything reads a real repository through the `git` binary ([`Repo`]), the way every
//! mainstream runner does, so shallow clones, worktrees and any configured git behave as
//! the user's own `git` does. Parsing and rendering are pure functions over the values it
//! returns, so they are tested apart.

mod changelog;
mod commits;
mod error;
mod forge;
pub mod forge_api;
mod git;
mod notes;
mod version;

pub use changelog::insert_section;
pub use commits::{Classified, Group, classify};
pub use error::{Error, Result};
pub use forge::commit_url_base;
pub use forge_api::{
    AssetOutcome, ForgeError, ForgeKind, ForgeRelease, ForgeToken, Progress, Published,
    parse_remote, publish,
};
pub use git::{Commit, Repo, TagRef};
pub use notes::{NotesOptions, render_notes};
pub use version::{Bump, PlanOptions, ReleasePlan, ReleaseTag, parse_tag, plan};
