//! Links to commits on the forges wharf knows, from the `origin` remote URL.

/// The URL prefix a commit sha is appended to, for `origin` URLs on GitHub, GitLab,
/// Codeberg, Gitea.com or Bitbucket (`https://github.com/o/r/commit/`); `None` for other
/// hosts, where a link could be wrong.
pub fn commit_url_base(remote: &str) -> Option<String> {
    let remote = remote.trim();
    // git@host:owner/repo(.git), ssh://git@host[:port]/owner/repo, https://[user@]host/owner/repo
    let (host, path) = if let Some(rest) = remote.strip_prefix("git@") {
        rest.split_once(':')?
    } else {
        let rest = remote
            .strip_prefix("https://")
            .or_else(|| remote.strip_prefix("http://"))
            .or_else(|| remote.strip_prefix("ssh://"))?;
        let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
        let (host, path) = rest.split_once('/')?;
        (host.split(':').next()?, path)
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if path.split('/').filter(|s| !s.is_empty()).count() < 2 {
        return None;
    }
    let segment = match host {
        "github.com" | "codeberg.org" | "gitea.com" => "commit",
        "gitlab.com" => "-/commit",
        "bitbucket.org" => "commits",
        _ => return None,
    };
    Some(format!("https://{host}/{path}/{segment}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_forges() {
        for (url, base) in [
            (
                "git@github.com:acme/app.git",
                "https://github.com/acme/app/commit/",
            ),
            (
                "https://github.com/acme/app",
                "https://github.com/acme/app/commit/",
            ),
            (
                "https://token@gitlab.com/acme/sub/app.git",
                "https://gitlab.com/acme/sub/app/-/commit/",
            ),
            (
                "ssh://git@codeberg.org/acme/app.git",
                "https://codeberg.org/acme/app/commit/",
            ),
            (
                "https://bitbucket.org/acme/app.git/",
                "https://bitbucket.org/acme/app/commits/",
            ),
        ] {
            assert_eq!(commit_url_base(url).as_deref(), Some(base), "{url}");
        }
    }

    #[test]
    fn unknown_hosts_and_local_paths_get_no_links() {
        for url in [
            "/srv/git/app.git",
            "https://git.internal/acme/app",
            "git@github.com:app",
            "file:///x",
        ] {
            assert_eq!(commit_url_base(url), None, "{url}");
        }
    }
}
