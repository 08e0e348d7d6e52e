//! Release records: one per version, with the digest of everything it ships.

use sqlx::Row;
use wharf_model::{Evidence, EvidenceKind, Produced, ProducedKind, ReleaseRecord};

use crate::error::{Result, corrupt};
use crate::store::{Store, from_sql, to_sql};

impl Store {
    /// Records a release. A version is recorded once: recording it again from the same
    /// commit replaces the record (a re-run), from another commit is refused.
    pub async fn put_release(&self, rec: &ReleaseRecord) -> Result<()> {
        let err = self.db_err("record a release");
        let mut tx = self.pool.begin().await.map_err(&err)?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT sha FROM releases WHERE version = ?")
                .bind(&rec.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(&err)?;
        if let Some(sha) = existing
            && sha != rec.commit
        {
            return Err(crate::Error::Conflict(format!(
                "release {} was already recorded from commit {}; a version is released once",
                rec.version,
                &sha[..sha.len().min(12)]
            )));
        }
        insert(&mut tx, rec).await.map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    /// Every release, newest first (by record time), whole: items and evidence, as
    /// [`Store::get_release`] gives each.
    pub async fn list_releases(&self) -> Result<Vec<ReleaseRecord>> {
        let err = self.db_err("list releases");
        let rows = sqlx::query(
            "SELECT version, tag, sha, run, notes, created_at FROM releases ORDER BY created_at DESC, version DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let rec = release_row(row).map_err(&err)?;
            out.push(self.complete(rec).await?);
        }
        Ok(out)
    }

    /// One release with its items.
    pub async fn get_release(&self, version: &str) -> Result<Option<ReleaseRecord>> {
        let err = self.db_err("read a release");
        let Some(row) = sqlx::query(
            "SELECT version, tag, sha, run, notes, created_at FROM releases WHERE version = ?",
        )
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(&err)?
        else {
            return Ok(None);
        };
        let rec = release_row(&row).map_err(&err)?;
        Ok(Some(self.complete(rec).await?))
    }

    /// `rec` (a `releases` row) with its items and evidence.
    async fn complete(&self, mut rec: ReleaseRecord) -> Result<ReleaseRecord> {
        let err = self.db_err("read a release");
        let version = rec.version.clone();
        let mut items = Vec::new();
        for item in sqlx::query(
            "SELECT kind, name, digest, size FROM release_items WHERE version = ? ORDER BY seq",
        )
        .bind(&version)
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let kind: String = item.try_get("kind").map_err(&err)?;
            let size: Option<i64> = item.try_get("size").map_err(&err)?;
            items.push(Produced {
                kind: ProducedKind::parse(&kind).ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("release {version} lists an unknown kind `{kind}`"),
                    )
                })?,
                name: item.try_get("name").map_err(&err)?,
                digest: item.try_get("digest").map_err(&err)?,
                size: size.map(from_sql),
            });
        }
        let mut evidence = Vec::new();
        for e in sqlx::query(
            "SELECT kind, subject, name, digest, attached FROM release_evidence WHERE version = ? ORDER BY seq",
        )
        .bind(&version)
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let kind: String = e.try_get("kind").map_err(&err)?;
            evidence.push(Evidence {
                kind: EvidenceKind::parse(&kind).ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("release {version} lists unknown evidence `{kind}`"),
                    )
                })?,
                subject: e.try_get("subject").map_err(&err)?,
                name: e.try_get("name").map_err(&err)?,
                digest: e.try_get("digest").map_err(&err)?,
                attached: e.try_get("attached").map_err(&err)?,
            });
        }
        rec.items = items;
        rec.evidence = evidence;
        Ok(rec)
    }
}

/// A `releases` row, without its items.
fn release_row(row: &sqlx::sqlite::SqliteRow) -> Result<ReleaseRecord, sqlx::Error> {
    Ok(ReleaseRecord {
        version: row.try_get("version")?,
        tag: row.try_get("tag")?,
        commit: row.try_get("sha")?,
        run: from_sql(row.try_get("run")?),
        notes: row.try_get("notes")?,
        created_at: row.try_get("created_at")?,
        items: Vec::new(),
        evidence: Vec::new(),
    })
}

/// Writes a release record (replacing one of the same version) on `conn`, inside the
/// caller's transaction: the recorder stores the record a `release` step emitted with the
/// rest of the run's events.
pub(crate) async fn insert(
    conn: &mut sqlx::SqliteConnection,
    rec: &ReleaseRecord,
) -> std::result::Result<(), sqlx::Error> {
    // A version is released once: a record from another commit stands (the step checked
    // the releases known when its run started; this closes the race with another run).
    let existing: Option<String> = sqlx::query_scalar("SELECT sha FROM releases WHERE version = ?")
        .bind(&rec.version)
        .fetch_optional(&mut *conn)
        .await?;
    if existing.is_some_and(|sha| sha != rec.commit) {
        return Ok(());
    }
    sqlx::query("DELETE FROM releases WHERE version = ?")
        .bind(&rec.version)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
            "INSERT INTO releases (version, tag, sha, run, notes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&rec.version)
        .bind(&rec.tag)
        .bind(&rec.commit)
        .bind(to_sql(rec.run))
        .bind(&rec.notes)
        .bind(rec.created_at)
        .execute(&mut *conn)
        .await
        ?;
    for (seq, item) in rec.items.iter().enumerate() {
        sqlx::query(
                "INSERT INTO release_items (version, seq, kind, name, digest, size) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&rec.version)
            .bind(to_sql(seq as u64))
            .bind(item.kind.as_str())
            .bind(&item.name)
            .bind(&item.digest)
            .bind(item.size.map(to_sql))
            .execute(&mut *conn)
            .await
            ?;
    }
    for (seq, e) in rec.evidence.iter().enumerate() {
        sqlx::query(
            "INSERT INTO release_evidence (version, seq, kind, subject, name, digest, attached) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&rec.version)
        .bind(to_sql(seq as u64))
        .bind(e.kind.as_str())
        .bind(&e.subject)
        .bind(&e.name)
        .bind(&e.digest)
        .bind(&e.attached)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
