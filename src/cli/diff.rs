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

fn counts(d: &EntityDiff) -> (usize, usize, usize) {
    (
        d.count(|c| matches!(c, RowChange::Added(_))),
        d.count(|c| matches!(c, RowChange::Removed(_))),
        d.count(|c| matches!(c, RowChange::Changed { .. })),
    )
}

/// The changed fields of a changed row: (column, before, after).
fn changed_fields<'d>(
    before: &'d [Value],
    after: &'d [Value],
) -> impl Iterator<Item = (usize, &'d Value, &'d Value)> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(i, (b, a))| (i, b, a))
}

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
        Format::Json => {
            let data: Vec<Json> = diffs
                .iter()
                .map(|d| {
                    let (added, removed, changed) = counts(d);
                    let pick = |want: &str| -> Vec<Json> {
                        d.rows
                            .iter()
                            .filter_map(|(_, c)| match (c, want) {
                                (RowChange::Added(v), "added") | (RowChange::Removed(v), "removed") => Some(row_object(d, v)),
                                (RowChange::Changed { before, after }, "changed") => Some(json!({
                                    "key": key_text(d, after), "before": row_object(d, before), "after": row_object(d, after)
                                })),
                                _ => None,
                            })
                            .collect()
                    };
                    json!({"entity": d.entity.label(), "added": added, "removed": removed, "changed": changed,
                           "rows": {"added": pick("added"), "removed": pick("removed"), "changed": pick("changed")}})
                })
                .collect();
            let doc = json!({"from": from, "to": to, "rules": [], "data": data});
            crate::cli::io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
            crate::cli::io(writeln!(out))?;
        }
        Format::Csv | Format::Md => {
            let mut grid = Grid::new(&["entity", "change", "key", "column", "before", "after"]);
            for d in diffs {
                for (_, change) in &d.rows {
                    let cols = &d.entity.columns;
                    match change {
                        RowChange::Added(v) | RowChange::Removed(v) => {
                            let (kind, added) = if matches!(change, RowChange::Added(_)) {
                                ("added", true)
                            } else {
                                ("removed", false)
                            };
                            for (c, value) in cols.iter().zip(v).filter(|(_, x)| !x.is_null()) {
                                let text = json!(value.render(c.ty));
                                let (b, a) = if added {
                                    (json!(null), text)
                                } else {
                                    (text, json!(null))
                                };
                                grid.push(vec![
                                    json!(d.entity.label()),
                                    json!(kind),
                                    json!(key_text(d, v)),
                                    json!(c.name),
                                    b,
                                    a,
                                ]);
                            }
                        }
                        RowChange::Changed { before, after } => {
                            for (i, b, a) in changed_fields(before, after) {
                                let ty = cols[i].ty;
                                grid.push(vec![
                                    json!(d.entity.label()),
                                    json!("changed"),
                                    json!(key_text(d, after)),
                                    json!(cols[i].name),
                                    json!(b.render(ty)),
                                    json!(a.render(ty)),
                                ]);
                            }
                        }
                    }
                }
            }
            crate::cli::io(grid.write(format, out))?;
        }
        Format::Table => {
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
                let (added, removed, changed) = counts(d);
                summary.push(vec![
                    json!(d.entity.label()),
                    json!(d.from.map(|s| s.id)),
                    json!(d.to.map(|s| s.id)),
                    json!(added),
                    json!(removed),
                    json!(changed),
                ]);
            }
            crate::cli::io(summary.write(Format::Table, out))?;
            if limit == 0 {
                return Ok(());
            }
            for d in diffs.iter().filter(|d| !d.rows.is_empty()) {
                let mut grid = Grid::new(&["change", "key", "fields"]);
                for (_, change) in d.rows.iter().take(limit) {
                    let cols = &d.entity.columns;
                    let (kind, key, fields) = match change {
                        RowChange::Added(v) | RowChange::Removed(v) => (
                            if matches!(change, RowChange::Added(_)) {
                                "added"
                            } else {
                                "removed"
                            },
                            key_text(d, v),
                            cols.iter()
                                .zip(v)
                                .filter(|(_, x)| !x.is_null())
                                .map(|(c, x)| format!("{}={}", c.name, x.render(c.ty)))
                                .collect::<Vec<_>>()
                                .join(" "),
                        ),
                        RowChange::Changed { before, after } => (
                            "changed",
                            key_text(d, after),
                            changed_fields(before, after)
                                .map(|(i, b, a)| {
                                    format!(
                                        "{}: {} → {}",
                                        cols[i].name,
                                        shown(b, cols[i].ty),
                                        shown(a, cols[i].ty)
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    };
                    grid.push(vec![json!(kind), json!(key), json!(shorten(&fields, 110))]);
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
        }
    }
    Ok(())
}

/// A value in a table cell of changes, where an empty cell would hide that it was NULL.
fn shown(v: &Value, ty: crate::value::ColumnType) -> String {
    if v.is_null() {
        "null".to_string()
    } else {
        v.render(ty).into_owned()
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).chain(['…']).collect()
    }
}
