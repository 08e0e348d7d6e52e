//! The test application that goes into the container images of the deployment tests: a
//! root filesystem of Debian's static busybox whose `httpd` serves three endpoints
//! through one CGI script, with its behaviour (release name, health, errors, latency,
//! slow start, crash, not listening) baked in from [`AppKnobs`].
//!
//! [`write_app_rootfs`] writes the directory; it becomes an image `FROM scratch` with the
//! directory as its one layer at `/` and [`APP_ENTRYPOINT`] as the entrypoint, or runs
//! on the host with [`run_app_on_host`] (no Docker, for fast tests).
//!
//! # Endpoints
//!
//! | path | answers |
//! |---|---|
//! | [`APP_PATH`] `/` | `200` with the release as the body, or `500` for `error_percent` % of requests (random), after `latency_ms` |
//! | [`HEALTH_PATH`] `/up/` | `503` until `slow_start_ms` have passed since the start, then `health_status` |
//! | [`SLOW_PATH`] `/slow/` | `/slow/?2` sleeps 2 s (fractions allowed: `?0.5`), then `200`; `400` without a number |
//!
//! Every answer of these (and a `404` for any other path ending in `/`) carries
//! `X-Release: RELEASE`, `Content-Length` and `Connection: close` (busybox `httpd` serves
//! one request per connection). The trailing slashes are needed: busybox 1.35's `httpd`
//! runs a CGI without a `/cgi-bin/` prefix only for a file with an interpreter suffix
//! (`*.cgi:/bin/sh` in its config) or, for a URL ending in `/` with no `index.html`, its
//! `/cgi-bin/index.cgi`; a directory URL without the slash gets a `302` to the one with
//! it, and the directory-index route (`I:index.cgi`) loses the script's name before the
//! interpreter runs. So everything is that one `/cgi-bin/index.cgi`, dispatching on
//! `REQUEST_URI`. `/up` (no slash) answers busybox's own `404`, without `X-Release`.
//!
//! # Layout
//!
//! ```text
//! /bin/busybox, /bin/{sh,httpd,sleep,kill,rm,mkdir} -> busybox
//! /start                      the entrypoint (#!/bin/sh)
//! /app/knobs                  the knobs, as shell assignments the scripts source
//! /www/cgi-bin/index.cgi      the endpoints
//! /tmp/.keep                  (git keeps no empty directory; /start makes /tmp anyway)
//! /tmp/                       the runtime files: httpd.conf, `ready` after the slow start
//! ```
//!
//! `/start` reads three environment variables: `APP_LISTEN` (default `PORT`: every address of
//! the container's own network namespace; the host publishes it on 127.0.0.1),
//! `APP_ROOT` (default empty: the root filesystem is at `/`) and `APP_TMP` (default
//! `/tmp`). It runs `httpd -f` in the background and waits for it; SIGTERM or SIGINT
//! stop it at once (exit 0; as PID 1 that ends the container, requests in flight
//! included: draining is the proxy's job). With `crash_after_ms` it kills `httpd` and exits 1 after
//! that long; with `listen: false` it never starts `httpd` and just waits.
//!
//! # Building the image with wharf's builder
//!
//! The build is daemonless (no engine needed). A test writes the rootfs into its project
//! as `app-rootfs/` and runs this pipeline, which builds the image and pushes it to a
//! registry on loopback (plain HTTP is allowed there; [`crate::registry::Registry`]
//! starts one). `workspace: shared` runs the job in the project itself, so the rootfs
//! counts even when it is git-ignored (a job's own workspace holds what git sees: no
//! ignored files, no empty directories):
//!
//! ```yaml
//! version: 1
//! workspace: shared
//! jobs:
//!   app-image:
//!     steps:
//!       - build-image:
//!           from: scratch
//!           layers: [{ src: app-rootfs/, dest: / }]
//!           entrypoint: ["/start"]
//!           ports: ["8080"]
//!           image: 127.0.0.1:5000/wharf-test-app
//!           tags: [v1]
//!           push: true
//! ```
//!
//! Then `docker run -d -p 127.0.0.1::8080 127.0.0.1:5000/wharf-test-app:v1` (after a
//! `docker pull`, or `skopeo copy` into `docker-daemon:`) serves it. Without a registry,
//! [`import_app_image`] imports the directory with `docker import` directly.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The app endpoint: `200` with the release as the body, or an injected `500`.
pub const APP_PATH: &str = "/";
/// The health endpoint: `503` during the slow start, then `health_status`.
pub const HEALTH_PATH: &str = "/up/";
/// The slow endpoint: append `?SECONDS` (`/slow/?2`), it sleeps that long, then `200`.
pub const SLOW_PATH: &str = "/slow/";
/// The image's entrypoint (the start script).
pub const APP_ENTRYPOINT: &[&str] = &["/start"];
/// The port the app listens on in a container unless [`AppKnobs::port`] says otherwise.
pub const APP_PORT: u16 = 8080;
/// The `docker import --change` arguments that make an imported rootfs run the app.
pub const IMPORT_CHANGES: &[&str] = &[
    "ENTRYPOINT [\"/start\"]",
    "ENV PATH=/bin",
    "EXPOSE 8080/tcp",
];

/// Where Debian's `busybox-static` installs the binary.
const BUSYBOX_BINARY: &str = "/bin/busybox";
/// The applets the scripts run (busybox picks the applet by `argv[0]`).
const APPLETS: &[&str] = &["sh", "httpd", "sleep", "kill", "rm", "mkdir"];

/// How the test app behaves; baked into the root filesystem by [`write_app_rootfs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKnobs {
    /// The release name: the app endpoint's body and every answer's `X-Release`.
    /// Letters, digits and `._:+@/-` only (it goes into a header and a shell script).
    pub release: String,
    /// What the health endpoint answers once the slow start is over (default 200).
    pub health_status: u16,
    /// The share of app requests answered `500`, 0–100, drawn at random (default 0).
    pub error_percent: u8,
    /// How long the app endpoint waits before it answers (default 0).
    pub latency_ms: u32,
    /// The health endpoint answers `503` for this long after the start (default 0).
    pub slow_start_ms: u32,
    /// The start script, the container's main process, kills `httpd` and exits with
    /// status 1 this long after the start (default: never).
    pub crash_after_ms: Option<u32>,
    /// `false`: the start script never starts `httpd` and just waits (default `true`).
    pub listen: bool,
    /// The port `httpd` listens on in a container (default [`APP_PORT`], 8080).
    pub port: u16,
}

impl AppKnobs {
    /// A healthy, fast, error-free app of `release` on port 8080.
    pub fn new(release: &str) -> AppKnobs {
        AppKnobs {
            release: release.to_owned(),
            ..AppKnobs::default()
        }
    }
}

impl Default for AppKnobs {
    fn default() -> AppKnobs {
        AppKnobs {
            release: "v1".to_owned(),
            health_status: 200,
            error_percent: 0,
            latency_ms: 0,
            slow_start_ms: 0,
            crash_after_ms: None,
            listen: true,
            port: APP_PORT,
        }
    }
}

/// `ms` as seconds for busybox `sleep` (`1.250`).
fn seconds(ms: u32) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A status line's reason phrase (any text is valid HTTP; these read better).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The knobs as the shell assignments `/app/knobs` holds.
fn knobs_file(k: &AppKnobs) -> String {
    let mut s = String::from("# wharf test app knobs, sourced by /start and the CGI script\n");
    let _ = writeln!(s, "RELEASE='{}'", k.release);
    let _ = writeln!(
        s,
        "HEALTH_STATUS='{} {}'",
        k.health_status,
        reason(k.health_status)
    );
    let _ = writeln!(s, "ERROR_PERCENT={}", k.error_percent);
    let latency = if k.latency_ms == 0 {
        String::new()
    } else {
        seconds(k.latency_ms)
    };
    let _ = writeln!(s, "LATENCY='{latency}'");
    let _ = writeln!(s, "SLOW_START='{}'", seconds(k.slow_start_ms));
    let _ = writeln!(s, "SLOW_START_MS={}", k.slow_start_ms);
    let crash = k.crash_after_ms.map(seconds).unwrap_or_default();
    let _ = writeln!(s, "CRASH_AFTER='{crash}'");
    let _ = writeln!(s, "LISTEN={}", u8::from(k.listen));
    let _ = writeln!(s, "PORT={}", k.port);
    s
}

/// The entrypoint. Runs as PID 1 in a container: the traps make `docker stop` quick.
const START_SCRIPT: &str = r#"#!/bin/sh
# wharf test app: starts busybox httpd with the knobs in $APP_ROOT/app/knobs.
# APP_LISTEN (default PORT: every address of the container), APP_ROOT (default: /), APP_TMP (default /tmp).
APP_ROOT="${APP_ROOT:-}"
APP_TMP="${APP_TMP:-/tmp}"
PATH="$APP_ROOT/bin"
export APP_ROOT APP_TMP PATH
. "$APP_ROOT/app/knobs"
APP_LISTEN="${APP_LISTEN:-$PORT}"
mkdir -p "$APP_TMP" && rm -f "$APP_TMP/ready"
printf '*.cgi:%s/bin/sh\n' "$APP_ROOT" > "$APP_TMP/httpd.conf" || exit 1
pids=
trap 'kill $pids 2>/dev/null; exit 0' TERM INT
if [ "$SLOW_START_MS" -gt 0 ]; then
  (sleep "$SLOW_START" && : > "$APP_TMP/ready") &
  pids="$pids $!"
else
  : > "$APP_TMP/ready"
fi
if [ "$LISTEN" = 1 ]; then
  httpd -f -p "$APP_LISTEN" -h "$APP_ROOT/www" -c "$APP_TMP/httpd.conf" &
  main=$!
  echo "wharf test app $RELEASE: httpd on $APP_LISTEN" >&2
else
  sleep 2147483647 &
  main=$!
  echo "wharf test app $RELEASE: not listening" >&2
fi
pids="$pids $main"
if [ -n "$CRASH_AFTER" ]; then
  sleep "$CRASH_AFTER" &
  timer=$!
  pids="$pids $timer"
  wait $timer
  echo "wharf test app $RELEASE: crashing as told" >&2
  kill $pids 2>/dev/null
  exit 1
fi
wait $main
status=$?
kill $pids 2>/dev/null
exit $status
"#;

/// The one CGI script behind every endpoint; kept to shell builtins (and `sleep` when
/// asked to wait), so a request costs one fork and exec of busybox.
const CGI_SCRIPT: &str = r#"#!/bin/sh
# wharf test app endpoints: / (app), /up/ (health), /slow/?SECONDS.
. "$APP_ROOT/app/knobs"
answer() {
  printf 'Status: %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\nX-Release: %s\r\n\r\n%s' \
    "$1" "${#2}" "$RELEASE" "$2"
}
case "$REQUEST_URI" in
/ | "/?"*)
  [ -n "$LATENCY" ] && sleep "$LATENCY"
  if [ "$ERROR_PERCENT" -gt 0 ] && [ $((RANDOM % 100)) -lt "$ERROR_PERCENT" ]; then
    answer '500 Internal Server Error' "injected error from $RELEASE"
  else
    answer '200 OK' "$RELEASE"
  fi
  ;;
/up/ | "/up/?"*)
  if [ -e "$APP_TMP/ready" ]; then
    answer "$HEALTH_STATUS" "health of $RELEASE"
  else
    answer '503 Service Unavailable' "$RELEASE is starting"
  fi
  ;;
/slow/ | "/slow/?"*)
  case "$QUERY_STRING" in
  '' | *[!0-9.]* | *.*.*) answer '400 Bad Request' 'want /slow/?SECONDS' ;;
  *) sleep "$QUERY_STRING" && answer '200 OK' "$RELEASE" ;;
  esac
  ;;
*) answer '404 Not Found' "no endpoint $REQUEST_URI" ;;
esac
"#;

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Writes the app's complete root filesystem into `dir` (created if missing; files of a
/// previous call are overwritten, so the same directory can be rewritten with other
/// knobs). Panics when busybox-static is missing or a knob is out of range.
pub fn write_app_rootfs(dir: &Path, knobs: &AppKnobs) {
    assert!(
        !knobs.release.is_empty()
            && knobs
                .release
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:+@/-".contains(c)),
        "release {:?}: letters, digits and ._:+@/- only",
        knobs.release
    );
    assert!(
        (100..=999).contains(&knobs.health_status),
        "health_status {} is not an HTTP status",
        knobs.health_status
    );
    assert!(
        knobs.error_percent <= 100,
        "error_percent {} is over 100",
        knobs.error_percent
    );
    assert!(
        Path::new(BUSYBOX_BINARY).is_file(),
        "{BUSYBOX_BINARY} is missing; install busybox-static (.ci/run does)"
    );
    let bin = dir.join("bin");
    mkdir(&bin, 0o755);
    let busybox = bin.join("busybox");
    // A copy over a running binary fails (ETXTBSY); a fresh file does not.
    let _ = std::fs::remove_file(&busybox);
    std::fs::copy(BUSYBOX_BINARY, &busybox)
        .unwrap_or_else(|e| panic!("cannot copy {BUSYBOX_BINARY}: {e}"));
    std::fs::set_permissions(&busybox, std::fs::Permissions::from_mode(0o755)).unwrap();
    for applet in APPLETS {
        let link = bin.join(applet);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("busybox", &link)
            .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
    }
    mkdir(&dir.join("tmp"), 0o1777);
    // An empty directory would not survive a git-based workspace copy.
    write(&dir.join("tmp/.keep"), "", 0o644);
    mkdir(&dir.join("app"), 0o755);
    mkdir(&dir.join("www/cgi-bin"), 0o755);
    write(&dir.join("start"), START_SCRIPT, 0o755);
    write(&dir.join("app/knobs"), &knobs_file(knobs), 0o644);
    write(&dir.join("www/cgi-bin/index.cgi"), CGI_SCRIPT, 0o755);
}

/// Imports the root filesystem in `dir` into the Docker Engine as `image` (`docker
/// import` of a tarball, with [`IMPORT_CHANGES`]), as [`crate::docker`] does for its
/// busybox image. Panics (with the hint) when no engine answers.
pub fn import_app_image(dir: &Path, image: &str) {
    crate::docker::require_engine();
    let work = tempfile::tempdir().expect("cannot create a temporary directory");
    let tarball = work.path().join("app-rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("cannot run tar");
    assert!(
        status.success(),
        "tar of {} failed: {status}",
        dir.display()
    );
    let mut args = vec!["import"];
    for change in IMPORT_CHANGES {
        args.extend(["--change", change]);
    }
    let tarball = tarball.to_str().expect("a UTF-8 temporary path");
    args.extend([tarball, image]);
    crate::docker::docker_ok(&args);
}

/// The app running on the host (see [`run_app_on_host`]); its process group is killed
/// when dropped.
#[derive(Debug)]
pub struct HostApp {
    child: Child,
    addr: SocketAddr,
    started: Instant,
    tmp: tempfile::TempDir,
}

/// Starts the rootfs in `dir`'s start script on the host, its `httpd` on 127.0.0.1 with
/// a free port (`APP_LISTEN`), with its own `APP_TMP`; returns once the port accepts
/// connections (at once when the knobs say `listen: false`, or when the start script
/// has already exited, e.g. a crash knob shorter than the start). The scripts run with
/// the rootfs's own busybox (`APP_ROOT=dir`), nothing from the host but the kernel.
pub fn run_app_on_host(dir: &Path) -> HostApp {
    let root: PathBuf = std::fs::canonicalize(dir)
        .unwrap_or_else(|e| panic!("no app rootfs at {}: {e}", dir.display()));
    let knobs = std::fs::read_to_string(root.join("app/knobs")).unwrap_or_else(|e| {
        panic!(
            "{} is not an app rootfs (write_app_rootfs): {e}",
            root.display()
        )
    });
    let listens = knobs.lines().any(|l| l == "LISTEN=1");
    let tmp = tempfile::tempdir().expect("cannot create a temporary directory");
    let port = crate::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = File::create(tmp.path().join("app.log")).expect("cannot create the app's log");
    let log2 = log.try_clone().expect("cannot clone the log file handle");
    let child = Command::new(root.join("bin/busybox"))
        .arg("sh")
        .arg(root.join("start"))
        .env_clear()
        .env("APP_ROOT", &root)
        .env("APP_TMP", tmp.path())
        .env("APP_LISTEN", addr.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}/start: {e}", root.display()));
    let mut app = HostApp {
        child,
        addr,
        started: Instant::now(),
        tmp,
    };
    if listens {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(_)) = app.child.try_wait() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the app did not listen on {addr} within 10 s; its log:\n{}",
                app.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    app
}

impl HostApp {
    /// Where it listens: `127.0.0.1:PORT` (nothing accepts there with `listen: false`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The start script's process id (also its process group's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long ago it was started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// What the start script and `httpd` wrote on stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("app.log")).unwrap_or_default()
    }

    /// The start script's exit status, once it has exited (a crash knob, or `httpd`
    /// failing); `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the start script to exit; its status, or `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HostApp {
    fn drop(&mut self) {
        // The whole group: the start script, httpd, its per-request children and timers.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
