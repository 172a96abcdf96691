//! Evaluating rules at a run: each rule run through `rules::eval`, what it found recorded in
//! its history (episodes), and each violation marked with when it was first seen and whether it
//! is within the rule's grace. The result is an audit: every selected rule with its status, and
//! the snapshots the run was read from. A rule that does not check or fails to run is reported
//! as `error`; the others still run.

use super::suppressed::Suppression;
use crate::error::{Exit, Result};
use crate::rules::ast::Severity;
use crate::rules::eval::{self, At, RunTarget, Status, Violation};
use crate::rules::Loaded;
use crate::store::Store;
use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct RuleReport {
    pub name: String,
    pub title: Option<String>,
    pub severity: Severity,
    pub status: Status,
    /// How many rows (or groups) the rule ranged over (`checked` in JSON output).
    pub ranged: u64,
    pub violations: Vec<Violation>,
    pub pending: u64,
    /// Violations under a suppression: listed, not counted.
    pub suppressed: u64,
    /// Why the rule could not run.
    pub error: Option<String>,
}

/// The snapshot of a source that an audit read.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotUse {
    pub source: String,
    pub id: i64,
    pub run: i64,
    pub taken_at: String,
    /// Older than the audited run: the source was not collected (or failed) in that run.
    pub stale: bool,
}

#[derive(Debug, Clone)]
pub struct AuditReport {
    pub at: At,
    pub snapshots: Vec<SnapshotUse>,
    pub rules: Vec<RuleReport>,
    /// What the caller should know but is not a result (history not recorded, an index not
    /// made), one line each.
    pub notes: Vec<String>,
}

impl RuleReport {
    /// Violations that count toward thresholds: neither pending nor suppressed.
    pub fn counted(&self) -> u64 {
        self.violations
            .iter()
            .filter(|v| !v.pending && v.suppressed.is_none())
            .count() as u64
    }
}

impl AuditReport {
    /// Violations of all rules, pending ones excepted.
    pub fn total_issues(&self) -> u64 {
        self.rules.iter().map(|r| r.counted()).sum()
    }

    /// A rule at `fail`; else a rule that could not run (invalid input); else fine.
    pub fn exit(&self) -> Exit {
        let worst = self.rules.iter().map(|r| r.status).collect::<Vec<_>>();
        if worst.contains(&Status::Fail) {
            Exit::RuleFailed
        } else if worst.contains(&Status::Error) {
            Exit::Invalid
        } else {
            Exit::Ok
        }
    }
}

/// Evaluates `rules` at `at`. With `subject`, only the violations about that subject (compared
/// without regard to case) are kept, and statuses are of those.
pub fn audit(
    store: &Store,
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
    suppressions: &[Suppression],
) -> Result<AuditReport> {
    let mut snapshots: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut times = RunTimes::default();
    let mut reports = Vec::new();
    let mut notes = Vec::new();
    let bar = crate::output::progress(rules.len() as u64, "evaluating rules");
    for l in rules {
        bar.inc(1);
        let rule = l.rule;
        let mut report = RuleReport {
            name: rule.name.name.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            status: Status::Error,
            ranged: 0,
            violations: Vec::new(),
            pending: 0,
            suppressed: 0,
            error: None,
        };
        let outcome = match &l.outcome {
            Err(_) => Err(l.error_line().unwrap_or_default()),
            Ok(checked) => RunTarget::for_rule(store, checked, at)
                .and_then(|target| {
                    for (source, s) in target.snapshots.values() {
                        let slot = snapshots.entry(source.clone()).or_insert((s.id, s.run_id));
                        if s.id > slot.0 {
                            *slot = (s.id, s.run_id);
                        }
                    }
                    let prepared = eval::prepare(store, checked, &target)?;
                    notes.extend(prepared.note);
                    eval::run(store, checked, &prepared.compiled)
                })
                .map_err(|e| e.message),
        };
        match outcome {
            Ok(mut ev) => {
                notes.extend(remember(store, l, at, &mut ev, &mut times));
                if let Some(s) = subject {
                    ev.violations
                        .retain(|v| v.subject_text().is_some_and(|t| t.eq_ignore_ascii_case(s)));
                }
                for v in &mut ev.violations {
                    v.suppressed = suppressions
                        .iter()
                        .find(|s| s.covers(l.name(), &v.key, &at.taken_at))
                        .map(|s| std::sync::Arc::new(s.clone()));
                }
                report.pending = ev.violations.iter().filter(|v| v.pending).count() as u64;
                report.suppressed = ev
                    .violations
                    .iter()
                    .filter(|v| v.suppressed.is_some())
                    .count() as u64;
                report.violations = ev.violations;
                report.status = eval::status(rule, report.counted(), ev.ranged);
                report.ranged = ev.ranged;
            }
            Err(message) => report.error = Some(message),
        }
        reports.push(report);
    }
    bar.finish_and_clear();
    if let Some(s) = subject {
        if reports.iter().all(|r| r.violations.is_empty()) {
            // A typo in --subject would otherwise read as "everything passes".
            notes.push(format!(
                "no violation of any rule is about subject `{s}` (compared without regard to case); if you expected some, check its spelling"
            ));
        }
    }
    let mut uses = Vec::new();
    for (source, (id, run)) in snapshots {
        let taken_at = times.get(store, run)?;
        uses.push(SnapshotUse {
            source,
            id,
            run,
            taken_at,
            stale: run != at.run,
        });
    }
    Ok(AuditReport {
        at: at.clone(),
        snapshots: uses,
        rules: reports,
        notes,
    })
}

/// Records what a rule found at the run in its history, and marks each violation with when its
/// episode began and whether it is younger than the rule's `grace`. A store that cannot be
/// written still gets its audit, without history, and a note that says so.
fn remember(
    store: &Store,
    l: &Loaded<'_>,
    at: &At,
    ev: &mut eval::Evaluation,
    times: &mut RunTimes,
) -> Option<String> {
    let recorded = super::record::record(
        store.conn(),
        l.name(),
        &l.fingerprint(),
        at.run,
        ev.ranged,
        &ev.violations,
    );
    let first_runs = match recorded {
        Ok(f) => f,
        Err(e) => {
            return Some(format!(
                "rule {}: its history could not be recorded: {}",
                l.name(),
                e.message
            ))
        }
    };
    // A violation already there at the first run the rule was evaluated at is of unknown age,
    // so it is never taken for a young one.
    let since = super::record::first_evaluated(store.conn(), l.name())
        .ok()
        .flatten();
    // The age of each episode's first run, computed once a run (and only with a grace).
    let mut young: HashMap<i64, bool> = HashMap::new();
    for (v, first) in ev.violations.iter_mut().zip(first_runs) {
        v.first_seen = times.get(store, first).ok();
        v.pending = match (l.rule.grace, since) {
            (Some(grace), Some(s)) if first > s => *young.entry(first).or_insert_with(|| {
                v.first_seen
                    .as_deref()
                    .and_then(|f| super::hours_between(f, &at.taken_at))
                    .is_some_and(|h| h * 3600.0 < grace as f64)
            }),
            _ => false,
        };
    }
    None
}

/// The times of runs, read once each.
#[derive(Default)]
struct RunTimes(HashMap<i64, String>);

impl RunTimes {
    fn get(&mut self, store: &Store, run: i64) -> Result<String> {
        if let Some(t) = self.0.get(&run) {
            return Ok(t.clone());
        }
        let t: String = store
            .conn()
            .query_row("SELECT taken_at FROM runs WHERE id = ?1", [run], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or_default();
        self.0.insert(run, t.clone());
        Ok(t)
    }
}
