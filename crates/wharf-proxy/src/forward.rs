//! The data plane: one request in, routed by its `Host`, forwarded to the release the
//! table picks over that target's keep-alive pool, the answer streamed back with
//! `X-Release`. Bodies stream both ways; nothing is buffered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::Shared;
use crate::table::Pick;
use crate::target::{InFlight, Target};

static X_RELEASE: HeaderName = HeaderName::from_static("x-release");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_WHARF_PREVIEW: HeaderName = HeaderName::from_static("x-wharf-preview");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const VIA: HeaderValue = HeaderValue::from_static("1.1 wharf");
const HTTP: HeaderValue = HeaderValue::from_static("http");

/// Answers one request of the data plane.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let table = shared.table();
    let host = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    let Some((route, preview_host)) = table.route(host) else {
        shared.metrics.unrouted();
        let host = host.unwrap_or("").to_string();
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!(
                "wharf proxy: no service answers for host {host:?} and there is no default service\n"
            ),
        ));
    };
    let preview = preview_host
        || req
            .headers()
            .get(&X_WHARF_PREVIEW)
            .is_some_and(|v| v == "1");
    let target = match route.pick(req.headers(), preview) {
        Pick::Target(t) => Arc::clone(t),
        Pick::Nothing => {
            shared.metrics.unrouted();
            let what = if preview {
                "no preview release"
            } else {
                "no release deployed yet"
            };
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("wharf proxy: service {} has {what}\n", route.service),
            ));
        }
    };
    drop(table);
    Ok(forward(target, peer, req).await)
}

/// Forwards `req` to `target`.
async fn forward(
    target: Arc<Target>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let guard = target.begin();
    let (mut parts, body) = req.into_parts();
    remove_hop_headers(&mut parts.headers);
    let h = &mut parts.headers;
    let client_ip = peer.ip().to_string();
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client_ip}"),
        None => client_ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
    h.insert(X_FORWARDED_PROTO.clone(), HTTP);
    if let Some(host) = h.get(header::HOST).cloned() {
        h.insert(X_FORWARDED_HOST.clone(), host);
    }
    h.append(header::VIA, VIA);
    let mut uri = Uri::builder()
        .scheme("http")
        .authority(target.authority.clone());
    if let Some(pq) = parts.uri.path_and_query() {
        uri = uri.path_and_query(pq.clone());
    } else {
        uri = uri.path_and_query("/");
    }
    parts.uri = match uri.build() {
        Ok(u) => u,
        Err(e) => {
            return failed(
                &guard,
                StatusCode::BAD_REQUEST,
                format!("wharf proxy: bad request target: {e}\n"),
            );
        }
    };
    parts.version = Version::HTTP_11;
    let sent = target.client().request(Request::from_parts(parts, body));
    let answer = tokio::select! {
        r = sent => r,
        () = target.cancel.cancelled() => {
            return failed(&guard, StatusCode::BAD_GATEWAY, format!(
                "wharf proxy: release {} was drained before it answered\n", target.spec.release));
        }
    };
    match answer {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            remove_hop_headers(&mut parts.headers);
            if !parts.headers.contains_key(&X_RELEASE) {
                parts
                    .headers
                    .insert(X_RELEASE.clone(), target.release_header.clone());
            }
            target.metrics.answered(parts.status.as_u16());
            Response::from_parts(
                parts,
                ProxyBody::Upstream {
                    inner: body,
                    cancelled: None,
                    guard,
                },
            )
        }
        Err(e) => {
            let mut msg = format!(
                "wharf proxy: release {} at {} failed: {e}",
                target.spec.release, target.spec.addr
            );
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg.push('\n');
            failed(&guard, StatusCode::BAD_GATEWAY, msg)
        }
    }
}

/// The proxy's own answer on behalf of the target of `guard`.
fn failed(guard: &InFlight, status: StatusCode, body: String) -> Response<ProxyBody> {
    let t = guard.target();
    t.metrics.answered(status.as_u16());
    let mut r = text(status, body);
    r.headers_mut()
        .insert(X_RELEASE.clone(), t.release_header.clone());
    r
}

/// A plain-text answer of the proxy itself.
pub(crate) fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::Full(Some(Bytes::from(body))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Removes the headers that concern one connection only (RFC 9110 §7.6.1), including
/// those `Connection` names.
fn remove_hop_headers(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        &header::CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
    ] {
        h.remove(n);
    }
}

const DRAINED: &str = "the release was drained before its answer ended";

/// A response body: the upstream's, streamed and counted in flight until it ends (and
/// cut when its target's drain runs out of time), or the proxy's own.
pub(crate) enum ProxyBody {
    /// The proxy's own answer.
    Full(Option<Bytes>),
    /// The upstream's answer.
    Upstream {
        inner: Incoming,
        /// Made on the first wait for data: most bodies are complete with their headers,
        /// and they never pay for it.
        cancelled: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        guard: InFlight,
    },
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Upstream {
                inner,
                cancelled,
                guard,
            } => {
                let token = &guard.target().cancel;
                if token.is_cancelled() {
                    return Poll::Ready(Some(Err(DRAINED.into())));
                }
                match Pin::new(inner).poll_frame(cx) {
                    Poll::Pending => {
                        let wait = cancelled
                            .get_or_insert_with(|| Box::pin(token.clone().cancelled_owned()));
                        if wait.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Some(Err(DRAINED.into())));
                        }
                        Poll::Pending
                    }
                    ready => ready.map(|f| f.map(|r| r.map_err(Into::into))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Upstream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Upstream { inner, .. } => inner.size_hint(),
        }
    }
}
