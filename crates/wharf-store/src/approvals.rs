//! Approval gates: a deployment job waiting for approvals before it deploys to a
//! protected environment (`environments.NAME.approval`). The runtime opens a gate and
//! waits for it; `wharf approve` and the server's API approve. Each approver counts once,
//! and whoever started the run may not approve it unless the environment allows it.

use sqlx::Row;
use wharf_model::Millis;

use crate::error::Result;
use crate::store::Store;

/// A gate and who approved it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalGate {
    /// Its id (what `wharf approve ID` names).
    pub id: i64,
    /// The run.
    pub run: u64,
    /// The job waiting.
    pub job: String,
    /// The environment it deploys to.
    pub environment: String,
    /// Approvals needed.
    pub required: u32,
    /// Who started the run.
    pub starter: Option<String>,
    /// Whether the starter may approve.
    pub self_approval: bool,
    /// `waiting`, `approved` or `cancelled`.
    pub state: String,
    /// Who approved, and when, in order.
    pub approvals: Vec<(String, Millis)>,
    /// When the job began to wait.
    pub created_at: Millis,
}

/// A gate to open: a deployment job of a run that waits for approvals.
#[derive(Debug, Clone, Copy)]
pub struct NewGate<'a> {
    /// The run.
    pub run: u64,
    /// The job.
    pub job: &'a str,
    /// The environment it deploys to.
    pub environment: &'a str,
    /// Approvals needed.
    pub required: u32,
    /// Who started the run.
    pub starter: Option<&'a str>,
    /// Whether the starter may approve.
    pub self_approval: bool,
    /// Now.
    pub at: Millis,
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Counted.
    Counted {
        /// The gate's approvals now.
        approvals: u32,
        /// Approvals it needs.
        required: u32,
    },
    /// This approver had already approved: counted once.
    AlreadyCounted {
        /// The gate's approvals now.
        approvals: u32,
        /// Approvals it needs.
        required: u32,
    },
    /// The approver started the run, and the environment does not allow that.
    SelfApproval,
    /// The gate is not waiting any more (`approved` or `cancelled`).
    Closed(String),
    /// No gate with that id.
    NotFound,
}

impl Store {
    /// Opens the gate `g` describes (or returns the one already open for its run and job:
    /// a job's second attempt waits on the same approvals); its id.
    pub async fn open_gate(&self, g: &NewGate<'_>) -> Result<i64> {
        let NewGate {
            run,
            job,
            environment,
            required,
            starter,
            self_approval,
            at,
        } = *g;
        let err = self.db_err("open an approval gate");
        sqlx::query(
            "INSERT INTO gates (run, job, environment, required, starter, self_approval, state, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?) ON CONFLICT (run, job) DO NOTHING",
        )
        .bind(i64::try_from(run).unwrap_or(i64::MAX))
        .bind(job)
        .bind(environment)
        .bind(i64::from(required))
        .bind(starter)
        .bind(self_approval)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(&err)?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM gates WHERE run = ? AND job = ?")
            .bind(i64::try_from(run).unwrap_or(i64::MAX))
            .bind(job)
            .fetch_one(&self.pool)
            .await
            .map_err(&err)?;
        Ok(id)
    }

    /// Approves gate `id` as `approver`; once it has its approvals it is `approved`.
    pub async fn approve(&self, id: i64, approver: &str, at: Millis) -> Result<Approval> {
        let err = self.db_err("approve");
        let Some(gate) = self.get_gate(id).await? else {
            return Ok(Approval::NotFound);
        };
        if gate.state != "waiting" {
            return Ok(Approval::Closed(gate.state));
        }
        if !gate.self_approval && gate.starter.as_deref() == Some(approver) {
            return Ok(Approval::SelfApproval);
        }
        let inserted = sqlx::query(
            "INSERT INTO approvals (gate, approver, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(approver)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(&err)?
        .rows_affected();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM approvals WHERE gate = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(&err)?;
        let approvals = u32::try_from(count).unwrap_or(u32::MAX);
        if approvals >= gate.required {
            sqlx::query(
                "UPDATE gates SET state = 'approved', decided_at = ? WHERE id = ? AND state = 'waiting'",
            )
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        }
        Ok(if inserted == 0 {
            Approval::AlreadyCounted {
                approvals,
                required: gate.required,
            }
        } else {
            Approval::Counted {
                approvals,
                required: gate.required,
            }
        })
    }

    /// Ends a gate that is still waiting (its run was cancelled).
    pub async fn close_gate(&self, id: i64, state: &str, at: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE gates SET state = ?, decided_at = ? WHERE id = ? AND state = 'waiting'",
        )
        .bind(state)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("close an approval gate"))?;
        Ok(())
    }

    /// Gate `id` with its approvals.
    pub async fn get_gate(&self, id: i64) -> Result<Option<ApprovalGate>> {
        Ok(self.gates(Some(id), false).await?.pop())
    }

    /// Every gate (or those still waiting), newest first.
    pub async fn list_gates(&self, waiting_only: bool) -> Result<Vec<ApprovalGate>> {
        self.gates(None, waiting_only).await
    }

    async fn gates(&self, id: Option<i64>, waiting_only: bool) -> Result<Vec<ApprovalGate>> {
        let err = self.db_err("read approval gates");
        let rows = sqlx::query(
            "SELECT id, run, job, environment, required, starter, self_approval, state, created_at \
             FROM gates WHERE (? IS NULL OR id = ?) AND (? = 0 OR state = 'waiting') ORDER BY id DESC LIMIT 200",
        )
        .bind(id)
        .bind(id)
        .bind(waiting_only)
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id").map_err(&err)?;
            let approvals = sqlx::query(
                "SELECT approver, at FROM approvals WHERE gate = ? ORDER BY at, approver",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(&err)?
            .iter()
            .map(|a| Ok((a.try_get("approver")?, a.try_get("at")?)))
            .collect::<std::result::Result<Vec<(String, Millis)>, sqlx::Error>>()
            .map_err(&err)?;
            let run: i64 = row.try_get("run").map_err(&err)?;
            let required: i64 = row.try_get("required").map_err(&err)?;
            out.push(ApprovalGate {
                id,
                run: u64::try_from(run).unwrap_or_default(),
                job: row.try_get("job").map_err(&err)?,
                environment: row.try_get("environment").map_err(&err)?,
                required: u32::try_from(required).unwrap_or_default(),
                starter: row.try_get("starter").map_err(&err)?,
                self_approval: row.try_get("self_approval").map_err(&err)?,
                state: row.try_get("state").map_err(&err)?,
                approvals,
                created_at: row.try_get("created_at").map_err(&err)?,
            });
        }
        Ok(out)
    }
}
