//! User-facing errors in pipeline files, rendered like rustc's.
//!
//! Every problem a user can make in a pipeline file becomes a [`Diagnostic`] that points
//! at exact bytes of the file. A diagnostic carries the file's text (shared, not copied),
//! so rendering needs no file I/O and works the same in the CLI, the server and tests.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// One problem in a pipeline file (or in a request about one, like an unknown job name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The display path of the file, relative to the project root.
    pub file: String,
    /// 1-based line of the span's start; 0 when the problem has no position.
    pub line: usize,
    /// 1-based column (in characters) of the span's start; 0 when it has no position.
    pub column: usize,
    /// Byte range in the file the problem is about.
    pub span: Range<usize>,
    /// What is wrong, as one sentence without a trailing period.
    pub message: String,
    /// A short label shown under the caret.
    pub label: Option<String>,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
    /// The file's text, shared by every diagnostic of that file; `None` for diagnostics
    /// without a position (a missing file, an unknown job name on the command line).
    pub source: Option<Arc<str>>,
}

impl Diagnostic {
    /// A diagnostic at `span` of `source`; line and column are computed from the span.
    pub fn at(
        file: &str,
        source: &Arc<str>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let start = clamp_to_char_boundary(source, span.start);
        let end = clamp_to_char_boundary(source, span.end.max(start));
        let (line, column) = line_column(source, start);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            span: start..end,
            message: message.into(),
            label: None,
            hint: None,
            source: Some(source.clone()),
        }
    }

    /// A diagnostic about `file` as a whole, with no position in it.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line: 0,
            column: 0,
            span: 0..0,
            message: message.into(),
            label: None,
            hint: None,
            source: None,
        }
    }

    /// Sets the label under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint when there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// Renders this diagnostic like rustc does, with ANSI colors when `color` is set.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let title = Level::ERROR.primary_title(self.message.as_str());
        let mut group: Group<'_> = match &self.source {
            Some(source) => {
                let mut annotation = AnnotationKind::Primary.span(self.span.clone());
                if let Some(label) = &self.label {
                    annotation = annotation.label(label.as_str());
                }
                title.element(
                    Snippet::source(&**source)
                        .line_start(1)
                        .path(self.file.as_str())
                        .annotation(annotation),
                )
            }
            None => Group::with_title(title),
        };
        if self.source.is_none() && !self.file.is_empty() {
            group = group.element(Level::NOTE.with_name("file").message(self.file.as_str()));
        }
        if let Some(hint) = &self.hint {
            group = group.element(Level::HELP.with_name("hint").message(hint.as_str()));
        }
        renderer.render(&[group])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else if self.file.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// Every problem found in one pass, sorted by file and position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Renders every diagnostic, separated by blank lines, with a closing summary line;
    /// the text ends with a newline.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render(color));
            out.push_str("\n\n");
        }
        let n = self.0.len();
        out.push_str(&format!(
            "error: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        ));
        out.push('\n');
        out
    }

    /// Sorts by file, then position, and drops exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.file, a.span.start, a.span.end, &a.message).cmp(&(
                &b.file,
                b.span.start,
                b.span.end,
                &b.message,
            ))
        });
        self.0.dedup();
    }

    /// Whether there is no diagnostic.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

/// The 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = clamp_to_char_boundary(source, offset);
    let before = &source[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

/// The byte offset of 1-based `line` and character `column`, clamped to the text.
pub(crate) fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line.max(1) {
        match source[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return source.len(),
        }
    }
    let rest = &source[start..];
    let line_text = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let within = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    start + within
}

fn clamp_to_char_boundary(source: &str, offset: usize) -> usize {
    let mut o = offset.min(source.len());
    while !source.is_char_boundary(o) {
        o -= 1;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src: Arc<str> = Arc::from("version: 1\njobs:\n  build:\n    nedds: [test]\n");
        let at = src.find("nedds").unwrap_or(0);
        let d = Diagnostic::at(
            "wharf.yml",
            &src,
            at..at + 5,
            "unknown key `nedds` in job `build`",
        )
        .with_label("unknown key")
        .with_hint("did you mean `needs`?");
        assert_eq!((d.line, d.column), (4, 5));
        let text = d.render(false);
        assert_eq!(
            text,
            "error: unknown key `nedds` in job `build`\n --> wharf.yml:4:5\n  |\n4 |     nedds: [test]\n  |     ^^^^^ unknown key\n  |\n  = hint: did you mean `needs`?"
        );
    }

    #[test]
    fn offsets_round_trip() {
        let src = "ab\nçd\n\nx";
        for off in [0, 1, 3, 5, 6, 7, 8] {
            let (l, c) = line_column(src, off);
            assert_eq!(offset_of(src, l, c), off, "offset {off}");
        }
    }
}
