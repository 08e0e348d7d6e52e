//! The crate's error type: an install source wharf will not write into a platform file,
//! each with the fix.

/// Why an install source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `--install-rev` is not a full commit hash.
    #[error("--install-rev `{rev}` is not a full commit hash ({why})")]
    Rev {
        /// What was given.
        rev: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--install-sha256` is not 64 hex digits.
    #[error("--install-sha256 `{value}` is not a sha256 ({why})")]
    Sha256 {
        /// What was given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// A URL wharf will not put into a shell command.
    #[error("{flag} `{url}`: {why}")]
    Url {
        /// `--install-git` or `--install-url`.
        flag: &'static str,
        /// What was given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--install-image` does not name an image by digest.
    #[error("--install-image `{reference}`: {why}")]
    Image {
        /// What was given.
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--install COMMAND` refused.
    #[error("--install `{command}`: {why}")]
    Command {
        /// What was given.
        command: String,
        /// What is wrong with it.
        why: String,
    },
    /// The `# wharf install:` line of an exported file cannot be read back.
    #[error("its `# wharf install:` line cannot be read: {0}")]
    Recorded(String),
}

impl Error {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            Error::Rev { .. } => "pin the full commit, not a branch, tag or short hash (those can \
                 move or collide): `git ls-remote URL 'refs/tags/vX.Y.Z^{}'` prints a tag's commit"
                .to_string(),
            Error::Sha256 { .. } => "give the 64 hex digits `sha256sum FILE` prints for the \
                 release file (a `sha256:` prefix is fine)"
                .to_string(),
            Error::Url { .. } => "give the URL as https://HOST/PATH (git also: ssh://, git://, \
                 file://); quotes, spaces, `$` and braces are refused because the URL goes into \
                 the platform file's shell source"
                .to_string(),
            Error::Image { .. } => "name the image by digest, `REGISTRY/NAME@sha256:<64 hex>` \
                 (a tag can be moved); `docker buildx imagetools inspect REF` prints the digest"
                .to_string(),
            Error::Command { .. } => "pin a source instead: --install-git URL --install-rev \
                 COMMIT, --install-url URL --install-sha256 HEX, or --install-image \
                 NAME@sha256:HEX (see docs/export.md)"
                .to_string(),
            Error::Recorded(_) => "name the install source again with its flags (see \
                 docs/export.md)"
                .to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
