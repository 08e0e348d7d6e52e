//! `wharf package create|verify`: immutable release packages on their own.
//!
//! The same archive is built once and promoted unchanged (the CDAF model): building twice
//! from the same files gives the same bytes, so its sha256 names it. Inside a wharf project
//! the package is also stored content-addressed beside the run artifacts.

use std::path::Path;

use wharf_model::Event;
use wharf_package::{PackageRequest, create, verify};

use crate::cli::{PackageCommand, PackageCreateArgs, PackageVerifyArgs};
use crate::exit::{ExitStatus, UserError};
use crate::project;

/// Runs `wharf package …`.
pub fn run(dir: &Path, cmd: PackageCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        PackageCommand::Create(args) => run_create(dir, args),
        PackageCommand::Verify(args) => run_verify(dir, args),
    }
}

fn run_create(dir: &Path, args: PackageCreateArgs) -> anyhow::Result<ExitStatus> {
    let (head_sha, _) = wharf_builtins::git::head(dir);
    let version = args.release_version.clone().or_else(|| {
        wharf_builtins::git::tag_at_head(dir).and_then(|t| Event::version_from_tag(&t))
    });
    // Every entry gets the same time: SOURCE_DATE_EPOCH, else the commit's, else 0.
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|_| {
            UserError::invalid(format!(
                "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
            ))
        })?,
        Err(_) => wharf_builtins::git::head_time(dir).unwrap_or(0),
    };
    let output = if args.output.is_absolute() {
        args.output.clone()
    } else {
        dir.join(&args.output)
    };
    let built = create(&PackageRequest {
        root: dir.to_path_buf(),
        paths: args.paths.clone(),
        output,
        version,
        commit: args.commit.clone().or(head_sha),
        run: None,
        mtime,
    })
    .map_err(|e| UserError::invalid(e.to_string()))?;
    // Inside a project, keep it content-addressed with the other artifacts.
    let stored = project::find_root(dir).ok().and_then(|root| {
        let store = wharf_store::ArtifactStore::new(&project::state_dir(&root));
        store.put_file(&built.path).ok()?;
        store.object_path(&built.sha256).ok()
    });
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "path": built.path, "sha256": built.sha256, "size": built.size,
                "stored_at": stored, "manifest": built.manifest,
            })
        );
    } else {
        eprintln!(
            "created {} ({} files, {} bytes)\nsha256:{}",
            built.path.display(),
            built.manifest.files.len(),
            built.size,
            built.sha256
        );
        if let Some(s) = stored {
            eprintln!("stored at {}", s.display());
        }
    }
    Ok(ExitStatus::Success)
}

fn run_verify(dir: &Path, args: PackageVerifyArgs) -> anyhow::Result<ExitStatus> {
    let path = if args.file.is_absolute() {
        args.file.clone()
    } else {
        dir.join(&args.file)
    };
    if !path.is_file() {
        return Err(UserError::invalid(format!("{}: no such file", path.display())).into());
    }
    match verify(&path) {
        Ok(v) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::json!({"valid": true, "sha256": v.sha256, "manifest": v.manifest})
                );
            } else {
                let n = v.manifest.files.len();
                eprintln!(
                    "ok: {n} {} the manifest (version {}, commit {})\nsha256:{}",
                    if n == 1 {
                        "file matches"
                    } else {
                        "files match"
                    },
                    v.manifest.version.as_deref().unwrap_or("-"),
                    v.manifest.commit.as_deref().unwrap_or("-"),
                    v.sha256
                );
            }
            Ok(ExitStatus::Success)
        }
        Err(e) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::json!({"valid": false, "error": e.to_string()})
                );
            } else {
                eprintln!("error: {}: {e}", path.display());
            }
            Ok(ExitStatus::Failure)
        }
    }
}
