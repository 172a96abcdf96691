//! The rule diff between two evaluated runs, in one SQL statement over the episodes: a key
//! violated at the later run and not at the earlier one is new, the reverse is resolved, and a
//! key violated at both persists (possibly as a later episode, when it went away and came back
//! in between: its `first_seen` says so).

use super::History;
use crate::error::Result;
use crate::rules::eval::{key_order, At};
use crate::value::Value;
use rusqlite::{params, Connection};
use serde_json::Value as Json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Resolved,
    Persisting,
}

impl Change {
    pub const ALL: [Change; 3] = [Change::New, Change::Resolved, Change::Persisting];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Resolved => "resolved",
            Change::Persisting => "persisting",
        }
    }
}

/// A violation on one side (or both) of a diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub change: Change,
    pub key: Vec<Json>,
    pub subject: Json,
    pub fields: serde_json::Map<String, Json>,
    /// When the episode began: for a resolved violation the one at the earlier run, else the
    /// one at the later run.
    pub first_seen: String,
}

/// The new, resolved and persisting violations of `rule` between runs `from` and `to`, both of
/// which it must have been evaluated at; sorted by change, then key.
pub fn rule_diff(conn: &Connection, rule: &str, from: i64, to: i64) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "WITH a AS (SELECT key, subject, fields, first_run FROM findings
                    WHERE rule = ?1 AND last_run >= ?2 AND first_run <= ?2),
              b AS (SELECT key, subject, fields, first_run FROM findings
                    WHERE rule = ?1 AND last_run >= ?3 AND first_run <= ?3),
              d AS (SELECT 0 AS change, key, subject, fields, first_run FROM b
                    WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.key = b.key)
                    UNION ALL
                    SELECT 1, key, subject, fields, first_run FROM a
                    WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.key = a.key)
                    UNION ALL
                    SELECT 2, b.key, b.subject, b.fields, b.first_run FROM b JOIN a ON a.key = b.key)
         SELECT d.change, d.key, d.subject, d.fields, r.taken_at
         FROM d JOIN runs r ON r.id = d.first_run",
    )?;
    let mut rows = stmt.query(params![rule, from, to])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let change = Change::ALL[r.get::<_, i64>(0)? as usize];
        let parse = |i: usize| -> rusqlite::Result<Json> {
            let text: Option<String> = r.get(i)?;
            Ok(text
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Json::Null))
        };
        let key = match parse(1)? {
            Json::Array(k) => k,
            other => vec![other],
        };
        let fields = match parse(3)? {
            Json::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        out.push(Row {
            change,
            key,
            subject: parse(2)?,
            fields,
            first_seen: r.get(4)?,
        });
    }
    // Each key's values made once, not at each comparison.
    let mut keyed: Vec<(Vec<Value>, Row)> = out
        .into_iter()
        .map(|r| (r.key.iter().map(Value::from_json_cell).collect(), r))
        .collect();
    keyed.sort_by(|(kx, x), (ky, y)| {
        (x.change as u8)
            .cmp(&(y.change as u8))
            .then_with(|| key_order(kx, ky))
    });
    Ok(keyed.into_iter().map(|(_, r)| r).collect())
}

/// A rule's diff between two runs.
pub struct RuleDiff {
    pub rule: String,
    pub severity: &'static str,
    /// By change (new, resolved, persisting), then key.
    pub rows: Vec<Row>,
    /// Why the rule could not be compared (it could not be evaluated at one of the runs).
    pub error: Option<String>,
}

impl RuleDiff {
    pub fn count(&self, change: Change) -> usize {
        self.rows.iter().filter(|r| r.change == change).count()
    }
}

/// Evaluates the rules at both runs where they have not been yet, and diffs each.
pub fn rule_diffs(h: &History<'_>, from: &At, to: &At) -> Result<Vec<RuleDiff>> {
    let skipped = h.backfill(&[from.clone(), to.clone()])?;
    let mut out = Vec::new();
    for l in &h.rules {
        let error = skipped
            .iter()
            .find(|s| s.rule == l.name())
            .map(|s| format!("could not be evaluated at run {}: {}", s.run, s.why));
        let rows = match error {
            Some(_) => Vec::new(),
            None => rule_diff(h.store.conn(), l.name(), from.run, to.run)?,
        };
        out.push(RuleDiff {
            rule: l.name().to_string(),
            severity: l.rule.severity.as_str(),
            rows,
            error,
        });
    }
    Ok(out)
}
