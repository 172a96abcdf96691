//! `driftwatch delay`: how long violations take to resolve, per rule and per platform.

use super::rules::{with_history, RuleChoice};
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::history::delay::{by_platform, delays, percentile, Delay, RuleDelay};
use crate::output::{Format, Grid};
use serde_json::{json, Value as Json};
use std::io::Write;

/// How long violations take to resolve: episodes, resolved, open, time to resolve (p50, p90,
/// max) and the age of the open ones.
///
/// A rule that compares the source of truth with a platform measures how long a change in the
/// database takes to reach that platform, so the table also gathers the rules by platform (the
/// config's `ssot` names the source of truth; by default the source called `ssot`). Times are as
/// fine as the runs: a violation counts from the first run that found it to the first that did
/// not. Percentiles are nearest-rank. Every run is evaluated first where it has not been yet.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub choice: RuleChoice,
    /// For json and csv: one entry per rule, or per platform
    #[arg(long, value_enum, default_value = "rule")]
    pub by: By,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Rule,
    Platform,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    with_history(global, &args.choice, |h| {
        let delays = delays(h)?;
        write_delays(&delays, global.format(Format::Table), args.by, out)?;
        Ok(Exit::Ok)
    })
}

fn hours(v: Option<f64>) -> Json {
    v.map_or(Json::Null, |h| json!((h * 100.0).round() / 100.0))
}

fn span(v: Option<f64>) -> Json {
    v.map_or(Json::Null, |h| {
        json!(crate::time::format_span((h * 3600.0).round() as i64))
    })
}

/// The figures of a delay, as JSON numbers of hours or as spans.
fn figures(d: &Delay, as_span: bool) -> Vec<Json> {
    let f = if as_span { span } else { hours };
    vec![
        json!(d.episodes),
        json!(d.resolved()),
        json!(d.open()),
        f(percentile(&d.time_to_resolve, 50)),
        f(percentile(&d.time_to_resolve, 90)),
        f(d.time_to_resolve.last().copied()),
        f(percentile(&d.open_age, 50)),
        f(d.open_age.last().copied()),
    ]
}

const FIGURES: [&str; 8] = [
    "episodes",
    "resolved",
    "open",
    "resolve p50",
    "resolve p90",
    "resolve max",
    "open age p50",
    "open age max",
];

fn to_json(d: &Delay) -> serde_json::Map<String, Json> {
    let mut o = serde_json::Map::new();
    o.insert("episodes".into(), json!(d.episodes));
    o.insert("resolved".into(), json!(d.resolved()));
    o.insert("open".into(), json!(d.open()));
    o.insert("open_at_first_run".into(), json!(d.open_at_start));
    o.insert(
        "time_to_resolve_hours".into(),
        json!({"p50": hours(percentile(&d.time_to_resolve, 50)),
               "p90": hours(percentile(&d.time_to_resolve, 90)),
               "max": hours(d.time_to_resolve.last().copied())}),
    );
    o.insert(
        "open_age_hours".into(),
        json!({"p50": hours(percentile(&d.open_age, 50)), "max": hours(d.open_age.last().copied())}),
    );
    o
}

/// Writes delays in any format; `demo` prints them too.
pub fn write_delays(
    delays: &[RuleDelay],
    format: Format,
    by: By,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Html => Err(crate::error::Error::input(
            "`delay` writes table, json, csv or md; html is the report's (`driftwatch report --format html`)",
        )),
        Format::Json => write_json(delays, by, out),
        Format::Csv => write_csv(delays, by, out),
        Format::Table | Format::Md => write_tables(delays, format, out),
    }
}

fn write_json(delays: &[RuleDelay], by: By, out: &mut dyn Write) -> Result<()> {
    let platforms = by_platform(delays);
    let doc: Vec<Json> = match by {
        By::Rule => delays
            .iter()
            .map(|d| {
                let mut o = serde_json::Map::new();
                o.insert("rule".into(), json!(d.rule));
                o.insert("platform".into(), json!(d.platform));
                o.extend(to_json(&d.delay));
                Json::Object(o)
            })
            .collect(),
        By::Platform => platforms
            .iter()
            .map(|(p, rules, d)| {
                let mut o = serde_json::Map::new();
                o.insert("platform".into(), json!(p));
                o.insert("rules".into(), json!(rules));
                o.extend(to_json(d));
                Json::Object(o)
            })
            .collect(),
    };
    io(serde_json::to_writer_pretty(&mut *out, &doc).map_err(Into::into))?;
    io(writeln!(out))
}

fn write_csv(delays: &[RuleDelay], by: By, out: &mut dyn Write) -> Result<()> {
    let platforms = by_platform(delays);
    let lead = match by {
        By::Rule => ["rule", "platform"],
        By::Platform => ["platform", "rules"],
    };
    let hours: Vec<String> = FIGURES
        .iter()
        .map(|f| match f.split_once(' ') {
            Some(_) => format!("{}_hours", f.replace(' ', "_")),
            None => f.to_string(),
        })
        .collect();
    let mut headers: Vec<&str> = lead.to_vec();
    headers.extend(hours.iter().map(String::as_str));
    let mut g = Grid::new(&headers);
    match by {
        By::Rule => {
            for d in delays {
                let mut row = vec![json!(d.rule), json!(d.platform)];
                row.extend(figures(&d.delay, false));
                g.push(row);
            }
        }
        By::Platform => {
            for (p, rules, d) in &platforms {
                let mut row = vec![json!(p), json!(rules.join(" "))];
                row.extend(figures(d, false));
                g.push(row);
            }
        }
    }
    io(g.write(Format::Csv, out))
}

fn write_tables(delays: &[RuleDelay], format: Format, out: &mut dyn Write) -> Result<()> {
    let platforms = by_platform(delays);
    let mut headers = vec!["rule", "platform"];
    headers.extend(FIGURES);
    let mut g = Grid::new(&headers);
    for d in delays {
        let mut row = vec![json!(d.rule), json!(d.platform)];
        row.extend(figures(&d.delay, true));
        g.push(row);
    }
    io(writeln!(out, "Time to resolve, per rule"))?;
    io(g.write(format, out))?;
    let mut headers = vec!["platform", "rules"];
    headers.extend(FIGURES);
    let mut g = Grid::new(&headers);
    for (p, rules, d) in &platforms {
        let mut row = vec![json!(p), json!(rules.len())];
        row.extend(figures(d, true));
        g.push(row);
    }
    io(writeln!(
        out,
        "\nTime for a change in the source of truth to reach each platform"
    ))?;
    io(g.write(format, out))?;
    let censored: u64 = delays.iter().map(|d| d.delay.open_at_start).sum();
    if censored > 0 {
        io(writeln!(
            out,
            "note: {censored} episode{} already open at the first run evaluated; {} times are lower bounds",
            if censored == 1 { " was" } else { "s were" },
            if censored == 1 { "its" } else { "their" }
        ))?;
    }
    Ok(())
}
