//! The report in each format: JSON (the contract), Markdown, CSV (the rules' figures, one row a
//! rule) and HTML (one self-contained file: inline CSS and SVG, no script, nothing from the
//! network; printable; lists capped at [`LISTED`] rows, the rest in the CSV exports).

use super::period::{Report, LISTED};
use crate::error::{Error, Result};
use crate::output::{Format, Grid};
use serde_json::{json, Value as Json};
use std::fmt::Write as _;
use std::io::Write;

const TEMPLATE: &str = include_str!("report.html");

pub fn to_json(r: &Report) -> Json {
    let systems: serde_json::Map<String, Json> = r
        .status
        .systems
        .iter()
        .map(|s| {
            let counts: serde_json::Map<String, Json> = r
                .status
                .counted
                .iter()
                .zip(&s.counts)
                .filter_map(|(n, c)| c.map(|c| (n.clone(), json!(c))))
                .collect();
            (s.system.clone(), Json::Object(counts))
        })
        .collect();
    json!({
        "period": {"name": r.period, "from_run": r.from.run, "to_run": r.to.run,
                   "from": r.from.taken_at, "to": r.to.taken_at},
        "status": {"run": r.to.run, "at": r.to.taken_at, "systems": systems},
        "total_issues": r.total_issues,
        "rules": r.rules.iter().map(|x| json!({
            "rule": x.rule, "title": x.title, "severity": x.severity, "status": x.status,
            "violations": x.violations, "new": x.new, "resolved": x.resolved,
            "persisting": x.persisting, "transient": x.transient,
            "trend": x.trend.iter().map(|(run, at, v)| json!({"run": run, "at": at, "violations": v})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "delays": r.delays,
        "subjects": r.subjects.iter().map(|(s, n, rules)| json!({"subject": s, "violations": n, "rules": rules})).collect::<Vec<_>>(),
        "suppressions": r.suppressions.iter().map(|s| json!({"id": s.id, "rule": s.rule, "key": s.key, "reason": s.reason, "until": s.until, "by": s.by})).collect::<Vec<_>>(),
        "applied": r.applied,
        "recommended": {"total": r.recommended_total, "actions": r.recommended},
    })
}

fn rules_grid(r: &Report) -> Grid {
    let mut g = Grid::new(&[
        "rule",
        "severity",
        "status",
        "violations",
        "new",
        "resolved",
        "persisting",
        "transient",
    ]);
    for x in &r.rules {
        g.push(vec![
            json!(x.rule),
            json!(x.severity),
            json!(x.status),
            json!(x.violations),
            json!(x.new),
            json!(x.resolved),
            json!(x.persisting),
            json!(x.transient),
        ]);
    }
    g
}

fn hours(h: Option<f64>) -> String {
    h.map(|h| crate::time::format_span((h * 3600.0).round() as i64))
        .unwrap_or_default()
}

/// Writes the report in `format`.
pub fn write(r: &Report, format: Format, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(r))?;
            writeln!(out)?;
        }
        Format::Csv => rules_grid(r).write(Format::Csv, out)?,
        Format::Md => markdown(r, out)?,
        Format::Html => html(r, out)?,
        Format::Table => {
            return Err(Error::input(
                "report writes html, md, json or csv (--format)",
            ))
        }
    }
    Ok(())
}

fn markdown(r: &Report, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "# Sync report, {:?} period: run {} ({}) to run {} ({})\n",
        r.period, r.from.run, r.from.taken_at, r.to.run, r.to.taken_at
    )?;
    writeln!(
        out,
        "TOTAL ISSUES: {}\n\n## What every system holds\n",
        r.total_issues
    )?;
    let mut headers = vec!["system"];
    headers.extend(r.status.counted.iter().map(String::as_str));
    let mut g = Grid::new(&headers);
    for s in &r.status.systems {
        let mut row = vec![json!(s.system)];
        row.extend(s.counts.iter().map(|c| json!(c)));
        g.push(row);
    }
    g.write(Format::Md, out)?;
    writeln!(out, "\n## Rules\n")?;
    rules_grid(r).write(Format::Md, out)?;
    writeln!(out, "\n## Propagation delay by platform\n")?;
    let mut g = Grid::new(&[
        "platform", "episodes", "resolved", "open", "p50", "p90", "max",
    ]);
    for d in &r.delays {
        g.push(vec![
            json!(d.platform),
            json!(d.episodes),
            json!(d.resolved),
            json!(d.open),
            json!(hours(d.p50_hours)),
            json!(hours(d.p90_hours)),
            json!(hours(d.max_hours)),
        ]);
    }
    g.write(Format::Md, out)?;
    writeln!(out, "\n## Most affected subjects\n")?;
    let mut g = Grid::new(&["subject", "violations", "rules"]);
    for (s, n, rules) in &r.subjects {
        g.push(vec![json!(s), json!(n), json!(rules.join(", "))]);
    }
    g.write(Format::Md, out)?;
    writeln!(
        out,
        "\n## Recommended actions ({} in all; `driftwatch plan` lists them)\n",
        r.recommended_total
    )?;
    let mut g = Grid::new(&["op", "platform", "verb", "rule", "subject"]);
    for a in &r.recommended {
        g.push(vec![
            json!(a.op),
            json!(a.platform),
            json!(a.verb),
            json!(a.rule),
            a.subject.clone().unwrap_or(Json::Null),
        ]);
    }
    g.write(Format::Md, out)?;
    Ok(())
}

/// A small inline SVG line of a rule's violations over the period.
fn sparkline(points: &[(i64, String, u64)]) -> String {
    let (w, h) = (160.0, 28.0);
    let max = points.iter().map(|p| p.2).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(2) as f64 - 1.0;
    let mut path = String::new();
    for (i, p) in points.iter().enumerate() {
        let x = 2.0 + i as f64 * (w - 4.0) / n;
        let y = h - 2.0 - p.2 as f64 * (h - 4.0) / max;
        let _ = write!(path, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"trend\"><path d=\"{path}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\"/></svg>"
    )
}

/// Horizontal bars of each platform's p50, p90 and max time to resolve.
fn delay_bars(r: &Report) -> String {
    let max = r
        .delays
        .iter()
        .filter_map(|d| d.max_hours)
        .fold(1.0f64, f64::max);
    let row_h = 26.0;
    let (w, label_w) = (520.0, 150.0);
    let h = row_h * r.delays.len() as f64 + 20.0;
    let mut svg = format!("<svg class=\"bars\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"propagation delay\">");
    for (i, d) in r.delays.iter().enumerate() {
        let y = 10.0 + i as f64 * row_h;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 13.0,
            crate::output::escape_html(&d.platform)
        );
        for (v, class, off) in [
            (d.max_hours, "max", 0.0),
            (d.p90_hours, "p90", 4.0),
            (d.p50_hours, "p50", 8.0),
        ] {
            if let Some(v) = v {
                let bw = (w - label_w) * v / max;
                let _ = write!(svg, "<rect class=\"{class}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\"/>", y + off / 2.0, 18.0 - off);
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn html(r: &Report, out: &mut dyn Write) -> Result<()> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::runtime(format!("the report template: {e}")))?;
    let mut ctx = to_json(r);
    // What the template shows besides the JSON: spans as text, the systems as rows.
    for d in ctx["delays"].as_array_mut().into_iter().flatten() {
        for k in ["p50_hours", "p90_hours", "max_hours"] {
            d[k] = json!(hours(d[k].as_f64()));
        }
    }
    ctx["listed"] = json!(LISTED);
    ctx["counted"] = json!(r.status.counted);
    ctx["systems"] = json!(r
        .status
        .systems
        .iter()
        .map(|s| json!({"system": s.system, "counts": s.counts}))
        .collect::<Vec<_>>());
    ctx["generated"] = json!(crate::time::format(crate::time::now()));
    let tmpl = env.get_template("report.html").expect("added above");
    let mut value = minijinja::Value::from_serialize(&ctx);
    // The SVG is made here, from numbers and escaped names: safe to include as it is.
    let charts: Vec<minijinja::Value> = r
        .rules
        .iter()
        .map(|x| minijinja::Value::from_safe_string(sparkline(&x.trend)))
        .collect();
    value = minijinja::context! { r => value, charts => charts, delay_chart => minijinja::Value::from_safe_string(delay_bars(r)) };
    let text = tmpl
        .render(value)
        .map_err(|e| Error::runtime(format!("rendering the report: {e}")))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}
