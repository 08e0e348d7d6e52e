//! Job outputs: `name=value` lines a step appends to the file named by `$WHARF_OUTPUT`.
//!
//! Outputs travel through a file wharf names, never through stdout: nothing a step prints
//! is ever interpreted as an instruction (a log line that looks like `::set-output` is just
//! a log line). Multi-line values use a heredoc form: `name<<DELIM`, lines, `DELIM`.

use std::collections::BTreeMap;

/// The largest output file read; larger ones are an error.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// Parses an output file. Returns the values and a list of problems (malformed lines,
/// names not declared in `outputs:`), which the job log reports.
pub fn parse(text: &str, declared: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let (name, value) = if let Some((name, delim)) = line.split_once("<<") {
            let mut body = Vec::new();
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l == delim {
                    closed = true;
                    break;
                }
                body.push(l);
            }
            if !closed {
                problems.push(format!(
                    "line {}: `{name}<<{delim}` is never closed by a `{delim}` line",
                    n + 1
                ));
                continue;
            }
            (name, body.join("\n"))
        } else if let Some((name, value)) = line.split_once('=') {
            (name, value.to_string())
        } else {
            problems.push(format!(
                "line {}: expected `name=value` or `name<<DELIMITER`",
                n + 1
            ));
            continue;
        };
        if !declared.iter().any(|d| d == name) {
            problems.push(format!(
                "output `{name}` is not declared in the job's `outputs:`; ignored"
            ));
            continue;
        }
        values.insert(name.to_string(), value);
    }
    (values, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_heredoc_and_problems() {
        let declared = vec!["a".to_string(), "b".to_string()];
        let (v, p) = parse("a=1=2\nb<<EOF\nx\ny\nEOF\nc=3\njunk\n", &declared);
        assert_eq!(v["a"], "1=2");
        assert_eq!(v["b"], "x\ny");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("`c` is not declared"));
        let (_, p) = parse("a<<END\nnever", &declared);
        assert!(p[0].contains("never closed"));
    }

    #[test]
    fn later_lines_win() {
        let declared = vec!["a".to_string()];
        let (v, _) = parse("a=1\na=2\n", &declared);
        assert_eq!(v["a"], "2");
    }
}
