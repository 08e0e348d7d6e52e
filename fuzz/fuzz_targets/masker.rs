//! Fuzzes the streaming masker: arbitrary secrets, arbitrary text with those secrets
//! inserted, cut into arbitrary writes (with idle flushes between some). Nothing may
//! panic, no secret may come out, the held-back tail stays bounded, and the output must not
//! depend on how the text was cut.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wharf_secrets::mask::MaskSet;

/// Secrets, the text they hide in, and where it is cut into writes.
struct Case {
    secrets: Vec<Vec<u8>>,
    text: Vec<u8>,
    /// Lengths of successive writes, and whether to flush after each.
    writes: Vec<(usize, bool)>,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(case) = case(&mut Unstructured::new(data)) {
        check(&case);
    }
});

fn case(u: &mut Unstructured) -> Result<Case> {
    // Small alphabets make overlapping, nested and repeated secrets likely; the empty one
    // stands for any byte.
    let alphabet: &[u8] = match u.int_in_range(0..=2)? {
        0 => b"ab",
        1 => b"abc%\n\r\"/+=& ",
        _ => b"",
    };
    let byte = |u: &mut Unstructured| -> Result<u8> {
        if alphabet.is_empty() {
            u.arbitrary()
        } else {
            Ok(alphabet[u.choose_index(alphabet.len())?])
        }
    };
    let mut secrets = Vec::new();
    for _ in 0..u.int_in_range(1..=4)? {
        let len = u.int_in_range(1..=24)?;
        secrets.push((0..len).map(|_| byte(u)).collect::<Result<Vec<u8>>>()?);
    }
    let mut text = Vec::new();
    for _ in 0..u.int_in_range(0..=48)? {
        if u.ratio(1, 3)? {
            text.extend_from_slice(&secrets[u.choose_index(secrets.len())?]);
        } else {
            for _ in 0..u.int_in_range(0..=12)? {
                text.push(byte(u)?);
            }
        }
    }
    let mut writes = Vec::new();
    let mut left = text.len();
    while left > 0 {
        // Once the input runs out, the rest goes in one write.
        let len = u.int_in_range(1..=left).unwrap_or(left).max(1);
        writes.push((len, u.ratio(1, 4).unwrap_or(false)));
        left -= len;
    }
    Ok(Case { secrets, text, writes })
}

fn check(case: &Case) {
    let set = Arc::new(MaskSet::new(&case.secrets));
    let bound = set.max_form_len().saturating_sub(1);

    let mut whole = Vec::new();
    let mut masker = set.stream();
    masker.write(&case.text, &mut whole);
    assert!(masker.held_len() <= bound);
    masker.finish(&mut whole);

    let mut out = Vec::new();
    let mut masker = set.stream();
    let mut rest = case.text.as_slice();
    for &(len, flush) in &case.writes {
        let (chunk, tail) = rest.split_at(len);
        masker.write(chunk, &mut out);
        if flush {
            masker.flush(&mut out);
        }
        assert!(masker.held_len() <= bound);
        rest = tail;
    }
    masker.finish(&mut out);
    assert_eq!(masker.held_len(), 0);
    assert!(out == whole, "output depends on how the text was cut");

    if let (Ok(text), Ok(masked)) = (std::str::from_utf8(&case.text), std::str::from_utf8(&whole)) {
        assert_eq!(set.mask_str(text), masked);
    }
    // A secret can only reappear by spanning a `***`, so only secrets with a `*` may.
    for secret in case.secrets.iter().filter(|s| !s.contains(&b'*')) {
        assert!(
            !out.windows(secret.len()).any(|w| w == secret.as_slice()),
            "a secret came out"
        );
    }
}
