//! `driftwatch audit`: the rules at one run, their status, and (with --detailed) each violation.

use super::rules::{report_errors, RulesAt};
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::history::audit_with_history_keeping;
use crate::history::{AuditReport, RuleReport};
use crate::output::{cell_text, Format, Grid};
use crate::rules::eval::{Status, Violation};
use crate::rules::{check_files, select};
use serde_json::{json, Value as Json};
use std::io::Write;

/// Evaluate the rules at a run and report each rule's status.
///
/// The table ends with `TOTAL ISSUES: N`, the violations of all rules. Exit code 1 when a rule
/// is at `fail` (so cron and CI can alert), 2 when a rule file is invalid or a rule could not
/// run (the other rules still run), else 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules_at: RulesAt,
    /// Only this rule (repeatable)
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// Only violations about this subject (case-insensitive), such as a username or email
    #[arg(long, visible_alias = "user", value_name = "SUBJECT")]
    pub subject: Option<String>,
    /// List each violation with its key, subject and fields
    #[arg(long)]
    pub detailed: bool,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let (files, store, schemas, at) = args.rules_at.open(global)?;
    let loaded = check_files(&files, &schemas);
    let selected = select(&loaded, &args.rules)?;
    report_errors(&files, &selected);
    let syntax_errors = files.iter().map(|f| f.errors.len()).sum();
    let config = global.config()?;
    let format = global.format(Format::Table);
    // The violations are kept in the store, not held, for every output but the tables that
    // list them (`--detailed`): memory then does not grow with them.
    let keep = !(args.detailed && matches!(format, Format::Table | Format::Md));
    let (report, kept) = audit_with_history_keeping(
        &store,
        config,
        &files,
        &selected,
        &at,
        args.subject.as_deref(),
        keep,
    )?;
    let found = match &kept {
        Some(k) => Found::Kept(k, &store),
        None => Found::Held,
    };
    super::print_notes(&report.notes);
    let mut logged = report.notes.clone();
    logged.extend(report.snapshots.iter().filter(|s| s.stale).map(|s| {
        format!(
            "{} is as of run {} ({}): it has no complete snapshot in run {}",
            s.source, s.run, s.taken_at, report.at.run
        )
    }));
    super::log_notes(&store, "audit", &logged);
    let exit = match report.exit() {
        Exit::Ok if syntax_errors > 0 => Exit::Invalid,
        exit => exit,
    };
    // The applied actions' verification shows in the detailed table, JSON and CSV only.
    let fixes = if args.detailed || matches!(format, Format::Json | Format::Csv) {
        crate::fix::verify::by_violation(&store)?
    } else {
        Default::default()
    };
    let mut entry = crate::store::log::Entry::new("audit", &super::actor(None));
    entry.outcome = Some(format!(
        "run {}: {} issues",
        report.at.run,
        report.total_issues()
    ));
    store.log(vec![entry]).ok();
    let written = write_report(
        &report,
        found,
        format,
        args.detailed,
        syntax_errors,
        &fixes,
        out,
    )
    .and_then(|()| super::io(out.flush()));
    super::verdict(exit, written)
}

/// Writes an audit in `format`; `syntax_errors` counts rules that did not even parse;
/// `fixes` is the verification state of applied actions, by rule and key text.
pub fn write_report(
    report: &AuditReport,
    found: Found<'_>,
    format: Format,
    detailed: bool,
    syntax_errors: usize,
    fixes: &Fixes,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Html => Err(crate::error::Error::input(
            "`audit` writes table, json, csv or md; html is the report's (`driftwatch report --format html`)",
        )),
        Format::Json => {
            io(
                serde_json::to_writer_pretty(&mut *out, &AuditDoc::new(report, found, fixes))
                    .map_err(Into::into),
            )?;
            io(writeln!(out))
        }
        Format::Csv => write_violations_csv(report, found, fixes, out),
        Format::Table | Format::Md => {
            let md = format == Format::Md;
            io(writeln!(
                out,
                "{}Audit of run {} ({})\n",
                if md { "## " } else { "" },
                report.at.run,
                report.at.taken_at
            ))?;
            io(summary_grid(report).write(format, out))?;
            for s in report.snapshots.iter().filter(|s| s.stale) {
                io(writeln!(
                    out,
                    "note: {} is as of run {} ({}): it has no complete snapshot in run {}",
                    s.source, s.run, s.taken_at, report.at.run
                ))?;
            }
            for r in report.rules.iter().filter(|r| r.error.is_some()) {
                io(writeln!(
                    out,
                    "error: rule {} could not run: {}",
                    r.name,
                    r.error.as_deref().unwrap_or("")
                ))?;
            }
            if detailed {
                for r in report.rules.iter().filter(|r| !r.violations.is_empty()) {
                    io(writeln!(
                        out,
                        "\n{}{}: {} violation{}",
                        if md { "### " } else { "" },
                        r.name,
                        r.violations.len(),
                        if r.violations.len() == 1 { "" } else { "s" }
                    ))?;
                    io(violations_grid(
                        std::slice::from_ref(r),
                        false,
                        &report.at.taken_at,
                        fixes,
                    )
                    .write(format, out))?;
                }
                let suppressed = suppressed_grid(report);
                if !suppressed.rows.is_empty() {
                    io(writeln!(
                        out,
                        "\n{}Suppressed (found, not counted):",
                        if md { "### " } else { "" }
                    ))?;
                    io(suppressed.write(format, out))?;
                }
            }
            let count = |s: Status| report.rules.iter().filter(|r| r.status == s).count();
            io(writeln!(
                out,
                "\n{} rule{}: {} fail, {} warn, {} pass{}",
                report.rules.len(),
                if report.rules.len() == 1 { "" } else { "s" },
                count(Status::Fail),
                count(Status::Warn),
                count(Status::Pass),
                match count(Status::Error) + syntax_errors {
                    0 => String::new(),
                    n => format!(", {n} could not run (see the errors above)"),
                }
            ))?;
            let pending: u64 = report.rules.iter().map(|r| r.pending).sum();
            if pending > 0 {
                io(writeln!(
                    out,
                    "{pending} pending: younger than their rule's grace, not counted below"
                ))?;
            }
            let suppressed: u64 = report.rules.iter().map(|r| r.suppressed).sum();
            if suppressed > 0 {
                io(writeln!(
                    out,
                    "{suppressed} suppressed: found, listed apart with their reason (--detailed), not counted below"
                ))?;
            }
            io(writeln!(out, "TOTAL ISSUES: {}", report.total_issues()))
        }
    }
}

fn summary_grid(report: &AuditReport) -> Grid {
    let mut g = Grid::new(&[
        "rule",
        "severity",
        "status",
        "checked",
        "violations",
        "pending",
        "title",
    ]);
    for r in &report.rules {
        g.push(vec![
            json!(r.name),
            json!(r.severity.as_str()),
            json!(r.status.as_str()),
            if r.error.is_some() {
                Json::Null
            } else {
                json!(r.ranged)
            },
            if r.error.is_some() {
                Json::Null
            } else {
                json!(r.found)
            },
            if r.error.is_some() {
                Json::Null
            } else {
                json!(r.pending)
            },
            json!(r.title.clone().unwrap_or_default()),
        ]);
    }
    g
}

/// How long a violation has been seen at the audited run, `(pending)` when within grace.
fn age(v: &Violation, at: &str) -> Option<String> {
    let first = crate::time::parse(v.first_seen.as_deref()?)?;
    let span = crate::time::format_span(crate::time::parse(at)? - first);
    Some(if v.pending {
        format!("{span} (pending)")
    } else {
        span
    })
}

/// Where an audit's violations are read from: the report (`audit`), or the store's
/// temporary table (`audit_kept`).
#[derive(Clone, Copy)]
pub enum Found<'a> {
    Held,
    Kept(&'a crate::history::Kept, &'a crate::store::Store),
}

/// Each violation of `r`, in key order.
fn each_violation(
    found: Found<'_>,
    r: &RuleReport,
    mut f: impl FnMut(&Violation) -> Result<()>,
) -> Result<()> {
    match found {
        Found::Held => r.violations.iter().try_for_each(f),
        Found::Kept(kept, store) => kept.each(store, &r.name, |v| f(&v)),
    }
}

/// The columns of the violations' table (`rule` false) or CSV (`rule` true: a rule column,
/// suppressed violations marked instead of left out).
struct ViolationColumns {
    headers: Vec<String>,
    fields: Vec<String>,
    rule: bool,
    with_fix: bool,
}

fn violation_columns(rules: &[RuleReport], rule: bool, fixes: &Fixes) -> ViolationColumns {
    let mut fields: Vec<String> = Vec::new();
    for r in rules.iter().filter(|r| r.found > 0) {
        for name in &r.shows {
            if !fields.contains(name) {
                fields.push(name.clone());
            }
        }
    }
    let mut headers = if rule {
        vec![
            "rule",
            "severity",
            "key",
            "subject",
            "first_seen",
            "pending",
        ]
    } else {
        vec!["key", "subject", "first seen", "age"]
    };
    let with_fix = !fixes.is_empty();
    if with_fix && !rule {
        headers.push("fix");
    }
    headers.extend(fields.iter().map(String::as_str));
    // The CSV's added columns come after the fields, so that the columns scripts read keep
    // their places.
    if rule {
        headers.push("suppressed");
        if with_fix {
            headers.push("fix");
        }
    }
    ViolationColumns {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        fields,
        rule,
        with_fix,
    }
}

/// One row per violation: (with `rule`, its rule and severity), key, subject, then every field
/// any of the rules shows, in order of first appearance (blank where a rule does not show it).
/// Each row is handed to `each` as it is made: the rows are never all made at once.
fn violation_rows(
    cols: &ViolationColumns,
    found: Found<'_>,
    rules: &[RuleReport],
    at: &str,
    fixes: &Fixes,
    mut each: impl FnMut(Vec<Json>) -> Result<()>,
) -> Result<()> {
    let rule = cols.rule;
    for r in rules {
        each_violation(found, r, |v| {
            // The table lists suppressed violations apart; the CSV marks them.
            if !rule && v.suppressed.is_some() {
                return Ok(());
            }
            let mut row = if rule {
                vec![json!(r.name), json!(r.severity.as_str())]
            } else {
                Vec::new()
            };
            row.push(json!(v
                .key
                .iter()
                .map(cell_text)
                .collect::<Vec<_>>()
                .join(", ")));
            row.push(v.subject.clone().unwrap_or(Json::Null));
            row.push(json!(v.first_seen));
            if rule {
                row.push(json!(v.pending));
            } else {
                row.push(json!(age(v, at)));
                if cols.with_fix {
                    row.push(json!(fix_state(fixes, &r.name, v)));
                }
            }
            for f in &cols.fields {
                row.push(
                    v.fields
                        .iter()
                        .find(|(n, _)| n == f)
                        .map_or(Json::Null, |(_, x)| x.clone()),
                );
            }
            if rule {
                row.push(json!(v.suppressed.as_ref().map(|s| s.reason.clone())));
                if cols.with_fix {
                    row.push(json!(fix_state(fixes, &r.name, v)));
                }
            }
            each(row)
        })?;
    }
    Ok(())
}

fn violations_grid(rules: &[RuleReport], rule: bool, at: &str, fixes: &Fixes) -> Grid {
    let cols = violation_columns(rules, rule, fixes);
    let headers: Vec<&str> = cols.headers.iter().map(String::as_str).collect();
    let mut g = Grid::new(&headers);
    violation_rows(&cols, Found::Held, rules, at, fixes, |row| {
        g.push(row);
        Ok(())
    })
    .expect("the held violations are pushed as they are");
    g
}

/// The violations as CSV, written a row at a time.
fn write_violations_csv(
    report: &AuditReport,
    found: Found<'_>,
    fixes: &Fixes,
    out: &mut dyn Write,
) -> Result<()> {
    let cols = violation_columns(&report.rules, true, fixes);
    let mut w =
        crate::output::CsvRows::new(&cols.headers, out).map_err(crate::error::Error::from)?;
    violation_rows(
        &cols,
        found,
        &report.rules,
        &report.at.taken_at,
        fixes,
        |row| io(w.row(&row)),
    )?;
    io(w.finish())
}

/// The verification state of applied actions, by rule and key text.
pub type Fixes =
    std::collections::BTreeMap<(String, String), (String, i64, crate::fix::verify::State)>;

/// "confirmed (plan 3fa…, action 2)" for a violation an applied action was meant to resolve.
fn fix_state(fixes: &Fixes, rule: &str, v: &Violation) -> Option<String> {
    let key = crate::history::record::key_text(&v.key);
    fixes
        .get(&(rule.to_string(), key))
        .map(|(plan, action, state)| {
            format!(
                "{} (plan {}, action {action})",
                state.as_str(),
                &plan[..plan.len().min(8)]
            )
        })
}

/// The suppressed violations: rule, key, subject, reason, until, and by whom.
fn suppressed_grid(report: &AuditReport) -> Grid {
    let mut g = Grid::new(&["rule", "key", "subject", "reason", "until", "by", "id"]);
    for r in &report.rules {
        for v in &r.violations {
            if let Some(s) = &v.suppressed {
                g.push(vec![
                    json!(r.name),
                    json!(v.key.iter().map(cell_text).collect::<Vec<_>>().join(", ")),
                    v.subject.clone().unwrap_or(Json::Null),
                    json!(s.reason),
                    json!(s.until),
                    json!(s.by),
                    json!(s.id),
                ]);
            }
        }
    }
    g
}

/// One row per violation of any rule: rule, subject, and the shown fields as `name=value`.
pub fn compact_grid(report: &AuditReport) -> Grid {
    let mut g = Grid::new(&["rule", "subject", "details"]);
    for r in &report.rules {
        for v in &r.violations {
            let details: Vec<String> = v
                .fields
                .iter()
                .map(|(n, x)| format!("{n}={}", cell_text(x)))
                .collect();
            g.push(vec![
                json!(r.name),
                v.subject.clone().unwrap_or(Json::Null),
                json!(details.join(" ")),
            ]);
        }
    }
    g
}

/// The JSON contract of `audit --format json` (the README shows it).
/// An audit as JSON: serialized as it is written, a violation's row at a time.
#[derive(serde::Serialize)]
struct AuditDoc<'a> {
    run: i64,
    at: &'a str,
    snapshots: serde_json::Map<String, Json>,
    rules: Vec<RuleDoc<'a>>,
    total_issues: u64,
}

#[derive(serde::Serialize)]
struct RuleDoc<'a> {
    rule: &'a str,
    title: &'a Option<String>,
    severity: &'static str,
    status: &'static str,
    checked: u64,
    violations: u64,
    pending: u64,
    suppressed: u64,
    rows: RowsDoc<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: &'a Option<String>,
}

struct RowsDoc<'a> {
    rule: &'a RuleReport,
    found: Found<'a>,
    fixes: &'a Fixes,
}

impl serde::Serialize for RowsDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let r = self.rule;
        let mut seq = s.serialize_seq(Some(r.found as usize))?;
        // A failure to read a kept violation is said as the serializer's error.
        let mut failed: Option<S::Error> = None;
        let read = each_violation(self.found, r, |v| {
            let mut row = json!({
                "key": v.key,
                "subject": v.subject,
                "first_seen": v.first_seen,
                "pending": v.pending,
                "fields": v.fields.iter().cloned().collect::<serde_json::Map<_, _>>(),
            });
            if let Some(s) = &v.suppressed {
                row["suppressed"] =
                    json!({"id": s.id, "reason": s.reason, "until": s.until, "by": s.by});
            }
            if let Some(f) = fix_state(self.fixes, &r.name, v) {
                row["fix"] = json!(f);
            }
            seq.serialize_element(&row).map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                crate::error::Error::runtime(message)
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(|e| S::Error::custom(e.message))?;
        seq.end()
    }
}

impl<'a> AuditDoc<'a> {
    fn new(report: &'a AuditReport, found: Found<'a>, fixes: &'a Fixes) -> AuditDoc<'a> {
        AuditDoc {
            run: report.at.run,
            at: &report.at.taken_at,
            snapshots: report
                .snapshots
                .iter()
                .map(|s| {
                    (
                        s.source.clone(),
                        json!({"id": s.id, "run": s.run, "taken_at": s.taken_at, "stale": s.stale}),
                    )
                })
                .collect(),
            rules: report
                .rules
                .iter()
                .map(|r| RuleDoc {
                    rule: &r.name,
                    title: &r.title,
                    severity: r.severity.as_str(),
                    status: r.status.as_str(),
                    checked: r.ranged,
                    violations: r.found,
                    pending: r.pending,
                    suppressed: r.suppressed,
                    rows: RowsDoc {
                        rule: r,
                        found,
                        fixes,
                    },
                    error: &r.error,
                })
                .collect(),
            total_issues: report.total_issues(),
        }
    }
}
