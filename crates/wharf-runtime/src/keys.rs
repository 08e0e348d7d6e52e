//! The project's release key (`wharf keys create|show`): made here, sealed under the
//! secret store's key, opened only inside wharf when a release is signed. No step ever
//! sees it: steps get an allow-listed environment that never holds the secret key, and the
//! sealed bytes are useless without it.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wharf_secrets::crypto::{self, Sealed};
use wharf_secrets::secret::SecretString;
use wharf_secrets::signing::{ALGORITHM, ReleaseKey};
use wharf_store::{SecretStore, SigningKeyMeta, SigningKeyRecord};

use crate::error::{Error, Result};

/// What the sealed private key is bound to (with the public key's id as its scope), so a
/// row moved onto another key's id fails to open.
const SEALED_NAME: &str = "wharf-release-key";

fn store_err(doing: &'static str) -> impl FnOnce(wharf_store::Error) -> Error {
    move |source| Error::Store { doing, source }
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Invalid {
        message: e.to_string(),
        hint: None,
    }
}

/// Makes a new release key and stores it as the project's current one (a current key is
/// retired, kept for checking what it signed, only when `rotate` is set; otherwise having
/// one already is refused). The secret key comes from `key_file` (a server's) or the
/// user's, created when missing.
pub async fn create<S: SecretStore>(
    store: &S,
    key_file: Option<&Path>,
    rotate: bool,
    now: wharf_model::Millis,
) -> Result<SigningKeyMeta> {
    if let Some(cur) = store
        .current_signing_key()
        .await
        .map_err(store_err("reading the release key"))?
        && !rotate
    {
        return Err(Error::Invalid {
            message: format!(
                "this project has a release key already: {}",
                cur.meta.id
            ),
            hint: Some(
                "`wharf keys show` prints it; `wharf keys create --rotate` makes a new one and keeps the old one for checking what it signed".into(),
            ),
        });
    }
    let secret_key = match key_file {
        Some(f) => wharf_secrets::key::load_key_from(
            std::env::var(wharf_secrets::key::KEY_ENV).ok().as_deref(),
            f,
            true,
        ),
        None => wharf_secrets::key::load_key(true),
    }
    .map_err(invalid)?
    .0;
    let key = ReleaseKey::generate().map_err(invalid)?;
    let id = key.public().id();
    let text = SecretString::new(STANDARD.encode(&*key.pkcs8()));
    let sealed = crypto::seal(&secret_key, SEALED_NAME, Some(&id), &text).map_err(invalid)?;
    let meta = SigningKeyMeta {
        id,
        algorithm: ALGORITHM.to_string(),
        public_pem: key.public().pem(),
        created_at: now,
        retired_at: None,
    };
    store
        .put_signing_key(&SigningKeyRecord {
            meta: meta.clone(),
            key_id: sealed.key_id,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        })
        .await
        .map_err(store_err("storing the release key"))?;
    Ok(meta)
}

/// The project's current release key, opened with the secret key from `key_file` (a
/// server's) or the user's; `None` when the project has none.
pub async fn load<S: SecretStore>(
    store: &S,
    key_file: Option<&Path>,
) -> Result<Option<ReleaseKey>> {
    let Some(rec) = store
        .current_signing_key()
        .await
        .map_err(store_err("reading the release key"))?
    else {
        return Ok(None);
    };
    let secret_key = crate::secrets::load_key(key_file)?;
    let sealed = Sealed {
        key_id: rec.key_id,
        nonce: rec.nonce,
        ciphertext: rec.ciphertext,
    };
    let text =
        crypto::open(&secret_key, SEALED_NAME, Some(&rec.meta.id), &sealed).map_err(invalid)?;
    let der = zeroize::Zeroizing::new(
        STANDARD
            .decode(text.expose().as_bytes())
            .map_err(|e| invalid(format!("the stored release key is damaged: {e}")))?,
    );
    let key = ReleaseKey::from_pkcs8(&der).map_err(invalid)?;
    if key.public().id() != rec.meta.id {
        return Err(invalid(format!(
            "the stored release key {} does not match its public key",
            rec.meta.id
        )));
    }
    Ok(Some(key))
}
