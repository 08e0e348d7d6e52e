//! Command output on stdout that survives its reader going away.
//!
//! `wharf runs | head -1` closes the pipe after one line; the next write fails with
//! `EPIPE` (Rust ignores `SIGPIPE`, so it is not killed as `cat` would be). `println!`
//! panics on that. Commands write through [`write`] (the `outln!` and `out!` macros)
//! instead: a closed reader ends the process quietly with success, what a Unix filter
//! does; any other write error is reported once.

use std::io::Write;

/// Writes `args` to stdout (see the module).
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing the output: {e}");
        std::process::exit(1);
    }
}
