//! Timestamps: parsing the ISO-8601 forms that sources and users write, and the one form the
//! store keeps (`YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds), which sorts as text in time order.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
pub type Epoch = i64;

pub fn now() -> Epoch {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, for waiting until the next second.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), after H. Hinnant.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn format(t: Epoch) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `2026-11-07`, `2026-11-07T06:00:00`, `2026-11-07 06:00`, with optional fractional
/// seconds (dropped) and a zone `Z`, `+02:00`, `+0200` or none (taken as UTC).
pub fn parse(text: &str) -> Option<Epoch> {
    let s = text.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut rest = &s[10..];
    let (mut h, mut mi, mut se) = (0, 0, 0);
    if let Some(r) = rest.strip_prefix(['T', 't', ' ']) {
        let t = r.as_bytes();
        if t.len() < 5 || t[2] != b':' {
            return None;
        }
        h = r[0..2].parse().ok()?;
        mi = r[3..5].parse().ok()?;
        rest = &r[5..];
        if let Some(r) = rest.strip_prefix(':') {
            se = r.get(0..2)?.parse().ok()?;
            rest = &r[2..];
            if let Some(r) = rest.strip_prefix(['.', ',']) {
                rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
            }
        }
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = digits[0..2].parse().ok()?;
            let om: i64 = digits[2..4].parse().ok()?;
            // Zones on Earth run from -12:00 to +14:00.
            if om > 59 || oh * 60 + om > 14 * 60 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Seconds in a duration written `30d`, `12h`, `90m`, `45s` or `2w`, or None when it is not one.
pub fn parse_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    let unit = match t.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    let n: i64 = t[..t.len() - 1].parse().ok().filter(|n| *n >= 0)?;
    n.checked_mul(unit)
}

/// A span of seconds as people say it: `45m`, `5h`, `3d`, `2d 6h`.
pub fn format_span(secs: i64) -> String {
    let m = secs.max(0) / 60;
    let (d, h, m) = (m / 1440, m / 60 % 24, m % 60);
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The store's form of a timestamp given as text, or None when it is not one.
pub fn normalize(text: &str) -> Option<String> {
    parse(text).map(format)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_parse_and_spans_read_as_people_say_them() {
        assert_eq!(super::parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(super::parse_duration("90m"), Some(5400));
        assert_eq!(super::parse_duration("2w"), Some(1_209_600));
        assert_eq!(super::parse_duration("3x"), None);
        assert_eq!(super::parse_duration("-1d"), None);
        assert_eq!(super::parse_duration("d"), None);
        assert_eq!(super::format_span(45 * 60), "45m");
        assert_eq!(super::format_span(5 * 3600), "5h");
        assert_eq!(super::format_span(5 * 3600 + 600), "5h 10m");
        assert_eq!(super::format_span(3 * 86_400), "3d");
        assert_eq!(super::format_span(2 * 86_400 + 6 * 3600), "2d 6h");
    }

    use super::*;

    #[test]
    fn formats_and_parses_round_trip_across_leap_days() {
        for t in [0, 951_782_400, 1_709_164_800, 1_793_944_800, -86_400] {
            assert_eq!(parse(&format(t)), Some(t), "{}", format(t));
        }
        assert_eq!(format(1_709_164_800), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn accepts_the_forms_sources_write_and_converts_offsets_to_utc() {
        assert_eq!(normalize("2026-11-07").unwrap(), "2026-11-07T00:00:00Z");
        assert_eq!(
            normalize("2026-11-07 06:30").unwrap(),
            "2026-11-07T06:30:00Z"
        );
        assert_eq!(
            normalize("2024-03-01T09:12:00").unwrap(),
            "2024-03-01T09:12:00Z"
        );
        assert_eq!(
            normalize("2024-03-01T09:12:00.123Z").unwrap(),
            "2024-03-01T09:12:00Z"
        );
        assert_eq!(
            normalize("2024-03-01T09:12:00+02:00").unwrap(),
            "2024-03-01T07:12:00Z"
        );
        assert_eq!(
            normalize("2024-03-01T01:00:00-0130").unwrap(),
            "2024-03-01T02:30:00Z"
        );
    }

    #[test]
    fn rejects_impossible_dates_and_garbage() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-01-01T25:00",
            "2024-01-01X",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn impossible_utc_offsets_are_refused_and_real_ones_kept() {
        for bad in [
            "2026-11-07T06:00:00+23:60",
            "2026-11-07T06:00:00+99:00",
            "2026-11-07T06:00:00-14:30",
            "2026-11-07T06:00:00+0075",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let utc = parse("2026-11-07T06:00:00Z").unwrap();
        assert_eq!(parse("2026-11-07T20:00:00+14:00"), Some(utc));
        assert_eq!(parse("2026-11-06T18:00:00-12:00"), Some(utc));
        assert_eq!(parse("2026-11-07T11:45:00+05:45"), Some(utc));
    }
}
