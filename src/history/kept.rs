//! An audit's violations kept in the store's temporary table `dw_found` instead of memory
//! (`audit_kept`): each rule's violations go one at a time from SQLite to there
//! (`eval::stream`), its episodes are recorded by merging them with the episodes around the
//! run in key order (`record_kept`), and `Kept::each` reads them back in key order,
//! marked as `audit` marks them (first seen, pending, suppressed). So an audit of a million
//! violations holds one of them at a time, whatever it writes.
//!
//! A rule evaluated at two runs in one pass (`backfill`) keeps its violations there too once
//! they are many (`PairKept`), and both runs are recorded in one merge (`record_kept_two`).

use super::evaluate::{Marks, RunTimes, Young};
use super::record::{
    evaluated, key_text, neighbours, rebuild, reset_if_changed, Episode, Seen, Two, Writes,
};
use super::suppressed::Suppression;
use crate::error::Result;
use crate::rules::check::Checked;
use crate::rules::eval::{self, At, Violation};
use crate::rules::sql::Compiled;
use crate::rules::Loaded;
use crate::store::Store;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;

/// An empty `temp.dw_found`: violations by rule (`rule_ix`), in the order they came (`ord`).
fn found_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.dw_found;
         CREATE TEMP TABLE dw_found (rule_ix INTEGER NOT NULL, ord INTEGER NOT NULL,
             key TEXT NOT NULL, subject TEXT, fields TEXT NOT NULL, PRIMARY KEY (rule_ix, ord));",
    )?;
    Ok(())
}

/// Adds a violation to `temp.dw_found`.
fn add_found(conn: &Connection, ix: i64, ord: i64, v: &Violation) -> Result<()> {
    let seen = Seen::of(v);
    conn.prepare_cached(
        "INSERT INTO temp.dw_found (rule_ix, ord, key, subject, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ix, ord, key_text(&v.key), seen.subject, seen.fields])?;
    Ok(())
}

/// The violations of a rule evaluated at two runs in one pass (`eval::evaluate_pair_each`),
/// kept in `temp.dw_found` once there are too many to hold (`rule_ix` 0 for the first run, 1
/// for the second), and recorded as each run's are recorded when it is evaluated alone.
pub(crate) struct PairKept<'s> {
    conn: &'s Connection,
    ord: i64,
    /// The rows' transaction, committed before they are recorded.
    open: bool,
}

impl<'s> PairKept<'s> {
    /// An empty table, made before the pair's statement runs (a table cannot be dropped while
    /// a statement reads).
    pub(crate) fn new(store: &'s Store) -> Result<PairKept<'s>> {
        found_table(store.conn())?;
        Ok(PairKept {
            conn: store.conn(),
            ord: 0,
            open: false,
        })
    }

    /// Whether any violation is kept.
    pub(crate) fn keeps(&self) -> bool {
        self.ord > 0
    }

    /// Keeps a violation at the first run (`run` 0) or the second (1).
    pub(crate) fn add(&mut self, run: usize, v: &Violation) -> Result<()> {
        if !self.open {
            // One transaction for the rows (of the temporary table only: no lock on the store).
            self.conn.execute_batch("BEGIN")?;
            self.open = true;
        }
        self.ord += 1;
        add_found(self.conn, run as i64, self.ord, v)
    }

    /// Records the kept violations at each run, the earlier first; an error, and nothing
    /// recorded, when a run has two violations with one key.
    pub(crate) fn record(
        mut self,
        rule: &str,
        fingerprint: &str,
        runs: [(i64, u64); 2],
    ) -> Result<()> {
        if self.open {
            self.conn.execute_batch("COMMIT")?;
            self.open = false;
        }
        for ix in 0..2 {
            let twice: Option<String> = self
                .conn
                .query_row(
                    "SELECT key FROM temp.dw_found WHERE rule_ix = ?1 GROUP BY key HAVING count(*) > 1 LIMIT 1",
                    [ix],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(key) = twice {
                let key: Vec<Json> = serde_json::from_str(&key).unwrap_or_default();
                return Err(eval::not_unique(rule, &key));
            }
        }
        let [(ra, na), (rb, nb)] = runs;
        record_kept_two(self.conn, rule, fingerprint, [(ra, na, 0), (rb, nb, 1)])
    }
}

impl Drop for PairKept<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The violations of an audit, by rule, in the store's temporary table.
pub struct Kept {
    at: At,
    subject: Option<String>,
    suppressions: Vec<Suppression>,
    /// The rules kept, in order (a rule's place is its number in the table), with their grace.
    rules: Vec<(String, Option<i64>)>,
}

impl Kept {
    /// An empty table for an audit at `at`.
    pub(crate) fn start(
        store: &Store,
        at: &At,
        subject: Option<&str>,
        suppressions: &[Suppression],
    ) -> Result<Kept> {
        found_table(store.conn())?;
        Ok(Kept {
            at: at.clone(),
            subject: subject.map(str::to_string),
            suppressions: suppressions.to_vec(),
            rules: Vec::new(),
        })
    }

    fn ix(&self, rule: &str) -> Option<i64> {
        self.rules
            .iter()
            .position(|r| r.0 == rule)
            .map(|i| i as i64)
    }

    /// Evaluates a compiled rule, its violations kept; returns how many rows it ranged over.
    pub(crate) fn keep(
        &mut self,
        store: &Store,
        l: &Loaded<'_>,
        checked: &Checked<'_>,
        c: &Compiled,
    ) -> Result<u64> {
        let ix = self.rules.len() as i64;
        self.rules.push((l.name().to_string(), l.rule.grace));
        let conn = store.conn();
        // One transaction for the rows (of the temporary table only: no lock on the store).
        conn.execute_batch("BEGIN")?;
        let mut ord = 0i64;
        let kept = eval::stream(store, checked, c, |v| {
            ord += 1;
            add_found(conn, ix, ord, &v)
        });
        conn.execute_batch(if kept.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        kept
    }

    /// Records the kept violations of `l` in its history; a note when that cannot be done (a
    /// store that may only be read).
    pub(crate) fn remember(
        &self,
        store: &Store,
        l: &Loaded<'_>,
        at: &At,
        ranged: u64,
    ) -> Option<String> {
        let ix = self.ix(l.name())?;
        record_kept(store.conn(), l.name(), &l.fingerprint(), at.run, ranged, ix)
            .err()
            .map(|e| {
                format!(
                    "rule {}: its history could not be recorded: {}",
                    l.name(),
                    e.message
                )
            })
    }

    /// How many violations of `rule` there are, and how many are pending and suppressed, counted
    /// in SQL when nothing needs a violation read (no subject asked for, no suppression of the
    /// rule); else None, and `each` tells.
    pub(crate) fn counts(&self, store: &Store, rule: &str) -> Result<Option<(u64, u64, u64)>> {
        let Some(ix) = self.ix(rule) else {
            return Ok(Some((0, 0, 0)));
        };
        if self.subject.is_some() || self.suppressions.iter().any(|s| s.rule == rule) {
            return Ok(None);
        }
        let conn = store.conn();
        let found: i64 = conn.query_row(
            "SELECT count(*) FROM temp.dw_found WHERE rule_ix = ?1",
            [ix],
            |r| r.get(0),
        )?;
        let young = Young::of(store, rule, self.rules[ix as usize].1, &self.at);
        // Pending: first seen after the rule's first evaluation, less than its grace ago.
        let pending: i64 = match young.window() {
            None => 0,
            Some((since, after)) => conn.query_row(
                "SELECT count(*) FROM temp.dw_found c
                 JOIN findings f ON f.rule = ?1 AND f.key = c.key AND f.first_run <= ?2 AND f.last_run >= ?2
                 JOIN runs r ON r.id = f.first_run
                 WHERE c.rule_ix = ?3 AND f.first_run > ?4 AND r.taken_at > ?5",
                params![rule, self.at.run, ix, since, after],
                |r| r.get(0),
            )?,
        };
        Ok(Some((found as u64, pending as u64, 0)))
    }

    /// Each kept violation of `rule` about the audit's subject, in key order, marked as `audit`
    /// marks it: when its episode was first seen, whether it is pending, its suppression.
    pub fn each(
        &self,
        store: &Store,
        rule: &str,
        mut f: impl FnMut(Violation) -> Result<()>,
    ) -> Result<()> {
        let Some(ix) = self.ix(rule) else {
            return Ok(());
        };
        let marks = Marks::new(&self.at, self.subject.as_deref(), &self.suppressions);
        let mut young = Young::of(store, rule, self.rules[ix as usize].1, &self.at);
        let mut times = RunTimes::default();
        let mut stmt = store.conn().prepare(
            "SELECT c.key, c.subject, c.fields, f.first_run FROM temp.dw_found c
             LEFT JOIN findings f ON f.rule = ?1 AND f.key = c.key AND f.first_run <= ?2 AND f.last_run >= ?2
             WHERE c.rule_ix = ?3 ORDER BY c.ord",
        )?;
        let mut rows = stmt.query(params![rule, self.at.run, ix])?;
        let parse = |t: &str| -> Result<Json> {
            serde_json::from_str(t).map_err(|e| {
                crate::error::Error::runtime(format!("a kept violation of {rule}: {e}"))
            })
        };
        while let Some(r) = rows.next()? {
            let key = match parse(&r.get::<_, String>(0)?)? {
                Json::Array(k) => k,
                other => vec![other],
            };
            let subject = r
                .get::<_, Option<String>>(1)?
                .map(|s| parse(&s))
                .transpose()?;
            let fields = match parse(&r.get::<_, String>(2)?)? {
                Json::Object(m) => m.into_iter().collect(),
                _ => Vec::new(),
            };
            let first: Option<i64> = r.get(3)?;
            let first_seen = match first {
                Some(run) => times.get(store, run).ok(),
                None => None,
            };
            let mut v = Violation {
                key,
                subject,
                fields,
                fix: Vec::new(),
                pending: first.is_some_and(|run| young.is(run, first_seen.as_deref())),
                first_seen,
                suppressed: None,
            };
            if marks.apply(rule, &mut v) {
                f(v)?;
            }
        }
        Ok(())
    }
}

/// Records that `rule` found, among `ranged` rows at `run`, the violations kept in the temporary
/// table `dw_found` under `ix` (`kept`): the episodes are rebuilt key by key, merging the
/// violations and the episodes around `run` in key order, so that memory does not grow with
/// either.
fn record_kept(
    conn: &Connection,
    rule: &str,
    fingerprint: &str,
    run: i64,
    ranged: u64,
    ix: i64,
) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    reset_if_changed(&tx, rule, fingerprint)?;
    // Evaluated before with the same keys found: the episodes are as they should be.
    let before: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM evaluations WHERE rule = ?1 AND run_id = ?2 AND fingerprint = ?3)",
        params![rule, run, fingerprint],
        |r| r.get(0),
    )?;
    if before {
        let same: bool = tx.query_row(
            "SELECT (SELECT count(*) FROM temp.dw_found WHERE rule_ix = ?3)
                    = (SELECT count(*) FROM findings WHERE rule = ?1 AND first_run <= ?2 AND last_run >= ?2)
                AND NOT EXISTS (SELECT 1 FROM temp.dw_found c WHERE c.rule_ix = ?3 AND NOT EXISTS
                    (SELECT 1 FROM findings f WHERE f.rule = ?1 AND f.key = c.key AND f.first_run <= ?2 AND f.last_run >= ?2))",
            params![rule, run, ix],
            |r| r.get(0),
        )?;
        if same {
            return Ok(());
        }
    }
    let (prev, next) = neighbours(&tx, rule, run)?;
    let (lo, hi) = (prev.unwrap_or(run), next.unwrap_or(run));
    merge(&tx, rule, (lo, hi), &[ix], |before, mut seen| {
        rebuild(before, prev, run, next, seen.pop().flatten())
    })?;
    evaluated(&tx, rule, fingerprint, run, ranged)?;
    tx.commit()?;
    Ok(())
}

/// Records two runs together from `dw_found` (`ixs` naming each run's violations there), as
/// `record::record_two` records them from memory: each key's episodes rebuilt for the earlier
/// run, then the later, and written once. Each run is recorded alone where they cannot be
/// recorded together.
fn record_kept_two(
    conn: &Connection,
    rule: &str,
    fingerprint: &str,
    runs: [(i64, u64, i64); 2],
) -> Result<()> {
    let mut runs = runs;
    runs.sort_by_key(|r| r.0);
    let [(ra, na, ia), (rb, nb, ib)] = runs;
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    reset_if_changed(&tx, rule, fingerprint)?;
    let Some(plan) = Two::plan(&tx, rule, ra, rb)? else {
        drop(tx);
        for (run, ranged, ix) in runs {
            record_kept(conn, rule, fingerprint, run, ranged, ix)?;
        }
        return Ok(());
    };
    merge(&tx, rule, (plan.lo, plan.hi), &[ia, ib], |before, seen| {
        let mut seen = seen.into_iter();
        let a = seen.next().flatten();
        plan.after(before, a, seen.next().flatten())
    })?;
    evaluated(&tx, rule, fingerprint, ra, na)?;
    evaluated(&tx, rule, fingerprint, rb, nb)?;
    tx.commit()?;
    Ok(())
}

/// Rebuilds a rule's episodes key by key in key order, merging the episodes that touch the
/// runs from `lo` to `hi` with the violations kept under each of `ixs`: `after` is handed a
/// key's episodes and how it was seen under each of `ixs`, and returns its episodes. So memory
/// does not grow with the violations or the episodes.
fn merge(
    tx: &Connection,
    rule: &str,
    (lo, hi): (i64, i64),
    ixs: &[i64],
    mut after: impl FnMut(&[(i64, Episode)], Vec<Option<Seen>>) -> Vec<Episode>,
) -> Result<()> {
    // The episodes set apart: the findings change as they are read.
    tx.execute_batch("DROP TABLE IF EXISTS temp.dw_old")?;
    tx.execute(
        "CREATE TEMP TABLE dw_old AS SELECT id, key, first_run, last_run, resolved_run, subject, fields
         FROM findings WHERE rule = ?1 AND last_run >= ?2 AND first_run <= ?3",
        params![rule, lo, hi],
    )?;
    {
        let mut found_stmts = Vec::new();
        for _ in ixs {
            found_stmts.push(tx.prepare(
                "SELECT key, subject, fields FROM temp.dw_found WHERE rule_ix = ?1 ORDER BY key",
            )?);
        }
        let mut found: Vec<rusqlite::Rows<'_>> = Vec::new();
        for (stmt, ix) in found_stmts.iter_mut().zip(ixs) {
            found.push(stmt.query([ix])?);
        }
        let mut old = tx.prepare(
            "SELECT id, key, first_run, last_run, resolved_run, subject, fields FROM temp.dw_old
             ORDER BY key, first_run",
        )?;
        let mut old = old.query([])?;
        let next_found = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<(String, Seen)>> {
            Ok(match rows.next()? {
                Some(r) => Some((
                    r.get(0)?,
                    Seen {
                        subject: r.get(1)?,
                        fields: r.get(2)?,
                    },
                )),
                None => None,
            })
        };
        let next_old = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<(String, i64, Episode)>> {
            Ok(match rows.next()? {
                Some(r) => Some((r.get(1)?, r.get(0)?, Episode::from_row(r, 2)?)),
                None => None,
            })
        };
        let mut heads = Vec::new();
        for rows in &mut found {
            heads.push(next_found(rows)?);
        }
        let mut o = next_old(&mut old)?;
        let mut writes = Writes::new(tx)?;
        loop {
            // The least key of all: SQLite's BINARY order is Rust's order of strings.
            let key = heads
                .iter()
                .flatten()
                .map(|f| &f.0)
                .chain(o.as_ref().map(|o| &o.0))
                .min()
                .cloned();
            let Some(key) = key else { break };
            let mut before = Vec::new();
            while o.as_ref().is_some_and(|o| o.0 == key) {
                let (_, id, e) = o.take().expect("checked");
                before.push((id, e));
                o = next_old(&mut old)?;
            }
            let mut seen = Vec::new();
            for (head, rows) in heads.iter_mut().zip(&mut found) {
                seen.push(match head.take() {
                    Some((k, s)) if k == key => {
                        *head = next_found(rows)?;
                        Some(s)
                    }
                    other => {
                        *head = other;
                        None
                    }
                });
            }
            let episodes = after(&before, seen);
            writes.key(rule, &key, &before, &episodes)?;
        }
    }
    tx.execute_batch("DROP TABLE temp.dw_old")?;
    Ok(())
}
