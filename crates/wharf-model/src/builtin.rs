//! Built-in steps: work wharf does itself instead of running a command (SPEC.md
//! "Release artifacts"). A plan carries them with every string still a template; the
//! engine evaluates the templates with the job's context when the step starts, then hands
//! the step to the binary's built-in runner.
//!
//! Parameters that name secrets (`token:`, `password:`) hold the secret's *name*; its value
//! reaches the runner only through the job's declared secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a step does: run a command, or one of wharf's built-in steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    /// A shell script.
    Run {
        /// The script (matrix values already substituted).
        run: String,
        /// The shell program: `bash`, `sh`, or another that takes `-c SCRIPT`.
        shell: String,
    },
    /// A built-in step.
    Builtin(Builtin),
}

/// The built-in steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// Archive paths into a reproducible release package.
    Package(PackageStep),
    /// Build an OCI image (daemonless, or from a Dockerfile through a Docker Engine), and
    /// optionally push it.
    BuildImage(Box<BuildImageStep>),
    /// Upload Python wheels and sdists to an index.
    PublishPython(PublishPythonStep),
    /// Write the release: version, notes, tag and a release record.
    Release(ReleaseStep),
    /// Apply the policy file to scanner reports and licences: fail on open findings and
    /// expired or unused exceptions.
    Policy(PolicyStep),
    /// Load an HTTP endpoint and fail on the thresholds it misses.
    LoadTest(Box<LoadTestStep>),
}

impl Builtin {
    /// The key that names this step kind in a pipeline file.
    pub fn key(&self) -> &'static str {
        match self {
            Builtin::Package(_) => "package",
            Builtin::BuildImage(_) => "build-image",
            Builtin::PublishPython(_) => "publish-python",
            Builtin::Release(_) => "release",
            Builtin::Policy(_) => "policy",
            Builtin::LoadTest(_) => "load-test",
        }
    }

    /// A short display name for the step.
    pub fn describe(&self) -> String {
        match self {
            Builtin::Package(p) => format!("package {}", p.output),
            Builtin::BuildImage(b) => match &b.image {
                Some(image) => format!("build-image {image}"),
                None => "build-image".to_string(),
            },
            Builtin::PublishPython(p) => format!("publish-python {}", p.files.join(" ")),
            Builtin::Release(_) => "release".to_string(),
            Builtin::Policy(p) => format!("policy {}", p.file),
            Builtin::LoadTest(l) => format!("load-test {}", l.url),
        }
    }
}

/// `policy:` — the policy file applied to the project's own scanners' reports and to the
/// licences of its wheels: a table of open findings, and a failure on what the policy
/// does not allow (findings at a failing severity, expired or unused exceptions, licences
/// not allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyStep {
    /// The policy file, relative to the working directory (default `wharf.policy.toml`).
    pub file: String,
    /// Globs of scanner reports: Trivy JSON, Grype JSON, SARIF 2.1.0, pip-audit JSON.
    pub reports: Vec<String>,
    /// Globs of wheels (their dependencies from `pylock.toml` or a pinned
    /// `requirements.txt` beside the project) and virtual environments whose packages'
    /// licences are checked against the policy's `[licenses]`.
    pub licenses: Vec<String>,
    /// wharf's own insecure settings the project's pipelines use (already allowed by a
    /// `setting` exception, or validation would have refused them): judged again by the
    /// step so the exceptions that allow them are applied, recorded with the release and
    /// never reported unused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<crate::InsecureSetting>,
}

/// `load-test:` — an HTTP load (a closed loop of `connections`, or an open loop at `rate`
/// requests per second) for `duration` after a `warm-up`, its latency percentiles, error
/// rate and throughput checked against `thresholds`; the report (JSON) and a latency
/// histogram (SVG) kept with the run. Durations are written as `10s`, `250ms`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadTestStep {
    /// `http://…`; `${VAR}` takes a variable of the step's environment (a service's
    /// `WHARF_SERVICE_APP_PORT`).
    pub url: String,
    /// The method (default `GET`).
    pub method: Option<String>,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// A request body.
    pub body: Option<String>,
    /// Connections (closed loop; with `rate`, the connections the rate is spread over).
    pub connections: Option<u32>,
    /// Requests per second, in total (an open loop).
    pub rate: Option<u32>,
    /// How long the measured load lasts (default `10s`).
    pub duration: Option<String>,
    /// Load sent first and not counted (default none).
    pub warm_up: Option<String>,
    /// Per request, connecting included (default `2s`).
    pub timeout: Option<String>,
    /// What fails the step.
    pub thresholds: LoadThresholds,
}

/// The thresholds of a `load-test:` step (each optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadThresholds {
    /// Latency percentiles and maximum, each at most this long.
    pub p50: Option<String>,
    /// 90th percentile.
    pub p90: Option<String>,
    /// 99th percentile.
    pub p99: Option<String>,
    /// 99.9th percentile.
    pub p99_9: Option<String>,
    /// The slowest answer.
    pub max: Option<String>,
    /// The share of failed requests at most this (a fraction, as written: `0.01`).
    pub error_rate: Option<String>,
    /// Requests per second at least this.
    pub throughput: Option<u32>,
}

/// `package:` — archive workspace paths into one reproducible file with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageStep {
    /// Files and directories to include, relative to the working directory.
    pub paths: Vec<String>,
    /// The package file to write, relative to the working directory.
    pub output: String,
}

/// One layer of a daemonless image build: a file or directory and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Source path, relative to the working directory.
    pub src: String,
    /// Absolute destination path in the image.
    pub dest: String,
}

/// `build-image:` — build an OCI image and optionally push it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BuildImageStep {
    /// Base: `scratch`, `oci-layout:PATH[:TAG]`, or an image reference (pulled).
    /// `None` with a Dockerfile (the Dockerfile names its base).
    pub from: Option<String>,
    /// Layers for the daemonless builder.
    pub layers: Vec<LayerSpec>,
    /// A Dockerfile to build through the Docker Engine instead, relative to `context`.
    pub dockerfile: Option<String>,
    /// The Docker build context (default: the working directory).
    pub context: Option<String>,
    /// Dockerfile `ARG`s.
    pub build_args: BTreeMap<String, String>,
    /// Image config: entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Image config: cmd.
    pub cmd: Option<Vec<String>>,
    /// Image config: environment.
    pub env: BTreeMap<String, String>,
    /// Image config: working directory.
    pub workdir: Option<String>,
    /// Image config: user.
    pub user: Option<String>,
    /// Image config: exposed ports (`8080`, `8080/tcp`).
    pub ports: Vec<String>,
    /// Image labels (wharf adds the `org.opencontainers.image.*` ones it knows).
    pub labels: BTreeMap<String, String>,
    /// The image name without a tag, e.g. `127.0.0.1:5000/demo`.
    pub image: Option<String>,
    /// Tags: bare tags (`latest`) or full references. Default: the version, `latest`
    /// and the short sha.
    pub tags: Vec<String>,
    /// Push every tag after building: fixed, or an expression rendered at run time
    /// (`push: ${{ event == 'tag' }}`).
    pub push: Switch,
    /// Registries (host[:port]) that may be reached over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// `gzip` (default) or `zstd`.
    pub compression: Option<String>,
    /// Registry user name, with `password` naming the secret that holds the password or
    /// token. Without them, a docker `config.json` is consulted, then anonymous access.
    pub username: Option<String>,
    /// Name of the secret holding the registry password or token.
    pub password: Option<String>,
    /// Where the OCI layout is written (default `.wharf/images/<job>`).
    pub output: Option<String>,
}

/// `publish-python:` — upload wheels and sdists through the index upload API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublishPythonStep {
    /// Upload URL, e.g. `https://upload.pypi.org/legacy/`.
    pub repository: String,
    /// Globs of files to upload, relative to the working directory.
    pub files: Vec<String>,
    /// Name of the secret holding an API token (sent as user `__token__`) or password.
    pub token: Option<String>,
    /// User name for password auth (default `__token__`).
    pub username: Option<String>,
    /// The index's simple API URL used to detect files already published (default:
    /// derived from `repository`).
    pub index_url: Option<String>,
}

/// `release:` — the release of this run: its version (from the tag that started the run,
/// or planned from conventional commits), its notes, an annotated tag, and a release
/// record listing the digest of everything the run produced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReleaseStep {
    /// Insert the notes at the top of this changelog (relative to the working directory).
    pub changelog: Option<String>,
    /// A pre-release identifier (`rc`) for a planned version: `X.Y.Z-rc.N`.
    pub pre: Option<String>,
    /// Create the annotated tag `v<version>` when the run was not started by a tag.
    pub tag: bool,
    /// Publish the release (notes and assets) to a forge.
    pub forge: Option<Box<ForgeStep>>,
    /// The registry user signing and attaching to the released images (with `password`);
    /// without both, docker's `config.json` is read per registry, else anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The name of a secret the job declares, holding that user's password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Registries of the released images reached over plain HTTP besides loopback ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure: Vec<String>,
}

/// `release.forge:` — where to publish the release.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ForgeStep {
    /// `github`, `gitea` or `forgejo` (the Gitea API).
    pub kind: String,
    /// The API base: `https://api.github.com` for GitHub (default); the instance URL for
    /// Gitea and Forgejo.
    pub url: Option<String>,
    /// `owner/name` (default: from the `origin` remote).
    pub repository: Option<String>,
    /// Name of the secret holding the API token.
    pub token: String,
    /// Globs of files to attach, relative to the working directory.
    pub assets: Vec<String>,
    /// Create the release as a draft.
    pub draft: bool,
}

/// What kind of release artifact a built-in step produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProducedKind {
    /// A release package file (`package:`).
    Package,
    /// An OCI image built into a layout (`build-image:` without `push`).
    Image,
    /// An OCI image pushed to a registry under a tag.
    PushedImage,
    /// A Python wheel or sdist on an index (`publish-python:`).
    PythonFile,
    /// A file a job declared under `artifacts:` (listed in release records).
    Artifact,
    /// A document proving a release (its provenance, public key, SBOMs), written by the
    /// `release` step and kept with the run like an artifact.
    Evidence,
}

impl ProducedKind {
    /// The stable name used in the store and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProducedKind::Package => "package",
            ProducedKind::Image => "image",
            ProducedKind::PushedImage => "pushed-image",
            ProducedKind::PythonFile => "python-file",
            ProducedKind::Artifact => "artifact",
            ProducedKind::Evidence => "evidence",
        }
    }

    /// Parses [`ProducedKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "package" => ProducedKind::Package,
            "image" => ProducedKind::Image,
            "pushed-image" => ProducedKind::PushedImage,
            "evidence" => ProducedKind::Evidence,
            "python-file" => ProducedKind::PythonFile,
            "artifact" => ProducedKind::Artifact,
            _ => return None,
        })
    }
}

/// A release artifact a built-in step produced: recorded with the run, and the input of
/// a release record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produced {
    /// What it is.
    pub kind: ProducedKind,
    /// A workspace-relative path (package), an image reference with its tag (image), or
    /// the file name and index URL (Python file).
    pub name: String,
    /// `sha256:<hex>`: of the file, or the image manifest.
    pub digest: String,
    /// Size in bytes, when meaningful.
    pub size: Option<u64>,
}

/// A yes/no parameter of a built-in step: written in the file, or an expression rendered
/// when the step runs (to `true` or `false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Switch {
    /// `true` or `false` in the file.
    Fixed(bool),
    /// A template; after rendering, on when it reads `true`.
    When(String),
}

impl Default for Switch {
    fn default() -> Switch {
        Switch::Fixed(false)
    }
}

impl Switch {
    /// Whether it is on (an unrendered or non-`true` expression is off).
    pub fn is_on(&self) -> bool {
        match self {
            Switch::Fixed(b) => *b,
            Switch::When(s) => s.trim() == "true",
        }
    }
}
