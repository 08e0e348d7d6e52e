//! Building and pushing images: one path for the `build-image` step and `wharf image
//! build`, on top of wharf-oci (the daemonless builder, Dockerfile builds through an
//! engine, and the registry client).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use wharf_model::{BuildImageStep, Produced, ProducedKind};
use wharf_oci::build::{Base, BuildEvent, BuildRequest, Compression, ImageConfig, LayerSpec};
use wharf_secrets::secret::SecretString;

/// Where and for what an image is built.
pub struct ImageContext<'a> {
    /// Relative paths in the step start here.
    pub cwd: &'a Path,
    /// The project root.
    pub workspace: &'a Path,
    /// The `.wharf` directory (caches, layouts).
    pub wharf_dir: &'a Path,
    /// Names the default layout directory (`.wharf/images/NAME`).
    pub name: &'a str,
    /// The release version, for labels and the default tag.
    pub version: Option<String>,
    /// The commit, for labels and the default tag.
    pub sha: Option<String>,
    /// The image's `created` time, seconds since the epoch (SOURCE_DATE_EPOCH or the
    /// commit time).
    pub created: i64,
    /// The mtime of every file in new layers: SOURCE_DATE_EPOCH when set, else 0. Not the
    /// commit time: that would change every layer on every commit, and a one-file change
    /// could no longer rebuild and upload only its own small layer.
    pub mtime: i64,
    /// The registry password or token, when `username`/`password` are set.
    pub password: Option<SecretString>,
    /// Where to write the layout, overriding the step (the command line's `--output`).
    pub output: Option<PathBuf>,
    /// Paths must stay inside the workspace (pipeline steps); the command line may name
    /// any path.
    pub confined: bool,
}

/// Builds the image the step describes, pushes it when asked, and says what it did.
pub async fn build_image(
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<Produced>, String> {
    let refs = references(step, cx)?;
    if step.push.is_on() && refs.is_empty() {
        return Err("nothing to push to: give `image:` or full references in `tags:`".into());
    }
    // A tag that rendered empty (`${{ version }}` outside a tag run): pushing the others
    // alone would move `latest` to a build no version names. Built, not pushed.
    let empty: Vec<usize> = step
        .tags
        .iter()
        .enumerate()
        .filter(|(_, t)| t.trim().is_empty())
        .map(|(i, _)| i + 1)
        .collect();
    let mut step = std::borrow::Cow::Borrowed(step);
    if step.push.is_on() && !empty.is_empty() {
        let others: Vec<&str> = step
            .tags
            .iter()
            .map(String::as_str)
            .filter(|t| !t.trim().is_empty())
            .collect();
        say(format!(
            "warning: not pushed: `tags:` entry {} is empty in this run (a `${{{{ version }}}}` \
             outside a tag run?), and pushing {} alone would move {} to a build no version \
             names; push from tag runs only with `push: ${{{{ event == 'tag' }}}}`",
            empty
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if others.is_empty() {
                "nothing".to_string()
            } else {
                others.join(", ")
            },
            if others.len() == 1 { "it" } else { "them" },
        ));
        let mut owned = step.into_owned();
        owned.push = wharf_model::Switch::Fixed(false);
        step = std::borrow::Cow::Owned(owned);
    }
    let step: &BuildImageStep = &step;
    let output = match (&cx.output, &step.output) {
        (Some(o), _) => o.clone(),
        (None, Some(o)) => inside(cx, "output", o)?,
        (None, None) => cx.wharf_dir.join("images").join(cx.name),
    };
    let tag = layout_tag(cx);
    let labels = labels(step, cx);
    // Prepared before the build, so that bad references fail at once and new layers can
    // go up while the others are built.
    let pusher = step
        .push
        .is_on()
        .then(|| {
            crate::push::pusher(
                &output,
                &refs,
                &step.insecure,
                step.username.as_deref(),
                cx.password.clone(),
            )
        })
        .transpose()?;
    let manifest = if let Some(dockerfile) = &step.dockerfile {
        let context = match &step.context {
            Some(c) => inside(cx, "context", c)?,
            None => cx.cwd.to_path_buf(),
        };
        let mut req = wharf_oci::docker::DockerBuildRequest::new(context, &output, &tag);
        req.dockerfile = PathBuf::from(dockerfile);
        req.build_args = step.build_args.clone();
        req.labels = labels;
        let built = wharf_oci::docker::docker_build(&req, |line| say(line.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        built.manifest.digest().to_string()
    } else {
        let (base, base_name) = base(step, cx, say).await?;
        let mut req = BuildRequest::new(&output, &tag);
        req.base = base;
        req.base_name = base_name;
        req.layers = step
            .layers
            .iter()
            .map(|l| {
                Ok(LayerSpec {
                    src: inside(cx, "layers.src", &l.src)?,
                    dest: l.dest.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        req.config = ImageConfig {
            entrypoint: step.entrypoint.clone(),
            cmd: step.cmd.clone(),
            env: step
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            workdir: step.workdir.clone(),
            user: step.user.clone(),
            exposed_ports: step.ports.clone(),
            labels,
        };
        req.created = cx.created;
        req.mtime = Some(cx.mtime);
        req.compression = match step.compression.as_deref() {
            Some("zstd") => Compression::Zstd,
            _ => Compression::Gzip,
        };
        req.cache_dir = Some(cx.wharf_dir.join("cache").join("oci"));
        // With a push, each new sub-layer is sent to the registry as soon as it is built,
        // while the others are still being compressed; the push below then only checks,
        // mounts or uploads what is left, and writes the manifests. An upload that fails
        // (a stalled registry, say) fails the step at once: the other uploads are
        // dropped and the build stops before its next sub-layer.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BuildMessage>();
        let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress = BuildProgress {
            tx,
            cancel: cancel.clone(),
        };
        let handle = tokio::task::spawn_blocking(move || wharf_oci::build::build(&req, &progress));
        let mut early = futures_util::stream::FuturesUnordered::new();
        let failed = loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(BuildMessage::Line(line)) => say(line),
                    Some(BuildMessage::Blob(digest, size)) => {
                        if let Some(p) = &pusher {
                            early.push(p.blob(digest, size));
                        }
                    }
                    None => break None,
                },
                Some(result) = early.next(), if !early.is_empty() => {
                    if let Err(e) = result {
                        break Some(e);
                    }
                }
                Some(line) = next_note(pusher.as_ref()) => say(line),
            }
        };
        if let Some(e) = failed {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(e.to_string());
        }
        let built = handle
            .await
            .map_err(|e| format!("the build task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        loop {
            tokio::select! {
                result = early.next() => match result {
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(())) => {}
                    None => break,
                },
                Some(line) = next_note(pusher.as_ref()) => say(line),
            }
        }
        built.manifest_digest.to_string()
    };
    let shown = output
        .strip_prefix(cx.workspace)
        .unwrap_or(&output)
        .display()
        .to_string();
    let mut produced = vec![Produced {
        kind: ProducedKind::Image,
        name: format!("{shown}:{tag}"),
        digest: manifest.clone(),
        size: None,
    }];
    say(format!(
        "built {manifest} into {} (tag {tag})",
        output.display()
    ));
    if let Some(p) = &pusher {
        for (reference, digest) in crate::push::finish(p, Some(&tag), say).await? {
            produced.push(Produced {
                kind: ProducedKind::PushedImage,
                name: reference,
                digest,
                size: None,
            });
        }
    }
    Ok(produced)
}

/// The next retry line of `pusher`; never, without one.
async fn next_note(pusher: Option<&wharf_oci::registry::Pusher>) -> Option<String> {
    match pusher {
        Some(p) => p.next_note().await,
        None => std::future::pending().await,
    }
}

/// The build's progress, sent to the step; it tells the build to stop when the step gave
/// up on it.
struct BuildProgress {
    tx: tokio::sync::mpsc::UnboundedSender<BuildMessage>,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl wharf_oci::build::Progress for BuildProgress {
    fn event(&self, e: BuildEvent<'_>) {
        if let BuildEvent::Part {
            digest,
            size,
            reused: false,
            ..
        } = e
        {
            let _ = self.tx.send(BuildMessage::Blob(digest.clone(), size));
        }
        let _ = self.tx.send(BuildMessage::Line(build_line(e)));
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What the build thread tells the step.
enum BuildMessage {
    /// A progress line.
    Line(String),
    /// A new sub-layer's blob is in the layout (digest, size).
    Blob(wharf_oci::Digest, u64),
}

/// The progress line for a build event.
fn build_line(e: BuildEvent<'_>) -> String {
    match e {
        BuildEvent::BaseReady { layers } => format!("base: {layers} layer(s)"),
        BuildEvent::Scanned {
            spec,
            entries,
            bytes,
            parts,
        } => format!(
            "layer {}: {entries} entries, {bytes} bytes, {parts} part(s)",
            spec + 1
        ),
        BuildEvent::Part {
            spec,
            part,
            digest,
            size,
            reused,
        } => format!(
            "layer {}.{}: {} ({size} bytes){}",
            spec + 1,
            part + 1,
            digest,
            if reused { ", unchanged" } else { "" }
        ),
        BuildEvent::Finished { manifest } => format!("manifest {manifest}"),
    }
}

/// The references to push to: full references as given, bare tags under `image:`, and by
/// default the version, `latest` and the short sha.
pub fn references(step: &BuildImageStep, cx: &ImageContext<'_>) -> Result<Vec<String>, String> {
    let mut tags = step.tags.clone();
    if tags.is_empty() {
        if step.image.is_none() {
            return Ok(Vec::new());
        }
        tags.extend(cx.version.clone());
        tags.push("latest".into());
        tags.extend(
            cx.sha
                .as_deref()
                .filter(|s| s.len() >= 7)
                .map(|s| s[..7].to_string()),
        );
    }
    tags.into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.contains('/') {
                Ok(t)
            } else {
                match &step.image {
                    Some(image) => Ok(format!("{image}:{t}")),
                    None => Err(format!(
                        "tag `{t}` needs `image:` (or write a full reference)"
                    )),
                }
            }
        })
        .collect()
}

/// The tag of the image in its layout: the version, else the short sha, else `latest`.
fn layout_tag(cx: &ImageContext<'_>) -> String {
    cx.version
        .clone()
        .or_else(|| {
            cx.sha
                .as_deref()
                .filter(|s| s.len() >= 7)
                .map(|s| s[..7].to_string())
        })
        .unwrap_or_else(|| "latest".into())
}

/// The step's labels plus the `org.opencontainers.image.*` ones wharf knows.
fn labels(step: &BuildImageStep, cx: &ImageContext<'_>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Some(sha) = &cx.sha {
        labels.insert("org.opencontainers.image.revision".to_string(), sha.clone());
    }
    if let Some(v) = &cx.version {
        labels.insert("org.opencontainers.image.version".to_string(), v.clone());
    }
    if let Some(source) = source_url(cx.workspace) {
        labels.insert("org.opencontainers.image.source".to_string(), source);
    }
    if let Some(created) = chrono::DateTime::from_timestamp(cx.created, 0) {
        labels.insert(
            "org.opencontainers.image.created".to_string(),
            created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    }
    labels.extend(step.labels.clone());
    labels
}

/// The `origin` remote as an https URL without credentials, when it is one.
fn source_url(workspace: &Path) -> Option<String> {
    let origin = wharf_release::Repo::open(workspace).ok()?.origin_url()?;
    let (host, owner, repo) = wharf_release::parse_remote(&origin)?;
    Some(format!("https://{host}/{owner}/{repo}"))
}

/// The base as the builder takes it: scratch, a layout, or a registry image pulled into
/// the base cache (then also its reference, for the `base.name` annotation).
async fn base(
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<(Base, Option<String>), String> {
    let from = step.from.as_deref().unwrap_or("scratch");
    if from == "scratch" {
        return Ok((Base::Scratch, None));
    }
    if let Some(rest) = from.strip_prefix("oci-layout:") {
        let (path, tag) = wharf_oci::layout::split_layout_ref(rest, cx.cwd);
        let rel = path.strip_prefix(cx.cwd).unwrap_or(&path);
        return Ok((
            Base::Layout {
                path: inside(cx, "from", &rel.to_string_lossy())?,
                tag,
            },
            None,
        ));
    }
    let cache = cx.wharf_dir.join("cache").join("bases");
    let tag = crate::push::pull(from, &cache, step, cx, say).await?;
    Ok((
        Base::Layout {
            path: cache,
            tag: Some(tag),
        },
        Some(from.to_string()),
    ))
}

/// `rel` under `cwd`, refusing absolute paths and `..`.
fn inside(cx: &ImageContext<'_>, key: &str, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if !cx.confined {
        return Ok(cx.cwd.join(p));
    }
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "`{key}: {rel}` must be a path inside the workspace (no leading `/`, no `..`)"
        ));
    }
    Ok(cx.cwd.join(p))
}
