//! `driftwatch alert`: evaluate the alerts at a run and notify their receivers.

use super::rules::open_at;
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::output::{Format, Grid};
use crate::rules::load_files;
use serde_json::json;
use std::io::Write;

/// Evaluate the config's alerts at a run and send what is due.
///
/// An alert (`[[alerts]]`: rules by name, glob, tag or severity; `when` one of violations > N,
/// violations > N%, new > N, growth > N over K, age > 3d, source_failed, stale > 1d; `to`
/// receivers; `repeat`) notifies once when its condition starts, again only after `repeat`
/// while it holds, and once when it resolves. Times are run times: run it after each collect,
/// or over past runs in order, with the same notifications. A receiver that fails is retried,
/// then stays due for the next `alert` (exit 3). --dry-run shows what would be sent and
/// changes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
    /// Show the notifications that would be sent; send none, record nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let files = load_files(Some(config), &[])?;
    let (store, _, at) = open_at(global, Some(config), &args.at)?;
    let mut printed = Vec::new();
    let report = crate::alert::run(
        &store,
        config,
        &files,
        &at,
        None,
        args.dry_run,
        &mut printed,
    )?;
    super::print_notes(&report.notes);
    let format = global.format(Format::Table);
    let written = if format == Format::Json {
        let doc = json!({
            "run": at.run,
            "at": at.taken_at,
            "dry_run": args.dry_run,
            "firing": report.firing.iter().map(|(a, s)| json!({"alert": a, "summary": s})).collect::<Vec<_>>(),
            "sent": report.sent.iter().map(|n| json!({"alert": n.alert, "receiver": n.receiver, "notification": n.payload})).collect::<Vec<_>>(),
            "failed": report.failed.iter().map(|(n, e)| json!({"alert": n.alert, "receiver": n.receiver, "error": e})).collect::<Vec<_>>(),
        });
        io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))
            .and_then(|()| io(writeln!(out)))
    } else {
        io(out.write_all(&printed)).and_then(|()| {
            let mut g = Grid::new(&["alert", "receiver", "status", "outcome"]);
            for n in &report.sent {
                let outcome = if args.dry_run { "would send" } else { "sent" };
                g.push(vec![
                    json!(n.alert),
                    json!(n.receiver),
                    n.payload["status"].clone(),
                    json!(outcome),
                ]);
            }
            for (n, e) in &report.failed {
                g.push(vec![
                    json!(n.alert),
                    json!(n.receiver),
                    n.payload["status"].clone(),
                    json!(format!("failed: {e}")),
                ]);
            }
            io(writeln!(
                out,
                "Alerts at run {} ({}): {} firing",
                at.run,
                at.taken_at,
                report.firing.len()
            ))?;
            for (_, s) in &report.firing {
                io(writeln!(out, "  {s}"))?;
            }
            if g.rows.is_empty() {
                io(writeln!(out, "No notification due."))
            } else {
                io(g.write(format, out))
            }
        })
    };
    let exit = if report.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Runtime
    };
    super::verdict(exit, written.and_then(|()| io(out.flush())))
}
