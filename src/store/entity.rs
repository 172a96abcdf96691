//! Versioned entity tables and the writer that records one snapshot of an entity.
//!
//! Each entity has one table with its columns plus `_key`, `_hash`, `_from`, `_to`. A row
//! version is visible at snapshot `s` iff `_from <= s AND (_to IS NULL OR _to > s)`. The rows
//! with `_to IS NULL` are the entity as last collected; the writer loads their keys and hashes,
//! then for each incoming row inserts it (new key), closes and re-inserts it (changed hash) or
//! leaves it alone, and at the end closes the keys it did not see. Storage grows with churn,
//! not with the number of snapshots.
//!
//! A column that appears in a later snapshot is added to the table and recorded with that
//! snapshot (`entity_columns.since_snapshot`). A row whose other columns did not change gets
//! the new column's value filled into its open version, instead of a new version: the column
//! costs its own size, not a copy of every row. Reads as of an earlier snapshot see the column as
//! NULL (`EntitySchema::select`), and rules are checked against the columns each snapshot
//! collected, so the filled values never show before the column existed.

use crate::error::{Error, Result};
use crate::text::check_column_name;
use crate::value::{encode_key, row_hash, ColumnType, Value};
use rusqlite::{Connection, Statement};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use xxhash_rust::xxh3::xxh3_64;

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

/// A `Hasher` for keys that are hashes already (XXH3 of the key text): it passes them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const NONE: u32 = u32::MAX;

struct OpenRow {
    /// Where the key's text is in `OpenRows::keys`.
    start: usize,
    len: u32,
    hash: i64,
    /// rowid of the open version in the table; 0 for a row inserted by this snapshot.
    rowid: i64,
    seen: bool,
    /// The next row whose key text has the same XXH3 hash, or NONE.
    next: u32,
}

/// The keys of the entity's open rows (and of rows this snapshot adds), for diffing the
/// incoming rows against. Millions of keys are held as one text arena plus an index from each
/// key's hash to its row: no allocation per key, and small index entries. Keys whose hashes
/// collide are chained, and every match is confirmed on the key text.
#[derive(Default)]
struct OpenRows {
    keys: String,
    rows: Vec<OpenRow>,
    index: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    /// For an entity with nothing open (its first snapshot) there is nothing to diff against,
    /// only duplicate keys to catch: the keys are then listed here, unindexed, and checked once
    /// at the end by sorting their hashes, which costs far less than indexing every key.
    unchecked: Vec<UncheckedKey>,
}

struct UncheckedKey {
    key_hash: u64,
    start: usize,
    len: u32,
    record: u64,
}

impl OpenRows {
    fn reserve(&mut self, rows: usize, fresh: bool) {
        if fresh {
            self.unchecked.reserve(rows);
        } else {
            self.rows.reserve(rows);
            self.index.reserve(rows);
        }
    }

    fn push_unchecked(&mut self, key: &str, key_hash: u64, record: u64) {
        self.unchecked.push(UncheckedKey {
            key_hash,
            start: self.keys.len(),
            len: key.len() as u32,
            record,
        });
        self.keys.push_str(key);
    }

    /// The first duplicate among the unchecked keys: (its record, the earlier record, the key).
    fn first_duplicate(&mut self) -> Option<(u64, u64, &str)> {
        self.unchecked
            .sort_unstable_by_key(|k| (k.key_hash, k.record));
        let text = |k: &UncheckedKey| &self.keys[k.start..k.start + k.len as usize];
        let mut found: Option<(u64, u64, &str)> = None;
        let mut group = 0;
        while group < self.unchecked.len() {
            let mut end = group + 1;
            while end < self.unchecked.len()
                && self.unchecked[end].key_hash == self.unchecked[group].key_hash
            {
                end += 1;
            }
            for later in group + 1..end {
                for earlier in group..later {
                    let (a, b) = (&self.unchecked[earlier], &self.unchecked[later]);
                    if text(a) == text(b) && found.is_none_or(|(r, _, _)| b.record < r) {
                        found = Some((b.record, a.record, text(b)));
                    }
                }
            }
            group = end;
        }
        found
    }

    fn find(&self, key: &str, key_hash: u64) -> Option<usize> {
        let mut at = *self.index.get(&key_hash)?;
        while at != NONE {
            let row = &self.rows[at as usize];
            if &self.keys[row.start..row.start + row.len as usize] == key {
                return Some(at as usize);
            }
            at = row.next;
        }
        None
    }

    fn insert(&mut self, key: &str, key_hash: u64, hash: i64, rowid: i64, seen: bool) {
        let at = self.rows.len() as u32;
        let next = self.index.insert(key_hash, at).unwrap_or(NONE);
        self.rows.push(OpenRow {
            start: self.keys.len(),
            len: key.len() as u32,
            hash,
            rowid,
            seen,
            next,
        });
        self.keys.push_str(key);
    }
}

pub struct EntityWriter<'a> {
    conn: &'a Connection,
    snapshot_id: i64,
    entity_id: i64,
    label: String,
    /// Table position of each incoming column.
    positions: Vec<usize>,
    /// The incoming columns' names, as JSON, recorded with the snapshot.
    column_names: String,
    /// Incoming indices of the key columns; empty when rows are keyed by content.
    key_index: Vec<usize>,
    key_names: Vec<String>,
    open: OpenRows,
    occurrences: HashMap<i64, u32>,
    insert: Statement<'a>,
    close: Statement<'a>,
    /// Sets the new columns (and the hash) of an open row version in place.
    fill: Option<Statement<'a>>,
    /// Incoming indices of the columns new in this snapshot.
    new: Vec<usize>,
    /// How many columns were recorded before this snapshot.
    before: usize,
    key_buf: String,
    hash_buf: Vec<u8>,
    /// Nothing was open when the snapshot began: every row is new (see `OpenRows::unchecked`).
    fresh: bool,
    /// A patch (a delta collection): rows not given stay as they are, and only `remove`
    /// closes one.
    patch: bool,
    /// How many rows were open when the snapshot began.
    open_before: i64,
    stats: EntityStats,
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The SQL condition under which a row version is visible at `snapshot` (a bound parameter
/// such as `?1`, or a snapshot id of the store's own).
pub(crate) fn visible_at(snapshot: &str) -> String {
    visible_as("", snapshot)
}

/// `visible_at` for a table named by `qualifier` (such as `"a".`) in a query of several.
pub(crate) fn visible_as(qualifier: &str, snapshot: &str) -> String {
    let q = qualifier;
    format!("({q}_from <= {snapshot} AND ({q}_to IS NULL OR {q}_to > {snapshot}))")
}

/// Creates the entity's table on its first snapshot, or checks the incoming columns against
/// the recorded ones and adds the new ones (a read before this snapshot sees them as NULL).
/// Returns the entity id, its table, the table position of each incoming column, and how many
/// columns were recorded before this snapshot (positions from there on are new).
fn record_schema(
    conn: &Connection,
    snapshot_id: i64,
    source: &str,
    entity: &str,
    key: &[String],
    columns: &[Column],
) -> Result<(i64, String, Vec<usize>, usize)> {
    let label = format!("{source}.{entity}");
    let (entity_id, table, mut recorded) = match super::read::entity_schema(conn, source, entity)? {
        Some(schema) => {
            if schema.key != key {
                return Err(Error::input(format!(
                    "{label}: the key was {:?} in earlier snapshots and is now {key:?}; a key cannot change (collect into a new entity name instead)",
                    schema.key
                )));
            }
            (schema.id, schema.table, schema.columns)
        }
        None => {
            let table = format!("e_{source}__{entity}");
            let key_json = serde_json::to_string(key).expect("strings serialize");
            conn.execute(
                "INSERT INTO entities (source, name, table_name, key_columns) VALUES (?1, ?2, ?3, ?4)",
                (source, entity, &table, &key_json),
            )?;
            conn.execute_batch(&format!(
                "CREATE TABLE {} (_key TEXT NOT NULL, _hash INTEGER NOT NULL, _from INTEGER NOT NULL, _to INTEGER)",
                quote(&table)
            ))?;
            (conn.last_insert_rowid(), table, Vec::new())
        }
    };
    let before = recorded.len();
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
                conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(&table),
                    quote(&c.name),
                    c.ty.sql_type()
                ))?;
                conn.execute(
                    "INSERT INTO entity_columns (entity_id, position, name, type, since_snapshot) VALUES (?1, ?2, ?3, ?4, ?5)",
                    (entity_id, recorded.len() as i64, &c.name, c.ty.as_str(), snapshot_id),
                )?;
                positions.push(recorded.len());
                recorded.push(c.clone());
            }
        }
    }
    Ok((entity_id, table, positions, before))
}

/// The keys and hashes of the rows the entity's last snapshot left open.
fn load_open_rows(conn: &Connection, table: &str, label: &str) -> Result<OpenRows> {
    let mut open = OpenRows::default();
    let mut stmt = conn.prepare(&format!(
        "SELECT rowid, _key, _hash FROM {} WHERE _to IS NULL",
        quote(table)
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let key = match r.get_ref(1)? {
            rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                .map_err(|e| Error::runtime(format!("store: {label}: {e}")))?,
            other => {
                return Err(Error::runtime(format!(
                    "store: {label} has a non-text _key {other:?}"
                )))
            }
        };
        open.insert(key, xxh3_64(key.as_bytes()), r.get(2)?, r.get(0)?, false);
    }
    Ok(open)
}

impl<'a> EntityWriter<'a> {
    pub(crate) fn begin(
        conn: &'a Connection,
        snapshot_id: i64,
        source: &str,
        entity: &str,
        key: &[String],
        columns: &[Column],
        patch: bool,
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
        let (entity_id, table, positions, before) =
            record_schema(conn, snapshot_id, source, entity, key, columns)?;
        // Columns new in this snapshot, as (incoming index, name): their values are filled
        // into the open row versions whose other columns did not change.
        let new: Vec<(usize, &str)> = positions
            .iter()
            .enumerate()
            .filter(|(_, p)| before > 0 && **p >= before)
            .map(|(i, _)| (i, columns[i].name.as_str()))
            .collect();
        let fill = if new.is_empty() {
            None
        } else {
            let sets: Vec<String> = new
                .iter()
                .enumerate()
                .map(|(n, (_, name))| format!("{} = ?{}", quote(name), n + 1))
                .collect();
            Some(conn.prepare(&format!(
                "UPDATE {} SET {}, _hash = ?{} WHERE rowid = ?{}",
                quote(&table),
                sets.join(", "),
                new.len() + 1,
                new.len() + 2
            ))?)
        };
        let new: Vec<usize> = new.into_iter().map(|(i, _)| i).collect();
        let open = load_open_rows(conn, &table, &label)?;
        let fresh = open.rows.is_empty();
        let open_before = open.rows.len() as i64;
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
            column_names: serde_json::to_string(
                &columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            )
            .expect("strings serialize"),
            key_names: key.to_vec(),
            key_index,
            open,
            occurrences: HashMap::default(),
            insert,
            close,
            fill,
            new,
            before,
            key_buf: String::new(),
            hash_buf: Vec::new(),
            fresh,
            patch,
            open_before,
            stats: EntityStats::default(),
        })
    }

    /// Makes room for about `rows` more keys, when a collector can tell how many rows are
    /// coming: growing the key map a row at a time costs more than the rows themselves.
    pub fn reserve(&mut self, rows: usize) {
        self.open.reserve(rows.min(50_000_000), self.fresh);
    }

    /// Records one row, its values in the order of the columns given to `begin`. `record` is
    /// the row's number in its source, for error messages.
    pub fn row(&mut self, values: &[Value], record: u64) -> Result<()> {
        debug_assert_eq!(values.len(), self.positions.len());
        let hash = row_hash(
            self.positions.iter().copied().zip(values.iter()),
            &mut self.hash_buf,
        );
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
        let key_hash = xxh3_64(self.key_buf.as_bytes());
        if self.fresh {
            // Keyless rows cannot repeat a key (occurrence numbers tell them apart).
            if !self.key_index.is_empty() {
                self.open.push_unchecked(&self.key_buf, key_hash, record);
            }
            self.stats.added += 1;
            return self.insert_version(values, hash);
        }
        match self
            .open
            .find(&self.key_buf, key_hash)
            .map(|i| &mut self.open.rows[i])
        {
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
                // Only a column new in this snapshot differs (its cells were NULL, which the
                // hash leaves out): fill it into the open version instead of copying the row.
                if let Some(fill) = &mut self.fill {
                    let before = self.before;
                    let old = row_hash(
                        self.positions
                            .iter()
                            .copied()
                            .zip(values.iter())
                            .filter(|(p, _)| *p < before),
                        &mut self.hash_buf,
                    );
                    if old == row.hash && row.rowid > 0 {
                        let n = self.new.len();
                        for (k, &i) in self.new.iter().enumerate() {
                            fill.raw_bind_parameter(k + 1, &values[i])?;
                        }
                        fill.raw_bind_parameter(n + 1, hash)?;
                        fill.raw_bind_parameter(n + 2, row.rowid)?;
                        fill.raw_execute()?;
                        row.hash = hash;
                        return Ok(());
                    }
                }
                self.close.execute((self.snapshot_id, row.rowid))?;
                row.hash = hash;
                row.rowid = 0;
                self.stats.changed += 1;
            }
            None => {
                self.open.insert(&self.key_buf, key_hash, hash, 0, true);
                self.stats.added += 1;
            }
        }
        self.insert_version(values, hash)
    }

    /// Closes the open row whose key columns are `key` (a patch's removal), if there is one;
    /// a removal of a row that is not there (a replayed removal) changes nothing.
    pub fn remove(&mut self, key: &[Value]) -> Result<()> {
        debug_assert!(self.patch, "only a patch names its removals");
        encode_key(key.iter(), &mut self.key_buf);
        let key_hash = xxh3_64(self.key_buf.as_bytes());
        let Some(i) = self.open.find(&self.key_buf, key_hash) else {
            return Ok(());
        };
        let row = &mut self.open.rows[i];
        if row.seen {
            return Err(Error::input(format!(
                "{}: key {} = {} is both given and removed in one patch",
                self.label,
                self.key_names.join(", "),
                self.key_buf.replace('\u{1f}', ", ")
            )));
        }
        row.seen = true;
        self.close.execute((self.snapshot_id, row.rowid))?;
        self.stats.removed += 1;
        Ok(())
    }

    fn insert_version(&mut self, values: &[Value], hash: i64) -> Result<()> {
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
        if let Some((record, first, key)) = self.open.first_duplicate() {
            return Err(Error::input(format!(
                "{}: record {record}: duplicate key {} = {} (first at record {first})",
                self.label,
                self.key_names.join(", "),
                key.replace('\u{1f}', ", ")
            )));
        }
        if self.patch {
            // Rows the patch did not name are as they were.
            self.stats.rows = self.open_before + self.stats.added - self.stats.removed;
        } else {
            for row in &self.open.rows {
                if !row.seen {
                    self.close.execute((self.snapshot_id, row.rowid))?;
                    self.stats.removed += 1;
                }
            }
        }
        let s = self.stats;
        self.conn.execute(
            "INSERT INTO snapshot_entities (snapshot_id, entity_id, rows, added, changed, removed, columns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            (self.snapshot_id, self.entity_id, s.rows, s.added, s.changed, s.removed, &self.column_names),
        )?;
        Ok(s)
    }
}
