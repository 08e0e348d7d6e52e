//! Python: core metadata, wheels, resolved dependency sets, and linking a project's
//! requirements to the packages that satisfy them.

mod graph;
pub(crate) mod metadata;
mod resolved;
mod wheel;

pub use metadata::Requirement;
pub use resolved::{Resolved, ResolvedPackage};
pub use wheel::from_wheel;
