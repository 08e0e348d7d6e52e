//! Pushing images from an OCI layout to registries, and pulling registry bases into the
//! base cache, through wharf-oci's registry client.

use std::path::Path;

use wharf_model::BuildImageStep;
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
    let parsed = refs
        .iter()
        .map(|r| crate::registry::Reference::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    crate::registry::push(layout, tag, &parsed, insecure, username, password, say).await
}

/// Pulls `reference` into the base cache layout `cache`; returns its tag there.
pub async fn pull(
    reference: &str,
    cache: &Path,
    step: &BuildImageStep,
    cx: &ImageContext<'_>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<String, String> {
    let _ = (cache, step, cx, say);
    Err(format!(
        "pulling registry bases is not available in this build: `from: {reference}`\n  hint: copy the base into an OCI layout (skopeo copy docker://... oci:DIR:TAG) and use `from: oci-layout:DIR:TAG`"
    ))
}
