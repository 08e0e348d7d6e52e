//! The wharf command line: parse, dispatch to one command module, exit with a code.

/// `println!` for command output: a reader that went away (`wharf runs | head -1`) ends
/// wharf quietly, as it ends `cat`, instead of a panic.
macro_rules! outln {
    () => { $crate::stdout::write(format_args!("\n")) };
    ($($t:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` for command output (see `outln!`).
macro_rules! out {
    ($($t:tt)*) => { $crate::stdout::write(format_args!($($t)*)) };
}

mod ci_env;
mod cli;
mod commands;
mod exit;
mod output;
mod project;
mod secret_env;
mod stdout;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::{ExitStatus, UserError};

fn main() -> std::process::ExitCode {
    // Steps run as the same user: without this they could read wharf's memory and
    // environment through /proc (how the 2025 tj-actions compromise dumped secrets).
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Invalid.into();
        }
    };
    let result = runtime.block_on(dispatch(cli));
    let status = match result {
        Ok(status) => status,
        Err(err) => report(&err),
    };
    // Do not wait for blocking tasks (e.g. a reader on a stuck pipe) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    status.into()
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitStatus> {
    let dir = match &cli.directory {
        Some(d) => d.clone(),
        None => std::env::current_dir()?,
    };
    match cli.command {
        Command::Run(args) => commands::run::run(&dir, args).await,
        Command::Validate(args) => commands::validate::run(&dir, args),
        Command::Graph(args) => commands::graph::run(&dir, args),
        Command::Schema => commands::schema::run(),
        Command::Runs(args) => commands::runs::run(&dir, args).await,
        Command::Show(args) => commands::show::run(&dir, args).await,
        Command::Logs(args) => commands::logs::run(&dir, args).await,
        Command::Artifacts(args) => commands::artifacts::run(&dir, args).await,
        Command::Secrets(cmd) => commands::secrets::run(&dir, cmd).await,
        Command::Keys(cmd) => commands::keys::run(&dir, cmd).await,
        Command::Package(cmd) => commands::package::run(&dir, cmd),
        Command::Release(cmd) => commands::release::run(&dir, cmd).await,
        Command::Releases(args) => commands::releases::run(&dir, args).await,
        Command::Approve(args) => commands::approve::approve(&dir, args).await,
        Command::Approvals(args) => commands::approve::list(&dir, args).await,
        Command::Deploy(args) => commands::deploy::deploy(&dir, args).await,
        Command::Rollback(args) => commands::deploy::rollback(&dir, args).await,
        Command::Deployments(args) => commands::deploy::list(&dir, args).await,
        Command::Environments(args) => commands::deploy::environments(&dir, args).await,
        Command::Export(args) => commands::export::run(&dir, args),
        Command::Image(cmd) => commands::image::run(&dir, cmd).await,
        Command::Publish(cmd) => commands::publish::run(&dir, cmd).await,
        Command::Cache(cmd) => commands::cache::run(&dir, cmd),
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Proxy(args) => commands::proxy::run(args).await,
        Command::Server(args) => commands::server::run(args).await,
        Command::Trigger(args) => commands::remote::trigger(args).await,
        Command::Audit(args) => commands::audit::run(args).await,
    }
}

fn report(err: &anyhow::Error) -> ExitStatus {
    // Output cut short by its reader (`| head -1`) is not an error of the command.
    if err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitStatus::Success;
    }
    if let Some(u) = err.downcast_ref::<UserError>() {
        if u.message.is_empty() {
            // Said already, by the diagnostics it stands for.
            return u.status;
        }
        eprintln!("error: {}", u.message);
        if let Some(h) = &u.hint {
            eprintln!("  hint: {h}");
        }
        return u.status;
    }
    eprintln!("error: {err:#}");
    ExitStatus::Invalid
}
