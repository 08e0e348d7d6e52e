//! `wharf secrets set|list|rm`: the encrypted secret store of a project.
//!
//! Values come from stdin or a file, never from the command line (where shell history and
//! `ps` would keep them); on a terminal the typed value is not echoed. They are encrypted
//! with the key before they reach the database.

use std::io::{IsTerminal, Read};
use std::path::Path;

use wharf_secrets::crypto;
use wharf_secrets::key::{self, KeySource};
use wharf_secrets::mask::MIN_SECRET_LEN;
use wharf_secrets::secret::SecretString;
use wharf_server::audit::Actor;
use wharf_store::{SecretRecord, Store};

use crate::cli::{SecretNameArgs, SecretSetArgs, SecretsCommand};
use crate::commands::history;
use crate::commands::serve::server_error;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};
use crate::project;

/// Runs `wharf secrets …`.
pub async fn run(dir: &Path, cmd: SecretsCommand) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let store = Store::open(&project::state_dir(&root)).await?;
    run_in(&store, None, None, cmd).await
}

/// A server project's secrets: each change is recorded in the server's audit log.
pub struct ServerAudit<'a> {
    /// The server's database.
    pub db: &'a wharf_server::db::Db,
    /// The project the store belongs to.
    pub project: &'a str,
}

/// Runs `wharf secrets …` on `store`, sealing with the key in `key_file` (a server's) or,
/// when `None`, the user's key; changes recorded in `audit`'s log when given.
pub async fn run_in(
    store: &Store,
    key_file: Option<&Path>,
    audit: Option<ServerAudit<'_>>,
    cmd: SecretsCommand,
) -> anyhow::Result<ExitStatus> {
    let store = store.clone();
    match cmd {
        SecretsCommand::Set(args) => set(&store, key_file, audit, args).await,
        SecretsCommand::List(args) => list(&store, args.json).await,
        SecretsCommand::Rm(args) => rm(&store, audit, args).await,
    }
}

async fn set(
    store: &Store,
    key_file: Option<&Path>,
    audit: Option<ServerAudit<'_>>,
    args: SecretSetArgs,
) -> anyhow::Result<ExitStatus> {
    if args.value_in_argv.is_some() {
        return Err(UserError::invalid(
            "secret values are never taken from the command line (shell history and `ps` would keep them)",
        )
        .hint(format!(
            "pipe it in: printf %s \"$TOKEN\" | wharf secrets set {}",
            args.name
        ))
        .into());
    }
    check_name(&args.name)?;
    if let Some(e) = &args.env {
        check_env(e)?;
    }
    let value = read_value(&args)?;
    if value.len() < MIN_SECRET_LEN {
        return Err(UserError::invalid(format!(
            "the value is {} characters long; secrets must have at least {MIN_SECRET_LEN}",
            value.len()
        ))
        .hint("values that short match ordinary log text, so they cannot be masked reliably; use a longer token")
        .into());
    }
    let file = key_file.map(Path::to_path_buf).or_else(key::key_file_path);
    let existed = file.as_ref().is_some_and(|p| p.exists());
    let loaded = match key_file {
        Some(f) => key::load_key_from(std::env::var(key::KEY_ENV).ok().as_deref(), f, true),
        None => key::load_key(true),
    };
    let (key, source) = loaded.map_err(|e| UserError::invalid(e.to_string()))?;
    let sealed = crypto::seal(&key, &args.name, args.env.as_deref(), &value)
        .map_err(|e| UserError::invalid(e.to_string()))?;
    let record = SecretRecord {
        name: args.name.clone(),
        scope: args.env.clone(),
        key_id: sealed.key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        updated_at: wharf_engine::now_ms(),
    };
    match &audit {
        Some(a) => {
            wharf_server::audit::put_secret(a.db, store, a.project, &record, &Actor::local())
                .await
                .map_err(server_error)?;
        }
        None => store.put_secret(&record).await?,
    }
    let scope = args
        .env
        .as_deref()
        .map(|e| format!("environment {e}"))
        .unwrap_or_else(|| "every environment".into());
    eprintln!("stored {} for {scope} (key {})", args.name, key.id());
    if let KeySource::File(path) = source
        && !existed
    {
        eprintln!(
            "created the key file {} (mode 0600): keep it safe, the stored secrets cannot be read without it",
            path.display()
        );
    }
    Ok(ExitStatus::Success)
}

fn read_value(args: &SecretSetArgs) -> anyhow::Result<SecretString> {
    let mut raw = String::new();
    if let Some(path) = &args.from_file {
        raw = std::fs::read_to_string(path)
            .map_err(|e| UserError::invalid(format!("{}: {e}", path.display())))?;
    } else if std::io::stdin().is_terminal() {
        eprint!("value for {} (not shown; end with Enter): ", args.name);
        raw = read_hidden_line()?;
        eprintln!();
    } else {
        std::io::stdin().read_to_string(&mut raw)?;
    }
    // `echo "$TOKEN" | …` and files end with a newline that is not part of the value.
    if raw.ends_with('\n') {
        raw.pop();
        if raw.ends_with('\r') {
            raw.pop();
        }
    }
    if raw.is_empty() {
        return Err(UserError::invalid("the value is empty")
            .hint("pipe it in: printf %s \"$TOKEN\" | wharf secrets set NAME")
            .into());
    }
    Ok(SecretString::new(raw))
}

/// Reads one line from the terminal with echo off.
fn read_hidden_line() -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin)?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    tcsetattr(&stdin, OptionalActions::Now, &before)?;
    read?;
    Ok(line)
}

async fn list(store: &Store, json: bool) -> anyhow::Result<ExitStatus> {
    let secrets = store.list_secrets().await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&secrets)?);
        return Ok(ExitStatus::Success);
    }
    if secrets.is_empty() {
        eprintln!("no secrets stored; add one with `wharf secrets set NAME`");
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("ENVIRONMENT", Align::Left),
        ("KEY", Align::Left),
        ("UPDATED", Align::Left),
    ]);
    for s in secrets {
        table.row(vec![
            s.name.clone(),
            s.scope.as_deref().unwrap_or("(all)").to_string(),
            s.key_id.clone(),
            history::age(s.updated_at),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}

async fn rm(
    store: &Store,
    audit: Option<ServerAudit<'_>>,
    args: SecretNameArgs,
) -> anyhow::Result<ExitStatus> {
    let env = args.env.as_deref();
    let deleted = match &audit {
        Some(a) => wharf_server::audit::delete_secret(
            a.db,
            store,
            a.project,
            &args.name,
            env,
            &Actor::local(),
        )
        .await
        .map_err(server_error)?,
        None => store.delete_secret(&args.name, env).await?,
    };
    if deleted {
        eprintln!("deleted {}", args.name);
        Ok(ExitStatus::Success)
    } else {
        let scope = args
            .env
            .as_deref()
            .map(|e| format!(" for environment {e}"))
            .unwrap_or_default();
        Err(
            UserError::invalid(format!("no secret {}{scope}", args.name))
                .hint("`wharf secrets list` shows what is stored")
                .into(),
        )
    }
}

fn check_name(name: &str) -> Result<(), UserError> {
    if wharf_secrets::secret::valid_name(name) {
        Ok(())
    } else {
        Err(UserError::invalid(format!(
            "`{name}` is not a valid secret name"
        ))
        .hint("names are environment variable names: upper case letters, digits and _, not starting with a digit or WHARF_"))
    }
}

fn check_env(env: &str) -> Result<(), UserError> {
    if !env.is_empty()
        && env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(
            UserError::invalid(format!("`{env}` is not a valid environment name"))
                .hint("letters, digits, - and _"),
        )
    }
}
