//! The HTML report at scale: a year of daily runs (365) × 200 rules, each with a trend point a
//! run, 8 platforms, 25 subjects, suppressions and recommended actions listed up to the cap.
//! Measured: the time to render it, its size, and the time headless Chromium takes to load it
//! and dump its DOM (when `chromium` is installed), against Chromium loading an empty page in
//! the same run. Target: a few MB, about a second to open. `cargo bench --bench report`.

use driftwatch::output::Format;
use driftwatch::report::period::{Period, PlatformDelay, Report, RuleSummary};
use driftwatch::report::{Status, SystemCounts};
use driftwatch::rules::eval::At;
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod baseline;
use baseline::median;

const RUNS: i64 = 365;
const RULES: usize = 200;

fn at(run: i64) -> At {
    At {
        run,
        taken_at: driftwatch::time::format(1_767_225_600 + run * 86_400),
    }
}

fn report() -> Report {
    let rules = (0..RULES)
        .map(|i| RuleSummary {
            rule: format!("rule_number_{i:03}_of_the_organisation"),
            title: Some(format!(
                "Rule {i}: a member enrolled in a course is in its channel"
            )),
            severity: ["info", "warning", "error", "critical"][i % 4].into(),
            status: ["pass", "warn", "fail"][i % 3].into(),
            violations: (i * 7 % 50) as u64,
            new: (i % 9) as u64,
            resolved: (i % 7) as u64,
            persisting: (i % 11) as u64,
            transient: (i % 5) as u64,
            trend: (1..=RUNS)
                .map(|r| (r, at(r).taken_at, ((r as usize * (i + 3)) % 97) as u64))
                .collect(),
        })
        .collect();
    Report {
        period: Period::Monthly,
        from: at(1),
        to: at(RUNS),
        status: Status {
            at: at(RUNS),
            counted: [
                "people", "members", "mentors", "advisors", "courses", "groups",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            systems: ["ssot", "entra", "teams", "wordpress", "q2a"]
                .iter()
                .map(|s| SystemCounts {
                    system: s.to_string(),
                    counts: vec![
                        Some(100_000),
                        Some(90_000),
                        Some(5_000),
                        Some(500),
                        Some(800),
                        None,
                    ],
                })
                .collect(),
            notes: Vec::new(),
        },
        rules,
        total_issues: 4_800,
        delays: (0..8)
            .map(|p| PlatformDelay {
                platform: format!("platform{p}"),
                rules: vec!["a".into(), "b".into()],
                episodes: 1_000,
                resolved: 900,
                open: 100,
                p50_hours: Some(12.0 + p as f64),
                p90_hours: Some(48.0 + p as f64),
                max_hours: Some(200.0 + p as f64),
            })
            .collect(),
        subjects: (0..25)
            .map(|i| {
                (
                    format!("person{i}@example.org"),
                    40 - i as u64,
                    vec!["rule_number_001_of_the_organisation".into()],
                )
            })
            .collect(),
        suppressions: Vec::new(),
        applied: Vec::new(),
        recommended: Vec::new(),
        recommended_total: 12_000,
        notes: Vec::new(),
    }
}

fn chromium_load(path: &std::path::Path) -> Option<Duration> {
    let t = Instant::now();
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", path.display()))
        .output()
        .ok()?;
    out.status.success().then(|| t.elapsed())
}

fn main() {
    let r = report();
    let mut renders = Vec::new();
    let mut html = Vec::new();
    for _ in 0..5 {
        html.clear();
        let t = Instant::now();
        driftwatch::report::render::write(&r, Format::Html, &mut html).unwrap();
        renders.push(t.elapsed());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let empty = dir.path().join("empty.html");
    std::fs::write(&empty, "<!doctype html><title>x</title>").unwrap();
    println!(
        "HTML report, {RUNS} runs x {RULES} rules: {:.2} MB, rendered in {:.2?} (median of 5)",
        html.len() as f64 / 1e6,
        median(renders)
    );
    let (mut full, mut base) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        match (chromium_load(&file), chromium_load(&empty)) {
            (Some(f), Some(b)) => {
                full.push(f);
                base.push(b);
            }
            _ => {
                println!("(chromium not installed: run .ci/databases to measure the load time)");
                return;
            }
        }
    }
    let (f, b) = (median(full), median(base));
    println!(
        "headless Chromium loads it and dumps its DOM in {f:.2?}, an empty page in {b:.2?}: {:.2?} for the report itself (median of 3)",
        f.saturating_sub(b)
    );
}
