//! `driftwatch diff`: what changed between two runs.

use super::Global;
use crate::error::{Error, Result};
use crate::output::{Format, Grid};
use crate::store::{diff_data, EntityDiff, RowChange};
use crate::value::Value;
use serde_json::{json, Value as Json};
use std::io::Write;

/// Compare two runs: per entity, the rows added, removed and changed, by key.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The earlier run: run id, `latest`, or an ISO date/time
    #[arg(long, value_name = "RUN")]
    pub from: String,
    /// The later run [default: latest]
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub to: String,
    /// Compare the collected data (the only comparison until rules arrive)
    #[arg(long)]
    pub data: bool,
    /// In table format, list at most this many rows per entity (0: summary only)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<i32> {
    let store = global.open_store()?;
    let (from, _) = store.resolve_run(&args.from)?;
    let (to, _) = store.resolve_run(&args.to)?;
    if from > to {
        return Err(Error::input(format!(
            "--from run {from} is later than --to run {to}"
        )));
    }
    let diffs = diff_data(&store, from, to)?;
    write_diff(
        from,
        to,
        &diffs,
        global.format(Format::Table),
        args.limit,
        out,
    )?;
    Ok(0)
}

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

/// Writes a data diff in any format; `demo` prints it too.
pub fn write_diff(
    from: i64,
    to: i64,
    diffs: &[EntityDiff],
    format: Format,
    limit: usize,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Json => write_json(from, to, diffs, out),
        Format::Csv | Format::Md => write_fields(diffs, format, out),
        Format::Table => write_table(from, to, diffs, limit, out),
    }
}

fn write_json(from: i64, to: i64, diffs: &[EntityDiff], out: &mut dyn Write) -> Result<()> {
    let data: Vec<Json> = diffs
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
        .collect();
    let doc = json!({"from": from, "to": to, "rules": [], "data": data});
    crate::cli::io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
    crate::cli::io(writeln!(out))
}

/// One line per touched field: the long form spreadsheets pivot well.
fn write_fields(diffs: &[EntityDiff], format: Format, out: &mut dyn Write) -> Result<()> {
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

fn write_table(
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
