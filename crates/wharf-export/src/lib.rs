//! `wharf export`: the thin platform layer. Each platform file sets up the machine,
//! installs wharf, maps the pipeline's triggers to the platform's, keeps the job graph
//! (one platform job per wharf job, or one job for the whole pipeline), maps declared
//! secrets from the platform's store, and calls `wharf run` — which reads the event from
//! the platform's variables itself (`--from-ci`), so no outside value is ever spliced
//! into the platform file's shell source.
//!
//! What a platform cannot express is never dropped silently: it becomes a [`Warning`]
//! naming the platform's nearest feature. wharf itself is installed only from a source
//! the user pinned ([`Install`]), never by its crate name.

mod bitbucket;
mod common;
mod condition;
mod error;
mod github;
mod gitlab;
mod install;
mod node;
mod woodpecker;

use wharf_pipeline::Pipeline;

pub use error::{Error, Result};
pub use install::Install;

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
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// One platform job running the whole pipeline instead of one per wharf job.
    pub single_job: bool,
    /// Where jobs get wharf from. `None` writes an install step that fails, saying so:
    /// there is no safe default (`wharf export` refuses to write a file without one).
    pub install: Option<Install>,
    /// The container image jobs run in, where the platform needs one (Woodpecker,
    /// Bitbucket; GitLab when set). An [`Install::Image`] pin takes its place.
    pub image: Option<String>,
}

impl ExportOptions {
    /// The image jobs run in: the pinned image, else `image`.
    pub fn job_image(&self) -> Option<&str> {
        self.install
            .as_ref()
            .and_then(Install::image_ref)
            .or(self.image.as_deref())
    }

    /// The shell command of the install step on `platform`.
    pub fn install_script(&self, platform: Platform) -> String {
        match &self.install {
            Some(i) => i.script(platform),
            None => NO_INSTALL.to_string(),
        }
    }
}

/// The install step without a pinned source: it fails the job, saying why.
const NO_INSTALL: &str =
    "echo 'wharf export: no install source was pinned (see docs/export.md)' >&2 && exit 1";

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

/// Whether `text` (an exported file) still installs wharf as `opts` says on `platform`:
/// `false` when its install step (or, for an image pin, the image) was changed by hand.
pub fn install_matches(text: &str, platform: Platform, opts: &ExportOptions) -> bool {
    // The step's command is one line, so its YAML scalar is the same wherever it sits.
    let scalar = node::to_yaml(&node::Node::Str(opts.install_script(platform)));
    let image = opts.install.as_ref().and_then(Install::image_ref);
    text.contains(scalar.trim_end()) && image.is_none_or(|i| text.contains(i))
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
