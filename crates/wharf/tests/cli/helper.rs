//! A temp project and a fluent way to run wharf in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Project {
    pub dir: tempfile::TempDir,
    /// `XDG_CONFIG_HOME` of every wharf the test runs: the key file a first release or
    /// secret makes goes there, never into the user's own configuration.
    pub config: tempfile::TempDir,
}

pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Asserts the exit code, printing both streams when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// `--json` event lines of stdout.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).expect("stdout is JSON")
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wharf"))
}

impl Project {
    pub fn new(pipeline: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wharf.yml"), pipeline).unwrap();
        Project {
            dir,
            config: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> &Project {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// Adds to `wharf.policy.toml` a valid `setting` exception (from yesterday, for 30
    /// days) for each of wharf's insecure settings named: what a real project needs before
    /// its pipeline may use `workspace: shared`, an unapproved `production`…
    pub fn allow_settings(&self, keys: &[&str]) -> &Project {
        let path = self.path().join("wharf.policy.toml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&settings_policy(keys));
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// A git repository with one commit on `main`.
    pub fn git_init(&self) -> &Project {
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "-A"],
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.invalid",
                "commit",
                "-qm",
                "init",
            ],
        ] {
            let s = Command::new("git")
                .args(args)
                .current_dir(self.path())
                .status()
                .unwrap();
            assert!(s.success());
        }
        self
    }

    /// An annotated tag `name` at HEAD (a repository with one commit first, if the project
    /// is none): what `wharf run --event tag --tag NAME` requires.
    pub fn tag(&self, name: &str) -> &Project {
        if !self.path().join(".git").exists() {
            self.git_init();
        }
        self.git(&["tag", "-f", "-a", "-m", name, name]);
        self
    }

    /// Runs git in the project (fixed identity and dates), returning its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_AUTHOR_DATE", "1764000000 +0000")
            .env("GIT_COMMITTER_DATE", "1764000000 +0000")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Commits a change with `message`.
    pub fn commit(&self, message: &str) -> &Project {
        let n = std::fs::read_dir(self.path()).unwrap().count();
        self.write(&format!("change-{n}.txt"), message);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env_remove("WHARF_SECRET_KEY")
            .env_remove("WHARF_SECRET_KEY_FILE")
            .env("XDG_CONFIG_HOME", self.config.path())
            // Hermetic: the developer's own docker logins never reach a test.
            .env("DOCKER_CONFIG", self.path().join(".no-docker-config"));
        c
    }

    /// Runs wharf in `dir` (inside the project or not), failing the test instead of
    /// hanging when it is still running after `secs` seconds (a read blocked on a FIFO).
    pub fn wharf_in(&self, dir: &Path, args: &[&str], secs: u64) -> Run {
        let child = self
            .cmd(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
            Ok(out) => Run { out: out.unwrap() },
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!(
                    "wharf {args:?} in {} still running after {secs}s",
                    dir.display()
                );
            }
        }
    }

    pub fn wharf(&self, args: &[&str]) -> Run {
        let out = self
            .cmd(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run { out }
    }

    /// Runs wharf with the fixed secret-store key [`TEST_KEY`] (what opens the release
    /// key and stored secrets), never the user's key file.
    pub fn wharf_keyed(&self, args: &[&str]) -> Run {
        let out = self
            .cmd(args)
            .env("WHARF_SECRET_KEY", TEST_KEY)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run { out }
    }
}

/// A fixed secret-store key (the base64 of 32 bytes) for tests.
pub const TEST_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Whether process `pid` runs (exists and is not a zombie).
/// Policy-file text with a valid `setting` exception (from yesterday, for 30 days) for
/// each of wharf's insecure settings named.
pub fn settings_policy(keys: &[&str]) -> String {
    let mut text = String::new();
    for (i, key) in keys.iter().enumerate() {
        text.push_str(&format!(
            "\n[[exception]]\nid = \"SET-{i}\"\nkind = \"setting\"\nsetting = \"{key}\"\n\
             reason = \"the test looks at what the jobs left in the project\"\n\
             owner = \"dev\"\napproved-by = \"sec-lead\"\ncreated = {}\nexpires = {}\n",
            day(-1),
            day(29)
        ));
    }
    text
}

/// `days` from today (UTC), as a TOML date.
pub fn day(days: i64) -> String {
    let now = chrono::DateTime::from_timestamp_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .unwrap();
    (now.date_naive() + chrono::Duration::days(days)).to_string()
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // The state follows the command name, which may itself hold ") ".
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Waits (up to 20 s) for `path` to exist.
pub fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The final status of `job` among `--json` events.
pub fn job_status(events: &[serde_json::Value], job: &str) -> String {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "job_finished" && e["job"] == job)
        .map(|e| e["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no job_finished for {job}"))
}

/// The jobs that started, in order, among `--json` events.
pub fn started_jobs(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "job_started")
        .map(|e| e["job"].as_str().unwrap().to_string())
        .collect()
}
