//! The wordpress writer: user roles and fields through the REST API, LearnDash course
//! enrollments 50 users a call.
//!
//! A user is re-read (`context=edit`) before its role or fields change: `{"roles":[…]}`
//! replaces every role the user holds, so what is in effect is compared as the whole set. A
//! course's users are listed once for all its actions. LearnDash answers 200 with a result per
//! user: each is the outcome of that user's action.

use super::super::http::{check_url, path_of, runtime, Auth, Http, Retry};
use super::super::write::{
    others, text, verb, Applied, Change, Container, Op, Outcome, Request, Step, Verb, Writer,
    UPDATE_USER,
};
use super::super::Context;
use super::{Site, HINTS};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use futures_util::future::join_all;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

const COURSE: Option<Container> = Some(Container {
    entity: "course_users",
    by: &[("course", "course_id")],
});

pub const VERBS: &[Verb] = &[
    Verb {
        change: Some(Change {
            entity: "users",
            param: "user",
            column: "id",
            after: |p| {
                Map::from_iter([(
                    "roles".to_string(),
                    p.get("role").cloned().unwrap_or(Json::Null),
                )])
            },
        }),
        ..verb("set_user_role", Op::Update, &["user", "role"])
    },
    UPDATE_USER,
    Verb {
        container: COURSE,
        account: Some("user"),
        ..verb("enroll_course_user", Op::Add, &["course", "user"])
    },
    Verb {
        container: COURSE,
        account: Some("user"),
        ..verb("unenroll_course_user", Op::Remove, &["course", "user"])
    },
];

/// LearnDash takes at most this many users in one enroll or unenroll call.
const BATCH: usize = 50;

/// `[sources.NAME.write]` of a wordpress source: an account that may promote and edit users
/// and enroll them in courses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    username: String,
    password: toml::Value,
}

#[derive(Debug)]
pub struct Credentials {
    username: String,
    password: Secret,
}

pub fn parse(value: toml::Value, key: &str, origin: &Origin) -> Result<Credentials> {
    let s: Settings = origin.typed(value, key, "the write table of a wordpress source")?;
    Ok(Credentials {
        password: origin.secret(&s.password, &format!("{key}.password"))?,
        username: s.username,
    })
}

impl super::WordpressReader {
    pub(super) fn make_writer(&self, source: &str, cx: &Context<'_>) -> Result<Box<dyn Writer>> {
        let Some(w) = &self.write else {
            return Err(super::super::write::not_writable(source));
        };
        let key = |k: &str| format!("sources.{source}.{k}");
        let url = cx.expand(&self.url, &key("url"))?;
        let url = url.trim_end_matches('/').to_string();
        check_url(&url, &key("url"))?;
        let auth = Auth::Basic {
            user: cx.expand(&w.username, &key("write.username"))?,
            password: w.password.reveal(&key("write.password"))?,
        };
        Ok(Box::new(WordpressWriter {
            site: Site {
                http: Http::new(source, auth, self.concurrency, Retry::default())?
                    .with_hints(HINTS)
                    .with_deadline(self.deadline),
                api: format!("{url}/wp-json"),
                concurrency: self.concurrency,
            },
        }))
    }
}

struct WordpressWriter {
    site: Site,
}

fn user_path(user: &str) -> String {
    format!("/wp/v2/users/{}", super::super::http::segment(user))
}

fn course_path(course: &str) -> String {
    format!(
        "/ldlms/v2/sfwd-courses/{}/users",
        super::super::http::segment(course)
    )
}

/// A user's change: the fields to set, compared with the re-read user.
struct UserChange {
    id: u32,
    user: String,
    fields: Map<String, Json>,
}

impl WordpressWriter {
    async fn get_user(&self, user: &str) -> Result<Json> {
        let url = format!("{}{}?context=edit", self.site.api, user_path(user));
        let what = format!("GET {}", path_of(&url));
        self.site.http.get(&url).await?.json(&what)
    }

    async fn change_user(&self, c: &UserChange, dry_run: bool) -> Applied {
        let user = match self.get_user(&c.user).await {
            Ok(u) => u,
            Err(e) => return Applied::new(c.id, Outcome::Failed(e.message), Vec::new()),
        };
        let same = |k: &str, v: &Json| match k {
            // Every role the user holds, as a set.
            "roles" => {
                let set = |j: &Json| -> BTreeSet<String> {
                    j.as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                set(&user["roles"]) == set(v)
            }
            _ => &user[k] == v,
        };
        if c.fields.iter().all(|(k, v)| same(k, v)) {
            return Applied::new(c.id, Outcome::Already, Vec::new());
        }
        let path = user_path(&c.user);
        let body = Json::Object(c.fields.clone());
        let req = Request::new("POST", format!("/wp-json{path}"), Some(body.clone()));
        if dry_run {
            return Applied::new(c.id, Outcome::DryRun, vec![req]);
        }
        let outcome = self
            .write(Method::POST, &path, &body)
            .await
            .map_or_else(|e| Outcome::Failed(e.message), |_| Outcome::Done);
        Applied::new(c.id, outcome, vec![req])
    }

    async fn write(&self, method: Method, path: &str, body: &Json) -> Result<Json> {
        let url = format!("{}{path}", self.site.api);
        let what = format!("{method} /wp-json{path}");
        let (status, resp) = self.site.http.send(method, &url, Some(body)).await?;
        if !status.is_success() {
            return Err(Error::runtime(
                self.site.http.failure(&what, status, &resp.body),
            ));
        }
        Ok(serde_json::from_slice(&resp.body).unwrap_or(Json::Null))
    }

    /// Enrolls (or unenrolls) `users` of a course, 50 a call, each user's outcome from
    /// LearnDash's per-user result.
    async fn enrollments(
        &self,
        course: &str,
        steps: Vec<(u32, String, bool)>,
        dry_run: bool,
    ) -> Vec<Applied> {
        let path = course_path(course);
        let enrolled: BTreeSet<String> = match self
            .site
            .list(&format!("{path}?orderby=id&order=asc"))
            .await
        {
            Ok(users) => users
                .iter()
                .filter_map(|u| u["id"].as_i64().map(|i| i.to_string()))
                .collect(),
            Err(e) => {
                return steps
                    .iter()
                    .map(|(id, ..)| {
                        Applied::new(
                            *id,
                            Outcome::Failed(format!("re-reading course {course}: {}", e.message)),
                            Vec::new(),
                        )
                    })
                    .collect()
            }
        };
        let mut out = Vec::new();
        let mut todo: BTreeMap<bool, Vec<(u32, String)>> = BTreeMap::new();
        for (id, user, enroll) in steps {
            if enrolled.contains(&user) == enroll {
                out.push(Applied::new(id, Outcome::Already, Vec::new()));
            } else {
                todo.entry(enroll).or_default().push((id, user));
            }
        }
        for (enroll, list) in todo {
            let method = if enroll { Method::POST } else { Method::DELETE };
            for batch in list.chunks(BATCH) {
                let ids: Vec<Json> = batch
                    .iter()
                    .map(|(_, u)| {
                        u.parse::<i64>()
                            .map(Json::from)
                            .unwrap_or_else(|_| Json::from(u.as_str()))
                    })
                    .collect();
                let body = json!({ "user_ids": ids });
                let req = Request::new(
                    method.as_str(),
                    format!("/wp-json{path}"),
                    Some(body.clone()),
                );
                if dry_run {
                    out.extend(
                        batch
                            .iter()
                            .map(|(id, _)| Applied::new(*id, Outcome::DryRun, vec![req.clone()])),
                    );
                    continue;
                }
                let answer = self.write(method.clone(), &path, &body).await;
                for (id, user) in batch {
                    let outcome = match &answer {
                        Err(e) => Outcome::Failed(e.message.clone()),
                        Ok(results) => per_user(results, user),
                    };
                    out.push(Applied::new(*id, outcome, vec![req.clone()]));
                }
            }
        }
        out
    }
}

/// A user's result in LearnDash's answer: `[{"user_id":12,"status":"success",…}]`.
fn per_user(results: &Json, user: &str) -> Outcome {
    let found = results.as_array().and_then(|a| {
        a.iter().find(|r| match &r["user_id"] {
            Json::Number(n) => n.to_string() == user,
            Json::String(s) => s == user,
            _ => false,
        })
    });
    match found {
        Some(r) if r["status"].as_str() == Some("success") => Outcome::Done,
        Some(r) => Outcome::Failed(format!(
            "{}: {}",
            r["code"].as_str().unwrap_or("failed"),
            r["message"].as_str().unwrap_or("LearnDash did not say why")
        )),
        None => Outcome::Failed(format!("LearnDash's answer has no result for user {user}")),
    }
}

impl Writer for WordpressWriter {
    fn apply(
        &self,
        _source: &str,
        _cx: &Context<'_>,
        steps: &[Step],
        dry_run: bool,
    ) -> Vec<Applied> {
        let mut out = Vec::new();
        let mut users = Vec::new();
        let mut courses: BTreeMap<String, Vec<(u32, String, bool)>> = BTreeMap::new();
        for s in steps {
            let p = &s.params;
            let made: Result<()> = (|| {
                match s.verb.as_str() {
                    "set_user_role" => users.push(UserChange {
                        id: s.id,
                        user: text(p, "user")?,
                        fields: Map::from_iter([("roles".to_string(), json!([text(p, "role")?]))]),
                    }),
                    "update_user" => users.push(UserChange {
                        id: s.id,
                        user: text(p, "user")?,
                        fields: others(p, "user"),
                    }),
                    "enroll_course_user" | "unenroll_course_user" => courses
                        .entry(text(p, "course")?)
                        .or_default()
                        .push((s.id, text(p, "user")?, s.verb == "enroll_course_user")),
                    other => {
                        return Err(Error::input(format!(
                            "a wordpress source has no verb `{other}`"
                        )))
                    }
                }
                Ok(())
            })();
            if let Err(e) = made {
                out.push(Applied::new(s.id, Outcome::Failed(e.message), Vec::new()));
            }
        }
        match runtime() {
            Ok(rt) => rt.block_on(async {
                let changed = join_all(users.iter().map(|c| self.change_user(c, dry_run))).await;
                out.extend(changed);
                let enrolled = join_all(courses.into_iter().map(|(course, steps)| async move {
                    self.enrollments(&course, steps, dry_run).await
                }))
                .await;
                out.extend(enrolled.into_iter().flatten());
            }),
            Err(e) => out.extend(
                steps
                    .iter()
                    .map(|s| Applied::new(s.id, Outcome::Failed(e.message.clone()), Vec::new())),
            ),
        }
        self.site.http.finish();
        out
    }
}
