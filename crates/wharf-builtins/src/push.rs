//! Pushing images from an OCI layout to registries, and pulling registry bases into the
//! base cache, through wharf-oci's registry client.

use std::path::Path;

use wharf_model::BuildImageStep;
use wharf_oci::build::Platform;
use wharf_oci::registry::{self, ClientOptions, Credentials, Pusher, Reference};
use wharf_secrets::secret::SecretString;

use crate::images::ImageContext;

/// A push of `layout` to `refs` (full references) that can take blobs while the image is
/// being built (see [`wharf_oci::registry::Pusher`]); nothing is sent yet.
pub fn pusher(
    layout: &Path,
    refs: &[String],
    insecure: &[String],
    username: Option<&str>,
    password: Option<SecretString>,
) -> Result<Pusher, String> {
    let parsed = refs
        .iter()
        .map(|r| Reference::parse(r).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Pusher::new(layout, &parsed, &options(insecure, username, password)).map_err(|e| e.to_string())
}

/// Completes `pusher`'s push of the image tagged `tag` (or the layout's only one);
/// returns each reference with the manifest digest the registry stored.
pub async fn finish(
    pusher: &Pusher,
    tag: Option<&str>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<(String, String)>, String> {
    let pushed = pusher.finish(tag, say).await.map_err(|e| e.to_string())?;
    Ok(pushed
        .into_iter()
        .map(|p| (p.reference, p.digest.to_string()))
        .collect())
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
        limits: None,
    }
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
    let pulled = registry::pull(&parsed, cache, &Platform::host(), &options, say)
        .await
        .map_err(|e| format!("pulling the base {reference}: {e}"))?;
    Ok(pulled.tag)
}
