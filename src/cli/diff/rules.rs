//! The rule diff of `driftwatch diff`: per rule, its new, resolved and persisting violations.

use super::super::io;
use crate::error::Result;
use crate::history::diff::{Change, Row, RuleDiff};
use crate::output::{cell_text, Format, Grid};
use crate::rules::eval::At;
use serde_json::{json, Value as Json};
use std::io::Write;

fn key_text(key: &[Json]) -> String {
    key.iter().map(cell_text).collect::<Vec<_>>().join(", ")
}

/// The `rules` list of `diff --format json`.
pub fn to_json(diffs: &[RuleDiff]) -> Vec<Json> {
    diffs
        .iter()
        .map(|d| {
            let rows = |c: Change| -> Vec<Json> {
                d.rows
                    .iter()
                    .filter(|r| r.change == c)
                    .map(|r| json!({"key": r.key, "subject": r.subject, "first_seen": r.first_seen, "fields": r.fields}))
                    .collect()
            };
            let mut o = json!({
                "rule": d.rule,
                "new": d.count(Change::New),
                "resolved": d.count(Change::Resolved),
                "persisting": d.count(Change::Persisting),
                "rows": {"new": rows(Change::New), "resolved": rows(Change::Resolved)},
            });
            if let Some(e) = &d.error {
                o["error"] = json!(e);
            }
            o
        })
        .collect()
}

/// One row per violation of any rule on either side: rule, change, key, subject, first seen,
/// then every field any rule shows, in order of first appearance.
pub fn rows_grid(diffs: &[RuleDiff]) -> Grid {
    let mut fields: Vec<&str> = Vec::new();
    for r in diffs.iter().flat_map(|d| &d.rows) {
        for name in r.fields.keys() {
            if !fields.contains(&name.as_str()) {
                fields.push(name);
            }
        }
    }
    let mut headers = vec!["rule", "change", "key", "subject", "first_seen"];
    headers.extend(&fields);
    let mut g = Grid::new(&headers);
    for d in diffs {
        for r in &d.rows {
            let mut row = vec![
                json!(d.rule),
                json!(r.change.as_str()),
                json!(key_text(&r.key)),
                r.subject.clone(),
                json!(r.first_seen),
            ];
            row.extend(
                fields
                    .iter()
                    .map(|f| r.fields.get(*f).cloned().unwrap_or(Json::Null)),
            );
            g.push(row);
        }
    }
    g
}

/// The rule diff as tables: a summary, then each rule's new and resolved violations.
pub fn write_rule_diffs(
    diffs: &[RuleDiff],
    from: &At,
    to: &At,
    limit: usize,
    out: &mut dyn Write,
) -> Result<()> {
    io(writeln!(
        out,
        "Rule diff: run {} ({}) → run {} ({})",
        from.run, from.taken_at, to.run, to.taken_at
    ))?;
    let mut summary = Grid::new(&["rule", "severity", "new", "resolved", "persisting"]);
    for d in diffs {
        let n = |c| {
            if d.error.is_some() {
                Json::Null
            } else {
                json!(d.count(c))
            }
        };
        summary.push(vec![
            json!(d.rule),
            json!(d.severity),
            n(Change::New),
            n(Change::Resolved),
            n(Change::Persisting),
        ]);
    }
    io(summary.write(Format::Table, out))?;
    for d in diffs {
        if let Some(e) = &d.error {
            io(writeln!(out, "error: rule {}: {e}", d.rule))?;
        }
    }
    if limit == 0 {
        return Ok(());
    }
    for d in diffs {
        let changed: Vec<&Row> = d
            .rows
            .iter()
            .filter(|r| r.change != Change::Persisting)
            .collect();
        if changed.is_empty() {
            continue;
        }
        let mut g = Grid::new(&["change", "key", "subject", "first seen", "details"]);
        for r in changed.iter().take(limit) {
            let details: Vec<String> = r
                .fields
                .iter()
                .map(|(n, v)| format!("{n}={}", cell_text(v)))
                .collect();
            g.push(vec![
                json!(r.change.as_str()),
                json!(key_text(&r.key)),
                r.subject.clone(),
                json!(r.first_seen),
                json!(details.join(" ")),
            ]);
        }
        io(writeln!(out, "\n{}", d.rule))?;
        io(g.write(Format::Table, out))?;
        if changed.len() > limit {
            io(writeln!(
                out,
                "… and {} more (use --format csv for every row)",
                changed.len() - limit
            ))?;
        }
    }
    Ok(())
}
