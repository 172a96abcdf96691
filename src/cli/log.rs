//! `driftwatch log`: the audit log, and its chain verified.

use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::output::{Format, Grid};
use crate::store::log::{entries, verify, Entry};
use serde_json::json;
use std::io::Write;

/// Show the audit log: every collect, audit, plan, apply attempt and suppression change.
///
/// An applied action shows its verification: `confirmed` (its violation is gone at the
/// runs evaluated since), `reverted` (it came back) or `unconfirmed`. With --verify, the
/// hash chain is recomputed: exit 1 and the first entry that was edited, removed or moved
/// when it is broken.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only entries since this long ago (`7d`, `12h`) or since this date/time
    #[arg(long, value_name = "SPAN|TIME")]
    pub since: Option<String>,
    /// Recompute the hash chain and name the first entry that does not hold
    #[arg(long)]
    pub verify: bool,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let store = global.open_store()?;
    if args.verify {
        let (n, broken) = verify(store.conn())?;
        let (exit, text) = match broken {
            None => (
                Exit::Ok,
                format!("audit log verified: {n} entries, the chain is intact"),
            ),
            Some(b) => (
                Exit::RuleFailed,
                format!(
                    "audit log BROKEN at entry {}: {} ({n} entries read)",
                    b.seq, b.why
                ),
            ),
        };
        let written = io(writeln!(out, "{text}"));
        return super::verdict(exit, written);
    }
    let since = args.since.as_deref().map(since_time).transpose()?;
    let list = entries(store.conn(), since.as_deref())?;
    let states = crate::fix::verify::states(&store)?;
    let format = global.format(Format::Table);
    let mut g = grid(&list, &states);
    if matches!(format, Format::Table | Format::Md) {
        // A terminal gets what a person reads; csv and json keep every column.
        g = g.only(&[
            "seq",
            "at",
            "actor",
            "command",
            "target",
            "request",
            "outcome",
            "error",
            "rule",
            "key",
            "subject",
            "verification",
        ]);
    }
    let written = g.write(format, out).map_err(Error::from);
    super::verdict(Exit::Ok, written.and_then(|()| io(out.flush())))
}

/// `7d` (that long before now) or a date/time, as ISO-8601 UTC.
pub fn since_time(s: &str) -> Result<String> {
    if let Some(span) = crate::time::parse_duration(s) {
        return Ok(crate::time::format(crate::time::now() - span));
    }
    crate::time::normalize(s).ok_or_else(|| {
        Error::input(format!(
            "--since {s:?}: expected a span such as 7d or 12h, or a date/time such as 2026-11-01"
        ))
    })
}

/// The log as a grid: every column of an entry, and an applied action's verification.
pub fn grid(
    list: &[Entry],
    states: &std::collections::BTreeMap<(String, i64), crate::fix::verify::State>,
) -> Grid {
    let mut g = Grid::new(&[
        "seq",
        "at",
        "actor",
        "command",
        "plan_id",
        "action_id",
        "target",
        "request",
        "outcome",
        "error",
        "rule",
        "key",
        "subject",
        "verification",
        "hash",
    ]);
    for e in list {
        let state = match (&e.plan_id, e.action_id, e.outcome.as_deref()) {
            (Some(p), Some(a), Some("done" | "already")) => {
                states.get(&(p.clone(), a)).map(|s| s.as_str())
            }
            _ => None,
        };
        g.push(vec![
            json!(e.seq),
            json!(e.at),
            json!(e.actor),
            json!(e.command),
            json!(e.plan_id),
            json!(e.action_id),
            json!(e.target),
            json!(e.request),
            json!(e.outcome),
            json!(e.error),
            json!(e.rule),
            json!(e.key),
            json!(e.subject),
            json!(state),
            json!(e.hash),
        ]);
    }
    g
}
