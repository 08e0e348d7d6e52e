//! `wharf export`: writes (or checks) the thin platform file for a pipeline.

use std::path::Path;

use wharf_export::{ExportOptions, Install, Platform};

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
    let given = given_install(&args)?;
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if to_stdout && args.check {
        return Err(
            UserError::invalid("--check compares a file: give --output PATH, not -").into(),
        );
    }
    // The file this export replaces (when printing: the one at the platform's path) holds
    // the install source named before.
    let rel = match &args.output {
        Some(o) if !to_stdout => o.clone(),
        _ => platform.default_path(pipeline.name()).into(),
    };
    let path = if rel.is_absolute() {
        rel.clone()
    } else {
        root.join(&rel)
    };
    let existing = std::fs::read_to_string(&path).ok();
    let recorded = existing.as_deref().and_then(Install::recorded);
    let cmd = format!("wharf export {}", platform.as_str());
    let target = Target {
        rel: &rel,
        cmd: &cmd,
        pipeline: pipeline.file(),
    };
    if args.check {
        let Some(text) = existing.as_deref() else {
            return Ok(target.fail(
                format!("{} does not exist", rel.display()),
                target.rerun(None),
            ));
        };
        return Ok(match checked_install(&target, given, recorded) {
            Ok(install) => check(&target, pipeline, platform, &args, install, text),
            Err(failed) => failed,
        });
    }
    let install = match (given, recorded) {
        (Some(g), Some(Ok(old))) if g != old => {
            eprintln!("note: the install source changes from {old} to {g}");
            g
        }
        (Some(g), _) => g,
        (None, Some(Ok(r))) => r,
        (None, Some(Err(e))) => {
            return Err(UserError::invalid(format!(
                "{} names an install source wharf will not use: {e}",
                rel.display()
            ))
            .hint(e.hint())
            .into());
        }
        (None, None) => return Err(no_source(&root, pipeline, platform, &rel).into()),
    };
    let opts = options(&args, install.clone());
    let exported = wharf_export::export(pipeline, platform, &opts);
    for w in &exported.warnings {
        eprintln!("warning: {}", w.0);
    }
    if to_stdout {
        out!("{}", exported.text);
        return Ok(ExitStatus::Success);
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
    eprintln!("  installs wharf from {install}");
    Ok(ExitStatus::Success)
}

/// The file being written or checked, for messages.
struct Target<'a> {
    rel: &'a Path,
    cmd: &'a str,
    pipeline: &'a str,
}

impl Target<'_> {
    /// Prints a failed check; exit 1.
    fn fail(&self, message: String, hint: String) -> ExitStatus {
        eprintln!("error: {message}\n  hint: {hint}");
        ExitStatus::Failure
    }

    /// The hint to export again (naming `install` when the file does not record it).
    fn rerun(&self, install: Option<&Install>) -> String {
        let flags = install
            .map(|i| format!(" {}", i.flags()))
            .unwrap_or_default();
        format!("run `{}{flags}` and commit the result", self.cmd)
    }
}

/// The install source the command names, if it names one; a source wharf refuses is a
/// usage error (exit 2).
fn given_install(args: &ExportArgs) -> Result<Option<Install>, UserError> {
    let pin = match (
        &args.install_git,
        &args.install_rev,
        &args.install_url,
        &args.install_sha256,
        &args.install_image,
        &args.install,
    ) {
        (Some(url), Some(rev), ..) => Install::git(url, rev),
        (_, _, Some(url), Some(sha), ..) => Install::release(url, sha),
        (.., Some(image), _) => Install::image(image),
        (.., Some(command)) => Install::command(command),
        _ => return Ok(None),
    };
    pin.map(Some)
        .map_err(|e| UserError::invalid(e.to_string()).hint(e.hint()))
}

fn options(args: &ExportArgs, install: Install) -> ExportOptions {
    ExportOptions {
        single_job: args.single_job,
        install: Some(install),
        image: args.image.clone(),
    }
}

/// For `--check`: the source to regenerate with, or the failed check when the file's
/// recorded source is missing, unreadable, or not the one the command names.
fn checked_install(
    t: &Target<'_>,
    given: Option<Install>,
    recorded: Option<wharf_export::Result<Install>>,
) -> Result<Install, ExitStatus> {
    let rel = t.rel.display();
    match (given, recorded) {
        (given, Some(Err(e))) => Err(t.fail(
            format!("{rel} names an install source wharf will not use: {e}"),
            match given {
                Some(g) => t.rerun(Some(&g)),
                None => format!("{}; {}", e.hint(), t.rerun(None)),
            },
        )),
        (Some(g), Some(Ok(r))) if g != r => Err(t.fail(
            format!("the install source changed: {rel} installs wharf from {r}, this command names {g}"),
            t.rerun(Some(&g)),
        )),
        (Some(g), None) => Err(t.fail(
            format!("{rel} installs wharf from no pinned source; this command names {g}"),
            t.rerun(Some(&g)),
        )),
        (None, None) => Err(t.fail(
            format!("{rel} installs wharf from no pinned source"),
            format!(
                "run `{} --install-git URL --install-rev COMMIT` (or another source, see docs/export.md) and commit the result",
                t.cmd
            ),
        )),
        (_, Some(Ok(r))) => Ok(r),
    }
}

/// Compares the file on disk with what would be written.
fn check(
    t: &Target<'_>,
    pipeline: &wharf_pipeline::Pipeline,
    platform: Platform,
    args: &ExportArgs,
    install: Install,
    text: &str,
) -> ExitStatus {
    let opts = options(args, install.clone());
    let exported = wharf_export::export(pipeline, platform, &opts);
    for w in &exported.warnings {
        eprintln!("warning: {}", w.0);
    }
    let rel = t.rel.display();
    if text == exported.text {
        eprintln!("{rel} is up to date (installs wharf from {install})");
        ExitStatus::Success
    } else if !wharf_export::install_matches(text, platform, &opts) {
        t.fail(
            format!(
                "the install step of {rel} is not the one its header pins ({install}): edited by hand?"
            ),
            t.rerun(None),
        )
    } else {
        t.fail(
            format!("{rel} is out of date with {}", t.pipeline),
            t.rerun(None),
        )
    }
}

/// No install source named, and none recorded: say how to name one, with the source
/// another exported file of this pipeline already pins, if any.
fn no_source(
    root: &Path,
    pipeline: &wharf_pipeline::Pipeline,
    platform: Platform,
    rel: &Path,
) -> UserError {
    let cmd = format!("wharf export {}", platform.as_str());
    let elsewhere = [
        Platform::Github,
        Platform::Gitlab,
        Platform::Woodpecker,
        Platform::Bitbucket,
    ]
    .into_iter()
    .map(|p| p.default_path(pipeline.name()))
    .filter(|p| Path::new(p) != rel)
    .find_map(|p| {
        let text = std::fs::read_to_string(root.join(&p)).ok()?;
        Some((p, Install::recorded(&text)?.ok()?))
    });
    let hint = match elsewhere {
        Some((file, pin)) => format!(
            "{file} installs wharf from {pin}; to use the same: `{cmd} {}`",
            pin.flags()
        ),
        None => format!(
            "name it once, the file's header keeps it: `{cmd} --install-git https://HOST/OWNER/wharf --install-rev COMMIT` (a full commit hash), `--install-url URL --install-sha256 HEX`, or `--install-image NAME@sha256:HEX`; see docs/export.md"
        ),
    };
    UserError::invalid(format!(
        "no install source: the exported file must install wharf from a source you pin, not by its crate name (whoever owns `wharf` on crates.io would run in {} with its secrets)",
        platform_name(platform)
    ))
    .hint(hint)
}

fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Github => "GitHub Actions",
        Platform::Gitlab => "GitLab CI",
        Platform::Woodpecker => "Woodpecker",
        Platform::Bitbucket => "Bitbucket Pipelines",
    }
}
