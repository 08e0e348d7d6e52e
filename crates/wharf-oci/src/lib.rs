//! Daemonless OCI images: a reproducible image builder that writes an OCI image layout,
//! and an OCI Distribution client that pushes such a layout to a registry (and pulls base
//! images into a digest-addressed cache).
//!
//! The layout ([`layout::OciLayout`]) is the hand-off between the two halves: the builder
//! only ever writes one, the client only ever reads (push) or fills (pull) one. Digests
//! are always sha256 ([`Digest`]).

pub mod build;
mod digest;
pub mod docker;
mod error;
pub mod inspect;
pub mod layout;
pub mod registry;
pub mod unpack;

pub use digest::{Digest, DigestWriter};
pub use error::{Error, Result};
pub use layout::OciLayout;

/// Media types this crate writes and reads (re-exported so callers need no oci-spec import).
pub use oci_spec::image::MediaType;
