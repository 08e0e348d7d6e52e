//! `wharf proxy`: flags -> the proxy's configuration -> `wharf_proxy::Proxy::start`, then
//! serve until SIGTERM or Ctrl-C. The addresses it serves on go to stdout as one JSON
//! line (ports chosen by the system for `:0` included); talk goes to stderr.

use std::time::Duration;

use crate::cli::ProxyArgs;
use crate::exit::{ExitStatus, UserError};

/// Runs the proxy until SIGTERM or Ctrl-C.
pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitStatus> {
    let mut config = wharf_proxy::Config::new(args.listen, args.admin, args.state);
    config.drain_timeout = args.drain_timeout;
    config.health_timeout = args.health_timeout;
    config.admin_token_file = args.admin_token_file;
    let state = config.state_file.clone();
    let proxy = wharf_proxy::Proxy::start(config)
        .await
        .map_err(proxy_error)?;
    outln!(
        "{}",
        serde_json::json!({
            "listen": proxy.listen_addr().to_string(),
            "admin": proxy.admin_addr().to_string(),
            "state": state,
        })
    );
    eprintln!(
        "wharf proxy: serving on http://{}, control API on http://{}; {} service(s) restored from {}",
        proxy.listen_addr(),
        proxy.admin_addr(),
        proxy.restored(),
        state.display()
    );
    stop_signal().await;
    eprintln!("wharf proxy: stopping (the state file keeps what it served)");
    Ok(ExitStatus::Success)
}

/// A proxy error as the CLI reports it: invalid settings exit 2 with their hint.
fn proxy_error(e: wharf_proxy::Error) -> anyhow::Error {
    match e {
        wharf_proxy::Error::Invalid { message, hint, .. } => {
            let mut u = UserError::invalid(message);
            if let Some(h) = hint {
                u = u.hint(h);
            }
            u.into()
        }
        wharf_proxy::Error::Bind { .. } => UserError::invalid(e.to_string())
            .hint("another process listens there; choose another --listen / --admin port")
            .into(),
        other => anyhow::Error::new(other),
    }
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Parses a duration as pipeline files write them (`30s`, `500ms`, `2m`, `1h30m`); more
/// than zero.
pub fn duration(text: &str) -> Result<Duration, String> {
    match wharf_pipeline::duration_ms(text.trim()) {
        Some(0) => Err(format!("{text:?}: must be more than 0")),
        Some(ms) => Ok(Duration::from_millis(ms)),
        None => Err(format!(
            "{text:?} is not a duration: a number and a unit (ms, s, m, h), e.g. 30s, 500ms, 2m"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(duration("7").unwrap_err().contains("a number and a unit"));
        assert!(duration("0s").unwrap_err().contains("more than 0"));
        assert!(duration("fast").is_err());
    }
}
