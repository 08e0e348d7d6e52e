//! Release records: one per version, with the digest of everything it ships.

use std::collections::HashMap;

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

    /// Every release, newest first (by record time), as its `releases` row: without items
    /// or evidence (what a run's start and the dashboard's lists need; see
    /// [`Store::list_releases_whole`]).
    pub async fn list_releases(&self) -> Result<Vec<ReleaseRecord>> {
        let err = self.db_err("list releases");
        let rows = sqlx::query(
            "SELECT version, tag, sha, run, notes, created_at FROM releases ORDER BY created_at DESC, version DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|row| release_row(row).map_err(&err))
            .collect()
    }

    /// Every release, newest first, whole: items and evidence, as [`Store::get_release`]
    /// gives each (what `wharf releases --json` and the API list). Three queries in all.
    pub async fn list_releases_whole(&self) -> Result<Vec<ReleaseRecord>> {
        let err = self.db_err("list releases");
        let mut list = self.list_releases().await?;
        let mut items: HashMap<String, Vec<Produced>> = HashMap::new();
        for row in sqlx::query(
            "SELECT version, kind, name, digest, size FROM release_items ORDER BY version, seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let version: String = row.try_get("version").map_err(&err)?;
            let item = self.item_row(&row, &version)?;
            items.entry(version).or_default().push(item);
        }
        let mut evidence: HashMap<String, Vec<Evidence>> = HashMap::new();
        for row in sqlx::query(
            "SELECT version, kind, subject, name, digest, attached FROM release_evidence ORDER BY version, seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let version: String = row.try_get("version").map_err(&err)?;
            let e = self.evidence_row(&row, &version)?;
            evidence.entry(version).or_default().push(e);
        }
        for rec in &mut list {
            rec.items = items.remove(&rec.version).unwrap_or_default();
            rec.evidence = evidence.remove(&rec.version).unwrap_or_default();
        }
        Ok(list)
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
        for row in sqlx::query(
            "SELECT kind, name, digest, size FROM release_items WHERE version = ? ORDER BY seq",
        )
        .bind(&rec.version)
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let item = self.item_row(&row, &rec.version)?;
            rec.items.push(item);
        }
        for row in sqlx::query(
            "SELECT kind, subject, name, digest, attached FROM release_evidence WHERE version = ? ORDER BY seq",
        )
        .bind(&rec.version)
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?
        {
            let e = self.evidence_row(&row, &rec.version)?;
            rec.evidence.push(e);
        }
        Ok(rec)
    }

    /// One `release_items` row of release `version`.
    fn item_row(&self, row: &sqlx::sqlite::SqliteRow, version: &str) -> Result<Produced> {
        let err = self.db_err("read a release");
        let kind: String = row.try_get("kind").map_err(&err)?;
        let size: Option<i64> = row.try_get("size").map_err(&err)?;
        Ok(Produced {
            kind: ProducedKind::parse(&kind).ok_or_else(|| {
                corrupt(
                    &self.path,
                    format!("release {version} lists an unknown kind `{kind}`"),
                )
            })?,
            name: row.try_get("name").map_err(&err)?,
            digest: row.try_get("digest").map_err(&err)?,
            size: size.map(from_sql),
        })
    }

    /// One `release_evidence` row of release `version`.
    fn evidence_row(&self, row: &sqlx::sqlite::SqliteRow, version: &str) -> Result<Evidence> {
        let err = self.db_err("read a release");
        let kind: String = row.try_get("kind").map_err(&err)?;
        Ok(Evidence {
            kind: EvidenceKind::parse(&kind).ok_or_else(|| {
                corrupt(
                    &self.path,
                    format!("release {version} lists unknown evidence `{kind}`"),
                )
            })?,
            subject: row.try_get("subject").map_err(&err)?,
            name: row.try_get("name").map_err(&err)?,
            digest: row.try_get("digest").map_err(&err)?,
            attached: row.try_get("attached").map_err(&err)?,
        })
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
