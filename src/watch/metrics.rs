//! `/metrics`: the Prometheus text exposition (format 0.0.4) of what the store knows after a
//! cycle: violations by rule and severity at the latest evaluated run, the last successful
//! collection and the duration of the last one by source, alerts sent and applied actions.

use crate::error::Result;
use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A label value, escaped as the format asks (`\`, `"`, line breaks).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics; `rules` is each rule's severity and counted violations at the latest cycle.
pub fn render(
    store: &Store,
    durations: &BTreeMap<String, (f64, bool)>,
    rules: &BTreeMap<String, (String, u64)>,
) -> Result<String> {
    let conn = store.conn();
    let mut out = String::new();
    let head = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut out,
        "driftwatch_rule_violations",
        "gauge",
        "Violations of a rule at the latest cycle's run, pending and suppressed ones aside.",
    );
    for (rule, (severity, n)) in rules {
        let _ = writeln!(
            out,
            "driftwatch_rule_violations{{rule=\"{}\",severity=\"{}\"}} {n}",
            label(rule),
            label(severity)
        );
    }
    head(
        &mut out,
        "driftwatch_source_last_success_timestamp_seconds",
        "gauge",
        "When a source's last complete collection finished (Unix time).",
    );
    let mut stmt = conn.prepare(
        "SELECT s.source, max(r.finished_at) FROM snapshots s JOIN runs r ON r.id = s.run_id
         WHERE s.status = 'complete' GROUP BY s.source ORDER BY s.source",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (source, at) in rows {
        let t = crate::time::parse(&at).unwrap_or(0);
        let _ = writeln!(
            out,
            "driftwatch_source_last_success_timestamp_seconds{{source=\"{}\"}} {t}",
            label(&source)
        );
    }
    head(
        &mut out,
        "driftwatch_collect_duration_seconds",
        "gauge",
        "How long a source's last collection took.",
    );
    for (source, (secs, _)) in durations {
        let _ = writeln!(
            out,
            "driftwatch_collect_duration_seconds{{source=\"{}\"}} {secs:.3}",
            label(source)
        );
    }
    head(
        &mut out,
        "driftwatch_collect_success",
        "gauge",
        "Whether a source's last collection completed (1) or failed (0).",
    );
    for (source, (_, ok)) in durations {
        let _ = writeln!(
            out,
            "driftwatch_collect_success{{source=\"{}\"}} {}",
            label(source),
            *ok as u8
        );
    }
    head(
        &mut out,
        "driftwatch_alerts_sent_total",
        "counter",
        "Notifications delivered, by alert and status.",
    );
    let mut stmt = conn.prepare(
        "SELECT alert, status, count(*) FROM alert_outbox WHERE sent_at IS NOT NULL GROUP BY alert, status ORDER BY alert, status",
    )?;
    let rows: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (alert, status, n) in rows {
        let _ = writeln!(
            out,
            "driftwatch_alerts_sent_total{{alert=\"{}\",status=\"{}\"}} {n}",
            label(&alert),
            label(&status)
        );
    }
    head(
        &mut out,
        "driftwatch_apply_actions_total",
        "counter",
        "Actions applied, by outcome.",
    );
    let mut stmt = conn.prepare(
        "SELECT outcome, count(*) FROM audit_log WHERE command = 'apply' AND outcome IS NOT NULL GROUP BY outcome ORDER BY outcome",
    )?;
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (outcome, n) in rows {
        let _ = writeln!(
            out,
            "driftwatch_apply_actions_total{{outcome=\"{}\"}} {n}",
            label(&outcome)
        );
    }
    Ok(out)
}
