//! The masker: the backstop that keeps secret values out of everything a step prints.
//!
//! Scoping decides which secrets a step sees; this module makes sure that whatever the step
//! then prints, in any common encoding, reaches the log file, the terminal and the JSON
//! events only as [`MASK`]. A [`MaskSet`] is compiled once per run from the secret values
//! (`forms.rs` derives the encodings); each output stream gets a [`StreamMasker`] that
//! masks bytes as they arrive, holding back only a tail that could still begin a secret.

mod forms;
mod prefilter;
mod stream;

use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use zeroize::Zeroize;

pub use stream::StreamMasker;

/// The shortest secret value `wharf secrets set` accepts.
pub const MIN_SECRET_LEN: usize = 6;

/// Derived forms (encodings, lines) shorter than this are not masked: they would hit
/// ordinary text. Exact values are masked whatever their length.
pub const MIN_FORM_LEN: usize = 6;

/// What every occurrence of a secret, in any form, is replaced with.
pub const MASK: &str = "***";

/// Above this many bytes of forms, the matcher is an NFA rather than a DFA: the DFA is
/// about twice as fast (450 vs 200 MB/s with 100 secrets) but costs about 400 bytes of
/// memory per byte of forms (16 MB for 100 secrets of 20-40 characters, 42 KB of forms).
const DFA_MAX_FORM_BYTES: usize = 128 * 1024;

/// The forms to mask, compiled once per run from the secret values.
///
/// `Send + Sync`; share it in an [`Arc`] and call [`MaskSet::stream`] once per output
/// stream.
pub struct MaskSet {
    /// Every form, sorted: a binary search tells whether bytes could still begin one.
    forms: Vec<Vec<u8>>,
    /// Whether some form begins with this byte (a cheap first test before the search).
    starts: [bool; 256],
    matcher: Matcher,
    max_len: usize,
}

/// What finds the forms in text.
enum Matcher {
    /// No secrets: text passes through.
    Empty,
    /// Leftmost-longest search over all forms.
    Forms(AhoCorasick),
    /// The same, through the prefix prefilter (every form is long enough for it).
    Prefiltered(prefilter::Prefilter),
    /// The forms could not be compiled (beyond any realistic size): everything is masked,
    /// since printing a secret is worse than printing nothing.
    Everything,
}

impl MaskSet {
    /// Compiles every form of every value in `secrets`; empty values are ignored.
    ///
    /// Values shorter than [`MIN_SECRET_LEN`] are still masked exactly, but their derived
    /// forms shorter than [`MIN_FORM_LEN`] are skipped.
    pub fn new<B: AsRef<[u8]>>(secrets: &[B]) -> MaskSet {
        MaskSet::from_forms(forms::all_forms(secrets))
    }

    /// `base`'s forms and every form of `more` (a deployment job's secrets, decrypted
    /// after the run's masks were made).
    pub fn with_more<B: AsRef<[u8]>>(base: Option<&MaskSet>, more: &[B]) -> MaskSet {
        let mut all: std::collections::BTreeSet<Vec<u8>> =
            forms::all_forms(more).into_iter().collect();
        if let Some(b) = base {
            all.extend(b.forms.iter().cloned());
        }
        MaskSet::from_forms(all.into_iter().collect())
    }

    fn from_forms(forms: Vec<Vec<u8>>) -> MaskSet {
        let mut starts = [false; 256];
        for form in &forms {
            starts[usize::from(form[0])] = true;
        }
        let max_len = forms.iter().map(Vec::len).max().unwrap_or(0);
        let matcher = match prefilter::Prefilter::new(&forms) {
            Some(pf) => Matcher::Prefiltered(pf),
            None => compile(&forms),
        };
        MaskSet {
            forms,
            starts,
            matcher,
            max_len,
        }
    }

    /// Whether there is nothing to mask (text passes through unchanged).
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// A masker for one output stream.
    pub fn stream(self: &Arc<Self>) -> StreamMasker {
        StreamMasker::new(Arc::clone(self))
    }

    /// `text` with every form masked, for one-shot strings: error messages, step outputs,
    /// failure reasons.
    pub fn mask_str(&self, text: &str) -> String {
        let mut out = Vec::with_capacity(text.len());
        stream::mask_all(self, text.as_bytes(), &mut out);
        // A form may be a byte string that ends inside a UTF-8 character.
        match String::from_utf8(out) {
            Ok(masked) => masked,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The length of the longest form: a stream holds back at most one byte less.
    pub fn max_form_len(&self) -> usize {
        self.max_len
    }

    /// Whether `tail` is a proper prefix of some form, so it may yet become one.
    fn may_extend(&self, tail: &[u8]) -> bool {
        // The forms starting with `tail` are contiguous in sorted order and come first
        // among those not less than it; `tail` itself, if a form, sorts just before them.
        let mut i = self.forms.partition_point(|f| f.as_slice() < tail);
        if self.forms.get(i).is_some_and(|f| f == tail) {
            i += 1;
        }
        self.forms.get(i).is_some_and(|f| f.starts_with(tail))
    }

    /// Where the tail of `hay` that must be held back begins: the earliest position from
    /// which the rest of `hay` could still grow into a form. `hay.len()` if none.
    fn hold_from(&self, hay: &[u8]) -> usize {
        let low = hay.len().saturating_sub(self.max_len.saturating_sub(1));
        (low..hay.len())
            .find(|&p| self.starts[usize::from(hay[p])] && self.may_extend(&hay[p..]))
            .unwrap_or(hay.len())
    }
}

fn compile(forms: &[Vec<u8>]) -> Matcher {
    if forms.is_empty() {
        return Matcher::Empty;
    }
    let mut builder = AhoCorasick::builder();
    builder.match_kind(MatchKind::LeftmostLongest);
    if forms.iter().map(Vec::len).sum::<usize>() <= DFA_MAX_FORM_BYTES {
        builder.kind(Some(AhoCorasickKind::DFA));
        if let Ok(ac) = builder.build(forms) {
            return Matcher::Forms(ac);
        }
    }
    match builder.kind(None).build(forms) {
        Ok(ac) => Matcher::Forms(ac),
        Err(_) => Matcher::Everything,
    }
}

impl Drop for MaskSet {
    fn drop(&mut self) {
        self.forms.iter_mut().for_each(|f| f.zeroize());
    }
}

impl fmt::Debug for MaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskSet")
            .field("forms", &self.forms.len())
            .field("max_form_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_set_passes_text_through() {
        let set = MaskSet::new::<&str>(&[]);
        assert!(set.is_empty());
        assert_eq!(set.max_form_len(), 0);
        assert_eq!(set.mask_str("anything at all"), "anything at all");
        assert!(MaskSet::new(&["", ""]).is_empty());
    }

    #[test]
    fn mask_str_masks_every_occurrence() {
        let set = MaskSet::new(&["hunter2-secret"]);
        assert_eq!(
            set.mask_str("pw=hunter2-secret, again hunter2-secret."),
            "pw=***, again ***."
        );
    }

    #[test]
    fn short_values_are_masked_exactly() {
        let set = MaskSet::new(&["abc"]);
        assert_eq!(set.mask_str("xabcx"), "x***x");
    }

    #[test]
    fn regex_metacharacters_are_literal() {
        let set = MaskSet::new(&[r"a.*b+c?(d)[e]{2}|^$\"]);
        assert_eq!(set.mask_str("aXXb"), "aXXb");
        assert_eq!(set.mask_str(r"<a.*b+c?(d)[e]{2}|^$\>"), "<***>");
    }

    #[test]
    fn may_extend_is_proper_prefix() {
        let set = MaskSet::new(&["abcdef", "abcdefgh"]);
        assert!(set.may_extend(b"abc"));
        assert!(set.may_extend(b"abcdef"));
        assert!(!set.may_extend(b"abcdefgh"));
        assert!(!set.may_extend(b"abd"));
        let single = MaskSet::new(&["abcdef"]);
        assert!(!single.may_extend(b"abcdef"));
    }

    #[test]
    fn a_set_that_cannot_compile_masks_everything() {
        let set = Arc::new(MaskSet {
            forms: vec![b"x".to_vec()],
            starts: [true; 256],
            matcher: Matcher::Everything,
            max_len: 1,
        });
        assert_eq!(set.mask_str("anything"), MASK);
        let mut masker = set.stream();
        let mut out = Vec::new();
        masker.write(b"one", &mut out);
        masker.write(b"two", &mut out);
        masker.finish(&mut out);
        assert_eq!(out, MASK.as_bytes());
    }

    #[test]
    fn debug_does_not_print_forms() {
        let set = MaskSet::new(&["top-secret-value"]);
        let debug = format!("{set:?}");
        assert!(!debug.contains("top-secret"), "{debug}");
    }

    #[test]
    fn shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MaskSet>();
        let set = Arc::new(MaskSet::new(&["threaded-secret"]));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let set = Arc::clone(&set);
                std::thread::spawn(move || set.mask_str("a threaded-secret b"))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "a *** b");
        }
    }
}
