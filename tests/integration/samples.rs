//! The bundled samples: every day of the LMS replay reads back exactly as collected, and the
//! PeerQuest database is in the state AUDIT-001 describes.

use crate::common::{lms_store, ok, repo, run};
use driftwatch::store::Store;
use driftwatch::value::Value;

fn rows(store: &Store, label: &str, run: i64) -> Vec<Vec<Value>> {
    let e = store.entity_by_label(label).unwrap();
    let snap = store.snapshot_for(&e, run).unwrap().unwrap();
    let mut out = Vec::new();
    store
        .read_rows(&e, snap.id, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn every_sample_day_reads_back_from_the_versioned_store_exactly_as_a_store_of_that_day_alone() {
    let dir = tempfile::tempdir().unwrap();
    let all = lms_store(&dir.path().join("all.db"), 1..=7, &[]);
    let labels: Vec<String> = all.entities().unwrap().iter().map(|e| e.label()).collect();
    assert_eq!(labels.len(), 13, "{labels:?}");
    for day in 1..=7 {
        let alone = lms_store(&dir.path().join(format!("day-{day}.db")), day..=day, &[]);
        for label in &labels {
            assert_eq!(
                rows(&all, label, day as i64),
                rows(&alone, label, 1),
                "{label} on day {day}"
            );
        }
    }
}

#[test]
fn ssot_export_of_each_day_equals_the_rows_of_that_days_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = lms_store(&dir.path().join("s.db"), 1..=7, &["ssot"]);
    for day in 1..=7u32 {
        let db = rusqlite::Connection::open(repo().join(format!("samples/lms/day-{day}/ssot.db")))
            .unwrap();
        let mut stmt = db.prepare("SELECT id, member_id, course_id, group_id, role, status, enrolled_at FROM enrollments ORDER BY id").unwrap();
        let want: Vec<Vec<Value>> = stmt
            .query_map([], |r| {
                Ok((0..7)
                    .map(|i| Value::from_sql(r.get_ref(i).unwrap()))
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!want.is_empty());
        assert_eq!(
            rows(&store, "ssot.enrollments", day as i64),
            want,
            "day {day}"
        );
    }
}

#[test]
fn peerquest_sample_holds_the_audit_001_state() {
    let db = rusqlite::Connection::open(repo().join("samples/peerquest/ssot.db")).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM users_user"), 4);
    assert_eq!(count("SELECT count(*) FROM applications_application"), 11);
    assert_eq!(count("SELECT count(*) FROM quests_questparticipant"), 8);
    let mut stmt = db
        .prepare(
            "SELECT u.username, q.title FROM applications_application a JOIN users_user u ON u.id = a.applicant_id
             JOIN quests_quest q ON q.id = a.quest_id WHERE a.status = 'approved' AND NOT EXISTS
             (SELECT 1 FROM quests_questparticipant p WHERE p.quest_id = a.quest_id AND p.user_id = a.applicant_id) ORDER BY a.id",
        )
        .unwrap();
    let missing: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want = [
        ("student2", "Test 1"),
        ("student2", "Test 2"),
        ("student3", "Test 3 v2"),
    ];
    assert_eq!(missing, want.map(|(a, b)| (a.to_string(), b.to_string())));
    let mut stmt = db
        .prepare("SELECT id, title FROM quests_quest q WHERE assigned_to_id IS NULL AND EXISTS (SELECT 1 FROM quests_questparticipant p WHERE p.quest_id = q.id AND p.status != 'dropped') ORDER BY id")
        .unwrap();
    let unassigned: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        unassigned,
        vec![(4, "Test 4".to_string()), (8, "Test 123".to_string())]
    );
    assert_eq!(count("SELECT count(*) FROM quests_questparticipant p WHERE NOT EXISTS (SELECT 1 FROM applications_application a WHERE a.quest_id = p.quest_id AND a.applicant_id = p.user_id AND a.status = 'approved')"), 0);
    assert_eq!(count("SELECT count(*) FROM quests_quest q WHERE status = 'open' AND EXISTS (SELECT 1 FROM quests_questparticipant p WHERE p.quest_id = q.id AND p.status != 'dropped')"), 0);
    assert_eq!(count("SELECT count(*) FROM (SELECT 1 FROM quests_questparticipant GROUP BY quest_id, user_id HAVING count(*) > 1)"), 0);
    // And its config collects it.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pq.db");
    let config = repo().join("samples/peerquest/driftwatch.toml");
    ok(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "collect",
        ],
    );
    let export = ok(
        dir.path(),
        &[
            "--store",
            store.to_str().unwrap(),
            "export",
            "ssot.applications",
        ],
    );
    assert_eq!(export.lines().count(), 12);
    assert!(export.starts_with("id,quest_id,applicant_id,status,applied_at,reviewed_at\n1,1,2,approved,2026-10-01T10:00:00Z,"), "{export}");
}

#[test]
fn demo_replays_seven_days_and_shows_runs_holdings_the_last_days_diff_and_its_audit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo.db");
    let r = run(&repo(), &["demo", "--store", store.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("2026-11-07T06:00:00Z"), "{}", r.stdout);
    // The SSOT holds 294 active people on day 7: 256 members, 24 mentors, 14 advisors.
    assert!(
        r.stdout.lines().any(|l| l.contains("ssot")
            && l.split_whitespace()
                .filter(|w| w.parse::<i64>().is_ok())
                .collect::<Vec<_>>()
                == ["294", "256", "24", "14", "12", "24"]),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("The rules of queries/lms.rules at day 7:"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("data diff: run 6 → run 7"),
        "{}",
        r.stdout
    );
    // It ends with the audit of day 7 by queries/lms.rules: the 17 violations of the drift list.
    assert!(
        r.stdout.contains("Audit of run 7 (2026-11-07T06:00:00Z)"),
        "{}",
        r.stdout
    );
    // rosa.young161's enrollment reached the SSOT on day 7 and is within its rule's grace.
    assert!(
        r.stdout.contains(
            "12 rules: 9 fail, 2 warn, 1 pass\n1 pending: younger than their rule's grace, not counted below\nTOTAL ISSUES: 16\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("guest_disabled_unless_active_member   ┆ former.partner@partner.net"),
        "{}",
        r.stdout
    );
    // A store that exists is not replayed into.
    let again = run(&repo(), &["demo", "--store", store.to_str().unwrap()]);
    assert_eq!(again.code, 2, "{}", again.stderr);
}
