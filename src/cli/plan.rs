//! `driftwatch plan`: the actions that would resolve the violations, as a plan file for
//! `apply` and a terraform-like view grouped by target.

use super::rules::{report_errors, RulesAt};
use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::fix::plan::{plan, Action, Plan};
use crate::output::{cell_text, Format};
use crate::platforms::write::Op;
use crate::rules::{check_files, select};
use std::io::Write;
use std::path::PathBuf;

/// Plan the corrective actions for the violations the rules find.
///
/// Each violation past its rule's grace, not suppressed, whose rule has a `fix`, becomes an
/// action: `+` add or insert, `~` update, `-` remove or disable, `!` notify (for a person:
/// its source has no write credentials or is never written). Identical actions are merged.
/// With --out the plan is saved for `driftwatch apply FILE`; --format json prints the plan
/// file itself. Nothing is changed anywhere.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules_at: RulesAt,
    /// Only this rule (repeatable)
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// Save the plan file here (JSON), to apply it with `driftwatch apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let (files, store, schemas, at) = args.rules_at.open(global)?;
    let loaded = check_files(&files, &schemas);
    let selected = select(&loaded, &args.rules)?;
    let errors = report_errors(&files, &selected);
    let planned = plan(&store, config, &files, &selected, &at)?;
    super::print_notes(&planned.notes);
    super::log_notes(&store, "plan", &planned.notes);
    let p = &planned.plan;
    if let Some(path) = &args.out {
        let failed = |e: std::io::Error| Error::input(format!("--out {}: {e}", path.display()));
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
        p.write(&mut file)?;
        file.flush().map_err(failed)?;
    }
    let mut entry = crate::store::log::Entry::new("plan", &super::actor(None));
    entry.plan_id = Some(p.plan_id.clone());
    entry.outcome = Some(format!("run {}: {} actions", p.run, p.actions.len()));
    store.log(vec![entry])?;
    let written = match global.format(Format::Table) {
        Format::Json => p.write(&mut *out),
        Format::Table => write_table(p, &planned.audit, Some(args.out.as_deref()), out),
        other => Err(Error::input(
            format!("plan writes table or json, not {other:?}").to_lowercase(),
        )),
    };
    let failed = planned.audit.rules.iter().any(|r| r.error.is_some());
    let exit = if errors > 0 || failed {
        Exit::Invalid
    } else {
        Exit::Ok
    };
    super::verdict(exit, written.and_then(|()| io(out.flush())))
}

/// `+`, `-`, `~` or `!` for an action's op.
pub fn sign(op: Op) -> char {
    match op {
        Op::Add | Op::Insert => '+',
        Op::Remove | Op::Disable => '-',
        Op::Update => '~',
        Op::Notify => '!',
    }
}

/// `name=value` for each parameter (a SQL action's values, set and where spelt out).
pub fn params_text(a: &Action) -> String {
    a.params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::Object(m) => {
                let inner: Vec<String> =
                    m.iter().map(|(c, x)| format!("{c}={}", short(x))).collect();
                format!("{k}({})", inner.join(", "))
            }
            other => format!("{k}={}", short(other)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn write_table(
    p: &Plan,
    audit: &crate::history::AuditReport,
    saved: Option<Option<&std::path::Path>>,
    out: &mut dyn Write,
) -> Result<()> {
    io(writeln!(
        out,
        "Plan {} at run {} ({}): {} action{}",
        &p.plan_id[..12],
        p.run,
        audit.at.taken_at,
        p.actions.len(),
        if p.actions.len() == 1 { "" } else { "s" }
    ))?;
    let mut target = String::new();
    for a in &p.actions {
        if a.target() != target {
            target = a.target();
            io(writeln!(
                out,
                "\n  # {}",
                crate::output::terminal_text(&target)
            ))?;
        }
        let mut line = format!(
            "  {} {:>3}  {}.{} {}",
            sign(a.op()),
            a.id,
            a.platform,
            a.verb,
            params_text(a)
        );
        if let (Some(b), Some(after)) = (&a.before, &a.after) {
            line.push_str(&format!("  ({} → {})", short(b), short(after)));
        }
        io(writeln!(out, "{}", crate::output::terminal_text(&line)))?;
        for r in a.resolves() {
            let key: Vec<String> = r.key.iter().map(cell_text).collect();
            let subject = r.subject.as_ref().map(cell_text).unwrap_or_default();
            io(writeln!(
                out,
                "          resolves {} [{}] {}",
                r.rule,
                key.join(", "),
                crate::output::terminal_text(&subject)
            ))?;
        }
        if let Some(why) = &a.reason {
            io(writeln!(out, "          not executed: {why}"))?;
        }
    }
    let pending: u64 = audit.rules.iter().map(|r| r.pending).sum();
    let suppressed: u64 = audit.rules.iter().map(|r| r.suppressed).sum();
    if pending + suppressed > 0 {
        io(writeln!(
            out,
            "\n{pending} pending (within their rule's grace) and {suppressed} suppressed violation(s) get no action"
        ))?;
    }
    let s = &p.summary;
    io(writeln!(
        out,
        "\nPlan: {} to add, {} to remove, {} to update, {} to disable, {} to insert, {} to notify.",
        s.add, s.remove, s.update, s.disable, s.insert, s.notify
    ))?;
    match saved {
        None => Ok(()),
        Some(Some(path)) => io(writeln!(
            out,
            "Saved to {}; preview with `driftwatch apply {0} --dry-run`, then apply with `driftwatch apply {0}`.",
            path.display()
        )),
        Some(None) => io(writeln!(
            out,
            "Nothing was saved: pass --out FILE to apply this plan."
        )),
    }
}
