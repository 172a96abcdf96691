//! The periodic report (`driftwatch report`): for the period ending at a run, the status, each
//! rule's violations and what changed in the period, the trend, the propagation delay per
//! platform, the most affected subjects, the suppressions in force, the actions applied in the
//! period with their verification, and the actions a plan would take now.

use super::status::{status, Status};
use crate::error::{Error, Result};
use crate::fix::plan::{from_audit, Action};
use crate::history::delay::{by_platform, delays, percentile};
use crate::history::diff::{rule_diffs, Change};
use crate::history::trend::trends;
use crate::history::{audit_with_history, AuditReport, History};
use crate::platforms::Config;
use crate::rules::eval::At;
use crate::rules::{Loaded, RuleFile};
use crate::store::{Store, Suppression};
use serde::Serialize;
use std::collections::BTreeMap;

/// How far back a report looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub fn seconds(self) -> i64 {
        match self {
            Period::Daily => 86_400,
            Period::Weekly => 7 * 86_400,
            Period::Monthly => 30 * 86_400,
        }
    }
}

/// How many rows a list of the report holds; the rest is in the CSV exports.
pub const LISTED: usize = 25;

#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub title: Option<String>,
    pub severity: String,
    pub status: String,
    /// At the end of the period, pending and suppressed ones aside.
    pub violations: u64,
    pub new: u64,
    pub resolved: u64,
    pub persisting: u64,
    /// Appeared and were resolved within the period.
    pub transient: u64,
    /// Violations at each run of the period.
    pub trend: Vec<(i64, String, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformDelay {
    pub platform: String,
    pub rules: Vec<String>,
    pub episodes: u64,
    pub resolved: u64,
    pub open: u64,
    pub p50_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    pub max_hours: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub plan_id: String,
    pub action_id: i64,
    pub rule: String,
    pub key: String,
    pub verb: String,
    pub target: String,
    pub outcome: String,
    pub applied_at: String,
    pub verification: String,
}

/// The report's figures.
pub struct Report {
    pub period: Period,
    pub from: At,
    pub to: At,
    pub status: Status,
    pub rules: Vec<RuleSummary>,
    pub total_issues: u64,
    pub delays: Vec<PlatformDelay>,
    /// (subject, violations, rules), most first.
    pub subjects: Vec<(String, u64, Vec<String>)>,
    pub suppressions: Vec<Suppression>,
    pub applied: Vec<Applied>,
    /// What `plan` would do at the end of the period (its first `LISTED`), and how many.
    pub recommended: Vec<Action>,
    pub recommended_total: usize,
    pub notes: Vec<String>,
}

/// The report for the `period` ending at `to`; `made` is an audit of `rules` at `to` the caller
/// already has (`watch`), else one is made.
pub fn report(
    store: &Store,
    config: &Config,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    period: Period,
    to: &At,
    made: Option<AuditReport>,
) -> Result<Report> {
    let runs = store.runs()?;
    let end = crate::time::parse(&to.taken_at)
        .ok_or_else(|| Error::runtime(format!("run {}: bad time {}", to.run, to.taken_at)))?;
    let start = crate::time::format(end - period.seconds());
    // From the latest run at or before the period's start (the first run, when none).
    let from = runs
        .iter()
        .rfind(|r| r.id <= to.run && r.taken_at <= start)
        .or_else(|| runs.first())
        .map(At::from)
        .ok_or_else(|| Error::runtime("the store has no runs"))?;
    let in_period: Vec<At> = runs
        .iter()
        .filter(|r| r.id >= from.run && r.id <= to.run)
        .map(At::from)
        .collect();
    let h = History::new(store, Some(config), files, rules.to_vec());
    // An audit the caller made of the same rules at the same run, else one now.
    let audit = match made.filter(|m| {
        m.at.run == to.run
            && m.rules.len() == rules.len()
            && m.rules.iter().zip(rules).all(|(r, l)| r.name == l.name())
    }) {
        Some(m) => m,
        None => audit_with_history(store, Some(config), files, rules, to, None)?,
    };
    let mut notes = audit.notes.clone();
    let diffs = rule_diffs(&h, &from, to)?;
    let trend = trends(&h, &in_period)?;
    let mut summaries = Vec::new();
    for r in &audit.rules {
        let d = diffs.iter().find(|d| d.rule == r.name);
        let count = |c: Change| {
            d.map_or(0, |d| {
                d.rows.iter().filter(|x| x.change == c).count() as u64
            })
        };
        let transient: u64 = store.conn().query_row(
            "SELECT count(*) FROM findings WHERE rule = ?1 AND first_run > ?2 AND resolved_run IS NOT NULL AND resolved_run <= ?3",
            rusqlite::params![r.name, from.run, to.run],
            |row| row.get::<_, i64>(0),
        )? as u64;
        let points = trend
            .iter()
            .find(|(n, _)| *n == r.name)
            .map(|(_, p)| {
                p.iter()
                    .map(|p| (p.run, p.at.clone(), p.violations))
                    .collect()
            })
            .unwrap_or_default();
        summaries.push(RuleSummary {
            rule: r.name.clone(),
            title: r.title.clone(),
            severity: r.severity.as_str().to_string(),
            status: r.status.as_str().to_string(),
            violations: r.counted(),
            new: count(Change::New),
            resolved: count(Change::Resolved),
            persisting: count(Change::Persisting),
            transient,
            trend: points,
        });
    }
    let mut by_subject: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for r in &audit.rules {
        for v in r
            .violations
            .iter()
            .filter(|v| !v.pending && v.suppressed.is_none())
        {
            if let Some(s) = v.subject_text() {
                let e = by_subject.entry(s).or_default();
                e.0 += 1;
                if !e.1.contains(&r.name) {
                    e.1.push(r.name.clone());
                }
            }
        }
    }
    let mut subjects: Vec<(String, u64, Vec<String>)> = by_subject
        .into_iter()
        .map(|(s, (n, r))| (s, n, r))
        .collect();
    subjects.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    subjects.truncate(LISTED);
    let platform_delays = by_platform(&delays(&h)?)
        .into_iter()
        .map(|(platform, rules, d)| PlatformDelay {
            platform,
            rules,
            episodes: d.episodes,
            resolved: d.resolved(),
            open: d.open(),
            p50_hours: percentile(&d.time_to_resolve, 50),
            p90_hours: percentile(&d.time_to_resolve, 90),
            max_hours: d.time_to_resolve.iter().copied().reduce(f64::max),
        })
        .collect();
    notes.extend(h.notes());
    let suppressions = crate::history::suppressed::all(store, Some(config))?
        .into_iter()
        .filter(|s| s.until.as_deref().is_none_or(|u| u > to.taken_at.as_str()))
        .collect();
    let states = crate::fix::verify::states(store)?;
    let mut stmt = store.conn().prepare(
        "SELECT plan_id, action_id, rule, key, verb, target, outcome, applied_at FROM applied_actions
         WHERE plan_run >= ?1 AND plan_run <= ?2 ORDER BY applied_at, plan_id, action_id",
    )?;
    let applied = stmt
        .query_map([from.run, to.run], |r| {
            Ok(Applied {
                plan_id: r.get(0)?,
                action_id: r.get(1)?,
                rule: r.get(2)?,
                key: r.get(3)?,
                verb: r.get(4)?,
                target: r.get(5)?,
                outcome: r.get(6)?,
                applied_at: r.get(7)?,
                verification: String::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|mut a| {
            a.verification = states
                .get(&(a.plan_id.clone(), a.action_id))
                .map_or("unconfirmed", |s| s.as_str())
                .to_string();
            a
        })
        .collect();
    // What `plan` would do, from the audit already made (not a second evaluation).
    let planned = from_audit(store, config, rules, to, audit.clone())?;
    let recommended_total = planned.plan.actions.len();
    let mut recommended = planned.plan.actions;
    recommended.truncate(LISTED);
    let sources: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let status = status(store, files, to, &sources)?;
    notes.extend(status.notes.iter().cloned());
    Ok(Report {
        period,
        total_issues: audit.total_issues(),
        from,
        to: to.clone(),
        status,
        rules: summaries,
        delays: platform_delays,
        subjects,
        suppressions,
        applied,
        recommended,
        recommended_total,
        notes,
    })
}
