//! The expression language of pipeline files: `${{ … }}` templates and `if:` conditions.
//!
//! Two callers share this crate. The pipeline validator parses every expression up front,
//! inspects [`Expr::references`] and [`Expr::functions`], and turns an [`Error`]'s byte
//! span into a `file:line:col` diagnostic. The engine evaluates the same trees at run time
//! against a [`Context`]. The crate is pure: no I/O and no dependencies, so it is cheap to
//! fuzz and cannot hang or overflow the stack on hostile input (see the limits below).
//!
//! ```
//! use wharf_expr::{parse, eval, Context, Status, Value};
//!
//! struct Ctx;
//! impl Context for Ctx {
//!     fn lookup(&self, path: &[String]) -> Option<Value> {
//!         (path == ["event"]).then(|| Value::from("tag"))
//!     }
//!     fn status(&self) -> Status {
//!         Status { success: true, failure: false, cancelled: false }
//!     }
//! }
//!
//! let expr = parse("event == 'tag' && success()").unwrap();
//! assert_eq!(eval(&expr, &Ctx).unwrap(), Value::Bool(true));
//! ```

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod template;
mod value;

pub use ast::{Expr, Reference};
pub use error::{Error, Result};
pub use eval::{Context, Status, eval};
pub use parser::parse;
pub use template::{Segment, Template, parse_template};
pub use value::Value;

/// The longest expression source accepted, in bytes (also applies to each `${{ … }}`).
pub const MAX_EXPR_LEN: usize = 4096;

/// The deepest nesting of parentheses, `!` and function calls accepted in one expression.
pub const MAX_DEPTH: usize = 64;

/// The longest template text accepted, in bytes (1 MiB).
pub const MAX_TEMPLATE_LEN: usize = 1 << 20;
