//! Graph's delta queries on the stateful fake (`fake_platforms`): `GET /users/delta` and
//! `GET /groups/delta`. A delta link is `$deltatoken=N`, the state of the entity when the N-th
//! link was issued; following it lists what differs now, `PAGE` a page by `$skiptoken`: each
//! added or changed object whole, each removed one as `{"id", "@removed": {"reason":
//! "deleted"}}`, and, as the service may, the first change once more at the end (a replay).
//! A group round with `$select=members` (its links remember it) gives instead the groups whose
//! members changed, with `members@delta` (added members, removed ones with `@removed`), each
//! group's members spread over several objects of the same group, two at a time, as Graph
//! spreads them over pages.
//! `$deltatoken=latest` answers no objects and a link of the present state; no token starts a
//! round that lists everything. Links issued before `expire_before` answer `expired_with`:
//! 410 Gone with a `Location`, or 400 `syncStateNotFound`.

use crate::fake_platforms::{graph_error, graph_page, State};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Links {
    states: Vec<(String, BTreeMap<String, Json>)>,
    /// Links issued before this one have expired.
    pub expire_before: usize,
    /// How an expired link is answered: 410 or 400.
    pub expired_with: u16,
}

impl Links {
    /// How many links have been issued.
    pub fn issued(&self) -> usize {
        self.states.len()
    }
}

/// The entity's objects by id; a group's members (ids) under `_members`.
fn current(s: &State, entity: &str) -> BTreeMap<String, Json> {
    let objects = if entity == "users" {
        s.users.clone()
    } else {
        s.group_objects()
            .into_iter()
            .map(|mut g| {
                g["_members"] = json!(s.groups[g["id"].as_str().unwrap()]);
                g
            })
            .collect()
    };
    objects
        .into_iter()
        .map(|o| (o["id"].as_str().unwrap().to_string(), o))
        .collect()
}

/// A group's `members@delta` entries for members `ids`, `removed` or not.
fn member_entries(s: &State, ids: &[&Json], removed: bool) -> Vec<Json> {
    ids.iter()
        .map(|id| {
            let ty = if s.groups.contains_key(id.as_str().unwrap()) {
                "group"
            } else {
                "user"
            };
            let mut m = json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": id});
            if removed {
                m["@removed"] = json!({"reason": "deleted"});
            }
            m
        })
        .collect()
}

/// What changed between `then` and `now`: objects whole (without `_members`), or, for a
/// members round, the groups with their `members@delta`, two members an object.
fn changes(
    s: &State,
    members: bool,
    then: &BTreeMap<String, Json>,
    now: &BTreeMap<String, Json>,
) -> Vec<Json> {
    let empty = json!([]);
    let mut out = Vec::new();
    for (id, o) in now {
        let was = then.get(id);
        if members {
            let list = |o: Option<&Json>| -> Vec<Json> {
                o.map(|o| o["_members"].as_array().unwrap().clone())
                    .unwrap_or_default()
            };
            let (before, after) = (list(was), list(Some(o)));
            let added: Vec<&Json> = after.iter().filter(|m| !before.contains(m)).collect();
            let gone: Vec<&Json> = before.iter().filter(|m| !after.contains(m)).collect();
            let mut entries = member_entries(s, &added, false);
            entries.extend(member_entries(s, &gone, true));
            if was.is_none() && entries.is_empty() {
                out.push(json!({"id": id, "members@delta": empty}));
            }
            for part in entries.chunks(2) {
                out.push(json!({"id": id, "members@delta": part}));
            }
        } else {
            let strip = |o: &Json| {
                let mut o = o.clone();
                if let Some(m) = o.as_object_mut() {
                    m.remove("_members");
                }
                o
            };
            if was.map(strip) != Some(strip(o)) {
                out.push(strip(o));
            }
        }
    }
    out.extend(
        then.keys()
            .filter(|id| !now.contains_key(*id))
            .map(|id| json!({"id": id, "@removed": {"reason": "deleted"}})),
    );
    out
}

pub fn respond(
    s: &mut State,
    entity: &str,
    base: &str,
    query: &BTreeMap<String, String>,
) -> wiremock::ResponseTemplate {
    let now = current(s, entity);
    let kind = match query.get("$select") {
        Some(select) if select.split(',').any(|p| p == "members") => "group_members",
        _ => entity,
    };
    let (kind, changes): (String, Vec<Json>) = match query.get("$deltatoken").map(String::as_str) {
        Some("latest") => (kind.to_string(), Vec::new()),
        None => (
            kind.to_string(),
            changes(s, kind == "group_members", &BTreeMap::new(), &now),
        ),
        Some(token) => {
            let n: usize = token.parse().unwrap();
            if n < s.delta.expire_before {
                return if s.delta.expired_with == 410 {
                    graph_error(410, "resyncRequired", "Resync required.")
                        .insert_header("Location", format!("{base}/v1.0/{entity}/delta").as_str())
                } else {
                    graph_error(
                        400,
                        "syncStateNotFound",
                        "The sync state generation is not found.",
                    )
                };
            }
            let (kind, then) = &s.delta.states[n];
            let mut changes = changes(s, kind == "group_members", then, &now);
            if let Some(first) = changes.first().cloned() {
                changes.push(first);
            }
            (kind.clone(), changes)
        }
    };
    let at: usize = query
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    if at > 0 && s.break_delta_page {
        return wiremock::ResponseTemplate::new(200).set_body_string("{\"value\": [");
    }
    if at + 5 < changes.len() {
        // Not the last page: a nextLink that carries the round on.
        return graph_page(&changes, base, &format!("{entity}/delta"), query);
    }
    s.delta.states.push((kind, now));
    let token = s.delta.states.len() - 1;
    let page = &changes[at.min(changes.len())..];
    wiremock::ResponseTemplate::new(200).set_body_json(json!({
        "value": page,
        "@odata.deltaLink": format!("{base}/v1.0/{entity}/delta?$deltatoken={token}")
    }))
}
