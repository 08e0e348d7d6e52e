//! A stored secret for commands outside a run (`wharf image push --password-secret NAME`,
//! `wharf publish python --token-secret NAME`): the value for every environment.

use wharf_secrets::secret::SecretString;
use wharf_store::Store;

use crate::exit::UserError;

/// One stored secret; a missing one is a usage error with a hint.
pub async fn lookup(dir: &std::path::Path, name: &str) -> anyhow::Result<SecretString> {
    let root = crate::project::find_root(dir)?;
    let store = Store::open(&crate::project::state_dir(&root)).await?;
    let rec = store.get_secret(name, None).await?.ok_or_else(|| {
        UserError::invalid(format!("secret {name} is not in the secret store")).hint(format!(
            "store it with `wharf secrets set {name}` (the value is read from stdin)"
        ))
    })?;
    let (key, _) =
        wharf_secrets::key::load_key(false).map_err(|e| UserError::invalid(e.to_string()))?;
    wharf_runtime::secrets::open(&key, name, &rec)
        .map_err(|e| UserError::invalid(e.to_string()).into())
}
