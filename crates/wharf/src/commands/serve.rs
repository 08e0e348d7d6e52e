//! `wharf serve`: flags -> the server's configuration -> `wharf_server::serve`.

use crate::cli::ServeArgs;
use crate::exit::{ExitStatus, UserError};

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitStatus> {
    let data_dir = super::server::data_dir(args.data_dir)?;
    if args.max_runs == 0 || args.parallel == 0 {
        return Err(UserError::invalid("--max-runs and --parallel must be at least 1").into());
    }
    let mut config = wharf_server::Config::new(data_dir, args.listen);
    config.max_runs = args.max_runs;
    config.max_parallel = args.parallel;
    config.body_timeout = std::time::Duration::from_secs(args.body_timeout.max(1));
    config.interrupted_attempts = i64::from(args.interrupted_attempts.max(1));
    if let Some(url) = &args.public_url {
        config.public_url =
            Some(wharf_server::statuses::http_url("--public-url", url).map_err(server_error)?);
    }
    config.metrics_token_file = args.metrics_token_file;
    config.max_followers = args.max_followers as usize;
    config.session_ttl = std::time::Duration::from_secs(u64::from(args.session_hours) * 3600);
    wharf_server::serve(config).await.map_err(server_error)?;
    Ok(ExitStatus::Success)
}

/// A server error as the CLI reports it: refused requests exit 2 with their hint.
pub(crate) fn server_error(e: wharf_server::Error) -> anyhow::Error {
    match e {
        wharf_server::Error::Invalid { message, hint } => {
            let mut u = UserError::invalid(message);
            if let Some(h) = hint {
                u = u.hint(h);
            }
            u.into()
        }
        wharf_server::Error::NotFound(m) => UserError::invalid(m).into(),
        other => anyhow::Error::new(other),
    }
}
