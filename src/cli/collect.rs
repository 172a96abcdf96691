//! `driftwatch collect`: snapshot the configured sources into the store as one run.

use super::Global;
use crate::collect::collect_run;
use crate::config::Vars;
use crate::error::{Error, Exit, Result};
use crate::output::{Format, Grid};
use crate::store::Store;
use serde_json::json;
use std::io::Write;

/// Snapshot the sources of the config into the store, as one run.
///
/// Each source is collected completely or not at all: a source that fails is recorded as a
/// failed snapshot with its error, and its earlier data stays as it was.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Collect only this source (repeatable) [default: every source]
    #[arg(long = "source", value_name = "S")]
    pub sources: Vec<String>,
    /// The time the data is as of (ISO-8601, UTC unless an offset is given) [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Set ${K} in the config (repeatable); the environment is used for names not given
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Read every source whole, even where it could read only what changed since the last
    /// collection (Graph users, groups and group members, through delta queries)
    #[arg(long)]
    pub full: bool,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let vars = Vars::from_args(&args.vars)?;
    let at = match &args.at {
        Some(t) => Some(crate::time::parse(t).ok_or_else(|| {
            Error::input(format!(
                "--at {t:?}: expected an ISO-8601 date or date-time such as 2026-11-07T06:00:00Z"
            ))
        })?),
        None => None,
    };
    // Before the store is opened, so that a mistake creates no store and records no run.
    let path = global.store_path(&vars)?;
    crate::collect::check(config, &vars, &args.sources, &path)?;
    let mut store = Store::open(&path)?;
    store.on_wait(|path| {
        eprintln!(
            "driftwatch: another process is writing to {}; waiting for it to finish…",
            path.display()
        )
    });
    let report = collect_run(&mut store, config, &vars, &args.sources, at, args.full)?;
    let mut grid = Grid::new(&[
        "source", "snapshot", "status", "rows", "added", "changed", "removed", "error",
    ]);
    for o in &report.outcomes {
        match &o.result {
            Ok(entities) => {
                let sum = |f: fn(&crate::store::EntityStats) -> i64| {
                    entities.iter().map(|(_, s)| f(s)).sum::<i64>()
                };
                grid.push(vec![
                    json!(o.source),
                    json!(o.snapshot_id),
                    json!("complete"),
                    json!(sum(|s| s.rows)),
                    json!(sum(|s| s.added)),
                    json!(sum(|s| s.changed)),
                    json!(sum(|s| s.removed)),
                    json!(null),
                ]);
            }
            Err(e) => grid.push(vec![
                json!(o.source),
                json!(o.snapshot_id),
                json!("failed"),
                json!(null),
                json!(null),
                json!(null),
                json!(null),
                json!(e.message),
            ]),
        }
    }
    let warnings = report.warnings();
    for w in &warnings {
        eprintln!("driftwatch: warning: {w}");
    }
    for o in &report.outcomes {
        for n in &o.notes {
            eprintln!("driftwatch: note: {n}");
        }
    }
    super::log_notes(&store, "collect", &warnings);
    let format = global.format(Format::Table);
    if format == Format::Table {
        super::io(writeln!(
            out,
            "run {} at {}",
            report.run_id, report.taken_at
        ))?;
    }
    super::io(grid.write(format, out))?;
    match report.first_failure() {
        None => Ok(Exit::Ok),
        Some(e) => {
            let failed = report.failed_sources();
            Err(Error {
                kind: e.kind,
                message: format!("collection failed for {}: {}", failed.join(", "), e.message),
            })
        }
    }
}
