//! The errors of loading the key and sealing or opening secrets.
//!
//! They are shown to users as they are, so each says what is wrong and ends with a
//! `hint:` where the user can act. None of them ever carries a secret value or key bytes:
//! a malformed key is described by its length, never by its content (base64's own errors
//! quote the offending character, so they are not passed on).

use std::path::PathBuf;

/// How to make a key, for hints.
pub(crate) const MAKE_KEY: &str = "head -c 32 /dev/urandom | base64";

/// Everything that can go wrong with the secret key or an encrypted secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A release key or signature could not be made or read.
    #[error("{0}")]
    Signing(String),

    /// `WHARF_SECRET_KEY` is set but is not the standard base64 of exactly 32 bytes.
    #[error(
        "WHARF_SECRET_KEY is not a valid secret key: {detail}; it must be the standard base64 \
         of exactly 32 bytes\n\
         hint: make one with `{MAKE_KEY}`"
    )]
    MalformedEnvKey {
        /// What is wrong with it (never its content).
        detail: String,
    },

    /// The key file is neither 32 raw bytes nor the base64 of 32 bytes.
    #[error(
        "the secret key file `{}` is not a valid key: {detail}; it must hold exactly 32 raw \
         bytes, or their standard base64 on one line\n\
         hint: if you have the key it belongs with, put it back; otherwise move this file \
         aside and let wharf create a new key (secrets encrypted with the old one must then \
         be set again)",
        path.display()
    )]
    MalformedKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        detail: String,
    },

    /// The key file can be read or written by users other than its owner.
    #[error(
        "the secret key file `{}` is accessible by group or others (mode {mode:04o}); \
         refusing to use it\n\
         hint: chmod 600 {}",
        path.display(),
        path.display()
    )]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The directory holding the key file can be written by users other than its owner,
    /// who could swap the key.
    #[error(
        "the directory `{}` holding the secret key file is writable by group or others \
         (mode {mode:04o}); refusing to use it\n\
         hint: chmod 700 {}",
        path.display(),
        path.display()
    )]
    InsecureKeyDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// There is no key and it was not to be created.
    #[error(
        "no secret key: WHARF_SECRET_KEY is not set and the key file `{}` does not exist\n\
         hint: `wharf secrets set` creates the key file on first use; or make a key with \
         `{MAKE_KEY}` and put it in WHARF_SECRET_KEY or the key file (mode 600)",
        path.display()
    )]
    NoKey {
        /// Where the key file was looked for.
        path: PathBuf,
    },

    /// Neither the key nor a place for the key file is known.
    #[error(
        "no secret key: WHARF_SECRET_KEY is not set, and there is no key file location \
         (none of WHARF_SECRET_KEY_FILE, XDG_CONFIG_HOME, HOME is set)\n\
         hint: set WHARF_SECRET_KEY_FILE to the key file's path, or WHARF_SECRET_KEY to a key \
         made with `{MAKE_KEY}`"
    )]
    NoKeyLocation,

    /// A file system operation on the key file failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read the secret key file".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The system's random number generator failed.
    #[error("could not get random bytes from the operating system: {0}")]
    Random(String),

    /// A secret was encrypted with another key than the current one.
    #[error(
        "secret {secret} was encrypted with key {stored}, but the current key is {current} \
         (from {origin})\n\
         hint: make the key with id {stored} the current one again (set WHARF_SECRET_KEY to \
         it, or put it back in the key file), or set the secret again with the current key"
    )]
    KeyMismatch {
        /// The secret, as `NAME` or `NAME (scope S)`.
        secret: String,
        /// The id of the key it was sealed with.
        stored: String,
        /// The id of the current key.
        current: String,
        /// Where the current key came from: `WHARF_SECRET_KEY`, or the key file.
        origin: String,
    },

    /// The stored value failed authentication under the right key.
    #[error(
        "the stored value of secret {secret} was tampered with or corrupted ({detail}); \
         refusing to use it\n\
         hint: set the secret again; if nobody edited the database, check the disk"
    )]
    Tampered {
        /// The secret, as `NAME` or `NAME (scope S)`.
        secret: String,
        /// What failed.
        detail: &'static str,
    },

    /// A secret's name or scope cannot be bound to its value.
    #[error("invalid secret {what} {value:?}: {reason}")]
    InvalidName {
        /// "name" or "scope".
        what: &'static str,
        /// The rejected name or scope.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// Encryption itself failed (the value is too long for the cipher).
    #[error("could not encrypt secret {secret}: the value is too long")]
    Encrypt {
        /// The secret, as `NAME` or `NAME (scope S)`.
        secret: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A closure for `map_err` that wraps an I/O error with what was done to which path.
pub(crate) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
