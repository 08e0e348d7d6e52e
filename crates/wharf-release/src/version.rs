//! The last release and the next version.
//!
//! - A release is a tag whose name is a semver version, with or without a `v` prefix
//!   (`v1.2.3`, `1.2.3`, `v2.0.0-rc.1`); other tags are ignored.
//! - The current release is the highest *stable* version among the tags reachable from
//!   HEAD (tags on other branches do not count). The commits since it decide the bump:
//!   breaking -> major, `feat` -> minor, `fix`/`perf` -> patch, and anything else -> patch
//!   (there are changes, so a release is a patch at least). Below 1.0.0 a breaking change
//!   bumps the minor, as Cargo and npm read 0.x versions.
//! - With no release yet, the first version is 0.1.0.
//! - With `pre: Some("rc")` the next version is `X.Y.Z-rc.N`, N one past the highest
//!   existing `X.Y.Z-rc.*` tag; without it, a pre-release is promoted to `X.Y.Z`.

use semver::{Prerelease, Version};
use serde::Serialize;

use crate::commits::{Classified, classify};
use crate::{Error, Repo, Result};

/// How far a set of changes moves the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    /// Nothing to release.
    None,
    /// `x.y.Z`.
    Patch,
    /// `x.Y.0`.
    Minor,
    /// `X.0.0`.
    Major,
}

/// A tag that names a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseTag {
    /// The tag as written, e.g. `v1.2.3`.
    pub name: String,
    /// Its version.
    #[serde(serialize_with = "as_string")]
    pub version: Version,
    /// The commit it names.
    pub commit: String,
}

fn as_string<S: serde::Serializer>(v: &Version, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The version a tag names, if it names one.
pub fn parse_tag(name: &str) -> Option<Version> {
    Version::parse(name.strip_prefix('v').unwrap_or(name)).ok()
}

/// What to plan for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The revision being released (usually `HEAD`).
    pub rev: String,
    /// A pre-release identifier (`rc`, `beta`), for `X.Y.Z-ID.N`.
    pub pre: Option<String>,
    /// The version being released, when it is already decided (a run started by the tag
    /// `v1.2.0`): the plan then reports the changes since the release before it.
    pub version: Option<Version>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            rev: "HEAD".to_string(),
            pre: None,
            version: None,
        }
    }
}

/// The result of planning a release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleasePlan {
    /// The commit being released.
    pub head: String,
    /// The last stable release reachable from it.
    pub current: Option<ReleaseTag>,
    /// The version to release; `None` when nothing changed since `current`.
    #[serde(serialize_with = "opt_as_string")]
    pub next: Option<Version>,
    /// The bump the commits ask for.
    pub bump: Bump,
    /// Every commit since `current`, newest first.
    pub commits: Vec<Classified>,
    /// Whether the clone is shallow (tags and history may be missing).
    pub shallow: bool,
}

fn opt_as_string<S: serde::Serializer>(v: &Option<Version>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

impl ReleasePlan {
    /// The commits that decided the bump (those asking for exactly it).
    pub fn deciding(&self) -> impl Iterator<Item = &Classified> {
        let bump = self.bump;
        self.commits
            .iter()
            .filter(move |c| c.bump == bump && bump != Bump::None)
    }
}

/// Plans the next release of `repo` at `opts.rev`.
pub fn plan(repo: &Repo, opts: &PlanOptions) -> Result<ReleasePlan> {
    if let Some(pre) = &opts.pre
        && (pre.is_empty() || !pre.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(Error::Invalid(format!(
            "pre-release identifier `{pre}` may only use letters, digits and `-` (e.g. `rc`, `beta`)"
        )));
    }
    let head = repo.resolve(&opts.rev)?;
    let tags = release_tags(repo, &head)?;
    let current = tags
        .iter()
        .filter(|t| t.version.pre.is_empty())
        .filter(|t| opts.version.as_ref().is_none_or(|v| t.version < *v))
        .max_by(|a, b| a.version.cmp(&b.version))
        .cloned();
    let raw = repo.commits(current.as_ref().map(|c| c.commit.as_str()), &head)?;
    let commits: Vec<Classified> = raw.iter().map(classify).collect();
    let mut bump = commits.iter().map(|c| c.bump).max().unwrap_or(Bump::None);
    if bump == Bump::None && !commits.is_empty() {
        bump = Bump::Patch;
    }
    if let Some(v) = &opts.version {
        return Ok(ReleasePlan {
            head,
            current,
            next: Some(v.clone()),
            bump,
            commits,
            shallow: repo.is_shallow(),
        });
    }
    let next = (bump != Bump::None).then(|| {
        let stable = match &current {
            None => Version::new(0, 1, 0),
            Some(c) => bumped(&c.version, bump),
        };
        match &opts.pre {
            None => stable,
            Some(id) => {
                let n = tags
                    .iter()
                    .filter(|t| same_release(&t.version, &stable))
                    .filter_map(|t| pre_number(&t.version, id))
                    .max()
                    .unwrap_or(0)
                    + 1;
                let mut v = stable;
                v.pre = Prerelease::new(&format!("{id}.{n}")).expect("checked identifier");
                v
            }
        }
    });
    Ok(ReleasePlan {
        head,
        current,
        next,
        bump,
        commits,
        shallow: repo.is_shallow(),
    })
}

fn release_tags(repo: &Repo, head: &str) -> Result<Vec<ReleaseTag>> {
    Ok(repo
        .tags_merged_into(head)?
        .into_iter()
        .filter_map(|t| {
            parse_tag(&t.name).map(|version| ReleaseTag {
                name: t.name,
                version,
                commit: t.commit,
            })
        })
        .collect())
}

fn bumped(v: &Version, bump: Bump) -> Version {
    match bump {
        Bump::Major if v.major == 0 => Version::new(0, v.minor + 1, 0),
        Bump::Major => Version::new(v.major + 1, 0, 0),
        Bump::Minor => Version::new(v.major, v.minor + 1, 0),
        Bump::Patch | Bump::None => Version::new(v.major, v.minor, v.patch + 1),
    }
}

fn same_release(a: &Version, b: &Version) -> bool {
    (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch)
}

/// `N` of `X.Y.Z-id.N`.
fn pre_number(v: &Version, id: &str) -> Option<u64> {
    let (name, n) = v.pre.as_str().split_once('.')?;
    (name == id).then(|| n.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_with_and_without_v() {
        assert_eq!(parse_tag("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_tag("1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_tag("v1.2.3-rc.1").unwrap().pre.as_str(), "rc.1");
        for bad in ["release-1", "v1.2", "latest", "vv1.2.3"] {
            assert_eq!(parse_tag(bad), None, "{bad}");
        }
    }

    #[test]
    fn bumps() {
        let v = Version::new(1, 2, 3);
        assert_eq!(bumped(&v, Bump::Major), Version::new(2, 0, 0));
        assert_eq!(bumped(&v, Bump::Minor), Version::new(1, 3, 0));
        assert_eq!(bumped(&v, Bump::Patch), Version::new(1, 2, 4));
        assert_eq!(
            bumped(&Version::new(0, 4, 1), Bump::Major),
            Version::new(0, 5, 0)
        );
    }
}
