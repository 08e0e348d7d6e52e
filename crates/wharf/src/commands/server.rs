//! `wharf server …`: a server's data directory administered from the command line (it
//! works whether the server runs or not: the database is shared safely).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use wharf_forge::ForgeKind;
use wharf_secrets::secret::SecretString;
use wharf_server::audit::Actor;

use crate::cli::{
    ForgeArg, ProjectAddArgs, ProjectCommand, ProjectSetArgs, RoleArg, ServerArgs, ServerCommand,
    ServerEventsArgs, StatusArgs, TokenCommand,
};
use crate::commands::serve::server_error;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};

/// The data directory: `--data-dir`, else the documented default.
pub(crate) fn data_dir(given: Option<PathBuf>) -> Result<PathBuf, UserError> {
    given
        .or_else(wharf_server::default_data_dir)
        .ok_or_else(|| {
            UserError::invalid("no data directory: HOME is not set")
                .hint("name one with --data-dir DIR")
        })
}

/// Runs `wharf server …`.
pub async fn run(args: ServerArgs) -> anyhow::Result<ExitStatus> {
    let data = data_dir(args.data_dir)?;
    match args.command {
        ServerCommand::Project(ProjectCommand::Add(a)) => add(&data, a).await,
        ServerCommand::Project(ProjectCommand::List(j)) => list(&data, j.json).await,
        ServerCommand::Project(ProjectCommand::Set(s)) => set(&data, s).await,
        ServerCommand::Project(ProjectCommand::Remove(p)) => {
            if wharf_server::admin::remove_project(&data, &p.name, &Actor::local())
                .await
                .map_err(server_error)?
            {
                eprintln!(
                    "removed project {}; its run history stays in {}",
                    p.name,
                    data.join("projects").join(&p.name).display()
                );
                Ok(ExitStatus::Success)
            } else {
                Err(UserError::invalid(format!("no project named `{}`", p.name))
                    .hint("`wharf server project list` shows them")
                    .into())
            }
        }
        ServerCommand::Secrets(s) => {
            let state = wharf_server::admin::project_state(&data, &s.project)
                .await
                .map_err(server_error)?;
            let store = wharf_store::Store::open(&state).await?;
            let key = wharf_server::admin::key_file(&data);
            let db = wharf_server::admin::open(&data)
                .await
                .map_err(server_error)?;
            let audit = super::secrets::ServerAudit {
                db: &db,
                project: &s.project,
            };
            super::secrets::run_in(&store, Some(&key), Some(audit), s.command).await
        }
        ServerCommand::Keys(k) => {
            let state = wharf_server::admin::project_state(&data, &k.project)
                .await
                .map_err(server_error)?;
            let store = wharf_store::Store::open(&state).await?;
            let key = wharf_server::admin::key_file(&data);
            super::keys::run_in(&store, Some(&key), k.command).await
        }
        ServerCommand::Events(e) => events(&data, e).await,
        ServerCommand::Token(t) => token(&data, t).await,
    }
}

async fn token(data: &std::path::Path, cmd: TokenCommand) -> anyhow::Result<ExitStatus> {
    use wharf_server::tokens::Role;
    let db = wharf_server::admin::open(data)
        .await
        .map_err(server_error)?;
    match cmd {
        TokenCommand::Create(a) => {
            let role = match a.role {
                RoleArg::Viewer => Role::Viewer,
                RoleArg::Operator => Role::Operator,
                RoleArg::Admin => Role::Admin,
            };
            let (id, token) = db
                .create_token(&a.name, role, &Actor::local())
                .await
                .map_err(server_error)?;
            if a.json {
                let v = serde_json::json!({ "id": id, "name": a.name, "role": role, "token": token.expose() });
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                eprintln!(
                    "token {id} ({}, {}); shown once, stored only as its SHA-256 (use it as WHARF_TOKEN):",
                    a.name,
                    role.as_str()
                );
                outln!("{}", token.expose());
            }
        }
        TokenCommand::List(j) => {
            let tokens = db.tokens().await.map_err(server_error)?;
            if j.json {
                outln!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(ExitStatus::Success);
            }
            let mut t = Table::new(&[
                ("ID", Align::Right),
                ("NAME", Align::Left),
                ("ROLE", Align::Left),
                ("STATE", Align::Left),
            ]);
            for tok in &tokens {
                t.row(vec![
                    tok.id.to_string(),
                    tok.name.clone(),
                    tok.role.as_str().to_string(),
                    if tok.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    }
                    .to_string(),
                ]);
            }
            out!("{}", t.render());
        }
        TokenCommand::Revoke(r) => {
            if !db
                .revoke_token(r.id, &Actor::local())
                .await
                .map_err(server_error)?
            {
                return Err(UserError::invalid(format!("no live token {}", r.id))
                    .hint("`wharf server token list` shows them")
                    .into());
            }
            eprintln!("revoked token {}", r.id);
        }
    }
    Ok(ExitStatus::Success)
}

async fn add(data: &std::path::Path, a: ProjectAddArgs) -> anyhow::Result<ExitStatus> {
    let poll = match &a.poll {
        None => None,
        Some(text) => Some(Duration::from_millis(
            wharf_pipeline::duration_ms(text).ok_or_else(|| {
                UserError::invalid(format!("--poll `{text}` is not a duration"))
                    .hint("write a number and a unit: `60s`, `5m`")
            })?,
        )),
    };
    let hook_secret = if a.webhook_secret_stdin {
        if std::io::stdin().is_terminal() {
            return Err(
                UserError::invalid("--webhook-secret-stdin: stdin is a terminal")
                    .hint("pipe it in: printf %s \"$SECRET\" | wharf server project add …")
                    .into(),
            );
        }
        let mut raw = String::new();
        std::io::stdin().read_to_string(&mut raw)?;
        let raw = raw.trim_end_matches(['\n', '\r']).to_string();
        if raw.is_empty() {
            return Err(UserError::invalid("the webhook secret on stdin is empty").into());
        }
        Some(SecretString::new(raw))
    } else {
        None
    };
    let forge = match a.forge {
        ForgeArg::Github => ForgeKind::Github,
        ForgeArg::Gitlab => ForgeKind::Gitlab,
        ForgeArg::Gitea => ForgeKind::Gitea,
    };
    let generated = hook_secret.is_none();
    let statuses = status_update(a.statuses)?;
    let (info, secret) = wharf_server::admin::add_project(
        data,
        wharf_server::admin::NewProject {
            name: a.name,
            repo: a.repo,
            forge,
            poll,
            hook_secret,
            statuses,
        },
        &Actor::local(),
    )
    .await
    .map_err(server_error)?;
    if a.json {
        let mut v = serde_json::to_value(&info)?;
        if generated {
            // Shown this once; the server keeps it sealed.
            v["webhook_secret"] = serde_json::Value::String(secret.expose().to_string());
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        eprintln!(
            "added project {} ({} webhooks to <server URL>{})",
            info.name,
            forge.as_str(),
            info.hook_path
        );
        if generated {
            eprintln!("webhook secret (shown once; set it as the webhook's secret on the forge):");
            outln!("{}", secret.expose());
        }
    }
    Ok(ExitStatus::Success)
}

/// The status settings the flags ask for, the token read from stdin.
fn status_update(a: StatusArgs) -> Result<wharf_server::statuses::StatusUpdate, UserError> {
    let token = if a.status_token_stdin {
        if std::io::stdin().is_terminal() {
            return Err(
                UserError::invalid("--status-token-stdin: stdin is a terminal")
                    .hint("pipe it in: printf %s \"$TOKEN\" | wharf server project …"),
            );
        }
        let mut raw = String::new();
        std::io::stdin()
            .read_to_string(&mut raw)
            .map_err(|e| UserError::invalid(format!("--status-token-stdin: {e}")))?;
        // Trimmed in place: no copy of the token is left behind unwiped.
        raw.truncate(raw.trim_end().len());
        let token = SecretString::new(raw);
        if token.expose().trim().is_empty() {
            return Err(UserError::invalid("the status token on stdin is empty"));
        }
        Some(token)
    } else {
        None
    };
    Ok(wharf_server::statuses::StatusUpdate {
        api: a.status_api,
        token,
        repo: a.status_repo,
        off: false,
    })
}

async fn set(data: &std::path::Path, a: ProjectSetArgs) -> anyhow::Result<ExitStatus> {
    let mut update = status_update(a.statuses)?;
    update.off = a.no_statuses;
    if update.is_empty() {
        return Err(UserError::invalid("nothing to set")
            .hint("give --status-api URL --status-token-stdin [--status-repo OWNER/NAME], or --no-statuses")
            .into());
    }
    let info = wharf_server::admin::set_statuses(
        data,
        &a.name,
        update,
        &wharf_server::audit::Actor::local(),
    )
    .await
    .map_err(server_error)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        match &info.statuses {
            Some(s) => eprintln!(
                "project {}: commit statuses go to {} ({}); the token is stored sealed",
                info.name, s.api, s.repo
            ),
            None => eprintln!("project {}: commit statuses are not reported", info.name),
        }
    }
    Ok(ExitStatus::Success)
}

async fn list(data: &std::path::Path, json: bool) -> anyhow::Result<ExitStatus> {
    let projects = wharf_server::admin::list_projects(data)
        .await
        .map_err(server_error)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&projects)?);
        return Ok(ExitStatus::Success);
    }
    if projects.is_empty() {
        eprintln!(
            "no projects; add one with `wharf server project add NAME --repo URL --forge github`"
        );
        return Ok(ExitStatus::Success);
    }
    let mut t = Table::new(&[
        ("PROJECT", Align::Left),
        ("FORGE", Align::Left),
        ("POLL", Align::Right),
        ("WEBHOOK", Align::Left),
        ("REPOSITORY", Align::Left),
    ]);
    for p in &projects {
        t.row(vec![
            p.name.clone(),
            p.forge.as_str().to_string(),
            p.poll_secs
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "-".into()),
            p.hook_path.clone(),
            p.repo.clone(),
        ]);
    }
    out!("{}", t.render());
    Ok(ExitStatus::Success)
}

async fn events(data: &std::path::Path, e: ServerEventsArgs) -> anyhow::Result<ExitStatus> {
    let db = wharf_server::admin::open(data)
        .await
        .map_err(server_error)?;
    let rows = db
        .events(e.project.as_deref(), e.limit)
        .await
        .map_err(server_error)?;
    if e.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitStatus::Success);
    }
    let mut t = Table::new(&[
        ("EVENT", Align::Right),
        ("PROJECT", Align::Left),
        ("SOURCE", Align::Left),
        ("KIND", Align::Left),
        ("REF", Align::Left),
        ("STATE", Align::Left),
        ("RUNS", Align::Left),
    ]);
    for r in &rows {
        let reference = r
            .event
            .tag
            .clone()
            .or_else(|| r.event.branch.clone())
            .unwrap_or_default();
        let runs: Vec<String> = r.runs.iter().map(|n| format!("#{n}")).collect();
        let state = match &r.error {
            Some(err) => format!("{}: {}", r.state, err.lines().next().unwrap_or("")),
            None => r.state.clone(),
        };
        t.row(vec![
            r.id.to_string(),
            r.project.clone(),
            r.source.clone(),
            r.event.kind.as_str().to_string(),
            reference,
            state,
            runs.join(" "),
        ]);
    }
    out!("{}", t.render());
    Ok(ExitStatus::Success)
}
