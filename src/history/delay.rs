//! How long violations take to resolve: per rule, its episodes, how many resolved and how many
//! are open, the hours from first seen to resolved, and the age of the open ones at the rule's
//! latest evaluated run. Times are as precise as the runs: an episode is first seen at the
//! first run that found it and resolved at the first run that did not.

use super::History;
use crate::error::Result;
use rusqlite::{params, Connection};

/// The episodes of one rule, as hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delay {
    pub episodes: u64,
    /// Hours from first seen to resolved, of each resolved episode, ascending.
    pub time_to_resolve: Vec<f64>,
    /// Hours from first seen to the latest evaluated run, of each open episode, ascending.
    pub open_age: Vec<f64>,
    /// Episodes already open at the first run the rule was evaluated at: they began earlier,
    /// so their times are lower bounds.
    pub open_at_start: u64,
}

impl Delay {
    pub fn resolved(&self) -> u64 {
        self.time_to_resolve.len() as u64
    }

    pub fn open(&self) -> u64 {
        self.open_age.len() as u64
    }

    /// Several rules' episodes together (a platform's).
    pub fn merge(&mut self, other: &Delay) {
        self.episodes += other.episodes;
        self.open_at_start += other.open_at_start;
        self.time_to_resolve.extend(&other.time_to_resolve);
        self.open_age.extend(&other.open_age);
        self.time_to_resolve.sort_by(f64::total_cmp);
        self.open_age.sort_by(f64::total_cmp);
    }
}

/// The delay of `rule` over every run it was evaluated at.
pub fn delay(conn: &Connection, rule: &str) -> Result<Delay> {
    let mut stmt = conn.prepare_cached(
        "WITH span AS (SELECT min(run_id) AS first, max(run_id) AS last FROM evaluations
                       WHERE rule = ?1)
         SELECT f.first_run = span.first,
                (unixepoch(coalesce(rr.taken_at, lr.taken_at)) - unixepoch(fr.taken_at)) / 3600.0,
                f.resolved_run IS NOT NULL
         FROM findings f, span
         JOIN runs fr ON fr.id = f.first_run
         JOIN runs lr ON lr.id = span.last
         LEFT JOIN runs rr ON rr.id = f.resolved_run
         WHERE f.rule = ?1",
    )?;
    let mut d = Delay::default();
    let mut rows = stmt.query(params![rule])?;
    while let Some(r) = rows.next()? {
        d.episodes += 1;
        if r.get::<_, bool>(0)? {
            d.open_at_start += 1;
        }
        let hours: f64 = r.get(1)?;
        if r.get::<_, bool>(2)? {
            d.time_to_resolve.push(hours);
        } else {
            d.open_age.push(hours);
        }
    }
    d.time_to_resolve.sort_by(f64::total_cmp);
    d.open_age.sort_by(f64::total_cmp);
    Ok(d)
}

/// The nearest-rank percentile of ascending `values`: the smallest value with at least `p`%
/// of the values at or below it. None when there are no values.
pub fn percentile(values: &[f64], p: u32) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = (p as usize * values.len()).div_ceil(100).max(1);
    Some(values[rank - 1])
}

/// One rule's delay, with the platform it compares the source of truth with.
pub struct RuleDelay {
    pub rule: String,
    /// The platforms the rule reads besides the source of truth, joined by `+`; None when it
    /// does not compare the source of truth with a platform.
    pub platform: Option<String>,
    pub delay: Delay,
}

/// Each rule's delay over every run (evaluated first where it has not been).
pub fn delays(h: &History<'_>) -> Result<Vec<RuleDelay>> {
    h.backfill(&super::runs_since(h.store, None)?)?;
    let ssot = h.config.map_or("ssot", |c| c.ssot());
    h.rules
        .iter()
        .map(|l| {
            Ok(RuleDelay {
                rule: l.name().to_string(),
                platform: platform_of(&l.rule.sources(), ssot),
                delay: delay(h.store.conn(), l.name())?,
            })
        })
        .collect()
}

/// The platforms a rule reading `sources` compares the source of truth with.
pub fn platform_of(sources: &[&str], ssot: &str) -> Option<String> {
    if !sources.contains(&ssot) {
        return None;
    }
    let mut others: Vec<&str> = sources.iter().copied().filter(|s| *s != ssot).collect();
    others.sort_unstable();
    (!others.is_empty()).then(|| others.join("+"))
}

/// The rules' delays gathered by platform, in order of platform name.
pub fn by_platform(delays: &[RuleDelay]) -> Vec<(String, Vec<String>, Delay)> {
    let mut out: Vec<(String, Vec<String>, Delay)> = Vec::new();
    for d in delays {
        let Some(p) = &d.platform else { continue };
        match out.iter_mut().find(|(name, _, _)| name == p) {
            Some((_, rules, total)) => {
                rules.push(d.rule.clone());
                total.merge(&d.delay);
            }
            None => out.push((p.clone(), vec![d.rule.clone()], d.delay.clone())),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_nearest_rank() {
        let v = [24.0, 24.0, 48.0, 72.0, 72.0];
        assert_eq!(percentile(&v, 50), Some(48.0));
        assert_eq!(percentile(&v, 90), Some(72.0));
        assert_eq!(percentile(&v, 100), Some(72.0));
        assert_eq!(percentile(&v[..1], 90), Some(24.0));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 90), Some(9.0));
        assert_eq!(percentile(&ten, 50), Some(5.0));
        assert_eq!(percentile(&[], 50), None);
    }
}
