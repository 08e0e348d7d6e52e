//! `GET /healthz` and `GET /readyz`, for a supervisor or a load balancer; both open (they
//! say nothing about projects).
//!
//! `/healthz` answers as long as the process serves requests (restart it when it does
//! not); `/readyz` also asks the database: it is ready when a query answers and every
//! migration this binary embeds is applied, with the same checksum, and no other (a
//! database a newer wharf migrated is not this server's to use).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::app::Shared;

/// `GET /healthz`: the process serves.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 `ready`, else 503 with `{"ready": false, "error": why}`.
pub(crate) async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    match ready(s.db.pool()).await {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "ready": false, "error": why })),
        )
            .into_response(),
    }
}

/// Whether the database answers and its schema is exactly the embedded migrations'; why
/// not.
pub(crate) async fn ready(pool: &SqlitePool) -> Result<(), String> {
    let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
        .map_err(|e| format!("the database does not answer: {e}"))?;
    let applied: Vec<(i64, Vec<u8>, bool)> = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| format!("the migrations table is not sqlx's: {e}"))?;
    let migrator = wharf_store::migrations::embedded(crate::db::MIGRATIONS);
    for m in migrator.iter() {
        match applied.iter().find(|(v, _, _)| *v == m.version) {
            None => return Err(format!("migration {} is not applied", m.version)),
            Some((_, _, false)) => {
                return Err(format!("migration {} failed part way", m.version));
            }
            Some((_, sum, true)) if sum.as_slice() != &*m.checksum => {
                return Err(format!(
                    "migration {} was applied from another text than this binary's",
                    m.version
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((v, _, _)) = applied
        .iter()
        .find(|(v, _, _)| !migrator.iter().any(|m| m.version == *v))
    {
        return Err(format!(
            "the database has migration {v}, which this binary does not know (a newer wharf's)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_only_with_every_embedded_migration_applied_as_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).await.unwrap();
        let pool = db.pool();
        assert_eq!(ready(pool).await, Ok(()));

        sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
            .execute(pool)
            .await
            .unwrap();
        let why = ready(pool).await.unwrap_err();
        assert!(why.contains("another text"), "{why}");

        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 1")
            .execute(pool)
            .await
            .unwrap();
        let why = ready(pool).await.unwrap_err();
        assert!(why.contains("migration 1 is not applied"), "{why}");

        sqlx::query("DROP TABLE _sqlx_migrations")
            .execute(pool)
            .await
            .unwrap();
        let why = ready(pool).await.unwrap_err();
        assert!(why.contains("does not answer"), "{why}");
    }

    #[tokio::test]
    async fn a_migration_from_a_newer_binary_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'future', 1, x'00', 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let why = ready(db.pool()).await.unwrap_err();
        assert!(why.contains("9999"), "{why}");
    }
}
