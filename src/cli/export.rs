//! `driftwatch export`: one entity as of a run, as CSV (or JSON) for spreadsheets and scripts.

use super::Global;
use crate::error::{Error, Exit, Result};
use crate::output::{Format, RowWriter};
use crate::value::ColumnType;
use std::io::Write;
use std::path::PathBuf;

/// Export an entity as it was at a run: CSV with a header row (RFC 4180), or --format json.
///
/// The columns are the entity's own; rows come in key order. Of the formats, export writes csv
/// (the default) and json; table and md are refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The entity, as SOURCE.ENTITY (see `driftwatch snapshots`)
    #[arg(value_name = "SOURCE.ENTITY")]
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
    let mut file;
    let out: &mut dyn Write = match &args.out {
        Some(p) if p.as_os_str() != "-" => {
            file = std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| Error::input(format!("--out {}: {e}", p.display())))?,
            );
            &mut file
        }
        _ => stdout,
    };
    let columns: Vec<(String, ColumnType)> = entity
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect();
    let mut w = match global.format(Format::Csv) {
        Format::Csv => RowWriter::csv(columns, out)?,
        Format::Json => RowWriter::json(columns, out)?,
        other => {
            return Err(Error::input(
                format!("export writes csv or json, not {other:?}").to_lowercase(),
            ))
        }
    };
    store.read_rows(&entity, snapshot.id, |values| Ok(w.row(values)?))?;
    super::io(w.finish())?;
    Ok(Exit::Ok)
}
