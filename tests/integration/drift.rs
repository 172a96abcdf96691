//! The LMS samples hold exactly the drift listed in samples/lms/drift.csv, day by day: each
//! kind of drift, found with plain SQL over the collected data, is the set the list says is
//! active that day, and nothing else. (The rule library will be held to the same list.)

use crate::common::{lms_store, repo};
use std::collections::BTreeSet;

/// (kind, SQL giving the subject and, where it has one, the course or platform).
const CHECKS: &[(&str, &str)] = &[
    ("missing_from_channel", "SELECT m.email, c.code FROM ssot_enrollments e JOIN ssot_members m ON m.id = e.member_id
        JOIN ssot_courses c ON c.id = e.course_id WHERE e.status = 'active' AND m.status = 'active'
        AND NOT EXISTS (SELECT 1 FROM teams_channel_members t WHERE t.channel_id = c.teams_channel_id AND t.user_id = m.entra_id)"),
    ("extra_channel_member", "SELECT t.email, c.code FROM teams_channel_members t JOIN ssot_courses c ON c.teams_channel_id = t.channel_id
        WHERE t.roles NOT LIKE '%owner%' AND NOT EXISTS (SELECT 1 FROM ssot_enrollments e JOIN ssot_members m ON m.id = e.member_id
        WHERE e.course_id = c.id AND m.entra_id = t.user_id AND e.status = 'active' AND m.status = 'active')"),
    ("missing_lms_enrollment", "SELECT m.email, c.code FROM ssot_enrollments e JOIN ssot_members m ON m.id = e.member_id
        JOIN ssot_courses c ON c.id = e.course_id WHERE e.status = 'active' AND m.status = 'active'
        AND NOT EXISTS (SELECT 1 FROM wordpress_course_users u WHERE u.course_id = c.lms_course_id AND u.user_id = m.wp_user_id)"),
    ("still_restricted", "SELECT m.email, 'wordpress' FROM ssot_members m JOIN ssot_quiz_results q ON q.member_id = m.id AND q.passed
        JOIN wordpress_users w ON w.id = m.wp_user_id WHERE m.status = 'active' AND w.roles = 'restricted'
        UNION ALL SELECT m.email, 'q2a' FROM ssot_members m JOIN ssot_quiz_results q ON q.member_id = m.id AND q.passed
        JOIN q2a_users u ON u.userid = m.q2a_user_id WHERE m.status = 'active' AND u.level < 10"),
    ("guest_active", "SELECT u.mail, '' FROM entra_users u LEFT JOIN ssot_members m ON m.entra_id = u.id
        WHERE u.user_type = 'Guest' AND u.account_enabled AND coalesce(m.status, 'unknown') != 'active'"),
    ("mentor_not_owner", "SELECT m.email, c.code FROM ssot_enrollments e JOIN ssot_members m ON m.id = e.member_id
        JOIN ssot_courses c ON c.id = e.course_id JOIN teams_channel_members t ON t.channel_id = c.teams_channel_id AND t.user_id = m.entra_id
        WHERE e.role = 'mentor' AND e.status = 'active' AND t.roles NOT LIKE '%owner%'"),
    ("email_mismatch", "SELECT m.email, 'entra' FROM ssot_members m JOIN entra_users u ON u.id = m.entra_id WHERE u.mail != m.email
        UNION ALL SELECT m.email, 'wordpress' FROM ssot_members m JOIN wordpress_users w ON w.id = m.wp_user_id WHERE w.email != m.email
        UNION ALL SELECT m.email, 'q2a' FROM ssot_members m JOIN q2a_users u ON u.userid = m.q2a_user_id WHERE m.status = 'active' AND u.email != m.email"),
];

pub(crate) struct Drift {
    pub kind: String,
    pub platform: String,
    pub email: String,
    pub course: String,
    pub first: u32,
    pub last: u32,
    /// Days a change in the SSOT took to reach the platform, for the late-propagation cases.
    pub lag: Option<u32>,
}

pub(crate) fn drift_list() -> Vec<Drift> {
    let mut r = csv::Reader::from_path(repo().join("samples/lms/drift.csv")).unwrap();
    r.deserialize::<std::collections::HashMap<String, String>>()
        .map(|row| {
            let row = row.unwrap();
            Drift {
                kind: row["kind"].clone(),
                platform: row["platform"].clone(),
                email: row["email"].clone(),
                course: row["course"].clone(),
                first: row["first_day"].parse().unwrap(),
                last: row["last_day"].parse().unwrap(),
                lag: row["lag_days"].parse().ok(),
            }
        })
        .collect()
}

/// What the list says a check finds on `day`: the subject with the course, or with the
/// platform for the kinds that are about one platform's record of a person.
pub(crate) fn expected(list: &[Drift], kind: &str, day: u32) -> BTreeSet<(String, String)> {
    list.iter()
        .filter(|d| d.kind == kind && d.first <= day && day <= d.last)
        .map(|d| {
            let second = match kind {
                "still_restricted" | "email_mismatch" => d.platform.clone(),
                "guest_active" => String::new(),
                _ => d.course.clone(),
            };
            (d.email.clone(), second)
        })
        .collect()
}

#[test]
fn lms_samples_hold_exactly_the_listed_drift_on_every_day() {
    let list = drift_list();
    assert!(list.len() >= 20);
    let dir = tempfile::tempdir().unwrap();
    let store = lms_store(&dir.path().join("s.db"), 1..=7, &[]);
    let mut seen_kinds = BTreeSet::new();
    for day in 1..=7u32 {
        store.create_views(day as i64).unwrap();
        for (kind, sql) in CHECKS {
            let mut stmt = store.conn().prepare(sql).unwrap();
            let found: BTreeSet<(String, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(found, expected(&list, kind, day), "{kind} on day {day}");
            if !found.is_empty() {
                seen_kinds.insert(*kind);
            }
        }
    }
    assert_eq!(
        seen_kinds.len(),
        CHECKS.len(),
        "every kind of drift occurs on some day"
    );
}
