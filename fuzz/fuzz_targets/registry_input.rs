//! Image references (from pipelines and the command line) and `WWW-Authenticate`
//! challenges (from registries): never a panic, and a reference that parses prints back
//! to one that parses the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_oci::registry::{Reference, parse_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (reference, challenge) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(r) = Reference::parse(reference) {
        let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r);
    }
    for (k, _) in parse_challenge(challenge) {
        assert_eq!(k, k.to_ascii_lowercase());
    }
});
