//! `driftwatch status`: the counts of the rule files, on the seven days of the LMS samples,
//! equal plain SQL: on each day's SSOT database itself, and over the store's as-of views for
//! the platforms.

use crate::common::{ok, repo, run, write};
use serde_json::Value as Json;

/// Plain SQL over the as-of views of a run, per platform: (system, count, SQL).
const PLATFORMS: &[(&str, &str, &str)] = &[
    ("entra", "people", "SELECT count(*) FROM entra_users WHERE account_enabled"),
    ("entra", "guests", "SELECT count(*) FROM entra_users WHERE account_enabled AND user_type = 'Guest'"),
    ("teams", "people", "SELECT count(DISTINCT user_id) FROM teams_channel_members"),
    ("teams", "members", "SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE coalesce(roles, '') NOT LIKE '%owner%'"),
    ("teams", "mentors", "SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE roles LIKE '%owner%'"),
    ("teams", "courses", "SELECT count(*) FROM teams_channels"),
    ("wordpress", "people", "SELECT count(*) FROM wordpress_users"),
    ("wordpress", "members", "SELECT count(*) FROM wordpress_users WHERE roles IN ('subscriber', 'restricted')"),
    ("wordpress", "mentors", "SELECT count(*) FROM wordpress_users WHERE roles = 'group_leader'"),
    ("wordpress", "advisors", "SELECT count(*) FROM wordpress_users WHERE roles = 'advisor'"),
    ("wordpress", "courses", "SELECT count(*) FROM wordpress_courses"),
    ("wordpress", "groups", "SELECT count(*) FROM wordpress_groups"),
    ("q2a", "people", "SELECT count(*) FROM q2a_users WHERE flags & 2 = 0"),
    ("q2a", "members", "SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level IN (0, 10)"),
    ("q2a", "mentors", "SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 20"),
    ("q2a", "advisors", "SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 50"),
];

/// Plain SQL on a day's SSOT database.
const SSOT: &[(&str, &str)] = &[
    (
        "people",
        "SELECT count(*) FROM members WHERE status = 'active'",
    ),
    (
        "members",
        "SELECT count(*) FROM members WHERE status = 'active' AND role = 'member'",
    ),
    (
        "mentors",
        "SELECT count(*) FROM members WHERE status = 'active' AND role = 'mentor'",
    ),
    (
        "advisors",
        "SELECT count(*) FROM members WHERE status = 'active' AND role = 'advisor'",
    ),
    ("courses", "SELECT count(*) FROM courses"),
    ("groups", "SELECT count(*) FROM groups"),
];

#[test]
fn status_counts_equal_plain_sql_on_every_day_of_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = repo().join("samples/lms/driftwatch.toml");
    let config = config.to_str().unwrap();
    for day in 1..=7 {
        let at = format!("2026-11-{day:02}T06:00:00Z");
        ok(
            d,
            &[
                "--config",
                config,
                "--store",
                "s.db",
                "collect",
                "--var",
                &format!("day={day}"),
                "--at",
                &at,
            ],
        );
        let r = run(
            d,
            &[
                "--config", config, "--store", "s.db", "status", "--format", "json",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let status: Json = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(status["at"], at.as_str());
        let ssot =
            rusqlite::Connection::open(repo().join(format!("samples/lms/day-{day}/ssot.db")))
                .unwrap();
        for (count, sql) in SSOT {
            let want: i64 = ssot.query_row(sql, [], |r| r.get(0)).unwrap();
            assert_eq!(
                status["systems"]["ssot"][count], want,
                "day {day}: ssot {count}"
            );
        }
        let store = driftwatch::store::Store::open_existing(&d.join("s.db")).unwrap();
        let run_id = store.resolve_run("latest").unwrap().0;
        store.create_views(run_id).unwrap();
        for (system, count, sql) in PLATFORMS {
            let want: i64 = store.conn().query_row(sql, [], |r| r.get(0)).unwrap();
            assert_eq!(
                status["systems"][system][count], want,
                "day {day}: {system} {count}"
            );
        }
        // A system has only the counts defined for it.
        assert!(status["systems"]["entra"].get("courses").is_none());
    }
}

#[test]
fn a_count_with_a_rule_clause_or_a_typo_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.rules", "count people {\n  for m in ssot.members\n  expect m.id > 0\n}\n\ncount mentors { for m in ssot.membres }\n");
    let config = repo().join("samples/peerquest/driftwatch.toml");
    let r = run(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "--store",
            "none.db",
            "check",
            "c.rules",
        ],
    );
    assert!(
        r.code == 2
            && r.stderr.contains("a count takes no `expect` clause")
            && r.stderr.contains("c.rules:1:1"),
        "{}",
        r.stderr
    );
}
