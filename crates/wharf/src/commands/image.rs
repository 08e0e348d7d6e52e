//! `wharf image build|push`: the `build-image` step's work from the command line (one
//! code path: both end in `crate::images`).

use std::path::Path;

use wharf_model::{BuildImageStep, Event, LayerSpec};

use crate::cli::{ImageBuildArgs, ImageCommand, ImagePushArgs};
use crate::exit::{ExitStatus, UserError};
use crate::images::{ImageContext, build_image};
use crate::{git, project, secret_env};

/// Runs `wharf image …`.
pub async fn run(dir: &Path, cmd: ImageCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        ImageCommand::Build(args) => run_build(dir, *args).await,
        ImageCommand::Push(args) => run_push(dir, args).await,
    }
}

async fn run_build(dir: &Path, args: ImageBuildArgs) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir).unwrap_or_else(|_| dir.to_path_buf());
    let wharf_dir = project::state_dir(&root);
    let layers = args
        .layers
        .iter()
        .map(|l| {
            let (src, dest) = l.rsplit_once(':').ok_or_else(|| {
                UserError::invalid(format!("--layer `{l}` is not SRC:DEST"))
                    .hint("e.g. --layer dist/:/app/")
            })?;
            if !dest.starts_with('/') {
                return Err(UserError::invalid(format!(
                    "--layer `{l}`: the destination must be absolute"
                )));
            }
            Ok(LayerSpec {
                src: src.to_string(),
                dest: dest.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.dockerfile.is_none() && layers.is_empty() && args.from.is_none() {
        return Err(UserError::invalid("nothing to build")
            .hint("give --layer SRC:DEST (with an optional --from), or --dockerfile FILE")
            .into());
    }
    let step = BuildImageStep {
        from: args.from.clone(),
        layers,
        dockerfile: args.dockerfile.clone(),
        context: args.context.clone(),
        build_args: pairs("--build-arg", &args.build_args)?,
        entrypoint: args.entrypoint.as_deref().map(argv).transpose()?,
        cmd: args.cmd.as_deref().map(argv).transpose()?,
        env: pairs("--env", &args.env)?,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        ports: args.ports.clone(),
        labels: pairs("--label", &args.labels)?,
        image: args.image.clone(),
        tags: args.tags.clone(),
        push: args.push,
        insecure: args.insecure.clone(),
        compression: args.compression.clone(),
        username: args.username.clone(),
        password: args.password_secret.clone(),
        output: None,
    };
    let password = match &args.password_secret {
        Some(name) => Some(secret_env::lookup(dir, name).await?),
        None => None,
    };
    let (sha, _) = git::head(dir);
    let version = args
        .release_version
        .clone()
        .or_else(|| git::tag_at_head(dir).and_then(|t| Event::version_from_tag(&t)));
    let epoch: Option<i64> = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Some(v.trim().parse().map_err(|_| {
            UserError::invalid(format!(
                "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
            ))
        })?),
        Err(_) => None,
    };
    let created = epoch.unwrap_or_else(|| git::head_time(dir).unwrap_or(0) as i64);
    let cx = ImageContext {
        cwd: dir,
        workspace: &root,
        wharf_dir: &wharf_dir,
        name: "cli",
        version,
        sha,
        created,
        mtime: epoch.unwrap_or(0),
        password,
        output: args
            .output
            .clone()
            .map(|o| if o.is_absolute() { o } else { dir.join(o) }),
        confined: false,
    };
    let produced = build_image(&step, &cx, &mut |line| eprintln!("{line}"))
        .await
        .map_err(UserError::failed)?;
    report(&produced, args.json)
}

fn report(produced: &[wharf_model::Produced], json: bool) -> anyhow::Result<ExitStatus> {
    if json {
        println!("{}", serde_json::to_string(produced)?);
    }
    Ok(ExitStatus::Success)
}

async fn run_push(dir: &Path, args: ImagePushArgs) -> anyhow::Result<ExitStatus> {
    let (layout, tag) = match args.layout.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') && !p.is_empty() => (dir.join(p), Some(t.to_string())),
        _ => (dir.join(&args.layout), None),
    };
    let password = match &args.password_secret {
        Some(name) => Some(secret_env::lookup(dir, name).await?),
        None => None,
    };
    let pushed = crate::push::push_refs(
        &layout,
        tag.as_deref(),
        &args.refs,
        &args.insecure,
        args.username.as_deref(),
        password,
        &mut |line| eprintln!("{line}"),
    )
    .await
    .map_err(UserError::failed)?;
    let produced: Vec<wharf_model::Produced> = pushed
        .into_iter()
        .map(|(name, digest)| wharf_model::Produced {
            kind: wharf_model::ProducedKind::PushedImage,
            name,
            digest,
            size: None,
        })
        .collect();
    report(&produced, args.json)
}

/// `NAME=VALUE` pairs of a repeatable flag.
fn pairs(
    flag: &str,
    items: &[String],
) -> Result<std::collections::BTreeMap<String, String>, UserError> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| UserError::invalid(format!("{flag} `{kv}` is not NAME=VALUE")))
        })
        .collect()
}

/// A JSON array of strings, or one word.
fn argv(text: &str) -> Result<Vec<String>, UserError> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| {
            UserError::invalid(format!("`{text}` is not a JSON array of strings: {e}"))
                .hint(r#"e.g. '["/app/run", "--port", "8080"]'"#)
        })
    } else {
        Ok(vec![text.to_string()])
    }
}
