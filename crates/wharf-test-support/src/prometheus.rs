//! A real Prometheus (Debian's `prometheus`) on a free port of 127.0.0.1, scraping the
//! given targets (`/metrics`) every second, its data in a temp dir; killed and waited
//! for when stopped or dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;
use crate::load::get_once;

/// A running Prometheus (see [`Prometheus::start`]).
#[derive(Debug)]
pub struct Prometheus {
    child: Option<Child>,
    targets: usize,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("the `prometheus` binary is not on PATH: apt-get install prometheus (.ci/run installs it)")
    })
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`/metrics`) and waits until it is ready.
    pub fn start(targets: &[SocketAddr]) -> Prometheus {
        let bin = binary();
        let dir = tempfile::tempdir().unwrap();
        let count = targets.len();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let scrape = if targets.is_empty() {
            "scrape_configs: []\n".to_string()
        } else {
            format!(
                "scrape_configs:\n  - job_name: wharf-proxy\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            )
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{scrape}"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(&bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut p = Prometheus {
            child: Some(child),
            targets: count,
            addr,
            dir,
        };
        p.wait_ready();
        p
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = get_once(self.addr, None, "/-/ready") {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "prometheus on {} is not ready ({exited:?}); its log:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until it has scraped every target successfully (`up` is 1): its static
    /// targets reach the scrape loop only after its discovery manager's first batch, up
    /// to 5 s after the start, and a query sees nothing of a target before that.
    pub fn wait_scraped(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = crate::http::request(
                "GET",
                &format!("{}/api/v1/query?query=up", self.url()),
                &[],
                b"",
            );
            let json = answer.json();
            let up = json["data"]["result"]
                .as_array()
                .map_or(0, |r| r.iter().filter(|s| s["value"][1] == "1").count());
            if up >= self.targets {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus on {} has not scraped its {} targets within 30 s: {json}; its log:\n{}",
                self.addr,
                self.targets,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Kills it and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}
