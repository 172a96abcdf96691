//! A rule's `grace`, at its boundaries: a violation is pending while it is strictly younger than
//! the grace, counted from the first run that found it; one found at the first run a rule was
//! evaluated at is of unknown age and never pending. Audit and trend must agree.

use crate::common::{ok, run, write};
use serde_json::Value as Json;

const CONFIG: &str = "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n\
    [sources.hr.entities.people]\npath = \"p.csv\"\nkey = [\"id\"]\n";
const RULES: &str =
    "rule has_email {\n  for p in hr.people\n  expect p.email != ''\n  grace 1d\n}\n";

fn audit(d: &std::path::Path, at: &str) -> Json {
    let r = run(d, &["audit", "--at", at, "--format", "json"]);
    serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.stderr))
}

#[test]
fn a_violation_is_pending_while_strictly_younger_than_grace_and_counts_at_exactly_grace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "r.rules", RULES);
    write(d, "p.csv", "id,email\n1,a@x.org\n");
    ok(d, &["collect", "--at", "2026-11-01T06:00:00Z"]);
    write(d, "p.csv", "id,email\n1,a@x.org\n2,\n");
    ok(d, &["collect", "--at", "2026-11-02T06:00:00Z"]);
    ok(d, &["collect", "--at", "2026-11-03T05:59:59Z"]);
    ok(d, &["collect", "--at", "2026-11-03T06:00:00Z"]);
    // Found at run 2: pending at run 2 (0 s old) and run 3 (1 s short of a day); at run 4,
    // exactly a day old, it counts.
    for (run_id, pending) in [("2", true), ("3", true), ("4", false)] {
        let a = audit(d, run_id);
        let rule = &a["rules"][0];
        assert_eq!(rule["rows"][0]["pending"], pending, "run {run_id}: {rule}");
        assert_eq!(rule["pending"], pending as u64, "run {run_id}");
        assert_eq!(a["total_issues"], 1 - pending as u64, "run {run_id}");
    }
    let trend: Json = serde_json::from_str(&ok(d, &["trend", "--format", "json"])).unwrap();
    let pending: Vec<u64> = trend[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pending"].as_u64().unwrap())
        .collect();
    assert_eq!(pending, [0, 1, 1, 0], "{trend}");
}

#[test]
fn a_violation_found_at_the_first_evaluated_run_is_never_pending() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "r.rules", RULES);
    write(d, "p.csv", "id,email\n1,\n");
    ok(d, &["collect", "--at", "2026-11-01T06:00:00Z"]);
    // Its age is unknown: it may be years old, so it counts at once.
    let a = audit(d, "1");
    assert_eq!(a["rules"][0]["rows"][0]["pending"], false, "{a}");
    assert_eq!(a["total_issues"], 1);
    let trend: Json = serde_json::from_str(&ok(d, &["trend", "--format", "json"])).unwrap();
    assert_eq!(trend[0]["points"][0]["pending"], 0, "{trend}");
}
