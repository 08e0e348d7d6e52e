//! Pushing images from an OCI layout to registries, and pulling registry bases into the
//! base cache, through wharf-oci's registry client.

use std::path::Path;

use wharf_model::BuildImageStep;
use wharf_oci::build::Platform;
use wharf_oci::registry::{self, ClientOptions, Credentials, Pusher, Reference};
use wharf_secrets::secret::SecretString;

use crate::images::ImageContext;

/// Pushes the image tagged `tag` in `layout` to every reference of `refs`; returns each
/// reference with the pushed manifest digest.
pub async fn push(
    layout: &Path,
    tag: &str,
    refs: &[String],
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<(String, String)>, String> {
    push_refs(
        layout,
        Some(tag),
        refs,
        &step.insecure,
        step.username.as_deref(),
        cx.password.clone(),
        say,
    )
    .await
}

/// A push of `layout` to `refs` that can take blobs while the image is being built
/// (see [`wharf_oci::registry::Pusher`]).
pub fn pusher(
    layout: &Path,
    refs: &[String],
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
) -> Result<Pusher, String> {
    let parsed = parse_refs(refs)?;
    let options = options(
        &step.insecure,
        step.username.as_deref(),
        cx.password.clone(),
    );
    Pusher::new(layout, &parsed, &options).map_err(|e| e.to_string())
}

fn parse_refs(refs: &[String]) -> Result<Vec<Reference>, String> {
    refs.iter()
        .map(|r| Reference::parse(r).map_err(|e| e.to_string()))
        .collect()
}

/// Completes a [`pusher`]'s push of the image tagged `tag`.
pub async fn finish(
    pusher: &Pusher,
    tag: &str,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<(String, String)>, String> {
    let pushed = pusher
        .finish(Some(tag), say)
        .await
        .map_err(|e| e.to_string())?;
    Ok(pairs(pushed))
}

/// Each pushed reference with its manifest digest.
fn pairs(pushed: Vec<registry::Pushed>) -> Vec<(String, String)> {
    pushed
        .into_iter()
        .map(|p| (p.reference, p.digest.to_string()))
        .collect()
}

/// The client options: the step's (or command line's) credentials when given, else
/// docker's `config.json` is consulted per registry.
pub fn options(
    insecure: &[String],
    username: Option<&str>,
    password: Option<SecretString>,
) -> ClientOptions {
    ClientOptions {
        insecure: insecure.to_vec(),
        credentials: match (username, password) {
            (Some(u), Some(p)) => Some(Credentials::password(u, p)),
            _ => None,
        },
    }
}

/// [`push`] with the credentials given directly (`wharf image push`).
pub async fn push_refs(
    layout: &Path,
    tag: Option<&str>,
    refs: &[String],
    insecure: &[String],
    username: Option<&str>,
    password: Option<SecretString>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<(String, String)>, String> {
    let parsed = parse_refs(refs)?;
    let pushed = registry::push(
        layout,
        tag,
        &parsed,
        &options(insecure, username, password),
        say,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(pairs(pushed))
}

/// Pulls `reference` into the base cache layout `cache` (blobs cached by digest); returns
/// its tag there.
pub async fn pull(
    reference: &str,
    cache: &Path,
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, String> {
    let parsed = Reference::parse(reference).map_err(|e| {
        format!(
            "{e}\n  hint: `from:` takes `scratch`, `oci-layout:PATH[:TAG]` or HOST[:PORT]/NAME[:TAG][@sha256:...]"
        )
    })?;
    let options = options(
        &step.insecure,
        step.username.as_deref(),
        cx.password.clone(),
    );
    let pulled = registry::pull(&parsed, cache, &host_platform(), &options, say)
        .await
        .map_err(|e| format!("pulling the base {reference}: {e}"))?;
    Ok(pulled.tag)
}

/// The platform of this machine, in OCI's spelling.
pub fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform {
        os: "linux".into(),
        architecture: architecture.into(),
        variant: None,
    }
}
