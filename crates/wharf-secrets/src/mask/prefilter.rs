//! A fast first pass over text: which positions could start a form at all.
//!
//! The full automaton over ~1,000 forms is a DFA of several MiB; walking it for every byte
//! of a log costs cache misses (~490 MB/s here). But every form is at least four bytes
//! long, so a form can only start where the next four bytes are the first four of some
//! form. Those few hundred prefixes are hashed into a 32 KiB bitset (it stays in L1), so
//! the scan costs a load, a multiply and a bit test per position; only the rare positions
//! that pass run the anchored automaton. Checking candidates in order gives exactly the
//! leftmost-longest match the unanchored search would.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, Match, MatchKind, StartKind};

/// Bits in the set: 2^18 (32 KiB, still in L1), one hash function: about 0.4 % of
/// positions pass with 1,000 distinct prefixes.
const BITS: usize = 1 << 18;

/// How many leading bytes of each form are hashed.
const PREFIX: usize = 4;

/// The bitset of form prefixes and the anchored automaton that confirms candidates.
pub(super) struct Prefilter {
    bits: Box<[u64]>,
    anchored: AhoCorasick,
}

impl Prefilter {
    /// A prefilter for `forms`, or `None` when some form is shorter than the prefix (it
    /// could start anywhere) or the anchored automaton cannot be built.
    pub(super) fn new(forms: &[Vec<u8>]) -> Option<Prefilter> {
        if forms.iter().any(|f| f.len() < PREFIX) {
            return None;
        }
        let mut bits = vec![0u64; BITS / 64].into_boxed_slice();
        for form in forms {
            let h = hash(word(&form[..PREFIX]));
            bits[h >> 6] |= 1 << (h & 63);
        }
        let anchored = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(forms)
            .ok()?;
        Some(Prefilter { bits, anchored })
    }

    /// The leftmost-longest match in `hay` that starts in `at..limit`.
    pub(super) fn find(&self, hay: &[u8], at: usize, limit: usize) -> Option<Match> {
        // A form needs PREFIX bytes, so no match starts in the last PREFIX - 1 bytes.
        let end = limit.min(hay.len().saturating_sub(PREFIX - 1));
        if at >= end {
            return None;
        }
        for (i, w) in hay[at..end + PREFIX - 1].windows(PREFIX).enumerate() {
            let h = hash(word(w));
            if self.bits[h >> 6] & (1 << (h & 63)) != 0 {
                let p = at + i;
                let input = Input::new(hay).span(p..hay.len()).anchored(Anchored::Yes);
                if let Some(m) = self.anchored.find(input) {
                    return Some(m);
                }
            }
        }
        None
    }
}

fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn hash(w: u32) -> usize {
    (w.wrapping_mul(0x9E37_79B1) >> (32 - 18)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn finds_the_leftmost_longest_match_in_range() {
        let pf = Prefilter::new(&forms(&["secret", "secret-long", "cret-x"])).unwrap();
        let hay = b"xx secret-long yy secret";
        let m = pf.find(hay, 0, hay.len()).unwrap();
        assert_eq!((m.start(), m.end()), (3, 14));
        let m = pf.find(hay, 4, hay.len()).unwrap();
        assert_eq!((m.start(), m.end()), (18, 24));
        assert!(pf.find(hay, 4, 18).is_none(), "limit bounds the start");
        assert!(pf.find(b"abc", 0, 3).is_none());
    }

    #[test]
    fn short_forms_disable_it() {
        assert!(Prefilter::new(&forms(&["abc", "longer"])).is_none());
    }
}
