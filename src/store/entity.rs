//! Versioned entity tables and the writer that records one snapshot of an entity.
//!
//! Each entity has one table with its columns plus `_key`, `_hash`, `_from`, `_to`. A row
//! version is visible at snapshot `s` iff `_from <= s AND (_to IS NULL OR _to > s)`. The rows
//! with `_to IS NULL` are the entity as last collected; the writer loads their keys and hashes,
//! then for each incoming row inserts it (new key), closes and re-inserts it (changed hash) or
//! leaves it alone, and at the end closes the keys it did not see. Storage grows with churn,
//! not with the number of snapshots.

use crate::config::check_column_name;
use crate::error::{Error, Result};
use crate::value::{encode_key, row_hash, ColumnType, Value};
use rusqlite::{Connection, Statement};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ty,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityStats {
    pub rows: i64,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
}

/// FNV-1a as a `Hasher`: the open-row map holds up to millions of short keys, where SipHash's
/// DoS resistance buys nothing (the keys are the user's own data) and costs time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type KeyMap<V> = HashMap<String, V, BuildHasherDefault<KeyHasher>>;

struct OpenRow {
    hash: i64,
    /// rowid of the open version in the table; 0 for a row inserted by this snapshot.
    rowid: i64,
    seen: bool,
}

pub struct EntityWriter<'a> {
    conn: &'a Connection,
    snapshot_id: i64,
    entity_id: i64,
    label: String,
    /// Table position of each incoming column.
    positions: Vec<usize>,
    /// Incoming indices of the key columns; empty when rows are keyed by content.
    key_index: Vec<usize>,
    key_names: Vec<String>,
    open: KeyMap<OpenRow>,
    occurrences: HashMap<i64, u32, BuildHasherDefault<KeyHasher>>,
    insert: Statement<'a>,
    close: Statement<'a>,
    key_buf: String,
    stats: EntityStats,
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl<'a> EntityWriter<'a> {
    pub(crate) fn begin(
        conn: &'a Connection,
        snapshot_id: i64,
        source: &str,
        entity: &str,
        key: &[String],
        columns: &[Column],
    ) -> Result<EntityWriter<'a>> {
        let label = format!("{source}.{entity}");
        for (i, c) in columns.iter().enumerate() {
            check_column_name(&c.name).map_err(|e| Error::input(format!("{label}: {e}")))?;
            if columns[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                return Err(Error::input(format!(
                    "{label}: column `{}` appears twice",
                    c.name
                )));
            }
        }
        let mut key_index = Vec::new();
        for k in key {
            let i = columns.iter().position(|c| &c.name == k).ok_or_else(|| {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                Error::input(format!(
                    "{label}: key column `{k}` is not among the columns ({})",
                    names.join(", ")
                ))
            })?;
            key_index.push(i);
        }
        let key_json = serde_json::to_string(key).expect("strings serialize");

        let existing: Option<(i64, String, String)> = conn
            .query_row(
                "SELECT id, table_name, key_columns FROM entities WHERE source = ?1 AND name = ?2",
                (source, entity),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;

        let fresh = existing.is_none();
        let (entity_id, table, mut recorded) = match existing {
            Some((id, table, recorded_key)) => {
                if recorded_key != key_json {
                    return Err(Error::input(format!(
                        "{label}: the key was {recorded_key} in earlier snapshots and is now {key_json}; a key cannot change (collect into a new entity name instead)"
                    )));
                }
                let recorded = super::read::load_columns(conn, id)?;
                (id, table, recorded)
            }
            None => {
                let table = format!("e_{source}__{entity}");
                conn.execute(
                    "INSERT INTO entities (source, name, table_name, key_columns) VALUES (?1, ?2, ?3, ?4)",
                    (source, entity, &table, &key_json),
                )?;
                let id = conn.last_insert_rowid();
                let mut ddl = format!("CREATE TABLE {} (", quote(&table));
                for c in columns {
                    ddl.push_str(&format!("{} {}, ", quote(&c.name), c.ty.sql_type()));
                }
                ddl.push_str("_key TEXT NOT NULL, _hash INTEGER NOT NULL, _from INTEGER NOT NULL, _to INTEGER)");
                conn.execute_batch(&ddl)?;
                (id, table, Vec::new())
            }
        };

        // Schema growth: new columns are added at the end; older versions read NULL.
        let mut positions = Vec::with_capacity(columns.len());
        for c in columns {
            match recorded.iter().position(|r| r.name == c.name) {
                Some(p) if recorded[p].ty == c.ty => positions.push(p),
                Some(p) => {
                    return Err(Error::input(format!(
                        "{label}: column `{}` was recorded as {} and is now {}; declare its type in the config's `types` to keep it {}",
                        c.name, recorded[p].ty, c.ty, recorded[p].ty
                    )))
                }
                None => {
                    if !fresh {
                        conn.execute_batch(&format!(
                            "ALTER TABLE {} ADD COLUMN {} {}",
                            quote(&table),
                            quote(&c.name),
                            c.ty.sql_type()
                        ))?;
                    }
                    conn.execute(
                        "INSERT INTO entity_columns (entity_id, position, name, type, since_snapshot) VALUES (?1, ?2, ?3, ?4, ?5)",
                        (entity_id, recorded.len() as i64, &c.name, c.ty.as_str(), snapshot_id),
                    )?;
                    positions.push(recorded.len());
                    recorded.push(c.clone());
                }
            }
        }

        let mut open = KeyMap::default();
        {
            let mut stmt = conn.prepare(&format!(
                "SELECT rowid, _key, _hash FROM {} WHERE _to IS NULL",
                quote(&table)
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                open.insert(
                    r.get(1)?,
                    OpenRow {
                        rowid: r.get(0)?,
                        hash: r.get(2)?,
                        seen: false,
                    },
                );
            }
        }

        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        let marks: Vec<String> = (1..=columns.len() + 3).map(|i| format!("?{i}")).collect();
        let insert = conn.prepare(&format!(
            "INSERT INTO {} ({}{}_key, _hash, _from) VALUES ({})",
            quote(&table),
            names.join(", "),
            if names.is_empty() { "" } else { ", " },
            marks.join(", ")
        ))?;
        let close = conn.prepare(&format!(
            "UPDATE {} SET _to = ?1 WHERE rowid = ?2",
            quote(&table)
        ))?;
        Ok(EntityWriter {
            conn,
            snapshot_id,
            entity_id,
            label,
            positions,
            key_names: key.to_vec(),
            key_index,
            open,
            occurrences: HashMap::default(),
            insert,
            close,
            key_buf: String::new(),
            stats: EntityStats::default(),
        })
    }

    /// Records one row, its values in the order of the columns given to `begin`. `record` is
    /// the row's number in its source, for error messages.
    pub fn row(&mut self, values: &[Value], record: u64) -> Result<()> {
        debug_assert_eq!(values.len(), self.positions.len());
        let hash = row_hash(self.positions.iter().copied().zip(values.iter()));
        if self.key_index.is_empty() {
            // Keyed by content: identical rows are told apart by their occurrence number, so
            // duplicates are stored (and counted) as the real data they are.
            let n = self.occurrences.entry(hash).or_insert(0);
            *n += 1;
            self.key_buf.clear();
            use std::fmt::Write;
            let _ = write!(self.key_buf, "{:016x}#{n}", hash as u64);
        } else {
            for (&i, name) in self.key_index.iter().zip(&self.key_names) {
                if values[i].is_null() {
                    return Err(Error::input(format!(
                        "{}: record {record}: key column `{name}` is empty",
                        self.label
                    )));
                }
            }
            encode_key(
                self.key_index.iter().map(|&i| &values[i]),
                &mut self.key_buf,
            );
        }
        self.stats.rows += 1;
        match self.open.get_mut(self.key_buf.as_str()) {
            Some(row) if row.seen => {
                return Err(Error::input(format!(
                    "{}: record {record}: duplicate key {} = {}",
                    self.label,
                    self.key_names.join(", "),
                    self.key_buf.replace('\u{1f}', ", ")
                )));
            }
            Some(row) => {
                row.seen = true;
                if row.hash == hash {
                    return Ok(());
                }
                self.close.execute((self.snapshot_id, row.rowid))?;
                row.hash = hash;
                row.rowid = 0;
                self.stats.changed += 1;
            }
            None => {
                self.open.insert(
                    self.key_buf.clone(),
                    OpenRow {
                        hash,
                        rowid: 0,
                        seen: true,
                    },
                );
                self.stats.added += 1;
            }
        }
        let n = values.len();
        for (i, v) in values.iter().enumerate() {
            self.insert.raw_bind_parameter(i + 1, v)?;
        }
        self.insert
            .raw_bind_parameter(n + 1, self.key_buf.as_str())?;
        self.insert.raw_bind_parameter(n + 2, hash)?;
        self.insert.raw_bind_parameter(n + 3, self.snapshot_id)?;
        self.insert.raw_execute()?;
        Ok(())
    }

    /// Closes the keys this snapshot did not see and records the entity's statistics.
    pub(crate) fn finish(mut self) -> Result<EntityStats> {
        for row in self.open.values() {
            if !row.seen {
                self.close.execute((self.snapshot_id, row.rowid))?;
                self.stats.removed += 1;
            }
        }
        let s = self.stats;
        self.conn.execute(
            "INSERT INTO snapshot_entities (snapshot_id, entity_id, rows, added, changed, removed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            (self.snapshot_id, self.entity_id, s.rows, s.added, s.changed, s.removed),
        )?;
        self.open.clear();
        Ok(s)
    }
}
