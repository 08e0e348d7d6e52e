//! A test forge made of real git: a bare repository served by `git daemon` on 127.0.0.1,
//! whose `post-receive` hook (`forge/post_receive.py`) sends the webhook deliveries GitHub,
//! GitLab or Gitea would send for each push, with that forge's headers and signature over
//! the exact bytes sent. Pull requests are opened by writing the forge's PR ref and sending
//! its PR delivery. Every delivery is logged with the answer it got, and can be sent again
//! the way the forge's "Redeliver" button does. `forge/README.md` says what is real and
//! what stands in.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{OWNER, REPO};
use crate::{KillOnDrop, free_port, require_program, wait_for_port};

const HOOK_SCRIPT: &str = include_str!("../../forge/post_receive.py");
const GITLAB_TEMPLATES: &str = include_str!("../../forge/gitlab_templates.json");
const GITEA_TEMPLATES: &str = include_str!("../../forge/gitea_templates.json");

/// Where `.ci/run` installs GitHub's published example payloads (`@octokit/webhooks-examples`).
pub const DEFAULT_WEBHOOK_EXAMPLES: &str =
    "/opt/wharf-ci/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json";

/// The environment variable that points the hook at another copy of the examples.
pub const WEBHOOK_EXAMPLES_ENV: &str = "WHARF_WEBHOOK_EXAMPLES";

/// The branch a new repository starts on (its `HEAD`, the payloads' default branch).
pub const DEFAULT_BRANCH: &str = "main";

/// The owner of the fork a `fork = true` pull request comes from (`contributor/app`).
pub const FORK_OWNER: &str = "contributor";

/// The git identity commits in [`Forge::work_dir`] are made with; the payloads name the
/// same user as the pusher and sender.
pub const USER_NAME: &str = "Wharf Tester";
/// The e-mail of [`USER_NAME`].
pub const USER_EMAIL: &str = "tester@example.invalid";
/// The forge login of [`USER_NAME`].
pub const USER_LOGIN: &str = "tester";

const CONFIG: &str = "wharf-forge.json";

/// Which forge the hook imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GitHub: `X-GitHub-Event` push/create/delete/pull_request, HMAC-SHA256 and SHA-1
    /// signatures, the delivery id kept on redelivery.
    Github,
    /// GitLab: `Push Hook`, `Tag Push Hook`, `Merge Request Hook`, the secret echoed in
    /// `X-Gitlab-Token`, `Idempotency-Key` kept on redelivery.
    Gitlab,
    /// Gitea: push/create/delete/pull_request with the Gitea, Gogs and GitHub header
    /// mirrors, bare-hex HMAC-SHA256; a redelivery is a new delivery with a new UUID.
    Gitea,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Github => "github",
            Kind::Gitlab => "gitlab",
            Kind::Gitea => "gitea",
        }
    }
}

/// One delivery the hook sent (or tried to send), as its log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its position in [`Forge::deliveries`].
    pub index: usize,
    /// The event header's value: `push`, `create`, `pull_request`, `Push Hook`,
    /// `Tag Push Hook`, `Merge Request Hook`, ...
    pub event: String,
    /// Gitea's `X-Gitea-Event-Type` (`pull_request_sync` for a synchronized PR); the
    /// event otherwise.
    pub event_type: String,
    /// The id a receiver deduplicates on: `X-GitHub-Delivery`, GitLab's `Idempotency-Key`,
    /// `X-Gitea-Delivery`.
    pub delivery_id: String,
    /// The URL it was sent to.
    pub url: String,
    /// The forge's headers, in the order sent (the transport's `Host` and
    /// `Content-Length` are not listed).
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// The HTTP status the receiver answered; `None` when nothing answered.
    pub status: Option<u16>,
    /// The response body.
    pub response: Vec<u8>,
    /// Why nothing answered (connection refused, timeout, a refused URL).
    pub error: Option<String>,
    /// For a redelivery, the index of the delivery it repeats.
    pub redelivery_of: Option<usize>,
}

impl Sent {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "delivery {} is not JSON ({e}): {}",
                self.index,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The response body as text (lossy).
    pub fn response_text(&self) -> String {
        String::from_utf8_lossy(&self.response).into_owned()
    }

    fn from_log(line: &str) -> Sent {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad line in the forge's delivery log ({e}): {line}"));
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        let bytes = |key: &str| {
            STANDARD
                .decode(v[key].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("bad base64 in the delivery log ({e}): {line}"))
        };
        let ids = &v["ids"];
        let delivery_id = ids["delivery"]
            .as_str()
            .or_else(|| ids["idempotency"].as_str())
            .unwrap_or_default()
            .to_owned();
        let headers = v["headers"]
            .as_array()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap_or_default().to_owned(),
                            h[1].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Sent {
            index: v["index"].as_u64().unwrap_or_default() as usize,
            event: text("event"),
            event_type: text("event_type"),
            delivery_id,
            url: text("url"),
            headers,
            body: bytes("body"),
            status: v["status"].as_u64().map(|s| s as u16),
            response: bytes("response"),
            error: v["error"].as_str().map(str::to_owned),
            redelivery_of: v["redelivery_of"].as_u64().map(|i| i as usize),
        }
    }
}

/// The running test forge: one repository, [`OWNER`]/[`REPO`], served over `git://` on
/// 127.0.0.1. The daemon is killed and the files removed when it is dropped.
#[derive(Debug)]
pub struct Forge {
    kind: Kind,
    port: u16,
    bare: PathBuf,
    work: PathBuf,
    hook_dir: PathBuf,
    log: PathBuf,
    examples: String,
    _daemon: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Forge {
    /// Creates the bare repository `acme/app.git`, installs the hook, serves it with
    /// `git daemon --reuseaddr --listen=127.0.0.1 --port=FREE --base-path=DIR
    /// --export-all --enable=receive-pack`, and clones it into [`Forge::work_dir`].
    /// Each push then sends `kind`'s deliveries to `hook_url` (`http://127.0.0.1:…`),
    /// signed with `secret` (GitLab: sent as the token; empty: unsigned).
    ///
    /// Panics when git, git-daemon or python3 are missing, when the URL is not on
    /// 127.0.0.1, or (GitHub) when the example payloads are not installed.
    pub fn start(kind: Kind, hook_url: &str, secret: &str) -> Forge {
        require_program("git", "git");
        require_program("python3", "python3");
        check_hook_url(hook_url);
        let exec_path = crate::run_ok("git", &["--exec-path"]);
        let daemon_program = Path::new(exec_path.trim()).join("git-daemon");
        assert!(
            daemon_program.is_file(),
            "{} is missing: the test forge needs `git daemon` (Debian's git package ships it)",
            daemon_program.display()
        );
        let examples =
            std::env::var(WEBHOOK_EXAMPLES_ENV).unwrap_or_else(|_| DEFAULT_WEBHOOK_EXAMPLES.into());
        if kind == Kind::Github {
            assert!(
                Path::new(&examples).is_file(),
                "GitHub's example payloads are not at {examples}: install \
                 @octokit/webhooks-examples@7.6.1 into /opt/wharf-ci/npm (.ci/run does), or \
                 set {WEBHOOK_EXAMPLES_ENV}"
            );
        }

        let dir = tempfile::tempdir().expect("a temporary directory");
        let base = dir.path().join("repos");
        let bare = base.join(OWNER).join(format!("{REPO}.git"));
        std::fs::create_dir_all(&bare).expect("the repository directory");
        git_ok(
            &bare,
            &[
                "init",
                "-q",
                "--bare",
                &format!("--initial-branch={DEFAULT_BRANCH}"),
            ],
        );

        let hook_dir = dir.path().join("hook");
        std::fs::create_dir(&hook_dir).expect("the hook directory");
        let script = hook_dir.join("post_receive.py");
        std::fs::write(&script, HOOK_SCRIPT).expect("writing the hook script");
        std::fs::write(hook_dir.join("gitlab_templates.json"), GITLAB_TEMPLATES)
            .expect("writing the GitLab templates");
        std::fs::write(hook_dir.join("gitea_templates.json"), GITEA_TEMPLATES)
            .expect("writing the Gitea templates");
        let hook = bare.join("hooks").join("post-receive");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\nexec python3 '{}' \"$@\"\n", script.display()),
        )
        .expect("writing hooks/post-receive");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .expect("chmod hooks/post-receive");

        let port = free_port();
        let clone_url = format!("git://127.0.0.1:{port}/{OWNER}/{REPO}.git");
        let log = dir.path().join("deliveries.jsonl");
        let config = json!({
            "kind": kind.name(),
            "url": hook_url,
            "secret": secret,
            "owner": OWNER,
            "name": REPO,
            "default_branch": DEFAULT_BRANCH,
            "clone_url": clone_url,
            "web_url": format!("http://127.0.0.1:{port}"),
            "base_path": base,
            "log": log,
            "user": {"login": USER_LOGIN, "name": USER_NAME, "email": USER_EMAIL},
            "hookshot": "0b5d7c1",
            "gitlab_version": "17.11.1",
        });
        write_config(&bare, &config);

        let daemon_log =
            std::fs::File::create(dir.path().join("daemon.log")).expect("the daemon's log file");
        // git-daemon itself, not `git daemon`: git would run it as a child of its own,
        // which killing `git` would leave behind.
        let mut daemon = Command::new(&daemon_program);
        for (key, value) in GIT_ENV {
            daemon.env(key, value);
        }
        let mut daemon = daemon
            .args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
            ])
            .env(WEBHOOK_EXAMPLES_ENV, &examples)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(daemon_log)
            .spawn()
            .expect("cannot start git daemon");
        wait_for_port(port, Duration::from_secs(15), "git daemon", &mut daemon);
        let daemon = KillOnDrop(daemon);

        let work = dir.path().join("work");
        git_ok(
            dir.path(),
            &[
                "clone",
                "-q",
                &clone_url,
                work.to_str().expect("a UTF-8 path"),
            ],
        );
        for (key, value) in [
            ("user.name", USER_NAME),
            ("user.email", USER_EMAIL),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
        ] {
            git_ok(&work, &["config", key, value]);
        }
        git_ok(
            &work,
            &[
                "symbolic-ref",
                "HEAD",
                &format!("refs/heads/{DEFAULT_BRANCH}"),
            ],
        );

        Forge {
            kind,
            port,
            bare,
            work,
            hook_dir,
            log,
            examples,
            _daemon: daemon,
            _dir: dir,
        }
    }

    /// Which forge this one imitates.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The `git://127.0.0.1:PORT/acme/app.git` URL the payloads carry as the clone URL.
    pub fn clone_url(&self) -> String {
        format!("git://127.0.0.1:{}/{OWNER}/{REPO}.git", self.port)
    }

    /// The clone URL of the fork `fork = true` pull requests come from
    /// (`git://127.0.0.1:PORT/contributor/app.git`; it exists once such a PR is opened).
    pub fn fork_clone_url(&self) -> String {
        format!("git://127.0.0.1:{}/{FORK_OWNER}/{REPO}.git", self.port)
    }

    /// `acme/app`.
    pub fn full_name(&self) -> String {
        format!("{OWNER}/{REPO}")
    }

    /// The daemon's port on 127.0.0.1 (also the port of the payloads' web URLs, which
    /// nothing serves over HTTP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bare repository the daemon serves.
    pub fn git_dir(&self) -> &Path {
        &self.bare
    }

    /// The directory the hook script and its templates were written to.
    pub fn hook_dir(&self) -> &Path {
        &self.hook_dir
    }

    /// Points later deliveries, and redeliveries, at `url` (a server restarted on
    /// another port). Panics unless it is on 127.0.0.1.
    pub fn set_hook_url(&self, url: &str) {
        check_hook_url(url);
        let path = self.bare.join(CONFIG);
        let text = std::fs::read_to_string(&path).expect("reading the forge configuration");
        let mut config: Value = serde_json::from_str(&text).expect("the forge configuration");
        config["url"] = Value::String(url.to_owned());
        write_config(&self.bare, &config);
    }

    /// A non-bare clone of the repository (`origin` is [`Forge::clone_url`]), with
    /// `user.name`/`user.email` set, for tests to commit in. It starts on `main`.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Writes `text` to `path` (relative to [`Forge::work_dir`]), adds and commits it
    /// with `message` (even when nothing changed); returns the commit's sha.
    pub fn commit(&self, path: &str, text: &str, message: &str) -> String {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("the file's directory");
        }
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        git_ok(&self.work, &["add", "--", path]);
        git_ok(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.rev_parse("HEAD")
    }

    /// `git push origin <refspec>` from [`Forge::work_dir`], e.g. `main`, `+main`
    /// (forced), `v1.0.0`, `:refs/tags/v1.0.0`. The hook has sent every delivery by the
    /// time this returns; a failed delivery does not fail the push.
    pub fn push(&self, refspec: &str) -> Output {
        git_command(Some(&self.work))
            .args(["push", "origin", refspec])
            .output()
            .expect("cannot run git push")
    }

    /// Creates tag `name` on `HEAD` of [`Forge::work_dir`]: annotated (message `name`)
    /// or lightweight. Push it with [`Forge::push`].
    pub fn tag(&self, name: &str, annotated: bool) {
        if annotated {
            git_ok(&self.work, &["tag", "-a", "-m", name, name]);
        } else {
            git_ok(&self.work, &["tag", name]);
        }
    }

    /// The object name `rev` resolves to in [`Forge::work_dir`].
    pub fn rev_parse(&self, rev: &str) -> String {
        git_ok(&self.work, &["rev-parse", rev]).trim().to_owned()
    }

    /// Opens (or updates) pull request `number` from `head_branch` into `base_branch`,
    /// both already pushed: writes the forge's PR ref in the bare repository
    /// (`refs/pull/N/head`; GitLab `refs/merge-requests/N/head`) and sends its delivery
    /// (GitHub `pull_request`, GitLab `Merge Request Hook`, Gitea `pull_request`) with
    /// `action` in the forge's own words: GitHub `opened`/`synchronize`/`reopened`/
    /// `closed`, GitLab `open`/`update`/`reopen`/`close`/`merge`, Gitea `opened`/
    /// `synchronized`/`reopened`/`closed`. With `fork`, the head branch is pushed to a
    /// real fork, `contributor/app` (another repository id and clone URL), and the PR
    /// comes from it. Returns the script's output; it fails only when a branch is missing.
    pub fn open_pull_request(
        &self,
        number: u64,
        head_branch: &str,
        base_branch: &str,
        action: &str,
        fork: bool,
    ) -> Output {
        let number = number.to_string();
        self.hook_command()
            .args([
                "--pull-request",
                &number,
                head_branch,
                base_branch,
                action,
                if fork { "1" } else { "0" },
            ])
            .output()
            .expect("cannot run the forge's hook script")
    }

    /// Every delivery sent so far, oldest first.
    pub fn deliveries(&self) -> Vec<Sent> {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(Sent::from_log)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the forge's delivery log: {e}"),
        }
    }

    /// Sends delivery `i` again, the same body to the current hook URL, as the forge's
    /// "Redeliver" does: GitHub keeps `X-GitHub-Delivery`; GitLab keeps
    /// `Idempotency-Key` with new `X-Gitlab-Webhook-UUID`/`X-Gitlab-Event-UUID`; Gitea
    /// replays it as a new task with a new `X-Gitea-Delivery`. Returns the new delivery.
    pub fn redeliver(&self, i: usize) -> Sent {
        let out = self
            .hook_command()
            .args(["--redeliver", &i.to_string()])
            .output()
            .expect("cannot run the forge's hook script");
        assert!(
            out.status.success(),
            "redelivering {i} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        self.deliveries()
            .pop()
            .expect("the redelivery is in the log")
    }

    fn hook_command(&self) -> Command {
        let mut python = Command::new("python3");
        python
            .arg(self.hook_dir.join("post_receive.py"))
            .env("GIT_DIR", &self.bare)
            .env(WEBHOOK_EXAMPLES_ENV, &self.examples)
            .stdin(Stdio::null());
        for (key, value) in GIT_ENV {
            python.env(key, value);
        }
        python
    }
}

/// GitHub's `X-Hub-Signature-256` of `body` as the hook's own signing function computes
/// it (`post_receive.py --sign`), to check it against published vectors.
pub fn hook_signature(secret: &str, body: &[u8]) -> String {
    require_program("python3", "python3");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = dir.path().join("post_receive.py");
    std::fs::write(&script, HOOK_SCRIPT).expect("writing the hook script");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--sign", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("writing the body");
    let out = child.wait_with_output().expect("waiting for python3");
    assert!(
        out.status.success(),
        "post_receive.py --sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Environment for every git the forge runs: no system or user configuration, no prompts.
const GIT_ENV: [(&str, &str); 3] = [
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

fn git_command(dir: Option<&Path>) -> Command {
    let mut command = Command::new("git");
    for (key, value) in GIT_ENV {
        command.env(key, value);
    }
    for key in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"] {
        command.env_remove(key);
    }
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
}

/// Runs git in `dir`, panicking with its stderr when it fails; returns stdout.
fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git_command(Some(dir))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {} failed ({}): {}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_hook_url(url: &str) {
    let rest = url.strip_prefix("http://127.0.0.1");
    assert!(
        matches!(rest, Some(r) if r.is_empty() || r.starts_with(':') || r.starts_with('/')),
        "the test forge only delivers to http://127.0.0.1[:port]/..., not {url:?}"
    );
}

/// Writes the hook's configuration atomically (a hook may be reading it).
fn write_config(bare: &Path, config: &Value) {
    let tmp = bare.join(format!("{CONFIG}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).expect("JSON"))
        .expect("writing the forge configuration");
    std::fs::rename(&tmp, bare.join(CONFIG)).expect("replacing the forge configuration");
}
