//! Encryption of secrets at rest: XChaCha20-Poly1305 with a random 24-byte nonce.
//!
//! The associated data binds each ciphertext to its secret's name, its scope and the
//! key's id, so a value copied onto another name or environment (by someone with write
//! access to the database but not the key) fails authentication instead of decrypting
//! into the wrong place. The key id is also stored in the clear, so opening under another
//! key is reported as "wrong key" rather than as damage. Opening never yields garbage:
//! either the exact sealed value, or an error.
//!
//! Plaintext only ever lives in zeroizing buffers: encryption and decryption happen in
//! place in one.

use chacha20poly1305::aead::Generate;
use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::key::SecretKey;
use crate::secret::SecretString;

/// Versions the associated-data layout, so a later layout cannot be confused with this one.
const AAD_PREFIX: &[u8] = b"wharf-secret:v1\0";

/// XChaCha20's nonce length.
const NONCE_LEN: usize = 24;

/// Poly1305's tag length, appended to every ciphertext.
const TAG_LEN: usize = 16;

/// A sealed secret, as stored: all three fields are needed to open it, none is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the key that sealed it ([`SecretKey::id`]).
    pub key_id: String,
    /// The random nonce (24 bytes).
    pub nonce: Vec<u8>,
    /// The encrypted value followed by the 16-byte authentication tag.
    pub ciphertext: Vec<u8>,
}

/// Encrypts `value` for the secret `name` in `scope` (`None`: every environment) under
/// `key`, with a fresh random nonce.
pub fn seal(
    key: &SecretKey,
    name: &str,
    scope: Option<&str>,
    value: &SecretString,
) -> Result<Sealed> {
    let key_id = key.id();
    let aad = associated_data(name, scope, &key_id)?;
    let nonce = XNonce::try_generate().map_err(|e| Error::Random(e.to_string()))?;
    let mut buffer = Zeroizing::new(Vec::with_capacity(value.len() + TAG_LEN));
    buffer.extend_from_slice(value.expose().as_bytes());
    cipher(key)
        .encrypt_in_place(&nonce, &aad, &mut *buffer)
        .map_err(|_| Error::Encrypt {
            secret: describe(name, scope),
        })?;
    Ok(Sealed {
        key_id,
        nonce: nonce.to_vec(),
        // Now ciphertext: taking it out of the zeroizing buffer leaves nothing to wipe.
        ciphertext: std::mem::take(&mut *buffer),
    })
}

/// Decrypts `sealed`, the value of the secret `name` in `scope`, under `key`.
///
/// Fails with [`Error::KeyMismatch`] when another key sealed it, and with
/// [`Error::Tampered`] when it does not authenticate (changed bytes, or moved from another
/// name or scope).
pub fn open(
    key: &SecretKey,
    name: &str,
    scope: Option<&str>,
    sealed: &Sealed,
) -> Result<SecretString> {
    let key_id = key.id();
    if sealed.key_id != key_id {
        return Err(Error::KeyMismatch {
            secret: describe(name, scope),
            stored: sealed.key_id.clone(),
            current: key_id,
            origin: key.origin(),
        });
    }
    let aad = associated_data(name, scope, &key_id)?;
    let tampered = |detail| Error::Tampered {
        secret: describe(name, scope),
        detail,
    };
    let nonce = XNonce::try_from(sealed.nonce.as_slice())
        .map_err(|_| tampered("the nonce is not 24 bytes"))?;
    debug_assert_eq!(nonce.len(), NONCE_LEN);
    if sealed.ciphertext.len() < TAG_LEN {
        return Err(tampered("the ciphertext is shorter than its tag"));
    }
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    cipher(key)
        .decrypt_in_place(&nonce, &aad, &mut *buffer)
        .map_err(|_| tampered("authentication failed"))?;
    // Only a sealed `SecretString` authenticates, so this is UTF-8 unless the key leaked
    // and someone forged it; either way, no garbage comes out.
    match String::from_utf8(std::mem::take(&mut *buffer)) {
        Ok(value) => Ok(SecretString::new(value)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(tampered("the value is not UTF-8"))
        }
    }
}

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.bytes().into())
}

/// `"wharf-secret:v1\0" scope "\0" name "\0" key_id`, with an empty scope for `None`.
/// NUL separates the parts, so neither name nor scope may contain one.
fn associated_data(name: &str, scope: Option<&str>, key_id: &str) -> Result<Vec<u8>> {
    let scope = scope.unwrap_or("");
    for (what, value) in [("name", name), ("scope", scope)] {
        if value.contains('\0') {
            return Err(Error::InvalidName {
                what,
                value: value.to_string(),
                reason: "it contains a NUL character",
            });
        }
    }
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + scope.len() + name.len() + 2 + 16);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(scope.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    Ok(aad)
}

/// The secret as errors name it: `` `NAME` `` or `` `NAME` (scope `S`) ``.
fn describe(name: &str, scope: Option<&str>) -> String {
    match scope {
        Some(scope) => format!("`{name}` (scope `{scope}`)"),
        None => format!("`{name}`"),
    }
}

/// 32 bytes from the system's random generator, as 64 hex characters: webhook secrets and
/// API tokens. Held as a [`SecretString`], so it never prints by accident.
pub fn random_token() -> Result<SecretString> {
    let bytes =
        Zeroizing::new(<[u8; 32]>::try_generate().map_err(|e| Error::Random(e.to_string()))?);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(SecretString::new(hex))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::key::{KeySource, load_key_from};

    const VALUE: &str = "pypi-AgEIcHlwaS5vcmc-plaintext-marker";

    fn key(byte: u8) -> SecretKey {
        let env = STANDARD.encode([byte; 32]);
        load_key_from(Some(&env), std::path::Path::new("/unused"), false)
            .unwrap()
            .0
    }

    fn value() -> SecretString {
        SecretString::new(VALUE.to_string())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = key(1);
        for scope in [None, Some("prod")] {
            let sealed = seal(&key, "PYPI_TOKEN", scope, &value()).unwrap();
            assert_eq!(sealed.key_id, key.id());
            assert_eq!(sealed.nonce.len(), NONCE_LEN);
            assert_eq!(sealed.ciphertext.len(), VALUE.len() + TAG_LEN);
            assert!(
                !sealed
                    .ciphertext
                    .windows(8)
                    .any(|w| VALUE.as_bytes().windows(8).any(|v| v == w)),
                "no run of the plaintext survives"
            );
            let opened = open(&key, "PYPI_TOKEN", scope, &sealed).unwrap();
            assert_eq!(opened.expose(), VALUE);
        }
        let empty = seal(&key, "E", None, &SecretString::new(String::new())).unwrap();
        assert!(open(&key, "E", None, &empty).unwrap().is_empty());
        // A generated key works too.
        let generated = SecretKey::generate();
        let sealed = seal(&generated, "A", None, &value()).unwrap();
        assert_eq!(
            open(&generated, "A", None, &sealed).unwrap().expose(),
            VALUE
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let key = key(1);
        let a = seal(&key, "A", None, &value()).unwrap();
        let b = seal(&key, "A", None, &value()).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn another_key_is_reported_with_both_ids() {
        let (sealer, current) = (key(1), key(2));
        let sealed = seal(&sealer, "PYPI_TOKEN", Some("prod"), &value()).unwrap();
        let err = open(&current, "PYPI_TOKEN", Some("prod"), &sealed).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "secret `PYPI_TOKEN` (scope `prod`) was encrypted with key {}, but the current \
                 key is {} (from {})\n\
                 hint: make the key with id {} the current one again (set WHARF_SECRET_KEY to \
                 it, or put it back in the key file), or set the secret again with the \
                 current key",
                sealer.id(),
                current.id(),
                KeySource::Env,
                sealer.id()
            )
        );
    }

    #[test]
    fn the_key_file_is_named_when_it_is_the_current_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let (current, _) = load_key_from(None, &path, true).unwrap();
        let sealed = seal(&key(1), "A", None, &value()).unwrap();
        let text = open(&current, "A", None, &sealed).unwrap_err().to_string();
        assert!(
            text.contains(&format!("(from the key file `{}`)", path.display())),
            "{text}"
        );
    }

    #[test]
    fn changed_bytes_or_another_name_or_scope_are_reported_as_tampering() {
        let key = key(1);
        let sealed = seal(&key, "PYPI_TOKEN", Some("prod"), &value()).unwrap();
        let mut flipped_ciphertext = sealed.clone();
        flipped_ciphertext.ciphertext[0] ^= 1;
        let mut flipped_tag = sealed.clone();
        *flipped_tag.ciphertext.last_mut().unwrap() ^= 0x80;
        let mut flipped_nonce = sealed.clone();
        flipped_nonce.nonce[5] ^= 1;
        let mut short_nonce = sealed.clone();
        short_nonce.nonce.pop();
        let mut truncated = sealed.clone();
        truncated.ciphertext.truncate(10);
        let mut extended = sealed.clone();
        extended.ciphertext.push(0);

        let cases: Vec<(&str, Option<&str>, &Sealed)> = vec![
            ("PYPI_TOKEN", Some("prod"), &flipped_ciphertext),
            ("PYPI_TOKEN", Some("prod"), &flipped_tag),
            ("PYPI_TOKEN", Some("prod"), &flipped_nonce),
            ("PYPI_TOKEN", Some("prod"), &short_nonce),
            ("PYPI_TOKEN", Some("prod"), &truncated),
            ("PYPI_TOKEN", Some("prod"), &extended),
            ("OTHER_NAME", Some("prod"), &sealed),
            ("PYPI_TOKEN", Some("staging"), &sealed),
            ("PYPI_TOKEN", None, &sealed),
            ("PYPI_TOKE", Some("Nprod"), &sealed),
        ];
        for (name, scope, sealed) in cases {
            let err = open(&key, name, scope, sealed).unwrap_err();
            assert!(
                matches!(err, Error::Tampered { .. }),
                "{name} {scope:?}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.contains("was tampered with or corrupted"), "{text}");
            assert!(!text.contains(VALUE), "{text}");
        }
        assert_eq!(
            open(
                &key,
                "PYPI_TOKEN",
                None,
                &seal(&key, "PYPI_TOKEN", None, &value()).unwrap()
            )
            .unwrap()
            .expose(),
            VALUE
        );
    }

    #[test]
    fn the_tamper_message_is_exact() {
        let key = key(1);
        let sealed = seal(&key, "A", None, &value()).unwrap();
        let err = open(&key, "B", None, &sealed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the stored value of secret `B` was tampered with or corrupted (authentication \
             failed); refusing to use it\n\
             hint: set the secret again; if nobody edited the database, check the disk"
        );
    }

    #[test]
    fn nul_in_a_name_or_scope_is_rejected() {
        let key = key(1);
        assert!(matches!(
            seal(&key, "A\0B", None, &value()),
            Err(Error::InvalidName { what: "name", .. })
        ));
        assert!(matches!(
            seal(&key, "A", Some("x\0"), &value()),
            Err(Error::InvalidName { what: "scope", .. })
        ));
    }

    #[test]
    fn debug_of_sealed_and_errors_never_show_the_value_or_key() {
        let key = key(0x41);
        let sealed = seal(&key, "A", None, &value()).unwrap();
        let key_b64 = STANDARD.encode([0x41u8; 32]);
        let shown = format!("{sealed:?} {key:?} {:?}", open(&key, "B", None, &sealed));
        assert!(
            !shown.contains(VALUE) && !shown.contains(&key_b64),
            "{shown}"
        );
        assert!(!shown.contains("65, 65"), "{shown}");
    }
}
