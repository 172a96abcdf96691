//! Evaluating rules at a run: each rule run through `rules::eval`, what it found recorded in
//! its history (episodes), and each violation marked with when it was first seen and whether it
//! is within the rule's grace. The result is an audit: every selected rule with its status, and
//! the snapshots the run was read from. A rule that does not check or fails to run is reported
//! as `error`; the others still run.

use super::kept::Kept;
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
    /// The violations, when the audit holds them (`audit`); empty when they are kept in the
    /// store (`audit_kept`).
    pub violations: Vec<Violation>,
    /// How many violations it found (with `--subject`, of that subject).
    pub found: u64,
    /// The names of the fields it shows, in order.
    pub shows: Vec<String>,
    /// Of those, how many count toward thresholds: neither pending nor suppressed.
    pub counted: u64,
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
        self.counted
    }

    /// Counts `v` among the rule's violations.
    fn count(&mut self, v: &Violation) {
        self.found += 1;
        self.pending += u64::from(v.pending);
        self.suppressed += u64::from(v.suppressed.is_some());
        self.counted += u64::from(!v.pending && v.suppressed.is_none());
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

/// Evaluates `rules` at `at`, their violations held in the report. With `subject`, only the
/// violations about that subject (compared without regard to case) are kept, and statuses are
/// of those.
pub fn audit(
    store: &Store,
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
    suppressions: &[Suppression],
) -> Result<AuditReport> {
    Ok(audit_keeping(store, rules, at, subject, suppressions, false)?.0)
}

/// `audit`, with the violations kept in the store's temporary table instead of the report, one
/// at a time from SQLite to there, so that memory does not grow with them; `Kept::each` reads
/// them back. For outputs that list every violation of a big audit (CSV, JSON).
pub fn audit_kept(
    store: &Store,
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
    suppressions: &[Suppression],
) -> Result<(AuditReport, Kept)> {
    let (report, kept) = audit_keeping(store, rules, at, subject, suppressions, true)?;
    Ok((report, kept.expect("kept when asked")))
}

/// `audit` (`keep` false) or `audit_kept` (`keep` true).
pub fn audit_keeping(
    store: &Store,
    rules: &[&Loaded<'_>],
    at: &At,
    subject: Option<&str>,
    suppressions: &[Suppression],
    keep: bool,
) -> Result<(AuditReport, Option<Kept>)> {
    let mut kept = match keep {
        true => Some(Kept::start(store, at, subject, suppressions)?),
        false => None,
    };
    let marks = Marks::new(at, subject, suppressions);
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
            found: 0,
            shows: rule.show_names(),
            counted: 0,
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
                    match &mut kept {
                        Some(k) => k.keep(store, l, checked, &prepared.compiled).map(|ranged| {
                            eval::Evaluation {
                                ranged,
                                violations: Vec::new(),
                                note: None,
                            }
                        }),
                        None => eval::run(store, checked, &prepared.compiled),
                    }
                })
                .map_err(|e| e.message),
        };
        match outcome {
            Ok(mut ev) => {
                match &mut kept {
                    Some(k) => {
                        notes.extend(k.remember(store, l, at, ev.ranged));
                        match k.counts(store, l.name())? {
                            Some((found, pending, suppressed)) => {
                                report.found = found;
                                report.pending = pending;
                                report.suppressed = suppressed;
                                report.counted = found - pending - suppressed;
                            }
                            None => k.each(store, l.name(), |v| {
                                report.count(&v);
                                Ok(())
                            })?,
                        }
                    }
                    None => {
                        notes.extend(remember(store, l, at, &mut ev, &mut times));
                        ev.violations.retain_mut(|v| marks.apply(l.name(), v));
                        for v in &ev.violations {
                            report.count(v);
                        }
                        report.violations = ev.violations;
                    }
                }
                report.status = eval::status(rule, report.counted(), ev.ranged);
                report.ranged = ev.ranged;
            }
            Err(message) => report.error = Some(message),
        }
        reports.push(report);
    }
    bar.finish_and_clear();
    if let Some(s) = subject {
        if reports.iter().all(|r| r.found == 0) {
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
    Ok((
        AuditReport {
            at: at.clone(),
            snapshots: uses,
            rules: reports,
            notes,
        },
        kept,
    ))
}

/// What an audit marks on each violation it found besides its history: whether it is about
/// the subject asked for, and the suppression it is under.
pub(crate) struct Marks<'a> {
    at: &'a At,
    subject: Option<&'a str>,
    /// Shared by the violations each covers.
    suppressions: Vec<std::sync::Arc<Suppression>>,
}

impl<'a> Marks<'a> {
    pub fn new(at: &'a At, subject: Option<&'a str>, suppressions: &[Suppression]) -> Self {
        Marks {
            at,
            subject,
            suppressions: suppressions
                .iter()
                .cloned()
                .map(std::sync::Arc::new)
                .collect(),
        }
    }

    /// Marks `v` with its suppression; false when it is not about the subject asked for.
    pub fn apply(&self, rule: &str, v: &mut Violation) -> bool {
        if let Some(s) = self.subject {
            if !v.subject_text().is_some_and(|t| t.eq_ignore_ascii_case(s)) {
                return false;
            }
        }
        v.suppressed = self
            .suppressions
            .iter()
            .find(|s| s.covers(rule, &v.key, &self.at.taken_at))
            .cloned();
        true
    }
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
    let mut young = Young::new(store, l, at);
    for (v, first) in ev.violations.iter_mut().zip(first_runs) {
        v.first_seen = times.get(store, first).ok();
        v.pending = young.is(first, v.first_seen.as_deref());
    }
    None
}

/// Which episodes are younger than a rule's grace at the audited run, by their first run.
pub(crate) struct Young {
    grace: Option<i64>,
    /// The first run the rule was evaluated at: a violation already there is of unknown age,
    /// so it is never taken for a young one.
    since: Option<i64>,
    at: String,
    /// Computed once a first run.
    known: HashMap<i64, bool>,
}

impl Young {
    pub fn new(store: &Store, l: &Loaded<'_>, at: &At) -> Young {
        Young::of(store, l.name(), l.rule.grace, at)
    }

    /// For rule `rule` with `grace` (seconds).
    pub fn of(store: &Store, rule: &str, grace: Option<i64>, at: &At) -> Young {
        Young {
            grace,
            since: super::record::first_evaluated(store.conn(), rule)
                .ok()
                .flatten(),
            at: at.taken_at.clone(),
            known: HashMap::new(),
        }
    }

    /// The episodes that are pending, when some can be: those that began after run `since`
    /// (the first evaluation) at a time after `after` (the audited run's time less the grace).
    pub fn window(&self) -> Option<(i64, String)> {
        let (grace, since) = (self.grace?, self.since?);
        let at = crate::time::parse(&self.at)?;
        Some((since, crate::time::format(at - grace)))
    }

    /// Whether an episode that began at run `first` (at `first_seen`) is still pending.
    pub fn is(&mut self, first: i64, first_seen: Option<&str>) -> bool {
        match (self.grace, self.since) {
            (Some(grace), Some(s)) if first > s => {
                let at = &self.at;
                *self.known.entry(first).or_insert_with(|| {
                    first_seen
                        .and_then(|f| super::hours_between(f, at))
                        .is_some_and(|h| h * 3600.0 < grace as f64)
                })
            }
            _ => false,
        }
    }
}

/// The times of runs, read once each.
#[derive(Default)]
pub(crate) struct RunTimes(HashMap<i64, String>);

impl RunTimes {
    pub fn get(&mut self, store: &Store, run: i64) -> Result<String> {
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
