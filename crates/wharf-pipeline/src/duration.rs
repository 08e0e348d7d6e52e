//! Durations in pipeline files: `500ms`, `30s`, `10m`, `2h`, `1h30m`.

/// Parses a duration into milliseconds. Units are `h`, `m`, `s` and `ms`, each at most
/// once and from largest to smallest (`1h30m`, not `30m1h`); `None` when the text is not
/// such a duration or overflows.
pub fn duration_ms(text: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = text;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let index = UNITS.iter().position(|(u, _)| *u == unit)?;
        if index < next_unit {
            return None;
        }
        next_unit = index + 1;
        total = total.checked_add(number.checked_mul(UNITS[index].1)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(duration_ms("500ms"), Some(500));
        assert_eq!(duration_ms("30s"), Some(30_000));
        assert_eq!(duration_ms("10m"), Some(600_000));
        assert_eq!(duration_ms("2h"), Some(7_200_000));
        assert_eq!(duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(duration_ms("1m30s250ms"), Some(90_250));
        assert_eq!(duration_ms("0s"), Some(0));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "30m1h",
            "1h1h",
            " 1h",
            "1h ",
            "-1s",
            "1H",
            "99999999999999999999h",
        ] {
            assert_eq!(duration_ms(bad), None, "{bad:?}");
        }
    }
}
