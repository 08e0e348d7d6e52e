//! One of wharf's own insecure settings found in a pipeline: a plain-HTTP registry, secrets
//! for pull requests, `workspace: shared`, an unapproved `production` environment. The keys
//! and what they mean live in `wharf-policy`'s `settings` module; validation finds them and
//! the policy's `setting` exceptions decide whether they may stay.

use serde::{Deserialize, Serialize};

/// One insecure setting found in a project, as the pipeline validation reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InsecureSetting {
    /// A setting key, e.g. `registry.plain-http`.
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
