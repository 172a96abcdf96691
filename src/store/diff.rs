//! The data diff of one entity between two runs: rows added, removed and changed, by key.
//!
//! Only row versions visible at exactly one of the two snapshots can differ, so the scan reads
//! those and pairs them by `_key`; everything visible at both is unchanged by construction.

use super::entity::{quote, visible_at};
use super::read::{EntitySchema, SnapshotRef};
use super::Store;
use crate::error::Result;
use crate::value::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    Added(Vec<Value>),
    Removed(Vec<Value>),
    Changed {
        before: Vec<Value>,
        after: Vec<Value>,
    },
}

impl RowChange {
    /// `added`, `removed` or `changed`, as every output format names it.
    pub fn kind(&self) -> &'static str {
        match self {
            RowChange::Added(_) => "added",
            RowChange::Removed(_) => "removed",
            RowChange::Changed { .. } => "changed",
        }
    }

    /// The row as it is after the change; for a removed row, as it was.
    pub fn row(&self) -> &[Value] {
        match self {
            RowChange::Added(v) | RowChange::Removed(v) => v,
            RowChange::Changed { after, .. } => after,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EntityDiff {
    pub entity: EntitySchema,
    pub from: Option<SnapshotRef>,
    pub to: Option<SnapshotRef>,
    /// Sorted by key.
    pub rows: Vec<RowChange>,
}

impl EntityDiff {
    /// How many rows had a change of `kind` (see `RowChange::kind`).
    pub fn count(&self, kind: &str) -> usize {
        self.rows.iter().filter(|c| c.kind() == kind).count()
    }
}

/// Diffs every entity of the store between runs `from` and `to`.
pub fn diff_data(store: &Store, from: i64, to: i64) -> Result<Vec<EntityDiff>> {
    let mut out = Vec::new();
    for entity in store.entities()? {
        let a = store.snapshot_for(&entity, from)?;
        let b = store.snapshot_for(&entity, to)?;
        let rows = if a == b {
            Vec::new()
        } else {
            diff_entity(store, &entity, a.map(|s| s.id), b.map(|s| s.id))?
        };
        out.push(EntityDiff {
            entity,
            from: a,
            to: b,
            rows,
        });
    }
    Ok(out)
}

fn diff_entity(
    store: &Store,
    entity: &EntitySchema,
    a: Option<i64>,
    b: Option<i64>,
) -> Result<Vec<RowChange>> {
    // -1 is no snapshot: nothing is visible at it.
    let (a, b) = (a.unwrap_or(-1), b.unwrap_or(-1));
    let (in_a, in_b) = (visible_at("?1"), visible_at("?2"));
    // Each version as the snapshot it is visible at sees it (a column is NULL before it appeared).
    let cols = entity.select("", &format!("(CASE WHEN {in_a} THEN ?1 ELSE ?2 END)"));
    let sql = format!(
        "SELECT _key, _hash, {in_a} AS in_a, {} FROM {} WHERE {in_a} != {in_b}",
        cols.join(", "),
        quote(&entity.table)
    );
    let mut stmt = store.conn().prepare(&sql)?;
    let mut rows = stmt.query((a, b))?;
    let mut old: HashMap<String, (i64, Vec<Value>)> = HashMap::new();
    let mut new: Vec<(String, i64, Vec<Value>)> = Vec::new();
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        let hash: i64 = r.get(1)?;
        let in_a: bool = r.get(2)?;
        let values = (0..cols.len())
            .map(|i| r.get_ref(i + 3).map(Value::from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if in_a {
            old.insert(key, (hash, values));
        } else {
            new.push((key, hash, values));
        }
    }
    let mut changes = Vec::new();
    for (key, hash, after) in new {
        match old.remove(&key) {
            // Removed and re-added with the same content between the two runs: no change.
            Some((h, _)) if h == hash => {}
            Some((_, before)) => changes.push((key, RowChange::Changed { before, after })),
            None => changes.push((key, RowChange::Added(after))),
        }
    }
    changes.extend(
        old.into_iter()
            .map(|(key, (_, before))| (key, RowChange::Removed(before))),
    );
    let key_index: Vec<usize> = entity
        .key
        .iter()
        .filter_map(|k| entity.columns.iter().position(|c| &c.name == k))
        .collect();
    changes.sort_by(|(ka, ca), (kb, cb)| {
        let (va, vb) = (ca.row(), cb.row());
        let ord = key_index
            .iter()
            .map(|&i| va[i].sql_cmp(&vb[i]))
            .find(|o| o.is_ne());
        ord.unwrap_or_else(|| ka.cmp(kb))
    });
    Ok(changes.into_iter().map(|(_, change)| change).collect())
}
