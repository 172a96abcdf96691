//! The `wordpress` source: WordPress users (context=edit) and the LearnDash courses, groups and
//! course users, through the REST API with an application password.
//!
//! Lists are read 100 a page. The first page's `X-WP-TotalPages` says how many there are; the
//! others are read `concurrency` at a time. A page that is not a JSON array, or a list whose
//! length differs from its `X-WP-Total` (it changed while it was read), fails the source.

pub mod write;

use super::http::{check_url, path_of, runtime, Auth, Http, Retry};
use super::records::{f, fan_out, listed_entities, write_records, Field, Record, Spec};
use super::{at_least_one, Context, Declared, EntityConfig, Kind, Reader};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use crate::store::SnapshotWriter;
use crate::value::ColumnType::{Integer, Text, Timestamp};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::Value as Json;

const PER_PAGE: usize = 100;

/// What WordPress's answers mean. A wrong application password, an unknown user and no
/// credentials all get 401 `rest_forbidden_context` on `context=edit`, as does an account that
/// may not edit users.
const HINTS: &[(u16, &str, &str)] = &[
    (401, "rest_forbidden_context", CHECK_ACCOUNT),
    (403, "rest_forbidden_context", CHECK_ACCOUNT),
    (401, "incorrect_password", CHECK_ACCOUNT),
];
const CHECK_ACCOUNT: &str =
    "check the username and the application password, and that the account may edit users";
const DEFAULT_CONCURRENCY: usize = 4;

pub const KIND: Kind = Kind {
    name: "wordpress",
    parse: |table, key, origin: &Origin| {
        let s: Settings = origin.typed(toml::Value::Table(table), key, "a wordpress source")?;
        Ok(Box::new(WordpressReader {
            password: origin.secret(&s.password, &format!("{key}.password"))?,
            concurrency: at_least_one(origin, &format!("{key}.concurrency"), s.concurrency)?
                .unwrap_or(DEFAULT_CONCURRENCY),
            deadline: super::deadline(origin, &format!("{key}.deadline"), s.deadline)?,
            entities: listed_entities(origin, key, "wordpress", CATALOGUE, s.entities)?,
            url: s.url,
            username: s.username,
            write: s
                .write
                .map(|w| write::parse(w, &format!("{key}.write"), origin))
                .transpose()?,
        }))
    },
};

/// `[sources.NAME]` of kind wordpress, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: String,
    username: String,
    password: toml::Value,
    concurrency: Option<usize>,
    deadline: Option<String>,
    entities: Option<toml::Value>,
    write: Option<toml::Value>,
}

/// A wordpress source. Strings are as written: `${NAME}` is expanded when it is collected.
#[derive(Debug)]
pub struct WordpressReader {
    url: String,
    username: String,
    password: Secret,
    concurrency: usize,
    deadline: std::time::Duration,
    entities: Vec<(&'static Spec, EntityConfig)>,
    /// `[sources.NAME.write]`: the account that may write, when given.
    write: Option<write::Credentials>,
}

const LEARNDASH_POST: &[Field] = &[
    f("id", "id", Integer),
    f("slug", "slug", Text),
    f("status", "status", Text),
    f("title", "title.rendered", Text),
];

pub const CATALOGUE: &[Spec] = &[
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

struct Site {
    http: Http,
    api: String,
    concurrency: usize,
}

impl WordpressReader {
    /// The site's URL and the user, expanded.
    fn expand(&self, source: &str, cx: &Context<'_>) -> Result<(String, String)> {
        let url = cx.expand(&self.url, &format!("sources.{source}.url"))?;
        let user = cx.expand(&self.username, &format!("sources.{source}.username"))?;
        Ok((url.trim_end_matches('/').to_string(), user))
    }
}

impl Reader for WordpressReader {
    fn entities(&self) -> Vec<&EntityConfig> {
        super::records::configs(&self.entities)
    }

    /// Expands the settings and checks the URL, before a run is recorded.
    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()> {
        let (url, _) = self.expand(source, cx)?;
        check_url(&url, &format!("sources.{source}.url"))?;
        self.password
            .reveal(&format!("sources.{source}.password"))
            .map(|_| ())
    }

    fn declared(&self, _source: &str, entity: &str, _cx: &Context<'_>) -> Declared {
        super::records::declared(CATALOGUE, entity)
    }

    fn verbs(&self) -> &'static [super::write::Verb] {
        write::VERBS
    }

    fn writable(&self) -> bool {
        self.write.is_some()
    }

    fn writer(&self, source: &str, cx: &Context<'_>) -> Result<Box<dyn super::write::Writer>> {
        self.make_writer(source, cx)
    }

    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let (url, user) = self.expand(source, cx)?;
        check_url(&url, &format!("sources.{source}.url"))?;
        let password = self
            .password
            .reveal(&format!("sources.{source}.password"))?;
        let site = Site {
            http: Http::new(
                source,
                Auth::Basic { user, password },
                self.concurrency,
                Retry::default(),
            )?
            .with_hints(HINTS)
            .with_deadline(self.deadline),
            api: format!("{url}/wp-json"),
            concurrency: self.concurrency,
        };
        let rt = runtime()?;
        let result = rt.block_on(async {
            let mut courses: Option<Vec<Json>> = None;
            for (spec, entity) in &self.entities {
                let records: Vec<Record> = match entity.name.as_str() {
                    "users" => site
                        .list("/wp/v2/users?context=edit&orderby=id&order=asc")
                        .await
                        .map(|v| Record::all(v, &[]))?,
                    "groups" => site
                        .list("/ldlms/v2/groups?orderby=id&order=asc")
                        .await
                        .map(|v| Record::all(v, &[]))?,
                    "courses" | "course_users" => {
                        if courses.is_none() {
                            courses = Some(
                                site.list("/ldlms/v2/sfwd-courses?orderby=id&order=asc")
                                    .await?,
                            );
                        }
                        let list = courses.clone().unwrap_or_default();
                        if entity.name == "courses" {
                            Record::all(list, &[])
                        } else {
                            site.course_users(&list).await?
                        }
                    }
                    other => {
                        return Err(Error::input(format!("wordpress has no entity `{other}`")))
                    }
                };
                let mut records = records;
                for r in &mut records {
                    unescape_display_text(&mut r.value);
                }
                write_records(out, source, spec, &records)?;
            }
            Ok(())
        });
        site.http.finish();
        result
    }
}

impl Site {
    /// The users enrolled in each course, each with its course.
    async fn course_users(&self, courses: &[Json]) -> Result<Vec<Record>> {
        let ids = courses.iter().filter_map(|c| c["id"].as_i64());
        fan_out(ids, self.concurrency, |id| async move {
            let path = format!("/ldlms/v2/sfwd-courses/{id}/users?orderby=id&order=asc");
            Ok(Record::all(
                self.list(&path).await?,
                &[("course_id", Json::from(id))],
            ))
        })
        .await
    }

    /// Every item of a paged list.
    async fn list(&self, path: &str) -> Result<Vec<Json>> {
        let url = |page: usize| format!("{}{path}&per_page={PER_PAGE}&page={page}", self.api);
        let first_url = url(1);
        let first = self.http.get(&first_url).await?;
        let what = format!("GET {}", path_of(&first_url));
        let number = |name: &str| -> Result<Option<usize>> {
            first
                .header(name)
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        Error::runtime(format!("{what}: header {name} is not a number: {v:?}"))
                    })
                })
                .transpose()
        };
        let total = number("X-WP-Total")?;
        let pages = number("X-WP-TotalPages")?;
        let mut items = array(first.json(&what)?, &what)?;
        let pages = match pages {
            Some(p) => p,
            None if items.len() < PER_PAGE => 1,
            None => {
                return Err(Error::runtime(format!(
                "{what}: a full page without X-WP-TotalPages; cannot tell how many pages there are"
            )))
            }
        };
        let rest: Vec<Vec<Json>> = futures_util::stream::iter((2..=pages).map(|page| {
            let u = url(page);
            async move {
                let what = format!("GET {}", path_of(&u));
                array(self.http.get(&u).await?.json(&what)?, &what)
            }
        }))
        .buffered(self.concurrency)
        .try_collect()
        .await?;
        items.extend(rest.into_iter().flatten());
        if let Some(total) = total {
            // Most of the users missing: WordPress left out the ones this account may not edit
            // (with `context=edit`), while X-WP-Total counts them all. A few missing: the list
            // changed while it was read.
            if items.len() * 2 < total && path.starts_with("/wp/v2/users") {
                return Err(Error::runtime(format!(
                    "{what}: WordPress counts {total} users (X-WP-Total) but shows this account {}: an account that may list users but not edit them sees only some; reading every user's email and roles needs an administrator-level account (edit_users)",
                    items.len()
                )));
            }
            if total != items.len() {
                return Err(Error::runtime(format!(
                    "{what}: X-WP-Total said {total} items but the {pages} pages held {}; the list changed while it was read, or a page was cut short",
                    items.len()
                )));
            }
        }
        Ok(items)
    }
}

/// WordPress stores display names and titles HTML-escaped (`Tom &amp; Jerry`); rules compare
/// them with the SSOT's plain text, so they are collected as the text they show.
fn unescape_display_text(record: &mut Json) {
    for pointer in ["/name", "/title/rendered"] {
        if let Some(Json::String(s)) = record.pointer_mut(pointer) {
            if s.contains('&') {
                *s = unescape_html(s);
            }
        }
    }
}

/// Decodes the character references WordPress writes: `&amp; &lt; &gt; &quot; &apos;`, `&#39;`,
/// `&#x27;` and other numeric ones. Anything else is kept as written.
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code =
                        if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                            u32::from_str_radix(hex, 16).ok()
                        } else {
                            name.strip_prefix('#').and_then(|d| d.parse().ok())
                        };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn array(doc: Json, what: &str) -> Result<Vec<Json>> {
    match doc {
        Json::Array(items) => Ok(items),
        _ => Err(Error::runtime(format!(
            "{what}: not a list of items; the snapshot is not recorded"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::unescape_html;

    #[test]
    fn html_escaped_display_names_are_collected_as_the_text_they_show() {
        assert_eq!(
            unescape_html("Tom &amp; Jerry&#039;s &lt;b&gt;Club"),
            "Tom & Jerry's <b>Club"
        );
        assert_eq!(unescape_html("&#x4E2D; &quot;x&quot; &apos;"), "中 \"x\" '");
        // What is not a reference stays as written.
        assert_eq!(
            unescape_html("AT&T & co &bogus; &#xZZ;"),
            "AT&T & co &bogus; &#xZZ;"
        );
    }
}
