//! The workspace and cache code on their own, for the peer benchmarks (workloads E and G in
//! `../shared/bench`), which time one operation against `cp`, `git worktree` and `tar | zstd`.
//!
//! ```text
//! bench-tool workspace SRC DST          # a job workspace of SRC (git view) at DST
//! bench-tool workspace-reset SRC DST    # one, a test job's writes in it, then the reset
//!                                       # to SRC (prints both times, in ms)
//! bench-tool cache-save DIR KEY STORE   # save DIR's contents under KEY in the cache STORE
//! bench-tool cache-restore DIR KEY STORE
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use wharf_engine::cache::{DEFAULT_MAX_BYTES, JobCache, Key, Restored};
use wharf_engine::workspace::{Snapshot, fs_clock};

/// Copies SRC's git view to DST, does what a `pytest` job does to a checkout (a
/// `__pycache__/*.pyc` beside every Python file, a `.pytest_cache/`, five files edited,
/// one removed), then resets DST to the snapshot; prints the copy's and the reset's times.
fn copy_then_reset(src: &Path, dst: &Path) -> Result<(), String> {
    let scratch = dst.with_extension("scratch");
    let snapshot = Snapshot::take(src, &scratch).map_err(|e| e.to_string())?;
    let t = Instant::now();
    snapshot.materialize(dst).map_err(|e| e.to_string())?;
    let copy = t.elapsed();
    let since = fs_clock(dst.parent().unwrap_or(dst)).map_err(|e| e.to_string())?;
    let mut py = Vec::new();
    for e in walkdir::WalkDir::new(dst).into_iter().flatten() {
        if e.path().extension().is_some_and(|x| x == "py") {
            py.push(e.path().to_path_buf());
        }
    }
    let io = |e: std::io::Error| e.to_string();
    for f in &py {
        let cache = f.with_file_name("__pycache__");
        std::fs::create_dir_all(&cache).map_err(io)?;
        let name = f.file_stem().unwrap_or_default().to_string_lossy();
        std::fs::write(cache.join(format!("{name}.cpython-311.pyc")), b"pyc").map_err(io)?;
    }
    std::fs::create_dir_all(dst.join(".pytest_cache/v/cache")).map_err(io)?;
    std::fs::write(dst.join(".pytest_cache/v/cache/lastfailed"), b"{}").map_err(io)?;
    for f in py.iter().take(5) {
        std::fs::write(f, b"edited\n").map_err(io)?;
    }
    if let Some(f) = py.get(5) {
        std::fs::remove_file(f).map_err(io)?;
    }
    let t = Instant::now();
    snapshot.reset(dst, since).map_err(|e| e.to_string())?;
    let reset = t.elapsed();
    println!(
        "files {} python {} copy_ms {:.1} reset_ms {:.1}",
        snapshot.len(),
        py.len(),
        copy.as_secs_f64() * 1000.0,
        reset.as_secs_f64() * 1000.0
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let key = |k: &str| Key {
        key: k.to_string(),
        restore: Vec::new(),
        unmatched: Vec::new(),
        left_out: Vec::new(),
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["workspace", src, dst] => {
            let scratch = Path::new(dst).with_extension("scratch");
            Snapshot::take(Path::new(src), &scratch)
                .and_then(|s| s.materialize(Path::new(dst)))
                .map_err(|e| e.to_string())
        }
        ["workspace-reset", src, dst] => copy_then_reset(Path::new(src), Path::new(dst)),
        ["cache-save", dir, k, store] => JobCache::new(store, DEFAULT_MAX_BYTES)
            .save(&key(k), Path::new(dir), &[".".to_string()])
            .map(|_| ())
            .map_err(|e| e.to_string()),
        ["cache-restore", dir, k, store] => {
            let _ = std::fs::create_dir_all(dir);
            match JobCache::new(store, DEFAULT_MAX_BYTES).restore(&key(k), Path::new(dir)) {
                Ok(Restored::Miss) => Err(format!("no entry {k}")),
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
        _ => Err("usage: bench-tool workspace SRC DST | workspace-reset SRC DST | cache-save DIR KEY STORE | cache-restore DIR KEY STORE".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-tool: {e}");
            ExitCode::FAILURE
        }
    }
}
