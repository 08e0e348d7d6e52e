//! The control API (JSON over HTTP on the admin address): one exhaustive `match` over
//! method and path, errors mapped to statuses in one place ([`Error::status`]).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::api;
use crate::error::{Error, Result};

/// The largest body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// Answers one control request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let answer = match authorised(&shared, &req) {
        Ok(()) => route(&shared, req).await,
        Err(e) => Err(e),
    };
    Ok(match answer {
        Ok(Answer::Json(v)) => json(StatusCode::OK, &v),
        Ok(Answer::Text(t)) => {
            let mut r = Response::new(Full::new(Bytes::from(t)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => json(e.status(), &e.to_json()),
    })
}

enum Answer {
    Json(Value),
    Text(String),
}

fn json(status: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Whether the request carries the admin token (always, when none is set).
fn authorised(shared: &Shared, req: &Request<Incoming>) -> Result<()> {
    let Some(want) = &shared.admin_token else {
        return Ok(());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Comparing hashes: how long the comparison takes says nothing about the token.
    match given {
        Some(t) if Sha256::digest(t.trim().as_bytes())[..] == want[..] => Ok(()),
        _ => Err(Error::Unauthorized),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            Error::invalid(
                format!("cannot read the body (at most {MAX_BODY} bytes): {e}"),
                None,
            )
        })
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Result<Answer> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let body = read_body(req).await?;
    let s = shared;
    let v = match (&method, segs.as_slice()) {
        (&Method::GET, ["up"]) => serde_json::json!({"ok": true}),
        (&Method::GET, ["metrics"]) => return Ok(Answer::Text(s.metrics.encode())),
        (&Method::GET, ["services"]) => s.services().await,
        (&Method::GET, ["services", name]) => s.service(name).await?,
        (&Method::PUT, ["services", name]) => {
            s.put_service(name, api::service_spec(&body)?).await?
        }
        (&Method::DELETE, ["services", name]) => {
            api::empty(&body)?;
            s.delete_service(name).await?
        }
        (&Method::POST, ["services", name, "deploy"]) => {
            s.deploy(name, api::deploy(&body)?).await?
        }
        (&Method::POST, ["services", name, "canary"]) => {
            s.canary(name, api::canary(&body)?).await?
        }
        (&Method::PUT, ["services", name, "canary"]) => {
            s.set_weight(name, api::set_weight(&body)?).await?
        }
        (&Method::DELETE, ["services", name, "canary"]) => {
            api::empty(&body)?;
            s.drop_pending(name, false).await?
        }
        (&Method::DELETE, ["services", name, "preview"]) => {
            api::empty(&body)?;
            s.drop_pending(name, true).await?
        }
        (&Method::POST, ["services", name, "promote"]) => {
            api::empty(&body)?;
            s.promote(name).await?
        }
        (&Method::POST, ["services", name, "rollback"]) => {
            s.rollback(name, api::rollback(&body)?).await?
        }
        (_, ["up" | "metrics" | "services"] | ["services", _])
        | (
            _,
            [
                "services",
                _,
                "deploy" | "canary" | "preview" | "promote" | "rollback",
            ],
        ) => {
            return Err(Error::NotAllowed(format!(
                "{method} is not allowed on {path} (docs/proxy.md lists the control API)"
            )));
        }
        _ => {
            return Err(Error::NotFound(format!(
                "no route {method} {path}; the control API has /services, /services/NAME[/deploy|canary|preview|promote|rollback], /metrics, /up"
            )));
        }
    };
    Ok(Answer::Json(v))
}
