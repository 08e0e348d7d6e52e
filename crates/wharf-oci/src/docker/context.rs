//! The build context, sent to the engine as a tar stream while it is being written: the
//! context is never held in memory nor staged on disk, however large it is.
//!
//! Entries are written in sorted order, owned by root (as the `docker` CLI does: the
//! builder's `COPY` gives root ownership anyway, and local user ids are nobody's business),
//! with their real modes and modification times. `.dockerignore` is applied
//! ([`super::ignore`]); the Dockerfile and `.dockerignore` themselves are always sent, as
//! the engine needs them even when a pattern matches them.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::Stream;
use tar::{EntryType, Header, HeaderMode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use walkdir::WalkDir;

use super::DockerError;
use super::ignore::DockerIgnore;
use crate::{Error, Result};

/// Size of the chunks handed to the HTTP body: big enough to keep syscalls few, small
/// enough that a few in flight cost nothing.
const CHUNK: usize = 256 * 1024;

/// Checks that the Dockerfile exists inside the context and returns its path in the
/// context tar (`/`-separated), which is what the engine's `dockerfile` parameter wants.
pub(crate) fn dockerfile_name(context: &Path, dockerfile: &Path) -> Result<String> {
    if !context.is_dir() {
        return Err(DockerError::MissingContext {
            path: context.to_owned(),
        }
        .into());
    }
    let mut parts = Vec::new();
    for c in dockerfile.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(DockerError::DockerfileOutsideContext {
                    path: dockerfile.to_owned(),
                }
                .into());
            }
        }
    }
    let full = context.join(dockerfile);
    if parts.is_empty() || !full.is_file() {
        return Err(DockerError::MissingDockerfile { path: full }.into());
    }
    Ok(parts.join("/"))
}

/// Starts writing the context tar on a blocking thread; returns the byte stream to send
/// and the writer's outcome. The writer stops quietly when the receiving side is
/// dropped (the engine gave up: its own error says why).
pub(crate) fn stream(
    context: PathBuf,
    dockerfile: String,
) -> (
    impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    JoinHandle<Result<()>>,
) {
    // Two chunks in flight: the upload never waits for the disk and memory stays bounded.
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
    let closed = Arc::new(AtomicBool::new(false));
    let writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK),
        closed: closed.clone(),
    };
    let task = tokio::task::spawn_blocking(move || {
        let result = write_context(&context, &dockerfile, writer);
        match result {
            Err(_) if closed.load(Ordering::Relaxed) => Ok(()),
            Err(e) => {
                // Fail the upload too, so the engine does not build a truncated context.
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (body, task)
}

/// Writes the context of `context` as a tar to `out`.
pub(crate) fn write_context(context: &Path, dockerfile: &str, out: impl Write) -> Result<()> {
    let ignore_path = context.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(text) => DockerIgnore::parse(&text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(Error::io("cannot read", ignore_path, e)),
    };
    let mut tar = tar::Builder::new(out);
    let mut sent_dockerfile = false;
    let mut sent_ignore = false;
    let mut walk = WalkDir::new(context)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(context).to_owned();
            Error::io("cannot read the build context at", path, e.into())
        })?;
        let rel = relative(context, entry.path());
        let always = rel == dockerfile || rel == ".dockerignore";
        if !always && ignore.excludes(&rel) {
            if entry.file_type().is_dir() && !ignore.has_exceptions() {
                walk.skip_current_dir();
            }
            continue;
        }
        sent_dockerfile |= rel == dockerfile;
        sent_ignore |= rel == ".dockerignore";
        append(&mut tar, entry.path(), &rel)?;
    }
    // Inside an excluded directory the walk never saw them.
    if !sent_dockerfile {
        append(&mut tar, &context.join(dockerfile), dockerfile)?;
    }
    if !sent_ignore && ignore_path.is_file() {
        append(&mut tar, &ignore_path, ".dockerignore")?;
    }
    let what = || context.to_owned();
    tar.into_inner()
        .and_then(|mut out| out.flush())
        .map_err(|e| Error::io("cannot send the build context", what(), e))
}

/// The context-relative path with `/` separators, as tar and `.dockerignore` want it.
fn relative(context: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(context).unwrap_or(path);
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &Path, name: &str) -> Result<()> {
    let send_err = |e| Error::io("cannot send the build context entry", path, e);
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(&meta, HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    let ft = meta.file_type();
    if ft.is_file() {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        // Take the size from the open file, and send exactly that many bytes: a file
        // growing meanwhile must not corrupt the archive.
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot read", path, e))?
            .len();
        header.set_size(len);
        let mut reader = Exact {
            inner: file.take(len),
            left: len,
        };
        tar.append_data(&mut header, name, &mut reader)
            .map_err(send_err)
    } else if ft.is_dir() {
        header.set_size(0);
        tar.append_data(&mut header, name, io::empty())
            .map_err(send_err)
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| Error::io("cannot read the link", path, e))?;
        header.set_entry_type(EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, name, target).map_err(send_err)
    } else {
        // Sockets, fifos and devices have no place in an image build.
        Ok(())
    }
}

/// A reader that fails if its file shrank under it, rather than writing a short entry.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left -= n as u64;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being sent",
            ));
        }
        Ok(n)
    }
}

/// Hands the tar to the async side in chunks; a closed channel means the engine has
/// stopped reading.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    closed: Arc<AtomicBool>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            self.closed.store(true, Ordering::Relaxed);
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the engine stopped reading the build context",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dockerignore_applies_but_never_to_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("build")).unwrap();
        fs::create_dir_all(root.join("target/debug")).unwrap();
        fs::write(root.join("build/app.Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(root.join("target/debug/big"), "x").unwrap();
        fs::write(root.join("keep.txt"), "keep").unwrap();
        fs::write(root.join("secret.env"), "TOKEN=1").unwrap();
        fs::write(
            root.join(".dockerignore"),
            "build\ntarget\n*.env\n.dockerignore\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("keep.txt", root.join("link")).unwrap();
        let mut out = Vec::new();
        write_context(root, "build/app.Dockerfile", &mut out).unwrap();
        assert_eq!(
            names(&out),
            [".dockerignore", "keep.txt", "link", "build/app.Dockerfile"]
        );
        let mut archive = tar::Archive::new(&out[..]);
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            assert_eq!(
                (entry.header().uid().unwrap(), entry.header().gid().unwrap()),
                (0, 0)
            );
            if entry.path().unwrap().ends_with("link") {
                assert_eq!(
                    entry.link_name().unwrap().unwrap().to_str(),
                    Some("keep.txt")
                );
            }
        }
    }

    #[test]
    fn the_dockerfile_must_be_a_file_inside_the_context() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(
            dockerfile_name(dir.path(), Path::new("./Dockerfile")).unwrap(),
            "Dockerfile"
        );
        let err = dockerfile_name(dir.path(), Path::new("docker/Dockerfile"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no Dockerfile at "), "{err}");
        let err = dockerfile_name(dir.path(), Path::new("../Dockerfile"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the build context"), "{err}");
        let err = dockerfile_name(&dir.path().join("nope"), Path::new("Dockerfile"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("build context"), "{err}");
    }
}
