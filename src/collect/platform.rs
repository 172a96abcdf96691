//! The entities of the platform kinds (graph, wordpress): their names, keys and columns, which
//! are those of the JSON sample sources in samples/lms, so that a rule written against the
//! samples runs unchanged against the live platforms. And writing fetched records into a
//! snapshot.

use crate::config::SourceKind;
use crate::error::{Error, Result};
use crate::store::{Column, SnapshotWriter};
use crate::value::ColumnType::{self, Bool, Integer, Text, Timestamp};
use serde_json::Value as Json;

/// A column: its name, where it is in a record (`a.b`, or `$name` for a value of the request
/// the record came from, such as the team of a channel), and its type.
pub struct Field {
    pub name: &'static str,
    pub path: &'static str,
    pub ty: ColumnType,
}

pub struct Spec {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub fields: &'static [Field],
}

const fn f(name: &'static str, path: &'static str, ty: ColumnType) -> Field {
    Field { name, path, ty }
}

const MEMBER_FIELDS: &[Field] = &[
    f("id", "id", Text),
    f("team_id", "$team_id", Text),
    f("user_id", "userId", Text),
    f("email", "email", Text),
    f("display_name", "displayName", Text),
    f("roles", "roles", Text),
];

pub const GRAPH: &[Spec] = &[
    Spec {
        name: "users",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("user_principal_name", "userPrincipalName", Text),
            f("mail", "mail", Text),
            f("display_name", "displayName", Text),
            f("account_enabled", "accountEnabled", Bool),
            f("user_type", "userType", Text),
            f("external_user_state", "externalUserState", Text),
            f("created_at", "createdDateTime", Timestamp),
        ],
    },
    Spec {
        name: "groups",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("display_name", "displayName", Text),
            f("mail", "mail", Text),
            f("mail_enabled", "mailEnabled", Bool),
            f("security_enabled", "securityEnabled", Bool),
            f("group_types", "groupTypes", Text),
        ],
    },
    Spec {
        name: "group_members",
        key: &["group_id", "member_id"],
        fields: &[
            f("group_id", "$group_id", Text),
            f("member_id", "id", Text),
            f("member_type", "@odata.type", Text),
            f("display_name", "displayName", Text),
            f("user_principal_name", "userPrincipalName", Text),
            f("mail", "mail", Text),
        ],
    },
    Spec {
        name: "teams",
        key: &["id"],
        fields: &[f("id", "id", Text), f("display_name", "displayName", Text)],
    },
    Spec {
        name: "team_members",
        key: &["id"],
        fields: MEMBER_FIELDS,
    },
    Spec {
        name: "channels",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("team_id", "$team_id", Text),
            f("display_name", "displayName", Text),
            f("membership_type", "membershipType", Text),
        ],
    },
    Spec {
        name: "channel_members",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("team_id", "$team_id", Text),
            f("channel_id", "$channel_id", Text),
            f("user_id", "userId", Text),
            f("email", "email", Text),
            f("display_name", "displayName", Text),
            f("roles", "roles", Text),
        ],
    },
];

const LEARNDASH_POST: &[Field] = &[
    f("id", "id", Integer),
    f("slug", "slug", Text),
    f("status", "status", Text),
    f("title", "title.rendered", Text),
];

pub const WORDPRESS: &[Spec] = &[
    Spec {
        name: "users",
        key: &["id"],
        fields: &[
            f("id", "id", Integer),
            f("username", "username", Text),
            f("name", "name", Text),
            f("email", "email", Text),
            f("roles", "roles", Text),
            f("registered_date", "registered_date", Timestamp),
        ],
    },
    Spec {
        name: "courses",
        key: &["id"],
        fields: LEARNDASH_POST,
    },
    Spec {
        name: "groups",
        key: &["id"],
        fields: LEARNDASH_POST,
    },
    Spec {
        name: "course_users",
        key: &["course_id", "user_id"],
        fields: &[
            f("course_id", "$course_id", Integer),
            f("user_id", "id", Integer),
            f("username", "username", Text),
        ],
    },
];

fn specs(kind: SourceKind) -> &'static [Spec] {
    match kind {
        SourceKind::Graph => GRAPH,
        SourceKind::Wordpress => WORDPRESS,
        _ => &[],
    }
}

pub fn spec(kind: SourceKind, name: &str) -> Option<&'static Spec> {
    specs(kind).iter().find(|s| s.name == name)
}

/// The entity names a platform kind has.
pub fn builtin_entities(kind: SourceKind) -> Vec<&'static str> {
    specs(kind).iter().map(|s| s.name).collect()
}

/// The key of a platform kind's entity, or None when the kind has no such entity.
pub fn builtin_key(kind: SourceKind, name: &str) -> Option<Vec<String>> {
    spec(kind, name).map(|s| s.key.iter().map(|k| k.to_string()).collect())
}

/// The columns of a platform entity, for checking rules before anything is collected.
pub fn builtin_columns(kind: SourceKind, name: &str) -> Vec<Column> {
    spec(kind, name)
        .map(|s| s.fields.iter().map(|f| Column::new(f.name, f.ty)).collect())
        .unwrap_or_default()
}

/// A fetched record and the values of the request it came from (`$team_id` …).
#[derive(Clone)]
pub struct Record {
    pub context: Vec<(&'static str, Json)>,
    pub value: Json,
}

impl Record {
    /// Records of `values`, each with `context`.
    pub fn all(values: Vec<Json>, context: &[(&'static str, Json)]) -> Vec<Record> {
        values
            .into_iter()
            .map(|value| Record {
                context: context.to_vec(),
                value,
            })
            .collect()
    }

    fn get(&self, path: &str) -> Option<&Json> {
        if let Some(name) = path.strip_prefix('$') {
            return self
                .context
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v);
        }
        // A key such as `@odata.type` holds a dot: try the whole path first.
        let mut at = &self.value;
        if let Some(v) = at.get(path) {
            return Some(v);
        }
        for part in path.split('.') {
            at = at.get(part)?;
        }
        Some(at)
    }
}

/// Runs `fetch` for every item, `concurrency` at a time, and gathers the records (in no
/// particular order: entities are keyed).
pub async fn fan_out<I, F, Fut>(items: I, concurrency: usize, fetch: F) -> Result<Vec<Record>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Record>>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    let lists: Vec<Vec<Record>> = futures_util::stream::iter(items.into_iter().map(fetch))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}

/// Writes `records` as one snapshot of the entity `spec`.
pub fn write_records(
    out: &mut SnapshotWriter<'_>,
    source: &str,
    spec: &Spec,
    records: &[Record],
) -> Result<()> {
    let columns: Vec<Column> = spec
        .fields
        .iter()
        .map(|f| Column::new(f.name, f.ty))
        .collect();
    let key: Vec<String> = spec.key.iter().map(|k| k.to_string()).collect();
    out.write_entity(spec.name, &key, &columns, |w| {
        w.reserve(records.len());
        let mut values = Vec::with_capacity(columns.len());
        for (n, r) in records.iter().enumerate() {
            values.clear();
            for f in spec.fields {
                let v = r.get(f.path).unwrap_or(&Json::Null);
                let v = f.ty.from_json(v).map_err(|m| {
                    Error::runtime(format!(
                        "{source}.{}: record {}, field `{}`: {m}",
                        spec.name,
                        n + 1,
                        f.name
                    ))
                })?;
                values.push(v);
            }
            w.row(&values, n as u64 + 1)?;
        }
        Ok(())
    })
}
