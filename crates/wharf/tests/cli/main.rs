//! End-to-end tests: the real `wharf` binary on real pipelines in temp directories.

mod cache;
mod conditions;
mod container;
mod export;
mod files;
mod helper;
mod history;
mod image;
mod network;
mod package;
mod pipes;
mod publish;
mod registry;
mod release;
mod reliability;
mod reports;
mod run;
mod run_control;
mod runtime;
mod secrets;
mod server;
mod validate;
mod workspace;
