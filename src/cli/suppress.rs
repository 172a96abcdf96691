//! `driftwatch suppress`: violations an operator decides to live with, for a reason and a time.

use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::output::{Format, Grid};
use serde_json::json;
use std::io::Write;

/// Suppress a violation: still found and listed apart (with the reason and expiry), but not
/// counted, planned or alerted on, until it expires or is removed.
///
///   driftwatch suppress RULE KEY… --reason "why" [--until 2026-12-31]
///   driftwatch suppress --list
///   driftwatch suppress --remove ID
///
/// KEY is the violation's key as `audit --detailed` shows it, one argument per value.
/// Suppressions under version control go in the file the config names (`suppressions =
/// "suppressions.toml"`); --list shows both.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rule
    #[arg(value_name = "RULE", required_unless_present_any = ["list", "remove"])]
    pub rule: Option<String>,
    /// The violation's key values
    #[arg(value_name = "KEY")]
    pub key: Vec<String>,
    /// Why it is suppressed (required)
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["list", "remove"])]
    pub reason: Option<String>,
    /// When it ends: a date or date/time (UTC)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// List the suppressions (the store's and the config's file's)
    #[arg(long, conflicts_with_all = ["rule", "remove", "reason", "until"])]
    pub list: bool,
    /// Remove the store's suppression ID
    #[arg(long, value_name = "ID", conflicts_with_all = ["rule", "reason", "until"])]
    pub remove: Option<i64>,
    /// Who suppresses it, for the audit log [default: $DRIFTWATCH_ACTOR, else $USER]
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let store = global.open_store()?;
    let actor = super::actor(args.actor.as_deref());
    if args.list {
        let all = crate::history::suppressed::all(&store, global.config()?)?;
        let now = crate::time::format(crate::time::now());
        let mut g = Grid::new(&["id", "rule", "key", "reason", "until", "by", "state"]);
        for s in &all {
            let expired = s.until.as_deref().is_some_and(|u| u <= now.as_str());
            g.push(vec![
                json!(s.id),
                json!(s.rule),
                json!(s.key.join(", ")),
                json!(s.reason),
                json!(s.until),
                json!(s.by),
                json!(if expired { "expired" } else { "active" }),
            ]);
        }
        let written = g
            .write(global.format(Format::Table), out)
            .map_err(Error::from);
        return super::verdict(Exit::Ok, written.and_then(|()| io(out.flush())));
    }
    if let Some(id) = args.remove {
        let s = crate::fix::suppress::remove(&store, id, &actor)?;
        io(writeln!(
            out,
            "removed suppression {id} of {} [{}]: it counts again",
            s.rule,
            s.key.join(", ")
        ))?;
        return Ok(Exit::Ok);
    }
    let rule = args.rule.unwrap_or_default();
    if args.key.is_empty() {
        return Err(Error::input(format!(
            "suppress {rule}: give the violation's key (as `driftwatch audit --rule {rule} --detailed` shows it)"
        )));
    }
    if let Some(config) = global.config()? {
        let files = crate::rules::load_files(Some(config), &[])?;
        let names: Vec<&str> = files
            .iter()
            .flat_map(|f| f.rules.iter().map(|r| r.name.name.as_str()))
            .collect();
        if !names.is_empty() && !names.contains(&rule.as_str()) {
            let hint = crate::text::nearest(&rule, names.iter().copied())
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            return Err(Error::input(format!(
                "no rule `{rule}` in the rule files{hint}"
            )));
        }
    }
    let id = crate::fix::suppress::add(
        &store,
        &rule,
        args.key.clone(),
        args.reason.as_deref().unwrap_or_default(),
        args.until.as_deref(),
        &actor,
    )?;
    io(writeln!(
        out,
        "suppression {id}: {rule} [{}]{}",
        args.key.join(", "),
        args.until
            .map(|u| format!(" until {u}"))
            .unwrap_or_else(|| " until removed (driftwatch suppress --remove ID)".into())
    ))?;
    Ok(Exit::Ok)
}
