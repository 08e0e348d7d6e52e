//! wharf's own insecure settings. Finding them in a pipeline is the pipeline's business;
//! this module names them, so a `setting` exception can refer to one and the policy can
//! decide whether it is covered.

/// A registry reached over plain HTTP.
pub const PLAIN_HTTP_REGISTRY: &str = "registry.plain-http";
/// Secrets made available to runs started by pull requests.
pub const PULL_REQUEST_SECRETS: &str = "secrets.pull-requests";
/// `workspace: shared`: jobs see each other's files.
pub const SHARED_WORKSPACE: &str = "workspace.shared";
/// An environment named `production` that deploys without an approval.
pub const UNAPPROVED_PRODUCTION: &str = "environment.production-without-approval";

/// Every setting key a `setting` exception may name, with what it means.
pub const KNOWN: &[(&str, &str)] = &[
    (PLAIN_HTTP_REGISTRY, "a registry reached over plain HTTP"),
    (
        PULL_REQUEST_SECRETS,
        "secrets given to runs started by pull requests",
    ),
    (SHARED_WORKSPACE, "`workspace: shared`"),
    (
        UNAPPROVED_PRODUCTION,
        "an environment named `production` without approvals",
    ),
];

/// Whether `key` is one of [`KNOWN`].
pub fn is_known(key: &str) -> bool {
    KNOWN.iter().any(|(k, _)| *k == key)
}

/// One insecure setting found in a project (defined in `wharf-model`, so the pipeline's
/// plan can carry the settings to the `policy` step).
pub use wharf_model::InsecureSetting;
