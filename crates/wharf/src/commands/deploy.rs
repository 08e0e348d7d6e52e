//! `wharf deploy`, `wharf rollback`, `wharf deployments`, `wharf environments`: a thin
//! front end of `wharf_deploy` over the project's store and pipeline.

use std::path::Path;
use std::sync::Arc;

use wharf_deploy::{Ask, DeployRequest, Deployer, Error as DeployError};
use wharf_model::{DeployStatus, DeploymentRecord};

use crate::cli::{
    DeployArgs, DeployCommand, DeploymentIdArgs, DeploymentsArgs, EnvironmentsArgs, RollbackArgs,
};
use crate::commands::deploy_remote;
use crate::commands::remote::Remote;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};
use crate::project;

/// Who deploys from this machine: the user running wharf (as for `wharf run`).
fn me() -> String {
    project::local_user().unwrap_or_else(|| "unknown".to_string())
}

/// The project's deployer: its store (created when missing) and its environments.
async fn deployer(dir: &Path) -> anyhow::Result<Deployer> {
    let root = project::find_root(dir)?;
    let pipelines = match wharf_pipeline::load_project(&root) {
        Ok(p) => p,
        Err(diags) => {
            eprint!("{}", diags.render(console::colors_enabled_stderr()));
            return Err(UserError::invalid("the pipeline files are not valid")
                .hint("`wharf validate` shows every problem")
                .into());
        }
    };
    let environments = wharf_deploy::declared(&pipelines).map_err(user_error)?;
    let store = wharf_store::Store::open(&project::state_dir(&root)).await?;
    // Progress goes to stderr in both forms; stdout keeps the result (`--json`).
    let say: wharf_deploy::Say = Arc::new(|line: &str| eprintln!("{line}"));
    Ok(Deployer {
        store,
        root,
        environments,
        say,
        now: wharf_deploy::system_now,
        key_file: None,
        // Locally the deployment's record and its output say what the gates decided.
        decisions: None,
    })
}

fn user_error(e: DeployError) -> anyhow::Error {
    match e {
        DeployError::Refused { message, hint } | DeployError::Outdated { message, hint } => {
            let mut u = UserError::invalid(message);
            if let Some(h) = hint.filter(|h| !h.is_empty()) {
                u = u.hint(h);
            }
            u.into()
        }
        DeployError::Held(h) => {
            let (message, hint) = wharf_deploy::held_message(&h, wharf_engine::now_ms());
            UserError::invalid(message).hint(hint).into()
        }
        other => anyhow::Error::new(other),
    }
}

pub(crate) fn ended(rec: &DeploymentRecord, json: bool) -> anyhow::Result<ExitStatus> {
    if json {
        outln!("{}", serde_json::to_string(rec)?);
    } else {
        outln!(
            "deployment {} of {} to {}: {}{}",
            rec.id,
            rec.release,
            rec.environment,
            rec.status.as_str(),
            rec.reason
                .as_deref()
                .filter(|_| rec.status != DeployStatus::Succeeded)
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(if rec.status == DeployStatus::Succeeded {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Runs `wharf deploy`.
pub async fn deploy(dir: &Path, args: DeployArgs) -> anyhow::Result<ExitStatus> {
    if let Some(cmd) = args.command {
        return request(dir, cmd).await;
    }
    let remote = Remote::from_args(&args.remote)?;
    let Some(version) = args.release else {
        return Err(UserError::invalid(
            "name the release to deploy: `wharf deploy VERSION --env ENVIRONMENT`",
        )
        .hint("`wharf releases` lists the recorded releases")
        .into());
    };
    let Some(environment) = args.environment else {
        return Err(
            UserError::invalid("name the environment: `--env ENVIRONMENT`")
                .hint("`wharf environments` lists them")
                .into(),
        );
    };
    let req = DeployRequest {
        environment,
        version,
        rollback: args.rollback,
        queue: args.queue,
        actor: me(),
        override_gates: None,
    };
    if let Some(r) = remote {
        return deploy_remote::deploy(&r, &req, args.json).await;
    }
    let d = deployer(dir).await?;
    let rec = d.deploy(&req).await.map_err(user_error)?;
    ended(&rec, args.json)
}

async fn request(dir: &Path, cmd: DeployCommand) -> anyhow::Result<ExitStatus> {
    let (what, args): (Ask, DeploymentIdArgs) = match cmd {
        DeployCommand::Resume(a) => (Ask::Resume, a),
        DeployCommand::Abort(a) => (Ask::Abort, a),
    };
    if let Some(r) = Remote::from_args(&args.remote)? {
        return deploy_remote::request(&r, args.id, what.as_str(), args.json).await;
    }
    let d = deployer(dir).await?;
    d.reconcile().await.map_err(user_error)?;
    let Some(rec) = d.store.get_deployment(args.id).await? else {
        return Err(UserError::invalid(format!("no deployment {}", args.id))
            .hint("`wharf deployments` lists them")
            .into());
    };
    let (acted, now) = what
        .send(&d.store, &rec, std::time::Duration::from_secs(60))
        .await
        .map_err(user_error)?;
    if !acted {
        return Err(UserError::invalid(format!(
            "deployment {} has not acted on `{}` within 60 s",
            rec.id,
            what.as_str()
        ))
        .hint("its deployer may be busy; `wharf deployments` shows where it is")
        .into());
    }
    if args.json {
        outln!("{}", serde_json::to_string(&now)?);
    } else {
        outln!("deployment {}: {}", now.id, now.status.as_str());
    }
    Ok(ExitStatus::Success)
}

/// Runs `wharf rollback ENV`.
pub async fn rollback(dir: &Path, args: RollbackArgs) -> anyhow::Result<ExitStatus> {
    if let Some(r) = Remote::from_args(&args.remote)? {
        return deploy_remote::rollback(
            &r,
            &args.environment,
            args.override_gates.as_deref(),
            args.json,
        )
        .await;
    }
    let d = deployer(dir).await?;
    d.reconcile().await.map_err(user_error)?;
    let version = d
        .rollback_target(&args.environment)
        .await
        .map_err(user_error)?;
    let rec = d
        .deploy(&DeployRequest {
            environment: args.environment,
            version,
            rollback: true,
            queue: false,
            actor: me(),
            override_gates: args.override_gates,
        })
        .await
        .map_err(user_error)?;
    ended(&rec, args.json)
}

fn short_digest(rec: &DeploymentRecord) -> String {
    rec.digests
        .iter()
        .find(|p| p.kind == wharf_model::ProducedKind::PushedImage)
        .or_else(|| rec.digests.first())
        .map(|p| {
            let hex = p.digest.trim_start_matches("sha256:");
            format!("sha256:{}", &hex[..hex.len().min(12)])
        })
        .unwrap_or_default()
}

/// Runs `wharf deployments`.
pub async fn list(dir: &Path, args: DeploymentsArgs) -> anyhow::Result<ExitStatus> {
    let list = match Remote::from_args(&args.remote)? {
        Some(r) => deploy_remote::list(&r, args.environment.as_deref(), args.limit).await?,
        None => {
            let d = deployer(dir).await?;
            d.reconcile().await.map_err(user_error)?;
            d.store
                .list_deployments(args.environment.as_deref(), args.limit)
                .await?
        }
    };
    print_deployments(&list, args.json)
}

/// Prints deployments as `wharf deployments` does: a table, or JSON on stdout.
fn print_deployments(list: &[DeploymentRecord], json: bool) -> anyhow::Result<ExitStatus> {
    if json {
        outln!("{}", serde_json::to_string(&list)?);
        return Ok(ExitStatus::Success);
    }
    if list.is_empty() {
        eprintln!("no deployments yet: `wharf deploy VERSION --env ENVIRONMENT` makes one");
        return Ok(ExitStatus::Success);
    }
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("ENVIRONMENT", Align::Left),
        ("RELEASE", Align::Left),
        ("MODE", Align::Left),
        ("STRATEGY", Align::Left),
        ("STATUS", Align::Left),
        ("BY", Align::Left),
        ("WHEN", Align::Left),
        ("DIGEST", Align::Left),
        ("REASON", Align::Left),
    ]);
    for r in list {
        t.row(vec![
            r.id.to_string(),
            r.environment.clone(),
            r.release.clone(),
            r.mode.as_str().to_string(),
            r.strategy.clone(),
            r.status.as_str().to_string(),
            r.actor.clone(),
            crate::commands::history::age(r.created_at),
            short_digest(r),
            if r.status == DeployStatus::Succeeded {
                String::new()
            } else {
                r.reason.clone().unwrap_or_default()
            },
        ]);
    }
    out!("{}", t.render());
    Ok(ExitStatus::Success)
}

/// Runs `wharf environments`.
pub async fn environments(dir: &Path, args: EnvironmentsArgs) -> anyhow::Result<ExitStatus> {
    let states = match Remote::from_args(&args.remote)? {
        Some(r) => deploy_remote::environments(&r).await?,
        None => {
            let d = deployer(dir).await?;
            d.reconcile().await.map_err(user_error)?;
            d.environment_states().await.map_err(user_error)?
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string(&states)?);
        return Ok(ExitStatus::Success);
    }
    if states.is_empty() {
        eprintln!("the pipeline declares no environments (`environments:` in wharf.yml)");
        return Ok(ExitStatus::Success);
    }
    let mut t = Table::new(&[
        ("ENVIRONMENT", Align::Left),
        ("TARGET", Align::Left),
        ("STRATEGY", Align::Left),
        ("RELEASE", Align::Left),
        ("RULES", Align::Left),
        ("LEASE", Align::Left),
    ]);
    for e in &states {
        t.row(vec![
            e.name.clone(),
            e.target_text(),
            e.strategy.clone().unwrap_or_else(|| "-".to_string()),
            e.release.clone().unwrap_or_else(|| "-".to_string()),
            e.rules().join(", "),
            e.lease
                .as_ref()
                .map(|l| format!("deployment {}", l.deployment))
                .unwrap_or_default(),
        ]);
    }
    out!("{}", t.render());
    Ok(ExitStatus::Success)
}
