//! What every system holds at a run: people, members, mentors, advisors, courses and groups,
//! per system, counted over the entities as of the run. The counts of the bundled LMS samples
//! are defined here; the `status` command will let users define their own in rule files.

use crate::error::Result;
use crate::store::Store;

/// The notions counted, in column order.
pub const COUNTED: [&str; 6] = [
    "people", "members", "mentors", "advisors", "courses", "groups",
];

/// What one system holds: a count per notion of [`COUNTED`]; None where the system has no
/// such notion.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemCounts {
    pub system: String,
    pub counts: Vec<Option<i64>>,
}

/// What every system holds at a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub run: i64,
    pub systems: Vec<SystemCounts>,
}

/// Each system of the LMS samples with the SQL over the as-of views that counts the notions of
/// [`COUNTED`] (NULL where the system has no such notion).
const LMS: &[(&str, &str)] = &[
    ("ssot", "SELECT (SELECT count(*) FROM ssot_members WHERE status = 'active'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'member'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'mentor'),
                     (SELECT count(*) FROM ssot_members WHERE status = 'active' AND role = 'advisor'),
                     (SELECT count(*) FROM ssot_courses), (SELECT count(*) FROM ssot_groups)"),
    ("entra", "SELECT (SELECT count(*) FROM entra_users WHERE account_enabled), NULL, NULL,
                      (SELECT count(*) FROM entra_users WHERE account_enabled AND user_type = 'Guest'), NULL, NULL"),
    ("teams", "SELECT (SELECT count(DISTINCT user_id) FROM teams_channel_members),
                      (SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE roles NOT LIKE '%owner%'),
                      (SELECT count(DISTINCT user_id) FROM teams_channel_members WHERE roles LIKE '%owner%'),
                      NULL, (SELECT count(*) FROM teams_channels), NULL"),
    ("wordpress", "SELECT (SELECT count(*) FROM wordpress_users),
                          (SELECT count(*) FROM wordpress_users WHERE roles IN ('subscriber', 'restricted')),
                          (SELECT count(*) FROM wordpress_users WHERE roles = 'group_leader'),
                          (SELECT count(*) FROM wordpress_users WHERE roles = 'advisor'),
                          (SELECT count(*) FROM wordpress_courses), (SELECT count(*) FROM wordpress_groups)"),
    ("q2a", "SELECT (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level IN (0, 10)),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 20),
                    (SELECT count(*) FROM q2a_users WHERE flags & 2 = 0 AND level = 50), NULL, NULL"),
];

/// What every system of the LMS samples holds at `run`.
pub fn status(store: &Store, run: i64) -> Result<Status> {
    store.create_views(run)?;
    let mut systems = Vec::new();
    for (system, sql) in LMS {
        let counts = store.conn().query_row(sql, [], |r| {
            (0..COUNTED.len())
                .map(|i| r.get::<_, Option<i64>>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        systems.push(SystemCounts {
            system: system.to_string(),
            counts,
        });
    }
    Ok(Status { run, systems })
}
