//! Launchers for the real services wharf's tests talk to: each starts the service on
//! 127.0.0.1 with a free port in a temporary directory and stops it when dropped.
//! Tests never mock what a user would meet for real (DESIGN.md, "Tests").
//!
//! A launcher whose program is missing panics with the package to install, rather than
//! skipping: a test that silently does not run is a defect. `.ci/run` installs them all.

pub mod app;
pub mod docker;
pub mod faultproxy;
pub mod forge;
pub mod http;
pub mod load;
pub mod prometheus;
pub mod pypi;
pub mod registry;
mod wire;

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the service to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, or panics after
/// `timeout` with `what` and the child's state.
pub fn wait_for_port(port: u16, timeout: Duration, what: &str, child: &mut Child) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on 127.0.0.1:{port}: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within {timeout:?}");
}

/// Runs `program` with `args`, panicking with its stderr when it fails; returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with an install hint when `program` is not on PATH.
pub fn require_program(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed; install {package} (.ci/run does)"
    );
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
