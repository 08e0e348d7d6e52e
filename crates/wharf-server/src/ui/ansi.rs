//! Log text to HTML: every character escaped, ANSI SGR colours (the 16 basic ones, bold,
//! dim, italic, underline; 256-colour and RGB codes are read and mapped onto the nearest
//! basic colour class) turned into `<span class="…">`, every other escape sequence dropped.
//! The same rules are in `assets/live.js` for lines that arrive live.

use std::fmt::Write as _;

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn classes(self) -> String {
        let mut c = Vec::new();
        if let Some(f) = self.fg {
            c.push(format!("f{f}"));
        }
        if let Some(b) = self.bg {
            c.push(format!("b{b}"));
        }
        for (on, name) in [
            (self.bold, "bo"),
            (self.dim, "di"),
            (self.italic, "it"),
            (self.underline, "un"),
        ] {
            if on {
                c.push(name.to_string());
            }
        }
        c.join(" ")
    }

    fn apply(&mut self, params: &str) {
        let codes: Vec<u32> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                c @ 30..=37 => self.fg = Some((c - 30) as u8),
                39 => self.fg = None,
                c @ 40..=47 => self.bg = Some((c - 40) as u8),
                49 => self.bg = None,
                c @ 90..=97 => self.fg = Some((c - 90 + 8) as u8),
                c @ 100..=107 => self.bg = Some((c - 100 + 8) as u8),
                c @ (38 | 48) => {
                    let colour = match codes.get(i + 1) {
                        Some(5) => {
                            let n = codes.get(i + 2).copied().unwrap_or(0);
                            i += 2;
                            Some(if n < 16 { n as u8 } else { 7 })
                        }
                        Some(2) => {
                            let (r, g, b) = (
                                codes.get(i + 2).copied().unwrap_or(0),
                                codes.get(i + 3).copied().unwrap_or(0),
                                codes.get(i + 4).copied().unwrap_or(0),
                            );
                            i += 4;
                            let bright = r.max(g).max(b) > 170;
                            let bits =
                                u8::from(r > 85) | u8::from(g > 85) << 1 | u8::from(b > 85) << 2;
                            Some(bits + if bright { 8 } else { 0 })
                        }
                        _ => None,
                    };
                    if c == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `text` as HTML.
pub(crate) fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut style = Style::default();
    let mut open = false;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final; anything else after ESC: one character dropped.
            if chars.peek().map(|(_, n)| *n) == Some('[') {
                chars.next();
                let mut params = String::new();
                let mut fin = None;
                for (_, n) in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&n) {
                        fin = Some(n);
                        break;
                    }
                    params.push(n);
                }
                if fin == Some('m') {
                    let before = style;
                    style.apply(&params);
                    if style != before {
                        if open {
                            out.push_str("</span>");
                            open = false;
                        }
                        if style != Style::default() {
                            let _ = write!(out, "<span class=\"{}\">", style.classes());
                            open = true;
                        }
                    }
                }
            } else if chars.peek().map(|(_, n)| *n) == Some(']') {
                // OSC (titles, hyperlinks): up to BEL or ESC \.
                for (_, n) in chars.by_ref() {
                    if n == '\u{7}' || n == '\\' {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</span>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            to_html("<script>alert(1)</script> & \"x\" 'y'"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"
        );
    }

    #[test]
    fn colours_become_classes_and_close() {
        assert_eq!(
            to_html("\u{1b}[31mred\u{1b}[0m plain \u{1b}[1;92mok"),
            "<span class=\"f1\">red</span> plain <span class=\"f10 bo\">ok</span>"
        );
    }

    #[test]
    fn other_escapes_are_dropped() {
        assert_eq!(to_html("a\u{1b}[2Kb\u{1b}]0;title\u{7}c\r\n"), "abc\n");
        assert_eq!(
            to_html("\u{1b}[38;5;196mx\u{1b}[m"),
            "<span class=\"f7\">x</span>"
        );
        // An escape cut at the end of the text is dropped, not shown.
        assert_eq!(to_html("x\u{1b}[3"), "x");
    }

    /// Whatever a step prints, the only markup in the result is wharf's own spans, each
    /// closed, with class names of letters and digits (random texts of the characters
    /// that matter: escapes, parameters, markup, quotes).
    #[test]
    fn only_our_spans_come_out() {
        let alphabet = [
            "\u{1b}", "[", "]", ";", "3", "1", "9", "8", "5", "2", "m", "K", "<", ">", "&", "\"",
            "'", "a", " ", "\n", "\r", "\u{7}", "\\", "é", "/",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let html = to_html(&text);
            let mut rest = html.as_str();
            let mut depth = 0i32;
            while let Some(i) = rest.find('<') {
                assert!(!rest[..i].contains(['>', '"', '\'']), "{text:?} -> {html}");
                let tail = &rest[i..];
                if let Some(after) = tail.strip_prefix("<span class=\"") {
                    let end = after.find("\">").expect("a closed class attribute");
                    let classes = &after[..end];
                    assert!(
                        classes
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == ' '),
                        "{text:?} -> {html}"
                    );
                    depth += 1;
                    rest = &after[end + 2..];
                } else if let Some(after) = tail.strip_prefix("</span>") {
                    depth -= 1;
                    assert!(depth >= 0, "{text:?} -> {html}");
                    rest = after;
                } else {
                    panic!("stray markup: {text:?} -> {html}");
                }
            }
            assert!(!rest.contains(['>', '"', '\'']), "{text:?} -> {html}");
            assert_eq!(depth, 0, "{text:?} -> {html}");
        }
    }

    #[test]
    fn an_escape_cannot_inject_markup() {
        let html = to_html("\u{1b}[31m<img src=x onerror=alert(1)>");
        assert!(!html.contains("<img"), "{html}");
    }
}
