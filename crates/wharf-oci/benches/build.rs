//! Times the daemonless builder on a tree, cold and after one file changed, against
//! `tar | gzip -1` and `umoci insert` run on the same tree in the same run.
//!
//! usage: `[WHARF_BENCH_BASE=LAYOUT:TAG] cargo bench -p wharf-oci --bench build -- TREE
//! [CHANGE_REL_PATH]`
//! (generate the benchmark tree with `python3 bench/gen-app.py /tmp/c-app 42 2000 150
//! /tmp/c-meta`; the change target is in `/tmp/c-meta/app.change-target`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wharf_oci::build::{
    Base, BuildRequest, Compression, LayerOrigin, LayerSpec, NoProgress, build,
};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(tree) = args.first().map(PathBuf::from) else {
        eprintln!("usage: build TREE [CHANGE_REL_PATH]");
        return;
    };
    let change = args.get(1).cloned();
    let work = tempfile::tempdir().expect("temp dir");
    // WHARF_BENCH_KEEP=1 keeps the layouts (e.g. to time a push of them) and prints where.
    let work = if std::env::var_os("WHARF_BENCH_KEEP").is_some() {
        let kept = work.keep();
        println!("layouts kept in {}", kept.display());
        Work::Kept(kept)
    } else {
        Work::Temp(work)
    };
    for compression in [Compression::Gzip, Compression::Zstd] {
        run(&tree, work.path(), compression, change.as_deref());
    }
    baselines(&tree, work.path());
}

/// The bench's scratch directory, removed at the end unless kept.
enum Work {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Work {
    fn path(&self) -> &Path {
        match self {
            Work::Temp(t) => t.path(),
            Work::Kept(p) => p,
        }
    }
}

fn request(work: &Path, tree: &Path, compression: Compression) -> BuildRequest {
    let mut req = BuildRequest::new(work.join(format!("{compression:?}-out")), "v1");
    req.layers.push(LayerSpec {
        src: tree.to_owned(),
        dest: "/app/".into(),
    });
    req.created = 1_577_836_800;
    req.compression = compression;
    req.cache_dir = Some(work.join(format!("{compression:?}-cache")));
    req.config.cmd = Some(vec!["/bin/sh".into()]);
    // WHARF_BENCH_BASE=LAYOUT:TAG builds on a base, like bench/c-image.sh does.
    if let Some((path, tag)) = std::env::var("WHARF_BENCH_BASE")
        .ok()
        .as_deref()
        .and_then(|b| b.rsplit_once(':'))
    {
        req.base = Base::Layout {
            path: path.into(),
            tag: Some(tag.into()),
        };
    }
    req
}

/// Cold builds (fresh layout and cache) this many times; the median is reported.
const REPS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(tree: &Path, work: &Path, compression: Compression, change: Option<&str>) {
    let mut cold = Vec::new();
    let mut last = None;
    for rep in 0..REPS {
        let req = request(&work.join(format!("rep{rep}")), tree, compression);
        let t = Instant::now();
        let built = build(&req, &NoProgress).expect("cold build");
        cold.push(t.elapsed().as_secs_f64());
        last = Some((req, built));
    }
    let (req, built) = last.expect("at least one rep");
    println!(
        "{compression:?} cold: {:.3} s (median of {REPS}: {cold:.3?}), {} layers, {:.1} MiB written",
        median(cold.clone()),
        built.layers.len(),
        built.written_bytes as f64 / 1048576.0
    );
    let t = Instant::now();
    let again = build(&req, &NoProgress).expect("no-op build");
    println!(
        "{compression:?} unchanged: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(again.manifest_digest, built.manifest_digest);
    if let Some(rel) = change {
        let path = tree.join(rel);
        let orig = std::fs::read(&path).expect("change target");
        let mut changed = orig.clone();
        changed.extend_from_slice(b"changed by bench\n");
        std::fs::write(&path, &changed).expect("write change");
        let t = Instant::now();
        let inc = build(&req, &NoProgress).expect("incremental build");
        println!(
            "{compression:?} one file changed: {:.3} s, {:.2} MiB written, {} of {} layers rebuilt",
            t.elapsed().as_secs_f64(),
            inc.written_bytes as f64 / 1048576.0,
            inc.layers
                .iter()
                .filter(|l| l.origin == LayerOrigin::Built)
                .count(),
            inc.layers.len()
        );
        std::fs::write(&path, &orig).expect("restore change");
    }
}

fn baselines(tree: &Path, work: &Path) {
    let sh = |script: &str| {
        let t = Instant::now();
        let ok = Command::new("sh")
            .arg("-c")
            .arg(script)
            .status()
            .is_ok_and(|s| s.success());
        (t.elapsed().as_secs_f64(), ok)
    };
    let tree = tree.display();
    let w = work.display();
    let (s, ok) = sh(&format!(
        "tar -C {tree} --sort=name -cf - . | gzip -1 > {w}/base.tgz"
    ));
    println!("tar | gzip -1: {s:.3} s (ok {ok})");
    let (s, ok) = sh(&format!(
        "tar -C {tree} --sort=name -cf - . | gzip -6 > {w}/base6.tgz"
    ));
    println!("tar | gzip -6: {s:.3} s (ok {ok})");
    let (_, ok) = sh(&format!(
        "umoci init --layout {w}/umoci >/dev/null && umoci new --image {w}/umoci:v1 >/dev/null"
    ));
    if ok {
        let (s, ok) = sh(&format!(
            "umoci insert --rootless --image {w}/umoci:v1 {tree} /app >/dev/null"
        ));
        println!("umoci insert: {s:.3} s (ok {ok})");
    }
}
