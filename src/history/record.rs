//! Recording a rule's violations at a run as episodes.
//!
//! Episodes are a function of the evaluated runs and the keys violated at each: a maximal
//! streak of consecutive evaluated runs where a key is violated is one episode. Recording run R
//! can only change what lies between the evaluated runs next to it (`prev` < R < `next`), so
//! only the episodes that touch `prev`, R or `next` are read and rewritten. That makes the
//! order of evaluation irrelevant: evaluating a past run after later ones (a backfill) gives the
//! episodes that evaluating in order gives, and evaluating a run again changes nothing.

use crate::error::Result;
use crate::rules::eval::Violation;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;
use std::collections::HashMap;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// How a violation looked at the run being recorded: its subject and fields as stored.
pub(crate) struct Seen {
    pub subject: Option<String>,
    pub fields: String,
}

impl Episode {
    /// An episode from columns `at`… of a row: first_run, last_run, resolved_run, subject,
    /// fields.
    pub fn from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Episode> {
        Ok(Episode {
            first: r.get(at)?,
            last: r.get(at + 1)?,
            resolved: r.get(at + 2)?,
            subject: r.get(at + 3)?,
            fields: r.get(at + 4)?,
        })
    }
}

impl Seen {
    pub fn of(v: &Violation) -> Seen {
        Seen {
            subject: v.subject.as_ref().map(Json::to_string),
            fields: fields_text(v),
        }
    }
}

/// One episode of one key.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Episode {
    pub first: i64,
    pub last: i64,
    pub resolved: Option<i64>,
    pub subject: Option<String>,
    pub fields: String,
}

/// The text a key is stored and compared as.
pub fn key_text(key: &[Json]) -> String {
    serde_json::to_string(key).expect("JSON values serialize")
}

/// The shown fields as a JSON object, written straight from the violation (nothing copied).
fn fields_text(v: &Violation) -> String {
    struct Fields<'v>(&'v [(String, Json)]);
    impl serde::Serialize for Fields<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
    serde_json::to_string(&Fields(&v.fields)).expect("JSON values serialize")
}

/// The first run `rule` was evaluated at, if any.
pub fn first_evaluated(conn: &Connection, rule: &str) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT min(run_id) FROM evaluations WHERE rule = ?1",
        [rule],
        |r| r.get(0),
    )?)
}

/// Forgets the history of `rule` when it was recorded for another version of its text.
/// Returns whether it did.
pub fn reset_if_changed(conn: &Connection, rule: &str, fingerprint: &str) -> Result<bool> {
    let recorded: Option<String> = conn
        .query_row(
            "SELECT fingerprint FROM evaluations WHERE rule = ?1 AND fingerprint != ?2 LIMIT 1",
            params![rule, fingerprint],
            |r| r.get(0),
        )
        .optional()?;
    if recorded.is_none() {
        return Ok(false);
    }
    conn.execute("DELETE FROM findings WHERE rule = ?1", [rule])?;
    conn.execute("DELETE FROM evaluations WHERE rule = ?1", [rule])?;
    Ok(true)
}

/// Records that `rule` found `violations` among `ranged` rows at `run`. Returns, for each
/// violation in order, the first run of its episode.
pub fn record(
    conn: &Connection,
    rule: &str,
    fingerprint: &str,
    run: i64,
    ranged: u64,
    violations: &[Violation],
) -> Result<Vec<i64>> {
    // Immediate: the write lock is taken (waiting for a running collection, as `collect`
    // waits) before anything is read, so the episodes read are the ones rewritten.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    reset_if_changed(&tx, rule, fingerprint)?;
    if let Some(first_runs) = recorded_already(&tx, rule, fingerprint, run, violations)? {
        return Ok(first_runs);
    }
    let (prev, next) = neighbours(&tx, rule, run)?;

    // The episodes that contain prev, run or next, by key.
    let old = episodes_between(&tx, rule, prev.unwrap_or(run), next.unwrap_or(run))?;
    let current = by_key(violations);

    let mut keys: Vec<&String> = old.keys().collect();
    keys.extend(current.keys().filter(|k| !old.contains_key(*k)));
    // In key order: the findings' key index then takes its entries in order, not scattered.
    keys.sort_unstable();
    let mut first_runs = vec![0; violations.len()];
    let mut writes = Writes::new(&tx)?;
    for key in keys {
        let before: &[(i64, Episode)] = old.get(key).map_or(&[], Vec::as_slice);
        let now = current.get(key).map(|&i| Seen::of(&violations[i]));
        let after = rebuild(before, prev, run, next, now);
        if let Some(&i) = current.get(key) {
            first_runs[i] = after
                .iter()
                .find(|e| e.first <= run && run <= e.last)
                .map_or(run, |e| e.first);
        }
        writes.key(rule, key, before, &after)?;
    }
    drop(writes);
    evaluated(&tx, rule, fingerprint, run, ranged)?;
    tx.commit()?;
    Ok(first_runs)
}

/// The runs `rule` was evaluated at just before and just after `run`.
pub(super) fn neighbours(
    tx: &Connection,
    rule: &str,
    run: i64,
) -> Result<(Option<i64>, Option<i64>)> {
    let neighbour = |sql: &str| -> rusqlite::Result<Option<i64>> {
        tx.query_row(sql, params![rule, run], |r| r.get(0))
    };
    Ok((
        neighbour("SELECT max(run_id) FROM evaluations WHERE rule = ?1 AND run_id < ?2")?,
        neighbour("SELECT min(run_id) FROM evaluations WHERE rule = ?1 AND run_id > ?2")?,
    ))
}

/// What a rule found at one run: the run, how many rows it ranged over, its violations.
pub type AtRun<'v> = (i64, u64, &'v [Violation]);

/// Records two runs a rule was evaluated at together (`backfill`'s pairs), neither recorded
/// before, in one pass: each key's episodes are rebuilt for the earlier run, then for the
/// later, and written once (an episode both runs have is inserted once, not inserted and then
/// extended).
pub fn record_two(
    conn: &Connection,
    rule: &str,
    fingerprint: &str,
    two: [AtRun<'_>; 2],
) -> Result<()> {
    let mut two = two;
    two.sort_by_key(|f| f.0);
    let [(ra, ranged_a, va), (rb, ranged_b, vb)] = two;
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    reset_if_changed(&tx, rule, fingerprint)?;
    let Some(plan) = Two::plan(&tx, rule, ra, rb)? else {
        drop(tx);
        for (run, ranged, violations) in [(ra, ranged_a, va), (rb, ranged_b, vb)] {
            record(conn, rule, fingerprint, run, ranged, violations)?;
        }
        return Ok(());
    };
    let old = episodes_between(&tx, rule, plan.lo, plan.hi)?;
    let (now_a, now_b) = (by_key(va), by_key(vb));
    let mut keys: Vec<&String> = old.keys().collect();
    keys.extend(now_a.keys().filter(|k| !old.contains_key(*k)));
    keys.extend(
        now_b
            .keys()
            .filter(|k| !old.contains_key(*k) && !now_a.contains_key(*k)),
    );
    keys.sort_unstable();
    let mut writes = Writes::new(&tx)?;
    for key in keys {
        let before: &[(i64, Episode)] = old.get(key).map_or(&[], Vec::as_slice);
        let seen = |now: &ByKey<usize>, vs: &[Violation]| now.get(key).map(|&i| Seen::of(&vs[i]));
        let after = plan.after(before, seen(&now_a, va), seen(&now_b, vb));
        writes.key(rule, key, before, &after)?;
    }
    drop(writes);
    evaluated(&tx, rule, fingerprint, ra, ranged_a)?;
    evaluated(&tx, rule, fingerprint, rb, ranged_b)?;
    tx.commit()?;
    Ok(())
}

/// Two runs recorded together, the earlier first, neither recorded before: the evaluated runs
/// around each (the earlier counting as evaluated for the later), and the span of runs whose
/// episodes can change.
pub(super) struct Two {
    runs: [(i64, Option<i64>, Option<i64>); 2],
    /// The episodes to read: those that touch the runs from `lo` to `hi`.
    pub lo: i64,
    pub hi: i64,
}

impl Two {
    /// None when the runs cannot be recorded together (one run twice, or one already
    /// recorded): each is then recorded alone.
    pub fn plan(tx: &Connection, rule: &str, ra: i64, rb: i64) -> Result<Option<Two>> {
        let mut done: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT run_id FROM evaluations WHERE rule = ?1")?;
            let runs = stmt.query_map([rule], |r| r.get(0))?;
            runs.collect::<rusqlite::Result<_>>()?
        };
        if ra >= rb || done.contains(&ra) || done.contains(&rb) {
            return Ok(None);
        }
        let around = |done: &[i64], run: i64| {
            (
                done.iter().copied().filter(|r| *r < run).max(),
                done.iter().copied().filter(|r| *r > run).min(),
            )
        };
        let (prev_a, next_a) = around(&done, ra);
        done.push(ra);
        let (prev_b, next_b) = around(&done, rb);
        Ok(Some(Two {
            runs: [(ra, prev_a, next_a), (rb, prev_b, next_b)],
            lo: prev_a.unwrap_or(ra),
            hi: next_a.unwrap_or(ra).max(next_b.unwrap_or(rb)),
        }))
    }

    /// A key's episodes once both runs are recorded into `before`: each run rebuilds those
    /// around it and keeps the others.
    pub fn after(
        &self,
        before: &[(i64, Episode)],
        seen_a: Option<Seen>,
        seen_b: Option<Seen>,
    ) -> Vec<Episode> {
        let mut episodes = before.to_vec();
        for ((run, prev, next), now) in self.runs.into_iter().zip([seen_a, seen_b]) {
            let (p, n) = (prev.unwrap_or(run), next.unwrap_or(run));
            let (touch, keep): (Vec<_>, Vec<_>) = episodes
                .into_iter()
                .partition(|(_, e)| e.last >= p && e.first <= n);
            episodes = rebuild(&touch, prev, run, next, now)
                .into_iter()
                .map(|e| (0, e))
                .collect();
            episodes.extend(keep);
        }
        episodes.sort_by_key(|(_, e)| e.first);
        episodes.into_iter().map(|(_, e)| e).collect()
    }
}

/// Episodes keyed by their key's text.
type ByKey<T> = HashMap<String, T, Xxh3DefaultBuilder>;

/// The episodes of `rule` that touch the runs from `lo` to `hi`, with their ids, by key.
fn episodes_between(
    tx: &Connection,
    rule: &str,
    lo: i64,
    hi: i64,
) -> Result<ByKey<Vec<(i64, Episode)>>> {
    let mut old: ByKey<Vec<(i64, Episode)>> = HashMap::default();
    let mut stmt = tx.prepare_cached(
        "SELECT id, key, first_run, last_run, resolved_run, subject, fields FROM findings
         WHERE rule = ?1 AND last_run >= ?2 AND first_run <= ?3",
    )?;
    let mut rows = stmt.query(params![rule, lo, hi])?;
    while let Some(r) = rows.next()? {
        old.entry(r.get(1)?)
            .or_default()
            .push((r.get(0)?, Episode::from_row(r, 2)?));
    }
    Ok(old)
}

/// Each violation's place in `violations`, by its key's text.
fn by_key(violations: &[Violation]) -> ByKey<usize> {
    violations
        .iter()
        .enumerate()
        .map(|(i, v)| (key_text(&v.key), i))
        .collect()
}

/// The statements that rewrite a key's episodes.
pub(super) struct Writes<'t> {
    update: rusqlite::CachedStatement<'t>,
    delete: rusqlite::CachedStatement<'t>,
    insert: rusqlite::CachedStatement<'t>,
}

impl<'t> Writes<'t> {
    pub fn new(tx: &'t Connection) -> Result<Writes<'t>> {
        Ok(Writes {
            update: tx.prepare_cached(
                "UPDATE findings SET first_run = ?2, last_run = ?3, resolved_run = ?4, subject = ?5,
                        fields = ?6 WHERE id = ?1",
            )?,
            delete: tx.prepare_cached("DELETE FROM findings WHERE id = ?1")?,
            insert: tx.prepare_cached(
                "INSERT INTO findings (rule, key, first_run, last_run, resolved_run, subject, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
        })
    }

    /// Replaces `key`'s episodes `before` with `after`, touching only what changed.
    pub fn key(
        &mut self,
        rule: &str,
        key: &str,
        before: &[(i64, Episode)],
        after: &[Episode],
    ) -> Result<()> {
        match (before, after) {
            ([(id, b)], [a]) => {
                if b != a {
                    self.update.execute(params![
                        id, a.first, a.last, a.resolved, a.subject, a.fields
                    ])?;
                }
            }
            _ => {
                for (id, _) in before {
                    self.delete.execute([id])?;
                }
                for a in after {
                    self.insert.execute(params![
                        rule, key, a.first, a.last, a.resolved, a.subject, a.fields
                    ])?;
                }
            }
        }
        Ok(())
    }
}

/// Notes that `rule` was evaluated at `run`, ranging over `ranged` rows.
pub(super) fn evaluated(
    tx: &Connection,
    rule: &str,
    fingerprint: &str,
    run: i64,
    ranged: u64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO evaluations (rule, run_id, fingerprint, checked, evaluated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (rule, run_id) DO UPDATE SET fingerprint = ?3, checked = ?4",
        params![
            rule,
            run,
            fingerprint,
            ranged as i64,
            crate::time::format(crate::time::now())
        ],
    )?;
    Ok(())
}

/// When `rule` (this version of it) was evaluated at `run` before and found the same keys,
/// the episodes are as they should be (a run's data never changes, nor what a rule finds in
/// it): the first run of each violation's episode, read instead of rebuilding every episode.
/// None when the run must be recorded.
fn recorded_already(
    tx: &Connection,
    rule: &str,
    fingerprint: &str,
    run: i64,
    violations: &[Violation],
) -> Result<Option<Vec<i64>>> {
    let same: bool = tx
        .query_row(
            "SELECT 1 FROM evaluations WHERE rule = ?1 AND run_id = ?2 AND fingerprint = ?3",
            params![rule, run, fingerprint],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !same {
        return Ok(None);
    }
    let mut first: ByKey<i64> = HashMap::default();
    first.reserve(violations.len());
    let mut stmt = tx.prepare_cached(
        "SELECT key, first_run FROM findings WHERE rule = ?1 AND first_run <= ?2 AND last_run >= ?2",
    )?;
    let mut rows = stmt.query(params![rule, run])?;
    while let Some(r) = rows.next()? {
        first.insert(r.get(0)?, r.get(1)?);
    }
    if first.len() != violations.len() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(violations.len());
    for v in violations {
        match first.get(&key_text(&v.key)) {
            Some(&f) => out.push(f),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// A key's episodes around `run` once it is known whether `run` has it (`now`), given the
/// episodes that contained `prev`, `run` or `next` before.
pub(super) fn rebuild(
    before: &[(i64, Episode)],
    prev: Option<i64>,
    run: i64,
    next: Option<i64>,
    now: Option<Seen>,
) -> Vec<Episode> {
    let containing = |r: Option<i64>| {
        r.and_then(|r| {
            before
                .iter()
                .map(|(_, e)| e)
                .find(|e| e.first <= r && r <= e.last)
        })
    };
    let (at_prev, at_next) = (containing(prev), containing(next));
    // The evaluated runs in order, each with whether the key is violated there.
    let mut points: Vec<(i64, bool)> = Vec::with_capacity(3);
    if let Some(p) = prev {
        points.push((p, at_prev.is_some()));
    }
    points.push((run, now.is_some()));
    let mut now = now;
    if let Some(n) = next {
        points.push((n, at_next.is_some()));
    }
    let mut out = Vec::new();
    let mut open: Option<Episode> = None;
    for (r, violated) in points {
        if !violated {
            if let Some(mut e) = open.take() {
                e.resolved = Some(r);
                out.push(e);
            }
            continue;
        }
        // What the key looked like at r: as recorded, or as found now.
        let seen = if r == run {
            let v = now.take().expect("violated at run");
            Episode {
                first: run,
                last: run,
                resolved: None,
                subject: v.subject,
                fields: v.fields,
            }
        } else if Some(r) == prev {
            // Up to prev only: whether it goes on is for the points after it to say.
            let e = at_prev.expect("violated at prev");
            Episode {
                last: r,
                resolved: None,
                ..e.clone()
            }
        } else {
            // From next on, as recorded.
            let e = at_next.expect("violated at next");
            Episode {
                first: r,
                ..e.clone()
            }
        };
        match &mut open {
            None => open = Some(seen),
            Some(e) => {
                // `seen` is the later of the two: it carries the end and the latest values.
                e.last = seen.last;
                e.resolved = seen.resolved;
                e.subject = seen.subject;
                e.fields = seen.fields;
            }
        }
    }
    out.extend(open);
    out
}

/// One episode as `export findings` writes it.
#[derive(Debug, Clone)]
pub struct EpisodeRow {
    pub rule: String,
    pub key: Vec<Json>,
    pub subject: Option<Json>,
    pub fields: Json,
    pub first_run: i64,
    pub first_seen: String,
    pub last_run: i64,
    pub resolved_run: Option<i64>,
    pub resolved_at: Option<String>,
}

/// Every episode of every rule, by rule, key and time.
pub fn all_episodes(conn: &Connection) -> Result<Vec<EpisodeRow>> {
    let mut stmt = conn.prepare(
        "SELECT f.rule, f.key, f.subject, f.fields, f.first_run, a.taken_at, f.last_run,
                f.resolved_run, z.taken_at
         FROM findings f JOIN runs a ON a.id = f.first_run
         LEFT JOIN runs z ON z.id = f.resolved_run
         ORDER BY f.rule, f.key, f.first_run",
    )?;
    let parse = |s: Option<String>| -> Json {
        s.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Json::Null)
    };
    let rows = stmt.query_map([], |r| {
        Ok(EpisodeRow {
            rule: r.get(0)?,
            key: match parse(r.get(1)?) {
                Json::Array(a) => a,
                _ => Vec::new(),
            },
            subject: Some(parse(r.get(2)?)).filter(|v| !v.is_null()),
            fields: parse(r.get(3)?),
            first_run: r.get(4)?,
            first_seen: r.get(5)?,
            last_run: r.get(6)?,
            resolved_run: r.get(7)?,
            resolved_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
