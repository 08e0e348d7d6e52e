//! A run's files: each step's log (by byte range, as GitLab serves traces) and the
//! artifacts it stored (listed, and downloaded from the content-addressed store by the
//! path the run recorded: a path is looked up, never joined onto the file system).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use wharf_model::ArtifactRecord;

use super::runs::record;
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::paths;
use crate::tokens::Role;

/// `GET …/runs/{run}/jobs/{job}/steps/{step}/log`: the step's log; `Range: bytes=A-B`
/// (or `A-`, or `-N`) gives that part with 206.
pub(super) async fn log(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run, job, step)): Path<(String, u64, String, usize)>,
) -> Result<Response> {
    crate::ui::session::allow_read(&s, &headers, Role::Viewer).await?;
    let rec = record(&s, &project, run).await?;
    let j = rec
        .jobs
        .iter()
        .find(|j| j.id == job)
        .ok_or_else(|| Error::NotFound(format!("run #{run} has no job `{job}`")))?;
    let st = j
        .steps
        .iter()
        .find(|st| st.index == step)
        .ok_or_else(|| Error::NotFound(format!("job `{job}` has no step {step}")))?;
    let state = paths::state(&s.config.data_dir, &project);
    let Some(rel) = &st.log else {
        return Ok(bytes_response(
            StatusCode::OK,
            Vec::new(),
            None,
            "text/plain; charset=utf-8",
        ));
    };
    let path = state.join(rel);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        // A step that printed nothing has no log file.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(bytes_response(
                StatusCode::OK,
                Vec::new(),
                None,
                "text/plain; charset=utf-8",
            ));
        }
        Err(e) => return Err(Error::io("read the log", &path)(e)),
    };
    let len = file
        .metadata()
        .await
        .map_err(Error::io("read the log", &path))?
        .len();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => match parse_range(r, len) {
            Some(r) => Some(r),
            None => {
                let mut resp = (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    axum::Json(serde_json::json!({ "error": format!("range `{r}` is not within the log's {len} bytes") })),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(resp);
            }
        },
    };
    let (start, end) = range.unwrap_or((0, len));
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(Error::io("read the log", &path))?;
    // Streamed: a log can be gigabytes.
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(end - start)));
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let content_range = range.map(|_| format!("bytes {start}-{}/{len}", end.saturating_sub(1)));
    let mut resp = bytes_response(status, body, content_range, "text/plain; charset=utf-8");
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}

/// One `bytes=` range of a `len`-byte file, as `[start, end)`; `None` when unsatisfiable.
fn parse_range(text: &str, len: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len)
        }
        (a, "") => (a.parse().ok()?, len),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(len),
        ),
    };
    (start < end || (start == 0 && len == 0)).then_some((start, end))
}

fn bytes_response(
    status: StatusCode,
    body: impl Into<Body>,
    range: Option<String>,
    kind: &'static str,
) -> Response {
    let mut resp = (status, body.into()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(r) = range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert(header::CONTENT_RANGE, r);
    }
    resp
}

/// `GET …/runs/{run}/artifacts`: what the run stored.
pub(super) async fn artifacts(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<axum::Json<Vec<ArtifactRecord>>> {
    crate::ui::session::allow_read(&s, &headers, Role::Viewer).await?;
    let rec = record(&s, &project, run).await?;
    Ok(axum::Json(
        rec.jobs.into_iter().flat_map(|j| j.artifacts).collect(),
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct Which {
    job: Option<String>,
}

/// `GET …/runs/{run}/artifacts/{path}`: one artifact's bytes (`?job=` when several jobs
/// stored the same path), checked against its recorded digest as it is read.
pub(super) async fn artifact(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run, path)): Path<(String, u64, String)>,
    Query(w): Query<Which>,
) -> Result<Response> {
    crate::ui::session::allow_read(&s, &headers, Role::Viewer).await?;
    let rec = record(&s, &project, run).await?;
    let a = rec
        .jobs
        .iter()
        .filter(|j| w.job.as_ref().is_none_or(|want| &j.id == want))
        .flat_map(|j| &j.artifacts)
        .find(|a| a.path == path)
        .ok_or_else(|| Error::NotFound(format!("run #{run} stored no artifact `{path}`")))?;
    let cas = wharf_store::ArtifactStore::new(&paths::state(&s.config.data_dir, &project));
    let object = cas
        .object_path(&a.sha256)
        .map_err(|e| Error::NotFound(format!("artifact `{path}`: {e}")))?;
    let file = tokio::fs::File::open(&object)
        .await
        .map_err(|_| Error::NotFound(format!("artifact `{path}` is gone from the store")))?;
    let stream = tokio_util::io::ReaderStream::new(file);
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or("artifact")
        .replace(['"', '\\'], "_");
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&a.size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("sha256={}", a.sha256)) {
        h.insert("digest", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_single_and_within_the_file() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("lines=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-", 100), None);
    }
}
