//! Built-in steps as written (`package:`, `build-image:`, `publish-python:`) and their
//! validation into the plan's [`Builtin`] values.
//!
//! Every string may hold `${{ … }}` templates over the whole run-time context (they are
//! data for wharf, never shell source), evaluated when the step starts. Parameters that
//! name secrets must name secrets the job declares, so a typo is caught before a run.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use wharf_model::{
    BuildImageStep, Builtin, ForgeStep, LayerSpec, LoadTestStep, LoadThresholds, PackageStep,
    PolicyStep, PublishPythonStep, ReleaseStep, Switch,
};

use crate::exprs::{Scalar as ExprScalar, Scope, Site, check_template};
use crate::file::EnvFile;
use crate::ordered_map::OrderedMap;
use crate::reporter::Reporter;
use crate::scalar::Scalar;

/// The keys that start a built-in step, for hints.
pub(crate) const BUILTIN_KEYS: [&str; 6] = [
    "package",
    "build-image",
    "publish-python",
    "release",
    "policy",
    "load-test",
];

/// `package:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    /// Files and directories to archive, relative to the working directory.
    #[schemars(with = "Vec<String>")]
    pub paths: Vec<Spanned<String>>,
    /// The package file to write, e.g. `dist/app-${{ version }}.tar.gz`.
    #[schemars(with = "String")]
    pub output: Spanned<String>,
}

/// One image layer: `{ src: dist/, dest: /app/ }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// A file or directory, relative to the working directory.
    #[schemars(with = "String")]
    pub src: Spanned<String>,
    /// Absolute destination path in the image.
    #[schemars(with = "String")]
    pub dest: Spanned<String>,
}

/// `build-image:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildImageFile {
    /// Base image: `scratch`, `oci-layout:PATH[:TAG]`, or a registry reference.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    /// Layers: files or directories and where they go in the image.
    #[serde(default)]
    pub layers: Vec<LayerFile>,
    /// Build this Dockerfile through the Docker Engine instead of the daemonless builder.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub dockerfile: Option<Spanned<String>>,
    /// Build context for `dockerfile` (default: the working directory).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub context: Option<Spanned<String>>,
    /// Dockerfile `ARG` values.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub build_args: EnvFile,
    /// The command the image runs.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub entrypoint: Option<Vec<Spanned<String>>>,
    /// Default arguments (or command).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub cmd: Option<Vec<Spanned<String>>>,
    /// Environment variables baked into the image.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub env: EnvFile,
    /// Working directory in the image.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub workdir: Option<Spanned<String>>,
    /// User the image runs as.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// Exposed ports: `8080` or `8080/tcp`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ports: Vec<Spanned<String>>,
    /// Image labels.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub labels: EnvFile,
    /// Image name without a tag, e.g. `127.0.0.1:5000/demo`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// Tags (`latest`) or full references; default: the version, `latest`, the short sha.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tags: Vec<Spanned<String>>,
    /// Push every tag after the build: `true`, `false`, or an expression
    /// (`push: ${{ event == 'tag' }}`).
    #[serde(default)]
    #[schemars(with = "Option<crate::scalar::BoolOrExpr>")]
    pub push: Option<Spanned<crate::scalar::Scalar>>,
    /// Registries reachable over plain HTTP besides loopback ones (host[:port]).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub insecure: Vec<Spanned<String>>,
    /// `gzip` (default) or `zstd`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub compression: Option<Spanned<String>>,
    /// Registry user name (with `password`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    /// Name of a secret the job declares, holding the registry password or token.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password: Option<Spanned<String>>,
    /// Where to write the OCI image layout (default `.wharf/images/<job>`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
}

/// `publish-python:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PublishPythonFile {
    /// Upload URL of the index, e.g. `https://upload.pypi.org/legacy/`.
    #[schemars(with = "String")]
    pub repository: Spanned<String>,
    /// A glob or a list of globs of wheels and sdists, e.g. `dist/*`.
    #[schemars(with = "Globs")]
    pub files: Spanned<Globs>,
    /// Name of a secret the job declares, holding an API token or password.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token: Option<Spanned<String>>,
    /// User name (default `__token__`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    /// The index's simple API, used to find files already published (default: derived
    /// from `repository`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub index_url: Option<Spanned<String>>,
}

/// `release:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFile {
    /// Insert the release notes at the top of this changelog, e.g. `CHANGELOG.md`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub changelog: Option<Spanned<String>>,
    /// A pre-release identifier for a planned version (`rc` gives `X.Y.Z-rc.N`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pre: Option<Spanned<String>>,
    /// Create the annotated tag `v<version>` when the run was not started by a tag
    /// (default true).
    #[serde(default)]
    pub tag: Option<bool>,
    /// Publish the release to GitHub, Gitea or Forgejo.
    #[serde(default)]
    #[schemars(with = "Option<ForgeFile>")]
    pub forge: Option<Spanned<ForgeFile>>,
    /// The registry user that signs the released images and attaches their SBOMs and
    /// provenance (with `password`); without both, docker's `config.json` is read.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    /// Name of a secret the job declares, holding that user's password or token.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password: Option<Spanned<String>>,
    /// Registries of the released images reached over plain HTTP besides loopback ones
    /// (host[:port]).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub insecure: Vec<Spanned<String>>,
}

/// `policy:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The policy file (default `wharf.policy.toml`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
    /// A glob or a list of globs of scanner reports (Trivy JSON, Grype JSON, SARIF 2.1.0,
    /// pip-audit JSON), e.g. `reports/*.json`.
    #[serde(default)]
    #[schemars(with = "Option<Globs>")]
    pub reports: Option<Spanned<Globs>>,
    /// A glob or a list of globs of wheels or virtual environments whose packages'
    /// licences the policy's `[licenses]` judges, e.g. `dist/*.whl`.
    #[serde(default)]
    #[schemars(with = "Option<Globs>")]
    pub licenses: Option<Spanned<Globs>>,
}

/// `load-test:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadTestFile {
    /// The `http://` URL to load; `${VAR}` takes a variable of the step's environment
    /// (e.g. a service's `${WHARF_SERVICE_APP_PORT}`).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// The method (default `GET`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// Request headers.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub headers: EnvFile,
    /// A request body.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// Connections: a closed loop, each sending its next request when the last answer
    /// came (default 10); with `rate`, the connections the rate is spread over.
    #[serde(default)]
    pub connections: Option<u32>,
    /// Requests per second in total: an open loop, latency counted from each request's
    /// intended send time.
    #[serde(default)]
    pub rate: Option<u32>,
    /// How long the measured load lasts (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
    /// Load sent before, not counted (default none).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub warm_up: Option<Spanned<String>>,
    /// Per request, connecting included (default `2s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// What fails the step.
    #[serde(default)]
    #[schemars(with = "Option<LoadThresholdsFile>")]
    pub thresholds: Option<Spanned<LoadThresholdsFile>>,
}

/// `load-test.thresholds:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadThresholdsFile {
    /// The median latency at most this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub p50: Option<Spanned<String>>,
    /// The 90th percentile at most this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub p90: Option<Spanned<String>>,
    /// The 99th percentile at most this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub p99: Option<Spanned<String>>,
    /// The 99.9th percentile at most this long.
    #[serde(default, rename = "p99.9")]
    #[schemars(with = "Option<String>")]
    pub p99_9: Option<Spanned<String>>,
    /// The slowest answer at most this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max: Option<Spanned<String>>,
    /// The share of failed requests (non-2xx/3xx, timeouts, connection errors) at most
    /// this fraction, e.g. `0.01`.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub error_rate: Option<Spanned<f64>>,
    /// At least this many requests per second.
    #[serde(default)]
    pub throughput: Option<u32>,
}

/// `release.forge:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgeFile {
    /// `github`, `gitea` or `forgejo`.
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// API base: default `https://api.github.com` for GitHub; the instance URL for Gitea/Forgejo.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// `owner/name` (default: from the `origin` remote).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub repository: Option<Spanned<String>>,
    /// Name of a secret the job declares, holding the API token.
    #[schemars(with = "String")]
    pub token: Spanned<String>,
    /// Globs of files to attach to the release.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub assets: Vec<Spanned<String>>,
    /// Create a draft release.
    #[serde(default)]
    pub draft: bool,
}

/// Checks a template-bearing string and returns its text.
fn text(r: &mut Reporter, scope: &Scope<'_>, s: &Spanned<String>) -> String {
    check_template(
        r,
        scope,
        ExprScalar {
            value: &s.value,
            location: &s.referenced,
        },
        Site::Env,
    );
    s.value.clone()
}

fn opt(r: &mut Reporter, scope: &Scope<'_>, s: &Option<Spanned<String>>) -> Option<String> {
    s.as_ref().map(|s| text(r, scope, s))
}

fn list(r: &mut Reporter, scope: &Scope<'_>, items: &[Spanned<String>]) -> Vec<String> {
    items.iter().map(|s| text(r, scope, s)).collect()
}

fn map(r: &mut Reporter, scope: &Scope<'_>, m: &EnvFile) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in &m.0 {
        check_template(
            r,
            scope,
            ExprScalar {
                value: &v.value.0,
                location: &v.referenced,
            },
            Site::Env,
        );
        out.insert(k.value.clone(), v.value.0.clone());
    }
    out
}

/// A parameter naming a secret: it must be one the job declares.
fn secret(
    r: &mut Reporter,
    scope: &Scope<'_>,
    key: &str,
    s: &Option<Spanned<String>>,
) -> Option<String> {
    let s = s.as_ref()?;
    if !scope.secrets.iter().any(|d| d == &s.value) {
        let job = scope.job.unwrap_or("?");
        let d = r
            .at(r.span(s), format!("`{key}: {}` names a secret job `{job}` does not declare", s.value))
            .with_label("not in the job's `secrets:`")
            .with_hint(format!("add `secrets: [{}]` to job `{job}`; `{key}` takes the secret's name, not its value", s.value));
        r.push(d);
    }
    Some(s.value.clone())
}

/// `package:` into the plan's form.
pub(crate) fn package(r: &mut Reporter, scope: &Scope<'_>, f: &Spanned<PackageFile>) -> Builtin {
    if f.value.paths.is_empty() {
        r.error(
            r.span(f),
            "`package:` has no paths",
            "add `paths: [dist/]` or similar",
        );
    }
    Builtin::Package(PackageStep {
        paths: list(r, scope, &f.value.paths),
        output: text(r, scope, &f.value.output),
    })
}

/// `build-image:` into the plan's form.
pub(crate) fn build_image(
    r: &mut Reporter,
    scope: &Scope<'_>,
    f: &Spanned<BuildImageFile>,
) -> Builtin {
    let b = &f.value;
    if let Some(df) = &b.dockerfile {
        if !b.layers.is_empty() || b.from.is_some() {
            let d = r
                .at(r.span(df), "`dockerfile:` cannot be combined with `from:` or `layers:`")
                .with_label("the Dockerfile names its own base and content")
                .with_hint("use either `dockerfile:` (built by a Docker Engine) or `from:` + `layers:` (daemonless)");
            r.push(d);
        }
    } else if b.layers.is_empty() && b.from.is_none() {
        r.error(
            r.span(f),
            "`build-image:` needs `layers:` (with an optional `from:`) or `dockerfile:`",
            "nothing to build",
        );
    }
    for l in &b.layers {
        if !l.dest.value.starts_with('/') && !l.dest.value.starts_with("${{") {
            r.error(
                r.span(&l.dest),
                format!("layer destination `{}` is not absolute", l.dest.value),
                "write it as `/app/` or similar",
            );
        }
    }
    if let Some(c) = &b.compression
        && !matches!(c.value.as_str(), "gzip" | "zstd")
    {
        r.error(
            r.span(c),
            format!("unknown compression `{}`", c.value),
            "use `gzip` (default) or `zstd`",
        );
    }
    let push = match &b.push {
        None => Switch::Fixed(false),
        Some(p) => match p.value.0.trim() {
            "true" => Switch::Fixed(true),
            "false" => Switch::Fixed(false),
            v if v.contains("${{") => {
                let as_text = Spanned::new(p.value.0.clone(), p.referenced, p.defined);
                Switch::When(text(r, scope, &as_text))
            }
            v => {
                r.error(
                    r.span(p),
                    format!("`push: {v}` is neither true, false nor an expression"),
                    "write `push: true`, or `push: ${{ event == 'tag' }}` to push from tag runs only",
                );
                Switch::Fixed(false)
            }
        },
    };
    if push != Switch::Fixed(false)
        && b.image.is_none()
        && !b.tags.iter().any(|t| t.value.contains('/'))
    {
        r.error(
            r.span(f),
            "`push:` needs an image name",
            "add `image: REGISTRY/NAME` or full references in `tags:`",
        );
    }
    if b.password.is_some() != b.username.is_some() {
        r.error(
            r.span(f),
            "`username:` and `password:` go together",
            "give both, or neither to use a docker config.json or anonymous access",
        );
    }
    for p in &b.ports {
        let (num, proto) = p.value.split_once('/').unwrap_or((&p.value, "tcp"));
        if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
            r.error(
                r.span(p),
                format!("invalid port `{}`", p.value),
                "write `8080` or `8080/tcp`",
            );
        }
    }
    let layers = b
        .layers
        .iter()
        .map(|l| LayerSpec {
            src: text(r, scope, &l.src),
            dest: text(r, scope, &l.dest),
        })
        .collect();
    Builtin::BuildImage(Box::new(BuildImageStep {
        from: opt(r, scope, &b.from),
        layers,
        dockerfile: opt(r, scope, &b.dockerfile),
        context: opt(r, scope, &b.context),
        build_args: map(r, scope, &b.build_args),
        entrypoint: b.entrypoint.as_ref().map(|v| list(r, scope, v)),
        cmd: b.cmd.as_ref().map(|v| list(r, scope, v)),
        env: map(r, scope, &b.env),
        workdir: opt(r, scope, &b.workdir),
        user: opt(r, scope, &b.user),
        ports: list(r, scope, &b.ports),
        labels: map(r, scope, &b.labels),
        image: opt(r, scope, &b.image),
        tags: list(r, scope, &b.tags),
        push,
        insecure: {
            for host in &b.insecure {
                if !is_loopback_host(&host.value) {
                    r.insecure(
                        wharf_policy::settings::PLAIN_HTTP_REGISTRY,
                        &host.value,
                        r.span(host),
                    );
                }
            }
            list(r, scope, &b.insecure)
        },
        compression: b.compression.as_ref().map(|c| c.value.clone()),
        username: opt(r, scope, &b.username),
        password: secret(r, scope, "password", &b.password),
        output: opt(r, scope, &b.output),
    }))
}

/// Whether a registry `host[:port]` is this machine, which wharf reaches over plain HTTP
/// anyway (so listing it under `insecure:` is not an insecure setting).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `publish-python:` into the plan's form.
pub(crate) fn publish_python(
    r: &mut Reporter,
    scope: &Scope<'_>,
    f: &Spanned<PublishPythonFile>,
) -> Builtin {
    let p = &f.value;
    if p.files.value.0.is_empty() {
        r.error(
            r.span(&p.files),
            "`publish-python:` has no files",
            "add `files: dist/*`",
        );
    }
    let files: Vec<Spanned<String>> = p
        .files
        .value
        .0
        .iter()
        .map(|g| Spanned {
            value: g.clone(),
            referenced: p.files.referenced,
            defined: p.files.defined,
        })
        .collect();
    Builtin::PublishPython(PublishPythonStep {
        repository: text(r, scope, &p.repository),
        files: list(r, scope, &files),
        token: secret(r, scope, "token", &p.token),
        username: opt(r, scope, &p.username),
        index_url: opt(r, scope, &p.index_url),
    })
}

/// `policy:` into the plan's form.
pub(crate) fn policy(r: &mut Reporter, scope: &Scope<'_>, f: &Spanned<PolicyFile>) -> Builtin {
    let p = &f.value;
    let globs = |g: &Option<Spanned<Globs>>| -> Vec<Spanned<String>> {
        g.as_ref()
            .map(|g| {
                g.value
                    .0
                    .iter()
                    .map(|s| Spanned {
                        value: s.clone(),
                        referenced: g.referenced,
                        defined: g.defined,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (reports, licenses) = (globs(&p.reports), globs(&p.licenses));
    if reports.is_empty() && licenses.is_empty() {
        r.error(
            r.span(f),
            "`policy:` has nothing to judge",
            "add `reports: reports/*.json` (your scanners' reports) and/or `licenses: dist/*.whl`",
        );
    }
    Builtin::Policy(PolicyStep {
        file: opt(r, scope, &p.file).unwrap_or_else(|| "wharf.policy.toml".to_string()),
        reports: list(r, scope, &reports),
        licenses: list(r, scope, &licenses),
        // Filled in by `load_project` with every insecure setting of the project.
        settings: Vec::new(),
    })
}

/// `load-test:` into the plan's form.
pub(crate) fn load_test(r: &mut Reporter, scope: &Scope<'_>, f: &Spanned<LoadTestFile>) -> Builtin {
    let headers = map(r, scope, &f.value.headers);
    Builtin::LoadTest(Box::new(load_test_spec(
        r,
        &|r, s| {
            text(r, scope, s);
        },
        headers,
        f,
    )))
}

/// A `load-test:` as written into the plan's form, its templates checked by `check` (a
/// step's expressions, or a deployment analysis's variables), with `headers` already
/// checked by the caller.
pub(crate) fn load_test_spec(
    r: &mut Reporter,
    check: &dyn Fn(&mut Reporter, &Spanned<String>),
    headers: BTreeMap<String, String>,
    f: &Spanned<LoadTestFile>,
) -> LoadTestStep {
    let l = &f.value;
    check(r, &l.url);
    let url = l.url.value.clone();
    if !url.starts_with("http://") && !url.contains("${{") {
        r.error(
            r.span(&l.url),
            format!("`load-test:` loads http:// URLs, not `{url}`"),
            "write `url: http://HOST:PORT/PATH` (https is not supported yet)",
        );
    }
    if l.connections == Some(0) || l.rate == Some(0) {
        r.error(
            r.span(f),
            "`connections` and `rate` must be at least 1",
            "leave them out for 10 connections in a closed loop",
        );
    }
    let dur = |r: &mut Reporter, d: &Option<Spanned<String>>| -> Option<String> {
        let d = d.as_ref()?;
        crate::validate::duration(r, d);
        Some(d.value.clone())
    };
    let t = l.thresholds.as_ref().map(|t| &t.value);
    if let Some(e) = t.and_then(|t| t.error_rate.as_ref())
        && !(0.0..=1.0).contains(&e.value)
    {
        r.error(
            r.span(e),
            format!("`error-rate: {}` is not a fraction", e.value),
            "write a share between 0 and 1, e.g. `0.01` for 1 %",
        );
    }
    let thresholds = match t {
        Some(t) => LoadThresholds {
            p50: dur(r, &t.p50),
            p90: dur(r, &t.p90),
            p99: dur(r, &t.p99),
            p99_9: dur(r, &t.p99_9),
            max: dur(r, &t.max),
            error_rate: t.error_rate.as_ref().map(|e| e.value.to_string()),
            throughput: t.throughput,
        },
        None => LoadThresholds::default(),
    };
    let checked = |r: &mut Reporter, s: &Option<Spanned<String>>| {
        s.as_ref().map(|s| {
            check(r, s);
            s.value.clone()
        })
    };
    let method = checked(r, &l.method);
    let body = checked(r, &l.body);
    LoadTestStep {
        url,
        method,
        headers,
        body,
        connections: l.connections,
        rate: l.rate,
        duration: dur(r, &l.duration),
        warm_up: dur(r, &l.warm_up),
        timeout: dur(r, &l.timeout),
        thresholds,
    }
}

/// One glob or a list of globs (`files: dist/*` or `files: [dist/*.whl, dist/*.tar.gz]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globs(pub Vec<String>);

impl<'de> Deserialize<'de> for Globs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Globs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a glob or a list of globs")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Globs, E> {
                Ok(Globs(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Globs, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Globs(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Globs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Globs".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A glob or a list of globs.",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
        })
    }
}

/// `release:` into the plan's form.
pub(crate) fn release(r: &mut Reporter, scope: &Scope<'_>, f: &Spanned<ReleaseFile>) -> Builtin {
    let p = &f.value;
    if let Some(pre) = &p.pre
        && (pre.value.is_empty()
            || !pre
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        r.error(
            r.span(pre),
            format!("invalid pre-release identifier `{}`", pre.value),
            "use letters, digits and `-`, e.g. `rc`",
        );
    }
    let forge = p.forge.as_ref().map(|f| {
        let v = &f.value;
        if !matches!(v.kind.value.as_str(), "github" | "gitea" | "forgejo") {
            r.error(
                r.span(&v.kind),
                format!("unknown forge `{}`", v.kind.value),
                "use `github`, `gitea` or `forgejo`",
            );
        }
        if matches!(v.kind.value.as_str(), "gitea" | "forgejo") && v.url.is_none() {
            r.error(
                r.span(f),
                format!("`forge: {{ kind: {} }}` needs `url:`", v.kind.value),
                "the instance's base URL, e.g. https://codeberg.org",
            );
        }
        if let Some(repo) = &v.repository
            && repo.value.split('/').filter(|s| !s.is_empty()).count() != 2
        {
            r.error(
                r.span(repo),
                format!("repository `{}` is not owner/name", repo.value),
                "write it as owner/name",
            );
        }
        Box::new(ForgeStep {
            kind: v.kind.value.clone(),
            url: opt(r, scope, &v.url),
            repository: opt(r, scope, &v.repository),
            token: secret(r, scope, "token", &Some(v.token.clone())).unwrap_or_default(),
            assets: list(r, scope, &v.assets),
            draft: v.draft,
        })
    });
    if p.username.is_some() != p.password.is_some() {
        let at = p
            .username
            .as_ref()
            .or(p.password.as_ref())
            .map(|s| r.span(s));
        if let Some(at) = at {
            r.error(
                at,
                "`release:` takes `username` and `password` together",
                "name both (`password` is a secret the job declares), or neither to use docker's config.json",
            );
        }
    }
    for host in &p.insecure {
        if !is_loopback_host(&host.value) {
            r.insecure(
                wharf_policy::settings::PLAIN_HTTP_REGISTRY,
                &host.value,
                r.span(host),
            );
        }
    }
    Builtin::Release(ReleaseStep {
        changelog: opt(r, scope, &p.changelog),
        pre: p.pre.as_ref().map(|s| s.value.clone()),
        tag: p.tag.unwrap_or(true),
        forge,
        username: opt(r, scope, &p.username),
        password: secret(r, scope, "password", &p.password),
        insecure: list(r, scope, &p.insecure),
    })
}
