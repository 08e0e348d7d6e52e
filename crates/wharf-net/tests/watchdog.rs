//! The limits against peers that misbehave for real: a small HTTP server on 127.0.0.1
//! behind the fault proxy of wharf-test-support. Each test measures the time to failure
//! and checks the message; the slow-but-moving ones check that progress is never taken
//! for a stall.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use wharf_net::{Exchange, Limits, Net, NetError, Phase};
use wharf_test_support::faultproxy::{Fault, FaultProxy};

/// How the test server reads bodies and answers.
#[derive(Clone, Copy)]
enum Pace {
    /// Read at full speed, answer at once.
    Fast,
    /// Answer with `parts` chunks of 1 KiB, one every `every`.
    SlowAnswer { parts: usize, every: Duration },
}

/// An HTTP/1.1 server on 127.0.0.1 that reads each request's body (Content-Length) and
/// answers `200` with the body length, one request per connection.
fn server(pace: Pace) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut left = length;
                let mut buf = vec![0u8; 1 << 20];
                while left > 0 {
                    let want = buf.len().min(left);
                    if reader.read_exact(&mut buf[..want]).is_err() {
                        return;
                    }
                    left -= want;
                }
                let mut conn = conn;
                match pace {
                    Pace::SlowAnswer { parts, every } => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            parts * 1024
                        );
                        let _ = conn.write_all(head.as_bytes());
                        for _ in 0..parts {
                            std::thread::sleep(every);
                            let _ = conn.write_all(&[b'x'; 1024]);
                        }
                    }
                    _ => {
                        let body = length.to_string();
                        let _ = conn.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        );
                    }
                }
            });
        }
    });
    port
}

fn net(idle_ms: u64) -> Net {
    Net::new(Limits {
        connect: Duration::from_secs(2),
        idle: Duration::from_millis(idle_ms),
        total: Duration::from_secs(60),
    })
    .unwrap()
}

fn upload(net: &Net, port: u16, bytes: usize) -> (reqwest::RequestBuilder, Exchange) {
    let url = format!("http://127.0.0.1:{port}/upload?_state=s3cret-state");
    let req = net.client().put(&url).body(vec![1u8; bytes]);
    (
        req,
        Exchange::new("test server", &url, "the upload of test.bin"),
    )
}

#[tokio::test]
async fn a_peer_that_stops_reading_an_upload_fails_it_within_the_idle_limit() {
    let proxy = FaultProxy::start(server(Pace::Fast), Fault::StallUpload { after: 64 << 10 });
    let net = net(1000);
    let (req, ex) = upload(&net, proxy.port, 64 << 20);
    let started = Instant::now();
    let err = net.send(req, &ex).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("stalled upload failed after {took:?}: {err}");
    assert!(took < Duration::from_secs(1 + 5), "{took:?}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let NetError::Stalled { phase, sent, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*phase, Phase::Sending, "{err}");
    assert!(*sent < 64 << 20, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "test server 127.0.0.1:{} stopped reading the upload of test.bin for 1s (",
            proxy.port
        )),
        "{text}"
    );
    assert!(text.contains("idle limit WHARF_NET_IDLE_TIMEOUT"), "{text}");
    assert!(!text.contains("s3cret-state"), "{text}");
    assert_eq!(err.retry_reason(), None, "a stall is not retried");
}

#[tokio::test]
async fn a_peer_that_never_answers_fails_within_the_idle_limit() {
    let proxy = FaultProxy::start(server(Pace::Fast), Fault::NeverAnswer);
    let net = net(1000);
    let (req, ex) = upload(&net, proxy.port, 10 << 10);
    let started = Instant::now();
    let err = net.send(req, &ex).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("unanswered request failed after {took:?}: {err}");
    assert!(took < Duration::from_secs(1 + 5), "{took:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "test server 127.0.0.1:{} did not answer the upload of test.bin for 1s (idle limit WHARF_NET_IDLE_TIMEOUT)",
            proxy.port
        )),
        "{err}"
    );
}

#[tokio::test]
async fn an_answer_that_stops_midway_fails_the_read_within_the_idle_limit() {
    // Each KiB of the answer comes after 3 s: the first read already waits too long.
    let port = server(Pace::SlowAnswer {
        parts: 3,
        every: Duration::from_secs(3),
    });
    let net = net(1000);
    let url = format!("http://127.0.0.1:{port}/answer");
    let ex = Exchange::new("test server", &url, "the answer test");
    let resp = net.send(net.client().get(&url), &ex).await.unwrap();
    let started = Instant::now();
    let err = resp.bytes().await.unwrap_err();
    let err = ex.error(&err, net.limits());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1 + 5), "{took:?}");
    assert!(
        matches!(
            err,
            NetError::Stalled {
                phase: Phase::Receiving,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("stopped sending the answer to the answer test for 1s"),
        "{err}"
    );
}

#[tokio::test]
async fn slow_but_moving_transfers_are_never_taken_for_stalls() {
    // A link of about 6 MiB/s (64 KiB every 10 ms): 24 MiB take some 5 s, twice the idle
    // limit, and every pause is far shorter. The socket buffers (a few MiB on loopback)
    // drain after the last chunk is taken, well within the limit.
    let proxy = FaultProxy::start(server(Pace::Fast), Fault::Delay(Duration::from_millis(10)));
    let net = net(3000);
    let (req, ex) = upload(&net, proxy.port, 24 << 20);
    let started = Instant::now();
    let resp = net.send(req, &ex).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), (24 << 20).to_string());
    let took = started.elapsed();
    eprintln!("24 MiB through a 6 MiB/s link: {took:?}");
    assert!(took > Duration::from_secs(3), "{took:?}");

    // The answer trickles in, a KiB every 400 ms.
    let port = server(Pace::SlowAnswer {
        parts: 8,
        every: Duration::from_millis(400),
    });
    let url = format!("http://127.0.0.1:{port}/answer");
    let ex = Exchange::new("test server", &url, "the answer test");
    let resp = net.send(net.client().get(&url), &ex).await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().len(), 8 << 10);
}

#[tokio::test]
async fn time_the_caller_takes_before_reading_is_not_the_peers() {
    // The answer's body comes 1.9 s after its head; the caller starts reading after
    // 1.5 s, so the read itself waits 0.4 s: well within the 1 s limit.
    let port = server(Pace::SlowAnswer {
        parts: 1,
        every: Duration::from_millis(1900),
    });
    let net = net(1000);
    let url = format!("http://127.0.0.1:{port}/answer");
    let ex = Exchange::new("test server", &url, "the answer test");
    let resp = net.send(net.client().get(&url), &ex).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(resp.bytes().await.unwrap().len(), 1024);
}

#[tokio::test]
async fn the_overall_limit_ends_a_request_that_keeps_trickling() {
    let port = server(Pace::SlowAnswer {
        parts: 20,
        every: Duration::from_millis(200),
    });
    let net = Net::new(Limits {
        connect: Duration::from_secs(2),
        idle: Duration::from_secs(2),
        total: Duration::from_secs(1),
    })
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/answer");
    let ex = Exchange::new("test server", &url, "the answer test");
    let resp = net.send(net.client().get(&url), &ex).await.unwrap();
    let err = ex.error(&resp.bytes().await.unwrap_err(), net.limits());
    assert!(matches!(err, NetError::Overall { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("the answer test took longer than 1s (overall limit WHARF_NET_TIMEOUT)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reset_is_transient_and_its_message_has_no_query() {
    let proxy = FaultProxy::start(server(Pace::Fast), Fault::Reset { after: 1024 });
    let net = net(2000);
    let (req, ex) = upload(&net, proxy.port, 1 << 20);
    let err = net.send(req, &ex).await.unwrap_err();
    assert!(err.retry_reason().is_some(), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains("_state") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        text.starts_with(&format!(
            "test server 127.0.0.1:{}: the upload of test.bin failed: ",
            proxy.port
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = wharf_test_support::free_port();
    let net = net(2000);
    let (req, ex) = upload(&net, port, 10);
    let err = net.send(req, &ex).await.unwrap_err();
    assert_eq!(err.retry_reason(), Some("connection refused"), "{err:?}");
}
