//! Why a policy file or a scanner report was refused, always naming the file (and, for the
//! policy file, the line and column) so the message is actionable without a backtrace.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::policy::Problem;
use crate::report::ReportFormat;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading the policy file".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The policy file has problems; every one found is listed, in file order.
    #[error("{}", render_problems(problems))]
    Policy {
        /// The policy file's display name.
        file: String,
        /// Each problem, located at the offending key or value.
        problems: Vec<Problem>,
    },
    /// A report's format could not be told from its content.
    #[error(
        "{file}: cannot tell which scanner wrote this report: {reason}\n  hint: expected Trivy JSON \
         (`SchemaVersion`), Grype JSON (`matches`), SARIF 2.1.0 (`version`, `runs`) or pip-audit \
         JSON (`dependencies`); name the format explicitly if it is one of these"
    )]
    UnknownReportFormat {
        /// The report's display name.
        file: String,
        /// What was seen instead.
        reason: String,
    },
    /// A report is in a schema version this crate does not read.
    #[error("{file}: {format} report has {field} {found}; only {supported} is supported")]
    UnsupportedReportVersion {
        /// The report's display name.
        file: String,
        /// The format it claims to be.
        format: ReportFormat,
        /// The version field, e.g. `SchemaVersion`.
        field: &'static str,
        /// The version found, as written.
        found: String,
        /// The version this crate reads.
        supported: &'static str,
    },
    /// A report of a known format does not have the shape that format has.
    #[error("{file}: malformed {format} report: {reason}")]
    MalformedReport {
        /// The report's display name.
        file: String,
        /// The format it was read as.
        format: ReportFormat,
        /// What is wrong, e.g. the JSON path and the type expected there.
        reason: String,
    },
}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn render_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.render());
    }
    out
}

/// A place in a file: display name, 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file's display name, as the caller gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte offset `offset` in `source` (clamped to the text).
    pub fn at(file: &str, source: &str, offset: usize) -> Location {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: file.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let src = "a = 1\nb = \"é\" x\n";
        assert_eq!(Location::at("f", src, 0).to_string(), "f:1:1");
        assert_eq!(Location::at("f", src, 6).to_string(), "f:2:1");
        // "é" is two bytes but one column.
        assert_eq!(Location::at("f", src, 15).to_string(), "f:2:9");
        // Past the end and inside a character are clamped, never a panic.
        assert_eq!(Location::at("f", src, 999).line, 3);
        assert_eq!(Location::at("f", src, 12).column, 6);
    }
}
