//! `wharf deploy|rollback|deployments|environments --server URL`: the same commands on a
//! server's project, through its API. The server runs the deployment; `deploy` and
//! `rollback` follow it to its end, saying where it is on the way, and exit as the local
//! commands do.

use std::time::{Duration, Instant};

use wharf_deploy::{DeployRequest, EnvironmentState};
use wharf_model::{DeployStatus, DeploymentRecord};

use crate::commands::remote::Remote;
use crate::exit::{ExitStatus, UserError};

/// How often a deployment on a server is looked at.
const POLL: Duration = Duration::from_millis(500);

/// Polls that may fail in a row (the server restarting) before giving up.
const MISSES: u32 = 10;

/// `wharf deploy VERSION --env E --server URL`.
pub async fn deploy(r: &Remote, req: &DeployRequest, json: bool) -> anyhow::Result<ExitStatus> {
    let body = serde_json::json!({
        "release": req.version,
        "environment": req.environment,
        "rollback": req.rollback,
        "queue": req.queue,
    });
    let rec: DeploymentRecord = r.project_post(&["deployments"], &body).await?;
    follow(r, rec, json).await
}

/// `wharf rollback ENV --server URL`.
pub async fn rollback(
    r: &Remote,
    environment: &str,
    override_gates: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let body = match override_gates {
        Some(why) => serde_json::json!({ "override_gates": why }),
        None => serde_json::json!({}),
    };
    let rec: DeploymentRecord = r
        .project_post(&["environments", environment, "rollback"], &body)
        .await?;
    follow(r, rec, json).await
}

/// One line for where `rec` is now.
fn progress(rec: &DeploymentRecord) -> String {
    let mut line = format!(
        "deployment {}: {} ({})",
        rec.id,
        rec.status.as_str(),
        rec.phase
    );
    if rec.status == DeployStatus::Paused {
        if let Some(why) = &rec.reason {
            line.push_str(&format!(": {why}"));
        }
        line.push_str(&format!(
            "; `wharf deploy resume {0}` or `wharf deploy abort {0}`",
            rec.id
        ));
    }
    line
}

/// Follows deployment `rec` on the server until it ends; exits as `wharf deploy` does.
async fn follow(r: &Remote, mut rec: DeploymentRecord, json: bool) -> anyhow::Result<ExitStatus> {
    eprintln!(
        "deployment {}: {} {} to {} ({}), run by the server",
        rec.id,
        rec.mode.as_str(),
        rec.release,
        rec.environment,
        rec.strategy
    );
    let id = rec.id.to_string();
    let mut seen: Option<(DeployStatus, String)> = None;
    let mut told_gate = false;
    let mut misses = 0;
    loop {
        let now = (rec.status, rec.phase.clone());
        if seen.as_ref() != Some(&now) {
            if !rec.status.is_final() {
                eprintln!("{}", progress(&rec));
            }
            seen = Some(now);
        }
        if rec.status == DeployStatus::Waiting && !told_gate {
            told_gate = true;
            let gates: Vec<wharf_store::ApprovalGate> =
                r.project_get(&["approvals"], &[]).await.unwrap_or_default();
            let job = format!("deployment {}", rec.id);
            if let Some(g) = gates.iter().find(|g| g.run == 0 && g.job == job) {
                eprintln!(
                    "deployment {}: waiting for {} approval{} (`wharf approve {} --server …`, or the dashboard's Environments page)",
                    rec.id,
                    g.required,
                    if g.required == 1 { "" } else { "s" },
                    g.id
                );
            }
        }
        if rec.status.is_final() {
            return super::deploy::ended(&rec, json);
        }
        tokio::time::sleep(POLL).await;
        match r.project_get(&["deployments", &id], &[]).await {
            Ok(next) => {
                rec = next;
                misses = 0;
            }
            Err(e) if misses + 1 >= MISSES => return Err(e),
            Err(_) => misses += 1,
        }
    }
}

/// `wharf deploy resume|abort ID --server URL`: asks, then waits (up to 60 s) until the
/// server's deployer has acted on it.
pub async fn request(r: &Remote, id: i64, what: &str, json: bool) -> anyhow::Result<ExitStatus> {
    let sid = id.to_string();
    let mut rec: DeploymentRecord = r
        .project_post(&["deployments", &sid, what], &serde_json::json!({}))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acted =
            rec.status.is_final() || (what == "resume" && rec.status != DeployStatus::Paused);
        if acted {
            if json {
                outln!("{}", serde_json::to_string(&rec)?);
            } else {
                outln!("deployment {}: {}", rec.id, rec.status.as_str());
            }
            return Ok(ExitStatus::Success);
        }
        if Instant::now() > deadline {
            return Err(UserError::invalid(format!(
                "deployment {id} has not acted on `{what}` within 60 s"
            ))
            .hint("its deployer may be busy; `wharf deployments --server …` shows where it is")
            .into());
        }
        tokio::time::sleep(POLL).await;
        rec = r.project_get(&["deployments", &sid], &[]).await?;
    }
}

/// `wharf deployments --server URL`.
pub async fn list(
    r: &Remote,
    environment: Option<&str>,
    limit: u32,
) -> anyhow::Result<Vec<DeploymentRecord>> {
    let mut query = vec![("limit", limit.to_string())];
    if let Some(e) = environment {
        query.push(("env", e.to_string()));
    }
    r.project_get(&["deployments"], &query).await
}

/// `wharf environments --server URL`.
pub async fn environments(r: &Remote) -> anyhow::Result<Vec<EnvironmentState>> {
    r.project_get(&["environments"], &[]).await
}
