//! Aligned tables for the list commands (`runs`, `artifacts`, `releases`, `cache list`,
//! `secrets list`): a header row, columns as wide as their widest cell (measured without
//! colour codes), numbers right-aligned, the last column never padded.

/// How a column lines up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers, sizes, durations.
    Right,
}

/// A table being filled row by row.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column; missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header, two spaces between columns.
    pub fn render(&self) -> String {
        let n = self.columns.len();
        let width = |s: &str| console::measure_text_width(s);
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (_, align)) in self.columns.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                    Align::Left if i + 1 == n => line.push_str(cell),
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` cut to `max` columns, ending in `…` when cut.
pub fn ellipsize(text: &str, max: usize) -> String {
    if console::measure_text_width(text) <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_cells() {
        let mut t = Table::new(&[
            ("RUN", Align::Right),
            ("STATUS", Align::Left),
            ("NOTE", Align::Left),
        ]);
        t.row(vec!["#1".into(), "success".into(), "first".into()]);
        t.row(vec![
            "#10".into(),
            "\u{1b}[31mfailed\u{1b}[0m".into(),
            "".into(),
        ]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "RUN  STATUS   NOTE");
        assert_eq!(lines[1], " #1  success  first");
        assert_eq!(lines[2], "#10  \u{1b}[31mfailed\u{1b}[0m");
    }

    #[test]
    fn long_text_ends_with_an_ellipsis() {
        assert_eq!(ellipsize("pytest -q tests/unit", 10), "pytest -q…");
        assert_eq!(ellipsize("short", 10), "short");
    }
}
