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

/// Parses `30s`, `500ms`, `2m` or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    if d.is_zero() {
        return Err(format!("{text:?}: must be more than 0"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        assert!(duration("0s").is_err());
        assert!(duration("1h").unwrap_err().contains("ms, s or m"));
        assert!(duration("fast").is_err());
    }
}
