//! Software bills of materials for what wharf releases: for every artifact an SPDX 2.3
//! JSON and a CycloneDX 1.6 JSON document, built from one format-neutral model.
//!
//! ```text
//!  from_wheel(.whl, Resolved)  ─┐
//!  from_tree(root fs, Subject)  ─┼─▶  Sbom  ─┬─▶ to_spdx_2_3(&Sbom, &Creation)     ─▶ String
//!  from_files(Subject, files)   ─┘           └─▶ to_cyclonedx_1_6(&Sbom, &Creation) ─▶ String
//! ```
//!
//! - [`from_wheel`]: a Python wheel (its `METADATA` and sha256) with its resolved
//!   dependencies, a [`Resolved`] read from the job's environment
//!   ([`Resolved::from_venv`], [`Resolved::from_site_packages`]) and/or a lock
//!   ([`Resolved::from_pylock`], [`Resolved::from_pip_report`],
//!   [`Resolved::from_requirements`]), merged with [`Resolved::merge`].
//! - [`from_tree`]: an image's root file system (or an unpacked release package): every
//!   regular file with SHA-1 and SHA-256, Debian packages (`var/lib/dpkg`), Alpine
//!   packages (`lib/apk/db/installed`), Python dists (`*.dist-info`) and the operating
//!   system (`os-release`), files attributed to the packages that installed them.
//! - [`from_files`]: a release package's files, by bytes, path or digests.
//!
//! The writers follow the rules the real validators enforce beyond the schemas
//! (`pyspdxtools` for SPDX, `cyclonedx-python-lib`'s strict validator for CycloneDX);
//! the integration tests run both on every kind of document. Output is deterministic:
//! everything is sorted, ids are derived from content, and the SPDX namespace and the
//! CycloneDX serial number are name-based UUIDs of the content and the [`Creation`]
//! (whose time the caller gives), so the same input gives byte-identical documents.
//!
//! Licences are valid SPDX expressions or absent (`NOASSERTION`): see [`license`] for
//! what is mapped from Python metadata and Debian copyright files. This crate only builds
//! documents; attaching them to images and releases is the caller's.

mod creation;
mod cyclonedx16;
mod error;
mod files;
mod hash;
pub mod license;
mod model;
pub mod purl;
mod python;
mod spdx23;
mod tree;

pub use creation::{Creation, DEFAULT_NAMESPACE_BASE};
pub use cyclonedx16::to_cyclonedx_1_6;
pub use error::{Error, Result};
pub use files::{FileContent, FileInput, from_files};
pub use model::{
    File, Node, Package, PackageKind, Relationship, RelationshipKind, Sbom, Subject, SubjectKind,
    Supplier, SupplierKind,
};
pub use python::{Requirement, Resolved, ResolvedPackage, from_wheel};
pub use spdx23::to_spdx_2_3;
pub use tree::from_tree;
