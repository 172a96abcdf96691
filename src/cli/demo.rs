//! `driftwatch demo`: replays the seven days of the bundled LMS samples into a fresh store and
//! shows what there is to see: the runs, what every system holds, and what changed on the last
//! day.

use super::Global;
use crate::collect::collect_run;
use crate::config::{Config, Vars};
use crate::error::{Error, Result};
use crate::output::{Format, Grid};
use crate::rules::check::Schemas;
use crate::rules::check_files;
use crate::rules::eval::At;
use crate::store::{diff_data, Store};
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replay the bundled samples (seven days of an LMS and its platforms) and show what there is.
///
/// Collects samples/lms day by day into a temporary store (or --store FILE, which must not
/// exist yet), then prints the runs, what every system holds on the last day, the data diff
/// between day 6 and day 7, the audit of day 7 by the rules of queries/lms.rules, the rule diff
/// between day 6 and day 7, the seven-day trend, and how long each platform took to follow the
/// SSOT.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Samples folder [default: ./samples, else the one shipped with the source]
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
}

const DAYS: u32 = 7;

/// What each system holds: (system, SQL over the as-of views giving
/// people, members, mentors, advisors, courses, groups; NULL where the system has no such notion).
const STATUS: &[(&str, &str)] = &[
    ("ssot", "SELECT (SELECT count(*) FROM ssot_members WHERE status = 'active'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'member'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'mentor'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'advisor'),
                     (SELECT count(*) FROM ssot_courses), (SELECT count(*) FROM ssot_groups)"),
    ("entra", "SELECT (SELECT count(*) FROM entra_users WHERE account_enabled), NULL, NULL,
                      (SELECT count(*) FROM entra_users WHERE account_enabled AND user_type = 'Guest'), NULL, NULL"),
    ("teams", "SELECT (SELECT count(DISTINCT user_id) FROM teams_channel_members),
                      (SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE roles NOT LIKE '%owner%'),
                      (SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE roles LIKE '%owner%'),
                      NULL, (SELECT count(*) FROM teams_channels), NULL"),
    ("wordpress", "SELECT (SELECT count(*) FROM wordpress_users),
                          (SELECT count(*) FROM wordpress_users WHERE roles IN ('subscriber', 'restricted')),
                          (SELECT count(*) FROM wordpress_users WHERE roles = 'group_leader'),
                          (SELECT count(*) FROM wordpress_users WHERE roles = 'advisor'),
                          (SELECT count(*) FROM wordpress_courses), (SELECT count(*) FROM wordpress_groups)"),
    ("q2a", "SELECT (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level IN (0, 10)),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 20),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 50), NULL, NULL"),
];

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

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<i32> {
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
    let w = |out: &mut dyn Write, text: String| super::io(writeln!(out, "{text}"));
    w(
        out,
        format!(
            "driftwatch demo: {DAYS} days of {} collected into {}\n",
            samples.join("lms").display(),
            path.display()
        ),
    )?;
    for day in 1..=DAYS {
        let vars = Vars([("day".to_string(), day.to_string())].into_iter().collect());
        let at = crate::time::parse(&format!("2026-11-{day:02}T06:00:00Z")).expect("a valid time");
        let report = collect_run(&mut store, &config, &vars, &[], Some(at))?;
        if let Some(e) = report.first_failure() {
            return Err(Error {
                kind: e.kind,
                message: format!("day {day}: {}", e.message),
            });
        }
    }
    let runs = store.runs()?;
    let mut grid = Grid::new(&[
        "run", "at", "sources", "rows", "added", "changed", "removed",
    ]);
    for r in &runs {
        let sum =
            |f: fn(&crate::store::SnapshotInfo) -> i64| r.snapshots.iter().map(f).sum::<i64>();
        grid.push(vec![
            json!(r.id),
            json!(r.taken_at),
            json!(r
                .snapshots
                .iter()
                .map(|s| s.source.as_str())
                .collect::<Vec<_>>()
                .join(" ")),
            json!(sum(|s| s.rows)),
            json!(sum(|s| s.added)),
            json!(sum(|s| s.changed)),
            json!(sum(|s| s.removed)),
        ]);
    }
    w(
        out,
        "Runs (one a day; each snapshot stores only what changed):".into(),
    )?;
    super::io(grid.write(Format::Table, out))?;

    let last = runs.last().map(|r| r.id).unwrap_or(0);
    store.create_views(last)?;
    let mut status = Grid::new(&[
        "system", "people", "members", "mentors", "advisors", "courses", "groups",
    ]);
    for (system, sql) in STATUS {
        let row: Vec<Json> = store.conn().query_row(sql, [], |r| {
            (0..6)
                .map(|i| {
                    r.get::<_, Option<i64>>(i)
                        .map(|v| v.map_or(Json::Null, Json::from))
                })
                .collect()
        })?;
        status.push([vec![json!(system)], row].concat());
    }
    w(
        out,
        format!("\nWhat every system holds on day {DAYS} (empty: the system has no such notion):"),
    )?;
    super::io(status.write(Format::Table, out))?;

    let before = last - 1;
    w(
        out,
        format!("\nWhat changed between day {} and day {DAYS}:", DAYS - 1),
    )?;
    let diffs = diff_data(&store, before, last)?;
    super::diff::write_data_table(before, last, &diffs, 5, out)?;

    w(
        out,
        format!("\nThe rules of {} at day {DAYS}:", config.rules.join(", ")),
    )?;
    let files = super::rules::load_files(Some(&config), &[])?;
    let schemas = Schemas::at_run(&store, last)?;
    let loaded = check_files(&files, &schemas);
    if super::rules::report_errors(&files, &loaded.iter().collect::<Vec<_>>()) > 0 {
        return Err(Error::input("the sample rules do not check (see above)"));
    }
    let taken_at = runs.last().map(|r| r.taken_at.clone()).unwrap_or_default();
    let at = At {
        run: last,
        taken_at,
    };
    let report = crate::history::audit_with_history(
        &store,
        Some(&config),
        &files,
        &loaded.iter().collect::<Vec<_>>(),
        &schemas,
        &at,
        None,
    )?;
    super::audit::write_report(&report, Format::Table, false, 0, out)?;
    w(out, "\nThe violations:".into())?;
    super::io(super::audit::compact_grid(&report).write(Format::Table, out))?;
    w(
        out,
        format!(
            "\n`driftwatch audit` would exit with {} here (1: a rule is at fail).",
            report.exit_code()
        ),
    )?;

    let history = super::rules::History {
        store: &store,
        config: Some(&config),
        files: &files,
        rules: loaded.iter().collect(),
    };
    let prev = At {
        run: before,
        taken_at: runs
            .iter()
            .find(|r| r.id == before)
            .map(|r| r.taken_at.clone())
            .unwrap_or_default(),
    };
    w(
        out,
        format!(
            "\nWhat the rules found new, and no longer, between day {} and day {DAYS}:",
            DAYS - 1
        ),
    )?;
    let diffs = super::diff::rule_diffs(&history, &prev, &at)?;
    super::diff::write_rule_diffs(&diffs, &prev, &at, 10, out)?;

    w(out, format!("\nThe {DAYS} days, rule by rule:"))?;
    let all = super::rules::runs_since(&store, None)?;
    let trends = super::trend::trends(&history, &all)?;
    let ids: Vec<i64> = all.iter().map(|r| r.run).collect();
    super::trend::write_trend(&trends, &ids, Format::Table, out)?;

    w(
        out,
        "\nHow long the platforms took to follow the SSOT:".into(),
    )?;
    let delays = super::delay::delays(&history)?;
    super::delay::write_delays(&delays, Format::Table, super::delay::By::Rule, out)?;
    Ok(0)
}
