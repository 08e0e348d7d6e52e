//! Forges: what GitHub, GitLab and Gitea/Forgejo send wharf, verified and parsed.
//!
//! A webhook delivery is outside input: it is verified (HMAC-SHA256 over the raw body, or
//! GitLab's token) before anything reads it, then parsed into a [`Delivery`] the server
//! turns into an event. Nothing here touches the network, the disk or a clock.
//!
//! ```
//! use wharf_forge::{ForgeKind, Hook, parse, verify};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-github-event", "ping".parse().unwrap());
//! headers.insert(
//!     "x-hub-signature-256",
//!     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
//!         .parse()
//!         .unwrap(),
//! );
//! let body = b"Hello, World!";
//! verify(ForgeKind::Github, b"It's a Secret to Everybody", &headers, body, 0).unwrap();
//! assert_eq!(parse(ForgeKind::Github, &headers, body).unwrap().hook, Hook::Ping);
//! ```

mod delivery;
mod error;
mod gitea;
mod github;
mod gitlab;
mod headers;
mod hub;
mod parse;
mod pull;
mod push;
mod refs;
mod verify;

pub use delivery::{Delivery, ForgeKind, Hook, PrAction};
pub use error::{ParseError, VerifyError};
pub use parse::parse;
pub use verify::verify;
