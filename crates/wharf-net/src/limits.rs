//! The three network limits and where they come from: the `WHARF_NET_*` environment
//! variables (the names live here and nowhere else), else the defaults.
//!
//! Defaults, and why:
//! - connect, 10 s: a TCP (and TLS) handshake with a registry, an index or a forge takes
//!   milliseconds; ten seconds without one means the host is down or filtered, and a CI
//!   step should say so rather than wait out the kernel's two minutes.
//! - idle, 60 s: no byte read or written for that long. Long enough for a registry to
//!   move a large blob into its storage after the upload (an S3-backed registry copies
//!   it before answering) and the same as the read timeout of nginx, which fronts most
//!   of them; short enough that a stalled peer fails the step in about a minute.
//! - overall, 1 h per request: the idle limit already catches a peer that stops; this
//!   one catches a peer that trickles. One hour moves a 3.5 GiB layer at 1 MB/s, more
//!   than a CI image should hold.

use std::fmt;
use std::time::Duration;

use crate::NetError;

/// The environment variable for the connect limit.
pub const CONNECT_ENV: &str = "WHARF_NET_CONNECT_TIMEOUT";
/// The environment variable for the idle limit.
pub const IDLE_ENV: &str = "WHARF_NET_IDLE_TIMEOUT";
/// The environment variable for the overall limit of one request.
pub const TIMEOUT_ENV: &str = "WHARF_NET_TIMEOUT";

/// The longest value any limit takes: beyond a week it is a typo, not a wish.
const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a network request may take, phase by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Establishing the connection (TCP and TLS).
    pub connect: Duration,
    /// No byte read or written, from the start of a request to the last byte of its
    /// answer: a peer that stops reading an upload, never answers, or stops sending.
    pub idle: Duration,
    /// One request from start to the last byte of its answer, however busy.
    pub total: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(3600),
        }
    }
}

impl Limits {
    /// The limits from the `WHARF_NET_*` variables, each defaulted when unset or empty;
    /// a value that is not a duration is an error naming the variable.
    pub fn from_env() -> Result<Limits, NetError> {
        Limits::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Limits::from_env`] over any lookup (for tests and other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits, NetError> {
        let d = Limits::default();
        let get = |name: &'static str, default: Duration| match lookup(name) {
            Some(v) if !v.trim().is_empty() => {
                parse_duration(&v).map_err(|reason| NetError::BadLimit {
                    name,
                    value: v.clone(),
                    reason,
                })
            }
            _ => Ok(default),
        };
        Ok(Limits {
            connect: get(CONNECT_ENV, d.connect)?,
            idle: get(IDLE_ENV, d.idle)?,
            total: get(TIMEOUT_ENV, d.total)?,
        })
    }
}

/// Reads a duration as `500ms`, `30s`, `2m`, `1h`, or combined (`1m30s`); a bare number
/// is seconds. Zero and more than a week are refused: either would be a way to hang.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return check(
            s.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| "the number is too large".to_string())?,
        );
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => return Err(format!("`{n}` needs a unit (ms, s, m, h)")),
            other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
        };
        total = total.saturating_add(part);
    }
    check(total)
}

fn check(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("it must be more than 0".into())
    } else if d > MAX {
        Err("it must be at most a week (168h)".into())
    } else {
        Ok(d)
    }
}

/// A duration the way the limits are written: `2s`, `1m30s`, `1h`, `500ms`.
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_millis() != 0 && d < Duration::from_secs(10) {
            return write!(f, "{}ms", d.as_millis());
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 || secs == 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_written() {
        for (text, want) in [
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            (" 45 ", 45_000),
            ("7", 7_000),
        ] {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(want),
                "{text}"
            );
        }
        for bad in [
            "", "s", "10x", "0", "0s", "-5s", "1.5s", "10 s", "200h", "5d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_environment_overrides_each_limit_and_names_a_bad_one() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Limits::from_lookup(env(&[])).unwrap(), Limits::default());
        let l = Limits::from_lookup(env(&[(IDLE_ENV, "2s"), (CONNECT_ENV, "")])).unwrap();
        assert_eq!(l.idle, Duration::from_secs(2));
        assert_eq!(l.connect, Limits::default().connect, "empty means unset");
        let err = Limits::from_lookup(env(&[(TIMEOUT_ENV, "soon")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WHARF_NET_TIMEOUT") && err.contains("`soon`"),
            "{err}"
        );
    }

    #[test]
    fn durations_print_as_written() {
        for (d, text) in [
            (Duration::from_secs(2), "2s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(2500), "2500ms"),
        ] {
            assert_eq!(Human(d).to_string(), text);
        }
    }
}
