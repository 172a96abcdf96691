//! `driftwatch export`: one entity as of a run, as CSV (or JSON) for spreadsheets and scripts.

use super::Global;
use crate::error::{Error, Exit, Result};
use crate::output::{Format, RowWriter};
use crate::value::ColumnType;
use std::io::Write;
use std::path::PathBuf;

/// Export an entity as it was at a run, every finding, or the audit log: CSV with a header
/// row (RFC 4180), or --format json.
///
/// `SOURCE.ENTITY`: the entity's own columns, rows in key order. `findings`: every violation
/// episode of every rule (first seen, resolved, its suppression). `log`: the audit log. Of
/// the formats, export writes csv (the default) and json; table and md are refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SOURCE.ENTITY (see `driftwatch snapshots`), `findings` or `log`
    #[arg(value_name = "SOURCE.ENTITY|findings|log")]
    pub entity: String,
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
    /// Write to FILE instead of standard output (`-` is standard output)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args, stdout: &mut dyn Write) -> Result<Exit> {
    let store = global.open_store()?;
    let format = global.format(Format::Csv);
    if !matches!(format, Format::Csv | Format::Json) {
        return Err(Error::input(
            format!("export writes csv or json, not {format:?}").to_lowercase(),
        ));
    }
    if args.entity == "findings" || args.entity == "log" {
        let grid = if args.entity == "log" {
            let list = crate::store::log::entries(store.conn(), None)?;
            super::log::grid(&list, &crate::fix::verify::states(&store)?)
        } else {
            findings(&store, global)?
        };
        let mut file = None;
        let out = output(&args.out, stdout, &mut file)?;
        super::io(grid.write(format, out))?;
        super::io(out.flush())?;
        return Ok(Exit::Ok);
    }
    let entity = store.entity_by_label(&args.entity)?;
    let (run, _) = store.resolve_run(&args.at)?;
    let snapshot = store.snapshot_for(&entity, run)?.ok_or_else(|| {
        Error::input(format!(
            "{} has no complete snapshot at or before run {run}",
            entity.label()
        ))
    })?;
    if snapshot.run_id != run {
        super::print_notes(&[format!(
            "{} at run {run} comes from run {} (the latest complete snapshot of {})",
            entity.label(),
            snapshot.run_id,
            entity.source
        )]);
    }
    let mut file = None;
    let out = output(&args.out, stdout, &mut file)?;
    let columns: Vec<(String, ColumnType)> = entity
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect();
    let mut w = match format {
        Format::Csv => RowWriter::csv(columns, out)?,
        Format::Json => RowWriter::json(columns, out)?,
        _ => unreachable!("refused above"),
    };
    store.read_rows(&entity, snapshot.id, |values| Ok(w.row(values)?))?;
    super::io(w.finish())?;
    Ok(Exit::Ok)
}

/// `--out FILE` (created), else standard output.
fn output<'a>(
    path: &Option<PathBuf>,
    stdout: &'a mut dyn Write,
    file: &'a mut Option<std::io::BufWriter<std::fs::File>>,
) -> Result<&'a mut dyn Write> {
    Ok(match path {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::create(p)
                .map_err(|e| Error::input(format!("--out {}: {e}", p.display())))?;
            file.insert(std::io::BufWriter::new(f))
        }
        _ => stdout,
    })
}

/// Every episode of every rule, with the suppression that covers it now, if any.
fn findings(store: &crate::store::Store, global: &Global) -> Result<crate::output::Grid> {
    use serde_json::json;
    let suppressions = crate::history::suppressed::all(store, global.config()?)?;
    let now = crate::time::format(crate::time::now());
    let mut g = crate::output::Grid::new(&[
        "rule",
        "key",
        "subject",
        "first_run",
        "first_seen",
        "last_run",
        "resolved_run",
        "resolved_at",
        "suppressed_reason",
        "suppressed_until",
        "fields",
    ]);
    for e in crate::history::record::all_episodes(store.conn())? {
        let s = suppressions
            .iter()
            .find(|s| e.resolved_run.is_none() && s.covers(&e.rule, &e.key, &now));
        g.push(vec![
            json!(e.rule),
            json!(e
                .key
                .iter()
                .map(crate::output::cell_text)
                .collect::<Vec<_>>()
                .join(", ")),
            e.subject.clone().unwrap_or(serde_json::Value::Null),
            json!(e.first_run),
            json!(e.first_seen),
            json!(e.last_run),
            json!(e.resolved_run),
            json!(e.resolved_at),
            json!(s.map(|s| s.reason.clone())),
            json!(s.and_then(|s| s.until.clone())),
            json!(e.fields.to_string()),
        ]);
    }
    Ok(g)
}
