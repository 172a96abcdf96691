//! `driftwatch demo`: replays the seven days of the bundled LMS samples into a fresh store and
//! shows what there is to see: the runs, what every system holds, and what changed on the last
//! day.

mod sync;

use super::Global;
use crate::collect::collect_run;
use crate::config::Vars;
use crate::error::{Error, Exit, Result};
use crate::history::delay::delays;
use crate::history::diff::rule_diffs;
use crate::history::trend::trends;
use crate::history::{audit_with_history, History};
use crate::output::{Format, Grid};
use crate::platforms::Config;
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, load_files};
use crate::store::{diff_data, RunInfo, SnapshotInfo, Store};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replay the bundled samples (seven days of an LMS and its platforms) and show what there is.
///
/// Collects samples/lms day by day into a temporary store (or --store FILE, which must not
/// exist yet), then prints the runs, what every system holds on the last day, the data diff
/// between day 6 and day 7, the audit of day 7 by the rules of queries/lms.rules, the rule diff
/// between day 6 and day 7, the seven-day trend, how long each platform took to follow the
/// SSOT, the plan of corrective actions for day 7, and the PeerQuest audit's fixes planned and
/// applied to a temporary copy of its SSOT, before → after.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Samples folder [default: ./samples, else the one shipped with the source]
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
}

const DAYS: u32 = 7;

/// Removes a temporary store and its WAL files when the demo ends, however it ends.
struct TempStore(PathBuf);

impl Drop for TempStore {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn samples_dir(args: &Args) -> Result<PathBuf> {
    if let Some(dir) = &args.samples {
        return Ok(dir.clone());
    }
    let here = Path::new("samples");
    if here.join("lms/driftwatch.toml").is_file() {
        return Ok(here.to_path_buf());
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    if shipped.join("lms/driftwatch.toml").is_file() {
        return Ok(shipped);
    }
    Err(Error::input(
        "no samples found: run from the driftwatch source folder or pass --samples DIR",
    ))
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    global.text_only("demo")?;
    let samples = samples_dir(&args)?;
    let config = Config::load(&samples.join("lms/driftwatch.toml"))?;
    let (path, _cleanup) = match &global.store {
        Some(p) if p.exists() => {
            return Err(Error::input(format!(
                "demo replays into a new store, and {} exists already",
                p.display()
            )))
        }
        Some(p) => (p.clone(), None),
        None => {
            let p = std::env::temp_dir().join(format!("driftwatch-demo-{}.db", std::process::id()));
            (p.clone(), Some(TempStore(p)))
        }
    };
    let mut store = Store::open(&path)?;
    let into = match &_cleanup {
        Some(_) => "a temporary store (removed at the end; pass --store FILE to keep one)".into(),
        None => path.display().to_string(),
    };
    line(
        out,
        format!(
            "driftwatch demo: {DAYS} days of {} collected into {into}\n",
            samples.join("lms").display(),
        ),
    )?;
    collect_days(&mut store, &config)?;
    let infos = store.runs()?;
    let runs: Vec<At> = infos.iter().map(At::from).collect();
    let (Some(prev), Some(last)) = (runs.iter().rev().nth(1), runs.last()) else {
        return Err(Error::runtime("the demo collected fewer than two days"));
    };
    show_runs(&infos, out)?;
    show_status(&store, &config, last, out)?;
    line(
        out,
        format!("\nWhat changed between day {} and day {DAYS}:", DAYS - 1),
    )?;
    let diffs = diff_data(&store, prev.run, last.run)?;
    super::diff::write_data_table(prev.run, last.run, &diffs, 5, out)?;
    let files = load_files(Some(&config), &[])?;
    let schemas = Schemas::at_run(&store, last.run)?;
    let loaded = check_files(&files, &schemas);
    if super::rules::report_errors(&files, &loaded.iter().collect::<Vec<_>>()) > 0 {
        return Err(Error::input("the sample rules do not check (see above)"));
    }
    let history = History::new(&store, Some(&config), &files, loaded.iter().collect());
    show_audit(&history, last, out)?;
    show_history(&history, prev, last, &runs, out)?;
    super::print_notes(&history.notes());
    sync::show_lms_plan(&store, &config, last, out)?;
    sync::show_peerquest(&samples, out)?;
    Ok(Exit::Ok)
}

fn line(out: &mut dyn Write, text: String) -> Result<()> {
    super::io(writeln!(out, "{text}"))
}

/// Collects the samples of each day as one run, at 06:00 of the day.
fn collect_days(store: &mut Store, config: &Config) -> Result<()> {
    for day in 1..=DAYS {
        let vars = Vars([("day".to_string(), day.to_string())].into_iter().collect());
        let text = format!("2026-11-{day:02}T06:00:00Z");
        let at = crate::time::parse(&text)
            .ok_or_else(|| Error::runtime(format!("not a time: {text}")))?;
        let report = collect_run(store, config, &vars, &[], Some(at), false)?;
        if let Some(e) = report.first_failure() {
            return Err(Error {
                kind: e.kind,
                message: format!("day {day}: {}", e.message),
            });
        }
    }
    Ok(())
}

/// The runs, with the rows and changes of their snapshots summed.
fn show_runs(runs: &[RunInfo], out: &mut dyn Write) -> Result<()> {
    let mut grid = Grid::new(&[
        "run", "at", "sources", "rows", "added", "changed", "removed",
    ]);
    for r in runs {
        let sum = |f: fn(&SnapshotInfo) -> i64| r.snapshots.iter().map(f).sum::<i64>();
        let sources: Vec<&str> = r.snapshots.iter().map(|s| s.source.as_str()).collect();
        grid.push(vec![
            json!(r.id),
            json!(r.taken_at),
            json!(sources.join(" ")),
            json!(sum(|s| s.rows)),
            json!(sum(|s| s.added)),
            json!(sum(|s| s.changed)),
            json!(sum(|s| s.removed)),
        ]);
    }
    line(
        out,
        "Runs (one a day; each snapshot stores only what changed):".into(),
    )?;
    super::io(grid.write(Format::Table, out))
}

/// What every system holds at the last run (the `count`s of the rule files).
fn show_status(store: &Store, config: &Config, last: &At, out: &mut dyn Write) -> Result<()> {
    let files = load_files(Some(config), &[])?;
    let sources: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let status = crate::report::status(store, &files, last, &sources)?;
    super::print_notes(&status.notes);
    line(
        out,
        format!("\nWhat every system holds on day {DAYS} (`driftwatch status`; empty: the system has no such count):"),
    )?;
    super::status::write_status(&status, Format::Table, out)
}

/// The audit of the last run, and its violations.
fn show_audit(h: &History<'_>, last: &At, out: &mut dyn Write) -> Result<()> {
    // The rule files as found from the samples' folder: `queries/lms.rules`, not the config's
    // `../../queries/lms.rules`.
    let rules: Vec<String> = h.files.iter().map(|f| super::shown_path(&f.path)).collect();
    let rules = rules.join(", ");
    line(out, format!("\nThe rules of {rules} at day {DAYS}:"))?;
    let report = audit_with_history(h.store, h.config, h.files, &h.rules, last, None)?;
    super::print_notes(&report.notes);
    super::audit::write_report(
        &report,
        super::audit::Found::Held,
        Format::Table,
        false,
        0,
        &Default::default(),
        out,
    )?;
    line(out, "\nThe violations:".into())?;
    super::io(super::audit::compact_grid(&report).write(Format::Table, out))?;
    line(
        out,
        format!(
            "\n`driftwatch audit` would exit with {} here (1: a rule is at fail).",
            report.exit().code()
        ),
    )
}

/// The rule diff of the last two days, the trend of every day, and the delays.
fn show_history(
    h: &History<'_>,
    prev: &At,
    last: &At,
    runs: &[At],
    out: &mut dyn Write,
) -> Result<()> {
    line(
        out,
        format!(
            "\nWhat the rules found new, and no longer, between day {} and day {DAYS}:",
            DAYS - 1
        ),
    )?;
    let diffs = rule_diffs(h, prev, last)?;
    super::diff::write_rule_diffs(&diffs, prev, last, 10, out)?;
    line(out, format!("\nThe {DAYS} days, rule by rule:"))?;
    let trends = trends(h, runs)?;
    let ids: Vec<i64> = runs.iter().map(|r| r.run).collect();
    super::trend::write_trend(&trends, &ids, Format::Table, out)?;
    line(
        out,
        "\nHow long the platforms took to follow the SSOT:".into(),
    )?;
    let delays = delays(h)?;
    super::delay::write_delays(&delays, Format::Table, super::delay::By::Rule, out)
}
