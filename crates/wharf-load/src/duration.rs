//! Durations as people write them in a pipeline file (`30s`, `250ms`, `1m30s`), so a
//! spec never carries a bare number whose unit the reader has to guess.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A [`Duration`] read from and written as text: a sequence of a number and a unit,
/// `us`, `ms`, `s`, `m` or `h` (`30s`, `250ms`, `1.5s`, `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// `secs` seconds.
    pub const fn secs(secs: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(secs))
    }

    /// `ms` milliseconds.
    pub const fn millis(ms: u64) -> HumanDuration {
        HumanDuration(Duration::from_millis(ms))
    }

    /// Parses `30s`, `250ms`, `1m30s`; the error says what is wrong with the text.
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        parse(text).map(HumanDuration)
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> HumanDuration {
        HumanDuration(d)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

/// Written in the largest unit that holds it exactly: `2m`, `30s`, `1500ms`, `250us`.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        let (n, unit) = match us {
            0 => (0, "s"),
            _ if us.is_multiple_of(3_600_000_000) => (us / 3_600_000_000, "h"),
            _ if us.is_multiple_of(60_000_000) => (us / 60_000_000, "m"),
            _ if us.is_multiple_of(1_000_000) => (us / 1_000_000, "s"),
            _ if us.is_multiple_of(1_000) => (us / 1_000, "ms"),
            _ => (us, "us"),
        };
        write!(f, "{n}{unit}")
    }
}

const UNITS: &str = "us, ms, s, m or h";

fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("an empty duration; write e.g. \"30s\" or \"250ms\"".to_owned());
    }
    let mut rest = t;
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let letters = tail
            .find(|c: char| !(c.is_alphabetic()))
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(letters);
        if number.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: expected a number before {:?}",
                if unit.is_empty() { tail } else { unit }
            ));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: {number:?} is not a number"))?;
        let scale = match unit {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: the number {number} needs a unit ({UNITS}), \
                     e.g. \"{number}s\""
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use {UNITS})"
                ));
            }
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {text:?}: too long"))
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A latency in microseconds for people: `850 us`, `5.21 ms`, `1.50 s`.
pub(crate) fn format_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0} us")
    } else if us < 1_000_000.0 {
        let ms = us / 1_000.0;
        if ms < 100.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.0} ms")
        }
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Duration, String> {
        HumanDuration::parse(s).map(|d| d.0)
    }

    #[test]
    fn parses_units_fractions_and_sequences() {
        assert_eq!(p("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(p("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(p("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(p("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(p(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_it_cannot_read_saying_why() {
        assert_eq!(
            p("30").unwrap_err(),
            "invalid duration \"30\": the number 30 needs a unit (us, ms, s, m or h), e.g. \"30s\""
        );
        assert_eq!(
            p("30 seconds").unwrap_err(),
            "invalid duration \"30 seconds\": the number 30 needs a unit (us, ms, s, m or h), \
             e.g. \"30s\""
        );
        assert_eq!(
            p("s").unwrap_err(),
            "invalid duration \"s\": expected a number before \"s\""
        );
        assert_eq!(
            p("3d").unwrap_err(),
            "invalid duration \"3d\": unknown unit \"d\" (use us, ms, s, m or h)"
        );
        assert_eq!(
            p("1.2.3s").unwrap_err(),
            "invalid duration \"1.2.3s\": \"1.2.3\" is not a number"
        );
        assert_eq!(
            p("").unwrap_err(),
            "an empty duration; write e.g. \"30s\" or \"250ms\""
        );
    }

    #[test]
    fn displays_in_the_largest_exact_unit_and_round_trips() {
        for (d, s) in [
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(250), "250us"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(HumanDuration(d).to_string(), s);
            assert_eq!(p(s), Ok(d));
        }
        let json = serde_json::to_string(&HumanDuration::millis(250)).unwrap();
        assert_eq!(json, "\"250ms\"");
        let back: HumanDuration = serde_json::from_str(&json).unwrap();
        assert_eq!(back, HumanDuration::millis(250));
        let err = serde_json::from_str::<HumanDuration>("30").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid type: integer `30`, expected a duration such as \"30s\""),
            "{err}"
        );
    }

    #[test]
    fn formats_latencies_for_people() {
        assert_eq!(format_us(850.0), "850 us");
        assert_eq!(format_us(5_210.0), "5.21 ms");
        assert_eq!(format_us(250_000.0), "250 ms");
        assert_eq!(format_us(1_500_000.0), "1.50 s");
    }
}
