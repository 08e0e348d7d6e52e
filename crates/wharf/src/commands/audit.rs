//! `wharf audit [verify]`: a server's audit log, listed or checked, through the API
//! (`--server URL`, an admin's `WHARF_TOKEN`) or straight from its data directory.

use std::path::PathBuf;

use wharf_server::audit::{self, Entry, Filter, Report};
use wharf_server::db::Db;

use crate::cli::{AuditArgs, AuditCommand};
use crate::commands::remote::Remote;
use crate::commands::serve::server_error;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};

/// Where the log is read.
enum Source {
    /// A server's API.
    Server(Remote),
    /// A data directory's `server.db`.
    Local(Db),
}

impl Source {
    async fn open(server: Option<&str>, data_dir: Option<PathBuf>) -> anyhow::Result<Source> {
        if let (Some(url), None) = (server, &data_dir) {
            return Ok(Source::Server(Remote::server(url)?));
        }
        let data = super::server::data_dir(data_dir)?;
        // Reading must not make an empty data directory where there was none.
        if !data.join("server.db").is_file() {
            return Err(UserError::invalid(format!(
                "{} holds no server database (server.db)",
                data.display()
            ))
            .hint(
                "name the server's data directory with --data-dir DIR, or ask it with --server URL",
            )
            .into());
        }
        let db = wharf_server::admin::open(&data)
            .await
            .map_err(server_error)?;
        Ok(Source::Local(db))
    }

    async fn list(&self, f: &Filter) -> anyhow::Result<Vec<Entry>> {
        match self {
            Source::Local(db) => Ok(audit::list(db, f).await.map_err(server_error)?),
            Source::Server(r) => {
                let mut query = vec![("limit", f.limit.to_string())];
                if let Some(b) = f.before {
                    query.push(("before", b.to_string()));
                }
                if let Some(a) = &f.action {
                    query.push(("action", a.clone()));
                }
                Ok(r.get_api(&["audit"], &query).await?.json().await?)
            }
        }
    }

    async fn verify(&self) -> anyhow::Result<Report> {
        match self {
            Source::Local(db) => Ok(audit::verify(db).await.map_err(server_error)?),
            Source::Server(r) => Ok(r.get_api(&["audit", "verify"], &[]).await?.json().await?),
        }
    }
}

/// Runs `wharf audit …`.
pub async fn run(args: AuditArgs) -> anyhow::Result<ExitStatus> {
    let source = Source::open(args.server.as_deref(), args.data_dir).await?;
    match args.command {
        Some(AuditCommand::Verify) => verify(&source, args.json).await,
        None => {
            let filter = Filter {
                before: args.before,
                limit: args.limit,
                action: args.action,
            };
            list(&source, &filter, args.json).await
        }
    }
}

async fn list(source: &Source, filter: &Filter, json: bool) -> anyhow::Result<ExitStatus> {
    let entries = source.list(filter).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitStatus::Success);
    }
    if entries.is_empty() {
        eprintln!("the audit log is empty");
        return Ok(ExitStatus::Success);
    }
    let mut t = Table::new(&[
        ("SEQ", Align::Right),
        ("WHEN (UTC)", Align::Left),
        ("WHO", Align::Left),
        ("ROLE", Align::Left),
        ("FROM", Align::Left),
        ("ACTION", Align::Left),
        ("TARGET", Align::Left),
    ]);
    for e in &entries {
        t.row(vec![
            e.seq.to_string(),
            when(e.at),
            e.actor.clone(),
            e.role.clone(),
            e.source.clone(),
            e.action.clone(),
            e.target.clone(),
        ]);
    }
    out!("{}", t.render());
    if let Some(last) = entries.last()
        && last.seq > 1
        && entries.len() as u32 == filter.limit
    {
        eprintln!("older entries: wharf audit --before {}", last.seq);
    }
    Ok(ExitStatus::Success)
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

async fn verify(source: &Source, json: bool) -> anyhow::Result<ExitStatus> {
    let report = source.verify().await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if report.ok {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    }
    if report.ok {
        outln!("{}", report.message);
        return Ok(ExitStatus::Success);
    }
    Err(UserError::failed(report.message)
        .hint(
            "the log was changed outside wharf: compare server.db with a backup, and the last \
             hash `wharf audit verify` printed before with the entry of that number",
        )
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00");
        assert_eq!(when(1_700_000_000_123), "2023-11-14 22:13:20");
    }
}
