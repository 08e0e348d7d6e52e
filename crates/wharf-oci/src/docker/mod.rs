//! Dockerfile builds through the Docker Engine API, for projects that already have a
//! Dockerfile (the daemonless builder in [`crate::build`] needs no engine but no
//! Dockerfile either).
//!
//! [`docker_build`] sends the build context as a tar stream to the engine's classic
//! builder (`POST /build`; BuildKit-only Dockerfile features are not available), relays
//! the build output line by line to a callback, then exports the built image (`docker
//! save`) into an [`OciLayout`] under a tag. From there it takes the same push path as
//! every other image: nothing downstream knows that an engine was involved.
//! `docs/images.md` ("Dockerfile builds") is the user's view, with the limits.

mod archive;
mod connect;
mod context;
mod export;
mod ignore;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use oci_spec::image::Descriptor;

pub use archive::load_archive;
pub use connect::{
    DEFAULT_DOCKER_HOST, DOCKER_HOST_ENV, chain, connect, default_docker_host, pull_credentials,
};

use crate::{Digest, OciLayout, Result};

/// How many of the last output lines a build failure carries.
const TAIL_LINES: usize = 20;

/// Everything a Dockerfile build needs; [`DockerBuildRequest::new`] fills the defaults.
#[derive(Clone)]
pub struct DockerBuildRequest {
    /// The build context directory: everything in it that `.dockerignore` does not
    /// exclude is sent to the engine.
    pub context: PathBuf,
    /// The Dockerfile, relative to `context` (default `Dockerfile`); it must lie inside
    /// the context.
    pub dockerfile: PathBuf,
    /// `ARG` values (`--build-arg`). Build args end up in the image's history: never
    /// pass secrets here.
    pub build_args: BTreeMap<String, String>,
    /// The stage to stop at (`--target`); `None` builds the last stage.
    pub target: Option<String>,
    /// Labels set on the image config, typically `org.opencontainers.image.*`.
    pub labels: BTreeMap<String, String>,
    /// Build without the engine's layer cache.
    pub no_cache: bool,
    /// Also tag the image in the engine (`name:tag`), for running it locally; `None`
    /// leaves it untagged there.
    pub engine_tag: Option<String>,
    /// The engine address (`unix:///path` or `tcp://host:port`); `None` means
    /// [`default_docker_host`] (`DOCKER_HOST`, else the default socket).
    pub host: Option<String>,
    /// The OCI image layout to write the image into (created when missing).
    pub output: PathBuf,
    /// The tag the image gets in that layout (`org.opencontainers.image.ref.name`).
    pub tag: String,
}

impl DockerBuildRequest {
    /// A build of `context/Dockerfile` into the layout at `output`, tagged `tag`.
    pub fn new(
        context: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
        tag: impl Into<String>,
    ) -> Self {
        DockerBuildRequest {
            context: context.into(),
            dockerfile: PathBuf::from("Dockerfile"),
            build_args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            no_cache: false,
            engine_tag: None,
            host: None,
            output: output.into(),
            tag: tag.into(),
        }
    }
}

/// Build args may hold values a user would rather not see in logs: only their names print.
impl fmt::Debug for DockerBuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerBuildRequest")
            .field("context", &self.context)
            .field("dockerfile", &self.dockerfile)
            .field(
                "build_args",
                &self
                    .build_args
                    .keys()
                    .map(|k| format!("{k}=<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("target", &self.target)
            .field("labels", &self.labels)
            .field("no_cache", &self.no_cache)
            .field("engine_tag", &self.engine_tag)
            .field("host", &self.host)
            .field("output", &self.output)
            .field("tag", &self.tag)
            .finish()
    }
}

/// One layer of the exported image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    /// Digest of the gzip-compressed blob in the layout.
    pub digest: Digest,
    /// Size of that blob in bytes.
    pub size: u64,
    /// Digest of the uncompressed layer tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
}

/// What a successful [`docker_build`] produced.
#[derive(Debug, Clone)]
pub struct DockerBuilt {
    /// The image id the engine reports: the same as [`config`](Self::config) (the
    /// export checks it), except on engines using the containerd image store, whose ids
    /// are manifest digests.
    pub image_id: Digest,
    /// The manifest descriptor in the layout (what the tag points at).
    pub manifest: Descriptor,
    /// The image config's digest.
    pub config: Digest,
    /// The layers, base first.
    pub layers: Vec<ImageLayer>,
    /// The layout holding the image.
    pub layout: OciLayout,
    /// Its tag in the layout.
    pub tag: String,
}

/// Why a Dockerfile build did not produce an image.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Nothing answers at the engine address.
    #[error(
        "no Docker Engine reachable at {host}: {reason}\n\
         hint: start dockerd or use build-image without `dockerfile:` (the daemonless builder)"
    )]
    Unreachable {
        /// The address tried.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// The engine address has a scheme wharf cannot use.
    #[error(
        "unsupported Docker host `{0}`: expected unix:///path/to/docker.sock or tcp://host:port"
    )]
    UnsupportedHost(String),
    /// The build context directory does not exist.
    #[error("the build context {} is not a directory", path.display())]
    MissingContext {
        /// The context path.
        path: PathBuf,
    },
    /// The Dockerfile is missing.
    #[error("no Dockerfile at {}\nhint: `dockerfile:` is relative to the build context", path.display())]
    MissingDockerfile {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The Dockerfile path leaves the build context.
    #[error("the Dockerfile {} is outside the build context: give a path inside it", path.display())]
    DockerfileOutsideContext {
        /// The path as given.
        path: PathBuf,
    },
    /// A `.dockerignore` line is not a valid pattern.
    #[error(".dockerignore line {line}: {reason}")]
    Dockerignore {
        /// 1-based line number.
        line: usize,
        /// What is wrong with the pattern.
        reason: String,
    },
    /// The engine rejected the Dockerfile or a step failed.
    #[error("docker build failed: {message}{}", tail(last_lines))]
    BuildFailed {
        /// The engine's error message.
        message: String,
        /// The last lines of build output before the failure.
        last_lines: Vec<String>,
    },
    /// A request to the engine failed.
    #[error("{action}: {}", connect::chain(source))]
    Engine {
        /// What wharf was asking the engine for.
        action: &'static str,
        /// The client error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The image the engine exported is not what it claims to be.
    #[error("cannot convert the image exported by the engine: {reason}")]
    Export {
        /// What is wrong with it.
        reason: String,
    },
    /// A layer's content does not match the config's `rootfs.diff_ids`.
    #[error("layer {layer} of the saved image hashes to {actual}, but the config says {expected}")]
    DiffIdMismatch {
        /// 1-based layer number, base first.
        layer: usize,
        /// The config's diff_id.
        expected: Digest,
        /// The digest of the layer as exported.
        actual: Digest,
    },
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nlast output:");
    for line in lines {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

/// Builds `req`'s Dockerfile with the Docker Engine and exports the image into the OCI
/// layout `req.output` under `req.tag`. Every line of build output goes to `progress`
/// as it arrives (without its newline).
///
/// Errors: [`DockerError::MissingDockerfile`] before anything else is done,
/// [`DockerError::Unreachable`] when no engine answers (the layout is then not created),
/// [`DockerError::BuildFailed`] with the engine's message and the last output lines when
/// the Dockerfile does not build, and I/O or [`DockerError::Export`] errors from the
/// conversion, all wrapped in [`crate::Error::Docker`] or [`crate::Error::Io`].
pub async fn docker_build(
    req: &DockerBuildRequest,
    mut progress: impl FnMut(&str),
) -> Result<DockerBuilt> {
    let dockerfile = context::dockerfile_name(&req.context, &req.dockerfile)?;
    let host = req.host.clone().unwrap_or_else(default_docker_host);
    let docker = connect::connect(&host).await?;

    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(&dockerfile)
        .rm(true)
        .forcerm(true)
        .nocache(req.no_cache)
        .buildargs(&req.build_args.iter().collect())
        .labels(&req.labels.iter().collect());
    if let Some(target) = &req.target {
        options = options.target(target);
    }
    if let Some(tag) = &req.engine_tag {
        options = options.t(tag);
    }
    let (body, writer) = context::stream(req.context.clone(), dockerfile);
    let mut output = Output::default();
    let mut image_id = None;
    let mut failure = None;
    {
        let mut build =
            docker.build_image(options.build(), None, Some(bollard::body_try_stream(body)));
        while let Some(item) = build.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = &info.stream {
                        output.push(text, &mut progress);
                    }
                    // Pull status messages come whole, without a newline; the ones
                    // that only move a progress bar would flood the log.
                    let moving = info
                        .progress_detail
                        .as_ref()
                        .is_some_and(|p| p.current.is_some());
                    if let (Some(status), false) = (&info.status, moving) {
                        output.finish(&mut progress);
                        match &info.id {
                            Some(id) => output.line(&format!("{id}: {status}"), &mut progress),
                            None => output.line(status, &mut progress),
                        }
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        image_id = Some(id);
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // Dropping the request here lets a still-running context writer see that
        // nobody reads any more, before it is awaited below.
    }
    output.finish(&mut progress);
    // A broken context explains a failed upload better than the engine's view of it.
    writer
        .await
        .map_err(|e| crate::Error::Invalid(format!("the build context writer stopped: {e}")))??;
    if let Some(e) = failure {
        return Err(build_failure(e, output.last).into());
    }
    let image_id = match image_id {
        Some(id) => Digest::parse(&id)?,
        None => engine_image_id(&docker, &output.last).await?,
    };
    let layout = OciLayout::create(&req.output)?;
    let exported = export::export(&docker, &image_id, &layout, &req.tag).await?;
    Ok(DockerBuilt {
        image_id,
        manifest: exported.manifest,
        config: exported.config,
        layers: exported.layers,
        layout,
        tag: req.tag.clone(),
    })
}

/// The engine reports failures both in the stream (a failing `RUN`) and as an HTTP error
/// (a Dockerfile it cannot parse); either is the user's build failing.
fn build_failure(e: bollard::errors::Error, last_lines: VecDeque<String>) -> DockerError {
    use bollard::errors::Error as E;
    let last_lines = last_lines.into();
    match e {
        E::DockerStreamError { error } => DockerError::BuildFailed {
            message: error.trim().to_owned(),
            last_lines,
        },
        E::DockerResponseServerError { message, .. } => DockerError::BuildFailed {
            message: message.trim().to_owned(),
            last_lines,
        },
        source => DockerError::Engine {
            action: "the build request failed",
            source,
        },
    }
}

/// Engines that do not send the image id as `aux` print `Successfully built <short id>`.
async fn engine_image_id(docker: &bollard::Docker, lines: &VecDeque<String>) -> Result<Digest> {
    let short = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .ok_or_else(|| DockerError::Export {
            reason: "the engine did not say which image it built".into(),
        })?;
    let inspect =
        docker
            .inspect_image(short.trim())
            .await
            .map_err(|source| DockerError::Engine {
                action: "cannot inspect the built image",
                source,
            })?;
    let id = inspect.id.ok_or_else(|| DockerError::Export {
        reason: "the built image has no id".into(),
    })?;
    Digest::parse(&id)
}

/// Splits the engine's output chunks into lines and keeps the last few for errors.
#[derive(Default)]
struct Output {
    partial: String,
    last: VecDeque<String>,
}

impl Output {
    fn push(&mut self, text: &str, progress: &mut impl FnMut(&str)) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end_matches(['\n', '\r']), progress);
        }
    }

    fn finish(&mut self, progress: &mut impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, progress);
        }
    }

    fn line(&mut self, line: &str, progress: &mut impl FnMut(&str)) {
        progress(line);
        if self.last.len() == TAIL_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_relayed_in_whole_lines_and_the_tail_is_kept() {
        let mut seen = Vec::new();
        let mut out = Output::default();
        let mut progress = |l: &str| seen.push(l.to_owned());
        out.push("Step 1/2 : FROM x\n ---> ab", &mut progress);
        out.push("c\n", &mut progress);
        for i in 0..30 {
            out.push(&format!("line {i}\r\n"), &mut progress);
        }
        out.push("no newline", &mut progress);
        out.finish(&mut progress);
        assert_eq!(seen[..2], ["Step 1/2 : FROM x", " ---> abc"]);
        assert_eq!(seen.len(), 33);
        assert_eq!(out.last.len(), TAIL_LINES);
        assert_eq!(out.last.back().map(String::as_str), Some("no newline"));
    }

    #[test]
    fn a_build_can_be_spawned_on_a_runtime() {
        fn send<T: Send>(_: &T) {}
        let req = DockerBuildRequest::new(".", "out", "latest");
        let build = docker_build(&req, |_| {});
        send(&build);
    }

    #[test]
    fn failures_show_the_tail_and_requests_hide_build_arg_values() {
        let err = DockerError::BuildFailed {
            message: "boom".into(),
            last_lines: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            err.to_string(),
            "docker build failed: boom\nlast output:\n  a\n  b"
        );
        let mut req = DockerBuildRequest::new(".", "out", "latest");
        req.build_args.insert("TOKEN".into(), "s3cret".into());
        let debug = format!("{req:?}");
        assert!(
            debug.contains("TOKEN=<redacted>") && !debug.contains("s3cret"),
            "{debug}"
        );
    }
}
