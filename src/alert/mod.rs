//! Alerts: conditions on the rules' findings and the sources' collections, evaluated at a run,
//! notifying receivers once when a condition starts, again only after `repeat` (in run time)
//! while it holds, and once when it resolves. The state is kept in the store, so `alert` run
//! after each collection, or over past runs in order (a replay), sends the same notifications.
//!
//! A notification goes to an outbox in the store first, then to its receivers; one that cannot
//! be delivered (after retries with backoff) stays due for the next `alert`, and the failure is
//! in the audit log.

pub mod config;
mod send;

pub use config::{Alert, Receiver, When};

use crate::error::{Error, Result};
use crate::history::audit_with_history;
use crate::history::evaluate::RuleReport;
use crate::platforms::Config;
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, Loaded, RuleFile};
use crate::store::log::Entry;
use crate::store::Store;
use rusqlite::OptionalExtension;
use serde_json::{json, Value as Json};

/// A notification, as the generic webhook sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub alert: String,
    pub receiver: String,
    pub payload: Json,
}

/// What an `alert` did.
#[derive(Debug, Default)]
pub struct Report {
    /// Alerts firing at the run, with what they say.
    pub firing: Vec<(String, String)>,
    /// Notifications sent (or, on a dry run, that would be).
    pub sent: Vec<Notification>,
    /// Notifications that could not be delivered (still due), with why.
    pub failed: Vec<(Notification, String)>,
    pub notes: Vec<String>,
}

/// Whether an alert's condition holds, and what it says about it.
struct Verdict {
    firing: bool,
    summary: String,
    rules: Vec<(String, u64)>,
    labels: serde_json::Map<String, Json>,
}

/// Evaluates every alert of `config` at `at`, records the state, and sends what is due. `made`
/// is an audit the caller already made at `at`, used when it covers the alerts' rules. With
/// `dry_run` nothing is sent or recorded: the report says what would be.
pub fn run(
    store: &Store,
    config: &Config,
    files: &[RuleFile],
    at: &At,
    made: Option<&crate::history::AuditReport>,
    dry_run: bool,
    stdout: &mut dyn std::io::Write,
) -> Result<Report> {
    let (alerts, receivers) = config::parse(config)?;
    let mut report = Report::default();
    let latest: Option<i64> = store
        .conn()
        .query_row("SELECT max(last_run) FROM alert_state", [], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(l) = latest.filter(|l| *l > at.run) {
        return Err(Error::input(format!(
            "alerts were evaluated at run {l} already; evaluate later runs, in order (a replay starts from a store whose alerts have not been evaluated)"
        )));
    }
    let schemas = Schemas::at_run(store, at.run)?.with_declared(Some(config));
    let loaded = check_files(files, &schemas);
    let chosen: Vec<&Loaded<'_>> = loaded
        .iter()
        .filter(|l| alerts.iter().any(|a| picks(a, l)))
        .collect();
    // The audit the caller made at this run when it covers the rules (`watch`), else one of
    // the chosen rules.
    let covered = made.filter(|m| {
        m.at.run == at.run
            && chosen
                .iter()
                .all(|l| m.rules.iter().any(|r| r.name == l.name()))
    });
    let own;
    let audited: Vec<&RuleReport> = match covered {
        Some(m) => chosen
            .iter()
            .filter_map(|l| m.rules.iter().find(|r| r.name == l.name()))
            .collect(),
        None => {
            own = audit_with_history(store, Some(config), files, &chosen, at, None)?;
            report.notes.extend(own.notes.iter().cloned());
            own.rules.iter().collect()
        }
    };
    let mut due = Vec::new();
    for a in &alerts {
        let rules: Vec<&RuleReport> = chosen
            .iter()
            .zip(&audited)
            .filter(|(l, _)| picks(a, l))
            .map(|(_, r)| *r)
            .collect();
        let v = verdict(store, config, a, &rules, at)?;
        if v.firing {
            report.firing.push((a.name.clone(), v.summary.clone()));
        }
        due.extend(transition(store, a, &v, at, dry_run)?);
    }
    // Each notification to each of its receivers, through the outbox.
    for (alert, payload) in due {
        let a = alerts
            .iter()
            .find(|x| x.name == alert)
            .expect("a due alert is configured");
        for to in &a.to {
            let n = Notification {
                alert: alert.clone(),
                receiver: to.clone(),
                payload: payload.clone(),
            };
            if dry_run {
                report.sent.push(n);
                continue;
            }
            store.conn().execute(
                "INSERT INTO alert_outbox (alert, receiver, status, run_id, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![alert, to, payload["status"].as_str().unwrap_or("firing"), at.run, payload.to_string()],
            )?;
        }
    }
    if !dry_run {
        send::deliver(store, &receivers, &mut report, stdout)?;
    }
    Ok(report)
}

/// Whether alert `a` looks at rule `l`: by name or glob, by tag, by severity.
fn picks(a: &Alert, l: &Loaded<'_>) -> bool {
    if matches!(a.when, When::SourceFailed | When::Stale(_)) {
        return false;
    }
    let by_name = a
        .rules
        .iter()
        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(l.name())) || p == l.name());
    let by_tag = l.rule.tags.iter().any(|t| a.tags.contains(&t.name));
    let by_severity = a.severity.as_deref() == Some(l.rule.severity.as_str());
    by_name || by_tag || by_severity
}

fn verdict(
    store: &Store,
    config: &Config,
    a: &Alert,
    rules: &[&RuleReport],
    at: &At,
) -> Result<Verdict> {
    let now = crate::time::parse(&at.taken_at).unwrap_or(0);
    let counts: Vec<(String, u64)> = rules
        .iter()
        .map(|r| (r.name.clone(), r.counted()))
        .collect();
    let total: u64 = counts.iter().map(|c| c.1).sum();
    let mut labels = serde_json::Map::new();
    labels.insert("alert".into(), json!(a.name));
    let (firing, summary) = match &a.when {
        When::Violations(n) => (total > *n, format!("{total} violations (more than {n})")),
        When::Share(p) => {
            let ranged: u64 = rules.iter().map(|r| r.ranged).sum();
            let share = if ranged == 0 {
                0.0
            } else {
                total as f64 * 100.0 / ranged as f64
            };
            (
                share > *p,
                format!("{share:.1}% of {ranged} rows in violation (more than {p}%)"),
            )
        }
        When::New(n) => {
            let mut new = 0;
            for r in rules {
                new += new_at(store, &r.name, at.run)?;
            }
            (
                new > *n,
                format!("{new} new violations since the run before (more than {n})"),
            )
        }
        When::Growth(n, k) => {
            let runs = evaluated_runs(store, at.run)?;
            let before = runs.iter().rev().nth(*k).copied();
            let mut then = 0i64;
            if let Some(b) = before {
                for r in rules {
                    then += store.conn().query_row(
                        "SELECT count(*) FROM findings WHERE rule = ?1 AND first_run <= ?2 AND last_run >= ?2",
                        rusqlite::params![r.name, b],
                        |row| row.get::<_, i64>(0),
                    )?;
                }
            }
            let growth = total as i64 - then;
            (
                before.is_some() && growth > *n,
                format!("{growth:+} violations over the last {k} runs (more than {n})"),
            )
        }
        When::Age(span) => {
            let old = rules
                .iter()
                .flat_map(|r| r.violations.iter())
                .filter(|v| !v.pending && v.suppressed.is_none())
                .filter(|v| {
                    v.first_seen
                        .as_deref()
                        .and_then(crate::time::parse)
                        .is_some_and(|f| now - f > *span)
                })
                .count();
            (
                old > 0,
                format!(
                    "{old} violations older than {}",
                    crate::time::format_span(*span)
                ),
            )
        }
        When::SourceFailed => {
            let mut stmt = store.conn().prepare(
                "SELECT source FROM snapshots WHERE run_id = ?1 AND status = 'failed' ORDER BY source",
            )?;
            let failed: Vec<String> = stmt
                .query_map([at.run], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            labels.insert("sources".into(), json!(failed.join(",")));
            (
                !failed.is_empty(),
                format!("collection failed: {}", failed.join(", ")),
            )
        }
        When::Stale(span) => {
            let mut stale = Vec::new();
            for s in &config.sources {
                let last: Option<String> = store
                    .conn()
                    .query_row(
                        "SELECT r.taken_at FROM snapshots s JOIN runs r ON r.id = s.run_id
                         WHERE s.source = ?1 AND s.status = 'complete' AND s.run_id <= ?2
                         ORDER BY s.run_id DESC LIMIT 1",
                        rusqlite::params![s.name, at.run],
                        |r| r.get(0),
                    )
                    .optional()?;
                let age = last
                    .as_deref()
                    .and_then(crate::time::parse)
                    .map(|t| now - t);
                if age.is_none_or(|a| a > *span) {
                    stale.push(s.name.clone());
                }
            }
            labels.insert("sources".into(), json!(stale.join(",")));
            (
                !stale.is_empty(),
                format!(
                    "no complete collection for {} in {}: {}",
                    crate::time::format_span(*span),
                    a.when_text,
                    stale.join(", ")
                ),
            )
        }
    };
    Ok(Verdict {
        firing,
        summary: format!("{}: {summary}", a.name),
        rules: counts,
        labels,
    })
}

/// The runs up to `run` at which rules were evaluated.
fn evaluated_runs(store: &Store, run: i64) -> Result<Vec<i64>> {
    let mut stmt = store
        .conn()
        .prepare("SELECT DISTINCT run_id FROM evaluations WHERE run_id <= ?1 ORDER BY run_id")?;
    let runs = stmt
        .query_map([run], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(runs)
}

/// Violations of `rule` at `run` whose episode began there (every one, at its first run).
fn new_at(store: &Store, rule: &str, run: i64) -> Result<u64> {
    Ok(store.conn().query_row(
        "SELECT count(*) FROM findings WHERE rule = ?1 AND first_run = ?2",
        rusqlite::params![rule, run],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Moves alert `a` to its state at the run; returns the notification due, if any.
fn transition(
    store: &Store,
    a: &Alert,
    v: &Verdict,
    at: &At,
    dry_run: bool,
) -> Result<Option<(String, Json)>> {
    let prev: Option<(bool, Option<String>, Option<String>)> = store
        .conn()
        .query_row(
            "SELECT firing, starts_at, last_sent_at FROM alert_state WHERE alert = ?1",
            [&a.name],
            |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (was, starts_at, last_sent) = prev.unwrap_or((false, None, None));
    let now = &at.taken_at;
    let elapsed = |since: &Option<String>| {
        since
            .as_deref()
            .and_then(crate::time::parse)
            .zip(crate::time::parse(now))
            .map(|(s, n)| n - s)
    };
    let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(a.name.as_bytes()));
    let (status, starts, sent) = match (was, v.firing) {
        (false, true) => (Some("firing"), Some(now.clone()), Some(now.clone())),
        (true, true) => {
            let again = a
                .repeat
                .is_some_and(|r| elapsed(&last_sent).is_some_and(|e| e >= r));
            (
                again.then_some("firing"),
                starts_at.clone(),
                if again {
                    Some(now.clone())
                } else {
                    last_sent.clone()
                },
            )
        }
        (true, false) => (Some("resolved"), starts_at.clone(), last_sent.clone()),
        (false, false) => (None, None, last_sent.clone()),
    };
    if !dry_run {
        store.conn().execute(
            "INSERT INTO alert_state (alert, firing, since_run, starts_at, last_sent_at, last_run, fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (alert) DO UPDATE SET firing = excluded.firing, since_run = excluded.since_run,
               starts_at = excluded.starts_at, last_sent_at = excluded.last_sent_at, last_run = excluded.last_run",
            rusqlite::params![
                a.name,
                v.firing as i64,
                v.firing.then_some(at.run),
                if v.firing { starts.clone() } else { None },
                sent,
                at.run,
                fingerprint
            ],
        )?;
    }
    let Some(status) = status else {
        return Ok(None);
    };
    let mut labels = v.labels.clone();
    labels.insert("status".into(), json!(status));
    let payload = json!({
        "status": status,
        "alert": a.name,
        "fingerprint": fingerprint,
        "startsAt": starts,
        "endsAt": if status == "resolved" { Some(now.clone()) } else { None },
        "labels": labels,
        "annotations": {"summary": if status == "resolved" { format!("{}: resolved", a.name) } else { v.summary.clone() }},
        "rules": v.rules.iter().map(|(r, n)| json!({"rule": r, "violations": n})).collect::<Vec<_>>(),
    });
    Ok(Some((a.name.clone(), payload)))
}

/// An audit-log entry for a notification.
fn logged(n: &Notification, outcome: &str, error: Option<String>) -> Entry {
    let mut e = Entry::new("alert", &crate::store::log::default_actor());
    e.target = Some(format!("receiver {}", n.receiver));
    e.request = Some(format!(
        "{} {}",
        n.payload["status"].as_str().unwrap_or(""),
        n.alert
    ));
    e.outcome = Some(outcome.into());
    e.error = error;
    e
}
