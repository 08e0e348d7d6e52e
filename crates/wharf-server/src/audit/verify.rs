//! Checking the chain: from the first entry to the head, in one snapshot, stopping at
//! the first break and naming it.

use sqlx::Row;

use super::{GENESIS, entry_hash};
use crate::db::Db;
use crate::error::{Error, Result};

/// Where the chain breaks first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The entry's hash does not match its contents: it was edited.
    Changed {
        /// The entry.
        seq: i64,
    },
    /// Entries are missing between two present ones (or before the first).
    Missing {
        /// The first missing entry.
        seq: i64,
        /// The next present one.
        next: i64,
    },
    /// The entry's `prev_hash` is not the hash of the entry before: one of the two was
    /// rewritten (its hash recomputed), or the entry was put there from elsewhere.
    Unlinked {
        /// The entry.
        seq: i64,
        /// Its `prev_hash`.
        prev_hash: String,
        /// The hash of the entry before (64 zeros for the first).
        expected: String,
    },
    /// The log ends before the entry its head records: its last entries were deleted.
    Truncated {
        /// The first missing entry.
        seq: i64,
        /// The last entry the head records.
        head: i64,
    },
    /// The log goes on past the entry its head records: entries were added by hand.
    Unrecorded {
        /// The first entry past the head.
        seq: i64,
        /// The last entry the head records.
        head: i64,
    },
    /// The last entry is not the one the head records (it was replaced, hash and all).
    Replaced {
        /// The entry (0: the head of an empty log was changed).
        seq: i64,
    },
    /// The head row is gone.
    HeadMissing,
}

impl Break {
    /// The first bad entry's number, when there is one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Break::Changed { seq }
            | Break::Missing { seq, .. }
            | Break::Unlinked { seq, .. }
            | Break::Truncated { seq, .. }
            | Break::Unrecorded { seq, .. }
            | Break::Replaced { seq } => Some(*seq),
            Break::HeadMissing => None,
        }
    }
}

/// The first 12 hex digits of a hash, as shown.
fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Changed { seq } => write!(
                f,
                "entry {seq} was changed: its hash does not match its contents"
            ),
            Break::Missing { seq: 1, next } => {
                write!(f, "entry 1 is missing (the log starts at entry {next})")
            }
            Break::Missing { seq, next } => write!(
                f,
                "entry {seq} is missing (entries jump from {} to {next})",
                seq - 1
            ),
            Break::Unlinked {
                seq: 1, prev_hash, ..
            } => write!(
                f,
                "entry 1 does not start the chain (prev_hash {}…, not 64 zeros)",
                short(prev_hash)
            ),
            Break::Unlinked {
                seq,
                prev_hash,
                expected,
            } => write!(
                f,
                "entry {seq} does not follow entry {} (prev_hash {}…, but entry {}'s hash is {}…): one of them was rewritten",
                seq - 1,
                short(prev_hash),
                seq - 1,
                short(expected)
            ),
            Break::Truncated { seq: 1, head } => write!(
                f,
                "entry 1 is missing (the log is empty, but its head records {head} entries)"
            ),
            Break::Truncated { seq, head } => write!(
                f,
                "entry {seq} is missing (the log ends at entry {}, but its head records {head})",
                seq - 1
            ),
            Break::Unrecorded { seq, head } => write!(
                f,
                "entry {seq} was not appended through the log (its head records entries up to {head})"
            ),
            Break::Replaced { seq: 0 } => {
                write!(f, "the head of the empty log was changed")
            }
            Break::Replaced { seq } => write!(
                f,
                "entry {seq} was replaced: its head records another hash for it"
            ),
            Break::HeadMissing => write!(
                f,
                "the log's head (table audit_head) is missing: its last entries cannot be checked"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Whether the chain holds.
    pub ok: bool,
    /// The entries in the log.
    pub entries: i64,
    /// The last entry's number (0 for an empty log).
    pub last_seq: i64,
    /// The last entry's hash (64 zeros for an empty log).
    pub last_hash: String,
    /// The first break, if any.
    pub broken: Option<Break>,
    /// What to tell a person.
    pub message: String,
}

/// Rows read at once while verifying.
pub(super) const PAGE: i64 = 500;

/// Checks the chain from the first entry to the head, in one snapshot of the database;
/// stops at the first break.
pub async fn verify(db: &Db) -> Result<Report> {
    // One read transaction: appends made meanwhile are not half seen.
    let mut tx = db
        .pool()
        .begin()
        .await
        .map_err(Error::db("read the audit log"))?;
    let entries: i64 = sqlx::query("SELECT COUNT(*) FROM audit")
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("count the audit log"))?
        .get(0);
    let head: Option<(i64, String)> = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read the audit log's head"))?
        .map(|r| (r.get(0), r.get(1)));
    let mut chain = Chain::default();
    let mut broken = None;
    'pages: loop {
        let rows = sqlx::query(concat!(
            "SELECT seq, at, actor, role, action, target, detail, source, prev_hash, hash ",
            "FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(chain.last)
        .bind(PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::db("read the audit log"))?;
        for r in &rows {
            if let Err(b) = chain.next(&Stored {
                seq: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                role: r.get(3),
                action: r.get(4),
                target: r.get(5),
                detail: r.get(6),
                source: r.get(7),
                prev_hash: r.get(8),
                hash: r.get(9),
            }) {
                broken = Some(b);
                break 'pages;
            }
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    if broken.is_none() {
        broken = chain.end(head.as_ref());
    }
    let message = match &broken {
        Some(b) => b.to_string(),
        None => format!(
            "audit log intact: {entries} entries, last hash {}",
            chain.hash
        ),
    };
    Ok(Report {
        ok: broken.is_none(),
        entries,
        last_seq: chain.last,
        last_hash: chain.hash,
        broken,
        message,
    })
}

/// A row as stored, `detail` as its text.
struct Stored {
    seq: i64,
    at: i64,
    actor: String,
    role: String,
    action: String,
    target: String,
    detail: String,
    source: String,
    prev_hash: String,
    hash: String,
}

/// The chain checked so far: the last good entry.
struct Chain {
    last: i64,
    hash: String,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain {
            last: 0,
            hash: GENESIS.to_string(),
        }
    }
}

impl Chain {
    /// Takes the next row, or says how it breaks the chain.
    fn next(&mut self, r: &Stored) -> std::result::Result<(), Break> {
        if r.seq != self.last + 1 {
            return Err(Break::Missing {
                seq: self.last + 1,
                next: r.seq,
            });
        }
        let computed = entry_hash(
            r.seq,
            r.at,
            &r.actor,
            &r.role,
            &r.action,
            &r.target,
            &r.detail,
            &r.source,
            &r.prev_hash,
        );
        if computed != r.hash {
            return Err(Break::Changed { seq: r.seq });
        }
        if r.prev_hash != self.hash {
            return Err(Break::Unlinked {
                seq: r.seq,
                prev_hash: r.prev_hash.clone(),
                expected: self.hash.clone(),
            });
        }
        self.last = r.seq;
        self.hash = r.hash.clone();
        Ok(())
    }

    /// Checks the end of the chain against the head.
    fn end(&self, head: Option<&(i64, String)>) -> Option<Break> {
        let Some((seq, hash)) = head else {
            return Some(Break::HeadMissing);
        };
        if *seq > self.last {
            Some(Break::Truncated {
                seq: self.last + 1,
                head: *seq,
            })
        } else if *seq < self.last {
            Some(Break::Unrecorded {
                seq: seq + 1,
                head: *seq,
            })
        } else if *hash != self.hash {
            Some(Break::Replaced { seq: *seq })
        } else {
            None
        }
    }
}
