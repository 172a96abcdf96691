//! Graph's delta queries on the stateful fake (`fake_platforms`): `GET /users/delta` and
//! `GET /groups/delta`. A delta link is `$deltatoken=N`, the state of the entity when the N-th
//! link was issued; following it lists what differs now, `PAGE` a page by `$skiptoken`: each
//! added or changed object whole, each removed one as `{"id", "@removed": {"reason":
//! "deleted"}}`, and, as the service may, the first change once more at the end (a replay).
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

fn current(s: &State, entity: &str) -> BTreeMap<String, Json> {
    let objects = if entity == "users" {
        s.users.clone()
    } else {
        s.group_objects()
    };
    objects
        .into_iter()
        .map(|o| (o["id"].as_str().unwrap().to_string(), o))
        .collect()
}

pub fn respond(
    s: &mut State,
    entity: &str,
    base: &str,
    query: &BTreeMap<String, String>,
) -> wiremock::ResponseTemplate {
    let now = current(s, entity);
    let changes: Vec<Json> = match query.get("$deltatoken").map(String::as_str) {
        Some("latest") => Vec::new(),
        None => now.values().cloned().collect(),
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
            let (was_entity, then) = &s.delta.states[n];
            assert_eq!(was_entity, entity, "a link of another entity");
            let mut changes: Vec<Json> = now
                .iter()
                .filter(|(id, o)| then.get(*id) != Some(*o))
                .map(|(_, o)| o.clone())
                .collect();
            changes.extend(
                then.keys()
                    .filter(|id| !now.contains_key(*id))
                    .map(|id| json!({"id": id, "@removed": {"reason": "deleted"}})),
            );
            if let Some(first) = changes.first().cloned() {
                changes.push(first);
            }
            changes
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
    s.delta.states.push((entity.to_string(), now));
    let token = s.delta.states.len() - 1;
    let page = &changes[at.min(changes.len())..];
    wiremock::ResponseTemplate::new(200).set_body_json(json!({
        "value": page,
        "@odata.deltaLink": format!("{base}/v1.0/{entity}/delta?$deltatoken={token}")
    }))
}
