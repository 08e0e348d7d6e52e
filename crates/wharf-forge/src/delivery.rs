//! What a webhook delivery means to wharf, whichever forge sent it.

use serde::{Deserialize, Serialize};

/// The forges wharf takes webhooks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// GitHub (and GitHub Enterprise Server).
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea and Forgejo (Forgejo sends Gitea's headers and its own).
    Gitea,
}

impl ForgeKind {
    /// The name on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
            ForgeKind::Gitea => "gitea",
        }
    }

    /// Parses a name on the command line or in the API.
    pub fn parse(s: &str) -> Option<ForgeKind> {
        match s {
            "github" => Some(ForgeKind::Github),
            "gitlab" => Some(ForgeKind::Gitlab),
            "gitea" | "forgejo" => Some(ForgeKind::Gitea),
            _ => None,
        }
    }
}

/// One verified, parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The forge's delivery id, the same when the forge redelivers (GitHub
    /// `X-GitHub-Delivery`, Gitea `X-Gitea-Delivery`/`X-Forgejo-Delivery`, GitLab
    /// `Idempotency-Key`, else `X-Gitlab-Event-UUID`); `None` when the forge sent none.
    pub id: Option<String>,
    /// The event type header as sent (`push`, `Push Hook` …), for logs.
    pub event_type: String,
    /// What happened.
    pub hook: Hook,
}

/// What a delivery reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hook {
    /// Commits pushed to a branch (created or updated).
    Push {
        /// The branch, without `refs/heads/`.
        branch: String,
        /// The commit the branch points at now (40 hex).
        sha: String,
        /// The commit it pointed at before (all zeros for a new branch).
        before: String,
        /// The head commit's message, when the payload has it.
        message: Option<String>,
        /// Who pushed (login or username), when the payload says.
        actor: Option<String>,
    },
    /// A tag pushed (created or moved).
    Tag {
        /// The tag, without `refs/tags/`.
        tag: String,
        /// The commit it points at (for an annotated tag, the commit, not the tag object,
        /// when the payload gives it: GitLab's `checkout_sha`; else `after`).
        sha: String,
        /// Who pushed, when the payload says.
        actor: Option<String>,
    },
    /// A branch or tag deleted: nothing to run.
    Deleted {
        /// The full ref (`refs/heads/x`, `refs/tags/v1`).
        reference: String,
    },
    /// A pull (merge) request opened, given new commits, or reopened.
    PullRequest {
        /// Its number (GitHub/Gitea `number`, GitLab `iid`).
        number: u64,
        /// What happened to it.
        action: PrAction,
        /// The head commit.
        sha: String,
        /// The source branch.
        head_branch: String,
        /// The branch it would merge into.
        base_branch: String,
        /// Whether the head is in another repository than the base (a fork): such runs
        /// get no secrets.
        fork: bool,
        /// Its title, when the payload has it.
        title: Option<String>,
        /// Who acted, when the payload says.
        actor: Option<String>,
    },
    /// The forge checking the hook works (GitHub `ping`, Gitea/GitLab test deliveries
    /// that are not pushes are not pings).
    Ping,
    /// A delivery wharf does not act on (another event type, a pull request closed or
    /// edited, a `create` event, which duplicates the push of a tag): answered 2xx, logged.
    Ignored {
        /// Why, for the log: `event type `issues``, `pull request action `closed``.
        reason: String,
    },
}

/// The pull request actions that start runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrAction {
    /// Opened (GitLab `open`).
    Opened,
    /// New commits (GitHub `synchronize`, Gitea `synchronized`, GitLab `update` with
    /// `oldrev`).
    Synchronized,
    /// Reopened (GitLab `reopen`).
    Reopened,
}
