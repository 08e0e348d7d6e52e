//! wharf-forge's integration tests: signatures against published vectors, GitHub's
//! published example payloads, GitLab and Gitea payloads shaped after their docs, hostile
//! names, and mangled bodies.

mod errors;
mod gitea;
mod github_examples;
mod gitlab;
mod mutations;
mod names;
mod support;
mod verify;
