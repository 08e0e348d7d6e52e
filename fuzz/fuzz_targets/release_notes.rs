//! Commit messages and changelogs come from outside: any bytes must classify, render and
//! insert without panicking, and inserting the same section twice must change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_release::{Commit, NotesOptions, classify, insert_section, render_notes};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first part is an existing changelog, the rest are commit messages.
    let mut parts = text.split('\u{0}');
    let changelog = parts.next().unwrap_or("");
    let commits: Vec<_> = parts
        .enumerate()
        .map(|(i, m)| classify(&Commit { sha: format!("{i:040x}"), message: m.to_string(), time: 0 }))
        .collect();
    let notes = render_notes(
        &commits,
        &NotesOptions { version: "1.2.3".into(), time: Some(1_700_000_000), link_base: Some("https://github.com/o/r/commit/".into()) },
    );
    assert!(notes.starts_with("## 1.2.3 (2023-11-14)\n"));
    if let Some(once) = insert_section(changelog, "1.2.3", &notes) {
        assert!(insert_section(&once, "1.2.3", &notes).is_none(), "a second insert must change nothing");
    }
});
