//! The daemonless, reproducible image builder: files and directories on disk, an optional
//! base image in an OCI layout, and a config become a new image in an OCI layout, with no
//! engine, no root and no network.
//!
//! The same inputs always give the same manifest digest: tar entries are sorted and
//! normalised (modules `scan` and `layer`), every time comes from [`BuildRequest::created`],
//! and JSON documents are written with sorted keys (module `image`). Each layer spec is split
//! by a stable hash of the path into content sub-layers, so a one-file change rebuilds
//! and re-uploads one small blob; a fingerprint cache (module `cache`) skips tar and
//! compression for sub-layers whose inputs did not change, and the rest are compressed
//! on all cores at once. `docs/images.md` ("Building") is the user's view.
//!
//! The builder never prints: progress goes to the caller's [`Progress`].

mod base;
mod cache;
mod gzip;
mod image;
mod layer;
mod scan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use oci_spec::image::{Descriptor, MediaType};

use crate::{Digest, OciLayout, Result};

/// Input bytes per sub-layer the split aims for: small enough that a one-file change
/// re-uploads little, large enough that layer counts stay low.
pub const PART_TARGET_BYTES: u64 = 2 * 1024 * 1024;

/// The default cap on sub-layers per layer spec (a power of two); keeps images well under
/// the 127-layer limit of overlay filesystems even with a few specs and a base.
pub const DEFAULT_MAX_PARTS: u32 = 64;

/// The most layers a built image should have: overlay filesystems refuse more than 127,
/// and a little room is left for images built on top of this one.
pub const MAX_LAYERS: usize = 120;

/// Where the new image starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An empty image: only the new layers.
    Scratch,
    /// An image in an OCI image layout (a registry base is pulled into one first).
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// The image's tag in the layout; `None` when the layout holds one image.
        tag: Option<String>,
    },
}

impl std::str::FromStr for Base {
    type Err = crate::Error;

    /// `scratch`, or `oci:PATH[:TAG]` (the form skopeo and umoci use; a last `:` segment
    /// without `/` is the tag).
    fn from_str(s: &str) -> Result<Self> {
        if s == "scratch" {
            return Ok(Base::Scratch);
        }
        let rest = s.strip_prefix("oci:").ok_or_else(|| {
            crate::Error::Invalid(format!(
                "base `{s}` is not `scratch` or `oci:PATH[:TAG]`; hint: pull a registry \
                 image into a layout first"
            ))
        })?;
        Ok(match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') && !path.is_empty() => Base::Layout {
                path: path.into(),
                tag: (!tag.is_empty()).then(|| tag.to_owned()),
            },
            _ => Base::Layout {
                path: rest.into(),
                tag: None,
            },
        })
    }
}

/// Files to add: `src` (a directory or a file) lands at `dest` in the image.
///
/// A directory's contents go below `dest` (`{src: dist/, dest: /app/}` puts
/// `dist/index.html` at `/app/index.html`). A file goes to `dest`, or into it when `dest`
/// ends with `/`. A relative `src` is relative to the current directory (callers with a
/// build context join it first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// The file or directory on disk.
    pub src: PathBuf,
    /// The absolute destination path in the image.
    pub dest: String,
}

/// The image config fields the caller sets; unset fields keep the base image's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Replaces the entrypoint; like a Dockerfile `ENTRYPOINT`, it also clears the base's
    /// `cmd` unless `cmd` is given too.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the default arguments.
    pub cmd: Option<Vec<String>>,
    /// Environment variables, added to the base's (a name already there is replaced).
    pub env: Vec<(String, String)>,
    /// Replaces the working directory.
    pub workdir: Option<String>,
    /// Replaces the user (`user`, `uid`, `user:group`, ...).
    pub user: Option<String>,
    /// Ports to expose (`8080/tcp`, `53/udp`, `80`), added to the base's.
    pub exposed_ports: Vec<String>,
    /// Labels, added to the base's; `org.opencontainers.image.*` ones also become
    /// manifest annotations.
    pub labels: BTreeMap<String, String>,
}

/// The platform recorded in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The operating system, e.g. `linux`.
    pub os: String,
    /// The CPU architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// The CPU variant, e.g. `v8`, if any.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Linux on this machine's CPU, in OCI's spelling: what a base pulled from a
    /// multi-platform index is picked for.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }
}

/// How new layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar+gzip`, readable by every runtime.
    #[default]
    Gzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`: smaller and faster, but needs
    /// containerd >= 1.5 / Docker >= 23 / Podman to pull.
    Zstd,
}

impl Compression {
    /// The layer media type this compression produces.
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }
}

/// Everything a build needs; [`BuildRequest::new`] fills the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The starting image.
    pub base: Base,
    /// The layers to add, in order (each may become several sub-layers).
    pub layers: Vec<LayerSpec>,
    /// Config changes.
    pub config: ImageConfig,
    /// Seconds since the epoch for the config's `created` and the history entries, and
    /// for the tar entries unless `mtime` is set: pass `SOURCE_DATE_EPOCH` or the commit
    /// time.
    pub created: i64,
    /// Seconds since the epoch stamped on every new tar entry; `None` uses `created`.
    /// A fixed value (e.g. `0`) keeps the sub-layers of unchanged files identical from one
    /// commit to the next, so that only changed files are rebuilt and uploaded; with the
    /// commit time, every commit changes every layer.
    pub mtime: Option<i64>,
    /// The platform; `None` takes the base's, or linux/amd64 from scratch.
    pub platform: Option<Platform>,
    /// Layer compression.
    pub compression: Compression,
    /// The OCI layout to write (created when missing).
    pub output: PathBuf,
    /// The tag the image gets in `output`.
    pub tag: String,
    /// The build cache directory (the CLI uses `.wharf/cache/oci`); `None` compresses
    /// every sub-layer every time.
    pub cache_dir: Option<PathBuf>,
    /// The most sub-layers one layer spec is split into; rounded down to a power of two,
    /// `1` disables splitting. Lowered further when the specs and the base together
    /// would exceed [`MAX_LAYERS`] (each spec keeps at least one layer).
    pub max_parts: u32,
    /// The base's registry reference (`host/name:tag`), recorded as the
    /// `org.opencontainers.image.base.name` annotation; a push to the same registry
    /// mounts the base layers from that repository instead of uploading them.
    pub base_name: Option<String>,
}

impl BuildRequest {
    /// A request for a scratch image with no layers, created at the epoch, gzip, no cache.
    pub fn new(output: impl Into<PathBuf>, tag: impl Into<String>) -> Self {
        BuildRequest {
            base: Base::Scratch,
            layers: Vec::new(),
            config: ImageConfig::default(),
            created: 0,
            mtime: None,
            platform: None,
            compression: Compression::default(),
            output: output.into(),
            tag: tag.into(),
            cache_dir: None,
            max_parts: DEFAULT_MAX_PARTS,
            base_name: None,
        }
    }
}

/// Where a layer of the built image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOrigin {
    /// The base image's layer, copied or linked as it is.
    Base,
    /// Built (tar + compression) in this build.
    Built,
    /// Found in the build cache: its inputs had not changed.
    Reused,
}

/// One layer of the built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The descriptor in the manifest (media type, digest, size).
    pub descriptor: Descriptor,
    /// The sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Where it came from.
    pub origin: LayerOrigin,
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The manifest's digest (what `image@sha256:...` names).
    pub manifest_digest: Digest,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
    /// The config blob's digest (the image id).
    pub config_digest: Digest,
    /// Every layer, base layers first.
    pub layers: Vec<BuiltLayer>,
    /// Bytes of manifest, config and all layers: what a push to an empty registry sends.
    pub total_bytes: u64,
    /// Compressed bytes of the layers built (not reused) in this build.
    pub written_bytes: u64,
}

/// Something that happened during a build, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildEvent<'a> {
    /// The base image was read and its layers are in the output layout.
    BaseReady {
        /// How many layers the base has.
        layers: usize,
    },
    /// A layer spec's sources were read.
    Scanned {
        /// The spec's index in [`BuildRequest::layers`].
        spec: usize,
        /// Files, directories and symlinks found.
        entries: usize,
        /// Bytes of file content.
        bytes: u64,
        /// How many sub-layers it is split into.
        parts: usize,
    },
    /// A sub-layer is done (built or taken from the cache): its blob is in the output
    /// layout.
    Part {
        /// The spec's index in [`BuildRequest::layers`].
        spec: usize,
        /// The sub-layer's index within the spec.
        part: usize,
        /// The compressed blob's digest.
        digest: &'a Digest,
        /// The compressed blob's size.
        size: u64,
        /// Whether it came from the cache.
        reused: bool,
    },
    /// The manifest is written and tagged.
    Finished {
        /// The manifest's digest.
        manifest: &'a Digest,
    },
}

/// Receives [`BuildEvent`]s; called from worker threads, hence `Sync`.
pub trait Progress: Sync {
    /// Called once per event.
    fn event(&self, event: BuildEvent<'_>);

    /// Whether the caller gave up on the build (a push that runs beside it failed): no
    /// further sub-layer is started, and the build fails. Never, by default.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: BuildEvent<'_>) {}
}

impl<F: Fn(BuildEvent<'_>) + Sync> Progress for F {
    fn event(&self, event: BuildEvent<'_>) {
        self(event)
    }
}

/// One sub-layer to produce: which spec, which part, its entries and cache key.
struct PartJob<'a> {
    spec: usize,
    part: usize,
    entries: Vec<&'a scan::Entry>,
    bytes: u64,
    key: Option<String>,
}

/// Builds the image `req` describes into `req.output` under `req.tag`.
pub fn build(req: &BuildRequest, progress: &dyn Progress) -> Result<Built> {
    check_tag(&req.tag)?;
    let output = OciLayout::create(&req.output)?;
    let mtime = req.mtime.unwrap_or(req.created);
    let base = match &req.base {
        Base::Scratch => None,
        Base::Layout { path, tag } => {
            let platform = req.platform.clone().unwrap_or_default();
            Some(base::load(path, tag.as_deref(), &platform, &output)?)
        }
    };
    if let Some(b) = &base {
        progress.event(BuildEvent::BaseReady {
            layers: b.layers.len(),
        });
    }
    let cache = match &req.cache_dir {
        Some(dir) => Some(cache::Cache::open(dir)?),
        None => None,
    };

    let mut scans = Vec::with_capacity(req.layers.len());
    for spec in &req.layers {
        scans.push(scan::scan(spec)?);
    }
    // Keep the whole image under the 127-layer limit of overlay filesystems: the specs
    // share what the base leaves, and each gets at most `max_parts`.
    let base_layers = base.as_ref().map_or(0, |b| b.layers.len());
    let budget = MAX_LAYERS.saturating_sub(base_layers) / req.layers.len().max(1);
    let max_parts = req.max_parts.min(u32::try_from(budget).unwrap_or(u32::MAX));
    let mut jobs = Vec::new();
    for (i, entries) in scans.iter().enumerate() {
        let parts = scan::split(entries, max_parts);
        let total: u64 = parts.iter().map(|p| p.1).sum();
        progress.event(BuildEvent::Scanned {
            spec: i,
            entries: entries.len(),
            bytes: total,
            parts: parts.len(),
        });
        for (part, (entries, bytes)) in parts.into_iter().enumerate() {
            let key = cache
                .as_ref()
                .map(|_| cache::fingerprint(&entries, mtime, req.compression));
            jobs.push(PartJob {
                spec: i,
                part,
                entries,
                bytes,
                key,
            });
        }
    }

    let results = run_parts(req, &output, cache.as_ref(), &jobs, progress)?;

    let mut layers: Vec<BuiltLayer> = base.as_ref().map(|b| b.layers.clone()).unwrap_or_default();
    let mut history = Vec::new();
    let mut written_bytes = 0;
    for (job, (blob, reused)) in jobs.iter().zip(results) {
        if !reused {
            written_bytes += blob.size;
        }
        let descriptor = Descriptor::new(
            req.compression.media_type(),
            blob.size,
            blob.digest.to_oci(),
        );
        layers.push(BuiltLayer {
            descriptor,
            diff_id: blob.diff_id,
            origin: if reused {
                LayerOrigin::Reused
            } else {
                LayerOrigin::Built
            },
        });
        let parts = jobs.iter().filter(|j| j.spec == job.spec).count();
        let spec = &req.layers[job.spec];
        // The source path is left out: it differs between checkouts, the image must not.
        history.push(format!(
            "wharf build: COPY {} (part {}/{})",
            spec.dest,
            job.part + 1,
            parts
        ));
    }

    let written = image::write_image(req, &output, base.as_ref(), &layers, &history)?;
    output.set_tag(&req.tag, &written.manifest)?;
    let manifest_digest = Digest::from_oci(written.manifest.digest())?;
    progress.event(BuildEvent::Finished {
        manifest: &manifest_digest,
    });
    let total_bytes = written.manifest.size()
        + written.config_size
        + layers.iter().map(|l| l.descriptor.size()).sum::<u64>();
    Ok(Built {
        manifest_digest,
        manifest_size: written.manifest.size(),
        config_digest: written.config_digest,
        layers,
        total_bytes,
        written_bytes,
    })
}

/// Refuses what a registry would refuse later: tags are `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<()> {
    let ok = tag.len() <= 128
        && tag.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        })
        && !tag.is_empty();
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(format!(
            "invalid image tag `{tag}`: use letters, digits, `_`, `.` and `-` (not first), \
             at most 128"
        )))
    }
}

/// The event for a finished sub-layer.
fn part_event<'a>(job: &PartJob<'_>, blob: &'a layer::LayerBlob, reused: bool) -> BuildEvent<'a> {
    BuildEvent::Part {
        spec: job.spec,
        part: job.part,
        digest: &blob.digest,
        size: blob.size,
        reused,
    }
}

/// Produces every sub-layer, from the cache where possible, the rest on all cores; the
/// result is in job order, with whether each was reused.
fn run_parts(
    req: &BuildRequest,
    output: &OciLayout,
    cache: Option<&cache::Cache>,
    jobs: &[PartJob<'_>],
    progress: &dyn Progress,
) -> Result<Vec<(layer::LayerBlob, bool)>> {
    let mtime = req.mtime.unwrap_or(req.created);
    let mut results: Vec<Option<(layer::LayerBlob, bool)>> = Vec::with_capacity(jobs.len());
    let mut todo = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let hit = match (cache, &job.key) {
            (Some(cache), Some(key)) => cache.lookup(key, output)?,
            _ => None,
        };
        if let Some(blob) = &hit {
            progress.event(part_event(job, blob, true));
        } else {
            todo.push(i);
        }
        results.push(hit.map(|b| (b, true)));
    }
    // Largest first, so that one big part does not start last and leave cores idle; the
    // order only affects timing, never the output.
    todo.sort_by_key(|&i| std::cmp::Reverse(jobs[i].bytes));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(todo.len().max(1));
    let next = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Result<layer::LayerBlob>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if progress.cancelled() {
                        cancelled.store(true, Ordering::Relaxed);
                        break;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(n) else { break };
                    let job = &jobs[i];
                    let res = layer::write_layer(output, &job.entries, mtime, req.compression)
                        .and_then(|blob| {
                            if let (Some(cache), Some(key)) = (cache, &job.key) {
                                cache.store(key, &blob, output)?;
                            }
                            Ok(blob)
                        });
                    let failed = res.is_err();
                    if let Ok(blob) = &res {
                        progress.event(part_event(job, blob, false));
                    }
                    done.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, res));
                    if failed {
                        // Stop handing out work: the build fails anyway.
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if cancelled.into_inner() {
        return Err(crate::Error::Invalid("the build was cancelled".into()));
    }
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    // Report the first failing part in job order, so the error does not depend on timing.
    done.sort_by_key(|(i, _)| *i);
    for (i, res) in done {
        results[i] = Some((res?, false));
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| crate::Error::Invalid("a sub-layer was not built".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_references_parse() {
        assert_eq!("scratch".parse::<Base>().unwrap(), Base::Scratch);
        assert_eq!(
            "oci:/tmp/x:base".parse::<Base>().unwrap(),
            Base::Layout {
                path: "/tmp/x".into(),
                tag: Some("base".into())
            }
        );
        assert_eq!(
            "oci:rel/dir".parse::<Base>().unwrap(),
            Base::Layout {
                path: "rel/dir".into(),
                tag: None
            }
        );
        let err = "docker://busybox".parse::<Base>().unwrap_err().to_string();
        assert!(err.contains("oci:PATH[:TAG]"), "{err}");
    }

    #[test]
    fn tags_follow_the_distribution_grammar() {
        for good in ["v1", "latest", "1.2.3-rc.1", "_x"] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }
}
