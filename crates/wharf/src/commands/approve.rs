//! `wharf approve ID` and `wharf approvals`: the approval gates of deployment jobs
//! (`environments.NAME.approval`), in the project's history or on a server.

use std::path::Path;

use wharf_store::{Approval, ApprovalGate};

use crate::cli::{ApprovalsArgs, ApproveArgs};
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};

/// Who approves from this machine: the user running wharf, as `wharf run` names the actor
/// of the runs it starts.
fn me() -> anyhow::Result<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| {
            UserError::invalid("cannot tell who is approving: USER is not set")
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
    let gate = store.get_gate(id).await?;
    let outcome = store.approve(id, &approver, wharf_engine::now_ms()).await?;
    let text = said(id, gate.as_ref(), &approver, &outcome)?;
    if args.json {
        let gate = store.get_gate(id).await?;
        outln!("{}", serde_json::json!({ "outcome": text, "gate": gate }));
    } else {
        outln!("{text}");
    }
    Ok(ExitStatus::Success)
}

/// What an approval did, in words; a refusal as an error with its hint.
pub(crate) fn said(
    id: i64,
    gate: Option<&ApprovalGate>,
    approver: &str,
    outcome: &Approval,
) -> anyhow::Result<String> {
    let what = gate.map_or(String::new(), |g| {
        format!(" (run #{}, job `{}` to `{}`)", g.run, g.job, g.environment)
    });
    match outcome {
        Approval::Counted {
            approvals,
            required,
        } if approvals >= required => Ok(format!(
            "approved gate {id}{what}: {approvals} of {required} approvals; the job deploys now"
        )),
        Approval::Counted {
            approvals,
            required,
        } => Ok(format!(
            "approval counted for gate {id}{what}: {approvals} of {required}; it waits for {} more",
            required - approvals
        )),
        Approval::AlreadyCounted {
            approvals,
            required,
        } => Ok(format!(
            "{approver} had already approved gate {id}{what}: each approver counts once ({approvals} of {required})"
        )),
        Approval::SelfApproval => Err(UserError::invalid(format!(
            "{approver} started this run and may not approve it: gate {id}{what}"
        ))
        .hint("someone else approves; or set `self-approval: true` under the environment's `approval:` to allow it")
        .into()),
        Approval::Closed(state) => Err(UserError::invalid(format!(
            "gate {id}{what} is not waiting: it is {state}"
        ))
        .into()),
        Approval::NotFound => Err(UserError::invalid(format!("no approval gate {id}"))
            .hint("`wharf approvals` lists the deployments waiting for approvals")
            .into()),
    }
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
            format!("#{}", g.run),
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
