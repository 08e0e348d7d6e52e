//! Owner and repository from a git remote URL, so a release step can default its forge
//! repository to the `origin` it was cloned from.

/// Splits a git remote URL into `(host, owner, repo)`: `git@github.com:acme/app.git`,
/// `ssh://git@host:2222/acme/app`, `https://user@host:3000/acme/app.git` all work. The
/// host keeps its port for http(s) URLs (that is where a Gitea API lives) and drops it
/// for ssh, whose port says nothing about the API. Owner and repo are the last two path
/// segments. `None` for local paths, `file://` URLs and paths with fewer than two
/// segments.
pub fn parse_remote(url: &str) -> Option<(String, String, String)> {
    let url = url.trim();
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        let (authority, path) = rest.split_once('/')?;
        (strip_user(authority), path)
    } else if let Some(rest) = url
        .strip_prefix("ssh://")
        .or_else(|| url.strip_prefix("git+ssh://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let host = strip_user(authority);
        (host.split(':').next().unwrap_or(host), path)
    } else if url.contains("://") {
        return None;
    } else {
        // scp-like `[user@]host:path`; a `/` before the colon makes it a local path.
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        (strip_user(authority), path)
    };
    if host.is_empty() {
        return None;
    }
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut segments = path.rsplit('/').filter(|s| !s.is_empty());
    let repo = segments.next()?;
    let owner = segments.next()?;
    Some((host.to_owned(), owner.to_owned(), repo.to_owned()))
}

fn strip_user(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_not_remotes() {
        for url in ["/srv/git/app.git", "./app", "file:///srv/app.git"] {
            assert_eq!(parse_remote(url), None, "{url}");
        }
    }
}
