//! Benchmarks the streaming masker against `cat`: the log pipeline masks every byte a
//! step prints, so masking must not be what makes a chatty step slow.
//!
//! 200 MB of ~100-byte printable log lines (deterministic), 100 random secrets of 20-40
//! characters of which a few appear (exactly, base64- and URL-encoded), fed to a
//! `StreamMasker` in the 64 KiB chunks the log pipeline reads. In the same run: a plain copy
//! of the same chunks into an output buffer, and `cat FILE > /dev/null` on the same bytes.
//! Each figure is the median of 3 runs. `cargo bench -p wharf-secrets --bench masker`.

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wharf_secrets::mask::MaskSet;

const TOTAL: usize = 200 * 1000 * 1000;
const CHUNK: usize = 64 * 1024;
const SECRETS: usize = 100;
const RUNS: usize = 3;

/// xorshift64: deterministic input without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn secrets(rng: &mut Rng) -> Vec<String> {
    const CHARS: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!@#$%^&*";
    (0..SECRETS)
        .map(|_| {
            let len = 20 + rng.below(21);
            (0..len)
                .map(|_| char::from(CHARS[rng.below(CHARS.len())]))
                .collect()
        })
        .collect()
}

/// Log lines of 60-140 printable characters; every 10 000th line carries a secret.
fn log(rng: &mut Rng, secrets: &[String]) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "compiling",
        "the",
        "step",
        "finished",
        "in",
        "ms",
        "warning:",
        "src/main.rs",
        "downloaded",
        "crate",
        "v1.2.3",
        "error",
    ];
    let mut text = Vec::with_capacity(TOTAL + 200);
    let mut line = 0usize;
    while text.len() < TOTAL {
        let len = 60 + rng.below(81);
        let start = text.len();
        write!(text, "{line:>8} ").unwrap();
        while text.len() - start < len {
            text.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
            text.push(b' ');
        }
        if line.is_multiple_of(10_000) {
            let secret = &secrets[rng.below(5)];
            match line / 10_000 % 3 {
                0 => text.extend_from_slice(secret.as_bytes()),
                1 => text.extend_from_slice(STANDARD.encode(secret).as_bytes()),
                _ => text.extend(
                    secret
                        .bytes()
                        .flat_map(|b| format!("%{b:02X}").into_bytes()),
                ),
            }
        }
        text.push(b'\n');
        line += 1;
    }
    text.truncate(TOTAL);
    text
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    times.sort();
    times[RUNS / 2]
}

fn rate(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

fn main() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let secrets = secrets(&mut rng);
    let text = log(&mut rng, &secrets);

    let started = Instant::now();
    let set = Arc::new(MaskSet::new(&secrets));
    let compile = started.elapsed();
    println!(
        "masker: {SECRETS} secrets -> max form {} bytes, compiled in {:.1} ms",
        set.max_form_len(),
        compile.as_secs_f64() * 1e3
    );

    let mut out = Vec::with_capacity(CHUNK + 64);
    let mut masked_bytes = 0;
    let masked = median(|| {
        let started = Instant::now();
        let mut masker = set.stream();
        masked_bytes = 0;
        for chunk in text.chunks(CHUNK) {
            out.clear();
            masker.write(chunk, &mut out);
            masked_bytes += black_box(&out).len();
        }
        out.clear();
        masker.finish(&mut out);
        masked_bytes += out.len();
        started.elapsed()
    });
    let copy = median(|| {
        let started = Instant::now();
        for chunk in text.chunks(CHUNK) {
            out.clear();
            out.extend_from_slice(chunk);
            black_box(&out);
        }
        started.elapsed()
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.txt");
    std::fs::write(&path, &text).expect("write the log file");
    let cat = median(|| {
        let started = Instant::now();
        let status = Command::new("cat")
            .arg(&path)
            .stdout(Stdio::null())
            .status()
            .expect("run cat");
        assert!(status.success());
        started.elapsed()
    });

    let mb = TOTAL as f64 / 1e6;
    println!(
        "masker: {mb:.0} MB in 64 KiB chunks: {:.0} MB/s ({} bytes out)",
        rate(TOTAL, masked),
        masked_bytes
    );
    println!(
        "copy (cat baseline, same chunks into a Vec): {:.0} MB/s",
        rate(TOTAL, copy)
    );
    println!("cat FILE > /dev/null: {:.0} MB/s", rate(TOTAL, cat));
    println!(
        "masker / copy: {:.1}x slower; masker / cat: {:.1}x slower",
        masked.as_secs_f64() / copy.as_secs_f64(),
        masked.as_secs_f64() / cat.as_secs_f64()
    );
}
