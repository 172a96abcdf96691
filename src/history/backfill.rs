//! Evaluating rules at the runs a history question needs and that have not been evaluated yet,
//! each against the schemas of its own run, through the same path as `audit`.

use super::evaluate::{audit_keeping, audit_kept, AuditReport};
use super::kept::{Kept, PairKept};
use super::record::reset_if_changed;
use crate::error::Result;
use crate::platforms::Config;
use crate::rules::check::Checked;
use crate::rules::check::Schemas;
use crate::rules::eval::{self, At, Keyed};
use crate::rules::{check_files, Loaded, RuleFile};
use crate::store::Store;
use rusqlite::params;

/// A rule that could not be evaluated at a run (an entity not collected yet, a field the
/// source did not have then), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub rule: String,
    pub run: i64,
    pub why: String,
}

/// What a backfill could not do, and what to tell about it.
#[derive(Debug, Default)]
pub struct Backfilled {
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
}

/// Makes sure each of `rules` has been evaluated at each of `runs` (in the version of its text
/// that `rules` holds). Returns where that was not possible.
pub fn backfill(
    store: &Store,
    config: Option<&Config>,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    runs: &[At],
) -> Result<Backfilled> {
    backfill_holding(store, config, files, rules, runs, HOLD)
}

/// How many violations a rule evaluated at two runs in one pass may hold in memory: past it,
/// they are kept in the store's temporary table, so memory does not grow with them.
pub const HOLD: usize = 100_000;

/// `backfill`, holding at most `hold` violations of a pair of runs in memory.
pub fn backfill_holding(
    store: &Store,
    config: Option<&Config>,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    runs: &[At],
    hold: usize,
) -> Result<Backfilled> {
    let mut notes = Vec::new();
    for l in rules {
        if reset_if_changed(store.conn(), l.name(), &l.fingerprint())? {
            notes.push(format!(
                "rule {} has changed since its history was recorded; its history is evaluated again",
                l.name()
            ));
        }
    }
    let mut skipped = Vec::new();
    let mut evaluated = store
        .conn()
        .prepare("SELECT 1 FROM evaluations WHERE rule = ?1 AND run_id = ?2")?;
    // Runs two at a time: a rule evaluated at neither, that checks at both and ranges over one
    // entity, is evaluated at both in one pass (`eval::evaluate_pair_each`) and recorded for
    // each.
    for pair in runs.chunks(2) {
        let [a, b] = pair else { continue };
        let both: Vec<&str> = rules
            .iter()
            .map(|l| l.name())
            .filter(|n| {
                !evaluated.exists(params![n, a.run]).unwrap_or(true)
                    && !evaluated.exists(params![n, b.run]).unwrap_or(true)
            })
            .collect();
        if both.is_empty() {
            continue;
        }
        let (sa, sb) = (
            Schemas::at_run(store, a.run)?.with_declared(config),
            Schemas::at_run(store, b.run)?.with_declared(config),
        );
        let (la, lb) = (check_files(files, &sa), check_files(files, &sb));
        for name in both {
            let (Some(ca), Some(cb)) = (
                la.iter().find(|l| l.name() == name),
                lb.iter().find(|l| l.name() == name),
            ) else {
                continue;
            };
            let (Ok(_), Ok(checked)) = (&ca.outcome, &cb.outcome) else {
                continue;
            };
            if checked.entities().iter().any(|e| {
                store.snapshot_for(e, a.run).ok().flatten().is_none()
                    || store.snapshot_for(e, b.run).ok().flatten().is_none()
            }) {
                continue;
            }
            // A rule the pair fails on (two violations with one key) is left to the pass per
            // run below, which reports it as it reports any rule it cannot evaluate.
            let _ = evaluate_two(store, checked, name, &cb.fingerprint(), [a, b], hold);
        }
    }
    let bar = crate::output::progress(runs.len() as u64, "evaluating earlier runs");
    for at in runs {
        bar.inc(1);
        let mut missing = Vec::new();
        for l in rules {
            if !evaluated.exists(params![l.name(), at.run])? {
                missing.push(l.name());
            }
        }
        if missing.is_empty() {
            continue;
        }
        // Checked against this run's schemas: a field may have come or gone since.
        let schemas = Schemas::at_run(store, at.run)?.with_declared(config);
        let loaded = check_files(files, &schemas);
        let selected: Vec<&Loaded<'_>> = loaded
            .iter()
            .filter(|l| missing.contains(&l.name()))
            .collect();
        // Kept, not held: an earlier run's violations are recorded, not shown.
        let (report, _) = audit_kept(store, &selected, at, None, &[])?;
        notes.extend(report.notes);
        for r in report.rules {
            if let Some(why) = r.error {
                skipped.push(Skipped {
                    rule: r.name,
                    run: at.run,
                    why,
                });
            }
        }
    }
    bar.finish_and_clear();
    Ok(Backfilled { skipped, notes })
}

/// Evaluates a rule at two runs in one pass and records both, its violations held while they
/// are at most `hold`, kept in the store past that. Nothing is recorded on an error.
fn evaluate_two(
    store: &Store,
    checked: &Checked<'_>,
    name: &str,
    fingerprint: &str,
    [a, b]: [&At; 2],
    hold: usize,
) -> Result<()> {
    // Held while they are few, kept in the store past `hold`.
    let mut held: [Vec<Keyed>; 2] = Default::default();
    let mut kept = PairKept::new(store)?;
    let ranged = eval::evaluate_pair_each(store, checked, a, b, &mut |run, v| {
        if kept.keeps() {
            return kept.add(run, &v.1);
        }
        held[run].push(v);
        if held[0].len() + held[1].len() > hold {
            for (run, vs) in held.iter_mut().enumerate() {
                for (_, v) in vs.drain(..) {
                    kept.add(run, &v)?;
                }
            }
        }
        Ok(())
    })?;
    match ranged {
        None => {}
        Some([ra, rb]) if kept.keeps() => {
            kept.record(name, fingerprint, [(a.run, ra), (b.run, rb)])?
        }
        Some([ra, rb]) => {
            let [va, vb] = held;
            let (va, vb) = (
                eval::in_key_order(checked, va)?,
                eval::in_key_order(checked, vb)?,
            );
            super::record::record_two(
                store.conn(),
                name,
                fingerprint,
                [(a.run, ra, &va), (b.run, rb, &vb)],
            )?;
        }
    }
    Ok(())
}

/// An audit at `at` whose violations know when they were first seen: the runs before it that
/// the rules have not been evaluated at are evaluated first (once; the store keeps them).
pub fn audit_with_history(
    store: &Store,
    config: Option<&Config>,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
) -> Result<AuditReport> {
    Ok(audit_with_history_keeping(store, config, files, rules, at, subject, false)?.0)
}

/// `audit_with_history`; with `keep`, its violations kept in the store instead of the report
/// (`evaluate::audit_keeping`).
pub fn audit_with_history_keeping(
    store: &Store,
    config: Option<&Config>,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
    keep: bool,
) -> Result<(AuditReport, Option<Kept>)> {
    let earlier: Vec<At> = store
        .runs()?
        .iter()
        .filter(|r| r.id < at.run)
        .map(At::from)
        .collect();
    // A rule that does not check at this run is reported by the audit; its history can wait.
    let runnable: Vec<&Loaded<'_>> = rules
        .iter()
        .copied()
        .filter(|l| l.outcome.is_ok())
        .collect();
    let earlier = backfill(store, config, files, &runnable, &earlier)?;
    let suppressions = super::suppressed::all(store, config)?;
    let (mut report, kept) = audit_keeping(store, rules, at, subject, &suppressions, keep)?;
    report.notes.splice(0..0, earlier.notes);
    Ok((report, kept))
}
