//! The graph writer: Teams memberships and roles, Entra ID accounts and group memberships.
//!
//! Each target is re-read just before acting: a team's, channel's or group's member list once
//! for all its actions, a user's `accountEnabled` (or the whole user list, for many users).
//! What is in effect already is `already` and not sent. Writes go `concurrency` at a time
//! through the shared client (429 and `Retry-After` honoured). Group removal is always through
//! `/$ref`: without it Graph deletes the user object itself.

use super::super::http::{check_url, origin, runtime, segment, Auth, Http, Retry};
use super::super::write::{
    list, others, text, verb, Applied, Change, Container, Op, Outcome, Request, Step, Verb, Writer,
    UPDATE_USER,
};
use super::super::Context;
use super::Graph;
use crate::config::{Origin, Secret};
use crate::error::Result;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

const TEAM: Option<Container> = Some(Container {
    entity: "team_members",
    by: &[("team", "team_id")],
});
const CHANNEL: Option<Container> = Some(Container {
    entity: "channel_members",
    by: &[("channel", "channel_id")],
});
const GROUP: Option<Container> = Some(Container {
    entity: "group_members",
    by: &[("group", "group_id")],
});

fn enabled(on: bool) -> Map<String, Json> {
    Map::from_iter([("account_enabled".to_string(), Json::Bool(on))])
}

pub const VERBS: &[Verb] = &[
    Verb {
        container: TEAM,
        account: Some("user"),
        ..verb("add_team_member", Op::Add, &["team", "user"])
    },
    Verb {
        container: TEAM,
        account: Some("membership"),
        ..verb("remove_team_member", Op::Remove, &["team", "membership"])
    },
    Verb {
        container: CHANNEL,
        account: Some("user"),
        ..verb("add_channel_member", Op::Add, &["team", "channel", "user"])
    },
    Verb {
        container: CHANNEL,
        account: Some("membership"),
        ..verb(
            "remove_channel_member",
            Op::Remove,
            &["team", "channel", "membership"],
        )
    },
    Verb {
        lists: &["roles"],
        change: Some(Change {
            entity: "channel_members",
            param: "membership",
            column: "id",
            after: |p| {
                others(p, "")
                    .into_iter()
                    .filter(|(k, _)| k == "roles")
                    .collect()
            },
        }),
        ..verb(
            "set_channel_member_roles",
            Op::Update,
            &["team", "channel", "membership", "roles"],
        )
    },
    Verb {
        account: Some("user"),
        change: Some(Change {
            entity: "users",
            param: "user",
            column: "id",
            after: |_| enabled(false),
        }),
        ..verb("disable_user", Op::Disable, &["user"])
    },
    Verb {
        change: Some(Change {
            entity: "users",
            param: "user",
            column: "id",
            after: |_| enabled(true),
        }),
        ..verb("enable_user", Op::Update, &["user"])
    },
    UPDATE_USER,
    Verb {
        container: GROUP,
        account: Some("user"),
        ..verb("add_group_member", Op::Add, &["group", "user"])
    },
    Verb {
        container: GROUP,
        account: Some("user"),
        ..verb("remove_group_member", Op::Remove, &["group", "user"])
    },
];

const MEMBER_TYPE: &str = "#microsoft.graph.aadUserConversationMember";
/// Above this many users, one list of all users is read instead of one request each.
const LIST_USERS_ABOVE: usize = 50;

/// `[sources.NAME.write]` of a graph source: the app registration that may write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    client_id: String,
    client_secret: toml::Value,
}

#[derive(Debug)]
pub struct Credentials {
    client_id: String,
    client_secret: Secret,
}

pub fn parse(value: toml::Value, key: &str, origin: &Origin) -> Result<Credentials> {
    let s: Settings = origin.typed(value, key, "the write table of a graph source")?;
    Ok(Credentials {
        client_secret: origin.secret(&s.client_secret, &format!("{key}.client_secret"))?,
        client_id: s.client_id,
    })
}

impl super::GraphReader {
    pub(super) fn make_writer(&self, source: &str, cx: &Context<'_>) -> Result<Box<dyn Writer>> {
        let Some(w) = &self.write else {
            return Err(super::super::write::not_writable(source));
        };
        let e = self.expand(source, cx)?;
        let key = |k: &str| format!("sources.{source}.{k}");
        check_url(&e.base, &key("base_url"))?;
        check_url(&e.token_url, &key("token_url"))?;
        let auth = Auth::ClientCredentials {
            token_url: e.token_url,
            client_id: cx.expand(&w.client_id, &key("write.client_id"))?,
            secret: w.client_secret.reveal(&key("write.client_secret"))?,
            scope: format!("{}/.default", origin(&e.base)),
        };
        Ok(Box::new(GraphWriter {
            g: Graph {
                http: Http::new(source, auth, self.concurrency, Retry::default())?
                    .with_deadline(self.deadline),
                base: e.base,
                concurrency: self.concurrency,
                teams: None,
                channels: None,
            },
        }))
    }
}

struct GraphWriter {
    g: Graph,
}

/// What a step acts on, re-read once for all the steps on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Team(String),
    Channel(String, String),
    Group(String),
    Users,
    User(String),
}

impl Target {
    fn path(&self) -> String {
        match self {
            Target::Team(t) => format!("/teams/{}/members", segment(t)),
            Target::Channel(t, c) => {
                format!("/teams/{}/channels/{}/members", segment(t), segment(c))
            }
            Target::Group(g) => format!("/groups/{}/members", segment(g)),
            Target::Users => "/users".into(),
            Target::User(u) => format!("/users/{}", segment(u)),
        }
    }

    fn read_path(&self) -> String {
        match self {
            Target::Team(_) | Target::Channel(..) => format!("{}?$top=999", self.path()),
            Target::Group(_) => format!("{}?$select=id&$top=999", self.path()),
            Target::Users => "/users?$select=id,accountEnabled,mail&$top=999".into(),
            Target::User(_) => format!("{}?$select=id,accountEnabled,mail", self.path()),
        }
    }
}

/// One step made ready: its target, and the write it needs unless already in effect.
struct Ready {
    id: u32,
    target: Target,
    /// A team membership to make first (a private channel takes only the team's members).
    team_first: Option<(String, String)>,
    check: Check,
    method: Method,
    path: String,
    body: Option<Json>,
}

/// How to tell, from the target's re-read state, that the step is in effect already.
enum Check {
    MemberUser(String),
    NoMembership(String),
    NoMemberId(String),
    MemberId(String),
    Roles(String, BTreeSet<String>),
    Fields(String, Map<String, Json>),
}

impl GraphWriter {
    fn ready(&self, s: &Step) -> Result<Ready> {
        let p = &s.params;
        let t = |n: &str| text(p, n);
        let base = &self.g.base;
        let member_body = |user: &str| {
            json!({"@odata.type": MEMBER_TYPE, "roles": [],
                   "user@odata.bind": format!("{base}/users('{user}')")})
        };
        let (target, check, method, path, body) = match s.verb.as_str() {
            "add_team_member" => {
                let target = Target::Team(t("team")?);
                let user = t("user")?;
                let body = member_body(&user);
                (
                    target.clone(),
                    Check::MemberUser(user),
                    Method::POST,
                    target.path(),
                    Some(body),
                )
            }
            "remove_team_member" => {
                let target = Target::Team(t("team")?);
                let m = t("membership")?;
                let path = format!("{}/{}", target.path(), segment(&m));
                (target, Check::NoMembership(m), Method::DELETE, path, None)
            }
            "add_channel_member" => {
                let target = Target::Channel(t("team")?, t("channel")?);
                let user = t("user")?;
                let body = member_body(&user);
                (
                    target.clone(),
                    Check::MemberUser(user),
                    Method::POST,
                    target.path(),
                    Some(body),
                )
            }
            "remove_channel_member" => {
                let target = Target::Channel(t("team")?, t("channel")?);
                let m = t("membership")?;
                let path = format!("{}/{}", target.path(), segment(&m));
                (target, Check::NoMembership(m), Method::DELETE, path, None)
            }
            "set_channel_member_roles" => {
                let target = Target::Channel(t("team")?, t("channel")?);
                let m = t("membership")?;
                let roles: BTreeSet<String> = list(p, "roles").into_iter().collect();
                let path = format!("{}/{}", target.path(), segment(&m));
                let body = json!({"@odata.type": MEMBER_TYPE, "roles": roles});
                (
                    target,
                    Check::Roles(m, roles),
                    Method::PATCH,
                    path,
                    Some(body),
                )
            }
            "disable_user" | "enable_user" | "update_user" => {
                let user = t("user")?;
                let mut fields = Map::new();
                match s.verb.as_str() {
                    "disable_user" => {
                        fields.insert("accountEnabled".into(), Json::Bool(false));
                    }
                    "enable_user" => {
                        fields.insert("accountEnabled".into(), Json::Bool(true));
                    }
                    _ => fields.extend(others(p, "user")),
                }
                let path = Target::User(user.clone()).path();
                (
                    Target::User(user.clone()),
                    Check::Fields(user, fields.clone()),
                    Method::PATCH,
                    path,
                    Some(Json::Object(fields)),
                )
            }
            "add_group_member" => {
                let target = Target::Group(t("group")?);
                let user = t("user")?;
                let path = format!("{}/$ref", target.path());
                let body = json!({"@odata.id": format!("{base}/directoryObjects/{user}")});
                (
                    target,
                    Check::NoMemberId(user),
                    Method::POST,
                    path,
                    Some(body),
                )
            }
            "remove_group_member" => {
                let target = Target::Group(t("group")?);
                let user = t("user")?;
                // Always `/$ref`: without it Graph deletes the user object itself.
                let path = format!("{}/{}/$ref", target.path(), segment(&user));
                (target, Check::MemberId(user), Method::DELETE, path, None)
            }
            other => {
                return Err(crate::error::Error::input(format!(
                    "a graph source has no verb `{other}`"
                )))
            }
        };
        let team_first = match (&target, &check) {
            (Target::Channel(team, _), Check::MemberUser(user)) => {
                Some((team.clone(), user.clone()))
            }
            _ => None,
        };
        Ok(Ready {
            id: s.id,
            target,
            team_first,
            check,
            method,
            path,
            body,
        })
    }

    /// The re-read state of a target: its members (or users) as Graph lists them.
    async fn read(&self, target: &Target) -> Result<Vec<Json>> {
        match target {
            Target::User(_) => {
                let url = format!("{}{}", self.g.base, target.read_path());
                let what = format!("GET {}", target.path());
                let (status, resp) = self.g.http.send(Method::GET, &url, None).await?;
                if status == StatusCode::NOT_FOUND {
                    return Ok(Vec::new());
                }
                if !status.is_success() {
                    return Err(crate::error::Error::runtime(
                        self.g.http.failure(&what, status, &resp.body),
                    ));
                }
                Ok(vec![resp.json(&what)?])
            }
            _ => self.g.list(&target.read_path()).await,
        }
    }

    /// A path as it is sent: under the base URL's own path (`/v1.0/users/…`).
    fn shown(&self, path: &str) -> String {
        format!(
            "{}{path}",
            super::super::http::path_of(&self.g.base).trim_end_matches('/')
        )
    }

    /// Sends a write to `path` as [`GraphWriter::shown`] makes it.
    async fn send(&self, method: Method, path: &str, body: Option<&Json>) -> Outcome {
        let url = format!("{}{path}", origin(&self.g.base));
        match self.g.http.send(method.clone(), &url, body).await {
            Ok((status, _)) if status.is_success() => Outcome::Done,
            // Graph's answer to adding a member who is one already.
            Ok((status, resp))
                if status == StatusCode::BAD_REQUEST
                    && String::from_utf8_lossy(&resp.body).contains("already exist") =>
            {
                Outcome::Already
            }
            Ok((status, _)) if status == StatusCode::NOT_FOUND && method == Method::DELETE => {
                Outcome::Already
            }
            Ok((status, resp)) => Outcome::Failed(self.g.http.failure(
                &format!("{method} {path}"),
                status,
                &resp.body,
            )),
            Err(e) => Outcome::Failed(e.message),
        }
    }
}

fn in_effect(check: &Check, state: &[Json]) -> bool {
    let by = |field: &str, value: &str| state.iter().find(|m| m[field].as_str() == Some(value));
    match check {
        Check::MemberUser(u) => by("userId", u).is_some(),
        Check::NoMembership(m) => by("id", m).is_none(),
        Check::NoMemberId(u) => by("id", u).is_some(),
        Check::MemberId(u) => by("id", u).is_none(),
        Check::Roles(m, roles) => by("id", m).is_some_and(|member| {
            let now: BTreeSet<String> = member["roles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            &now == roles
        }),
        Check::Fields(u, fields) => {
            by("id", u).is_some_and(|user| fields.iter().all(|(k, v)| &user[k.as_str()] == v))
        }
    }
}

impl Writer for GraphWriter {
    fn apply(
        &self,
        _source: &str,
        _cx: &Context<'_>,
        steps: &[Step],
        dry_run: bool,
    ) -> Vec<Applied> {
        let mut out = Vec::new();
        let mut ready = Vec::new();
        for s in steps {
            match self.ready(s) {
                Ok(r) => ready.push(r),
                Err(e) => out.push(Applied::new(s.id, Outcome::Failed(e.message), Vec::new())),
            }
        }
        // Many users: one list of them all instead of a request each.
        let users = ready
            .iter()
            .filter(|r| matches!(r.target, Target::User(_)))
            .count();
        let mut targets: BTreeSet<Target> = BTreeSet::new();
        for r in &ready {
            match &r.target {
                Target::User(_) if users > LIST_USERS_ABOVE => {
                    targets.insert(Target::Users);
                }
                t => {
                    targets.insert(t.clone());
                }
            }
            if let Some((team, _)) = &r.team_first {
                targets.insert(Target::Team(team.clone()));
            }
        }
        let rt =
            match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    out.extend(ready.iter().map(|r| {
                        Applied::new(r.id, Outcome::Failed(e.message.clone()), Vec::new())
                    }));
                    return out;
                }
            };
        rt.block_on(async {
            let targets: Vec<Target> = targets.into_iter().collect();
            let states = join_all(targets.iter().map(|t| self.read(t))).await;
            let state: BTreeMap<Target, std::result::Result<Vec<Json>, String>> = targets
                .into_iter()
                .zip(states)
                .map(|(t, s)| (t, s.map_err(|e| e.message)))
                .collect();
            let state_of = |t: &Target| match t {
                Target::User(_) if users > LIST_USERS_ABOVE => &state[&Target::Users],
                t => &state[t],
            };
            // Team memberships a private channel needs go first, once per team and user.
            let mut team_adds: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
            let mut writes: Vec<&Ready> = Vec::new();
            for r in &ready {
                match state_of(&r.target) {
                    Err(e) => out.push(Applied::new(
                        r.id,
                        Outcome::Failed(format!("re-reading {}: {e}", r.target.path())),
                        Vec::new(),
                    )),
                    Ok(s) if in_effect(&r.check, s) => {
                        out.push(Applied::new(r.id, Outcome::Already, Vec::new()))
                    }
                    Ok(_) => {
                        if let Some((team, user)) = &r.team_first {
                            let team_state = &state[&Target::Team(team.clone())];
                            let member = team_state
                                .as_ref()
                                .is_ok_and(|s| in_effect(&Check::MemberUser(user.clone()), s));
                            if !member {
                                team_adds
                                    .entry((team.clone(), user.clone()))
                                    .or_default()
                                    .push(r.id);
                            }
                        }
                        writes.push(r);
                    }
                }
            }
            let first: Vec<(Request, Vec<u32>)> = team_adds
                .into_iter()
                .map(|((team, user), ids)| {
                    let body = json!({"@odata.type": MEMBER_TYPE, "roles": [],
                        "user@odata.bind": format!("{}/users('{user}')", self.g.base)});
                    (
                        Request::new("POST", self.shown(&Target::Team(team).path()), Some(body)),
                        ids,
                    )
                })
                .collect();
            let mut failed_first: BTreeMap<u32, (Request, Outcome)> = BTreeMap::new();
            let mut sent_first: BTreeMap<u32, Request> = BTreeMap::new();
            let outcomes = join_all(first.iter().map(|(req, _)| async move {
                if dry_run {
                    Outcome::DryRun
                } else {
                    self.send(Method::POST, &req.path, req.body.as_ref()).await
                }
            }))
            .await;
            for ((req, ids), outcome) in first.into_iter().zip(outcomes) {
                for id in ids {
                    match &outcome {
                        Outcome::Failed(_) => {
                            failed_first.insert(id, (req.clone(), outcome.clone()));
                        }
                        _ => {
                            sent_first.insert(id, req.clone());
                        }
                    }
                }
            }
            let results = join_all(writes.iter().map(|r| {
                let failed = failed_first.get(&r.id).cloned();
                async move {
                    if let Some((req, outcome)) = failed {
                        return (outcome, vec![req]);
                    }
                    let req = Request::new(r.method.as_str(), self.shown(&r.path), r.body.clone());
                    let outcome = if dry_run {
                        Outcome::DryRun
                    } else {
                        self.send(r.method.clone(), &req.path, r.body.as_ref())
                            .await
                    };
                    (outcome, vec![req])
                }
            }))
            .await;
            for (r, (outcome, reqs)) in writes.iter().zip(results) {
                let mut requests: Vec<Request> = sent_first.remove(&r.id).into_iter().collect();
                requests.extend(reqs);
                out.push(Applied::new(r.id, outcome, requests));
            }
        });
        self.g.http.finish();
        out
    }
}
