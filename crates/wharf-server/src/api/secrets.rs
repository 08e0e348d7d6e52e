//! `/projects/{project}/secrets`: names for viewers; set and remove for admins. Values
//! are sealed with the server's key before they reach the store and are never returned.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_secrets::secret::SecretString;
use wharf_store::{SecretMeta, SecretRecord};

use super::{actor, allow, project_store};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    let metas: Vec<SecretMeta> = store.list_secrets().await?;
    Ok(Json(
        metas
            .iter()
            .map(|m| {
                serde_json::json!({ "name": m.name, "environment": m.scope, "updated_at": m.updated_at })
            })
            .collect(),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetBody {
    value: String,
    environment: Option<String>,
}

pub(super) async fn set(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    Json(b): Json<SetBody>,
) -> Result<StatusCode> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    if !wharf_secrets::secret::valid_name(&name) {
        return Err(Error::invalid(
            format!("`{name}` is not a valid secret name"),
            Some(
                "names are environment variable names: upper case letters, digits and _, not starting with a digit or WHARF_",
            ),
        ));
    }
    let value = SecretString::new(b.value);
    if value.len() < wharf_secrets::mask::MIN_SECRET_LEN {
        return Err(Error::invalid(
            format!(
                "the value is shorter than {} characters, too short to be masked in logs",
                wharf_secrets::mask::MIN_SECRET_LEN
            ),
            None,
        ));
    }
    let store = project_store(&s, &project).await?;
    let sealed = wharf_secrets::crypto::seal(&s.key, &name, b.environment.as_deref(), &value)?;
    let record = SecretRecord {
        name,
        scope: b.environment,
        key_id: sealed.key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        updated_at: crate::now(),
    };
    crate::audit::put_secret(&s.db, &store, &project, &record, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
pub(super) struct Scope {
    environment: Option<String>,
}

pub(super) async fn remove(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    Query(q): Query<Scope>,
) -> Result<StatusCode> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    let store = project_store(&s, &project).await?;
    if crate::audit::delete_secret(
        &s.db,
        &store,
        &project,
        &name,
        q.environment.as_deref(),
        &by,
    )
    .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound(format!("no secret `{name}`")))
    }
}
