//! Pushing an image from an OCI layout: blobs first, the manifest last.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::{Method, StatusCode, header};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use wharf_net::redact_url;

use super::session::ATTEMPTS;
use super::{Body, ClientOptions, Reference, Session, error_text};
use crate::inspect::manifest_blobs;
use crate::{Digest, Error, OciLayout, Result};

/// One reference pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `host/name:tag`.
    pub reference: String,
    /// The manifest digest the registry stored.
    pub digest: Digest,
}

/// What became of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobOutcome {
    /// The repository had it.
    Skipped,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Pushes the image tagged `tag` (or the only one) in `layout_dir` to every reference;
/// returns each with the manifest digest the registry stored. Progress goes to `say`.
pub async fn push(
    layout_dir: &Path,
    tag: Option<&str>,
    refs: &[Reference],
    options: &ClientOptions,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<Pushed>> {
    Pusher::new(layout_dir, refs, options)?
        .finish(tag, say)
        .await
}

/// A push in two halves, so that uploads can start while the image is still being built:
/// [`Pusher::blob`] sends one finished blob to every repository (as soon as the builder
/// has it), [`Pusher::finish`] brings whatever is still missing and then writes the
/// manifests. A blob sent early that the image does not use in the end is never named by
/// a tag; registries collect such blobs.
///
/// Retries are noted as they happen: [`Pusher::finish`] says them itself, a caller of
/// [`Pusher::blob`] takes them from [`Pusher::next_note`] meanwhile.
pub struct Pusher {
    layout_dir: PathBuf,
    refs: Vec<Reference>,
    /// The distinct repositories of `refs`, as `(host, name)`, in order.
    repos: Vec<(String, String)>,
    /// One session per registry host.
    sessions: Vec<(String, Session)>,
    /// `(host, name, digest)` known to be in a repository already.
    present: Mutex<HashSet<(String, String, Digest)>>,
    /// At most this many blob transfers at once, early ones and `finish`'s together.
    slots: Semaphore,
    /// The sessions' retry lines, as they happen.
    notes: tokio::sync::Mutex<UnboundedReceiver<String>>,
}

impl Pusher {
    /// Prepares a push of the layout at `layout_dir` to `refs` (no request is sent yet).
    pub fn new(layout_dir: &Path, refs: &[Reference], options: &ClientOptions) -> Result<Pusher> {
        let mut sessions: Vec<(String, Session)> = Vec::new();
        let mut repos: Vec<(String, String)> = Vec::new();
        let (notes_tx, notes) = unbounded_channel();
        for r in refs {
            if r.digest.is_some() {
                return Err(Error::Registry(format!(
                    "cannot push to `{r}`: a push names a tag, not a digest"
                )));
            }
            if !sessions.iter().any(|(h, _)| h == &r.host) {
                let session = Session::for_host(&r.host, options)?.with_notes(notes_tx.clone());
                sessions.push((r.host.clone(), session));
            }
            let repo = (r.host.clone(), r.name.clone());
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
        Ok(Pusher {
            layout_dir: layout_dir.to_owned(),
            refs: refs.to_vec(),
            repos,
            sessions,
            present: Mutex::new(HashSet::new()),
            slots: Semaphore::new(8),
            notes: tokio::sync::Mutex::new(notes),
        })
    }

    /// The next retry line of the push (waits for one: use it beside the uploads, as a
    /// `select!` branch).
    pub async fn next_note(&self) -> Option<String> {
        self.notes.lock().await.recv().await
    }

    /// The retry lines noted and not yet taken.
    fn drain_notes(notes: &mut UnboundedReceiver<String>, say: &mut (dyn FnMut(String) + Send)) {
        while let Ok(line) = notes.try_recv() {
            say(line);
        }
    }

    fn session(&self, host: &str) -> &Session {
        &self
            .sessions
            .iter()
            .find(|(h, _)| h == host)
            .expect("one session per host")
            .1
    }

    /// Sends blob `digest` of the layout to every repository that lacks it (no mounts: a
    /// new layer exists nowhere else). The upload is retried like any other (5xx, 429,
    /// broken connections); an error after that, or a stalled registry, is the push's
    /// error: the caller stops the build and the other uploads (dropping their futures)
    /// rather than wait for [`Pusher::finish`] to meet the same registry again.
    pub async fn blob(&self, digest: Digest, size: u64) -> Result<()> {
        let layout = OciLayout::open(&self.layout_dir)?;
        for (host, name) in &self.repos {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| Error::Registry("the push was closed".into()))?;
            let key = (host.clone(), name.clone(), digest.clone());
            if self.present.lock().expect("present lock").contains(&key) {
                continue;
            }
            let body = Body::File(layout.blob_path(&digest), size);
            push_blob(self.session(host), name, None, &body, &digest).await?;
            self.present.lock().expect("present lock").insert(key);
        }
        Ok(())
    }

    /// Brings every blob of the image tagged `tag` (or the only one) to every repository
    /// (a HEAD check first, a mount from the base's repository where possible), then
    /// writes the manifest for each reference.
    pub async fn finish(
        &self,
        tag: Option<&str>,
        say: &mut (dyn FnMut(String) + Send),
    ) -> Result<Vec<Pushed>> {
        let mut notes = self.notes.lock().await;
        let layout = OciLayout::open(&self.layout_dir)?;
        let desc = layout.resolve(tag)?;
        let manifest_digest = Digest::from_oci(desc.digest())?;
        let manifest_bytes = layout.read_blob(&manifest_digest)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Json {
                what: format!("the image manifest {manifest_digest}"),
                source: e,
            })?;
        let media_type = desc.media_type().to_string();
        let blobs = manifest_blobs(&manifest)?;
        // The base's repository, when the image was built on a pulled registry base.
        let base_repo = manifest
            .pointer("/annotations/org.opencontainers.image.base.name")
            .and_then(|v| v.as_str())
            .and_then(|n| Reference::parse(n).ok());

        let mut done_repos: Vec<&str> = Vec::new();
        for (host, name) in &self.repos {
            let session = self.session(host);
            // Mount from a repository of this registry that has the blobs: one pushed to
            // already in this push, else the base's.
            let mount_from = self
                .repos
                .iter()
                .find(|(h, n)| h == host && done_repos.contains(&n.as_str()))
                .map(|(_, n)| n.as_str())
                .or_else(|| {
                    base_repo
                        .as_ref()
                        .filter(|b| &b.host == host && &b.name != name)
                        .map(|b| b.name.as_str())
                });
            let started = Instant::now();
            // The registry accepted this manifest before only with every blob it names in
            // the repository: then there is nothing to check blob by blob.
            let url = format!("{}/v2/{name}/manifests/{manifest_digest}", session.base());
            let resp = session
                .send(
                    Method::HEAD,
                    &url,
                    &[push_scope(name)],
                    &Body::Empty,
                    &[(header::ACCEPT, media_type.clone())],
                    &format!("manifest {}", manifest_digest.short()),
                )
                .await;
            Self::drain_notes(&mut notes, say);
            let resp = resp?;
            if resp.status().is_success() {
                say(format!(
                    "{host}/{name}: has this image already ({:.2}s)",
                    started.elapsed().as_secs_f64()
                ));
                done_repos.push(name.as_str());
                continue;
            }
            let (mut uploaded, mut mounted, mut skipped, mut early) = (0, 0, 0, 0);
            let mut queue = blobs.iter();
            let mut running = FuturesUnordered::new();
            loop {
                while running.len() < 8 {
                    let Some((d, size)) = queue.next() else {
                        break;
                    };
                    let key = (host.clone(), name.clone(), d.clone());
                    if self.present.lock().expect("present lock").contains(&key) {
                        early += 1;
                        continue;
                    }
                    let layout = &layout;
                    running.push(async move {
                        let _slot = self.slots.acquire().await;
                        let body = Body::File(layout.blob_path(d), *size);
                        push_blob(session, name, mount_from, &body, d).await
                    });
                }
                // Retry lines are said while the uploads run; the first failure ends the
                // push, and returning drops (cancels) the other uploads.
                let outcome = tokio::select! {
                    Some(line) = notes.recv() => {
                        say(line);
                        continue;
                    }
                    outcome = running.next() => outcome,
                };
                match outcome {
                    Some(outcome) => match outcome {
                        Ok(BlobOutcome::Uploaded) => uploaded += 1,
                        Ok(BlobOutcome::Mounted) => mounted += 1,
                        Ok(BlobOutcome::Skipped) => skipped += 1,
                        Err(e) => {
                            Self::drain_notes(&mut notes, say);
                            return Err(e);
                        }
                    },
                    None => break,
                }
            }
            Self::drain_notes(&mut notes, say);
            let mount_note = match (mount_from, mounted) {
                (Some(from), n) if n > 0 => format!(", {n} mounted from {from}"),
                _ => String::new(),
            };
            let early_note = if early > 0 {
                format!(", {early} sent (or found there) while building")
            } else {
                String::new()
            };
            say(format!(
                "{host}/{name}: {uploaded} blob(s) uploaded{mount_note}{early_note}, {skipped} \
                 already there ({:.2}s)",
                started.elapsed().as_secs_f64()
            ));
            done_repos.push(name.as_str());
        }

        // The manifest last: every blob it names is in each repository now.
        let mut pushed = Vec::new();
        for r in &self.refs {
            let session = self.session(&r.host);
            let tag = r.tag.as_deref().unwrap_or("latest");
            let url = format!("{}/v2/{}/manifests/{tag}", session.base(), r.name);
            let resp = session
                .send(
                    Method::PUT,
                    &url,
                    &[push_scope(&r.name)],
                    &Body::Bytes(manifest_bytes.clone()),
                    &[(header::CONTENT_TYPE, media_type.clone())],
                    &format!("manifest {}/{}:{tag}", r.host, r.name),
                )
                .await;
            Self::drain_notes(&mut notes, say);
            let resp = resp?;
            session.check_auth(&resp)?;
            if resp.status() != StatusCode::CREATED {
                return Err(Error::Registry(format!(
                    "PUT {url}: {}",
                    error_text(resp).await
                )));
            }
            let stored = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(manifest_digest.as_str())
                .to_string();
            if stored != manifest_digest.as_str() {
                return Err(Error::Registry(format!(
                    "{url}: the registry stored {stored}, not {manifest_digest}"
                )));
            }
            let full = format!("{}/{}:{tag}", r.host, r.name);
            say(format!("pushed {full} {stored}"));
            pushed.push(Pushed {
                reference: full,
                digest: manifest_digest.clone(),
            });
        }
        Ok(pushed)
    }
}

/// Upload sessions tried for one blob before the push fails.
const UPLOAD_SESSIONS: u32 = ATTEMPTS;

pub(crate) fn push_scope(name: &str) -> String {
    format!("repository:{name}:pull,push")
}

/// Brings blob `digest` (`body`: a file of a layout, or bytes) into repository `name`:
/// nothing when it is there, a mount from `mount_from` when that repository has it, else
/// an upload.
pub(crate) async fn push_blob(
    session: &Session,
    name: &str,
    mount_from: Option<&str>,
    body: &Body,
    digest: &Digest,
) -> Result<BlobOutcome> {
    let mut scopes = vec![push_scope(name)];
    if let Some(from) = mount_from {
        scopes.push(format!("repository:{from}:pull"));
    }
    let subject = format!("blob {}", digest.short());
    let head = format!("{}/v2/{name}/blobs/{digest}", session.base());
    let resp = session
        .send(Method::HEAD, &head, &scopes, &Body::Empty, &[], &subject)
        .await?;
    if resp.status().is_success() {
        return Ok(BlobOutcome::Skipped);
    }
    session.check_auth(&resp)?;
    for attempt in 1..=UPLOAD_SESSIONS {
        // A mount either completes (201) or opens an ordinary upload session (202).
        let start = match mount_from {
            Some(from) if attempt == 1 => format!(
                "{}/v2/{name}/blobs/uploads/?mount={digest}&from={from}",
                session.base()
            ),
            _ => format!("{}/v2/{name}/blobs/uploads/", session.base()),
        };
        let resp = session
            .send(Method::POST, &start, &scopes, &Body::Empty, &[], &subject)
            .await?;
        session.check_auth(&resp)?;
        match resp.status() {
            StatusCode::CREATED if mount_from.is_some() && attempt == 1 => {
                return Ok(BlobOutcome::Mounted);
            }
            StatusCode::ACCEPTED => {}
            _ => {
                return Err(Error::Registry(format!(
                    "POST {}: {}",
                    redact_url(&start),
                    error_text(resp).await
                )));
            }
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry("the registry gave no upload location".into()))?;
        let mut url = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", session.base())
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let resp = session
            .send_once(
                Method::PUT,
                &url,
                &scopes,
                body,
                &[(header::CONTENT_TYPE, "application/octet-stream".to_string())],
                &subject,
            )
            .await;
        // A failed monolithic upload cannot be resumed (the registry may have dropped the
        // session: 404): start a new session after a pause. A stalled registry is not
        // retried: it had the whole idle limit to move.
        let reason = match resp {
            Ok(r) if r.status() == StatusCode::CREATED => return Ok(BlobOutcome::Uploaded),
            Ok(r)
                if attempt < UPLOAD_SESSIONS
                    && (r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS
                        || r.status() == StatusCode::NOT_FOUND) =>
            {
                r.status().as_str().to_string()
            }
            Ok(r) => {
                session.check_auth(&r)?;
                return Err(Error::Registry(format!(
                    "uploading {digest} to {}/{name}: {}",
                    session.host(),
                    error_text(r).await
                )));
            }
            Err(Error::Net(e)) if attempt < UPLOAD_SESSIONS && e.retry_reason().is_some() => {
                e.retry_reason().unwrap_or_default().to_string()
            }
            Err(e) => return Err(e),
        };
        session.note_retry(&subject, attempt + 1, UPLOAD_SESSIONS, &reason);
        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
    }
    Err(Error::Registry(format!(
        "uploading {digest}: the registry kept failing"
    )))
}
