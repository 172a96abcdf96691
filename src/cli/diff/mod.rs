//! `driftwatch diff`: what changed between two runs: the rules' violations, and the data.

mod data;
mod rules;

use super::rules::{with_history, RuleChoice};
use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::history::diff::{rule_diffs, RuleDiff};
use crate::output::Format;
use crate::rules::eval::At;
use crate::store::{diff_data, EntityDiff, Store};
use serde_json::json;
use std::io::Write;

pub use data::write_table as write_data_table;
pub use rules::write_rule_diffs;

/// Compare two runs: per rule, the violations that are new, resolved and persisting; with
/// --data, per entity the rows added, removed and changed.
///
/// Any two runs compare, not only neighbours. A run the rules have not been evaluated at yet is
/// evaluated first, and kept in the store's history. Without rules (no --rules and none in the
/// config), --data compares the data alone.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The earlier run: run id, `latest`, or an ISO date/time
    #[arg(long, value_name = "RUN")]
    pub from: String,
    /// The later run [default: latest]
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub to: String,
    #[command(flatten)]
    pub choice: RuleChoice,
    /// Compare the collected data too, entity by entity (in csv and md: the data alone)
    #[arg(long)]
    pub data: bool,
    /// In table format, list at most this many rows per rule or entity (0: summary only)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

/// The two runs, in order.
fn runs(store: &Store, args: &Args) -> Result<(At, At)> {
    let (from, from_at) = store.resolve_run(&args.from)?;
    let (to, to_at) = store.resolve_run(&args.to)?;
    if from > to {
        return Err(Error::input(format!(
            "--from run {from} is later than --to run {to}"
        )));
    }
    Ok((
        At {
            run: from,
            taken_at: from_at,
        },
        At {
            run: to,
            taken_at: to_at,
        },
    ))
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let format = global.format(Format::Table);
    let config = global.config()?;
    let has_rules =
        !args.choice.files.is_empty() || config.as_ref().is_some_and(|c| !c.rules.is_empty());
    if !has_rules {
        if !args.data {
            return Err(Error::input(
                "no rules to compare: pass --rules FILE or --config FILE whose `rules` names them, or --data to compare the data",
            ));
        }
        let store = global.open_store()?;
        let (from, to) = runs(&store, &args)?;
        return write(&[], Some(&store), &from, &to, &args, format, out);
    }
    with_history(global, &args.choice, |h| {
        let (from, to) = runs(h.store, &args)?;
        let diffs = rule_diffs(h, &from, &to)?;
        write(
            &diffs,
            args.data.then_some(h.store),
            &from,
            &to,
            &args,
            format,
            out,
        )
    })
}

/// Writes the rule diffs and, given a store, the data diff.
fn write(
    diffs: &[RuleDiff],
    data: Option<&Store>,
    from: &At,
    to: &At,
    args: &Args,
    format: Format,
    out: &mut dyn Write,
) -> Result<Exit> {
    let entities = data.map(|s| diff_data(s, from.run, to.run)).transpose()?;
    let exit = if diffs.iter().any(|d| d.error.is_some()) {
        Exit::Invalid
    } else {
        Exit::Ok
    };
    let written = render(diffs, entities.as_deref(), from, to, args, format, out);
    super::verdict(exit, written)
}

/// Renders the rule diffs and, when given, the data diff, in `format`.
fn render(
    diffs: &[RuleDiff],
    entities: Option<&[EntityDiff]>,
    from: &At,
    to: &At,
    args: &Args,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Html => Err(crate::error::Error::input(
            "`diff` writes table, json, csv or md; html is the report's (`driftwatch report --format html`)",
        )),
        Format::Json => {
            let mut doc = json!({
                "from": from.run,
                "to": to.run,
                "rules": rules::to_json(diffs),
            });
            if let Some(e) = entities {
                doc["data"] = json!(data::to_json(e));
            }
            io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
            io(writeln!(out))
        }
        Format::Csv | Format::Md => match entities {
            Some(e) => data::write_fields(e, format, out),
            None => io(rules::rows_grid(diffs).write(format, out)),
        },
        Format::Table => {
            if entities.is_none() || !diffs.is_empty() {
                write_rule_diffs(diffs, from, to, args.limit, out)?;
            }
            if let Some(e) = entities {
                if !diffs.is_empty() {
                    io(writeln!(out))?;
                }
                data::write_table(from.run, to.run, e, args.limit, out)?;
            }
            Ok(())
        }
    }
}
