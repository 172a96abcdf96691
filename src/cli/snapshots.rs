//! `driftwatch snapshots`: the runs in the store and their snapshots.

use super::Global;
use crate::error::{Exit, Result};
use crate::output::{Format, Grid};
use serde_json::json;
use std::io::Write;

/// List the runs and their snapshots: status, rows, and the changes each one recorded.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(global: &Global, _args: Args, out: &mut dyn Write) -> Result<Exit> {
    let store = global.open_store()?;
    let runs = store.runs()?;
    let format = global.format(Format::Table);
    if format == Format::Json {
        let doc: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({"run": r.id, "at": r.taken_at, "snapshots": r.snapshots.iter().map(|s| json!({
                    "id": s.id, "source": s.source, "status": s.status, "error": s.error,
                    "rows": s.rows, "added": s.added, "changed": s.changed, "removed": s.removed,
                })).collect::<Vec<_>>()})
            })
            .collect();
        super::io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
        super::io(writeln!(out))?;
        return Ok(Exit::Ok);
    }
    let mut grid = Grid::new(&[
        "run", "at", "snapshot", "source", "status", "rows", "added", "changed", "removed", "error",
    ]);
    for r in &runs {
        for s in &r.snapshots {
            let complete = s.status == "complete";
            let n = |v: i64| if complete { json!(v) } else { json!(null) };
            grid.push(vec![
                json!(r.id),
                json!(r.taken_at),
                json!(s.id),
                json!(s.source),
                json!(s.status),
                n(s.rows),
                n(s.added),
                n(s.changed),
                n(s.removed),
                json!(s.error),
            ]);
        }
    }
    if runs.is_empty() && format == Format::Table {
        super::io(writeln!(out, "no runs yet: run `driftwatch collect`"))?;
        return Ok(Exit::Ok);
    }
    super::io(grid.write(format, out))?;
    Ok(Exit::Ok)
}
