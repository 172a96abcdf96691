//! The store's suppressions (`driftwatch suppress`): made, listed and removed here; the
//! config's file of them is read in `history::suppressed`.

use super::Store;
use crate::error::Result;
use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    /// The store's id (`suppress --remove ID`); None for one from the file.
    pub id: Option<i64>,
    pub rule: String,
    /// The violation's key values as text.
    pub key: Vec<String>,
    pub reason: String,
    /// ISO-8601 UTC; None: until removed.
    pub until: Option<String>,
    /// Who made it (the store's), or the file it is in.
    pub by: String,
    pub created_at: Option<String>,
}

impl Suppression {
    /// Whether it covers `key` of `rule` at time `at`.
    pub fn covers(&self, rule: &str, key: &[Json], at: &str) -> bool {
        self.rule == rule
            && self.until.as_deref().is_none_or(|u| u > at)
            && self.key.len() == key.len()
            && self
                .key
                .iter()
                .zip(key)
                .all(|(k, v)| *k == crate::output::cell_text(v))
    }
}

impl Store {
    /// The suppressions made with `suppress` and not removed, expired ones too.
    pub fn suppressions(&self) -> Result<Vec<Suppression>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, rule, key, reason, until, actor, created_at FROM suppressions
             WHERE removed_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            let key: String = r.get(2)?;
            Ok(Suppression {
                id: Some(r.get(0)?),
                rule: r.get(1)?,
                key: serde_json::from_str(&key).unwrap_or_default(),
                reason: r.get(3)?,
                until: r.get(4)?,
                by: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a suppression; returns its id.
    pub fn suppress(&self, s: &Suppression) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO suppressions (rule, key, reason, until, created_at, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                s.rule,
                serde_json::to_string(&s.key)?,
                s.reason,
                s.until,
                crate::time::format(crate::time::now()),
                s.by
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Removes suppression `id` (kept, marked removed); returns it, or None when there is no
    /// such suppression.
    pub fn unsuppress(&self, id: i64) -> Result<Option<Suppression>> {
        let found = self.suppressions()?.into_iter().find(|s| s.id == Some(id));
        if found.is_some() {
            self.conn.execute(
                "UPDATE suppressions SET removed_at = ?2 WHERE id = ?1",
                rusqlite::params![id, crate::time::format(crate::time::now())],
            )?;
        }
        Ok(found)
    }
}
