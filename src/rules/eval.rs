//! Evaluating a checked rule at a run: find the snapshot serving each entity it reads, make
//! sure the indexes it needs exist, run its statement, and read back the rows it ranged over and
//! its violations.

use super::ast::{Rule, Threshold};
use super::check::Checked;
use super::sql::{compile, Compiled, Target};
use crate::error::{Error, Result};
use crate::store::{EntitySchema, SnapshotRef, Store};
use crate::value::{ColumnType, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A run as rules see it.
#[derive(Debug, Clone)]
pub struct At {
    pub run: i64,
    pub taken_at: String,
}

impl From<&crate::store::RunInfo> for At {
    fn from(r: &crate::store::RunInfo) -> At {
        At {
            run: r.id,
            taken_at: r.taken_at.clone(),
        }
    }
}

/// The snapshot serving each entity a rule reads, as of a run.
pub struct RunTarget {
    pub at: At,
    /// Entity id → its source and its snapshot.
    pub snapshots: BTreeMap<i64, (String, SnapshotRef)>,
}

impl Target for RunTarget {
    fn snapshot(&self, entity: &EntitySchema) -> i64 {
        self.snapshots[&entity.id].1.id
    }
    fn now(&self) -> String {
        self.at.taken_at.clone()
    }
}

impl RunTarget {
    /// The snapshots serving a rule's entities at `at`; an error names an entity that has no
    /// complete snapshot at or before the run.
    pub fn for_rule(store: &Store, checked: &Checked<'_>, at: &At) -> Result<RunTarget> {
        let mut snapshots = BTreeMap::new();
        for e in checked.entities() {
            let snap = store.snapshot_for(e, at.run)?.ok_or_else(|| {
                if e.table.is_empty() {
                    Error::runtime(format!(
                        "{} is in the config but has not been collected yet: run `driftwatch collect`",
                        e.label()
                    ))
                } else {
                    Error::runtime(format!(
                        "{} has no complete snapshot at or before run {}",
                        e.label(),
                        at.run
                    ))
                }
            })?;
            snapshots.insert(e.id, (e.source.clone(), snap));
        }
        Ok(RunTarget {
            at: at.clone(),
            snapshots,
        })
    }
}

/// One violation: its key, who it is about, and the fields the rule shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub key: Vec<Json>,
    pub subject: Option<Json>,
    pub fields: Vec<(String, Json)>,
    /// The values of the rule's `fix` parameters (empty without a `fix`).
    pub fix: Vec<Json>,
    /// When its episode began: the time of the first run of the streak of evaluated runs that
    /// found it (None when history could not be recorded).
    pub first_seen: Option<String>,
    /// Younger than the rule's `grace`: reported, but not counted toward thresholds.
    pub pending: bool,
    /// The suppression it is under, if any: listed apart, not counted.
    pub suppressed: Option<std::sync::Arc<crate::store::Suppression>>,
}

impl Violation {
    /// The subject as text, for `--subject` and tables.
    pub fn subject_text(&self) -> Option<String> {
        self.subject.as_ref().map(crate::output::cell_text)
    }
}

#[derive(Debug, Clone)]
pub struct Evaluation {
    /// How many rows (or groups) the rule ranged over.
    pub ranged: u64,
    pub violations: Vec<Violation>,
    /// Why it ran more slowly than it could (an index a read-only store could not take).
    pub note: Option<String>,
}

/// A rule compiled for a run, its indexes made.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub compiled: Compiled,
    /// Set when an index could not be made (a read-only store): the rule runs, more slowly.
    pub note: Option<String>,
}

/// Compiles a rule for a run, creating the indexes it needs.
pub fn prepare(store: &Store, checked: &Checked<'_>, target: &RunTarget) -> Result<Prepared> {
    let compiled = compile(checked, target);
    let note = make_indexes(store, checked, &compiled)?;
    Ok(Prepared { compiled, note })
}

/// Creates the indexes a compiled rule needs; a note when the store may only be read (the rule
/// then runs without them).
fn make_indexes(
    store: &Store,
    checked: &Checked<'_>,
    compiled: &Compiled,
) -> Result<Option<String>> {
    let mut note = None;
    for ix in &compiled.indexes {
        match store.conn().execute_batch(&ix.create_sql()) {
            Ok(()) => {}
            // A store we may only read still answers, only more slowly.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ReadOnly =>
            {
                note = Some(format!(
                    "the store is read-only, so rule {} runs without index {}",
                    checked.rule.name,
                    ix.name()
                ));
            }
            Err(e) => {
                return Err(Error::runtime(format!("creating index {}: {e}", ix.name())));
            }
        }
    }
    Ok(note)
}

/// Runs a rule at a run, once, without recording anything (a query, a test). Rules whose
/// findings are kept go through `history::evaluate`.
pub fn evaluate(store: &Store, checked: &Checked<'_>, at: &At) -> Result<Evaluation> {
    let target = RunTarget::for_rule(store, checked, at)?;
    let prepared = prepare(store, checked, &target)?;
    let ev = run(store, checked, &prepared.compiled)?;
    Ok(Evaluation {
        note: prepared.note,
        ..ev
    })
}

/// Runs a compiled rule and reads its rows.
pub fn run(store: &Store, checked: &Checked<'_>, c: &Compiled) -> Result<Evaluation> {
    let mut stmt = store.conn().prepare(&c.sql)?;
    let params: Vec<&Value> = c.params.iter().map(|p| &p.value).collect();
    // The violations are read from SQLite's own text of them, not a copy.
    stmt.query_row(rusqlite::params_from_iter(params), |r| {
        Ok(read_violations(checked, c, r.get(0)?, gathered(r, 1)?))
    })?
}

/// Evaluates a rule at two runs in one pass (`sql::compile_pair`), when it can be: None for a
/// rule that needs a pass of its own at each run. Nothing is recorded.
pub fn evaluate_pair(
    store: &Store,
    checked: &Checked<'_>,
    a: &At,
    b: &At,
) -> Result<Option<(Evaluation, Evaluation)>> {
    let mut found: [Vec<Keyed>; 2] = Default::default();
    let Some(ranged) = evaluate_pair_each(store, checked, a, b, &mut |run, v| {
        found[run].push(v);
        Ok(())
    })?
    else {
        return Ok(None);
    };
    let [fa, fb] = found;
    let evaluation = |ranged: u64, found| -> Result<Evaluation> {
        Ok(Evaluation {
            ranged,
            violations: in_key_order(checked, found)?,
            note: None,
        })
    };
    Ok(Some((
        evaluation(ranged[0], fa)?,
        evaluation(ranged[1], fb)?,
    )))
}

/// A violation with its key as values.
pub type Keyed = (Vec<Value>, Violation);

/// `evaluate_pair`, each violation handed to `each` with its run (0 for `a`, 1 for `b`) as it
/// is read, in no particular order and not checked for unique keys ([`in_key_order`] does
/// that). Returns the rows each run ranged over; None for a rule that needs a pass of its own
/// at each run.
pub fn evaluate_pair_each(
    store: &Store,
    checked: &Checked<'_>,
    a: &At,
    b: &At,
    each: &mut dyn FnMut(usize, Keyed) -> Result<()>,
) -> Result<Option<[u64; 2]>> {
    let (ta, tb) = (
        RunTarget::for_rule(store, checked, a)?,
        RunTarget::for_rule(store, checked, b)?,
    );
    let Some(c) = super::sql::compile_pair(checked, &ta, &tb) else {
        return Ok(None);
    };
    make_indexes(store, checked, &c)?;
    let mut stmt = store.conn().prepare(&c.sql)?;
    let params: Vec<&Value> = c.params.iter().map(|p| &p.value).collect();
    let names = checked.rule.show_names();
    let mut ranged: [i64; 2] = [0, 0];
    let mut failed: Option<Error> = None;
    let read = stmt.query_row(rusqlite::params_from_iter(params), |r| {
        ranged = [r.get(0)?, r.get(1)?];
        // Each gathered row: whether each run ranges over it and violates there, then its
        // cells (`compile_pair`).
        let texts = [gathered(r, 2)?, gathered(r, 3)?];
        Ok(texts.into_iter().try_for_each(|text| {
            each_row(text, |row| {
                let flag = |n: usize| row.get(n).and_then(Json::as_i64).unwrap_or(0) != 0;
                for (run, count) in ranged.iter_mut().enumerate() {
                    if !flag(run) {
                        *count -= 1;
                    }
                    if flag(2 + run) && failed.is_none() {
                        let cells = row.iter().skip(4).map(Value::from_json_cell);
                        failed = each(run, violation_of(checked, &c, &names, cells)).err();
                    }
                }
            })
        }))
    })?;
    read.map_err(|e| {
        Error::runtime(format!(
            "rule {}: reading its violations: {e}",
            checked.rule.name
        ))
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Some(ranged.map(|n| n as u64)))
}

/// A violation from its row of cells (`[key…, subject, show…, fix…]`), and its key as values.
fn violation_of(
    checked: &Checked<'_>,
    c: &Compiled,
    names: &[String],
    cells: impl Iterator<Item = Value>,
) -> Keyed {
    let outputs = &checked.outputs;
    let ty = |t: Option<&super::types::Ty>| t.map_or(ColumnType::Text, |t| t.column_type());
    let mut cells = cells;
    let key: Vec<Value> = cells.by_ref().take(c.key_len).collect();
    let subject = c.has_subject.then(|| {
        cells
            .next()
            .unwrap_or(Value::Null)
            .to_json(ty(outputs.subject.as_ref()))
    });
    let fields = names
        .iter()
        .zip(&outputs.show)
        .map(|(n, t)| {
            (
                n.clone(),
                cells.next().unwrap_or(Value::Null).to_json(t.column_type()),
            )
        })
        .collect();
    let fix = outputs
        .fix
        .iter()
        .map(|t| cells.next().unwrap_or(Value::Null).to_json(t.column_type()))
        .collect();
    let violation = Violation {
        key: key
            .iter()
            .enumerate()
            .map(|(i, v)| v.to_json(ty(outputs.key.get(i))))
            .collect(),
        subject,
        fields,
        fix,
        first_seen: None,
        pending: false,
        suppressed: None,
    };
    (key, violation)
}

/// Two keys in SQLite's order of values: NULL, then numbers, then text.
pub(crate) fn key_order(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.sql_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// A key names one violation across runs: two with one key could not be told apart in the
/// rule's history (its diff, trend and delay), so the rule is refused, not half-counted.
fn key_not_unique(checked: &Checked<'_>, v: &Violation) -> Error {
    not_unique(&checked.rule.name.name, &v.key)
}

/// That rule `rule` has two violations with key `key`.
pub(crate) fn not_unique(rule: &str, key: &[Json]) -> Error {
    let key: Vec<String> = key.iter().map(crate::output::cell_text).collect();
    Error::input(format!(
        "rule {rule}: its key is not unique: two violations have key ({}); add to `key` what tells them apart",
        key.join(", ")
    ))
}

/// The violations gathered as JSON by a compiled rule, in key order.
fn read_violations(
    checked: &Checked<'_>,
    c: &Compiled,
    ranged: i64,
    gathered: &str,
) -> Result<Evaluation> {
    let names = checked.rule.show_names();
    // Each row becomes its violation as it is read: the rows are never all held as JSON.
    let mut found: Vec<Keyed> = Vec::new();
    each_row(gathered, |row| {
        found.push(violation_of(
            checked,
            c,
            &names,
            row.into_iter().map(|j| Value::from_json_cell(&j)),
        ));
    })
    .map_err(|e| {
        Error::runtime(format!(
            "rule {}: reading its violations: {e}",
            checked.rule.name
        ))
    })?;
    Ok(Evaluation {
        ranged: ranged as u64,
        violations: in_key_order(checked, found)?,
        note: None,
    })
}

/// Violations in key order; an error when two have one key.
pub fn in_key_order(checked: &Checked<'_>, mut found: Vec<Keyed>) -> Result<Vec<Violation>> {
    found.sort_by(|a, b| key_order(&a.0, &b.0));
    if let Some(pair) = found
        .windows(2)
        .find(|w| key_order(&w[0].0, &w[1].0).is_eq())
    {
        return Err(key_not_unique(checked, &pair[0].1));
    }
    Ok(found.into_iter().map(|(_, v)| v).collect())
}

/// Runs a compiled rule one violation at a time (`Compiled::rows_sql`), in key order, handing
/// each to `each`; returns how many rows (or groups) it ranged over. Nothing is gathered, so
/// memory does not grow with the violations.
pub fn stream(
    store: &Store,
    checked: &Checked<'_>,
    c: &Compiled,
    mut each: impl FnMut(Violation) -> Result<()>,
) -> Result<u64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let ranged = std::sync::Arc::new(AtomicU64::new(0));
    let counter = ranged.clone();
    // Not deterministic, so SQLite calls it for each row rather than once.
    store.conn().create_scalar_function(
        "dw_ranged",
        0,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(1)
        },
    )?;
    let names = checked.rule.show_names();
    let mut stmt = store.conn().prepare(&c.rows_sql)?;
    let width = stmt.column_count();
    let params: Vec<&Value> = c.params.iter().map(|p| &p.value).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut last: Option<Vec<Value>> = None;
    while let Some(r) = rows.next()? {
        let cells = (0..width)
            .map(|i| r.get_ref(i).map(Value::from_sql))
            .collect::<rusqlite::Result<Vec<Value>>>()?;
        let (key, violation) = violation_of(checked, c, &names, cells.into_iter());
        if last.as_ref().is_some_and(|l| key_order(l, &key).is_eq()) {
            return Err(key_not_unique(checked, &violation));
        }
        last = Some(key);
        each(violation)?;
    }
    Ok(ranged.load(Ordering::Relaxed))
}

/// Column `i` of `r`: violations gathered as JSON text, borrowed from SQLite.
fn gathered<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(Into::into)
}

/// Hands each row of a JSON array of rows (`[[…], …]`) to `each`, as it is parsed.
fn each_row(gathered: &str, each: impl FnMut(Vec<Json>)) -> serde_json::Result<()> {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    struct Rows<F>(F);
    impl<'de, F: FnMut(Vec<Json>)> Visitor<'de> for Rows<F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of rows")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(row) = seq.next_element::<Vec<Json>>()? {
                (self.0)(row);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(gathered);
    de.deserialize_seq(Rows(each))?;
    de.end()
}

/// SQLite's plan for a compiled rule: each step with its depth in the plan's tree.
pub fn query_plan(store: &Store, c: &Compiled) -> Result<Vec<(usize, String)>> {
    let mut stmt = store
        .conn()
        .prepare(&format!("EXPLAIN QUERY PLAN {}", c.sql))?;
    let params: Vec<&Value> = c.params.iter().map(|p| &p.value).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut depth: Vec<(i64, usize)> = Vec::new();
    let mut plan = Vec::new();
    while let Some(r) = rows.next()? {
        let (id, parent, detail): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(3)?);
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map_or(0, |(_, d)| d + 1);
        depth.push((id, level));
        plan.push((level, detail));
    }
    Ok(plan)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// The rule could not be checked or run.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// A rule's status for `violations` of `checked` rows: `fail` at its fail threshold, else
/// `warn` at its warn threshold, else `pass`. A rule with neither threshold fails on any
/// violation; a rule with only `warn` never fails.
pub fn status(rule: &Rule, violations: u64, ranged: u64) -> Status {
    let fail = match (&rule.fail, &rule.warn) {
        (Some(f), _) => Some(f.clone()),
        (None, None) => Some(Threshold::any()),
        (None, Some(_)) => None,
    };
    if fail.is_some_and(|f| f.reached(violations, ranged)) {
        Status::Fail
    } else if rule
        .warn
        .as_ref()
        .is_some_and(|w| w.reached(violations, ranged))
    {
        Status::Warn
    } else {
        Status::Pass
    }
}
