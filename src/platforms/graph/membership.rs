//! Group membership through Graph's group delta (`/groups/delta?$select=members`, whose
//! groups carry `members@delta`). A team's membership is its group's: a rule that wants team
//! membership at the cost of its changes reads `group_members` of the team's group (the team
//! id is the group id). `team_members` and `channel_members` are read whole: their rows are
//! conversation memberships (their own ids and roles), which no delta gives.
//!
//! A membership row carries the member's name and addresses, which `members@delta` does not:
//! they are taken from the source's `users` as this snapshot records them, so the delta is
//! used only when the source collects `users` too (they are collected first). A user whose
//! name or address changed has every membership row refreshed. A group is read whole
//! (`/groups/{id}/members`) when a delta alone cannot say its rows exactly: it has a member
//! that is not a user (a nested group, a device: no delta tracks their names), or it gained a
//! user the users do not know yet (made after they were read).

use super::delta::{expired_note, round_end};
use super::Graph;
use crate::error::Result;
use crate::platforms::http::{segment, Refusal};
use crate::platforms::records::{write_records, Spec};
use crate::store::{Rows, SnapshotWriter};
use crate::value::Value;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const MEMBERS_DELTA: &str = "/groups/delta?$select=members";
const USER: &str = "#microsoft.graph.user";

/// What a round said of one group: removed, or its members added (with their `@odata.type`)
/// and removed (`None`).
#[derive(Default)]
struct GroupChange {
    removed: bool,
    members: BTreeMap<String, Option<String>>,
}

type Changes = BTreeMap<String, GroupChange>;

/// A membership row's key, and its values (`None`: the row is closed).
type Patch = BTreeMap<(String, String), Option<Vec<Value>>>;

/// A value of an id column as text.
fn text(v: &Value) -> String {
    v.render(crate::value::ColumnType::Text).into_owned()
}

impl Graph {
    /// Collects `group_members`: the changes since its delta link when it has a current one
    /// and the source collects `users`, else every group's members.
    pub(super) async fn collect_group_members(
        &mut self,
        source: &str,
        spec: &Spec,
        identity: &str,
        users: bool,
        out: &mut SnapshotWriter<'_>,
    ) -> Result<()> {
        let request = format!("{identity} {MEMBERS_DELTA}");
        if users {
            if let Some(link) = out.delta_link(spec.name, &request)? {
                match self.member_round(&link).await? {
                    Ok((next, changes)) => {
                        let patch = self.patch(source, spec, changes, out).await?;
                        write_patch(out, spec, patch)?;
                        return out.set_delta_link(spec.name, &request, &next);
                    }
                    Err(refused) => out.note(expired_note(source, spec.name, &refused)),
                }
            }
        }
        let latest = match users {
            true => Some(self.latest(MEMBERS_DELTA).await?),
            false => None,
        };
        let records = self.entity(spec.name).await?;
        write_records(out, source, spec, &records)?;
        match latest {
            Some(link) => out.set_delta_link(spec.name, &request, &link),
            None => Ok(()),
        }
    }

    /// Follows a group delta round to its end. A group may come on several pages, each with
    /// part of its `members@delta`; the last word on a member wins.
    async fn member_round(
        &self,
        url: &str,
    ) -> Result<std::result::Result<(String, Changes), Refusal>> {
        let mut changes = Changes::new();
        let mut bad: Option<String> = None;
        let end = self
            .walk(url, |values| {
                for g in values {
                    let Some(id) = g.get("id").and_then(Json::as_str) else {
                        bad = Some(g.to_string());
                        continue;
                    };
                    let change = changes.entry(id.to_string()).or_default();
                    if g.get("@removed").is_some() {
                        change.removed = true;
                        change.members.clear();
                        continue;
                    }
                    let Some(Json::Array(members)) = g.get("members@delta") else {
                        continue;
                    };
                    for m in members {
                        let Some(member) = m.get("id").and_then(Json::as_str) else {
                            bad = Some(m.to_string());
                            continue;
                        };
                        let ty = match m.get("@removed") {
                            Some(_) => None,
                            None => Some(
                                m.get("@odata.type")
                                    .and_then(Json::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            ),
                        };
                        change.members.insert(member.to_string(), ty);
                    }
                }
            })
            .await?;
        round_end(url, end, changes, bad)
    }

    /// The membership rows a round changes, with the users of this snapshot for names and
    /// addresses, and the groups that must be read whole read.
    async fn patch(
        &self,
        source: &str,
        spec: &Spec,
        changes: Changes,
        out: &SnapshotWriter<'_>,
    ) -> Result<Patch> {
        let users: HashMap<String, Vec<Value>> = out
            .rows(
                "users",
                &["id", "display_name", "user_principal_name", "mail"],
                Rows::Open,
            )?
            .into_iter()
            .map(|mut r| (text(&r.remove(0)), r))
            .collect();
        let changed_users: HashSet<String> = out
            .rows("users", &["id"], Rows::ChangedNow)?
            .iter()
            .map(|r| text(&r[0]))
            .collect();
        // The memberships as they stand: group → member → type.
        let mut groups: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in out.rows(
            spec.name,
            &["group_id", "member_id", "member_type"],
            Rows::Open,
        )? {
            groups
                .entry(text(&r[0]))
                .or_default()
                .insert(text(&r[1]), text(&r[2]));
        }
        let user_row = |g: &str, m: &str| {
            users.get(m).map(|d| {
                let mut row = vec![
                    Value::Text(g.to_string()),
                    Value::Text(m.to_string()),
                    Value::Text(USER.to_string()),
                ];
                row.extend(d.iter().cloned());
                row
            })
        };
        let removed: BTreeSet<String> = changes
            .iter()
            .filter(|(_, c)| c.removed)
            .map(|(g, _)| g.clone())
            .collect();
        let mut whole: BTreeSet<String> = groups
            .iter()
            .filter(|(_, members)| members.values().any(|t| t != USER))
            .map(|(g, _)| g.clone())
            .collect();
        for (g, c) in &changes {
            let unknown = |(m, t): (&String, &Option<String>)| {
                t.as_deref()
                    .is_some_and(|t| t != USER || !users.contains_key(m))
            };
            if !c.removed && c.members.iter().any(unknown) {
                whole.insert(g.clone());
            }
        }
        let mut patch = Patch::new();
        // A changed user's memberships take the new name and addresses (unless the round says
        // what became of them); one that is gone from the users but not from the group
        // (removed after the users were read) reads the group again.
        for (g, members) in &groups {
            if whole.contains(g) || removed.contains(g) {
                continue;
            }
            let said = |m: &String| changes.get(g).is_some_and(|c| c.members.contains_key(m));
            for m in members
                .keys()
                .filter(|m| changed_users.contains(*m) && !said(m))
            {
                match user_row(g, m) {
                    Some(row) => {
                        patch.insert((g.clone(), m.clone()), Some(row));
                    }
                    None => {
                        whole.insert(g.clone());
                    }
                }
            }
        }
        for (g, c) in changes {
            if c.removed {
                for m in groups.get(&g).into_iter().flat_map(BTreeMap::keys) {
                    patch.insert((g.clone(), m.clone()), None);
                }
                continue;
            }
            if whole.contains(&g) {
                continue;
            }
            for (m, ty) in c.members {
                let row = ty.and_then(|_| user_row(&g, &m));
                patch.insert((g.clone(), m), row);
            }
        }
        let whole: Vec<String> = whole.into_iter().filter(|g| !removed.contains(g)).collect();
        for g in &whole {
            for m in groups.get(g).into_iter().flat_map(BTreeMap::keys) {
                patch.insert((g.clone(), m.clone()), None);
            }
        }
        let fetched = self
            .fan_out(whole, |g| {
                (
                    format!("/groups/{}/members?$top=999", segment(g)),
                    vec![("group_id", Json::from(g.as_str()))],
                )
            })
            .await?;
        for (n, r) in fetched.iter().enumerate() {
            let mut values = Vec::new();
            spec.values(source, r, n as u64 + 1, &mut values)?;
            patch.insert((text(&values[0]), text(&values[1])), Some(values));
        }
        Ok(patch)
    }
}

fn write_patch(out: &mut SnapshotWriter<'_>, spec: &Spec, patch: Patch) -> Result<()> {
    let key: Vec<String> = spec.key.iter().map(|k| k.to_string()).collect();
    out.patch_entity(spec.name, &key, &spec.columns(), |w| {
        for (n, ((g, m), row)) in patch.into_iter().enumerate() {
            match row {
                Some(values) => w.row(&values, n as u64 + 1)?,
                None => w.remove(&[Value::Text(g), Value::Text(m)])?,
            }
        }
        Ok(())
    })
}
