//! The demo's sync management part: the LMS plan of the last day (its platforms are exports,
//! so every action is listed for a person), then the PeerQuest audit's fixes planned and
//! applied to a temporary copy of its SSOT, before → after.

use super::line;
use crate::collect::collect_run;
use crate::config::Vars;
use crate::error::{Error, Result};
use crate::fix::apply::{apply, Options};
use crate::fix::plan::plan;
use crate::history::audit_with_history;
use crate::platforms::{Config, Context};
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, load_files, Loaded, RuleFile};
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// The plan of the LMS rules at the last day.
pub fn show_lms_plan(store: &Store, config: &Config, last: &At, out: &mut dyn Write) -> Result<()> {
    let files = load_files(Some(config), &[])?;
    let schemas = Schemas::at_run(store, last.run)?;
    let loaded = check_files(&files, &schemas);
    let rules: Vec<&Loaded<'_>> = loaded.iter().collect();
    let planned = plan(store, config, &files, &rules, last)?;
    line(
        out,
        "\nThe plan for day 7 (`driftwatch plan`). The sample platforms are exports, not live services, so each action is listed for a person; with a source's [write] credentials it is executed by `driftwatch apply`:\n".into(),
    )?;
    super::super::plan::write_table(&planned.plan, &planned.audit, None, out)
}

/// The PeerQuest sample's SSOT fixed by plan and apply, on a temporary copy.
pub fn show_peerquest(samples: &Path, out: &mut dyn Write) -> Result<()> {
    let dir = TempDir::new()?;
    let d = &dir.0;
    let copy = |name: &str| {
        std::fs::copy(samples.join("peerquest").join(name), d.join(name))
            .map(|_| ())
            .map_err(|e| Error::runtime(format!("copying the PeerQuest sample: {e}")))
    };
    copy("ssot.db")?;
    let rules = samples
        .join("../queries/peerquest.rules")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/peerquest.rules"));
    let text = std::fs::read_to_string(samples.join("peerquest/driftwatch.toml"))?.replace(
        "rules = [\"../../queries/peerquest.rules\"]",
        &format!("rules = [{:?}]", rules.display().to_string()),
    ) + "\n[sources.ssot.write]\n";
    let config = Config::parse(&text, &d.join("driftwatch.toml"), d)?;
    let mut store = Store::open(&d.join("driftwatch.db"))?;
    line(
        out,
        "\nThe PeerQuest audit (AUDIT-001) fixed by plan and apply, on a temporary copy of its SSOT (`[sources.ssot.write]`):".into(),
    )?;
    let files = load_files(Some(&config), &[])?;
    let mut total = audit_round(&mut store, &config, &files, out, "Before")?;
    // Inserting the missing participants brings quests 2 and 3 under phases 3 and 4 (open,
    // no assignee): a second round sets them in progress and assigns them, as the original
    // command's assign_to_user did in one step.
    for round in 1..=2 {
        if total == 0 {
            break;
        }
        let at = latest(&store)?;
        let schemas = Schemas::at_run(&store, at.run)?;
        let loaded = check_files(&files, &schemas);
        let rules: Vec<&Loaded<'_>> = loaded.iter().collect();
        let planned = plan(&store, &config, &files, &rules, &at)?;
        line(out, format!("\nRound {round}: `driftwatch plan`"))?;
        super::super::plan::write_table(&planned.plan, &planned.audit, None, out)?;
        let vars = Vars::default();
        let cx = Context {
            origin: &config.origin,
            vars: &vars,
        };
        let opts = Options {
            dry_run: false,
            yes: false,
            actor: "demo",
        };
        let report = apply(&store, &config, &cx, &loaded, &planned.plan, &opts)?;
        line(out, format!("\nRound {round}: `driftwatch apply`"))?;
        super::super::apply::write_table(&report, out)?;
        total = audit_round(&mut store, &config, &files, out, "After")?;
    }
    let participants: i64 = rusqlite::Connection::open(d.join("ssot.db"))
        .and_then(|c| {
            c.query_row("SELECT count(*) FROM quests_questparticipant", [], |r| {
                r.get(0)
            })
        })
        .map_err(|e| Error::runtime(format!("reading the copy: {e}")))?;
    line(
        out,
        format!("The copy now holds {participants} participants; `driftwatch log` shows every action, and `log --verify` checks the chain."),
    )
}

/// Collects the copy and prints its total of issues; returns it.
fn audit_round(
    store: &mut Store,
    config: &Config,
    files: &[RuleFile],
    out: &mut dyn Write,
    when: &str,
) -> Result<u64> {
    let report = collect_run(store, config, &Vars::default(), &[], None, false)?;
    if let Some(e) = report.first_failure() {
        return Err(e.clone());
    }
    let at = latest(store)?;
    let schemas = Schemas::at_run(store, at.run)?;
    let loaded = check_files(files, &schemas);
    let rules: Vec<&Loaded<'_>> = loaded.iter().collect();
    let audit = audit_with_history(store, Some(config), files, &rules, &at, None)?;
    let total = audit.total_issues();
    line(out, format!("\n{when}: TOTAL ISSUES: {total}"))?;
    Ok(total)
}

fn latest(store: &Store) -> Result<At> {
    let (run, taken_at) = store.resolve_run("latest")?;
    Ok(At { run, taken_at })
}

/// A folder removed when the demo ends.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!("driftwatch-demo-pq-{}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|e| Error::runtime(format!("{}: {e}", p.display())))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
