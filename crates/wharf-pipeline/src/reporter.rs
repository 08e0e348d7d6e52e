//! Collects diagnostics for one file while it is validated.
//!
//! Validation keeps going after a problem so a user sees every problem at once; each
//! check reports here and returns what it could make of the value.

use std::ops::Range;
use std::sync::Arc;

use serde_saphyr::{Location, Spanned};

use crate::diagnostic::{Diagnostic, offset_of};

/// The file being validated and the problems found so far.
pub(crate) struct Reporter {
    pub file: String,
    pub source: Arc<str>,
    pub diagnostics: Vec<Diagnostic>,
    /// wharf's own insecure settings the file uses, each at the value that sets it; the
    /// project's policy decides whether they may stay (`project::check_settings`).
    pub insecure: Vec<crate::pipeline::FoundSetting>,
}

impl Reporter {
    pub fn new(file: &str, source: Arc<str>) -> Reporter {
        Reporter {
            file: file.to_string(),
            source,
            diagnostics: Vec::new(),
            insecure: Vec::new(),
        }
    }

    /// The byte range of a parser location (a scalar, a key, a collection's start).
    pub fn range(&self, location: &Location) -> Range<usize> {
        location_range(&self.source, location)
    }

    /// The byte range of a spanned value.
    pub fn span<T>(&self, spanned: &Spanned<T>) -> Range<usize> {
        self.range(&spanned.referenced)
    }

    /// Notes an insecure setting `key` (about `subject`) set at `span`.
    pub fn insecure(&mut self, key: &str, subject: &str, span: Range<usize>) {
        let (line, column) = crate::diagnostic::line_column(&self.source, span.start);
        self.insecure.push(crate::pipeline::FoundSetting {
            setting: wharf_model::InsecureSetting::new(key)
                .with_subject(subject)
                .with_location(&format!("{}:{line}:{column}", self.file)),
            span,
        });
    }

    /// A diagnostic at `span`, not yet reported (so it can get a label and a hint).
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.file, &self.source, span, message)
    }

    /// Reports a finished diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reports `message` at `span` with a label.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, label: &str) {
        let d = self.at(span, message).with_label(label);
        self.push(d);
    }
}

/// The byte range of a parser location, from its byte offsets when the parser kept them,
/// else from its line, column and character length.
pub(crate) fn location_range(source: &str, location: &Location) -> Range<usize> {
    let span = location.span();
    if let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) {
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(source.len());
        let len = usize::try_from(len).unwrap_or(0);
        return start..start.saturating_add(len).min(source.len());
    }
    let line = usize::try_from(location.line()).unwrap_or(0);
    let column = usize::try_from(location.column()).unwrap_or(0);
    let start = offset_of(source, line, column);
    let chars = usize::try_from(span.len()).unwrap_or(0);
    let len: usize = source[start..]
        .chars()
        .take(chars)
        .map(char::len_utf8)
        .sum();
    start..start + len
}
