//! `driftwatch report` on the seven days of the LMS samples: its figures equal `status`,
//! `diff`, `trend` and `delay`; the CSV and Markdown carry the same; the HTML is one
//! self-contained file that headless Chromium renders, with the JSON's totals in its DOM.

use crate::common::{ok, write};
use serde_json::Value as Json;
use std::path::Path;

/// The LMS samples' seven days collected into a store of `d`; returns the config's path.
fn seven_days(d: &Path) -> String {
    let config = crate::common::lms_config();
    write(d, "driftwatch.toml", &config);
    for day in 1..=7 {
        crate::common::collect_lms_day(d, day);
    }
    "driftwatch.toml".into()
}

fn json(d: &Path, args: &[&str]) -> Json {
    let r = crate::common::run(d, args);
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", r.stdout, r.stderr))
}

#[test]
fn the_weekly_report_figures_equal_status_diff_trend_and_delay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seven_days(d);
    let report = json(d, &["report", "--period", "weekly", "--format", "json"]);
    assert_eq!(report["period"]["from_run"], 1);
    assert_eq!(report["period"]["to_run"], 7);
    assert_eq!(report["status"], json(d, &["status", "--format", "json"]));
    let diff = json(d, &["diff", "--from", "1", "--to", "7", "--format", "json"]);
    let trend = json(d, &["trend", "--format", "json"]);
    for r in report["rules"].as_array().unwrap() {
        let name = r["rule"].as_str().unwrap();
        let dr = diff["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == name)
            .unwrap();
        for k in ["new", "resolved", "persisting"] {
            assert_eq!(r[k], dr[k], "{name} {k}");
        }
        let tr = trend
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == name)
            .unwrap();
        let points: Vec<(Json, Json)> = tr["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["run"].clone(), p["violations"].clone()))
            .collect();
        let ours: Vec<(Json, Json)> = r["trend"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["run"].clone(), p["violations"].clone()))
            .collect();
        assert_eq!(ours, points, "{name} trend");
    }
    let audit = json(d, &["audit", "--format", "json"]);
    assert_eq!(report["total_issues"], audit["total_issues"]);
    let delay = json(d, &["delay", "--by", "platform", "--format", "json"]);
    for p in report["delays"].as_array().unwrap() {
        let dp = delay
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["platform"] == p["platform"])
            .unwrap();
        assert_eq!(p["episodes"], dp["episodes"]);
        assert_eq!(p["p50_hours"], dp["time_to_resolve_hours"]["p50"], "{p}");
        assert_eq!(p["p90_hours"], dp["time_to_resolve_hours"]["p90"], "{p}");
        assert_eq!(p["max_hours"], dp["time_to_resolve_hours"]["max"], "{p}");
    }
    // The CSV is the rules' figures, one row a rule; Markdown says the total.
    let csv = ok(d, &["report", "--period", "weekly", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "rule,severity,status,violations,new,resolved,persisting,transient"
    );
    assert_eq!(lines.len(), 1 + report["rules"].as_array().unwrap().len());
    let first = &report["rules"][0];
    assert!(
        lines[1].starts_with(&format!(
            "{},{},{},{},{}",
            first["rule"].as_str().unwrap(),
            first["severity"].as_str().unwrap(),
            first["status"].as_str().unwrap(),
            first["violations"],
            first["new"]
        )),
        "{}",
        lines[1]
    );
    let md = ok(d, &["report", "--period", "weekly", "--format", "md"]);
    assert!(
        md.contains(&format!("TOTAL ISSUES: {}", report["total_issues"])),
        "{md}"
    );
    // A daily report starts at the run a day before.
    let daily = json(d, &["report", "--format", "json"]);
    assert_eq!(daily["period"]["from_run"], 6);
}

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        if std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c;
        }
    }
    panic!("the HTML report's test needs headless Chromium (Debian's chromium); run .ci/databases (it installs it where missing), or .ci/run");
}

#[test]
fn the_html_report_is_self_contained_and_chromium_renders_the_json_totals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seven_days(d);
    ok(d, &["report", "--period", "weekly", "--out", "report.html"]);
    let report = json(d, &["report", "--period", "weekly", "--format", "json"]);
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(
        !html.contains("<script")
            && !html.contains("src=\"http")
            && !html.contains("href=\"http")
            && !html.contains("@import"),
        "the report loads nothing"
    );
    assert!(html.len() < 200_000, "{} bytes", html.len());
    let browser = chromium();
    let url = format!("file://{}", d.join("report.html").display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ];
    let shot = d.join("shot.png");
    let out = std::process::Command::new(browser)
        .args(flags)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A blank page compresses to a few KB; this one holds tables and charts.
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 40_000,
        "{} bytes",
        png.len()
    );
    let dom = std::process::Command::new(browser)
        .args(flags)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let shown = |id: &str| -> String {
        let at = dom
            .find(&format!("id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no #{id} in the DOM"));
        dom[at + id.len() + 6..]
            .split('<')
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    let rules = report["rules"].as_array().unwrap();
    let sum = |k: &str| {
        rules
            .iter()
            .map(|r| r[k].as_u64().unwrap())
            .sum::<u64>()
            .to_string()
    };
    assert_eq!(shown("total-issues"), report["total_issues"].to_string());
    assert_eq!(shown("new-total"), sum("new"));
    assert_eq!(shown("resolved-total"), sum("resolved"));
    assert_eq!(
        shown("recommended-total"),
        report["recommended"]["total"].to_string()
    );
    let failing = rules.iter().filter(|r| r["status"] == "fail").count();
    assert_eq!(shown("rules-failing"), failing.to_string());
}
