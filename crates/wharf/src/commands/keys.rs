//! `wharf keys create|show`: the project's release key, which signs each release's
//! provenance and images. The private half never leaves wharf: it is sealed under the
//! secret store's key, and no command prints it.

use std::path::Path;

use wharf_store::Store;

use crate::cli::KeysCommand;
use crate::commands::run::user_error;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};
use crate::project;

/// Runs `wharf keys …` in the project around `dir`.
pub async fn run(dir: &Path, cmd: KeysCommand) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let store = Store::open(&project::state_dir(&root)).await?;
    run_in(&store, None, cmd).await
}

/// Runs `wharf keys …` on `store`, sealing with the key in `key_file` (a server's) or,
/// when `None`, the user's.
pub async fn run_in(
    store: &Store,
    key_file: Option<&Path>,
    cmd: KeysCommand,
) -> anyhow::Result<ExitStatus> {
    match cmd {
        KeysCommand::Create(args) => {
            let meta =
                wharf_runtime::keys::create(store, key_file, args.rotate, wharf_engine::now_ms())
                    .await
                    .map_err(user_error)?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&meta)?);
            } else {
                outln!("release key {} ({})", meta.id, meta.algorithm);
                out!("{}", meta.public_pem);
                eprintln!(
                    "the private key is sealed under the secret store's key; releases are signed with it from now on"
                );
            }
            Ok(ExitStatus::Success)
        }
        KeysCommand::Show(args) => {
            let keys = store.signing_keys().await?;
            if args.pem {
                let Some(cur) = keys.iter().find(|k| k.retired_at.is_none()) else {
                    return Err(no_key());
                };
                out!("{}", cur.public_pem);
                return Ok(ExitStatus::Success);
            }
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(ExitStatus::Success);
            }
            if keys.is_empty() {
                return Err(no_key());
            }
            let mut t = Table::new(&[
                ("ID", Align::Left),
                ("ALGORITHM", Align::Left),
                ("STATE", Align::Left),
                ("CREATED", Align::Left),
            ]);
            for k in &keys {
                t.row(vec![
                    k.id.clone(),
                    k.algorithm.clone(),
                    if k.retired_at.is_none() {
                        "current".into()
                    } else {
                        "retired".into()
                    },
                    crate::commands::history::age(k.created_at),
                ]);
            }
            out!("{}", t.render());
            if let Some(cur) = keys.iter().find(|k| k.retired_at.is_none()) {
                out!("\n{}", cur.public_pem);
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn no_key() -> anyhow::Error {
    UserError::invalid("this project has no release key")
        .hint("`wharf keys create` makes one; releases recorded before it are not signed")
        .into()
}
