//! `driftwatch trend`: violations per rule per run.

use super::rules::{with_history, RuleChoice};
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::history::runs_since;
use crate::history::trend::{since_time, sparkline, trends, Point};
use crate::output::{Format, Grid};
use serde_json::json;
use std::io::Write;

/// How each rule's violations moved from run to run.
///
/// Runs a rule has not been evaluated at yet are evaluated first, and kept in the store's
/// history, so the first trend over many runs takes a while and later ones do not. A table
/// shows each rule's counts and a sparkline (▁ none … █ the rule's most; a blank where the rule
/// could not be evaluated); json and csv give every point.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub choice: RuleChoice,
    /// Only runs in this span before the latest run (`30d`, `12h`, `2w`), or from this ISO
    /// date/time on
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    with_history(global, &args.choice, |h| {
        let since = since_time(h.store, args.since.as_deref())?;
        let runs = runs_since(h.store, since.as_deref())?;
        let trends = trends(h, &runs)?;
        let run_ids: Vec<i64> = runs.iter().map(|r| r.run).collect();
        write_trend(&trends, &run_ids, global.format(Format::Table), out)?;
        Ok(Exit::Ok)
    })
}

/// Writes trends in any format; `demo` prints one too. `runs` are the runs of the span, so that
/// a run a rule could not be evaluated at shows as a gap.
pub fn write_trend(
    trends: &[(String, Vec<Point>)],
    runs: &[i64],
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Html => Err(crate::error::Error::input(
            "`trend` writes table, json, csv or md; html is the report's (`driftwatch report --format html`)",
        )),
        Format::Json => {
            let doc: Vec<_> = trends
                .iter()
                .map(|(rule, pts)| {
                    let points: Vec<_> = pts
                        .iter()
                        .map(|p| json!({"run": p.run, "at": p.at, "violations": p.violations, "pending": p.pending, "checked": p.checked}))
                        .collect();
                    json!({"rule": rule, "points": points})
                })
                .collect();
            io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
            io(writeln!(out))
        }
        Format::Csv => {
            let mut g = Grid::new(&["rule", "run", "at", "checked", "violations", "pending"]);
            for (rule, pts) in trends {
                for p in pts {
                    g.push(vec![
                        json!(rule),
                        json!(p.run),
                        json!(p.at),
                        json!(p.checked),
                        json!(p.violations),
                        json!(p.pending),
                    ]);
                }
            }
            io(g.write(Format::Csv, out))
        }
        Format::Table | Format::Md => {
            let mut g = Grid::new(&[
                "rule", "first", "latest", "min", "max", "pending", "per run", "trend",
            ]);
            for (rule, pts) in trends {
                let counts: Vec<Option<u64>> = runs
                    .iter()
                    .map(|r| pts.iter().find(|p| p.run == *r).map(|p| p.violations))
                    .collect();
                let values = pts.iter().map(|p| p.violations);
                let per_run: Vec<String> = counts
                    .iter()
                    .map(|c| c.map_or("-".to_string(), |c| c.to_string()))
                    .collect();
                g.push(vec![
                    json!(rule),
                    json!(pts.first().map(|p| p.violations)),
                    json!(pts.last().map(|p| p.violations)),
                    json!(values.clone().min()),
                    json!(values.max()),
                    json!(pts.last().map(|p| p.pending)),
                    json!(if per_run.len() <= 14 {
                        per_run.join(" ")
                    } else {
                        format!("{} runs", per_run.len())
                    }),
                    json!(sparkline(&counts)),
                ]);
            }
            let span = match (runs.first(), runs.last()) {
                (Some(a), Some(b)) if a != b => format!("runs {a}–{b}"),
                (Some(a), _) => format!("run {a}"),
                _ => "no runs".to_string(),
            };
            io(writeln!(out, "Violations per run ({span})"))?;
            io(g.write(format, out))
        }
    }
}
