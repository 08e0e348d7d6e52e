//! A fast first pass over text: which positions could start a form at all.
//!
//! The full automaton over ~1,000 forms is a DFA of several MiB; walking it for every byte
//! of a log costs cache misses (~490 MB/s here). A cheaper test comes first. Let `L` be
//! the length of the shortest form and `k = L - 3`: any occurrence of a form covers `k`
//! consecutive positions from which a 4-byte window still lies inside it (its offsets
//! `0..k`). So it is enough to look at every `k`-th position (3 for the usual `L = 6`):
//! the 4-byte windows at offsets `0..k` of every form are hashed into a 32 KiB bitset (it
//! stays in L1), and only where a sampled window hits does the anchored automaton run, at
//! the `k` positions that could start a form covering that sample. Samples, and the
//! candidates of each, are taken in order, so the first match found is exactly the
//! leftmost-longest one the unanchored search would report.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, Match, MatchKind, StartKind};

/// Bits in the set: 2^18 (32 KiB, still in L1), one hash function: about 0.4 % of
/// positions pass with 1,000 distinct prefixes.
const BITS: usize = 1 << 18;

/// How many leading bytes of each form are hashed.
const PREFIX: usize = 4;

/// The bitset of form windows and the anchored automaton that confirms candidates.
pub(super) struct Prefilter {
    bits: Box<[u64]>,
    /// How many positions apart the samples are (`shortest form - PREFIX + 1`).
    stride: usize,
    anchored: AhoCorasick,
}

impl Prefilter {
    /// A prefilter for `forms`, or `None` when some form is shorter than the prefix (it
    /// could start anywhere) or the anchored automaton cannot be built.
    pub(super) fn new(forms: &[Vec<u8>]) -> Option<Prefilter> {
        let shortest = forms.iter().map(Vec::len).min()?;
        if shortest < PREFIX {
            return None;
        }
        // Sampling every `stride` positions needs the windows at offsets 0..stride of each
        // form; more windows fill the bitset, so cap the stride (3 covers the usual forms).
        let stride = (shortest - PREFIX + 1).min(3);
        let mut bits = vec![0u64; BITS / 64].into_boxed_slice();
        for form in forms {
            for off in 0..stride {
                let h = hash(word(&form[off..off + PREFIX]));
                bits[h >> 6] |= 1 << (h & 63);
            }
        }
        let anchored = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(forms)
            .ok()?;
        Some(Prefilter {
            bits,
            stride,
            anchored,
        })
    }

    /// The leftmost-longest match in `hay` that starts in `at..limit`.
    pub(super) fn find(&self, hay: &[u8], at: usize, limit: usize) -> Option<Match> {
        let k = self.stride;
        if at >= limit {
            return None;
        }
        // A match starting at q is seen by the one sample s with q <= s < q + k; its window
        // s..s + PREFIX lies inside the match, so s + PREFIX <= hay.len().
        let mut s = at;
        while s < limit + k - 1 && s + PREFIX <= hay.len() {
            let h = hash(word(&hay[s..s + PREFIX]));
            if self.bits[h >> 6] & (1 << (h & 63)) != 0 {
                let lo = (s + 1).saturating_sub(k).max(at);
                let hi = s.min(limit - 1);
                for q in lo..=hi {
                    let input = Input::new(hay).span(q..hay.len()).anchored(Anchored::Yes);
                    if let Some(m) = self.anchored.find(input) {
                        return Some(m);
                    }
                }
            }
            s += k;
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
    fn agrees_with_the_unanchored_search_everywhere() {
        let fs = forms(&["abcdef", "cdefgh", "xyzxyz-long", "zzzzzz", "abcdefgh"]);
        let pf = Prefilter::new(&fs).unwrap();
        assert_eq!(pf.stride, 3);
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&fs)
            .unwrap();
        let mut seed = 7u64;
        let alphabet = b"abcdefghxyz-";
        for _ in 0..300 {
            let len = (seed % 60) as usize;
            let mut hay = Vec::new();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                hay.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            for at in 0..=hay.len() {
                for limit in at..=hay.len() {
                    let want = ac
                        .find(Input::new(&hay).span(at..hay.len()))
                        .filter(|m| m.start() < limit)
                        .map(|m| (m.start(), m.end()));
                    let got = pf.find(&hay, at, limit).map(|m| (m.start(), m.end()));
                    assert_eq!(
                        got,
                        want,
                        "{:?} at {at} limit {limit}",
                        String::from_utf8_lossy(&hay)
                    );
                }
            }
        }
    }

    #[test]
    fn short_forms_disable_it() {
        assert!(Prefilter::new(&forms(&["abc", "longer"])).is_none());
    }
}
