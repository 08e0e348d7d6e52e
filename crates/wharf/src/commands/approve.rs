//! `wharf approve ID` and `wharf approvals`: the approval gates of deployment jobs
//! (`environments.NAME.approval`), in the project's history or on a server.

use std::path::Path;

use wharf_runtime::approvals::Refused;
use wharf_store::ApprovalGate;

use crate::cli::{ApprovalsArgs, ApproveArgs};
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};

/// Who approves from this machine: the user running wharf, as `wharf run` names the actor
/// of the runs it starts.
fn me() -> anyhow::Result<String> {
    crate::project::local_user().ok_or_else(|| {
        UserError::invalid(
            "cannot tell who is approving: USER and LOGNAME are not set, and this user id \
             has no account in /etc/passwd",
        )
        .hint("approvals are counted by name; run as a user with USER set")
        .into()
    })
}

/// Runs `wharf approve`.
pub async fn approve(dir: &Path, args: ApproveArgs) -> anyhow::Result<ExitStatus> {
    let id = args.id;
    if let Some(r) = crate::commands::remote::Remote::from_args(&args.remote)? {
        let answer = r.approve(id).await?;
        if args.json {
            outln!("{answer}");
        } else {
            outln!("{}", answer["outcome"].as_str().unwrap_or("approved"));
        }
        return Ok(ExitStatus::Success);
    }
    let Some((_, store)) = history::open(dir).await? else {
        return Err(history::no_runs());
    };
    let approver = me()?;
    let done =
        wharf_runtime::approvals::approve(&store, id, &approver, wharf_engine::now_ms()).await?;
    let a = match done {
        Ok(a) => a,
        Err(Refused::SelfApproval(m)) => {
            return Err(UserError::invalid(m)
                .hint(wharf_runtime::approvals::SELF_APPROVAL_HINT)
                .into());
        }
        Err(Refused::Closed(m)) => return Err(UserError::invalid(m).into()),
        Err(Refused::NotFound(m)) => {
            return Err(UserError::invalid(m)
                .hint("`wharf approvals` lists the deployments waiting for approvals")
                .into());
        }
    };
    if args.json {
        let gate = store.get_gate(id).await?;
        outln!("{}", serde_json::json!({ "outcome": a.said, "gate": gate }));
    } else {
        outln!("{}", a.said);
    }
    Ok(ExitStatus::Success)
}

/// Runs `wharf approvals`.
pub async fn list(dir: &Path, args: ApprovalsArgs) -> anyhow::Result<ExitStatus> {
    let gates: Vec<ApprovalGate> =
        if let Some(r) = crate::commands::remote::Remote::from_args(&args.remote)? {
            r.approvals(args.all).await?
        } else {
            match history::open(dir).await? {
                Some((_, store)) => store.list_gates(!args.all).await?,
                None => Vec::new(),
            }
        };
    if args.json {
        outln!("{}", serde_json::to_string(&gates)?);
        return Ok(ExitStatus::Success);
    }
    if gates.is_empty() {
        eprintln!(
            "no deployment is waiting for approvals{}",
            if args.all { " (and none did)" } else { "" }
        );
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("RUN", Align::Right),
        ("JOB", Align::Left),
        ("ENVIRONMENT", Align::Left),
        ("APPROVALS", Align::Left),
        ("STARTED BY", Align::Left),
        ("STATE", Align::Left),
        ("SINCE", Align::Left),
    ]);
    for g in gates {
        let names: Vec<&str> = g.approvals.iter().map(|(n, _)| n.as_str()).collect();
        table.row(vec![
            g.id.to_string(),
            // A `wharf deploy` waits as `deployment N` of no run.
            if g.run == 0 {
                "-".to_string()
            } else {
                format!("#{}", g.run)
            },
            g.job.clone(),
            g.environment.clone(),
            format!(
                "{}/{}{}",
                g.approvals.len(),
                g.required,
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", names.join(", "))
                }
            ),
            g.starter.clone().unwrap_or_default(),
            g.state.clone(),
            history::age(g.created_at),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}
