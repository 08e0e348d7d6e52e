//! The release key: an ECDSA P-256 key pair that signs a release's provenance (a DSSE
//! envelope) and its images (cosign's simple-signing format).
//!
//! P-256 is the one key type every verifier wharf's users meet takes: cosign requires it,
//! containers/image's `sigstoreSigned` policy (skopeo, podman) reads its PEM public key,
//! and securesystemslib verifies DSSE envelopes with it. Signatures are ASN.1 DER over
//! SHA-256 of the message, as all three expect.
//!
//! The private key lives only in memory (a zeroizing PKCS#8 buffer, never printed); at
//! rest it is sealed under the secret store's key like any secret ([`crate::crypto`]), so
//! no step can read it and a copied database is useless without the key file.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }.
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The length of an uncompressed P-256 point.
const POINT_LEN: usize = 65;

/// The algorithm's name, as recorded.
pub const ALGORITHM: &str = "ecdsa-p256-sha256";

/// A release key pair. `Debug` shows only the public key's id.
pub struct ReleaseKey {
    pkcs8: Zeroizing<Vec<u8>>,
    pair: EcdsaKeyPair,
    public: PublicKey,
}

impl fmt::Debug for ReleaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleaseKey")
            .field("id", &self.public.id())
            .finish_non_exhaustive()
    }
}

impl ReleaseKey {
    /// A new key pair from the operating system's generator.
    pub fn generate() -> Result<ReleaseKey> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| Error::Random("generating a P-256 key pair".into()))?;
        ReleaseKey::from_pkcs8(doc.as_ref())
    }

    /// The key pair in `pkcs8` (a PKCS#8 v1 DER document, as [`ReleaseKey::pkcs8`] gives).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<ReleaseKey> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|e| Error::Signing(format!("the release key is not a P-256 key: {e}")))?;
        let point = pair.public_key().as_ref().to_vec();
        Ok(ReleaseKey {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public: PublicKey { point },
            pair,
        })
    }

    /// The private key as PKCS#8 DER, for sealing (zeroized when dropped).
    pub fn pkcs8(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message`: an ASN.1 DER ECDSA signature over its SHA-256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        self.pair
            .sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::Signing("ECDSA signing failed".into()))
    }
}

/// A release key's public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed point (65 bytes).
    point: Vec<u8>,
}

impl PublicKey {
    /// The public key in `pem` (`-----BEGIN PUBLIC KEY-----`, a P-256 SubjectPublicKeyInfo).
    pub fn from_pem(pem: &str) -> Result<PublicKey> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect();
        if !pem.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(Error::Signing(
                "not a PEM public key (no `-----BEGIN PUBLIC KEY-----` line)".into(),
            ));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| Error::Signing(format!("the PEM public key is not base64: {e}")))?;
        match der.strip_prefix(&SPKI_P256_PREFIX[..]) {
            Some(point) if point.len() == POINT_LEN && point[0] == 0x04 => Ok(PublicKey {
                point: point.to_vec(),
            }),
            _ => Err(Error::Signing(
                "the public key is not an uncompressed ECDSA P-256 key".into(),
            )),
        }
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = SPKI_P256_PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        der
    }

    /// The SubjectPublicKeyInfo as PEM, 64 characters a line, ending in a newline (the
    /// form OpenSSL, Go and Python's `cryptography` write).
    pub fn pem(&self) -> String {
        let b64 = STANDARD.encode(self.spki_der());
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// The key's id: securesystemslib's default keyid, the SHA-256 (hex) of the canonical
    /// JSON `{"keytype":"ecdsa","keyval":{"public":PEM},"scheme":"ecdsa-sha2-nistp256"}`,
    /// so that DSSE verifiers built on it (in-toto, securesystemslib) find the key by the
    /// envelope's `keyid` without being told.
    pub fn id(&self) -> String {
        let canonical = format!(
            "{{\"keytype\":\"ecdsa\",\"keyval\":{{\"public\":\"{}\"}},\"scheme\":\"ecdsa-sha2-nistp256\"}}",
            canonical_string(&self.pem())
        );
        hex(&Sha256::digest(canonical.as_bytes()))
    }

    /// Whether `signature` (ASN.1 DER) is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .is_ok()
    }
}

/// A string's body in canonical JSON (OLPC/securesystemslib): only `"` and `\` escaped.
fn canonical_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// DSSE's pre-authentication encoding: what is signed, never the JSON.
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope, as serialised (`payload` and `sig` are standard base64).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    /// What the payload is (`application/vnd.in-toto+json`).
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id (a hint, not authenticated).
    pub keyid: String,
    /// The signature over [`pae`], base64.
    pub sig: String,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &ReleaseKey) -> Result<Envelope> {
        let sig = key.sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                keyid: key.public().id(),
                sig: STANDARD.encode(sig),
            }],
        })
    }

    /// The payload, if one of the signatures is `key`'s over it; else why not.
    pub fn verify(&self, key: &PublicKey) -> std::result::Result<Vec<u8>, String> {
        let payload = STANDARD
            .decode(self.payload.as_bytes())
            .map_err(|e| format!("the payload is not base64: {e}"))?;
        let message = pae(&self.payload_type, &payload);
        if self.signatures.is_empty() {
            return Err("the envelope has no signature".into());
        }
        for s in &self.signatures {
            let Ok(sig) = STANDARD.decode(s.sig.as_bytes()) else {
                continue;
            };
            if key.verify(&message, &sig) {
                return Ok(payload);
            }
        }
        Err(format!(
            "no signature of the envelope is the key {}'s",
            key.id()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_spec_example() {
        // The example of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_key_signs_and_its_pem_round_trips() {
        let key = ReleaseKey::generate().unwrap();
        let pem = key.public().pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let back = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(&back, key.public());
        let sig = key.sign(b"payload").unwrap();
        assert!(back.verify(b"payload", &sig));
        assert!(!back.verify(b"payloae", &sig));
        let again = ReleaseKey::from_pkcs8(&key.pkcs8()).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(!format!("{key:?}").contains(&hex(&key.pkcs8())));
    }

    #[test]
    fn an_envelope_verifies_only_with_its_key_and_payload() {
        let key = ReleaseKey::generate().unwrap();
        let other = ReleaseKey::generate().unwrap();
        let env = Envelope::sign("application/vnd.in-toto+json", b"{\"a\":1}", &key).unwrap();
        assert_eq!(env.signatures[0].keyid, key.public().id());
        assert_eq!(env.verify(key.public()).unwrap(), b"{\"a\":1}");
        assert!(env.verify(other.public()).is_err());
        let mut changed = env.clone();
        changed.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(changed.verify(key.public()).is_err());
        let mut retyped = env;
        retyped.payload_type = "text/plain".into();
        assert!(retyped.verify(key.public()).is_err());
    }

    #[test]
    fn other_public_keys_are_refused() {
        assert!(PublicKey::from_pem("hello").is_err());
        let not_p256 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let e = PublicKey::from_pem(not_p256).unwrap_err().to_string();
        assert!(e.contains("not an uncompressed ECDSA P-256 key"), "{e}");
    }
}
