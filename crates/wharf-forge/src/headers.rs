//! Reading one header of a delivery, strictly: a forge sends each header once, as
//! printable ASCII, so anything else is refused rather than guessed at (which copy of a
//! repeated signature header would a check use, and which would a log show?).

use http::HeaderMap;

/// Why a header's value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Sent more than once.
    Repeated,
    /// Not printable ASCII.
    NotText,
}

impl Problem {
    /// The reason, for an error message.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Problem::Repeated => "sent more than once",
            Problem::NotText => "not printable ASCII",
        }
    }
}

/// The value of `name` (matched without regard to case), `None` when absent.
pub(crate) fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Problem> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::Repeated);
    }
    first.to_str().map(Some).map_err(|_| Problem::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn matches_names_without_regard_to_case() {
        let mut h = HeaderMap::new();
        h.insert("x-github-event", HeaderValue::from_static("push"));
        assert_eq!(single(&h, "X-GitHub-Event"), Ok(Some("push")));
        assert_eq!(single(&h, "X-Gitlab-Event"), Ok(None));
    }

    #[test]
    fn refuses_repeated_and_binary_values() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.insert("x-b", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert_eq!(single(&h, "x-a"), Err(Problem::Repeated));
        assert_eq!(single(&h, "x-b"), Err(Problem::NotText));
    }
}
