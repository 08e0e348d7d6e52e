//! Masking output as it streams, in bounded memory.
//!
//! Steps print in arbitrary pieces: a secret may arrive split across two reads, or one byte
//! at a time. A [`StreamMasker`] emits every byte as soon as it is sure the byte cannot be
//! part of a form, and holds back only the tail that could still grow into one (at most
//! `max_form_len - 1` bytes), so memory stays bounded however long the stream or its
//! lines, and nothing is ever rescanned beyond that tail.
//!
//! Matching is leftmost-longest, restarted one byte after each match start, so every
//! position that begins a form is found with its longest form; the union of those spans is
//! masked, and spans that overlap or touch become one [`MASK`]. The output is the same
//! however the input is cut into writes.

use std::fmt;
use std::sync::Arc;

use aho_corasick::Input;
use zeroize::Zeroize;

use super::{MASK, MaskSet, Matcher};

/// Masks one output stream. Create it with [`MaskSet::stream`].
pub struct StreamMasker {
    set: Arc<MaskSet>,
    /// Bytes not yet emitted: a tail that could still begin a form.
    held: Vec<u8>,
    /// `Some(n)`: the last thing emitted is a mask covering `held[..n]` (and touching
    /// whatever starts at `n`).
    mask_end: Option<usize>,
    /// Reused buffer for `held` followed by the start of the next write.
    scratch: Vec<u8>,
}

/// Progress through one haystack: bytes before `pos` are emitted or masked.
struct Cursor {
    pos: usize,
    /// Where the mask emitted last ends, if nothing was emitted after it.
    mask_end: Option<usize>,
}

impl StreamMasker {
    pub(super) fn new(set: Arc<MaskSet>) -> StreamMasker {
        StreamMasker {
            set,
            held: Vec::new(),
            mask_end: None,
            scratch: Vec::new(),
        }
    }

    /// Masks `input` (the next bytes of the stream), appending what is safe to emit to
    /// `out`.
    ///
    /// Holds back at most `max_form_len - 1` bytes, and only bytes that could still be the
    /// start of a form: a line that cannot is emitted at once.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        let set = &*self.set;
        match set.matcher {
            Matcher::Empty => return out.extend_from_slice(input),
            Matcher::Everything => {
                if self.mask_end.is_none() {
                    out.extend_from_slice(MASK.as_bytes());
                    self.mask_end = Some(0);
                }
                return;
            }
            Matcher::Forms(_) | Matcher::Prefiltered(_) => {}
        }
        let start = Cursor {
            pos: self.mask_end.unwrap_or(0),
            mask_end: self.mask_end,
        };
        if self.held.is_empty() {
            return self.settle(input, start, out);
        }
        let mut hay = std::mem::take(&mut self.scratch);
        hay.clear();
        hay.extend_from_slice(&self.held);
        if input.len() <= set.max_len {
            hay.extend_from_slice(input);
            self.settle(&hay, start, out);
        } else {
            // Stitch the held tail to just enough of `input` that any form starting in the
            // tail ends inside `hay`; then scan `input` itself rather than copying it.
            let held = hay.len();
            hay.extend_from_slice(&input[..set.max_len]);
            let mut cur = start;
            mask_span(set, &hay, held, &mut cur, out);
            let cur = Cursor {
                pos: cur.pos - held,
                mask_end: cur.mask_end.map(|end| end - held),
            };
            self.settle(input, cur, out);
        }
        self.scratch = hay;
    }

    /// End of stream: emits the held-back tail, masked. The masker can then start a new
    /// stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.held.is_empty() {
            let mut cur = Cursor {
                pos: self.mask_end.unwrap_or(0),
                mask_end: self.mask_end,
            };
            mask_span(&self.set, &self.held, self.held.len(), &mut cur, out);
        }
        self.held.zeroize();
        self.mask_end = None;
    }

    /// Emits everything held back that can no longer begin a match given a stream break
    /// (call it when the producer is idle).
    ///
    /// [`write`](Self::write) already emits such bytes eagerly, so this has nothing left to
    /// do; it exists so callers need not rely on that. It deliberately does not release a
    /// tail that is the start of a form: if the secret's remainder came after the pause, it
    /// would no longer be recognised, and a producer printing slowly would leak it whole.
    /// That tail waits for more output or [`finish`](Self::finish).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.write(&[], out);
    }

    /// How many bytes are held back (never more than `max_form_len - 1`).
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Masks `hay` (which starts with `held`, so `cur` applies to it), emits all of it but
    /// the tail that could still grow into a form, and keeps that tail as `held`.
    fn settle(&mut self, hay: &[u8], mut cur: Cursor, out: &mut Vec<u8>) {
        let hold = self.set.hold_from(hay);
        mask_span(&self.set, hay, hold, &mut cur, out);
        self.held.clear();
        self.held.extend_from_slice(&hay[hold..]);
        // A mask reaching into the held tail was emitted already; remember how far it goes.
        self.mask_end = cur.mask_end.map(|end| end.saturating_sub(hold));
    }
}

/// Masks a whole haystack that nothing will follow.
pub(super) fn mask_all(set: &MaskSet, hay: &[u8], out: &mut Vec<u8>) {
    match set.matcher {
        Matcher::Empty => out.extend_from_slice(hay),
        Matcher::Everything => out.extend_from_slice(MASK.as_bytes()),
        Matcher::Forms(_) | Matcher::Prefiltered(_) => {
            mask_span(
                set,
                hay,
                hay.len(),
                &mut Cursor {
                    pos: 0,
                    mask_end: None,
                },
                out,
            );
        }
    }
}

/// Handles every match in `hay` that starts before `limit` (all of them starting at
/// `cur.pos` or later are new), emitting `hay[cur.pos..limit]` with the matches masked.
///
/// The caller guarantees that every form starting before `limit` ends inside `hay`, so the
/// longest match at each such start is known. A mask may reach past `limit`; `cur` then
/// records how far.
fn mask_span(set: &MaskSet, hay: &[u8], limit: usize, cur: &mut Cursor, out: &mut Vec<u8>) {
    if !matches!(set.matcher, Matcher::Forms(_) | Matcher::Prefiltered(_)) {
        return;
    }
    // A haystack begins where the previous call's limit was, so no match starting in it
    // has been handled yet (those inside an emitted mask merely extend it).
    let mut at = 0;
    while at < limit {
        // Unanchored leftmost-longest searches cannot fail, so `find` cannot panic.
        let found = match &set.matcher {
            Matcher::Prefiltered(pf) => pf.find(hay, at, limit),
            Matcher::Forms(ac) => ac.find(Input::new(hay).span(at..hay.len())),
            Matcher::Empty | Matcher::Everything => None,
        };
        let Some(m) = found else {
            break;
        };
        if m.start() >= limit {
            break;
        }
        match cur.mask_end {
            Some(end) if m.start() <= end => cur.mask_end = Some(end.max(m.end())),
            _ => {
                debug_assert!(cur.pos <= m.start());
                out.extend_from_slice(hay.get(cur.pos..m.start()).unwrap_or_default());
                out.extend_from_slice(MASK.as_bytes());
                cur.mask_end = Some(m.end());
            }
        }
        cur.pos = cur.pos.max(m.end());
        // A later start may still hold a longer form reaching past this one.
        at = m.start() + 1;
    }
    if cur.pos < limit {
        out.extend_from_slice(&hay[cur.pos..limit]);
        cur.pos = limit;
        cur.mask_end = None;
    }
}

impl Drop for StreamMasker {
    fn drop(&mut self) {
        self.held.zeroize();
        self.scratch.zeroize();
    }
}

impl fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMasker")
            .field("set", &self.set)
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::alphabet;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

    use super::*;

    /// A small deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn set(secrets: &[&str]) -> Arc<MaskSet> {
        Arc::new(MaskSet::new(secrets))
    }

    /// Streams `chunks`, checking the held tail stays bounded after every write.
    fn stream(set: &Arc<MaskSet>, chunks: &[&[u8]]) -> Vec<u8> {
        let mut masker = set.stream();
        let mut out = Vec::new();
        for chunk in chunks {
            masker.write(chunk, &mut out);
            assert!(masker.held_len() <= set.max_form_len().saturating_sub(1));
        }
        masker.finish(&mut out);
        assert_eq!(masker.held_len(), 0);
        out
    }

    fn masked(set: &Arc<MaskSet>, text: &[u8]) -> String {
        String::from_utf8_lossy(&stream(set, &[text])).into_owned()
    }

    const SECRET: &str = "s3cr3t-V@lue/with+chars";

    #[test]
    fn exact_value_is_masked() {
        let set = set(&[SECRET]);
        assert_eq!(
            masked(&set, format!("token: {SECRET}\n").as_bytes()),
            "token: ***\n"
        );
    }

    #[test]
    fn each_line_of_a_multi_line_value_is_masked() {
        let set = set(&["-----BEGIN KEY-----\nMIIEvQIBADANBg\nshort\n-----END KEY-----"]);
        let out = masked(&set, b"a MIIEvQIBADANBg b\nc -----END KEY----- d\nshort\n");
        assert_eq!(out, "a *** b\nc *** d\nshort\n");
        let whole = "x -----BEGIN KEY-----\r\nMIIEvQIBADANBg\r\nshort\r\n-----END KEY----- y";
        assert_eq!(masked(&set, whole.as_bytes()), "x *** y");
    }

    #[test]
    fn percent_forms_are_masked_in_both_hex_cases() {
        let set = set(&[SECRET]);
        let upper = "s3cr3t-V%40lue%2Fwith%2Bchars";
        let out = masked(
            &set,
            format!("?a={upper}&b={}", upper.to_lowercase()).as_bytes(),
        );
        // Only the hex digits are lower case in the second copy, but the text around them
        // changes too, so check for the exact lower-hex form separately.
        assert_eq!(out, "?a=***&b=s3cr3t-v%40lue%2fwith%2bchars");
        let lower = "s3cr3t-V%40lue%2fwith%2bchars";
        assert_eq!(masked(&set, format!("?a={lower}").as_bytes()), "?a=***");
        assert_eq!(masked(&set, b"q=pass+word%21"), "q=pass+word%21");
        let spaced = crate::mask::MaskSet::new(&["pass word!"]);
        assert_eq!(
            spaced.mask_str("q=pass+word%21&r=pass%20word%21"),
            "q=***&r=***"
        );
    }

    #[test]
    fn json_form_is_masked() {
        let set = set(&["quote\"back\\slash/é"]);
        for json in [
            r#"{"k":"quote\"back\\slash/é"}"#,
            r#"{"k":"quote\"back\\slash\/\u00e9"}"#,
        ] {
            assert_eq!(masked(&set, json.as_bytes()), r#"{"k":"***"}"#);
        }
    }

    #[test]
    fn hex_forms_are_masked() {
        let set = set(&["Secret"]);
        assert_eq!(
            masked(
                &set,
                b"536563726574 536563726574".to_ascii_uppercase().as_slice()
            ),
            "*** ***"
        );
        assert_eq!(masked(&set, b"x536563726574x"), "x***x");
    }

    #[test]
    fn xml_forms_are_masked() {
        let set = set(&["a<b>&\"c'd"]);
        assert_eq!(masked(&set, b"<v>a&lt;b&gt;&amp;\"c'd</v>"), "<v>***</v>");
        assert_eq!(
            masked(&set, b"v=\"a&lt;b&gt;&amp;&quot;c&#39;d\""),
            "v=\"***\""
        );
        assert_eq!(
            masked(&set, b"v='a&lt;b&gt;&amp;&quot;c&apos;d'"),
            "v='***'"
        );
    }

    /// Whether some run of base64 characters in `text`, decoded leniently from any
    /// position, contains `secret`.
    fn base64_reveals(text: &[u8], secret: &[u8], url: bool) -> bool {
        let (extra, alphabet) = if url {
            (b"-_", &alphabet::URL_SAFE)
        } else {
            (b"+/", &alphabet::STANDARD)
        };
        let config = GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent);
        let engine = GeneralPurpose::new(alphabet, config);
        (0..text.len()).any(|start| {
            let run = text[start..]
                .iter()
                .take_while(|&&b| b.is_ascii_alphanumeric() || extra.contains(&b))
                .count();
            // A lone trailing character carries no whole byte.
            let usable = &text[start..start + run - usize::from(run % 4 == 1)];
            engine
                .decode(usable)
                .is_ok_and(|d| d.windows(secret.len()).any(|w| w == secret))
        })
    }

    #[test]
    fn base64_at_every_alignment_inside_a_longer_blob_is_masked() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for secret in [
            "abcdef",
            "s3cr3t-V@lue",
            "\u{ff}\u{fe}\u{fd}binary?>?>",
            SECRET,
        ] {
            let set = set(&[secret]);
            for offset in 0..3 {
                for url in [false, true] {
                    for trial in 0..20 {
                        let before = 3 * rng.below(8) + offset;
                        let after = rng.below(10);
                        let mut blob = rng.bytes(before);
                        blob.extend_from_slice(secret.as_bytes());
                        blob.extend(rng.bytes(after));
                        let encoded = if url {
                            URL_SAFE.encode(&blob)
                        } else {
                            STANDARD.encode(&blob)
                        };
                        assert!(base64_reveals(encoded.as_bytes(), secret.as_bytes(), url));
                        let out = stream(&set, &[b"data: ", encoded.as_bytes(), b"\n"]);
                        assert!(
                            !base64_reveals(&out, secret.as_bytes(), url),
                            "{secret:?} offset {offset} url {url} trial {trial}: {}",
                            String::from_utf8_lossy(&out)
                        );
                        assert!(out.windows(3).any(|w| w == b"***"));
                    }
                }
            }
        }
    }

    #[test]
    fn plain_base64_of_the_value_is_masked_whole() {
        let set = set(&["secret!"]);
        assert_eq!(
            masked(&set, b"Authorization: Basic c2VjcmV0IQ==\n"),
            "Authorization: Basic ***\n"
        );
    }

    #[test]
    fn overlapping_and_adjacent_matches_merge_into_one_mask() {
        let set = set(&["abcdefgh", "efghijkl", "mnopqr"]);
        assert_eq!(masked(&set, b"<abcdefghijkl>"), "<***>");
        assert_eq!(masked(&set, b"<abcdefghmnopqr>"), "<***>");
        assert_eq!(masked(&set, b"<abcdefgh mnopqr>"), "<*** ***>");
        assert_eq!(masked(&set, b"<abcdefghabcdefgh>"), "<***>");
        // A shorter form nested in a longer one from a later start still extends the mask.
        let nested = self::set(&["0123456789", "2345678", "56789abcdef"]);
        assert_eq!(masked(&nested, b"<0123456789abcdef>"), "<***>");
    }

    #[test]
    fn split_across_writes_at_every_point() {
        let set = set(&[SECRET, "abcdefgh", "efghijkl"]);
        let text = format!("a {SECRET} b abcdefghijkl c {SECRET}{SECRET}\nend");
        let expected = masked(&set, text.as_bytes());
        assert_eq!(expected, "a *** b *** c ***\nend");
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let out = stream(&set, &[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(String::from_utf8_lossy(&out), expected, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn one_byte_per_write() {
        let set = set(&[SECRET, "abcdefgh"]);
        let text = format!("x{SECRET}y abcdefgh abcdefg {SECRET}");
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(
            String::from_utf8_lossy(&stream(&set, &chunks)),
            "x***y *** abcdefg ***"
        );
    }

    #[test]
    fn secret_at_end_without_newline() {
        let set = set(&[SECRET]);
        let mut masker = set.stream();
        let mut out = Vec::new();
        masker.write(b"last: ", &mut out);
        masker.write(&SECRET.as_bytes()[..5], &mut out);
        masker.flush(&mut out);
        // The start of the secret is still held back after a flush...
        assert_eq!(out, b"last: ");
        masker.write(&SECRET.as_bytes()[5..], &mut out);
        masker.finish(&mut out);
        // ...and the whole of it masked at the end.
        assert_eq!(out, b"last: ***");
    }

    #[test]
    fn text_that_cannot_begin_a_form_is_emitted_at_once() {
        let set = set(&["zzzzzz-secret"]);
        let mut masker = set.stream();
        let mut out = Vec::new();
        masker.write(b"Password: ", &mut out);
        assert_eq!(out, b"Password: ");
        assert_eq!(masker.held_len(), 0);
        masker.write(b"zzz", &mut out);
        assert_eq!(masker.held_len(), 3);
        masker.write(b"!", &mut out);
        assert_eq!(out, b"Password: zzz!");
    }

    #[test]
    fn long_stream_without_secrets_is_unchanged() {
        let set = set(&[SECRET, "another-secret-value", "abcdef"]);
        let mut rng = Rng(42);
        let text: Vec<u8> = (0..1 << 20)
            .map(|_| b" abcdeghijklmnopqrstuvwxyz\n"[rng.below(27)])
            .collect();
        let chunks: Vec<&[u8]> = text.chunks(4093).collect();
        assert!(stream(&set, &chunks) == text);
    }

    #[test]
    fn held_tail_stays_below_the_longest_form() {
        let set = set(&["aaaaaaaaaaaaaaaaaaab"]);
        let limit = set.max_form_len() - 1;
        let mut masker = set.stream();
        let mut out = Vec::new();
        for _ in 0..10_000 {
            masker.write(b"a", &mut out);
            assert!(masker.held_len() <= limit);
        }
        masker.write(&[b'a'; 100_000], &mut out);
        assert!(masker.held_len() <= limit);
        masker.write(b"b", &mut out);
        masker.finish(&mut out);
        assert!(out.ends_with(b"a***"));
        assert_eq!(out.len(), 110_001 - 20 + 3);
    }

    #[test]
    fn empty_set_passes_input_through() {
        let set = Arc::new(MaskSet::new::<&str>(&[]));
        let out = stream(&set, &[b"any", b"thing\n", b""]);
        assert_eq!(out, b"anything\n");
    }

    #[test]
    fn random_chunking_gives_the_one_shot_result() {
        let mut rng = Rng(7);
        for round in 0..200 {
            let secrets: Vec<String> = (0..1 + rng.below(3))
                .map(|_| {
                    (0..1 + rng.below(10))
                        .map(|_| char::from(b"ab%\n\"/"[rng.below(6)]))
                        .collect()
                })
                .collect();
            let set = Arc::new(MaskSet::new(&secrets));
            let mut text = Vec::new();
            while text.len() < 200 {
                if rng.below(4) == 0 {
                    text.extend_from_slice(secrets[rng.below(secrets.len())].as_bytes());
                } else {
                    text.push(b"ab%\n\"/2"[rng.below(7)]);
                }
            }
            let whole = set.mask_str(std::str::from_utf8(&text).unwrap());
            let mut chunks = Vec::new();
            let mut rest = text.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(rng.below(rest.len() + 1));
                chunks.push(chunk);
                rest = tail;
            }
            let out = stream(&set, &chunks);
            assert_eq!(
                String::from_utf8_lossy(&out),
                whole,
                "round {round}: {secrets:?}"
            );
            for secret in &secrets {
                assert!(!out.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
        }
    }

    #[test]
    fn reusable_after_finish() {
        let set = set(&[SECRET]);
        let mut masker = set.stream();
        let mut out = Vec::new();
        masker.write(&SECRET.as_bytes()[..4], &mut out);
        masker.finish(&mut out);
        masker.write(SECRET.as_bytes(), &mut out);
        masker.finish(&mut out);
        assert_eq!(out, [&SECRET.as_bytes()[..4], b"***"].concat());
    }
}
