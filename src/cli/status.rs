//! `driftwatch status`: what every system holds at a run.

use super::rules::open_at;
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::output::{Format, Grid};
use crate::report::Status;
use crate::rules::load_files;
use serde_json::{json, Map, Value as Json};
use std::io::Write;
use std::path::PathBuf;

/// What every system holds at a run: members, mentors, advisors, courses, groups, …
///
/// The counts are defined in the rule files, in the rule language: `count NAME { for … where …
/// }` counts the rows its `for … where` ranges over (`group by` counts distinct values) in the
/// system (source) of its `for`; counts of one name across systems are one column.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
    /// Rule file to take the counts from instead of the config's `rules` (repeatable)
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.config()?;
    let files = load_files(config, &args.files)?;
    let (store, _, at) = open_at(global, config, &args.at)?;
    let sources: Vec<&str> = config
        .map(|c| c.sources.iter().map(|s| s.name.as_str()).collect())
        .unwrap_or_default();
    let status = crate::report::status(&store, &files, &at, &sources)?;
    super::print_notes(&status.notes);
    let written = write_status(&status, global.format(Format::Table), out);
    super::verdict(Exit::Ok, written.and_then(|()| io(out.flush())))
}

/// The status as a table (a row per system, a column per count), or the JSON of the README.
pub(crate) fn write_status(s: &Status, format: Format, out: &mut dyn Write) -> Result<()> {
    if format == Format::Json {
        let systems: Map<String, Json> = s
            .systems
            .iter()
            .map(|sys| {
                let counts: Map<String, Json> = s
                    .counted
                    .iter()
                    .zip(&sys.counts)
                    .filter_map(|(n, c)| c.map(|c| (n.clone(), json!(c))))
                    .collect();
                (sys.system.clone(), Json::Object(counts))
            })
            .collect();
        let doc = json!({"run": s.at.run, "at": s.at.taken_at, "systems": systems});
        io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
        return io(writeln!(out));
    }
    let mut headers = vec!["system"];
    headers.extend(s.counted.iter().map(String::as_str));
    let mut grid = Grid::new(&headers);
    for sys in &s.systems {
        let mut row = vec![json!(sys.system)];
        row.extend(sys.counts.iter().map(|c| json!(c)));
        grid.push(row);
    }
    io(grid.write(format, out))
}
