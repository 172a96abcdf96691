//! Running a rule test: its snapshots written into a store of its own, in memory, and the rule
//! evaluated there as `audit` evaluates it (checked against that store's schemas, compiled,
//! run, its history recorded), then compared with the test's expectations.

use super::{value_of, Clause, Expectation, Table, Test};
use crate::error::{Error, Result};
use crate::history::audit_with_history;
use crate::history::diff::{rule_diff, Change};
use crate::output::cell_text;
use crate::rules::check::Schemas;
use crate::rules::eval::{At, Violation};
use crate::rules::{check_files, RuleFile};
use crate::store::{Column, EntitySchema, Store};
use crate::value::{ColumnType, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// What became of one test.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub test: String,
    pub rule: String,
    pub failures: Vec<Failure>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One expectation not met: what was expected and is missing, what was found and unexpected
/// (rows over the expectation's columns), or a message (a status, a rule that did not run).
#[derive(Debug, Clone)]
pub struct Failure {
    pub what: String,
    pub columns: Vec<String>,
    pub missing: Vec<Vec<String>>,
    pub unexpected: Vec<Vec<String>>,
    pub message: Option<String>,
}

/// The default time of a test's first snapshot; `then` without a time is a day later.
const FIRST: &str = "2026-01-01T00:00:00Z";

/// One snapshot of a test: its time and the rows of each entity given so far.
#[derive(Clone)]
struct Snapshot<'t> {
    at: String,
    given: BTreeMap<(String, String), &'t Table>,
}

/// Runs `test` of rule file `rules` with the entities' schemas `schemas` (the store's or the
/// config's: they type the test's values and give the columns it leaves out).
pub fn run(test: &Test, rules: &[RuleFile], schemas: &Schemas) -> Result<Outcome> {
    let mut snaps: Vec<Snapshot<'_>> = vec![Snapshot {
        at: FIRST.to_string(),
        given: BTreeMap::new(),
    }];
    // Expectations, each with the index of the snapshot it is about.
    let mut expects: Vec<(usize, &Expectation)> = Vec::new();
    for c in &test.clauses {
        let last = snaps.len() - 1;
        match c {
            Clause::At(t, _) => snaps[last].at = t.clone(),
            Clause::Then(t, _) => {
                let prev = snaps[last].clone();
                let at = match t {
                    Some(t) => t.clone(),
                    None => crate::time::format(crate::time::parse(&prev.at).unwrap_or(0) + 86_400),
                };
                snaps.push(Snapshot { at, ..prev });
            }
            Clause::Given {
                source,
                entity,
                table,
                ..
            } => {
                snaps[last]
                    .given
                    .insert((source.clone(), entity.clone()), table);
            }
            Clause::Expect(e, _) => expects.push((last, e)),
        }
    }
    let rule = rules
        .iter()
        .flat_map(|f| f.rules.iter())
        .find(|r| r.name.name == test.rule)
        .ok_or_else(|| Error::input(format!("no rule `{}`", test.rule)))?;
    // The entities the rule reads, and those the test gives, each with its columns.
    let mut entities: BTreeMap<(String, String), (Vec<Column>, Vec<String>)> = BTreeMap::new();
    for b in rule.all_bindings() {
        let key = (b.source.name.clone(), b.entity.name.clone());
        entities.entry(key).or_default();
    }
    for s in &snaps {
        for k in s.given.keys() {
            entities.entry(k.clone()).or_default();
        }
    }
    for ((source, entity), slot) in entities.iter_mut() {
        *slot = columns_of(
            schemas.find(source, entity),
            schemas,
            &snaps,
            source,
            entity,
        );
    }
    let mut store = Store::open(std::path::Path::new(":memory:"))?;
    let mut runs = Vec::new();
    for s in &snaps {
        let epoch = crate::time::parse(&s.at)
            .ok_or_else(|| Error::input(format!("`{}` is not a time", s.at)))?;
        let mut run = store.begin_run(Some(epoch))?;
        let sources: Vec<&String> = {
            let mut v: Vec<&String> = entities.keys().map(|(s, _)| s).collect();
            v.dedup();
            v
        };
        for source in sources {
            let outcome = run.collect_source(source, |out| {
                for ((src, entity), (columns, key)) in &entities {
                    if src != source {
                        continue;
                    }
                    let table = s.given.get(&(src.clone(), entity.clone()));
                    out.write_entity(entity, key, columns, |w| {
                        let Some(table) = table else { return Ok(()) };
                        for (n, row) in table.rows.iter().enumerate() {
                            let mut values = vec![Value::Null; columns.len()];
                            for ((name, _), (cell, _)) in table.columns.iter().zip(row) {
                                if let Some(i) = columns.iter().position(|c| &c.name == name) {
                                    values[i] =
                                        value_of(Some(columns[i].ty), cell).map_err(|e| {
                                            Error::input(format!("{src}.{entity}.{name}: {e}"))
                                        })?;
                                }
                            }
                            w.row(&values, n as u64 + 1)?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
            outcome.result?;
        }
        let taken_at = run.taken_at().to_string();
        let id = run.commit()?;
        runs.push(At { run: id, taken_at });
    }
    let mut failures = Vec::new();
    // The rule evaluated once at each snapshot an expectation is about, as `audit` does.
    let mut audited: BTreeMap<usize, crate::history::RuleReport> = BTreeMap::new();
    for &(i, _) in &expects {
        if audited.contains_key(&i) {
            continue;
        }
        let schemas = Schemas::at_run(&store, runs[i].run)?;
        let file = rules
            .iter()
            .find(|f| f.rules.iter().any(|r| r.name.name == test.rule))
            .expect("the rule was found above");
        let loaded = check_files(std::slice::from_ref(file), &schemas);
        let Some(l) = loaded.iter().find(|l| l.name() == test.rule) else {
            continue;
        };
        let mut report = audit_with_history(&store, None, rules, &[l], &runs[i], None)?;
        audited.insert(i, report.rules.remove(0));
    }
    for (i, e) in expects {
        let at = &runs[i];
        let Some(r) = audited.get(&i) else {
            continue;
        };
        if let Some(err) = &r.error {
            failures.push(message(format!("the rule could not run: {err}")));
            continue;
        }
        let when = format!("run {} ({})", i + 1, at.taken_at);
        match e {
            Expectation::Status(s) => {
                if r.status.as_str() != s {
                    failures.push(message(format!(
                        "status at {when}: expected {s}, found {}",
                        r.status.as_str()
                    )));
                }
            }
            Expectation::Violations(table) => {
                let found: Vec<BTreeMap<String, String>> =
                    r.violations.iter().map(violation_cells).collect();
                compare(
                    &format!("violations at {when}"),
                    table.as_ref(),
                    &found,
                    &mut failures,
                );
            }
            Expectation::New(table) | Expectation::Resolved(table) => {
                let want = if matches!(e, Expectation::New(_)) {
                    Change::New
                } else {
                    Change::Resolved
                };
                let prev = &runs[i - 1];
                let rows = rule_diff(store.conn(), &test.rule, prev.run, at.run)?;
                let found: Vec<BTreeMap<String, String>> = rows
                    .iter()
                    .filter(|r| r.change == want)
                    .map(|r| {
                        let mut m: BTreeMap<String, String> = r
                            .fields
                            .iter()
                            .map(|(k, v)| (k.clone(), cell_text(v)))
                            .collect();
                        m.insert("key".into(), key_text(&r.key));
                        m.insert("subject".into(), cell_text(&r.subject));
                        m
                    })
                    .collect();
                let what = if want == Change::New {
                    "new"
                } else {
                    "resolved"
                };
                compare(
                    &format!("{what} violations at {when}"),
                    table.as_ref(),
                    &found,
                    &mut failures,
                );
            }
        }
    }
    drop(store);
    Ok(Outcome {
        test: test.name.clone(),
        rule: test.rule.clone(),
        failures,
    })
}

fn message(text: String) -> Failure {
    Failure {
        what: text.clone(),
        columns: Vec::new(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        message: Some(text),
    }
}

/// A violation as text cells by name: `key` (its values joined with `, `), `subject`,
/// `pending`, and each `show` field.
fn violation_cells(v: &Violation) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = v
        .fields
        .iter()
        .map(|(k, x)| (k.clone(), cell_text(x)))
        .collect();
    m.insert("key".into(), key_text(&v.key));
    m.insert(
        "subject".into(),
        v.subject.as_ref().map(cell_text).unwrap_or_default(),
    );
    m.insert("pending".into(), v.pending.to_string());
    m
}

fn key_text(key: &[Json]) -> String {
    key.iter().map(cell_text).collect::<Vec<_>>().join(", ")
}

/// Compares the rows found (projected on the expectation's columns) with those expected, as
/// multisets; a cell written `null` or empty is the empty text.
fn compare(
    what: &str,
    table: Option<&Table>,
    found: &[BTreeMap<String, String>],
    failures: &mut Vec<Failure>,
) {
    let columns: Vec<String> = match table {
        Some(t) => t.columns.iter().map(|(c, _)| c.clone()).collect(),
        None => vec!["key".into()],
    };
    let norm = |c: &str| match c {
        "null" => String::new(),
        "''" => String::new(),
        other => other.to_string(),
    };
    let mut expected: Vec<Vec<String>> = table
        .map(|t| {
            t.rows
                .iter()
                .map(|r| r.iter().map(|(c, _)| norm(c)).collect())
                .collect()
        })
        .unwrap_or_default();
    let mut unexpected = Vec::new();
    for f in found {
        let row: Vec<String> = columns
            .iter()
            .map(|c| f.get(c).cloned().unwrap_or_default())
            .collect();
        match expected.iter().position(|e| *e == row) {
            Some(i) => {
                expected.remove(i);
            }
            None => unexpected.push(row),
        }
    }
    if !expected.is_empty() || !unexpected.is_empty() {
        failures.push(Failure {
            what: what.to_string(),
            columns,
            missing: expected,
            unexpected,
            message: None,
        });
    }
}

/// The columns and key of an entity in a test's store: its schema's (types from the schema,
/// or from the test's values where the schema does not know them), and any the test gives
/// that the schema does not list.
fn columns_of(
    schema: Option<&EntitySchema>,
    schemas: &Schemas,
    snaps: &[Snapshot<'_>],
    source: &str,
    entity: &str,
) -> (Vec<Column>, Vec<String>) {
    let cells = |name: &str| -> Vec<&str> {
        snaps
            .iter()
            .filter_map(|s| s.given.get(&(source.to_string(), entity.to_string())))
            .flat_map(|t| {
                let i = t.columns.iter().position(|(c, _)| c == name);
                t.rows
                    .iter()
                    .filter_map(move |r| i.map(|i| r[i].0.as_str()))
            })
            .collect()
    };
    let mut columns: Vec<Column> = Vec::new();
    if let Some(s) = schema {
        for c in &s.columns {
            let ty = if schemas.is_untyped(s, &c.name) {
                infer(&cells(&c.name))
            } else {
                c.ty
            };
            columns.push(Column::new(c.name.clone(), ty));
        }
    }
    for snap in snaps {
        if let Some(t) = snap.given.get(&(source.to_string(), entity.to_string())) {
            for (name, _) in &t.columns {
                if !columns.iter().any(|c| &c.name == name) {
                    columns.push(Column::new(name.clone(), infer(&cells(name))));
                }
            }
        }
    }
    let key = schema.map(|s| s.key.clone()).unwrap_or_default();
    (columns, key)
}

/// The type a column's cells suggest: integer, real, bool, else text.
fn infer(cells: &[&str]) -> ColumnType {
    let values: Vec<&str> = cells
        .iter()
        .copied()
        .filter(|c| !c.is_empty() && *c != "null")
        .collect();
    if values.is_empty() {
        return ColumnType::Text;
    }
    if values.iter().all(|v| v.parse::<i64>().is_ok()) {
        ColumnType::Integer
    } else if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        ColumnType::Real
    } else if values.iter().all(|v| *v == "true" || *v == "false") {
        ColumnType::Bool
    } else {
        ColumnType::Text
    }
}
