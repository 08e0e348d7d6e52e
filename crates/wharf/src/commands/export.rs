//! `wharf export`: writes (or checks) the thin platform file for a pipeline.

use std::path::Path;

use wharf_export::{ExportOptions, Platform};

use crate::cli::{ExportArgs, ExportPlatform};
use crate::exit::{ExitStatus, UserError};
use crate::project;

/// Runs `wharf export`.
pub fn run(dir: &Path, args: ExportArgs) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let pipelines = project::load(&root)?;
    let pipeline = match &args.pipeline {
        Some(name) => pipelines.iter().find(|p| p.name() == name).ok_or_else(|| {
            let names: Vec<&str> = pipelines.iter().map(|p| p.name()).collect();
            UserError::invalid(format!("no pipeline named `{name}`"))
                .hint(format!("pipelines: {}", names.join(", ")))
        })?,
        None if pipelines.len() == 1 => &pipelines[0],
        None => {
            let names: Vec<&str> = pipelines.iter().map(|p| p.name()).collect();
            return Err(UserError::invalid(format!(
                "{} pipelines in this project; name one",
                pipelines.len()
            ))
            .hint(format!("--pipeline {}", names.join(" | --pipeline ")))
            .into());
        }
    };
    let platform = match args.platform {
        ExportPlatform::Github => Platform::Github,
        ExportPlatform::Gitlab => Platform::Gitlab,
        ExportPlatform::Woodpecker => Platform::Woodpecker,
        ExportPlatform::Bitbucket => Platform::Bitbucket,
    };
    let opts = ExportOptions {
        single_job: args.single_job,
        install: args.install.clone(),
        image: args.image.clone(),
    };
    let exported = wharf_export::export(pipeline, platform, &opts);
    for w in &exported.warnings {
        eprintln!("warning: {}", w.0);
    }
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if to_stdout {
        if args.check {
            return Err(
                UserError::invalid("--check compares a file: give --output PATH, not -").into(),
            );
        }
        out!("{}", exported.text);
        return Ok(ExitStatus::Success);
    }
    let rel = args
        .output
        .clone()
        .unwrap_or_else(|| platform.default_path(pipeline.name()).into());
    let path = if rel.is_absolute() {
        rel.clone()
    } else {
        root.join(&rel)
    };
    let cmd = format!("wharf export {}", platform.as_str());
    if args.check {
        return match std::fs::read_to_string(&path) {
            Ok(text) if text == exported.text => {
                eprintln!("{} is up to date", rel.display());
                Ok(ExitStatus::Success)
            }
            Ok(_) => {
                eprintln!(
                    "error: {} is out of date with {}\n  hint: run `{cmd}` and commit the result",
                    rel.display(),
                    pipeline.file()
                );
                Ok(ExitStatus::Failure)
            }
            Err(_) => {
                eprintln!(
                    "error: {} does not exist\n  hint: run `{cmd}` and commit the result",
                    rel.display()
                );
                Ok(ExitStatus::Failure)
            }
        };
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| UserError::invalid(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&path, &exported.text)
        .map_err(|e| UserError::invalid(format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "wrote {} ({} of {}{})",
        rel.display(),
        pipeline.name(),
        platform.as_str(),
        if exported.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s) above", exported.warnings.len())
        }
    );
    Ok(ExitStatus::Success)
}
