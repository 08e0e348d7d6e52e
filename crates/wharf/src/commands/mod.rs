//! One module per subcommand, each exposing `run(…) -> Result<ExitStatus>`.

pub mod approve;
pub mod artifacts;
pub mod audit;
pub mod cache;
pub mod deploy;
pub mod deploy_remote;
pub mod export;
pub mod graph;
pub mod image;
pub mod keys;
pub mod logs;
pub mod package;
pub mod proxy;
pub mod publish;
pub mod release;
pub mod releases;
pub mod remote;
pub mod run;
pub mod runs;
pub mod schema;
pub mod secrets;
pub mod serve;
pub mod server;
pub mod show;
pub mod validate;

mod history;

/// Refuses a bad `WHARF_NET_*` variable before a command that uses the network does any
/// work: it is a usage error (exit 2), not a failed push.
pub(crate) fn check_net_limits() -> Result<(), crate::exit::UserError> {
    wharf_net::Limits::from_env()
        .map(drop)
        .map_err(|e| crate::exit::UserError::invalid(e.to_string()))
}
