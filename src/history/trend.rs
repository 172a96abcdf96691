//! Violations per run: for each run a rule was evaluated at, how many violations it had and how
//! many of those were pending (younger than its `grace`), counted from the episodes. A violation
//! already there at the rule's first evaluated run is of unknown age, and never pending.

use super::History;
use crate::error::{Error, Result};
use crate::rules::eval::At;
use crate::store::Store;
use rusqlite::{params, Connection};

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub run: i64,
    pub at: String,
    /// Rows (or groups) the rule ranged over.
    pub checked: u64,
    /// Every violation, pending ones included.
    pub violations: u64,
    pub pending: u64,
}

/// The points of `rule` at the runs taken at or after `since` (an ISO time; "" for all), in run
/// order. `grace` is the rule's, in seconds.
pub fn points(
    conn: &Connection,
    rule: &str,
    grace: Option<i64>,
    since: &str,
) -> Result<Vec<Point>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.run_id, r.taken_at, e.checked, count(f.id),
                count(f.id) FILTER (WHERE unixepoch(r.taken_at) - unixepoch(fr.taken_at) < ?3
                                      AND f.first_run > (SELECT min(run_id) FROM evaluations
                                                         WHERE rule = ?1))
         FROM evaluations e
         JOIN runs r ON r.id = e.run_id
         LEFT JOIN findings f ON f.rule = e.rule AND f.last_run >= e.run_id AND f.first_run <= e.run_id
         LEFT JOIN runs fr ON fr.id = f.first_run
         WHERE e.rule = ?1 AND r.taken_at >= ?2
         GROUP BY e.run_id
         ORDER BY e.run_id",
    )?;
    // No grace: nothing is younger than -1 seconds.
    let rows = stmt.query_map(params![rule, since, grace.unwrap_or(-1)], |r| {
        Ok(Point {
            run: r.get(0)?,
            at: r.get(1)?,
            checked: r.get::<_, i64>(2)? as u64,
            violations: r.get::<_, i64>(3)? as u64,
            pending: r.get::<_, i64>(4)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `--since` as the earliest run time it admits: a span counted back from the latest run, or a
/// date/time.
pub fn since_time(store: &Store, since: Option<&str>) -> Result<Option<String>> {
    let Some(s) = since else { return Ok(None) };
    if let Some(secs) = crate::time::parse_duration(s) {
        let (_, latest) = store.resolve_run("latest")?;
        let latest = crate::time::parse(&latest).unwrap_or(0);
        return Ok(Some(crate::time::format(latest - secs)));
    }
    crate::time::normalize(s).map(Some).ok_or_else(|| {
        Error::input(format!(
            "--since `{s}`: expected a span such as 30d, 12h or 2w, or an ISO date/time"
        ))
    })
}

/// Each rule's points at `runs` (evaluated first where they have not been).
pub fn trends(h: &History<'_>, runs: &[At]) -> Result<Vec<(String, Vec<Point>)>> {
    h.backfill(runs)?;
    let since = runs.first().map_or("", |r| r.taken_at.as_str());
    h.rules
        .iter()
        .map(|l| {
            let pts = points(h.store.conn(), l.name(), l.rule.grace, since)?;
            Ok((l.name().to_string(), pts))
        })
        .collect()
}

/// One character per value, `▁` for 0 up to `█` for the largest; a space where there is none.
pub fn sparkline(values: &[Option<u64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if max == 0 => BARS[0],
            // 0 is the lowest bar, the maximum the highest, the rest in proportion.
            Some(v) => BARS[((*v * 7 + max / 2) / max) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparkline_spans_zero_to_the_maximum_and_leaves_gaps_blank() {
        assert_eq!(sparkline(&[Some(0), Some(7), None, Some(3)]), "▁█ ▄");
        assert_eq!(sparkline(&[Some(0), Some(0)]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
