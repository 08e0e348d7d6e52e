//! Publishing releases to GitHub and Gitea/Forgejo, against the local fake forge of
//! wharf-test-support (no real forge is reachable from tests). The fake enforces the
//! documented REST contract, so a client that strays from it fails here; its request log
//! shows what was sent, not only what came back.

use std::path::Path;

use wharf_release::{
    AssetOutcome, ForgeError, ForgeKind, ForgeRelease, ForgeToken, Progress, Published,
    parse_remote, publish,
};
use wharf_test_support::faultproxy::{Fault, FaultProxy};
use wharf_test_support::forge::{FakeForge, FakeKind, LoggedRequest, OWNER, REPO, TOKEN};

fn release(forge: &FakeForge, dir: &Path, assets: &[&str]) -> ForgeRelease {
    ForgeRelease {
        forge: match forge.kind() {
            FakeKind::GitHub => ForgeKind::GitHub,
            FakeKind::Gitea => ForgeKind::Gitea,
        },
        api_url: forge.api_url(),
        owner: OWNER.into(),
        repo: REPO.into(),
        tag: "v1.0.0".into(),
        name: "1.0.0".into(),
        body: "## Features\n\n- first\n".into(),
        prerelease: false,
        draft: false,
        assets: assets.iter().map(|a| dir.join(a)).collect(),
        token: ForgeToken::new(TOKEN),
        limits: None,
    }
}

async fn run(release: &ForgeRelease) -> Result<Published, ForgeError> {
    publish(release, |_| {}).await
}

fn count(requests: &[LoggedRequest], method: &str, needle: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.contains(needle))
        .count()
}

async fn lifecycle(kind: FakeKind) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app-1.0.0.tar.gz"), b"tarball bytes").unwrap();
    std::fs::write(dir.path().join("SHA256SUMS.txt"), b"abc  app\n").unwrap();
    let mut r = release(&forge, dir.path(), &["app-1.0.0.tar.gz", "SHA256SUMS.txt"]);

    let first = run(&r).await.unwrap();
    assert!(first.created);
    assert!(
        first.url.ends_with("/acme/app/releases/tag/v1.0.0"),
        "{}",
        first.url
    );
    assert_eq!(
        first.assets,
        vec![
            ("app-1.0.0.tar.gz".to_owned(), AssetOutcome::Uploaded),
            ("SHA256SUMS.txt".to_owned(), AssetOutcome::Uploaded),
        ]
    );
    let releases = forge.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].tag_name, "v1.0.0");
    assert_eq!(releases[0].body, r.body);
    assert_eq!(releases[0].assets[0].content, b"tarball bytes");
    assert_eq!(releases[0].assets[0].content_type, "application/gzip");
    let tarball_id = releases[0].assets[0].id;

    // Re-run with new notes and a changed checksum file: the release is updated in place,
    // the unchanged tarball is not sent again, the checksum file is replaced.
    forge.clear_requests();
    r.body = "## Features\n\n- first\n- second\n".into();
    std::fs::write(dir.path().join("SHA256SUMS.txt"), b"abcdef  app\n").unwrap();
    let second = run(&r).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.id, first.id);
    assert_eq!(second.url, first.url);
    assert_eq!(
        second.assets,
        vec![
            ("app-1.0.0.tar.gz".to_owned(), AssetOutcome::Unchanged),
            ("SHA256SUMS.txt".to_owned(), AssetOutcome::Replaced),
        ]
    );
    let releases = forge.releases();
    assert_eq!(releases.len(), 1, "no duplicate release");
    assert_eq!(releases[0].body, r.body);
    assert_eq!(releases[0].assets.len(), 2);
    assert_eq!(releases[0].assets[0].id, tarball_id);
    assert_eq!(releases[0].assets[1].content, b"abcdef  app\n");
    let log = forge.requests();
    assert_eq!(count(&log, "POST", "name=app-1.0.0.tar.gz"), 0, "{log:#?}");
    assert_eq!(count(&log, "POST", "name=SHA256SUMS.txt"), 1, "{log:#?}");
    assert_eq!(count(&log, "DELETE", "/assets/"), 1, "{log:#?}");
    assert_eq!(count(&log, "PATCH", "/releases/"), 1, "{log:#?}");
    assert!(
        !log.iter()
            .any(|l| l.method == "POST" && l.path.ends_with("/releases")),
        "no second create: {log:#?}"
    );

    // Same size, other bytes: only GitHub reports a digest that tells them apart.
    forge.clear_requests();
    std::fs::write(dir.path().join("app-1.0.0.tar.gz"), b"TARBALL BYTES").unwrap();
    let third = run(&r).await.unwrap();
    let expected = match kind {
        FakeKind::GitHub => AssetOutcome::Replaced,
        FakeKind::Gitea => AssetOutcome::Unchanged,
    };
    assert_eq!(third.assets[0].1, expected);
    assert_eq!(third.assets[1].1, AssetOutcome::Unchanged);
    let uploads = count(&forge.requests(), "POST", "/assets");
    assert_eq!(uploads, usize::from(expected == AssetOutcome::Replaced));
}

#[tokio::test]
async fn github_creates_then_updates_and_replaces_only_changed_assets() {
    lifecycle(FakeKind::GitHub).await;
}

#[tokio::test]
async fn gitea_creates_then_updates_and_replaces_only_changed_assets() {
    lifecycle(FakeKind::Gitea).await;
}

async fn wrong_token(kind: FakeKind) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut r = release(&forge, dir.path(), &[]);
    r.token = ForgeToken::new("wrong-token-8d1e77");
    let err = run(&r).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Auth { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("refused the token for acme/app"), "{text}");
    assert!(
        text.contains("hint: check the release token secret"),
        "{text}"
    );
    for shown in [text, format!("{err:?}"), format!("{r:?}")] {
        assert!(!shown.contains("wrong-token-8d1e77"), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    assert!(forge.releases().is_empty());
}

#[tokio::test]
async fn github_wrong_token_is_a_clear_error_without_the_token() {
    wrong_token(FakeKind::GitHub).await;
}

#[tokio::test]
async fn gitea_wrong_token_is_a_clear_error_without_the_token() {
    wrong_token(FakeKind::Gitea).await;
}

async fn unknown_repo(kind: FakeKind) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut r = release(&forge, dir.path(), &[]);
    r.repo = "nope".into();
    let err = run(&r).await.unwrap_err();
    assert!(matches!(err, ForgeError::RepoNotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("repository acme/nope not found"), "{text}");
    assert!(text.contains(&forge.api_url()), "{text}");
    // Found out before trying to create anything.
    assert_eq!(count(&forge.requests(), "POST", ""), 0);
}

#[tokio::test]
async fn github_unknown_repository_names_it_and_the_api() {
    unknown_repo(FakeKind::GitHub).await;
}

#[tokio::test]
async fn gitea_unknown_repository_names_it_and_the_api() {
    unknown_repo(FakeKind::Gitea).await;
}

async fn large_asset(kind: FakeKind) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    // Several stream chunks, not a multiple of the chunk size.
    let content: Vec<u8> = (0..3_000_017u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &content).unwrap();
    let r = release(&forge, dir.path(), &["big.bin"]);
    let future = publish(&r, |_| {});
    assert_send(&future);
    future.await.unwrap();
    let asset = &forge.releases()[0].assets[0];
    assert_eq!(asset.name, "big.bin");
    assert_eq!(asset.content_type, "application/octet-stream");
    assert!(asset.content == content, "the uploaded bytes differ");
    forge.clear_requests();
    assert_eq!(run(&r).await.unwrap().assets[0].1, AssetOutcome::Unchanged);
    assert_eq!(count(&forge.requests(), "POST", "/assets"), 0);
}

/// `publish`'s future can be spawned on a multi-threaded runtime.
fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn github_large_assets_are_streamed_intact() {
    large_asset(FakeKind::GitHub).await;
}

#[tokio::test]
async fn gitea_large_assets_are_streamed_intact() {
    large_asset(FakeKind::Gitea).await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_reported() {
    let forge = FakeForge::start(FakeKind::GitHub);
    let dir = tempfile::tempdir().unwrap();
    let r = release(&forge, dir.path(), &[]);
    forge.fail_next(502, 1);
    forge.fail_next(429, 1);
    let mut retries = Vec::new();
    let mut lines = Vec::new();
    let published = publish(&r, |p| {
        if let Progress::Retrying { attempt, .. } = p {
            retries.push(*attempt);
            lines.push(p.to_string());
        }
    })
    .await
    .unwrap();
    assert!(published.created);
    assert_eq!(retries, vec![1, 2]);
    let get = format!(
        "GET {}/repos/acme/app/releases/tags/v1.0.0",
        forge.api_url()
    );
    assert_eq!(
        lines,
        [
            format!("retrying {get} (2/5) after 502"),
            format!("retrying {get} (3/5) after 429"),
        ]
    );
    let statuses: Vec<u16> = forge.requests().iter().map(|l| l.status).collect();
    assert_eq!(&statuses[..3], &[502, 429, 404]);
    assert_eq!(forge.releases().len(), 1);
}

async fn lost_answers(kind: FakeKind) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.zip"), b"zip bytes").unwrap();
    let mut r = release(&forge, dir.path(), &[]);

    // The create is done but answered 502: the retry must not make a second release.
    forge.lose_answer("POST", 502);
    let first = run(&r).await.unwrap();
    assert!(first.created);
    assert_eq!(forge.releases().len(), 1);

    // The same for an upload.
    r.assets = vec![dir.path().join("app.zip")];
    forge.lose_answer("POST", 502);
    let second = run(&r).await.unwrap();
    assert_eq!(second.assets[0].1, AssetOutcome::Uploaded);
    let names: Vec<String> = forge.releases()[0]
        .assets
        .iter()
        .map(|a| a.name.clone())
        .collect();
    match kind {
        // GitHub refuses the second copy (422) and the first is kept.
        FakeKind::GitHub => assert_eq!(names, ["app.zip"]),
        // Gitea takes a second attachment of the same name; the next run cleans up.
        FakeKind::Gitea => {
            assert_eq!(names, ["app.zip", "app.zip"]);
            let third = run(&r).await.unwrap();
            assert_eq!(third.assets[0].1, AssetOutcome::Replaced);
            assert_eq!(forge.releases()[0].assets.len(), 1);
        }
    }
    assert_eq!(forge.releases().len(), 1);
}

#[tokio::test]
async fn github_a_lost_answer_does_not_duplicate() {
    lost_answers(FakeKind::GitHub).await;
}

#[tokio::test]
async fn gitea_a_lost_answer_does_not_duplicate_the_release() {
    lost_answers(FakeKind::Gitea).await;
}

#[tokio::test]
async fn persistent_server_errors_fail_after_the_retries() {
    let forge = FakeForge::start(FakeKind::Gitea);
    let dir = tempfile::tempdir().unwrap();
    forge.fail_next(503, 10);
    let err = run(&release(&forge, dir.path(), &[])).await.unwrap_err();
    assert!(
        matches!(
            err,
            ForgeError::Server {
                status: 503,
                attempts: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(forge.requests().len(), 5);
}

#[tokio::test]
async fn a_validation_error_shows_the_api_message_and_is_not_retried() {
    let forge = FakeForge::start(FakeKind::GitHub);
    let dir = tempfile::tempdir().unwrap();
    forge.fail_next(422, 1);
    let err = run(&release(&forge, dir.path(), &[])).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(forge.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_forge_names_the_url() {
    let port = wharf_test_support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let forge = FakeForge::start(FakeKind::GitHub);
    let mut r = release(&forge, dir.path(), &[]);
    r.api_url = format!("http://127.0.0.1:{port}");
    let err = run(&r).await.unwrap_err();
    assert!(matches!(err, ForgeError::Network { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!(
            "GET http://127.0.0.1:{port}/repos/acme/app/releases/tags/v1.0.0"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_draft_is_found_again_and_published_later() {
    let forge = FakeForge::start(FakeKind::GitHub);
    let dir = tempfile::tempdir().unwrap();
    let mut r = release(&forge, dir.path(), &[]);
    r.draft = true;
    let first = run(&r).await.unwrap();
    let again = run(&r).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(forge.releases().len(), 1);
    assert!(forge.releases()[0].draft);
    r.draft = false;
    let published = run(&r).await.unwrap();
    assert_eq!(published.id, first.id);
    assert!(!forge.releases()[0].draft);
}

/// A draft has no tag to look it up by: the release list is paged through, as each forge
/// documents its pagination (the fake answers pages of 100 on GitHub, 50 on Gitea).
async fn a_draft_behind_many_newer_releases_is_found(kind: FakeKind, newer: usize) {
    let forge = FakeForge::start(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut draft = release(&forge, dir.path(), &[]);
    draft.draft = true;
    let first = run(&draft).await.unwrap();
    for n in 0..newer {
        let mut other = release(&forge, dir.path(), &[]);
        other.tag = format!("v0.0.{n}");
        run(&other).await.unwrap();
    }
    forge.clear_requests();
    let again = run(&draft).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.id, first.id);
    assert_eq!(forge.releases().len(), newer + 1);
    let pages = count(&forge.requests(), "GET", "/releases?");
    assert_eq!(pages, 2, "{:?}", forge.requests());
}

#[tokio::test]
async fn a_draft_behind_a_full_page_is_found_on_github() {
    a_draft_behind_many_newer_releases_is_found(FakeKind::GitHub, 120).await;
}

#[tokio::test]
async fn a_draft_behind_a_full_page_is_found_on_gitea() {
    a_draft_behind_many_newer_releases_is_found(FakeKind::Gitea, 60).await;
}

#[tokio::test]
async fn a_missing_asset_fails_before_any_request() {
    let forge = FakeForge::start(FakeKind::Gitea);
    let dir = tempfile::tempdir().unwrap();
    let err = run(&release(&forge, dir.path(), &["missing.zip"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Asset { .. }), "{err:?}");
    assert!(forge.requests().is_empty());
}

#[tokio::test]
async fn the_fake_forge_refuses_requests_off_the_documented_contract() {
    let github = FakeForge::start(FakeKind::GitHub);
    let gitea = FakeForge::start(FakeKind::Gitea);
    let client = reqwest::Client::builder()
        .user_agent("test")
        .build()
        .unwrap();
    let tag = "/repos/acme/app/releases/tags/v1";
    let gh = |path: &str| client.get(format!("{}{path}", github.api_url()));
    let cases = [
        // Token scheme of the other forge.
        (
            gh(tag)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header("Authorization", format!("token {TOKEN}")),
            401,
        ),
        // No API version header.
        (
            gh(tag)
                .header("Accept", "application/vnd.github+json")
                .header("Authorization", format!("Bearer {TOKEN}")),
            400,
        ),
        // Gitea's API lives under /api/v1 only.
        (
            client
                .get(format!("{}{tag}", gitea.api_url()))
                .header("Authorization", format!("token {TOKEN}")),
            404,
        ),
        // A release without tag_name.
        (
            client
                .post(format!(
                    "{}/api/v1/repos/acme/app/releases",
                    gitea.api_url()
                ))
                .header("Authorization", format!("token {TOKEN}"))
                .json(&serde_json::json!({"name": "x"})),
            422,
        ),
        // Bearer is GitHub's; this fake Gitea insists on the documented `token` scheme.
        (
            client
                .get(format!("{}/api/v1{tag}", gitea.api_url()))
                .header("Authorization", format!("Bearer {TOKEN}")),
            401,
        ),
    ];
    for (i, (request, status)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "case {i}");
    }
}

#[test]
fn remotes_of_github_and_gitea_style_urls() {
    let t = |h: &str, o: &str, r: &str| Some((h.to_owned(), o.to_owned(), r.to_owned()));
    for (url, want) in [
        (
            "git@github.com:acme/app.git",
            t("github.com", "acme", "app"),
        ),
        (
            "https://github.com/acme/app",
            t("github.com", "acme", "app"),
        ),
        (
            "https://x-access-token@github.com/acme/app.git/",
            t("github.com", "acme", "app"),
        ),
        (
            "ssh://git@codeberg.org/acme/app.git",
            t("codeberg.org", "acme", "app"),
        ),
        (
            "ssh://git@gitea.example.com:2222/acme/app.git",
            t("gitea.example.com", "acme", "app"),
        ),
        (
            "https://gitea.example.com:3000/acme/app.git",
            t("gitea.example.com:3000", "acme", "app"),
        ),
        (
            "http://127.0.0.1:3000/acme/app",
            t("127.0.0.1:3000", "acme", "app"),
        ),
        (
            "gitea@forge.internal:team/tool",
            t("forge.internal", "team", "tool"),
        ),
        ("https://github.com/acme", None),
        ("/srv/git/app.git", None),
        ("file:///srv/git/acme/app.git", None),
    ] {
        assert_eq!(parse_remote(url), want, "{url}");
    }
}

/// The idle limit of the stall tests.
const IDLE: std::time::Duration = std::time::Duration::from_secs(2);

fn limits() -> Option<wharf_net::Limits> {
    Some(wharf_net::Limits {
        connect: std::time::Duration::from_secs(2),
        idle: IDLE,
        total: std::time::Duration::from_secs(60),
    })
}

#[tokio::test]
async fn a_forge_that_never_answers_fails_within_the_idle_limit() {
    let forge = FakeForge::start(FakeKind::GitHub);
    let proxy = FaultProxy::start(forge.port(), Fault::NeverAnswer);
    let dir = tempfile::tempdir().unwrap();
    let mut r = release(&forge, dir.path(), &[]);
    r.api_url = format!("http://{}", proxy.host());
    r.limits = limits();
    let started = std::time::Instant::now();
    let mut lines = Vec::new();
    let err = publish(&r, |p| lines.push(p.to_string()))
        .await
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("forge never answered, failed after {took:?}: {err}");
    assert!(took < IDLE + std::time::Duration::from_secs(5), "{took:?}");
    assert!(matches!(err, ForgeError::Network(_)), "{err:?}");
    assert_eq!(
        err.to_string().lines().next().unwrap(),
        format!(
            "GitHub API {0} did not answer the request GET http://{0}/repos/acme/app/releases/tags/v1.0.0 for 2s (idle limit WHARF_NET_IDLE_TIMEOUT)",
            proxy.host()
        )
    );
    assert!(lines.is_empty(), "a stall is not retried: {lines:?}");
}

#[tokio::test]
async fn a_forge_that_stops_reading_an_asset_fails_within_the_idle_limit() {
    let forge = FakeForge::start(FakeKind::Gitea);
    let proxy = FaultProxy::start(forge.port(), Fault::StallUpload { after: 64 << 10 });
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("big.bin"), big).unwrap();
    let mut r = release(&forge, dir.path(), &["big.bin"]);
    r.api_url = format!("http://{}", proxy.host());
    r.limits = limits();
    let started = std::time::Instant::now();
    let err = publish(&r, |_| {}).await.unwrap_err().to_string();
    let took = started.elapsed();
    eprintln!("forge stalled on an asset, failed after {took:?}: {err}");
    assert!(took < IDLE + std::time::Duration::from_secs(5), "{took:?}");
    assert!(
        err.starts_with(&format!(
            "Gitea/Forgejo API {} stopped reading the upload of asset big.bin (48.0 MiB) for 2s (",
            proxy.host()
        )),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}
