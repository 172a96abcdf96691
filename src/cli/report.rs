//! `driftwatch report`: the periodic sync report.

use super::rules::{open_at, report_errors};
use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::output::Format;
use crate::report::period::{report, Period};
use crate::rules::{check_files, load_files};
use std::io::Write;
use std::path::PathBuf;

/// The sync report of a period: status, rules (violations, new, resolved, persisting,
/// transient, trend), propagation delay per platform, most affected subjects, suppressions,
/// actions applied and their verification, recommended actions.
///
/// --format html (the default) is one self-contained file (inline CSS and SVG, no script, no
/// network; printable); md, json and csv (the rules' figures, one row a rule) too.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The period ending at the run
    #[arg(long, value_enum, default_value = "daily")]
    pub period: Period,
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
    /// Write to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args, stdout: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let files = load_files(Some(config), &[])?;
    let (store, schemas, at) = open_at(global, Some(config), &args.at)?;
    let loaded = check_files(&files, &schemas);
    let rules: Vec<_> = loaded.iter().collect();
    report_errors(&files, &rules);
    let r = report(&store, config, &files, &rules, args.period, &at, None)?;
    super::print_notes(&r.notes);
    let format = global.format(Format::Html);
    let mut buf = Vec::new();
    crate::report::render::write(&r, format, &mut buf)?;
    match &args.out {
        Some(p) if p.as_os_str() != "-" => std::fs::write(p, &buf)
            .map_err(|e| Error::input(format!("--out {}: {e}", p.display())))?,
        _ => io(stdout.write_all(&buf))?,
    }
    Ok(Exit::Ok)
}
