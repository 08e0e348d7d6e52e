//! URLs as messages may show them: without the query (a registry's upload URL carries
//! its `_state` token there, a storage redirect its signature) and without the userinfo
//! (`https://user:token@host/`), whatever the URL looks like.

/// `url` without its userinfo, query and fragment. Text that is not a URL is cut at the
/// first `?` and has anything up to an `@` in its authority removed all the same.
pub fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    let (scheme, rest) = match cut.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, cut),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

/// The `host[:port]` of `url` (no userinfo), or `url` redacted when it has no host.
pub fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => redact_url(url),
        },
        Err(_) => redact_url(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_userinfo_never_survive() {
        assert_eq!(
            redact_url(
                "http://127.0.0.1:5000/v2/app/blobs/uploads/5f3c?_state=abc%3D&digest=sha256:1"
            ),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/5f3c"
        );
        assert_eq!(
            redact_url("https://ci:s3cret@index.example/legacy/#frag"),
            "https://index.example/legacy/"
        );
        assert_eq!(
            redact_url("user:pw@host/path?x=1"),
            "host/path",
            "not a URL, still cut"
        );
        assert_eq!(redact_url("https://a.example"), "https://a.example");
        assert_eq!(
            host_of("https://u:p@api.example:8443/x?y"),
            "api.example:8443"
        );
        assert_eq!(host_of("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }
}
