//! `driftwatch apply`: a saved plan executed, or with --dry-run shown request by request.

use super::{io, Global};
use crate::config::Vars;
use crate::error::{Exit, Result};
use crate::fix::apply::{apply, load, Options, Report};
use crate::output::{terminal_text, Format};
use crate::platforms::write::Outcome;
use crate::platforms::Context;
use crate::rules::check::Schemas;
use crate::rules::{check_files, load_files};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Apply a plan made by `driftwatch plan --out FILE`.
///
/// Refused whole (exit 2, nothing changed) when the plan is stale (a source it read was
/// collected again, a rule changed, another store) or when it removes or disables more than
/// the guard allows ([apply] max_remove_share, default 10% of any group, channel or course;
/// max_remove_total, default 50 accounts) unless --yes. Each target is re-read before acting:
/// what is in effect already is `already`. A SQL source's actions run in one transaction.
/// Every outcome goes to the audit log. Exit 0 when every action is done or already, 3 when
/// one failed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file
    #[arg(value_name = "FILE")]
    pub plan: PathBuf,
    /// Show every request that would be sent (method, path, body); send no write
    #[arg(long)]
    pub dry_run: bool,
    /// Apply even when the plan removes more than the guard allows
    #[arg(long)]
    pub yes: bool,
    /// Who applies it, for the audit log [default: $DRIFTWATCH_ACTOR, else $USER]
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Set a config variable: NAME=VALUE (repeatable), for `${NAME}` in the config
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let vars = Vars::from_args(&args.vars)?;
    let plan = load(&args.plan)?;
    let store = global.open_store()?;
    let files = load_files(Some(config), &[])?;
    let (run, _) = store.resolve_run("latest")?;
    let schemas = Schemas::at_run(&store, run)?.with_declared(Some(config));
    let loaded = check_files(&files, &schemas);
    let cx = Context {
        origin: &config.origin,
        vars: &vars,
    };
    let actor = super::actor(args.actor.as_deref());
    let opts = Options {
        dry_run: args.dry_run,
        yes: args.yes,
        actor: &actor,
    };
    let report = apply(&store, config, &cx, &loaded, &plan, &opts)?;
    if let Some(why) = &report.refused {
        eprintln!("driftwatch: apply refused: {why}");
    }
    let written = match global.format(Format::Table) {
        Format::Json => io(serde_json::to_writer_pretty(
            &mut *out,
            &to_json(&plan.plan_id, &report),
        )
        .map_err(Into::into))
        .and_then(|()| io(writeln!(out))),
        _ => write_table(&report, out),
    };
    super::verdict(report.exit(), written.and_then(|()| io(out.flush())))
}

fn to_json(plan_id: &str, r: &Report) -> serde_json::Value {
    let actions: Vec<serde_json::Value> = r
        .actions
        .iter()
        .map(|d| {
            json!({
                "id": d.action.id,
                "op": d.action.op,
                "platform": d.action.platform,
                "verb": d.action.verb,
                "outcome": d.outcome.as_str(),
                "error": d.outcome.error(),
                "requests": d.requests.iter().map(|q| json!({"method": q.method, "path": q.path, "body": q.body})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "plan_id": plan_id,
        "dry_run": r.dry_run,
        "refused": r.refused,
        "actions": actions,
        "summary": counts(r),
    })
}

fn counts(r: &Report) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for name in ["done", "already", "failed", "refused", "dry-run"] {
        let n = r
            .actions
            .iter()
            .filter(|d| d.outcome.as_str() == name)
            .count();
        m.insert(name.into(), json!(n));
    }
    m
}

pub(crate) fn write_table(r: &Report, out: &mut dyn Write) -> Result<()> {
    if r.refused.is_some() {
        return io(writeln!(out, "Nothing was applied."));
    }
    for d in &r.actions {
        let a = &d.action;
        let mark = match &d.outcome {
            Outcome::Done => "done   ",
            Outcome::Already => "already",
            Outcome::Failed(_) => "FAILED ",
            Outcome::Refused(_) => "notify ",
            Outcome::DryRun => "would  ",
        };
        io(writeln!(
            out,
            "{mark} {:>3}  {}.{} {}",
            a.id,
            a.platform,
            a.verb,
            terminal_text(&super::plan::params_text(a))
        ))?;
        for q in &d.requests {
            let body = q.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default();
            io(writeln!(
                out,
                "             {} {}{}",
                q.method,
                terminal_text(&q.path),
                terminal_text(&body)
            ))?;
        }
        if let Some(e) = d.outcome.error() {
            io(writeln!(out, "             {}", terminal_text(e)))?;
        }
    }
    let c = counts(r);
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    if r.dry_run {
        io(writeln!(
            out,
            "\nDry run: {} would be sent, {} already in effect, {} failed to re-read, {} for a person. Nothing was written.",
            n("dry-run"),
            n("already"),
            n("failed"),
            n("refused")
        ))
    } else {
        io(writeln!(
            out,
            "\nApplied: {} done, {} already in effect, {} failed, {} for a person (not executed).",
            n("done"),
            n("already"),
            n("failed"),
            n("refused")
        ))
    }
}
