//! What can go wrong, each error saying what was being done: a spec the generator
//! refuses ([`SpecError`], naming the key at fault), or a run that could not start.
//! Failed *requests* are not errors of the crate: they are counted in the
//! [`Report`](crate::Report) and judged by its thresholds.

/// An error of the load generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid; nothing was sent.
    #[error("invalid load-test spec: {0}")]
    Spec(#[from] SpecError),
    /// The URL's host name could not be resolved; nothing was sent.
    #[error("cannot resolve {host:?}, the host of `url`: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The URL's host name resolved to no address at all.
    #[error("{host:?}, the host of `url`, resolved to no address")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// A connection's task ended without its figures (a bug: it panicked).
    #[error("connection {connection} of the load test stopped unexpectedly: {message}")]
    Worker {
        /// Which connection (0-based).
        connection: u32,
        /// What the runtime said.
        message: String,
    },
    /// Writing the report as JSON.
    #[error("cannot write the load-test report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why [`LoadSpec::validate`](crate::LoadSpec::validate) refuses a spec. Each message
/// names the key (`thresholds.p99`) and never prints a header's value or the body,
/// which may hold credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// `url` does not parse.
    #[error("`url`: {url:?} is not a valid URL ({reason})")]
    UrlInvalid {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// `url` is https, which is not supported yet.
    #[error(
        "`url`: {url:?} is https; only http:// is supported for now\nhint: load-test the \
         service's plain http:// address (its service container, or the preview's port)"
    )]
    UrlHttps {
        /// The URL as given.
        url: String,
    },
    /// `url` is neither http nor https, or has no scheme or host.
    #[error("`url`: {url:?} must be an absolute http:// URL with a host")]
    UrlNotHttp {
        /// The URL as given.
        url: String,
    },
    /// `url` carries `user:password@`.
    #[error(
        "`url`: {url:?} must not carry credentials\nhint: send them in `headers` (e.g. \
         `Authorization`), whose values are never printed"
    )]
    UrlCredentials {
        /// The URL, credentials removed.
        url: String,
    },
    /// `method` is not a method token.
    #[error("`method`: {method:?} is not an HTTP method")]
    Method {
        /// The method as given.
        method: String,
    },
    /// A header name is not a valid token.
    #[error("`headers`: {name:?} is not a valid header name")]
    HeaderName {
        /// The name as given.
        name: String,
    },
    /// A header value has characters a header cannot carry (the value is not printed).
    #[error("`headers`: the value of {name:?} is not a valid header value")]
    HeaderValue {
        /// The header's name.
        name: String,
    },
    /// The same header twice, in different cases.
    #[error("`headers`: {name:?} is given twice (header names are case-insensitive)")]
    HeaderTwice {
        /// The header's name.
        name: String,
    },
    /// A header the generator sets itself.
    #[error("`headers`: {name:?} is set by the load generator from `body`")]
    HeaderManaged {
        /// The header's name.
        name: String,
    },
    /// `connections` out of range.
    #[error("`connections` must be between 1 and {max}, not {given}")]
    Connections {
        /// The number given.
        given: u32,
        /// The most allowed ([`MAX_CONNECTIONS`](crate::MAX_CONNECTIONS)).
        max: u32,
    },
    /// `rate` is not a positive number.
    #[error("`rate` must be a positive number of requests per second, not {0}")]
    Rate(f64),
    /// A duration that must not be zero is.
    #[error("`{key}` must be longer than 0s")]
    Zero {
        /// The key (`duration`, `timeout`, `thresholds.p99`).
        key: String,
    },
    /// A duration above what the generator measures.
    #[error("`{key}` must be at most {max}, not {given}")]
    TooLong {
        /// The key.
        key: String,
        /// The duration given.
        given: crate::HumanDuration,
        /// The longest allowed.
        max: crate::HumanDuration,
    },
    /// `thresholds.error-rate` is not a fraction.
    #[error("`thresholds.error-rate` must be a fraction between 0 and 1 (0.01 is 1 %), not {0}")]
    ErrorRate(f64),
    /// `thresholds.throughput` is not a positive number.
    #[error("`thresholds.throughput` must be a positive number of requests per second, not {0}")]
    Throughput(f64),
    /// `thresholds.throughput` asks for more than `rate` sends.
    #[error(
        "`thresholds.throughput` ({throughput} requests/s) is above `rate` ({rate} \
         requests/s): the test could never pass"
    )]
    ThroughputAboveRate {
        /// The threshold.
        throughput: f64,
        /// The rate.
        rate: f64,
    },
}
