//! The `load-test` step against a small keep-alive HTTP server of the test: thresholds
//! met and missed, open and closed loops, the report and histogram kept with the run, and
//! the spec's bad input refused by `validate`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::helper::Project;

/// Answers `200 ok` on keep-alive connections, `/slow` after 30 ms; its port.
pub(crate) fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    port
}

fn serve(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let slow = line.contains("/slow");
        // The rest of the head.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
        }
        if slow {
            std::thread::sleep(Duration::from_millis(30));
        }
        if out
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

fn said(r: &crate::helper::Run) -> String {
    format!("{}{}", r.stdout(), r.stderr())
}

#[test]
fn a_load_meets_its_thresholds_and_its_report_is_kept() {
    let port = server();
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  load:
    steps:
      - load-test:
          url: http://127.0.0.1:{port}/
          method: GET
          headers: {{ X-Test: wharf }}
          connections: 4
          duration: 1s
          warm-up: 200ms
          timeout: 1s
          thresholds: {{ p50: 500ms, p90: 500ms, p99: 1s, p99.9: 1s, max: 2s, error-rate: 0.01, throughput: 20 }}
"#
    ));
    let run = p.wharf(&["run", "--plain"]).expect(0);
    let out = said(&run);
    assert!(
        out.contains(&format!(
            "load-test http://127.0.0.1:{port}/ for 1s after a 200ms warm-up"
        )),
        "{out}"
    );
    assert!(out.contains("p99"), "{out}");
    assert!(
        out.contains("kept load-test/1/report.json and load-test/1/latency.svg"),
        "{out}"
    );
    let artifacts = p.wharf(&["artifacts"]).expect(0).stdout();
    assert!(artifacts.contains("load-test/1/report.json"), "{artifacts}");
    assert!(artifacts.contains("load-test/1/latency.svg"), "{artifacts}");
}

#[test]
fn a_missed_threshold_fails_the_step_naming_it_and_an_open_loop_counts_from_the_schedule() {
    let port = server();
    let p = Project::new(
        r#"version: 1
jobs:
  load:
    env: { TARGET: "127.0.0.1:PORT" }
    steps:
      - load-test:
          url: http://${TARGET}/slow
          rate: 40
          connections: 2
          duration: 1s
          thresholds: { p50: 5ms }
"#
        .replace("PORT", &port.to_string())
        .as_str(),
    );
    let run = p.wharf(&["run", "--plain"]).expect(1);
    let out = said(&run);
    assert!(
        out.contains(&format!("load-test http://127.0.0.1:{port}/slow for 1s")),
        "{out}"
    );
    assert!(out.contains("1 threshold missed: p50 "), "{out}");
    assert!(out.contains("> 5ms: FAILED"), "{out}");
    // What it measured is kept with the run all the same.
    let artifacts = p.wharf(&["artifacts"]).expect(0).stdout();
    assert!(artifacts.contains("load-test/1/report.json"), "{artifacts}");
    assert!(artifacts.contains("load-test/1/latency.svg"), "{artifacts}");

    // An unknown variable in the URL is an error, not an empty host.
    p.write(
        "wharf.yml",
        "version: 1\njobs:\n  load:\n    steps:\n      - load-test: { url: \"http://${NOPE}/\", duration: 1s }\n",
    );
    let out = said(&p.wharf(&["run", "--plain"]).expect(1));
    assert!(
        out.contains("the step's environment has no `NOPE`"),
        "{out}"
    );
}

#[test]
fn bad_load_test_keys_are_refused_with_their_position() {
    let p = Project::new(
        r#"version: 1
jobs:
  load:
    steps:
      - load-test:
          url: https://example.invalid/
          duration: soon
          connections: 0
          thresholds: { error-rate: 2, p99: fast }
"#,
    );
    let v = p.wharf(&["validate"]).expect(2);
    let e = v.stderr();
    assert!(
        e.contains("`load-test:` loads http:// URLs, not `https://example.invalid/`"),
        "{e}"
    );
    assert!(e.contains("invalid duration `soon`"), "{e}");
    assert!(e.contains("invalid duration `fast`"), "{e}");
    assert!(e.contains("`error-rate: 2` is not a fraction"), "{e}");
    assert!(
        e.contains("`connections` and `rate` must be at least 1"),
        "{e}"
    );
    assert!(e.contains("wharf.yml:6:"), "{e}");
    let unknown = Project::new(
        "version: 1\njobs:\n  load:\n    steps:\n      - load-test: { url: \"http://127.0.0.1:1/\", users: 5 }\n",
    );
    let e = unknown.wharf(&["validate"]).expect(2).stderr();
    assert!(e.contains("unknown key `users`"), "{e}");
}
