//! A stateful fake of Microsoft Graph (Entra users and groups, Teams) and WordPress with
//! LearnDash, on loopback: it keeps users, memberships, roles and enrollments, answers reads
//! from that state and applies writes to it, so that the next read sees them. It has the
//! services' traps: Graph pages of 5 with `@odata.nextLink`, a token that expires (401
//! `InvalidAuthenticationToken`, then a new token works), 429 with a fractional `Retry-After`,
//! `DELETE /groups/{g}/members/{u}` without `/$ref` deleting the user itself, a private channel
//! refusing someone not in its team; WordPress's 401 `rest_forbidden_context` for a wrong
//! password, `X-WP-Total` paging, `{"roles":[…]}` replacing every role, 400
//! `rest_user_invalid_role`; LearnDash's per-user failures inside a 200 and at most 50 users a
//! call.

use crate::common::files;
use crate::mocks::{Server, WP_PASSWORD};
use base64::Engine;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, Request, ResponseTemplate};

const PAGE: usize = 5;
pub const WP_WRITER: &str = "driftwatch-writer";
pub const WP_WRITE_PASSWORD: &str = "wxyz WRIT 9876 erpw ABCD 4321";
const ROLES: &[&str] = &[
    "subscriber",
    "restricted",
    "group_leader",
    "advisor",
    "administrator",
];

#[derive(Default)]
pub struct State {
    pub users: Vec<Json>,
    pub deleted_users: Vec<String>,
    pub groups: BTreeMap<String, Vec<String>>,
    /// Team id → its members (conversationMember objects).
    pub teams: BTreeMap<String, Vec<Json>>,
    /// (team, channel) → the channel and its members.
    pub channels: BTreeMap<(String, String), (Json, Vec<Json>)>,
    pub wp_users: Vec<Json>,
    pub courses: Vec<Json>,
    pub wp_groups: Vec<Json>,
    pub course_users: BTreeMap<i64, Vec<i64>>,
    /// Every write received: `METHOD path body`.
    pub writes: Vec<String>,
    /// The next this many writes are answered 429 with `Retry-After: 0.2`.
    pub throttle: u32,
    /// Graph tokens issued; the first expires at the first write when `expire_first_token`.
    pub tokens: u32,
    pub expire_first_token: bool,
    pub expired: BTreeSet<String>,
    /// Users LearnDash fails to enroll (per-user failure inside a 200).
    pub fail_enroll: BTreeSet<i64>,
    /// Paths (prefixes) whose writes fail with 403 Forbidden.
    pub forbid: Vec<String>,
    /// Every read received: `path?query`.
    pub reads: Vec<String>,
    /// The delta links issued (`$deltatoken=N` is the state at the N-th link); see
    /// `fake_delta`.
    pub delta: crate::fake_delta::Links,
    /// The second page of a delta round is not a Graph page.
    pub break_delta_page: bool,
    next_id: u64,
}

fn read(p: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

impl State {
    /// The platforms as the LMS sample of `day` shows them.
    pub fn from_sample(day: &Path) -> State {
        let mut s = State::default();
        for f in files(day, "entra_users-page-") {
            s.users
                .extend(read(&f)["value"].as_array().unwrap().iter().cloned());
        }
        for f in files(day, "teams_channels-") {
            let doc = read(&f);
            let team = doc["teamId"].as_str().unwrap().to_string();
            for c in doc["value"].as_array().unwrap() {
                let cid = c["id"].as_str().unwrap().to_string();
                s.channels
                    .insert((team.clone(), cid), (c.clone(), Vec::new()));
            }
        }
        for f in files(day, "teams_channel_members-") {
            let doc = read(&f);
            let key = (
                doc["teamId"].as_str().unwrap().to_string(),
                doc["channelId"].as_str().unwrap().to_string(),
            );
            let members = doc["value"].as_array().unwrap().clone();
            let team = s.teams.entry(key.0.clone()).or_default();
            for m in &members {
                if !team.iter().any(|t| t["userId"] == m["userId"]) {
                    let mut tm = m.clone();
                    tm["id"] = json!(format!("tm-{}-{}", key.0, m["userId"].as_str().unwrap()));
                    tm["roles"] = json!([]);
                    team.push(tm);
                }
            }
            s.channels.get_mut(&key).unwrap().1.extend(members);
        }
        for f in files(day, "wp_users-page-") {
            s.wp_users
                .extend(read(&f).as_array().unwrap().iter().cloned());
        }
        s.courses = read(&day.join("learndash_courses.json"))
            .as_array()
            .unwrap()
            .clone();
        s.wp_groups = read(&day.join("learndash_groups.json"))
            .as_array()
            .unwrap()
            .clone();
        for f in files(day, "learndash_course_users-") {
            let doc = read(&f);
            let ids = doc["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_i64().unwrap())
                .collect();
            s.course_users
                .insert(doc["course_id"].as_i64().unwrap(), ids);
        }
        // One Entra group with the first three users.
        let first: Vec<String> = s.users[..3]
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        s.groups.insert("grp-staff".into(), first);
        s
    }

    /// The Entra groups as Graph lists them.
    pub fn group_objects(&self) -> Vec<Json> {
        self.groups
            .keys()
            .map(|g| {
                json!({"id": g, "displayName": g, "mail": null, "mailEnabled": false,
                       "securityEnabled": true, "groupTypes": []})
            })
            .collect()
    }

    /// A group member as `/groups/{id}/members` lists it: the user, or the (nested) group,
    /// with its `@odata.type`.
    pub fn directory_object(&self, id: &str) -> Json {
        let (ty, mut o) = match self.user(id) {
            Some(u) => ("user", u.clone()),
            None => match self.group_objects().into_iter().find(|g| g["id"] == id) {
                Some(g) => ("group", g),
                None => ("user", json!({"id": id})),
            },
        };
        o["@odata.type"] = json!(format!("#microsoft.graph.{ty}"));
        o
    }

    fn user(&self, id: &str) -> Option<&Json> {
        self.users.iter().find(|u| u["id"].as_str() == Some(id))
    }

    fn member_of(&self, user: &Json) -> Json {
        json!({"@odata.type": "#microsoft.graph.aadUserConversationMember",
               "roles": [], "displayName": user["displayName"], "userId": user["id"],
               "email": user["mail"], "tenantId": "72f988bf"})
    }
}

/// The fake: one loopback server for both services (Graph under `/v1.0`, WordPress under
/// `/wp-json`), and its state.
pub struct Fake {
    pub server: Server,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn start(state: State) -> Fake {
        let server = Server::start();
        let state = Arc::new(Mutex::new(state));
        server.mount(
            Mock::given(wiremock::matchers::any()).respond_with(Responder {
                state: state.clone(),
                base: server.uri(),
            }),
        );
        Fake { server, state }
    }

    pub fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
    base: String,
}

pub fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

fn wp_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"code": code, "message": message, "data": {"status": status}}))
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

impl wiremock::Respond for Responder {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap();
        let method = r.method.as_str().to_string();
        let segs: Vec<String> = r
            .url
            .path()
            .trim_matches('/')
            .split('/')
            .map(decode)
            .collect();
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        let query: BTreeMap<String, String> = r.url.query_pairs().into_owned().collect();
        let body: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
        if seg.get(1) == Some(&"oauth2") {
            s.tokens += 1;
            return ResponseTemplate::new(200).set_body_json(json!({
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": format!("tok-{}", s.tokens)}));
        }
        let write = method != "GET";
        if !write && seg.first() == Some(&"v1.0") {
            let q = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
            s.reads.push(format!("{}{}", r.url.path(), decode(&q)));
        }
        if write {
            let shown = if r.body.is_empty() {
                String::new()
            } else {
                format!(" {body}")
            };
            s.writes.push(format!("{method} {}{shown}", r.url.path()));
            if s.throttle > 0 {
                s.throttle -= 1;
                return graph_error(429, "TooManyRequests", "Please retry again later.")
                    .insert_header("Retry-After", "0.2");
            }
            if s.forbid
                .iter()
                .any(|p| r.url.path().starts_with(p.as_str()))
            {
                return if seg[0] == "wp-json" {
                    wp_error(
                        403,
                        "rest_cannot_edit",
                        "Sorry, you are not allowed to edit this user.",
                    )
                } else {
                    graph_error(
                        403,
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.",
                    )
                };
            }
        }
        match seg.first() {
            Some(&"v1.0") => {
                let auth = r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .trim_start_matches("Bearer ")
                    .to_string();
                // The token of the first write expires just then: 401, and a new one must work.
                if write && s.expire_first_token && s.expired.is_empty() {
                    s.expired.insert(auth.clone());
                }
                if !auth.starts_with("tok-") || s.expired.contains(&auth) {
                    return graph_error(
                        401,
                        "InvalidAuthenticationToken",
                        "Access token has expired or is not yet valid.",
                    )
                    .insert_header("WWW-Authenticate", "Bearer");
                }
                graph(&mut s, &method, &seg[1..], &query, &body, &self.base)
            }
            Some(&"wp-json") => {
                let auth = r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let ok = |user: &str, pw: &str| {
                    auth == format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
                    )
                };
                let may_write = ok(WP_WRITER, WP_WRITE_PASSWORD);
                if !(may_write || ok("driftwatch", WP_PASSWORD)) {
                    return wp_error(
                        401,
                        "rest_forbidden_context",
                        "Sorry, you are not allowed to edit users.",
                    );
                }
                if write && !may_write {
                    return wp_error(
                        403,
                        "rest_cannot_edit_roles",
                        "Sorry, you are not allowed to edit roles of this user.",
                    );
                }
                wordpress(&mut s, &method, &seg[1..], &query, &body)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// A page of `items` at `path`: `PAGE` a page by `$skiptoken`, nextLink to this server.
pub fn graph_page(
    items: &[Json],
    base: &str,
    path: &str,
    query: &BTreeMap<String, String>,
) -> ResponseTemplate {
    let at: usize = query
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let end = (at + PAGE).min(items.len());
    let mut page = json!({"value": items[at.min(items.len())..end]});
    if end < items.len() {
        let mut q: Vec<String> = query
            .iter()
            .filter(|(k, _)| *k != "$skiptoken")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        q.push(format!("$skiptoken={end}"));
        page["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?{}", q.join("&")));
    }
    ResponseTemplate::new(200).set_body_json(page)
}

fn bound_user(body: &Json) -> Option<String> {
    let bind = body["user@odata.bind"].as_str()?;
    Some(
        bind.split("users('")
            .nth(1)?
            .trim_end_matches("')")
            .to_string(),
    )
}

fn graph(
    s: &mut State,
    method: &str,
    seg: &[&str],
    query: &BTreeMap<String, String>,
    body: &Json,
    base: &str,
) -> ResponseTemplate {
    let path = seg.join("/");
    match (method, seg) {
        ("GET", ["users"]) => graph_page(&s.users.clone(), base, &path, query),
        ("GET", [entity @ ("users" | "groups"), "delta"]) => {
            crate::fake_delta::respond(s, entity, base, query)
        }
        ("GET", ["users", id]) => match s.user(id) {
            Some(u) => ResponseTemplate::new(200).set_body_json(u),
            None => graph_error(404, "Request_ResourceNotFound", "Resource does not exist."),
        },
        ("PATCH", ["users", id]) => match s.users.iter_mut().find(|u| u["id"].as_str() == Some(id))
        {
            Some(u) => {
                for (k, v) in body.as_object().unwrap() {
                    u[k.as_str()] = v.clone();
                }
                ResponseTemplate::new(204)
            }
            None => graph_error(404, "Request_ResourceNotFound", "Resource does not exist."),
        },
        // The trap: without `/$ref` a group member's DELETE deletes the user object itself.
        ("DELETE", ["groups", _, "members", id]) | ("DELETE", ["users", id]) => {
            s.users.retain(|u| u["id"].as_str() != Some(id));
            s.deleted_users.push(id.to_string());
            ResponseTemplate::new(204)
        }
        ("GET", ["groups"]) => graph_page(&s.group_objects(), base, &path, query),
        ("GET", ["groups", g, "members"]) => {
            let members: Vec<Json> = s
                .groups
                .get(*g)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|id| s.directory_object(id))
                .collect();
            graph_page(&members, base, &path, query)
        }
        ("POST", ["groups", g, "members", "$ref"]) => {
            let id = body["@odata.id"]
                .as_str()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            if s.user(&id).is_none() {
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.");
            }
            let group = s.groups.entry(g.to_string()).or_default();
            if group.contains(&id) {
                return graph_error(400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.");
            }
            group.push(id);
            ResponseTemplate::new(204)
        }
        ("DELETE", ["groups", g, "members", id, "$ref"]) => {
            let group = s.groups.entry(g.to_string()).or_default();
            if !group.iter().any(|m| m == id) {
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.");
            }
            group.retain(|m| m != id);
            ResponseTemplate::new(204)
        }
        ("GET", ["teams"]) => {
            let teams: Vec<Json> = s
                .teams
                .keys()
                .map(|t| json!({"id": t, "displayName": t}))
                .collect();
            graph_page(&teams, base, &path, query)
        }
        ("GET", ["teams", t, "members"]) => graph_page(
            &s.teams.get(*t).cloned().unwrap_or_default(),
            base,
            &path,
            query,
        ),
        ("POST", ["teams", t, "members"]) | ("POST", ["teams", t, "channels", _, "members"]) => {
            let Some(user) = bound_user(body).and_then(|u| s.user(&u).cloned()) else {
                return graph_error(404, "NotFound", "User not found.");
            };
            if user["accountEnabled"] == json!(false) {
                return graph_error(404, "NotFound", "The user is disabled.");
            }
            s.next_id += 1;
            let mut member = s.member_of(&user);
            member["id"] = json!(format!("new-{}", s.next_id));
            if seg.len() == 3 {
                let team = s.teams.entry(t.to_string()).or_default();
                if team.iter().any(|m| m["userId"] == user["id"]) {
                    return graph_error(409, "Conflict", "The user is already a member.");
                }
                team.push(member.clone());
            } else {
                let in_team = s
                    .teams
                    .get(*t)
                    .is_some_and(|m| m.iter().any(|m| m["userId"] == user["id"]));
                if !in_team {
                    return graph_error(
                        400,
                        "BadRequest",
                        "User must be a member of the team to be added to a private channel.",
                    );
                }
                let key = (t.to_string(), seg[3].to_string());
                let Some((_, members)) = s.channels.get_mut(&key) else {
                    return graph_error(404, "NotFound", "Channel not found.");
                };
                members.push(member.clone());
            }
            ResponseTemplate::new(201).set_body_json(member)
        }
        ("DELETE", ["teams", t, "members", m]) => {
            let team = s.teams.entry(t.to_string()).or_default();
            let before = team.len();
            team.retain(|x| x["id"].as_str() != Some(m));
            ResponseTemplate::new(if team.len() < before { 204 } else { 404 })
        }
        ("GET", ["teams", t, "channels"]) => {
            let channels: Vec<Json> = s
                .channels
                .iter()
                .filter(|((team, _), _)| team == t)
                .map(|(_, (c, _))| c.clone())
                .collect();
            graph_page(&channels, base, &path, query)
        }
        ("GET", ["teams", t, "channels", c, "members"]) => {
            match s.channels.get(&(t.to_string(), c.to_string())) {
                Some((_, members)) => graph_page(&members.clone(), base, &path, query),
                None => graph_error(404, "NotFound", "Channel not found."),
            }
        }
        ("PATCH", ["teams", t, "channels", c, "members", m])
        | ("DELETE", ["teams", t, "channels", c, "members", m]) => {
            let Some((_, members)) = s.channels.get_mut(&(t.to_string(), c.to_string())) else {
                return graph_error(404, "NotFound", "Channel not found.");
            };
            let Some(i) = members.iter().position(|x| x["id"].as_str() == Some(m)) else {
                return graph_error(404, "NotFound", "Member not found.");
            };
            if method == "DELETE" {
                members.remove(i);
                return ResponseTemplate::new(204);
            }
            members[i]["roles"] = body["roles"].clone();
            ResponseTemplate::new(200).set_body_json(members[i].clone())
        }
        _ => graph_error(
            400,
            "BadRequest",
            &format!("the fake has no {method} {path}"),
        ),
    }
}

fn wp_list(items: Vec<Json>, query: &BTreeMap<String, String>) -> ResponseTemplate {
    let per: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    if per == 0 || per > 100 {
        return wp_error(400, "rest_invalid_param", "Invalid parameter(s): per_page");
    }
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let pages = items.len().div_ceil(per).max(1);
    let start = ((page - 1) * per).min(items.len());
    let end = (start + per).min(items.len());
    ResponseTemplate::new(200)
        .set_body_json(Json::Array(items[start..end].to_vec()))
        .insert_header("X-WP-Total", items.len().to_string().as_str())
        .insert_header("X-WP-TotalPages", pages.to_string().as_str())
}

fn wordpress(
    s: &mut State,
    method: &str,
    seg: &[&str],
    query: &BTreeMap<String, String>,
    body: &Json,
) -> ResponseTemplate {
    match (method, seg) {
        ("GET", ["wp", "v2", "users"]) => wp_list(s.wp_users.clone(), query),
        ("GET", ["wp", "v2", "users", id]) => {
            match s
                .wp_users
                .iter()
                .find(|u| u["id"].as_i64().is_some_and(|i| id.parse() == Ok(i)))
            {
                Some(u) => ResponseTemplate::new(200).set_body_json(u),
                None => wp_error(404, "rest_user_invalid_id", "Invalid user ID."),
            }
        }
        ("POST", ["wp", "v2", "users", id]) => {
            if let Some(roles) = body["roles"].as_array() {
                if let Some(bad) = roles
                    .iter()
                    .find(|r| !ROLES.contains(&r.as_str().unwrap_or("")))
                {
                    return wp_error(
                        400,
                        "rest_user_invalid_role",
                        &format!("Role {bad} does not exist."),
                    );
                }
            }
            match s
                .wp_users
                .iter_mut()
                .find(|u| u["id"].as_i64().is_some_and(|i| id.parse() == Ok(i)))
            {
                Some(u) => {
                    for (k, v) in body.as_object().unwrap() {
                        u[k.as_str()] = v.clone();
                    }
                    ResponseTemplate::new(200).set_body_json(u.clone())
                }
                None => wp_error(404, "rest_user_invalid_id", "Invalid user ID."),
            }
        }
        ("GET", ["ldlms", "v2", "sfwd-courses"]) => wp_list(s.courses.clone(), query),
        ("GET", ["ldlms", "v2", "groups"]) => wp_list(s.wp_groups.clone(), query),
        ("GET", ["ldlms", "v2", "sfwd-courses", c, "users"]) => {
            let ids = s
                .course_users
                .get(&c.parse().unwrap_or(0))
                .cloned()
                .unwrap_or_default();
            let users: Vec<Json> = ids
                .iter()
                .map(|id| {
                    let u = s.wp_users.iter().find(|u| u["id"] == json!(id));
                    json!({"id": id, "username": u.map(|u| u["username"].clone()), "name": u.map(|u| u["name"].clone())})
                })
                .collect();
            wp_list(users, query)
        }
        ("POST", ["ldlms", "v2", "sfwd-courses", c, "users"])
        | ("DELETE", ["ldlms", "v2", "sfwd-courses", c, "users"]) => {
            let ids: Vec<i64> = body["user_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_i64).collect())
                .unwrap_or_default();
            if ids.len() > 50 {
                return wp_error(
                    400,
                    "rest_invalid_param",
                    "Invalid parameter(s): user_ids (at most 50)",
                );
            }
            let course: i64 = c.parse().unwrap_or(0);
            let fail: BTreeSet<i64> = s.fail_enroll.clone();
            let list = s.course_users.entry(course).or_default();
            let results: Vec<Json> = ids
                .iter()
                .map(|id| {
                    if fail.contains(id) {
                        return json!({"user_id": id, "status": "failed", "code": "learndash_rest_enroll_failed", "message": "The user could not be enrolled."});
                    }
                    if method == "POST" {
                        if !list.contains(id) {
                            list.push(*id);
                        }
                        json!({"user_id": id, "status": "success", "code": "learndash_rest_enroll_success"})
                    } else {
                        list.retain(|x| x != id);
                        json!({"user_id": id, "status": "success", "code": "learndash_rest_unenroll_success"})
                    }
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(Json::Array(results))
        }
        _ => wp_error(
            404,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        ),
    }
}

/// The LMS sample config with Entra, Teams and WordPress on the fake, each with write
/// credentials, and Question2Answer's `qa_users` in a SQLite database that may be written.
pub fn config(fake: &Fake, dir: &Path) -> String {
    let lms = crate::common::repo().join("samples/lms");
    // Question2Answer in a database of its own, made from the day's export.
    let q2a = dir.join("q2a.db");
    let conn = rusqlite::Connection::open(&q2a).unwrap();
    conn.execute_batch(
        "CREATE TABLE qa_users (userid INTEGER PRIMARY KEY, handle TEXT, email TEXT, level INTEGER, flags INTEGER, created TEXT, loggedin TEXT)",
    )
    .unwrap();
    let mut csv = csv::Reader::from_path(lms.join("day-7/q2a_users.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    for rec in csv.records() {
        let rec = rec.unwrap();
        let get = |n: &str| {
            rec.get(headers.iter().position(|h| h == n).unwrap())
                .unwrap()
                .to_string()
        };
        conn.execute(
            "INSERT INTO qa_users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                get("userid"),
                get("handle"),
                get("email"),
                get("level"),
                get("flags"),
                get("created"),
                get("loggedin")
            ],
        )
        .unwrap();
    }
    let ssot = dir.join("ssot.db");
    std::fs::copy(lms.join("day-7/ssot.db"), &ssot).unwrap();
    let sample = std::fs::read_to_string(lms.join("driftwatch.toml")).unwrap();
    let ssot_table: String = sample
        .split("\n[sources.")
        .filter(|s| s.starts_with("ssot"))
        .map(|s| format!("\n[sources.{}", s.replace("day-${day}/ssot.db", "ssot.db")))
        .collect();
    let writes = |source: &str| {
        format!(
            "[sources.{source}.write]\nclient_id = \"99999999-2222-3333-4444-555555555555\"\nclient_secret = {{ env = \"DW_TEST_GRAPH_WRITE_SECRET\" }}\n"
        )
    };
    let mut c = format!(
        "rules = [{:?}]\nstore = \"store.db\"\n{ssot_table}\n",
        crate::common::repo()
            .join("queries/lms.rules")
            .to_str()
            .unwrap()
    );
    c.push_str(
        "[sources.q2a]\nkind = \"sqlite\"\npath = \"q2a.db\"\n[sources.q2a.entities.users]\nquery = \"SELECT userid, handle, email, level, flags, created, loggedin FROM qa_users\"\nkey = [\"userid\"]\ntypes = { created = \"timestamp\", loggedin = \"timestamp\" }\n[sources.q2a.write]\n\n",
    );
    c.push_str(&fake.server.graph_config("entra", &["users"], ""));
    c.push_str(&writes("entra"));
    c.push_str(&fake.server.graph_config(
        "teams",
        &["channels", "channel_members"],
        "concurrency = 6",
    ));
    c.push_str(&writes("teams"));
    c.push_str(
        &fake
            .server
            .wordpress_config("wordpress", &["users", "courses", "groups", "course_users"]),
    );
    c.push_str(&format!(
        "[sources.wordpress.write]\nusername = \"{WP_WRITER}\"\npassword = {{ env = \"DW_TEST_WP_WRITE_PASSWORD\" }}\n"
    ));
    c
}

pub const GRAPH_WRITE_SECRET: &str = "graph-WRITE-secret-Qp3~never-printed";

/// Runs driftwatch in `dir` with the read and write secrets in its environment.
pub fn run(dir: &Path, args: &[&str]) -> crate::common::Run {
    crate::common::finish(
        crate::common::driftwatch(dir)
            .args(args)
            .env("DW_TEST_GRAPH_SECRET", crate::mocks::GRAPH_SECRET)
            .env("DW_TEST_WP_PASSWORD", WP_PASSWORD)
            .env("DW_TEST_GRAPH_WRITE_SECRET", GRAPH_WRITE_SECRET)
            .env("DW_TEST_WP_WRITE_PASSWORD", WP_WRITE_PASSWORD)
            .env("DRIFTWATCH_ACTOR", "test-operator")
            .output()
            .unwrap(),
    )
}
