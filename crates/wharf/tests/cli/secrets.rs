//! The secret store and masking, end to end.

use std::io::Write;
use std::process::Stdio;

use crate::helper::{Project, Run};

/// A fixed test key (base64 of 32 bytes): tests never touch the user's key file.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SIMPLE: &str = "hunter2-correct-horse";
const MULTI: &str = "line-one-abcdef\nline-two-ghijkl";
const SPECIAL: &str = "p@ss/w0rd+&\"<x>é";

fn secrets(p: &Project, args: &[&str], stdin: &str) -> Run {
    let mut cmd = p.cmd(&[&["secrets"], args].concat());
    cmd.env("WHARF_SECRET_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Run {
        out: child.wait_with_output().unwrap(),
    }
}

fn run_with_key(p: &Project, args: &[&str]) -> Run {
    let out = p
        .cmd(args)
        .env("WHARF_SECRET_KEY", KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run { out }
}

/// Every byte wharf stored under .wharf (database, WAL, logs).
fn stored_bytes(p: &Project) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    let mut stack = vec![p.path().join(".wharf")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                if !path.ends_with("artifacts") {
                    stack.push(path);
                }
            } else {
                all.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn torture_no_form_of_any_secret_leaves_through_any_output() {
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  leak:
    secrets: [S_SIMPLE, S_MULTI, S_SPECIAL]
    outputs: [token]
    steps:
      - name: print every form
        run: python3 {script} "$FORMS"
      - name: an output and an error that carry a secret
        run: |
          echo "token=$S_SIMPLE" >> "$WHARF_OUTPUT"
          echo "failing with $S_SPECIAL" >&2
          exit 3
"#,
        script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/fixtures/leak.py"),
    ));
    let forms_dir = tempfile::tempdir().unwrap();
    let forms_path = forms_dir.path().join("forms");
    p.write(
        "wharf.yml",
        &p.read("wharf.yml")
            .replace("\"$FORMS\"", &format!("{}", forms_path.display())),
    );
    secrets(&p, &["set", "S_SIMPLE"], SIMPLE).expect(0);
    secrets(&p, &["set", "S_MULTI"], MULTI).expect(0);
    secrets(
        &p,
        &["set", "S_SPECIAL", "--from-file", "/dev/stdin"],
        SPECIAL,
    )
    .expect(0);

    let json = run_with_key(&p, &["run", "--json"]).expect(1);
    let plain = run_with_key(&p, &["run", "--plain"]).expect(1);
    let logs = run_with_key(&p, &["logs", "1", "--json"]).expect(0);
    let logs_text = run_with_key(&p, &["logs", "2"]).expect(0);
    let shown = run_with_key(&p, &["show", "1", "--json"]).expect(0);

    let mut forms: Vec<String> = std::fs::read_to_string(&forms_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    forms.extend([SIMPLE, SPECIAL, "line-one-abcdef", "line-two-ghijkl"].map(String::from));
    assert!(forms.len() >= 30, "the step printed the forms: {forms:?}");

    let mut outputs: Vec<(String, Vec<u8>)> = vec![
        ("run --json stdout".into(), json.out.stdout.clone()),
        ("run --json stderr".into(), json.out.stderr.clone()),
        ("run --plain stderr".into(), plain.out.stderr.clone()),
        ("logs --json".into(), logs.out.stdout.clone()),
        ("logs".into(), logs_text.out.stdout.clone()),
        ("show --json".into(), shown.out.stdout.clone()),
    ];
    outputs.extend(stored_bytes(&p));
    for (what, bytes) in &outputs {
        for form in &forms {
            assert!(
                !contains(bytes, form.as_bytes()),
                "{what} contains the form {form:?}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    // It was masked, not dropped: the lines are there with *** in place of the secret.
    let shown_logs = String::from_utf8_lossy(&logs_text.out.stdout);
    assert!(
        shown_logs.contains("FORM s0-exact-whole: ***"),
        "{shown_logs}"
    );
    assert!(
        shown_logs.contains("FORM s0-exact-bytes: ***"),
        "{shown_logs}"
    );
    assert!(shown_logs.contains("failing with ***"), "{shown_logs}");
    assert!(shown_logs.contains("last: ***"), "{shown_logs}");
    let done = json
        .events()
        .into_iter()
        .find(|e| e["type"] == "job_finished")
        .unwrap();
    assert_eq!(done["outputs"]["token"], "***");
}

#[test]
fn set_list_rm_and_values_never_from_argv() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let r = secrets(&p, &["set", "API_TOKEN", "s3cr3t-value"], "");
    let r = r.expect(2);
    assert!(
        r.stderr().contains("never taken from the command line"),
        "{}",
        r.stderr()
    );
    assert!(
        !r.stderr().contains("s3cr3t-value"),
        "the refused value is not echoed"
    );
    let r = secrets(&p, &["set", "API_TOKEN"], "short").expect(2);
    assert!(r.stderr().contains("at least 6"), "{}", r.stderr());
    let r = secrets(&p, &["set", "bad-name"], "long-enough").expect(2);
    assert!(
        r.stderr().contains("not a valid secret name"),
        "{}",
        r.stderr()
    );
    secrets(&p, &["set", "API_TOKEN"], "first-value-123\n").expect(0);
    secrets(
        &p,
        &["set", "API_TOKEN", "--env", "production"],
        "prod-value-456",
    )
    .expect(0);
    let list = secrets(&p, &["list", "--json"], "").expect(0).json();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "API_TOKEN");
    let text = secrets(&p, &["list"], "").expect(0);
    assert!(
        text.stdout().contains("production") && !text.stdout().contains("value"),
        "{}",
        text.stdout()
    );
    secrets(&p, &["rm", "API_TOKEN", "--env", "production"], " ").expect(0);
    let r = secrets(&p, &["rm", "API_TOKEN", "--env", "production"], "").expect(2);
    assert!(r.stderr().contains("no secret API_TOKEN"), "{}", r.stderr());
    // the database never holds the plaintext
    for (path, bytes) in stored_bytes(&p) {
        assert!(!contains(&bytes, b"first-value-123"), "{path}");
        assert!(!contains(&bytes, b"prod-value-456"), "{path}");
    }
}

#[test]
fn jobs_get_only_declared_secrets_scoped_by_environment_and_missing_ones_stop_the_run() {
    let p = Project::new(
        r#"version: 1
workspace: shared
environments:
  production: {}
jobs:
  plain:
    run: echo "A=${A_TOKEN:-unset} B=${B_TOKEN:-unset}" > plain.txt
  uses-a:
    secrets: [A_TOKEN]
    run: echo "A=${A_TOKEN:-unset} B=${B_TOKEN:-unset}" | base64 > a.txt
  deploy:
    environment: production
    secrets: [A_TOKEN]
    run: echo "$A_TOKEN" | base64 > deploy.txt
"#,
    );
    p.allow_settings(&[
        "workspace.shared",
        "environment.production-without-approval",
    ]);
    // missing: nothing runs, every missing one named
    let r = run_with_key(&p, &["run"]).expect(2);
    assert!(
        r.stderr().contains("A_TOKEN (job `uses-a`)")
            && r.stderr().contains("A_TOKEN (job `deploy`"),
        "{}",
        r.stderr()
    );
    assert!(!p.path().join("plain.txt").exists(), "nothing ran");
    secrets(&p, &["set", "A_TOKEN"], "global-a-value").expect(0);
    secrets(&p, &["set", "B_TOKEN"], "global-b-value").expect(0);
    secrets(
        &p,
        &["set", "A_TOKEN", "--env", "production"],
        "production-a-value",
    )
    .expect(0);
    run_with_key(&p, &["run"]).expect(0);
    let decode = |f: &str| {
        let out = std::process::Command::new("base64")
            .args(["-d", f])
            .current_dir(p.path())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(p.read("plain.txt"), "A=unset B=unset\n");
    assert_eq!(decode("a.txt"), "A=global-a-value B=unset\n");
    assert_eq!(decode("deploy.txt"), "production-a-value\n");
    // pull requests get none unless the pipeline opts in
    std::fs::remove_file(p.path().join("a.txt")).unwrap();
    let r = run_with_key(
        &p,
        &[
            "run",
            "--event",
            "pull_request",
            "--branch",
            "main",
            "uses-a",
        ],
    )
    .expect(0);
    assert!(r.stderr().contains("withheld"), "{}", r.stderr());
    assert_eq!(decode("a.txt"), "A=unset B=unset\n");
}

#[test]
fn a_wrong_key_is_a_clear_error_and_the_key_file_is_private() {
    let p = Project::new("version: 1\njobs:\n  a:\n    secrets: [TOKEN]\n    run: \"true\"\n");
    let home = tempfile::tempdir().unwrap();
    let key_file = home.path().join("wharf/secret.key");
    let set = |p: &Project| {
        let mut c = p.cmd(&["secrets", "set", "TOKEN"]);
        c.env_remove("WHARF_SECRET_KEY")
            .env("WHARF_SECRET_KEY_FILE", &key_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a-token-value")
            .unwrap();
        Run {
            out: child.wait_with_output().unwrap(),
        }
    };
    let first = set(&p).expect(0);
    assert!(
        first.stderr().contains("created the key file"),
        "{}",
        first.stderr()
    );
    // said once: a second secret uses the same file and says nothing about creating it
    let second = set(&p).expect(0);
    assert!(
        !second.stderr().contains("created the key file"),
        "{}",
        second.stderr()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // another key: refused with a message naming both key ids, never garbage
    let r = run_with_key(&p, &["run"]).expect(2);
    assert!(r.stderr().contains("key"), "{}", r.stderr());
    assert!(!r.stderr().contains("a-token-value"));
    // the right key works
    let out = p
        .cmd(&["run"])
        .env("WHARF_SECRET_KEY_FILE", &key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a key file others can read is refused
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = p
        .cmd(&["run"])
        .env("WHARF_SECRET_KEY_FILE", &key_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pipeline_that_opts_in_gets_secrets_on_pull_requests() {
    let p = Project::new(
        "version: 1\nworkspace: shared\non:\n  pull_request: { branches: [main], secrets: true }\njobs:\n  check:\n    secrets: [TOKEN]\n    run: echo \"$TOKEN\" | base64 > got\n",
    );
    p.allow_settings(&["workspace.shared", "secrets.pull-requests"]);
    secrets(&p, &["set", "TOKEN"], "trusted-pr-token").expect(0);
    let r = run_with_key(&p, &["run", "--event", "pull_request", "--branch", "main"]).expect(0);
    assert!(!r.stderr().contains("withheld"), "{}", r.stderr());
    let out = std::process::Command::new("base64")
        .args(["-d", "got"])
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "trusted-pr-token\n");
}

#[test]
fn secrets_from_the_environment_are_masked_and_missing_ones_named() {
    let p = Project::new(
        "version: 1\njobs:\n  deploy:\n    secrets: [DEPLOY_TOKEN]\n    run: echo \"token=$DEPLOY_TOKEN\"\n",
    );
    let out = p
        .cmd(&["run", "--plain", "--secrets-from-env"])
        .env("DEPLOY_TOKEN", "tok-from-the-platform-123")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[deploy] token=***"), "{stderr}");
    assert!(!stderr.contains("tok-from-the-platform-123"));
    let missing = p
        .cmd(&["run", "--plain", "--secrets-from-env"])
        .env_remove("DEPLOY_TOKEN")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains(
            "1 declared secret is not set in the environment: DEPLOY_TOKEN (job `deploy`)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_job_whose_if_is_false_for_the_event_needs_no_secrets() {
    let p = Project::new(
        "version: 1\njobs:\n  build:\n    run: echo built\n  publish:\n    needs: [build]\n    if: event == 'tag'\n    secrets: [PYPI_TOKEN]\n    run: echo publishing\n",
    );
    let push = p.wharf(&["run", "--plain"]).expect(0);
    assert!(push.stderr().contains("[build] built"), "{}", push.stderr());
    p.tag("v1.0.0");
    let tag = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.0.0"])
        .expect(2);
    assert!(
        tag.stderr()
            .contains("declared secret is not in the secret store: PYPI_TOKEN (job `publish`)"),
        "{}",
        tag.stderr()
    );
}
