//! The workspace and cache code on their own, for the peer benchmarks (workloads E and G in
//! `../shared/bench`), which time one operation against `cp`, `git worktree` and `tar | zstd`.
//!
//! ```text
//! bench-tool workspace SRC DST          # a job workspace of SRC (git view) at DST
//! bench-tool cache-save DIR KEY STORE   # save DIR's contents under KEY in the cache STORE
//! bench-tool cache-restore DIR KEY STORE
//! ```

use std::path::Path;
use std::process::ExitCode;

use wharf_engine::cache::{DEFAULT_MAX_BYTES, JobCache, Key, Restored};
use wharf_engine::workspace::Snapshot;

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
        _ => Err("usage: bench-tool workspace SRC DST | cache-save DIR KEY STORE | cache-restore DIR KEY STORE".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-tool: {e}");
            ExitCode::FAILURE
        }
    }
}
