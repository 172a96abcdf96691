//! The data diff of `driftwatch diff --data`: per entity, the rows added, removed and changed.

use crate::error::Result;
use crate::output::{Format, Grid};
use crate::store::{EntityDiff, RowChange};
use crate::value::Value;
use serde_json::{json, Value as Json};
use std::io::Write;

fn key_text(d: &EntityDiff, values: &[Value]) -> String {
    d.entity
        .key
        .iter()
        .filter_map(|k| d.entity.columns.iter().position(|c| &c.name == k))
        .map(|i| values[i].render(d.entity.columns[i].ty).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn row_object(d: &EntityDiff, values: &[Value]) -> Json {
    Json::Object(
        d.entity
            .columns
            .iter()
            .zip(values)
            .map(|(c, v)| (c.name.clone(), v.to_json(c.ty)))
            .collect(),
    )
}

/// The fields a change touched, as (column index, before, after): every non-NULL field of
/// an added or removed row, the differing fields of a changed one.
fn touched_fields(change: &RowChange) -> Vec<(usize, Option<&Value>, Option<&Value>)> {
    let present = |v: &[Value]| {
        (0..v.len())
            .filter(|&i| !v[i].is_null())
            .collect::<Vec<_>>()
    };
    match change {
        RowChange::Added(v) => present(v)
            .into_iter()
            .map(|i| (i, None, Some(&v[i])))
            .collect(),
        RowChange::Removed(v) => present(v)
            .into_iter()
            .map(|i| (i, Some(&v[i]), None))
            .collect(),
        RowChange::Changed { before, after } => (0..after.len())
            .filter(|&i| before[i] != after[i])
            .map(|i| (i, Some(&before[i]), Some(&after[i])))
            .collect(),
    }
}

const KINDS: [&str; 3] = ["added", "removed", "changed"];

/// The `data` list of `diff --format json`.
pub fn to_json(diffs: &[EntityDiff]) -> Vec<Json> {
    diffs
        .iter()
        .map(|d| {
            let rows = |kind: &str| -> Vec<Json> {
                d.rows
                    .iter()
                    .filter(|c| c.kind() == kind)
                    .map(|c| match c {
                        RowChange::Changed { before, after } => json!({
                            "key": key_text(d, after),
                            "before": row_object(d, before),
                            "after": row_object(d, after),
                        }),
                        other => row_object(d, other.row()),
                    })
                    .collect()
            };
            let mut entry = json!({"entity": d.entity.label()});
            for kind in KINDS {
                entry[kind] = json!(d.count(kind));
            }
            entry["rows"] = json!({"added": rows("added"), "removed": rows("removed"), "changed": rows("changed")});
            entry
        })
        .collect()
}

/// One line per touched field: the long form spreadsheets pivot well.
pub fn write_fields(diffs: &[EntityDiff], format: Format, out: &mut dyn Write) -> Result<()> {
    let mut grid = Grid::new(&["entity", "change", "key", "column", "before", "after"]);
    for d in diffs {
        for change in &d.rows {
            let key = key_text(d, change.row());
            for (i, before, after) in touched_fields(change) {
                let column = &d.entity.columns[i];
                let text = |v: Option<&Value>| v.map_or(Json::Null, |v| json!(v.render(column.ty)));
                grid.push(vec![
                    json!(d.entity.label()),
                    json!(change.kind()),
                    json!(key),
                    json!(column.name),
                    text(before),
                    text(after),
                ]);
            }
        }
    }
    crate::cli::io(grid.write(format, out))
}

pub fn write_table(
    from: i64,
    to: i64,
    diffs: &[EntityDiff],
    limit: usize,
    out: &mut dyn Write,
) -> Result<()> {
    crate::cli::io(writeln!(out, "data diff: run {from} → run {to}"))?;
    let mut summary = Grid::new(&[
        "entity",
        "from snapshot",
        "to snapshot",
        "added",
        "removed",
        "changed",
    ]);
    for d in diffs {
        let mut row = vec![
            json!(d.entity.label()),
            json!(d.from.map(|s| s.id)),
            json!(d.to.map(|s| s.id)),
        ];
        row.extend(KINDS.iter().map(|k| json!(d.count(k))));
        summary.push(row);
    }
    crate::cli::io(summary.write(Format::Table, out))?;
    if limit == 0 {
        return Ok(());
    }
    for d in diffs.iter().filter(|d| !d.rows.is_empty()) {
        let mut grid = Grid::new(&["change", "key", "fields"]);
        for change in d.rows.iter().take(limit) {
            let fields: Vec<String> = touched_fields(change)
                .into_iter()
                .map(|(i, before, after)| {
                    let c = &d.entity.columns[i];
                    match change {
                        RowChange::Changed { .. } => {
                            format!(
                                "{}: {} → {}",
                                c.name,
                                shown(before, c.ty),
                                shown(after, c.ty)
                            )
                        }
                        _ => format!("{}={}", c.name, shown(before.or(after), c.ty)),
                    }
                })
                .collect();
            let separator = if matches!(change, RowChange::Changed { .. }) {
                "; "
            } else {
                " "
            };
            grid.push(vec![
                json!(change.kind()),
                json!(key_text(d, change.row())),
                json!(shorten(&fields.join(separator), 110)),
            ]);
        }
        crate::cli::io(writeln!(out, "\n{}", d.entity.label()))?;
        crate::cli::io(grid.write(Format::Table, out))?;
        if d.rows.len() > limit {
            crate::cli::io(writeln!(
                out,
                "… and {} more (use --format csv for every row)",
                d.rows.len() - limit
            ))?;
        }
    }
    Ok(())
}

/// A value in a table cell of changes, where an empty cell would hide that it was NULL.
fn shown(v: Option<&Value>, ty: crate::value::ColumnType) -> String {
    match v {
        Some(v) if !v.is_null() => v.render(ty).into_owned(),
        _ => "null".to_string(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).chain(['…']).collect()
    }
}
