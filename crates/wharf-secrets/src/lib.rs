//! Secrets: values that must never leak.
//!
//! [`secret`] holds values in memory (zeroized on drop, redacted in `Debug`/`Display`);
//! [`crypto`] and [`key`] encrypt them at rest with XChaCha20-Poly1305 under a key from a
//! 0600 key file or `WHARF_SECRET_KEY`; [`mask`] replaces every known form of every
//! secret in output streams with `***`, as a backstop behind scoping. [`signing`] holds
//! the release key that signs provenance and images.

pub mod crypto;
pub mod error;
pub mod key;
pub mod mask;
pub mod secret;
pub mod signing;
