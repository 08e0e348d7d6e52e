//! `wharf export`: the thin platform layer. Each platform file sets up the machine,
//! installs wharf, maps the pipeline's triggers to the platform's, keeps the job graph
//! (one platform job per wharf job, or one job for the whole pipeline), maps declared
//! secrets from the platform's store, and calls `wharf run` — which reads the event from
//! the platform's variables itself (`--from-ci`), so no outside value is ever spliced
//! into the platform file's shell source.
//!
//! What a platform cannot express is never dropped silently: it becomes a [`Warning`]
//! naming the platform's nearest feature.

mod bitbucket;
mod common;
mod condition;
mod github;
mod gitlab;
mod node;
mod woodpecker;

use wharf_pipeline::Pipeline;

/// The platforms wharf exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// GitHub Actions.
    Github,
    /// GitLab CI/CD.
    Gitlab,
    /// Woodpecker CI.
    Woodpecker,
    /// Bitbucket Pipelines.
    Bitbucket,
}

impl Platform {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Github => "github",
            Platform::Gitlab => "gitlab",
            Platform::Woodpecker => "woodpecker",
            Platform::Bitbucket => "bitbucket",
        }
    }

    /// Where the platform reads its file, for a pipeline named `pipeline`.
    pub fn default_path(self, pipeline: &str) -> String {
        match self {
            Platform::Github => format!(".github/workflows/wharf-{pipeline}.yml"),
            Platform::Gitlab => ".gitlab-ci.yml".to_string(),
            Platform::Woodpecker => format!(".woodpecker/wharf-{pipeline}.yml"),
            Platform::Bitbucket => "bitbucket-pipelines.yml".to_string(),
        }
    }
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// One platform job running the whole pipeline instead of one per wharf job.
    pub single_job: bool,
    /// The shell command that puts `wharf` on PATH.
    pub install: String,
    /// The container image jobs run in, where the platform needs one (Woodpecker,
    /// Bitbucket; GitLab when set).
    pub image: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            single_job: false,
            install: DEFAULT_INSTALL.to_string(),
            image: None,
        }
    }
}

/// The default install command.
pub const DEFAULT_INSTALL: &str = "command -v wharf >/dev/null || cargo install --locked wharf";

/// Something the platform cannot express, and its nearest feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// An exported platform file.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The file's text.
    pub text: String,
    /// What could not be mapped.
    pub warnings: Vec<Warning>,
}

/// Exports `pipeline` for `platform`.
pub fn export(pipeline: &Pipeline, platform: Platform, opts: &ExportOptions) -> Exported {
    let mut cx = common::Cx::new(pipeline, platform, opts);
    let body = match platform {
        Platform::Github => github::export(&mut cx),
        Platform::Gitlab => gitlab::export(&mut cx),
        Platform::Woodpecker => woodpecker::export(&mut cx),
        Platform::Bitbucket => bitbucket::export(&mut cx),
    };
    let text = format!("{}{}", cx.header(), node::to_yaml(&body));
    Exported {
        text,
        warnings: cx.warnings,
    }
}
