//! Incremental collection of Entra users and groups through Graph's delta queries.
//!
//! A full read (the first collection, a changed `$select` or tenant, `collect --full`, or a
//! delta link the service no longer knows) first asks for a delta link of the present state
//! (`$deltatoken=latest`), then lists the entity whole. A change made while the list is read
//! comes again in the next round, where replaying it changes nothing.
//!
//! A later collection follows the stored link to the end of its round (`@odata.deltaLink`) and
//! patches the entity's open rows: a changed object is upserted whole (a delta answer carries
//! every selected property of a changed object, absent when it was never set, as a list does),
//! an `@removed` one is closed, and where a round names an id twice the last word wins. The new
//! link is stored with the snapshot, in its savepoint: a collection that fails keeps the old
//! one. A 410 Gone or a `syncStateNotFound` (links expire after about 7 days) is a note, and the
//! entity is read whole.
//!
//! Group members come from the group delta's `members@delta` (`membership`); team and channel
//! members are read whole: their rows are conversation memberships, which no delta gives.

use super::{group_select, user_select, Graph, GROUPS, USERS};
use crate::error::{Error, Result};
use crate::platforms::http::Refusal;
use crate::platforms::records::{write_records, Record, Spec};
use crate::store::SnapshotWriter;
use crate::value::Value;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// An entity Graph tracks changes of: its full list and its delta query (the same `$select`).
pub(super) struct Tracked {
    pub entity: &'static str,
    list: &'static str,
    delta: &'static str,
}

pub(super) const TRACKED: &[Tracked] = &[
    Tracked {
        entity: "users",
        list: USERS,
        delta: concat!("/users/delta?$select=", user_select!()),
    },
    Tracked {
        entity: "groups",
        list: GROUPS,
        delta: concat!("/groups/delta?$select=", group_select!()),
    },
];

pub(super) fn tracked(entity: &str) -> Option<&'static Tracked> {
    TRACKED.iter().find(|t| t.entity == entity)
}

/// What one delta round said: each id's last word (the object, or `None` when removed).
type Changes = BTreeMap<String, Option<Json>>;

impl Graph {
    /// Collects a tracked entity: the changes since its delta link when it has a current one,
    /// else everything. `identity` names the tenant and service the link belongs to.
    pub(super) async fn collect_tracked(
        &self,
        source: &str,
        spec: &Spec,
        t: &Tracked,
        identity: &str,
        out: &mut SnapshotWriter<'_>,
    ) -> Result<()> {
        let request = format!("{identity} {}", t.delta);
        if let Some(link) = out.delta_link(t.entity, &request)? {
            match self.round(&link).await? {
                Ok((next, changes)) => {
                    patch(out, source, spec, changes)?;
                    return out.set_delta_link(t.entity, &request, &next);
                }
                Err(refused) => out.note(expired_note(source, t.entity, &refused)),
            }
        }
        let latest = self.latest(t.delta).await?;
        let records = self.list(t.list).await?;
        write_records(out, source, spec, &Record::all(records, &[]))?;
        out.set_delta_link(t.entity, &request, &latest)
    }

    /// A delta link of the present state for the delta query `delta` (`$deltatoken=latest`),
    /// asked before a full read so that no change made during the read is missed.
    pub(super) async fn latest(&self, delta: &str) -> Result<String> {
        let url = format!("{}{delta}&$deltatoken=latest", self.base);
        let mut any = false;
        let end = self.walk(&url, |values| any |= !values.is_empty()).await?;
        match end {
            Ok(Some(link)) if !any => Ok(link),
            Ok(Some(_)) => Err(Error::runtime(format!(
                "GET {delta}: a delta link of the present state came with changes; the snapshot is not recorded"
            ))),
            Ok(None) => Err(no_delta_link(&url)),
            Err(refused) => Err(Error::runtime(refused.message)),
        }
    }

    /// Follows a delta round from `url` to its end: the changes, and the link where the next
    /// round resumes. A link the service no longer knows is handed back as its refusal.
    async fn round(&self, url: &str) -> Result<std::result::Result<(String, Changes), Refusal>> {
        let mut changes = Changes::new();
        let mut bad = None;
        let end = self
            .walk(url, |values| {
                for v in values {
                    match v.get("id").and_then(Json::as_str) {
                        Some(id) => {
                            let id = id.to_string();
                            let removed = v.get("@removed").is_some();
                            changes.insert(id, (!removed).then_some(v));
                        }
                        None => bad = Some(v),
                    }
                }
            })
            .await?;
        round_end(url, end, changes, bad.map(|v| v.to_string()))
    }
}

/// How a delta round from `url` ended: its changes and the link where the next round resumes;
/// a link the service no longer knows as its refusal; an error for a record without an id
/// (`bad`), a round without a delta link, or any other refusal.
pub(super) fn round_end<C>(
    url: &str,
    end: std::result::Result<Option<String>, Refusal>,
    changes: C,
    bad: Option<String>,
) -> Result<std::result::Result<(String, C), Refusal>> {
    if let Some(v) = bad {
        return Err(Error::runtime(format!(
            "GET {}: a delta record without an id ({}); the snapshot is not recorded",
            crate::platforms::http::path_of(url),
            v.chars().take(80).collect::<String>()
        )));
    }
    match end {
        Ok(Some(link)) => Ok(Ok((link, changes))),
        Ok(None) => Err(no_delta_link(url)),
        Err(refused) if expired(&refused) => Ok(Err(refused)),
        Err(refused) => Err(Error::runtime(refused.message)),
    }
}

/// Whether the service refused a delta link because it no longer knows it: 410 Gone, or
/// `syncStateNotFound` (after about 7 days).
fn expired(refused: &Refusal) -> bool {
    refused.status == 410
        || refused
            .code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("syncStateNotFound"))
}

fn no_delta_link(url: &str) -> Error {
    Error::runtime(format!(
        "GET {}: the delta round ended without an @odata.deltaLink; the snapshot is not recorded",
        crate::platforms::http::path_of(url)
    ))
}

/// The note for a delta link the service no longer knows.
pub(super) fn expired_note(source: &str, entity: &str, refused: &Refusal) -> String {
    format!(
        "{source}.{entity}: the service no longer knows where its changes resume ({}); read whole instead",
        refused.message
    )
}

/// Writes one round's changes as a patch of the entity's open rows.
fn patch(out: &mut SnapshotWriter<'_>, source: &str, spec: &Spec, changes: Changes) -> Result<()> {
    let columns = spec.columns();
    let key: Vec<String> = spec.key.iter().map(|k| k.to_string()).collect();
    out.patch_entity(spec.name, &key, &columns, |w| {
        let mut values = Vec::with_capacity(columns.len());
        for (n, (id, change)) in changes.into_iter().enumerate() {
            let n = n as u64 + 1;
            match change {
                Some(value) => {
                    let record = Record {
                        context: Vec::new(),
                        value,
                    };
                    spec.values(source, &record, n, &mut values)?;
                    w.row(&values, n)?;
                }
                None => w.remove(&[Value::Text(id)])?,
            }
        }
        Ok(())
    })
}
