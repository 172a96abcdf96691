//! The command line: one file per subcommand; the doc comments are the help text.

mod alert;
mod apply;
mod audit;
mod check;
mod collect;
mod delay;
mod demo;
mod diff;
mod explain;
mod export;
mod log;
mod plan;
mod query;
mod report;
mod rules;
mod snapshots;
mod status;
mod suppress;
mod test;
mod trend;
mod watch;

/// How `audit` writes an audit, its violations held in the report or kept in the store.
pub use audit::{write_report as write_audit, Found};

use crate::config::Vars;
use crate::error::{Error, Exit, Result};
use crate::output::Format;
use crate::platforms::Config;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Keeps a source-of-truth database and the platforms that mirror it in agreement.
///
/// Collectors snapshot every source into one SQLite store; rules (text files in a small
/// language) say what must agree, and `audit` reports what does not, at any run. `plan` and
/// `apply` correct it (every operation in the audit log, `log`); `alert`, `report` and `watch`
/// tell the people who run the systems. Exit codes:
/// 0 fine, 1 a rule is at `fail`, 2 invalid input (usage, config, rule files, data files),
/// 3 runtime failure (store, file system).
#[derive(Debug, Parser)]
#[command(
    name = "driftwatch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct Global {
    /// Config file [default: driftwatch.toml in the current folder]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store file; overrides the config's `store` [default: driftwatch.db beside the config]
    #[arg(long, global = true, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Output format
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// CSV for Excel: start with a UTF-8 byte-order mark, so a double-clicked file shows
    /// non-ASCII names
    #[arg(long, global = true)]
    pub bom: bool,
    /// CSV text cells as they are: by default one beginning with = + - @ gets a leading ' so a
    /// spreadsheet does not run it as a formula
    #[arg(long, global = true)]
    pub csv_raw: bool,
    /// The config, once loaded: a command reads it once.
    #[arg(skip)]
    loaded: std::cell::OnceCell<Result<Option<Config>>>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::Args),
    Collect(collect::Args),
    Snapshots(snapshots::Args),
    Export(export::Args),
    Diff(diff::Args),
    Audit(audit::Args),
    Query(query::Args),
    Check(check::Args),
    Explain(explain::Args),
    Trend(trend::Args),
    Delay(delay::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Log(log::Args),
    Suppress(suppress::Args),
    Test(test::Args),
    Status(status::Args),
    Alert(alert::Args),
    Report(report::Args),
    Watch(watch::Args),
}

/// Runs the command and returns how it ended.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Exit> {
    crate::output::set_csv_options(crate::output::CsvOptions {
        bom: cli.global.bom,
        raw: cli.global.csv_raw,
    });
    match cli.command {
        Command::Demo(a) => demo::run(&cli.global, a, out),
        Command::Collect(a) => collect::run(&cli.global, a, out),
        Command::Snapshots(a) => snapshots::run(&cli.global, a, out),
        Command::Export(a) => export::run(&cli.global, a, out),
        Command::Diff(a) => diff::run(&cli.global, a, out),
        Command::Audit(a) => audit::run(&cli.global, a, out),
        Command::Query(a) => query::run(&cli.global, a, out),
        Command::Check(a) => check::run(&cli.global, a, out),
        Command::Explain(a) => explain::run(&cli.global, a, out),
        Command::Trend(a) => trend::run(&cli.global, a, out),
        Command::Delay(a) => delay::run(&cli.global, a, out),
        Command::Plan(a) => plan::run(&cli.global, a, out),
        Command::Apply(a) => apply::run(&cli.global, a, out),
        Command::Log(a) => log::run(&cli.global, a, out),
        Command::Suppress(a) => suppress::run(&cli.global, a, out),
        Command::Test(a) => test::run_tests(&cli.global, a, out),
        Command::Status(a) => status::run(&cli.global, a, out),
        Command::Alert(a) => alert::run(&cli.global, a, out),
        Command::Report(a) => report::run(&cli.global, a, out),
        Command::Watch(a) => watch::run(&cli.global, a, out),
    }
}

impl Global {
    /// The config: `--config FILE` (which must exist), else `driftwatch.toml` here if present.
    /// Loaded on first use, once.
    pub fn config(&self) -> Result<Option<&Config>> {
        let loaded = self.loaded.get_or_init(|| match &self.config {
            Some(path) => Config::load(path).map(Some),
            None => {
                let default = Path::new("driftwatch.toml");
                if default.is_file() {
                    Config::load(default).map(Some)
                } else {
                    Ok(None)
                }
            }
        });
        match loaded {
            Ok(c) => Ok(c.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    pub fn require_config(&self) -> Result<&Config> {
        self.config()?.ok_or_else(|| {
            Error::input(
                "no config: driftwatch.toml is not in the current folder; pass --config FILE",
            )
        })
    }

    /// `--store`, else the config's `store`, else `driftwatch.db` beside the config (or here).
    pub fn store_path(&self, vars: &Vars) -> Result<PathBuf> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        match self.config()? {
            Some(c) => Ok(c
                .store_path(vars)?
                .unwrap_or_else(|| c.origin.dir.join("driftwatch.db"))),
            None => Ok(PathBuf::from("driftwatch.db")),
        }
    }

    /// Opens the existing store for a reading command.
    pub fn open_store(&self) -> Result<crate::store::Store> {
        crate::store::Store::open_existing(&self.store_path(&Vars::default())?)
    }

    /// For a command that writes text only: any `--format` but `table` is refused, rather
    /// than ignored (a script asking for JSON must not get text with exit 0).
    pub fn text_only(&self, command: &str) -> Result<()> {
        match self.format {
            Some(f) if f != Format::Table => Err(Error::input(format!(
                "`{command}` writes text only; --format {} is not supported",
                format!("{f:?}").to_lowercase()
            ))),
            _ => Ok(()),
        }
    }

    pub fn format(&self, default: Format) -> Format {
        self.format.unwrap_or(default)
    }
}

/// Writes through to `out`, turning I/O errors into driftwatch errors.
pub(crate) fn io(r: std::io::Result<()>) -> Result<()> {
    r.map_err(Error::from)
}

/// The verdict of a command whose output was `written`: a reader that went away early
/// (`driftwatch audit | head -1`) neither fails the command nor changes its verdict.
pub(crate) fn verdict(exit: Exit, written: Result<()>) -> Result<Exit> {
    match written {
        Err(e) if e.kind == crate::error::ErrorKind::BrokenPipe => Ok(exit),
        Err(e) => Err(e),
        Ok(()) => Ok(exit),
    }
}

/// `path` without `.` and `..` steps, relative to the working folder when it is inside it.
pub(crate) fn shown_path(path: &Path) -> String {
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if clean.file_name().is_some() => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    let here = std::env::current_dir().unwrap_or_default();
    clean
        .strip_prefix(&here)
        .unwrap_or(&clean)
        .display()
        .to_string()
}

/// Who is acting, for the audit log: `--actor`, else `DRIFTWATCH_ACTOR`, else the login name.
pub(crate) fn actor(given: Option<&str>) -> String {
    match given {
        Some(a) if !a.trim().is_empty() => a.to_string(),
        _ => crate::store::log::default_actor(),
    }
}

/// Keeps `notes` of `command` in the audit log too (a stale source, a mass removal, a rule that
/// could not run): the log is where an operator looks later. A log that cannot be written is
/// no reason to fail the command.
pub(crate) fn log_notes(store: &crate::store::Store, command: &str, notes: &[String]) {
    let actor = crate::store::log::default_actor();
    let entries = notes
        .iter()
        .map(|n| {
            let mut e = crate::store::log::Entry::new(command, &actor);
            e.outcome = Some("note".into());
            e.error = Some(n.clone());
            e
        })
        .collect();
    let _ = store.log(entries);
}

/// Prints notes of the library (a rule that could not be evaluated, a store opened
/// read-only) on standard error, each once.
pub(crate) fn print_notes(notes: &[String]) {
    let mut seen: Vec<&String> = Vec::new();
    for n in notes {
        if !seen.contains(&n) {
            eprintln!("driftwatch: note: {}", crate::config::mask(n));
            seen.push(n);
        }
    }
}
