//! The shipped rule libraries on the bundled samples: queries/peerquest.rules finds exactly
//! what the AUDIT-001 report found, and queries/lms.rules finds exactly the drift that the
//! sample generator injected, day by day.

use crate::common::{lms_store, ok, repo, run};
use crate::drift::{drift_list, expected};
use driftwatch::history::AuditReport;
use driftwatch::rules::check::Schemas;
use driftwatch::rules::eval::At;
use driftwatch::rules::{check_files, RuleFile};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

fn peerquest(dir: &std::path::Path) -> Vec<String> {
    let config = repo().join("samples/peerquest/driftwatch.toml");
    let store = dir.join("pq.db");
    let base = vec![
        "--config".to_string(),
        config.display().to_string(),
        "--store".into(),
        store.display().to_string(),
    ];
    let mut args = base.clone();
    // At a fixed time: `now()` in a fix is the run's time, and the SQL snapshot shows it.
    args.extend([
        "collect".into(),
        "--at".into(),
        "2026-11-07T06:00:00Z".into(),
    ]);
    ok(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    base
}

/// rule → [(subject, key)] of an audit's JSON.
fn findings(json: &Json) -> BTreeMap<String, Vec<(String, Json)>> {
    json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let rows = r["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    (
                        row["subject"].as_str().unwrap().to_string(),
                        row["key"].clone(),
                    )
                })
                .collect();
            (r["rule"].as_str().unwrap().to_string(), rows)
        })
        .collect()
}

#[test]
fn peerquest_audit_reports_exactly_the_audit_001_findings_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let base = peerquest(dir.path());
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let table = run(
        dir.path(),
        &args(&["audit"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(table.code, 1, "{}", table.stderr);
    assert_eq!(table.stdout.lines().last(), Some("TOTAL ISSUES: 5"));

    let r = run(
        dir.path(),
        &args(&["audit", "--format", "json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 1);
    let json: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["total_issues"], 5);
    let found = findings(&json);
    let s = |x: &str| x.to_string();
    let want: BTreeMap<String, Vec<(String, Json)>> = [
        // Application 9: student2 on Test 1, 10: student2 on Test 2, 11: student3 on Test 3 v2.
        (
            s("approved_application_has_participant"),
            vec![
                (s("student2"), json!([9])),
                (s("student2"), json!([10])),
                (s("student3"), json!([11])),
            ],
        ),
        (s("participant_has_approved_application"), vec![]),
        (s("quest_with_participants_is_not_open"), vec![]),
        // Test 4 (first participant student1) and Test 123 (student2).
        (
            s("quest_with_participants_has_assignee"),
            vec![(s("student1"), json!([4])), (s("student2"), json!([8]))],
        ),
        (s("one_participant_per_user_and_quest"), vec![]),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, want);
    let quests: Vec<&Json> = json["rules"][3]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["fields"]["quest"])
        .collect();
    assert_eq!(quests, [&json!("Test 4"), &json!("Test 123")]);
    let statuses: Vec<&str> = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["fail", "pass", "pass", "fail", "pass"]);
}

#[test]
fn audit_user_student2_reports_exactly_student2s_three_findings() {
    let dir = tempfile::tempdir().unwrap();
    let base = peerquest(dir.path());
    for flag in ["--user", "--subject"] {
        let args: Vec<String> = base
            .iter()
            .cloned()
            .chain(["audit", flag, "student2", "--format", "json"].map(String::from))
            .collect();
        let r = run(
            dir.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let json: Json = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(json["total_issues"], 3);
        let all: Vec<(String, Json)> = findings(&json).into_values().flatten().collect();
        assert_eq!(all.len(), 3);
        assert!(
            all.iter().all(|(subject, _)| subject == "student2"),
            "{all:?}"
        );
    }
    // Someone with nothing to fix: exit 0, no issues.
    let args: Vec<String> = base
        .iter()
        .cloned()
        .chain(["audit", "--user", "admin"].map(String::from))
        .collect();
    let r = run(
        dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.ends_with("TOTAL ISSUES: 0\n"), "{}", r.stdout);
}

/// Audits the LMS sample store with queries/lms.rules at run `day`.
fn lms_audit(store: &driftwatch::store::Store, day: i64) -> AuditReport {
    let file = RuleFile::load(&repo().join("queries/lms.rules")).unwrap();
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let files = [file];
    let schemas = Schemas::at_run(store, day).unwrap();
    let loaded = check_files(&files, &schemas);
    for l in &loaded {
        assert!(l.outcome.is_ok(), "{}", l.error_line().unwrap_or_default());
    }
    let taken_at = format!("2026-11-{day:02}T06:00:00Z");
    let at = At { run: day, taken_at };
    driftwatch::history::audit_with_history(
        store,
        None,
        &files,
        &loaded.iter().collect::<Vec<_>>(),
        &at,
        None,
    )
    .unwrap()
}

/// Which kind of the drift list each LMS rule finds, and the second part of what it is
/// compared by: the course, the platform, or nothing.
const KINDS: &[(&str, &str, &str)] = &[
    (
        "enrolled_member_in_course_channel",
        "missing_from_channel",
        "course",
    ),
    (
        "channel_member_is_enrolled",
        "extra_channel_member",
        "course",
    ),
    ("mentor_owns_course_channel", "mentor_not_owner", "course"),
    (
        "enrolled_member_in_lms_course",
        "missing_lms_enrollment",
        "course",
    ),
    (
        "quiz_passed_unrestricted_in_wordpress",
        "still_restricted",
        "platform",
    ),
    (
        "quiz_passed_unrestricted_in_q2a",
        "still_restricted",
        "platform",
    ),
    ("guest_disabled_unless_active_member", "guest_active", ""),
    ("email_matches_entra", "email_mismatch", "platform"),
    ("email_matches_wordpress", "email_mismatch", "platform"),
    ("email_matches_q2a", "email_mismatch", "platform"),
];

#[test]
fn lms_rules_find_exactly_the_listed_drift_on_every_day() {
    let list = drift_list();
    let dir = tempfile::tempdir().unwrap();
    let store = lms_store(&dir.path().join("s.db"), 1..=7, &[]);
    for day in 1..=7u32 {
        let report = lms_audit(&store, day as i64);
        let mut found: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
        let mut people: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for r in &report.rules {
            assert!(r.error.is_none(), "{}: {:?}", r.name, r.error);
            for v in &r.violations {
                let subject = v.subject_text().unwrap();
                if let Some((_, kind, by)) = KINDS.iter().find(|k| k.0 == r.name) {
                    let second = v
                        .fields
                        .iter()
                        .find(|(n, _)| n == by)
                        .map(|(_, x)| driftwatch::output::cell_text(x))
                        .unwrap_or_default();
                    found.entry(kind).or_default().insert((subject, second));
                } else {
                    people.entry(r.name.as_str()).or_default().insert(subject);
                }
            }
        }
        let kinds: BTreeSet<&str> = KINDS.iter().map(|k| k.1).collect();
        for kind in kinds {
            assert_eq!(
                found.remove(kind).unwrap_or_default(),
                expected(&list, kind, day),
                "{kind} on day {day}"
            );
        }
        // The two drift metrics count people: those with a mismatched address, and those
        // whose platform role is wrong for their SSOT role and quiz.
        let emails = |kind: &str| -> BTreeSet<String> {
            expected(&list, kind, day)
                .into_iter()
                .map(|(e, _)| e)
                .collect()
        };
        assert_eq!(
            people
                .remove("member_registered_consistently")
                .unwrap_or_default(),
            emails("email_mismatch"),
            "day {day}"
        );
        assert_eq!(
            people
                .remove("member_roles_match_platforms")
                .unwrap_or_default(),
            emails("still_restricted"),
            "day {day}"
        );
        assert!(
            people.is_empty(),
            "rules the test does not know: {people:?}"
        );
    }
}

#[test]
fn lms_audit_of_day_7_lists_exactly_these_violations_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = lms_store(&dir.path().join("s.db"), 1..=7, &[]);
    let report = lms_audit(&store, 7);
    let got: Vec<(String, Json)> = report
        .rules
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .map(|v| (r.name.clone(), Json::Array(v.key.clone())))
        })
        .collect();
    let want: Vec<(String, Json)> = [
        ("enrolled_member_in_course_channel", json!([39])),
        (
            "channel_member_is_enrolled",
            json!(["MCMj0100000035650940b5acff=="]),
        ),
        ("mentor_owns_course_channel", json!([3])),
        ("mentor_owns_course_channel", json!([8])),
        ("enrolled_member_in_lms_course", json!([44])),
        ("enrolled_member_in_lms_course", json!([370])),
        ("quiz_passed_unrestricted_in_wordpress", json!([57])),
        ("quiz_passed_unrestricted_in_q2a", json!([56])),
        (
            "guest_disabled_unless_active_member",
            json!(["0000001a-bb1b-4307-aee9-2115cc5720ff"]),
        ),
        (
            "guest_disabled_unless_active_member",
            json!(["0000001c-d43e-4c57-ae2b-6c29043ee625"]),
        ),
        (
            "guest_disabled_unless_active_member",
            json!(["ffffffff-0000-4000-a000-00000000dead"]),
        ),
        ("email_matches_entra", json!([59])),
        ("email_matches_wordpress", json!([58])),
        ("member_registered_consistently", json!([58])),
        ("member_registered_consistently", json!([59])),
        ("member_roles_match_platforms", json!([56])),
        ("member_roles_match_platforms", json!([57])),
    ]
    .into_iter()
    .map(|(r, k)| (r.to_string(), k))
    .collect();
    assert_eq!(got, want);
    // rosa.young161's enrollment (370) is first seen at day 7: within the rule's 6h of grace,
    // it is pending and not an issue yet.
    let pending: Vec<(&str, &serde_json::Value)> = report
        .rules
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .filter(|v| v.pending)
                .map(move |v| (r.name.as_str(), &v.key[0]))
        })
        .collect();
    assert_eq!(pending, [("enrolled_member_in_lms_course", &json!(370))]);
    assert_eq!(report.total_issues(), 16);
    assert_eq!(report.exit().code(), 1);
}

/// The SQL, parameters and indexes of every rule of a shipped rule file, as `explain` prints
/// them, compiled against `store` at `run`.
fn compiled_text(store: &driftwatch::store::Store, rules: &str, run: i64) -> String {
    let file = RuleFile::load(&repo().join(rules)).unwrap();
    let files = [file];
    let schemas = Schemas::at_run(store, run).unwrap();
    let (run, taken_at) = store.resolve_run(&run.to_string()).unwrap();
    let at = At { run, taken_at };
    let mut text = String::new();
    for l in check_files(&files, &schemas) {
        let checked = match &l.outcome {
            Ok(c) => c,
            Err(_) => panic!("{}", l.error_line().unwrap_or_default()),
        };
        let target = driftwatch::rules::eval::RunTarget::for_rule(store, checked, &at).unwrap();
        let c = driftwatch::rules::sql::compile(checked, &target);
        text.push_str(&format!("-- rule {}\n{};\n", l.name(), c.sql));
        for (i, p) in c.params.iter().enumerate() {
            text.push_str(&format!("--   ?{} = {:?}  ({})\n", i + 1, p.value, p.note));
        }
        for ix in &c.indexes {
            text.push_str(&format!("{};\n", ix.create_sql()));
        }
        text.push('\n');
    }
    text
}

/// Compares `text` with the snapshot file, or rewrites it when UPDATE_SNAPSHOTS is set.
fn snapshot(name: &str, text: &str) {
    let path = repo().join("tests/integration/sql").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to write it)",
            path.display()
        )
    });
    crate::common::assert_same(text, &want);
}

#[test]
fn compiled_sql_of_the_shipped_rules_matches_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = lms_store(&dir.path().join("s.db"), 1..=7, &[]);
    snapshot("lms.sql", &compiled_text(&store, "queries/lms.rules", 7));
    let base = peerquest(dir.path());
    let _ = base;
    let pq = driftwatch::store::Store::open_existing(&dir.path().join("pq.db")).unwrap();
    snapshot(
        "peerquest.sql",
        &compiled_text(&pq, "queries/peerquest.rules", 1),
    );
}
