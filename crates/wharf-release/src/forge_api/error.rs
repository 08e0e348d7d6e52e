//! Errors from publishing to a forge, worded for the person who has to fix them: the URL
//! that failed, what the API said, and a hint. The token never appears in any of them:
//! it only ever travels in a request header, and no variant holds a header.

use std::path::PathBuf;

/// Why a forge release could not be published.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The release description itself is unusable (empty owner, two assets with one name).
    #[error("invalid forge release: {0}")]
    Invalid(String),
    /// An asset file could not be read.
    #[error("cannot read release asset {}: {source}", path.display())]
    Asset {
        /// The asset's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be set up (TLS roots, ...).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The forge could not be reached, the connection broke after the retries, or a
    /// network limit ran out (a forge that stopped reading an asset or never answered).
    #[error(transparent)]
    Network(#[from] wharf_net::NetError),
    /// The forge refused the token (HTTP 401 or 403).
    #[error(
        "{forge} refused the token for {repository} (HTTP {status} on {request}): {message}\n\
         hint: check the release token secret: it must be a valid token allowed to write \
         releases of {repository}"
    )]
    Auth {
        /// The forge's name.
        forge: &'static str,
        /// HTTP 401 or 403.
        status: u16,
        /// The method and URL.
        request: String,
        /// The API's message.
        message: String,
        /// `owner/repo`.
        repository: String,
    },
    /// The repository does not exist at that API (or the token cannot see it).
    #[error(
        "repository {repository} not found at {api_url} (HTTP 404 on {request})\n\
         hint: check the forge url and repository; a private repository also answers 404 \
         to a token that cannot read it"
    )]
    RepoNotFound {
        /// `owner/repo`.
        repository: String,
        /// The API base URL used.
        api_url: String,
        /// The method and URL that answered 404.
        request: String,
    },
    /// The forge rejected the request (HTTP 422 and other client errors).
    #[error("{forge} rejected {request} (HTTP {status}): {message}")]
    Rejected {
        /// The forge's name.
        forge: &'static str,
        /// The HTTP status.
        status: u16,
        /// The method and URL.
        request: String,
        /// The API's message, with its field errors.
        message: String,
    },
    /// The forge kept failing (5xx, 429) after the retries.
    #[error("{forge} failed {request} (HTTP {status}) after {attempts} attempts: {message}")]
    Server {
        /// The forge's name.
        forge: &'static str,
        /// The last HTTP status.
        status: u16,
        /// The method and URL.
        request: String,
        /// The API's message, if any.
        message: String,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The forge answered 2xx with a body wharf cannot read.
    #[error("unexpected answer from {url}: {detail}")]
    Response {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// The result type of forge publishing.
pub type ForgeResult<T> = std::result::Result<T, ForgeError>;
