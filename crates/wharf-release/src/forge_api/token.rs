//! The forge API token: a value that is wiped from memory when dropped and that no
//! `Debug` or `Display` can print, so a release description can be logged safely.

use zeroize::Zeroizing;

/// A forge API token. Its `Debug` prints `ForgeToken(<redacted>)`; it has no `Display`,
/// and wharf only ever puts it in an `Authorization` header, never in a URL, an argument
/// list or an error text.
#[derive(Clone)]
pub struct ForgeToken(Zeroizing<String>);

impl ForgeToken {
    /// Wraps a token (for example a wharf secret's value).
    pub fn new(token: impl Into<String>) -> Self {
        Self(Zeroizing::new(token.into()))
    }

    /// The token itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ForgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForgeToken(<redacted>)")
    }
}

impl From<String> for ForgeToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let token = ForgeToken::new("ghp_very_secret");
        assert_eq!(format!("{token:?}"), "ForgeToken(<redacted>)");
        assert_eq!(token.expose(), "ghp_very_secret");
    }
}
