//! `wharf keys`: the project's release key.

use crate::helper::{Project, Run};

fn keys(p: &Project, args: &[&str]) -> Run {
    p.wharf_keyed(&[&["keys"], args].concat())
}

#[test]
fn a_release_key_is_made_once_shown_and_rotated() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: true\n");
    let none = keys(&p, &["show"]).expect(2);
    assert!(
        none.stderr().contains(
            "error: this project has no release key\n  hint: `wharf keys create` makes one"
        ),
        "{}",
        none.stderr()
    );
    let made = keys(&p, &["create", "--json"]).expect(0).json();
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64, "{made}");
    assert_eq!(made["algorithm"], "ecdsa-p256-sha256");
    let pem = made["public_pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    // A P-256 key, and its id is the one DSSE verifiers compute.
    let public = wharf_secrets::signing::PublicKey::from_pem(pem).unwrap();
    assert_eq!(public.id(), id);
    // Only once, unless rotated.
    let again = keys(&p, &["create"]).expect(2);
    assert!(
        again
            .stderr()
            .contains(&format!("this project has a release key already: {id}")),
        "{}",
        again.stderr()
    );
    assert!(again.stderr().contains("--rotate"), "{}", again.stderr());
    let rotated = keys(&p, &["create", "--rotate", "--json"]).expect(0).json();
    assert_ne!(rotated["id"], made["id"]);
    let all = keys(&p, &["show", "--json"]).expect(0).json();
    assert_eq!(all[0]["id"], rotated["id"]);
    assert!(all[0]["retired_at"].is_null());
    assert_eq!(all[1]["id"], made["id"]);
    assert!(all[1]["retired_at"].is_i64(), "{all}");
    assert_eq!(
        keys(&p, &["show", "--pem"]).expect(0).stdout(),
        rotated["public_pem"].as_str().unwrap()
    );
    let table = keys(&p, &["show"]).expect(0).stdout();
    assert!(
        table.contains(&format!("{id}  ecdsa-p256-sha256  retired")),
        "{table}"
    );
    // The private keys are nowhere in the clear: not in the project's state, not printed.
    for entry in walkdir::WalkDir::new(p.path().join(".wharf")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("PRIVATE KEY"), "{}", entry.path().display());
        }
    }
}
