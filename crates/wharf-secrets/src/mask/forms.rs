//! Every form in which a program is likely to print a secret value.
//!
//! Masking only the exact bytes is not enough: a step that base64-encodes a token for a
//! header, URL-encodes it into a query string, puts it in a JSON body or dumps it as hex
//! prints the secret just as surely. This module derives those forms once per run, so the
//! matcher only has to look for fixed strings.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::MIN_FORM_LEN;

/// All forms of all `secrets`, sorted and deduplicated.
///
/// Each non-empty value is kept exactly, whatever its length. For a multi-line value, each
/// line of at least [`MIN_FORM_LEN`] bytes and the value with `\n` and with `\r\n` line
/// endings are treated as values too. Every derived form shorter than [`MIN_FORM_LEN`] is
/// dropped: it would mask ordinary text.
pub(super) fn all_forms<B: AsRef<[u8]>>(secrets: &[B]) -> Vec<Vec<u8>> {
    let mut forms = BTreeSet::new();
    for secret in secrets {
        let value = secret.as_ref();
        if value.is_empty() {
            continue;
        }
        forms.insert(value.to_vec());
        for base in bases(value) {
            for form in derived(&base) {
                if form.len() >= MIN_FORM_LEN {
                    forms.insert(form);
                }
            }
        }
    }
    forms.into_iter().collect()
}

/// The value itself and, when it spans lines, its line-ending variants and its lines.
fn bases(value: &[u8]) -> Vec<Vec<u8>> {
    let mut bases = vec![value.to_vec()];
    if !value.contains(&b'\n') {
        return bases;
    }
    let lines: Vec<&[u8]> = value
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect();
    bases.push(lines.join(&b"\n"[..]));
    bases.push(lines.join(&b"\r\n"[..]));
    bases.extend(
        lines
            .iter()
            .filter(|line| line.len() >= MIN_FORM_LEN)
            .map(|line| line.to_vec()),
    );
    bases
}

/// Every encoding of one value (including the value itself), before deduplication.
fn derived(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![value.to_vec()];
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        forms.extend((0..3).map(|offset| base64_aligned(engine, value, offset)));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(value).into_bytes());
    }
    for style in &PERCENT_STYLES {
        forms.push(percent(value, style));
    }
    for style in &JSON_STYLES {
        forms.extend(json(value, style));
    }
    forms.push(hex(value, LOWER_HEX));
    forms.push(hex(value, UPPER_HEX));
    for (quot, apos) in XML_QUOTES {
        forms.push(xml(value, quot, apos));
    }
    forms
}

/// The base64 characters that depend on `value` alone when it starts `offset` bytes
/// (0, 1 or 2) into a 3-byte group of a longer encoded blob.
///
/// Character `i` of an encoding covers input bits `6i..6i + 6`; the value covers bits
/// `8 * offset..8 * (offset + len)`. Characters that straddle either edge also depend on
/// the unknown neighbouring bytes, so only the ones fully inside are kept.
fn base64_aligned(engine: &GeneralPurpose, value: &[u8], offset: usize) -> Vec<u8> {
    let mut input = vec![0; offset];
    input.extend_from_slice(value);
    let encoded = engine.encode(&input).into_bytes();
    let first = (8 * offset).div_ceil(6);
    let end = 8 * (offset + value.len()) / 6;
    encoded.get(first..end).unwrap_or_default().to_vec()
}

/// How one URL encoder writes bytes outside the unreserved set `A-Za-z0-9-._~`.
struct PercentStyle {
    /// Reserved bytes this encoder leaves alone.
    keep: &'static [u8],
    /// Hex digits used after `%`.
    digits: &'static [u8; 16],
    /// Whether a space becomes `+` (form encoding) rather than `%20`.
    plus: bool,
}

impl PercentStyle {
    const fn new(keep: &'static [u8], digits: &'static [u8; 16], plus: bool) -> PercentStyle {
        PercentStyle { keep, digits, plus }
    }
}

/// Strict RFC 3986 in both hex cases, with both spellings of a space; JavaScript's
/// `encodeURIComponent`; Python's `quote` (which keeps `/`).
const PERCENT_STYLES: [PercentStyle; 6] = [
    PercentStyle::new(b"", UPPER_HEX, false),
    PercentStyle::new(b"", LOWER_HEX, false),
    PercentStyle::new(b"", UPPER_HEX, true),
    PercentStyle::new(b"", LOWER_HEX, true),
    PercentStyle::new(b"!'()*", UPPER_HEX, false),
    PercentStyle::new(b"/", UPPER_HEX, false),
];

fn percent(value: &[u8], style: &PercentStyle) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || style.keep.contains(&b) {
            out.push(b);
        } else if b == b' ' && style.plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[
                b'%',
                style.digits[usize::from(b >> 4)],
                style.digits[usize::from(b & 15)],
            ]);
        }
    }
    out
}

/// How one JSON encoder writes a string's contents.
struct JsonStyle {
    /// Non-ASCII (and DEL) as `\uXXXX` UTF-16 units.
    ascii: bool,
    /// `/` as `\/`.
    slash: bool,
    /// `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`.
    html: bool,
    /// Hex digits of `\uXXXX`.
    digits: &'static [u8; 16],
}

impl JsonStyle {
    const fn new(ascii: bool, slash: bool, html: bool, digits: &'static [u8; 16]) -> JsonStyle {
        JsonStyle {
            ascii,
            slash,
            html,
            digits,
        }
    }
}

/// serde_json and `JSON.stringify`; escaped `/`; Go's `encoding/json`; Python's
/// `json.dumps`; PHP's `json_encode`; upper-case escapes (Jackson, .NET).
const JSON_STYLES: [JsonStyle; 7] = [
    //            ascii  slash  html
    JsonStyle::new(false, false, false, LOWER_HEX),
    JsonStyle::new(false, true, false, LOWER_HEX),
    JsonStyle::new(false, false, true, LOWER_HEX),
    JsonStyle::new(true, false, false, LOWER_HEX),
    JsonStyle::new(true, true, false, LOWER_HEX),
    JsonStyle::new(true, false, false, UPPER_HEX),
    JsonStyle::new(true, false, true, UPPER_HEX),
];

/// The value as it appears between the quotes of a JSON string, or `None` when the style
/// needs characters and the value is not UTF-8.
fn json(value: &[u8], style: &JsonStyle) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len() + 8);
    match std::str::from_utf8(value) {
        Ok(text) => text.chars().for_each(|c| json_char(c, style, &mut out)),
        // Not UTF-8, so no JSON encoder takes it as is; escape what is ASCII at least.
        Err(_) if !style.ascii => {
            for &b in value {
                if b.is_ascii() {
                    json_char(char::from(b), style, &mut out);
                } else {
                    out.push(b);
                }
            }
        }
        Err(_) => return None,
    }
    Some(out)
}

fn json_char(c: char, style: &JsonStyle, out: &mut Vec<u8>) {
    let short: &[u8] = match c {
        '"' => br#"\""#,
        '\\' => br"\\",
        '\n' => br"\n",
        '\r' => br"\r",
        '\t' => br"\t",
        '\u{8}' => br"\b",
        '\u{c}' => br"\f",
        '/' if style.slash => br"\/",
        _ => b"",
    };
    let escape = match c {
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => style.html,
        _ => c < ' ' || (style.ascii && c >= '\u{7f}'),
    };
    if !short.is_empty() {
        out.extend_from_slice(short);
    } else if escape {
        for unit in c.encode_utf16(&mut [0; 2]) {
            out.extend_from_slice(br"\u");
            for shift in [12, 8, 4, 0] {
                out.push(style.digits[usize::from((*unit >> shift) & 15)]);
            }
        }
    } else {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex(value: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    value
        .iter()
        .flat_map(|&b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]])
        .collect()
}

/// How one quote character is written (`None`: left alone, as in XML text nodes).
type Quote = Option<&'static [u8]>;

/// How `"` and `'` are written; `&`, `<` and `>` are always escaped. Covers Python's
/// `html.escape`, Go's `html.EscapeString`, and the usual XML writers.
const XML_QUOTES: [(Quote, Quote); 5] = [
    (None, None),
    (Some(b"&quot;"), Some(b"&#39;")),
    (Some(b"&quot;"), Some(b"&apos;")),
    (Some(b"&quot;"), Some(b"&#x27;")),
    (Some(b"&#34;"), Some(b"&#39;")),
];

fn xml(value: &[u8], quot: Quote, apos: Quote) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    for &b in value {
        match (b, quot, apos) {
            (b'&', _, _) => out.extend_from_slice(b"&amp;"),
            (b'<', _, _) => out.extend_from_slice(b"&lt;"),
            (b'>', _, _) => out.extend_from_slice(b"&gt;"),
            (b'"', Some(q), _) => out.extend_from_slice(q),
            (b'\'', _, Some(a)) => out.extend_from_slice(a),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms_of(value: &str) -> Vec<String> {
        all_forms(&[value])
            .into_iter()
            .map(|f| String::from_utf8(f).unwrap())
            .collect()
    }

    fn has(forms: &[String], form: &str) -> bool {
        forms.iter().any(|f| f == form)
    }

    #[test]
    fn exact_value_is_kept_even_when_short() {
        let forms = all_forms(&[b"ab".as_slice()]);
        assert!(forms.contains(&b"ab".to_vec()));
        assert!(forms.iter().all(|f| f == b"ab" || f.len() >= MIN_FORM_LEN));
    }

    #[test]
    fn empty_values_give_nothing() {
        assert!(all_forms(&[b"".as_slice()]).is_empty());
    }

    #[test]
    fn percent_forms_in_both_hex_cases_and_with_plus() {
        let forms = forms_of("p@ss w/rd!");
        for form in [
            "p%40ss%20w%2Frd%21",
            "p%40ss%20w%2frd%21",
            "p%40ss+w%2Frd%21",
            "p%40ss+w%2frd%21",
            "p%40ss%20w%2Frd!",
            "p%40ss%20w/rd%21",
        ] {
            assert!(has(&forms, form), "{form} missing");
        }
    }

    #[test]
    fn json_forms() {
        let forms = forms_of("a\"b\\c/d\u{e9}<\n");
        for form in [
            "a\\\"b\\\\c/d\u{e9}<\\n",
            "a\\\"b\\\\c\\/d\u{e9}<\\n",
            "a\\\"b\\\\c/d\u{e9}\\u003c\\n",
            "a\\\"b\\\\c/d\\u00e9<\\n",
            "a\\\"b\\\\c\\/d\\u00e9<\\n",
            "a\\\"b\\\\c/d\\u00E9<\\n",
        ] {
            assert!(has(&forms, form), "{form} missing");
        }
        let astral = forms_of("key\u{1f600}key");
        assert!(has(&astral, "key\\ud83d\\ude00key"));
        let control = forms_of("tab\u{1}bel");
        assert!(has(&control, "tab\\u0001bel"));
    }

    #[test]
    fn hex_forms() {
        let forms = forms_of("Secret");
        assert!(has(&forms, "536563726574"));
        assert!(has(&forms, "536563726574".to_uppercase().as_str()));
        let lower = forms_of("\u{ff}\u{fe}ab");
        assert!(has(&lower, "c3bfc3be6162"));
        assert!(has(&lower, "C3BFC3BE6162"));
    }

    #[test]
    fn xml_forms() {
        let forms = forms_of("a&b<c>d\"e'f");
        for form in [
            "a&amp;b&lt;c&gt;d\"e'f",
            "a&amp;b&lt;c&gt;d&quot;e&#39;f",
            "a&amp;b&lt;c&gt;d&quot;e&apos;f",
            "a&amp;b&lt;c&gt;d&quot;e&#x27;f",
            "a&amp;b&lt;c&gt;d&#34;e&#39;f",
        ] {
            assert!(has(&forms, form), "{form} missing");
        }
    }

    #[test]
    fn multi_line_values_give_lines_and_both_line_endings() {
        let forms = forms_of("first-line\r\nshort\nthird-line");
        assert!(has(&forms, "first-line"));
        assert!(has(&forms, "third-line"));
        assert!(!has(&forms, "short"));
        assert!(has(&forms, "first-line\nshort\nthird-line"));
        assert!(has(&forms, "first-line\r\nshort\r\nthird-line"));
        // Lines are encoded too.
        assert!(has(
            &forms,
            &hex(b"third-line", LOWER_HEX)
                .iter()
                .map(|&b| char::from(b))
                .collect::<String>()
        ));
    }

    #[test]
    fn base64_alignments_are_the_chars_fixed_by_the_value() {
        // "secret!" at offsets 0..2, checked against hand-computed encodings.
        assert_eq!(
            base64_aligned(&STANDARD_NO_PAD, b"secret!", 0),
            b"c2VjcmV0I"
        );
        // "\0secret!" encodes to "AHNlY3JldCE": "AH" mixes the zero byte in, the final
        // "E" whatever follows.
        assert_eq!(base64_aligned(&STANDARD_NO_PAD, b"secret!", 1), b"NlY3JldC");
        // "\0\0secret!" encodes to "AABzZWNyZXQh": "AAB" mixes the zero bytes in.
        assert_eq!(
            base64_aligned(&STANDARD_NO_PAD, b"secret!", 2),
            b"zZWNyZXQh"
        );
    }

    #[test]
    fn base64_alignment_of_tiny_values_is_empty_not_a_panic() {
        for offset in 0..3 {
            assert!(base64_aligned(&STANDARD_NO_PAD, b"a", offset).len() <= 1);
        }
    }

    #[test]
    fn forms_are_sorted_and_unique() {
        let forms = all_forms(&["same-value", "same-value", "other-value"]);
        assert!(forms.windows(2).all(|w| w[0] < w[1]));
    }
}
