//! A real `pypiserver` (from PyPI; `.ci/run` installs it with passlib) on a free loopback
//! port, whose uploads need Basic auth `__token__` / the token given (htpasswd, bcrypt);
//! reads are anonymous. Stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port};

/// A running pypiserver.
pub struct PyPiServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PyPiServer {
    /// Starts pypiserver; uploads need user `__token__` with password `token`.
    pub fn start(token: &str) -> PyPiServer {
        let ok = Command::new("python3")
            .args(["-c", "import pypiserver, passlib"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "pypiserver and passlib are not installed for python3 (.ci/run installs them: \
             pip install pypiserver passlib bcrypt)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("packages")).expect("the packages directory");
        let status = Command::new("htpasswd")
            .arg("-Bbc")
            .arg(dir.path().join("htpasswd"))
            .args(["__token__", token])
            .stderr(Stdio::null())
            .status()
            .expect("htpasswd (apache2-utils) is needed; .ci/run installs it");
        assert!(status.success(), "htpasswd failed");
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-a", "update", "-P"])
            .arg(dir.path().join("htpasswd"))
            .arg(dir.path().join("packages"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m pypiserver");
        wait_for_port(port, Duration::from_secs(15), "pypiserver", &mut child);
        PyPiServer { child, port, dir }
    }

    /// The upload URL (`http://127.0.0.1:PORT/`).
    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The PEP 503 simple index (`http://127.0.0.1:PORT/simple/`).
    pub fn simple_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// The directory the server stores packages in.
    pub fn packages(&self) -> PathBuf {
        self.dir.path().join("packages")
    }
}

impl Drop for PyPiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
