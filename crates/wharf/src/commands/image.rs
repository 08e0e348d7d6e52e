//! `wharf image build|push|inspect`: the `build-image` step's work from the command line
//! (one code path: build and push end in `wharf_builtins::images`), and a look at an image.

use std::path::Path;

use wharf_model::{BuildImageStep, Event, LayerSpec};

use crate::cli::{ImageBuildArgs, ImageCommand, ImageInspectArgs, ImagePushArgs};
use crate::exit::{ExitStatus, UserError};
use crate::{project, secret_env};
use wharf_builtins::images::{ImageContext, build_image};

/// Runs `wharf image …`.
pub async fn run(dir: &Path, cmd: ImageCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        ImageCommand::Build(args) => run_build(dir, *args).await,
        ImageCommand::Push(args) => run_push(dir, args).await,
        ImageCommand::Inspect(args) => run_inspect(dir, args).await,
    }
}

async fn run_build(dir: &Path, args: ImageBuildArgs) -> anyhow::Result<ExitStatus> {
    let registry_base = args
        .from
        .as_deref()
        .is_some_and(|f| f != "scratch" && !f.starts_with("oci-layout:"));
    if args.push || registry_base {
        super::check_net_limits()?;
    }
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
        push: wharf_model::Switch::Fixed(args.push),
        insecure: args.registry.insecure.clone(),
        compression: args.compression.clone(),
        username: args.registry.username.clone(),
        password: args.registry.password_secret.clone(),
        output: None,
    };
    let password = match &args.registry.password_secret {
        Some(name) => Some(secret_env::lookup(dir, name).await?),
        None => None,
    };
    let (sha, _) = wharf_builtins::git::head(dir);
    let version = args.release_version.clone().or_else(|| {
        wharf_builtins::git::tag_at_head(dir).and_then(|t| Event::version_from_tag(&t))
    });
    let epoch: Option<i64> = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Some(v.trim().parse().map_err(|_| {
            UserError::invalid(format!(
                "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
            ))
        })?),
        Err(_) => None,
    };
    let created = epoch.unwrap_or_else(|| wharf_builtins::git::head_time(dir).unwrap_or(0) as i64);
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
        outln!("{}", serde_json::to_string(produced)?);
    }
    Ok(ExitStatus::Success)
}

async fn run_push(dir: &Path, args: ImagePushArgs) -> anyhow::Result<ExitStatus> {
    super::check_net_limits()?;
    let (layout, tag) = wharf_oci::layout::split_layout_ref(&args.layout, dir);
    let password = match &args.registry.password_secret {
        Some(name) => Some(secret_env::lookup(dir, name).await?),
        None => None,
    };
    let pusher = wharf_builtins::push::pusher(
        &layout,
        &args.refs,
        &args.registry.insecure,
        args.registry.username.as_deref(),
        password,
    )
    .map_err(UserError::failed)?;
    let pushed =
        wharf_builtins::push::finish(&pusher, tag.as_deref(), &mut |line| eprintln!("{line}"))
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

async fn run_inspect(dir: &Path, args: ImageInspectArgs) -> anyhow::Result<ExitStatus> {
    let platform = wharf_oci::build::Platform::host();
    let info = if let Some(rest) = args.image.strip_prefix("oci-layout:") {
        let (path, tag) = wharf_oci::layout::split_layout_ref(rest, dir);
        wharf_oci::inspect::inspect_layout(&path, tag.as_deref(), &platform)
            .map_err(|e| UserError::failed(e.to_string()))?
    } else {
        super::check_net_limits()?;
        let reference = wharf_oci::registry::Reference::parse(&args.image).map_err(|e| {
            UserError::invalid(e.to_string())
                .hint("give `oci-layout:DIR[:TAG]` or HOST[:PORT]/NAME[:TAG][@sha256:…]")
        })?;
        let password = match &args.registry.password_secret {
            Some(name) => Some(secret_env::lookup(dir, name).await?),
            None => None,
        };
        let options = wharf_builtins::push::options(
            &args.registry.insecure,
            args.registry.username.as_deref(),
            password,
        );
        wharf_oci::registry::inspect(&reference, &platform, &options)
            .await
            .map_err(|e| UserError::failed(e.to_string()))?
    };
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&inspect_json(&args.image, &info))?
        );
    } else {
        out!("{}", inspect_text(&args.image, &info));
    }
    Ok(ExitStatus::Success)
}

/// `wharf image inspect --json`: the digests, platform, the config's `config` object
/// as the image has it, and the layers.
fn inspect_json(image: &str, info: &wharf_oci::inspect::ImageInfo) -> serde_json::Value {
    serde_json::json!({
        "image": image,
        "digest": info.digest.as_str(),
        "index": info.index.as_ref().map(|d| d.to_string()),
        "media_type": info.media_type,
        "platform": info.platform(),
        "created": info.config["created"],
        "config_digest": info.config_digest.as_str(),
        "config": info.config["config"],
        "annotations": info.manifest["annotations"],
        "layers": info.layers().iter().map(|l| serde_json::json!({
            "digest": l.digest, "size": l.size, "media_type": l.media_type,
        })).collect::<Vec<_>>(),
    })
}

/// The human view of [`inspect_json`].
fn inspect_text(image: &str, info: &wharf_oci::inspect::ImageInfo) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{image}
  digest      {}
",
        info.digest
    );
    if let Some(index) = &info.index {
        let _ = writeln!(out, "  index       {index}");
    }
    let _ = writeln!(out, "  platform    {}", info.platform());
    if let Some(created) = info.config["created"].as_str() {
        let _ = writeln!(out, "  created     {created}");
    }
    let c = &info.config["config"];
    let list = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| serde_json::to_string(a).unwrap_or_default())
    };
    for (label, value) in [
        ("entrypoint", list(&c["Entrypoint"])),
        ("cmd", list(&c["Cmd"])),
        ("workdir", c["WorkingDir"].as_str().map(str::to_string)),
        ("user", c["User"].as_str().map(str::to_string)),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            let _ = writeln!(out, "  {label:<11} {v}");
        }
    }
    for e in c["Env"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  env         {}", e.as_str().unwrap_or(""));
    }
    if let Some(ports) = c["ExposedPorts"].as_object() {
        let names: Vec<&str> = ports.keys().map(String::as_str).collect();
        let _ = writeln!(out, "  ports       {}", names.join(", "));
    }
    for (k, v) in c["Labels"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "  label       {k}={}", v.as_str().unwrap_or(""));
    }
    let layers = info.layers();
    let total: u64 = layers.iter().map(|l| l.size).sum();
    let _ = writeln!(
        out,
        "  layers      {} ({:.1} MiB)",
        layers.len(),
        total as f64 / (1024.0 * 1024.0)
    );
    for l in &layers {
        let _ = writeln!(out, "    {} {:>10} bytes", l.digest, l.size);
    }
    out
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
