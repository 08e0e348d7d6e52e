//! One module per subcommand, each exposing `run(…) -> Result<ExitStatus>`.

pub mod artifacts;
pub mod cache;
pub mod export;
pub mod graph;
pub mod image;
pub mod logs;
pub mod package;
pub mod publish;
pub mod release;
pub mod releases;
pub mod run;
pub mod runs;
pub mod schema;
pub mod secrets;
pub mod show;
pub mod validate;

mod history;
