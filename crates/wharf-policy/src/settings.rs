//! wharf's own insecure settings. Finding them in a pipeline is the pipeline's business;
//! this module names them, so a `setting` exception can refer to one and the policy can
//! decide whether it is covered.

use serde::{Deserialize, Serialize};

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

/// One insecure setting found in a project, as the pipeline validation reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InsecureSetting {
    /// One of [`KNOWN`], e.g. [`PLAIN_HTTP_REGISTRY`].
    pub key: String,
    /// What it applies to, when it matters: the registry host, the environment, the
    /// pipeline. A `setting` exception with a `subject` covers only that subject.
    pub subject: Option<String>,
    /// Where it was found, e.g. `.wharf/pipeline.yml:12:5`, for messages.
    pub location: Option<String>,
}

impl InsecureSetting {
    /// A setting with no subject or location.
    pub fn new(key: &str) -> InsecureSetting {
        InsecureSetting {
            key: key.to_string(),
            subject: None,
            location: None,
        }
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: &str) -> InsecureSetting {
        self.subject = Some(subject.to_string());
        self
    }

    /// Sets the location.
    pub fn with_location(mut self, location: &str) -> InsecureSetting {
        self.location = Some(location.to_string());
        self
    }

    /// `key subject (location)`, for tables and messages.
    pub fn describe(&self) -> String {
        let mut out = self.key.clone();
        if let Some(subject) = &self.subject {
            out.push(' ');
            out.push_str(subject);
        }
        if let Some(location) = &self.location {
            out.push_str(" (");
            out.push_str(location);
            out.push(')');
        }
        out
    }
}
