//! History across runs, and the evaluation that feeds it.
//!
//! - `evaluate`: rules evaluated at one run, each violation recorded in the rule's history as
//!   part of an episode (`record`), and marked with when it was first seen and whether it is
//!   still within the rule's grace. This is the one way a rule is evaluated at a run.
//! - `kept`: an audit whose violations stay in the store's temporary table instead of memory
//!   (`audit_kept`, for outputs that list every violation of a big audit).
//! - `backfill`: the runs a question needs that have not been evaluated yet, evaluated first.
//! - `diff` (rule diff between any two runs), `trend` (violations per run), `delay` (how long
//!   violations take to resolve): functions over the episodes, returning data.
//!
//! [`History`] is what the history questions share: the store, the config and the chosen rules.

pub mod backfill;
pub mod delay;
pub mod diff;
pub mod evaluate;
pub mod kept;
pub mod record;
pub mod suppressed;
pub mod trend;

pub use backfill::{audit_with_history, audit_with_history_keeping, backfill, Skipped};
pub use evaluate::{audit, audit_keeping, audit_kept, AuditReport, RuleReport, SnapshotUse};
pub use kept::Kept;

use crate::error::Result;
use crate::platforms::Config;
use crate::rules::eval::At;
use crate::rules::{Loaded, RuleFile};
use crate::store::Store;

/// Hours between two stored timestamps.
pub(crate) fn hours_between(from: &str, to: &str) -> Option<f64> {
    let (a, b) = (crate::time::parse(from)?, crate::time::parse(to)?);
    Some((b - a) as f64 / 3600.0)
}

/// What a history question works with: the store, the config, and the chosen rules (checked
/// against the latest run's schemas; each run is checked again against its own).
pub struct History<'a> {
    pub store: &'a Store,
    pub config: Option<&'a Config>,
    pub files: &'a [RuleFile],
    pub rules: Vec<&'a Loaded<'a>>,
    /// Where a rule could not be evaluated, gathered over every question asked.
    skipped: std::cell::RefCell<Vec<Skipped>>,
    /// Notes of the evaluations (a rule's history evaluated again, a store read-only).
    notes: std::cell::RefCell<Vec<String>>,
}

impl<'a> History<'a> {
    pub fn new(
        store: &'a Store,
        config: Option<&'a Config>,
        files: &'a [RuleFile],
        rules: Vec<&'a Loaded<'a>>,
    ) -> History<'a> {
        History {
            store,
            config,
            files,
            rules,
            skipped: Default::default(),
            notes: Default::default(),
        }
    }

    /// Evaluates the rules at the runs that have not been evaluated yet. Returns where a rule
    /// could not be (also kept in `skipped`, for the notes a command prints).
    pub fn backfill(&self, runs: &[At]) -> Result<Vec<Skipped>> {
        let done = backfill(self.store, self.config, self.files, &self.rules, runs)?;
        self.skipped
            .borrow_mut()
            .extend(done.skipped.iter().cloned());
        self.notes.borrow_mut().extend(done.notes);
        Ok(done.skipped)
    }

    /// The notes to show: one per rule that could not be evaluated at some runs, and one per
    /// rule whose history was evaluated again because its text changed.
    pub fn notes(&self) -> Vec<String> {
        let skipped = self.skipped.borrow();
        let mut notes = self.notes.borrow().clone();
        let mut rules: Vec<&str> = skipped.iter().map(|s| s.rule.as_str()).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
            .into_iter()
            .map(|rule| {
                let runs: Vec<&Skipped> = skipped.iter().filter(|s| s.rule == rule).collect();
                let mut ids: Vec<i64> = runs.iter().map(|s| s.run).collect();
                ids.sort_unstable();
                ids.dedup();
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!(
                    "rule {rule} could not be evaluated at run{} {}: {}",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", "),
                    runs[0].why
                )
            })
            .for_each(|n| notes.push(n));
        notes
    }
}

/// Every run of the store taken at or after `since` (all when None).
pub fn runs_since(store: &Store, since: Option<&str>) -> Result<Vec<At>> {
    Ok(store
        .runs()?
        .iter()
        .filter(|r| since.is_none_or(|s| r.taken_at.as_str() >= s))
        .map(At::from)
        .collect())
}
