//! Five-field cron expressions (minute hour day-of-month month day-of-week, in UTC): `*`,
//! numbers, lists `1,15`, ranges `1-5` and steps `*/15`, `0-30/10`. Day of week 0 or 7 is Sunday.
//! As in cron, when both day fields are restricted, either may match.

use crate::time::Epoch;

#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    any_day: bool,
    any_weekday: bool,
}

fn field(text: &str, min: u32, max: u32) -> Option<Vec<bool>> {
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().ok()?, b.parse().ok()?)
        } else {
            let v: u32 = range.parse().ok()?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Some(set)
}

impl Cron {
    pub fn parse(text: &str) -> Option<Cron> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [m, h, dom, mon, dow] = f.as_slice() else {
            return None;
        };
        let mut weekdays = field(dow, 0, 7)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Some(Cron {
            minutes: field(m, 0, 59)?,
            hours: field(h, 0, 23)?,
            days: field(dom, 1, 31)?,
            months: field(mon, 1, 12)?,
            weekdays,
            any_day: *dom == "*",
            any_weekday: *dow == "*",
        })
    }

    fn matches(&self, t: Epoch) -> bool {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (minute, hour) = ((secs / 60 % 60) as usize, (secs / 3600) as usize);
        // 1970-01-01 was a Thursday (4).
        let weekday = ((days + 4).rem_euclid(7)) as usize;
        let (_, month, day) = civil(days);
        let day_ok = match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => self.days[day],
            (true, false) => self.weekdays[weekday],
            (false, false) => self.days[day] || self.weekdays[weekday],
        };
        self.minutes[minute] && self.hours[hour] && self.months[month] && day_ok
    }

    /// The first minute after `t` that matches (within five years), as seconds since the epoch.
    pub fn next_after(&self, t: Epoch) -> Option<Epoch> {
        let mut m = t.div_euclid(60) * 60 + 60;
        let end = t + 5 * 366 * 86_400;
        while m < end {
            if self.matches(m) {
                return Some(m);
            }
            m += 60;
        }
        None
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, usize, usize) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as usize;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::Cron;

    #[test]
    fn cron_finds_the_next_matching_minute_for_steps_ranges_and_weekdays() {
        let t = crate::time::parse("2026-11-30T02:47:10Z").unwrap();
        let at = |c: &str| crate::time::format(Cron::parse(c).unwrap().next_after(t).unwrap());
        assert_eq!(at("*/15 * * * *"), "2026-11-30T03:00:00Z");
        assert_eq!(at("0 6 * * *"), "2026-11-30T06:00:00Z");
        assert_eq!(at("30 2 * * *"), "2026-12-01T02:30:00Z");
        // 2026-11-30 is a Monday; the next Saturday is 2026-12-05.
        assert_eq!(at("0 9 * * 6"), "2026-12-05T09:00:00Z");
        assert_eq!(at("0 0 1 */3 *"), "2027-01-01T00:00:00Z");
        assert!(Cron::parse("61 * * * *").is_none());
        assert!(Cron::parse("* * *").is_none());
    }
}
