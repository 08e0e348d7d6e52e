//! The audit log: every change to the server someone asked for (tokens, secrets, projects,
//! manual runs, cancels, re-runs, approvals, deployments), who asked, when and from where,
//! in `server.db`.
//!
//! Entries are append-only and chained: each holds the SHA-256 of the one before, so an
//! entry changed or deleted in the database breaks the chain at that entry, and
//! [`verify`] names it. The chain alone cannot show that its *last* entries were
//! deleted, so a one-row table, `audit_head`, keeps the last entry's number and hash,
//! updated in the same transaction as every append.
//!
//! # The hash
//!
//! `hash = hex(SHA-256(J))`, where `J` is the JSON text of the array
//! `[seq, at, actor, role, action, target, detail, source, prev_hash]`: `seq` and `at` as
//! integers, the others as strings (`detail` is the JSON object's text as stored), written
//! without whitespace and with the minimal escapes of RFC 8259 (`\"`, `\\`, `\b`, `\f`,
//! `\n`, `\r`, `\t`, other control characters as `\u00XX`, everything else as UTF-8):
//! what Python's `json.dumps(a, separators=(",", ":"), ensure_ascii=False)` writes. A JSON
//! array cannot be read two ways, unlike the fields glued together. The first entry's
//! `prev_hash` is 64 zeros ([`GENESIS`]).
//!
//! # What it protects against, and what not
//!
//! Someone who edits or deletes rows by hand (or restores an older `server.db`'s rows
//! into a newer one) is caught. Someone with write access to the database who recomputes
//! every hash after the one they changed, and the head, is not: the chain proves
//! integrity only against the last hash you kept elsewhere (`wharf audit verify` prints
//! it).

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::tokens::Role;

mod verify;

pub use verify::{Break, Report, verify};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done. Stored as its dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An API token was made.
    TokenCreate,
    /// An API token was revoked.
    TokenRevoke,
    /// A secret was set (its name only).
    SecretSet,
    /// A secret was removed.
    SecretRemove,
    /// A manual run was queued.
    RunTrigger,
    /// A running run was cancelled.
    RunCancel,
    /// A run's failed jobs were queued again.
    RunRerun,
    /// A project was registered.
    ProjectAdd,
    /// A project was unregistered.
    ProjectRemove,
    /// A project's settings changed (where its commit statuses go; never the token).
    ProjectUpdate,
    /// A deployment job's approval gate was approved (one approver's approval).
    DeployApprove,
    /// A decision at a deployment job's gates (refused, waiting, approved, cancelled,
    /// passed), made by the server itself.
    DeployGate,
    /// A release was deployed to an environment (`wharf deploy --server`, the API, the
    /// dashboard's Promote).
    DeployCreate,
    /// An environment was rolled back to its previous good release.
    DeployRollback,
    /// A paused deployment was asked to resume.
    DeployResume,
    /// A deployment was asked to abort.
    DeployAbort,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 16] = [
        Action::TokenCreate,
        Action::TokenRevoke,
        Action::SecretSet,
        Action::SecretRemove,
        Action::RunTrigger,
        Action::RunCancel,
        Action::RunRerun,
        Action::ProjectAdd,
        Action::ProjectRemove,
        Action::ProjectUpdate,
        Action::DeployApprove,
        Action::DeployGate,
        Action::DeployCreate,
        Action::DeployRollback,
        Action::DeployResume,
        Action::DeployAbort,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TokenCreate => "token.create",
            Action::TokenRevoke => "token.revoke",
            Action::SecretSet => "secret.set",
            Action::SecretRemove => "secret.remove",
            Action::RunTrigger => "run.trigger",
            Action::RunCancel => "run.cancel",
            Action::RunRerun => "run.rerun",
            Action::ProjectAdd => "project.add",
            Action::ProjectRemove => "project.remove",
            Action::ProjectUpdate => "project.update",
            Action::DeployApprove => "deploy.approve",
            Action::DeployGate => "deploy.gate",
            Action::DeployCreate => "deploy.create",
            Action::DeployRollback => "deploy.rollback",
            Action::DeployResume => "deploy.resume",
            Action::DeployAbort => "deploy.abort",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who acted, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `token:ID (NAME)` or `local:USER`.
    pub name: String,
    /// The role the action was allowed under.
    pub role: String,
    /// The HTTP client's address, or `cli`.
    pub source: String,
}

impl Actor {
    /// The server itself (its gates' decisions).
    pub fn server() -> Actor {
        Actor {
            name: "wharf".into(),
            role: "system".into(),
            source: "server".into(),
        }
    }

    /// The admin CLI working on the data directory directly, as the user running it.
    pub fn local() -> Actor {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        Actor {
            name: format!("local:{user}"),
            role: Role::Admin.as_str().into(),
            source: "cli".into(),
        }
    }

    /// An API token, called from `peer`.
    pub fn token(id: i64, name: &str, role: Role, peer: SocketAddr) -> Actor {
        Actor {
            name: format!("token:{id} ({name})"),
            role: role.as_str().into(),
            source: peer.to_string(),
        }
    }
}

/// One thing done, to record.
#[derive(Debug, Clone)]
pub struct Change {
    /// What.
    pub action: Action,
    /// To what: a project, `PROJECT#RUN`, a token id, `PROJECT/SECRET`.
    pub target: String,
    /// A small JSON object; never a secret's value.
    pub detail: serde_json::Value,
}

impl Change {
    /// `action` on `target`, with `detail`.
    pub fn new(action: Action, target: impl Into<String>, detail: serde_json::Value) -> Change {
        Change {
            action,
            target: target.into(),
            detail,
        }
    }

    /// A change to secret `name` of `project` (in `environment`, or all): its name only,
    /// never its value.
    pub fn secret(action: Action, project: &str, name: &str, environment: Option<&str>) -> Change {
        Change::new(
            action,
            format!("{project}/{name}"),
            serde_json::json!({ "project": project, "secret": name, "environment": environment }),
        )
    }
}

/// An entry of the log, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Its number: 1, 2, 3 … without gaps.
    pub seq: i64,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// `token:ID (NAME)` or `local:USER`.
    pub actor: String,
    /// The role it acted under.
    pub role: String,
    /// The action's dotted name (`token.create` …).
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// Details (a JSON object; the stored text when it is not JSON).
    pub detail: serde_json::Value,
    /// The HTTP client's `IP:port`, or `cli`.
    pub source: String,
    /// The hash of the entry before.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The hash of an entry with these fields (the encoding is in the module's docs).
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor: &str,
    role: &str,
    action: &str,
    target: &str,
    detail: &str,
    source: &str,
    prev_hash: &str,
) -> String {
    let encoded = serde_json::json!([
        seq, at, actor, role, action, target, detail, source, prev_hash
    ])
    .to_string();
    Sha256::digest(encoded.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores a secret record of `project` holding the audit log's lock, and records
/// `secret.set` (its name only): a change that cannot be recorded is not made, and one that
/// failed is not recorded. What the API and the admin CLI both do.
pub async fn put_secret(
    db: &Db,
    store: &wharf_store::Store,
    project: &str,
    record: &wharf_store::SecretRecord,
    by: &Actor,
) -> Result<()> {
    let pending = Pending::begin(db).await?;
    store.put_secret(record).await?;
    let change = Change::secret(
        Action::SecretSet,
        project,
        &record.name,
        record.scope.as_deref(),
    );
    pending.commit(by, change).await?;
    Ok(())
}

/// Removes secret `name` (for `environment`) of `project` holding the audit log's lock,
/// recording `secret.remove` when there was one; whether there was.
pub async fn delete_secret(
    db: &Db,
    store: &wharf_store::Store,
    project: &str,
    name: &str,
    environment: Option<&str>,
    by: &Actor,
) -> Result<bool> {
    let pending = Pending::begin(db).await?;
    if !store.delete_secret(name, environment).await? {
        return Ok(false);
    }
    let change = Change::secret(Action::SecretRemove, project, name, environment);
    pending.commit(by, change).await?;
    Ok(true)
}

/// An append under way: the database's write lock is held from [`Pending::begin`], the
/// action's own writes to `server.db` go through [`Pending::conn`], and
/// [`Pending::commit`] appends the entry and commits them together. Dropped without a
/// commit (the action failed), nothing is written.
pub struct Pending {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    /// Takes the write lock (`BEGIN IMMEDIATE`): appends queue behind each other, so two
    /// can never chain from the same entry.
    pub async fn begin(db: &Db) -> Result<Pending> {
        let tx = db
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::db("begin an audited write"))?;
        Ok(Pending { tx })
    }

    /// The transaction's connection, for the action's writes to `server.db`.
    pub(crate) fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.tx
    }

    /// Appends `change` by `who` after the head, moves the head, and commits.
    pub async fn commit(mut self, who: &Actor, change: Change) -> Result<Entry> {
        // The head, not the last row, is what an entry follows: if the last rows were
        // deleted, the next entry still follows the deleted one and the gap shows.
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(Error::db("read the audit log's head"))?;
        let (last, prev_hash): (i64, String) = match head {
            Some(r) => (r.get(0), r.get(1)),
            None => sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(Error::db("read the audit log"))?
                .map(|r| (r.get(0), r.get(1)))
                .unwrap_or((0, GENESIS.to_string())),
        };
        let seq = last + 1;
        let at = crate::now();
        let detail = change.detail.to_string();
        let action = change.action.as_str();
        let hash = entry_hash(
            seq,
            at,
            &who.name,
            &who.role,
            action,
            &change.target,
            &detail,
            &who.source,
            &prev_hash,
        );
        sqlx::query(
            "INSERT INTO audit (seq, at, actor, role, action, target, detail, source, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(at)
        .bind(&who.name)
        .bind(&who.role)
        .bind(action)
        .bind(&change.target)
        .bind(&detail)
        .bind(&who.source)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await
        .map_err(Error::db("append to the audit log"))?;
        sqlx::query(concat!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ",
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
        ))
        .bind(seq)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await
        .map_err(Error::db("move the audit log's head"))?;
        self.tx
            .commit()
            .await
            .map_err(Error::db("commit an audited write"))?;
        Ok(Entry {
            seq,
            at,
            actor: who.name.clone(),
            role: who.role.clone(),
            action: action.to_string(),
            target: change.target,
            detail: change.detail,
            source: who.source.clone(),
            prev_hash,
            hash,
        })
    }
}

/// Records `change` by `who` on its own (for an action with no writes to `server.db`,
/// done or about to be done for certain).
pub async fn record(db: &Db, who: &Actor, change: Change) -> Result<Entry> {
    Pending::begin(db).await?.commit(who, change).await
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only entries before this number (the next page of a newest-first listing).
    pub before: Option<i64>,
    /// At most this many (1 to 1000; 0 means 50).
    pub limit: u32,
    /// Only this action (`token.create`) or family (`token`).
    pub action: Option<String>,
}

/// Entries, newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<Entry>> {
    let limit = if f.limit == 0 { 50 } else { f.limit.min(1000) };
    let rows = sqlx::query(concat!(
        "SELECT seq, at, actor, role, action, target, detail, source, prev_hash, hash FROM audit ",
        "WHERE (? IS NULL OR seq < ?) AND (? IS NULL OR action = ? OR action LIKE ? || '.%') ",
        "ORDER BY seq DESC LIMIT ?"
    ))
    .bind(f.before)
    .bind(f.before)
    .bind(&f.action)
    .bind(&f.action)
    .bind(&f.action)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await
    .map_err(Error::db("list the audit log"))?;
    Ok(rows.iter().map(entry_of).collect())
}

fn entry_of(r: &sqlx::sqlite::SqliteRow) -> Entry {
    let detail: String = r.get(6);
    Entry {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        role: r.get(3),
        action: r.get(4),
        target: r.get(5),
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        source: r.get(7),
        prev_hash: r.get(8),
        hash: r.get(9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        (dir, db)
    }

    fn alice() -> Actor {
        Actor {
            name: "token:1 (alice)".into(),
            role: "admin".into(),
            source: "127.0.0.1:4000".into(),
        }
    }

    async fn append(db: &Db, n: usize) {
        for i in 0..n {
            record(
                db,
                &alice(),
                Change::new(
                    Action::TokenCreate,
                    (i + 2).to_string(),
                    serde_json::json!({ "name": format!("t{i}"), "role": "viewer" }),
                ),
            )
            .await
            .unwrap();
        }
    }

    /// Runs `sql` the way an attacker would: past the append-only triggers.
    async fn tamper(db: &Db, sql: &'static str) {
        for drop in [
            "DROP TRIGGER IF EXISTS audit_no_update",
            "DROP TRIGGER IF EXISTS audit_no_delete",
            "DROP TRIGGER IF EXISTS audit_head_no_delete",
        ] {
            sqlx::query(drop).execute(db.pool()).await.unwrap();
        }
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }

    #[test]
    fn the_hash_is_sha256_of_the_json_array_as_python_writes_it() {
        // hashlib.sha256(json.dumps(a, separators=(",", ":"), ensure_ascii=False).encode())
        let h = entry_hash(
            1,
            1_700_000_000_000,
            "token:1 (a \"b\")",
            "admin",
            "token.create",
            "2",
            r#"{"role":"viewer"}"#,
            "127.0.0.1:5\n",
            GENESIS,
        );
        assert_eq!(
            h,
            "270a8f44d8c9e0b26cc60d0ab0e2073e32f6ea3f317fdf9e451d34b8463998cc"
        );
        // fields cannot run into each other
        assert_ne!(
            entry_hash(1, 1, "ab", "c", "x", "t", "{}", "s", GENESIS),
            entry_hash(1, 1, "a", "bc", "x", "t", "{}", "s", GENESIS)
        );
    }

    #[test]
    fn every_action_parses_back() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("deploy.start"), None);
    }

    #[tokio::test]
    async fn entries_chain_from_64_zeros_and_verify() {
        let (_d, db) = fresh().await;
        let empty = verify(&db).await.unwrap();
        assert!(empty.ok, "{empty:?}");
        assert_eq!((empty.entries, empty.last_hash.as_str()), (0, GENESIS));
        append(&db, 3).await;
        let all = list(&db, &Filter::default()).await.unwrap();
        let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 2, 1], "newest first");
        assert_eq!(all[2].prev_hash, GENESIS);
        assert_eq!(all[1].prev_hash, all[2].hash);
        assert_eq!(all[0].detail["name"], "t2");
        let r = verify(&db).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.entries, r.last_seq), (3, 3));
        assert_eq!(r.last_hash, all[0].hash);
        assert_eq!(
            r.message,
            format!("audit log intact: 3 entries, last hash {}", all[0].hash)
        );
    }

    #[tokio::test]
    async fn list_pages_and_filters() {
        let (_d, db) = fresh().await;
        append(&db, 4).await;
        record(
            &db,
            &Actor::local(),
            Change::new(Action::ProjectAdd, "app", serde_json::json!({})),
        )
        .await
        .unwrap();
        let page = list(
            &db,
            &Filter {
                before: Some(4),
                limit: 2,
                action: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2]);
        for family in ["project", "project.add"] {
            let only = list(
                &db,
                &Filter {
                    action: Some(family.into()),
                    ..Filter::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(only.len(), 1, "{family}");
            assert_eq!(only[0].source, "cli");
            assert!(only[0].actor.starts_with("local:"), "{:?}", only[0]);
        }
    }

    #[tokio::test]
    async fn an_uncommitted_append_writes_nothing() {
        let (_d, db) = fresh().await;
        let mut p = Pending::begin(&db).await.unwrap();
        sqlx::query(
            "INSERT INTO tokens (name, role, hash, created_at) VALUES ('x', 'admin', 'h', 0)",
        )
        .execute(p.conn())
        .await
        .unwrap();
        drop(p);
        assert!(db.tokens().await.unwrap().is_empty());
        assert_eq!(verify(&db).await.unwrap().entries, 0);
    }

    #[tokio::test]
    async fn the_triggers_refuse_edits_and_deletes() {
        let (_d, db) = fresh().await;
        append(&db, 1).await;
        for sql in [
            "UPDATE audit SET target = 'x'",
            "DELETE FROM audit",
            "DELETE FROM audit_head",
        ] {
            let e = sqlx::query(sql).execute(db.pool()).await.unwrap_err();
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
    }

    #[tokio::test]
    async fn an_edited_entry_is_named() {
        let (_d, db) = fresh().await;
        append(&db, 5).await;
        tamper(&db, "UPDATE audit SET target = '99' WHERE seq = 3").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.broken, Some(Break::Changed { seq: 3 }));
        assert!(!r.ok);
        assert_eq!(
            r.message,
            "entry 3 was changed: its hash does not match its contents"
        );
    }

    #[tokio::test]
    async fn an_entry_rewritten_with_its_hash_breaks_the_next_link() {
        let (_d, db) = fresh().await;
        append(&db, 5).await;
        let e = list(&db, &Filter::default()).await.unwrap().remove(2);
        assert_eq!(e.seq, 3);
        let forged = entry_hash(
            3,
            e.at,
            &e.actor,
            &e.role,
            &e.action,
            "99",
            &e.detail.to_string(),
            &e.source,
            &e.prev_hash,
        );
        tamper(&db, "DROP TRIGGER IF EXISTS audit_no_update").await;
        sqlx::query("UPDATE audit SET target = '99', hash = ? WHERE seq = 3")
            .bind(&forged)
            .execute(db.pool())
            .await
            .unwrap();
        let r = verify(&db).await.unwrap();
        assert!(
            matches!(&r.broken, Some(Break::Unlinked { seq: 4, prev_hash, expected })
                if *prev_hash == e.hash && *expected == forged),
            "{r:?}"
        );
        assert!(
            r.message
                .starts_with("entry 4 does not follow entry 3 (prev_hash "),
            "{}",
            r.message
        );
    }

    #[tokio::test]
    async fn a_deleted_entry_is_named() {
        let (_d, db) = fresh().await;
        append(&db, 5).await;
        tamper(&db, "DELETE FROM audit WHERE seq = 4").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.broken, Some(Break::Missing { seq: 4, next: 5 }));
        assert_eq!(r.message, "entry 4 is missing (entries jump from 3 to 5)");
        assert_eq!(r.entries, 4);

        let (_d, db) = fresh().await;
        append(&db, 2).await;
        tamper(&db, "DELETE FROM audit WHERE seq = 1").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.message, "entry 1 is missing (the log starts at entry 2)");
    }

    #[tokio::test]
    async fn deleting_the_last_entries_shows_through_the_head() {
        let (_d, db) = fresh().await;
        append(&db, 5).await;
        tamper(&db, "DELETE FROM audit WHERE seq >= 4").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.broken, Some(Break::Truncated { seq: 4, head: 5 }));
        assert_eq!(
            r.message,
            "entry 4 is missing (the log ends at entry 3, but its head records 5)"
        );
        // the next append follows the head, so the gap stays visible
        append(&db, 1).await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.broken, Some(Break::Missing { seq: 4, next: 6 }));
    }

    #[tokio::test]
    async fn the_head_must_match_the_last_entry() {
        let (_d, db) = fresh().await;
        append(&db, 2).await;
        tamper(&db, "UPDATE audit_head SET hash = 'x'").await;
        assert_eq!(
            verify(&db).await.unwrap().broken,
            Some(Break::Replaced { seq: 2 })
        );
        tamper(&db, "UPDATE audit_head SET seq = 1").await;
        assert_eq!(
            verify(&db).await.unwrap().broken,
            Some(Break::Unrecorded { seq: 2, head: 1 })
        );
        tamper(&db, "DELETE FROM audit_head").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.broken, Some(Break::HeadMissing));
        assert_eq!(r.broken.unwrap().seq(), None);
    }

    #[tokio::test]
    async fn concurrent_appends_keep_one_chain() {
        let (_d, db) = fresh().await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    record(
                        &db,
                        &alice(),
                        Change::new(Action::RunCancel, format!("app#{i}"), serde_json::json!({})),
                    )
                    .await
                    .unwrap()
                    .seq
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
        let r = verify(&db).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 20);
    }

    #[tokio::test]
    async fn pages_longer_than_one_read_verify() {
        let (_d, db) = fresh().await;
        append(&db, verify::PAGE as usize + 3).await;
        let r = verify(&db).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.last_seq, verify::PAGE + 3);
    }
}
