//! Signatures and tokens: GitHub's documented vector, Gitea/Forgejo precedence, GitLab's
//! token and Standard Webhooks.

use wharf_forge::{ForgeKind, VerifyError, verify};

use crate::support::{headers, hmac_hex, standard_signature};

/// GitHub's documented test vector (docs.github.com, "Validating webhook deliveries").
const SECRET: &[u8] = b"It's a Secret to Everybody";
const BODY: &[u8] = b"Hello, World!";
const SIGNATURE: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
const NOW: i64 = 1_764_500_000;

fn github(pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
    verify(ForgeKind::Github, SECRET, &headers(pairs), body, NOW)
}

fn message(result: Result<(), VerifyError>) -> String {
    let e = result.expect_err("verification should fail");
    let text = e.to_string();
    // Whatever fails, the message carries neither the secret nor what was expected.
    assert!(!text.contains("Secret to Everybody"), "{text}");
    assert!(!text.contains(SIGNATURE), "{text}");
    text
}

#[test]
fn github_documented_vector_verifies() {
    assert_eq!(hmac_hex(SECRET, BODY), SIGNATURE);
    let sig = format!("sha256={SIGNATURE}");
    github(&[("X-Hub-Signature-256", &sig)], BODY).unwrap();
    // Header names arrive lower-cased from the server; hex digits may be either case.
    let upper = format!("sha256={}", SIGNATURE.to_ascii_uppercase());
    github(&[("x-hub-signature-256", &upper)], BODY).unwrap();
}

#[test]
fn github_refuses_a_flipped_body_byte() {
    let sig = format!("sha256={SIGNATURE}");
    let mut body = BODY.to_vec();
    body[0] ^= 0x01;
    assert_eq!(
        message(github(&[("X-Hub-Signature-256", &sig)], &body)),
        "X-Hub-Signature-256 does not match the body (is wharf's secret the one set on the GitHub webhook?)"
    );
    // And a signature one bit off, over the right body.
    let mut wrong = SIGNATURE.to_string();
    wrong.replace_range(63..64, "6");
    let sig = format!("sha256={wrong}");
    assert!(github(&[("X-Hub-Signature-256", &sig)], BODY).is_err());
}

#[test]
fn github_refuses_a_missing_header() {
    assert_eq!(
        message(github(&[], BODY)),
        "missing X-Hub-Signature-256 header (is the webhook's secret set on GitHub?)"
    );
}

#[test]
fn github_refuses_a_wrong_prefix() {
    for value in [
        format!("sha1={SIGNATURE}"),
        format!("sha512={SIGNATURE}"),
        SIGNATURE.to_string(),
        format!("SHA256={SIGNATURE}"),
        format!("sha256= {SIGNATURE}"),
        format!("sha256={}", &SIGNATURE[..63]),
    ] {
        assert_eq!(
            message(github(&[("X-Hub-Signature-256", &value)], BODY)),
            "malformed X-Hub-Signature-256 header: expected `sha256=` followed by 64 hex digits",
            "{value}"
        );
    }
}

#[test]
fn github_refuses_the_sha1_header_alone() {
    // The correct SHA-1 signature of the vector: still not accepted.
    let sha1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";
    assert_eq!(
        message(github(&[("X-Hub-Signature", sha1)], BODY)),
        "missing X-Hub-Signature-256 header: only the legacy SHA-1 X-Hub-Signature was sent, and wharf accepts only HMAC-SHA256"
    );
    // Beside a good SHA-256 one it is simply not looked at.
    let sig = format!("sha256={SIGNATURE}");
    github(
        &[("X-Hub-Signature", sha1), ("X-Hub-Signature-256", &sig)],
        BODY,
    )
    .unwrap();
}

#[test]
fn a_repeated_signature_header_is_refused() {
    let sig = format!("sha256={SIGNATURE}");
    assert_eq!(
        message(github(
            &[("X-Hub-Signature-256", &sig), ("X-Hub-Signature-256", &sig)],
            BODY
        )),
        "malformed X-Hub-Signature-256 header: sent more than once"
    );
}

#[test]
fn an_empty_secret_verifies_nothing() {
    // The HMAC of an empty key is easy to forge; it must not pass.
    let sig = format!("sha256={}", hmac_hex(b"", BODY));
    let e = verify(
        ForgeKind::Github,
        b"",
        &headers(&[("X-Hub-Signature-256", &sig)]),
        BODY,
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no webhook secret is configured for GitHub; wharf refuses deliveries it cannot verify (set the same secret on the webhook and in wharf)"
    );
    let e = verify(
        ForgeKind::Gitlab,
        b"",
        &headers(&[("X-Gitlab-Token", "")]),
        BODY,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, VerifyError::NoSecret { forge: "GitLab" }));
}

fn gitea(pairs: &[(&str, &str)]) -> Result<(), VerifyError> {
    verify(ForgeKind::Gitea, SECRET, &headers(pairs), BODY, NOW)
}

#[test]
fn gitea_takes_each_of_its_headers() {
    gitea(&[("X-Forgejo-Signature", SIGNATURE)]).unwrap();
    gitea(&[("X-Gitea-Signature", SIGNATURE)]).unwrap();
    gitea(&[("X-Hub-Signature-256", &format!("sha256={SIGNATURE}"))]).unwrap();
    assert_eq!(
        message(gitea(&[])),
        "missing X-Gitea-Signature header (is the webhook's secret set on Gitea/Forgejo?)"
    );
    // Gitea's headers are bare hex; the GitHub form in them is malformed.
    assert_eq!(
        message(gitea(&[(
            "X-Gitea-Signature",
            &format!("sha256={SIGNATURE}")
        )])),
        "malformed X-Gitea-Signature header: expected 64 hex digits"
    );
}

#[test]
fn a_good_gitea_signature_never_rescues_a_bad_forgejo_one() {
    let bad = hmac_hex(b"another secret", BODY);
    let hub = format!("sha256={SIGNATURE}");
    assert_eq!(
        message(gitea(&[
            ("X-Forgejo-Signature", &bad),
            ("X-Gitea-Signature", SIGNATURE),
            ("X-Hub-Signature-256", &hub),
        ])),
        "X-Forgejo-Signature does not match the body (is wharf's secret the one set on the Gitea/Forgejo webhook?)"
    );
    assert_eq!(
        message(gitea(&[
            ("X-Forgejo-Signature", "not hex"),
            ("X-Gitea-Signature", SIGNATURE),
        ])),
        "malformed X-Forgejo-Signature header: expected 64 hex digits"
    );
    // Nor a good GitHub-style one a bad Gitea one.
    assert_eq!(
        message(gitea(&[
            ("X-Gitea-Signature", &bad),
            ("X-Hub-Signature-256", &hub)
        ])),
        "X-Gitea-Signature does not match the body (is wharf's secret the one set on the Gitea/Forgejo webhook?)"
    );
    gitea(&[
        ("X-Forgejo-Signature", SIGNATURE),
        ("X-Gitea-Signature", &bad),
    ])
    .unwrap();
}

fn gitlab(secret: &[u8], pairs: &[(&str, &str)], now: i64) -> Result<(), VerifyError> {
    verify(ForgeKind::Gitlab, secret, &headers(pairs), BODY, now)
}

#[test]
fn gitlab_compares_the_token() {
    let secret = b"gl-token-5f8e";
    gitlab(secret, &[("X-Gitlab-Token", "gl-token-5f8e")], NOW).unwrap();
    for wrong in [
        "gl-token-5f8f",
        "gl-token-5f8",
        "gl-token-5f8e ",
        "GL-TOKEN-5F8E",
        "",
    ] {
        let e = gitlab(secret, &[("X-Gitlab-Token", wrong)], NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "X-Gitlab-Token does not match wharf's secret for GitLab (is it the webhook's secret token?)",
            "{wrong:?}"
        );
    }
    let e = gitlab(secret, &[], NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "missing X-Gitlab-Token header (is the webhook's secret set on GitLab?)"
    );
}

const ID: &str = "msg_2gT5x6ZkQ1Yc";

fn signed(key: &[u8], ts: i64) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", ID.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", standard_signature(key, ID, ts, BODY)),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn gitlab_standard_webhooks_signature_verifies() {
    // A plain secret is the key itself.
    let h = signed(b"plain-signing-secret", NOW);
    gitlab(b"plain-signing-secret", &pairs(&h), NOW).unwrap();
    // A `whsec_` secret is the base64 of the key.
    let key = [7u8; 32];
    let secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    );
    let h = signed(&key, NOW - 120);
    gitlab(secret.as_bytes(), &pairs(&h), NOW).unwrap();
    // Signed over the secret's text instead of the decoded key: refused.
    let h = signed(secret.as_bytes(), NOW);
    assert_eq!(
        gitlab(secret.as_bytes(), &pairs(&h), NOW)
            .unwrap_err()
            .to_string(),
        "webhook-signature does not match the body (is wharf's secret the one set on the GitLab webhook?)"
    );
}

#[test]
fn any_v1_signature_in_the_list_may_match() {
    let good = standard_signature(b"k", ID, NOW, BODY);
    let other = standard_signature(b"old key", ID, NOW, BODY);
    let list = format!("v1a,c29tZXRoaW5n {other} v2,AAAA {good}");
    let ts = NOW.to_string();
    gitlab(
        b"k",
        &[
            ("webhook-id", ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &list),
        ],
        NOW,
    )
    .unwrap();
    let e = gitlab(
        b"k",
        &[
            ("webhook-id", ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", "v1a,c29tZXRoaW5n v2,AAAA"),
        ],
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed webhook-signature header: no `v1,<base64>` signature in it"
    );
}

#[test]
fn gitlab_refuses_a_bad_standard_signature() {
    let mut h = signed(b"k", NOW);
    // The id is signed: another id, same signature, fails.
    h[0].1 = "msg_other".into();
    assert!(matches!(
        gitlab(b"k", &pairs(&h), NOW),
        Err(VerifyError::Mismatch {
            header: "webhook-signature",
            ..
        })
    ));
    // So is the timestamp.
    let mut h = signed(b"k", NOW);
    h[1].1 = (NOW + 1).to_string();
    assert!(gitlab(b"k", &pairs(&h), NOW).is_err());
}

#[test]
fn gitlab_refuses_a_stale_timestamp() {
    for ts in [NOW - 301, NOW + 301, 0] {
        let h = signed(b"k", ts);
        let e = gitlab(b"k", &pairs(&h), NOW).unwrap_err();
        assert_eq!(
            e,
            VerifyError::Stale {
                skew_secs: NOW.abs_diff(ts)
            }
        );
        assert!(
            e.to_string()
                .starts_with("webhook-timestamp is more than 5 minutes off"),
            "{e}"
        );
    }
    for ts in [NOW - 300, NOW + 300] {
        gitlab(b"k", &pairs(&signed(b"k", ts)), NOW).unwrap();
    }
    let mut h = signed(b"k", NOW);
    h[1].1 = "soon".into();
    assert_eq!(
        gitlab(b"k", &pairs(&h), NOW).unwrap_err().to_string(),
        "malformed webhook-timestamp header: not a whole number of seconds since 1970"
    );
}

#[test]
fn standard_webhooks_take_precedence_over_the_token() {
    // A right token does not rescue a wrong signature...
    let mut h = signed(b"other", NOW);
    h.push(("X-Gitlab-Token", "k".into()));
    assert!(gitlab(b"k", &pairs(&h), NOW).is_err());
    // ...and a right signature does not need the token.
    let mut h = signed(b"k", NOW);
    h.push(("X-Gitlab-Token", "whatever".into()));
    gitlab(b"k", &pairs(&h), NOW).unwrap();
}

#[test]
fn a_partial_set_of_standard_headers_is_refused() {
    let mut h = signed(b"k", NOW);
    h.remove(1);
    h.push(("X-Gitlab-Token", "k".into()));
    assert_eq!(
        gitlab(b"k", &pairs(&h), NOW).unwrap_err().to_string(),
        "missing webhook-timestamp header while webhook-id is present (GitLab signs with webhook-id, webhook-timestamp and webhook-signature together)"
    );
}

#[test]
fn a_whsec_secret_that_is_not_base64_is_named() {
    let h = signed(b"k", NOW);
    assert_eq!(
        gitlab(b"whsec_***", &pairs(&h), NOW).unwrap_err(),
        VerifyError::BadSigningKey
    );
}
