//! `POST /hooks/{project}`: a forge's webhook delivery.
//!
//! In this order: the body is read up to the cap (413 past it; a client too slow to send
//! it is cut off), the signature or token is verified over the raw bytes before anything
//! parses them (401), the delivery is parsed (400 when it is not what the forge sends),
//! and its event is stored, synced, with the delivery id, before the forge gets its 2xx.
//! A redelivery (same id) starts nothing; a delivery wharf does not act on is recorded
//! and answered 2xx.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_forge::{Delivery, Hook};
use wharf_model::{Event, EventKind};

use crate::app::Shared;
use crate::db::Accepted;
use crate::error::{Error, Result};
use crate::metrics::DeliveryResult;

/// Handles one delivery, counted in `wharf_webhook_deliveries_total`.
pub(crate) async fn receive(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let mut forge = None;
    let answer = take(&s, name, headers, body, &mut forge).await;
    // A recorded delivery was counted with what became of it; the others by their answer.
    match &answer {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => s
            .metrics
            .delivery(forge, DeliveryResult::refused(r.status())),
        Err(e) => s
            .metrics
            .delivery(forge, DeliveryResult::refused(e.status())),
    }
    answer
}

/// Takes one delivery; `forge` is set once its project is known.
async fn take(
    s: &Arc<Shared>,
    name: String,
    headers: HeaderMap,
    body: Body,
    forge: &mut Option<wharf_forge::ForgeKind>,
) -> Result<Response> {
    let limit = s.config.max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge(limit));
    }
    let project =
        s.db.project(&name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project named `{name}`")))?;
    *forge = Some(project.forge);
    let bytes = match tokio::time::timeout(s.config.body_timeout, axum::body::to_bytes(body, limit))
        .await
    {
        Err(_) => {
            return Ok((
                StatusCode::REQUEST_TIMEOUT,
                axum::Json(serde_json::json!({ "error": "the body did not arrive in time" })),
            )
                .into_response());
        }
        Ok(Err(_)) => return Err(Error::TooLarge(limit)),
        Ok(Ok(b)) => b,
    };
    let secret = crate::admin::hook_secret(&s.key, &project)?;
    let now = crate::now();
    wharf_forge::verify(
        project.forge,
        secret.expose().as_bytes(),
        &headers,
        &bytes,
        now / 1000,
    )
    .map_err(|e| Error::Unauthorized(e.to_string()))?;
    let delivery = wharf_forge::parse(project.forge, &headers, &bytes)
        .map_err(|e| Error::invalid(e.to_string(), None))?;
    let (event, outcome) = to_event(&delivery);
    let accepted =
        s.db.accept_delivery(
            &project.name,
            delivery.id.as_deref(),
            &delivery.event_type,
            event.as_ref().map(|(e, before)| (e, before.as_deref())),
            &outcome,
            now,
        )
        .await?;
    s.metrics
        .delivery(Some(project.forge), DeliveryResult::accepted(&accepted));
    let id = delivery.id.as_deref().unwrap_or("-");
    let (status, body) = match accepted {
        Accepted::Queued(n) => {
            s.wake.notify_waiters();
            eprintln!(
                "wharf serve: {name}: delivery {id} ({}): {outcome}: event {n}",
                delivery.event_type
            );
            (
                StatusCode::ACCEPTED,
                serde_json::json!({ "event": n, "outcome": outcome }),
            )
        }
        Accepted::Duplicate => {
            eprintln!("wharf serve: {name}: delivery {id} was taken before: nothing new");
            (
                StatusCode::OK,
                serde_json::json!({ "duplicate": true, "outcome": "delivery taken before; nothing new" }),
            )
        }
        Accepted::Seen => {
            eprintln!("wharf serve: {name}: delivery {id}: {outcome}: already seen at this commit");
            (
                StatusCode::OK,
                serde_json::json!({ "outcome": format!("{outcome}: already seen at this commit, nothing new") }),
            )
        }
        Accepted::Ignored => {
            eprintln!(
                "wharf serve: {name}: delivery {id} ({}): {outcome}",
                delivery.event_type
            );
            (StatusCode::OK, serde_json::json!({ "outcome": outcome }))
        }
    };
    Ok((status, axum::Json(body)).into_response())
}

/// The event a delivery starts (with the commit a pushed branch had before), and what
/// to say about it.
fn to_event(d: &Delivery) -> (Option<(Event, Option<String>)>, String) {
    match &d.hook {
        Hook::Push {
            branch,
            sha,
            before,
            actor,
            ..
        } => {
            let mut e = Event::new(EventKind::Push);
            e.branch = Some(branch.clone());
            e.sha = Some(sha.clone());
            e.actor = actor.clone();
            (
                Some((e, Some(before.clone()))),
                format!("push to {branch} at {}", short(sha)),
            )
        }
        Hook::Tag { tag, sha, actor } => {
            let mut e = Event::new(EventKind::Tag);
            e.tag = Some(tag.clone());
            e.version = Event::version_from_tag(tag);
            e.sha = Some(sha.clone());
            e.actor = actor.clone();
            (Some((e, None)), format!("tag {tag} at {}", short(sha)))
        }
        Hook::PullRequest {
            number,
            sha,
            base_branch,
            fork,
            actor,
            ..
        } => {
            let mut e = Event::new(EventKind::PullRequest);
            e.branch = Some(base_branch.clone());
            e.sha = Some(sha.clone());
            e.actor = actor.clone();
            e.fork = *fork;
            let from = if *fork {
                " from a fork (no secrets)"
            } else {
                ""
            };
            (
                Some((e, None)),
                format!(
                    "pull request #{number} into {base_branch} at {}{from}",
                    short(sha)
                ),
            )
        }
        Hook::Deleted { reference } => (None, format!("{reference} deleted: nothing to run")),
        Hook::Ping => (None, "ping".to_string()),
        Hook::Ignored { reason } => (None, format!("ignored: {reason}")),
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
