//! Reading the store: runs and snapshots, recorded entity schemas, which snapshot serves an
//! entity "as of" a run, and the rows of an entity at a snapshot.

use super::entity::{quote, visible_at, Column};
use crate::error::{Error, Result};
use crate::value::{ColumnType, Value};
use rusqlite::{Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub struct EntitySchema {
    pub id: i64,
    pub source: String,
    pub name: String,
    pub table: String,
    pub key: Vec<String>,
    pub columns: Vec<Column>,
    /// The snapshot each column first appeared in, in column order. A column's values are
    /// filled into the row versions open when it appeared (not copied into new versions), so a
    /// read as of an earlier snapshot shows it as NULL ([`EntitySchema::select`]).
    pub since: Vec<i64>,
}

impl EntitySchema {
    pub fn label(&self) -> String {
        format!("{}.{}", self.source, self.name)
    }

    /// What to say of a column `name` the entity does not have: the nearest one it has, or
    /// the ones it has.
    pub fn column_hint(&self, name: &str) -> String {
        let names = || self.columns.iter().map(|c| c.name.as_str());
        match crate::text::nearest(name, names()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!(
                "{} has {}",
                self.label(),
                names().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The columns as a read at snapshot `at` (a SQL expression or parameter) sees them,
    /// qualified with `q` (`"a".` or empty): NULL before a column appeared.
    pub fn select(&self, q: &str, at: &str) -> Vec<String> {
        self.columns
            .iter()
            .zip(&self.since)
            .map(|(c, since)| {
                let col = format!("{q}{}", quote(&c.name));
                // Columns of the first snapshot need no test.
                if self.since.first().is_none_or(|first| since <= first) {
                    col
                } else {
                    format!(
                        "CASE WHEN {at} >= {since} THEN {col} END AS {}",
                        quote(&c.name)
                    )
                }
            })
            .collect()
    }
}

/// The columns with the snapshot each first appeared in.
fn load_columns_since(conn: &Connection, entity_id: i64) -> Result<Vec<(Column, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, type, since_snapshot FROM entity_columns WHERE entity_id = ?1 ORDER BY position",
    )?;
    let cols = stmt
        .query_map([entity_id], |r| {
            let ty: String = r.get(1)?;
            Ok((
                Column::new(
                    r.get::<_, String>(0)?,
                    ColumnType::parse(&ty).unwrap_or(ColumnType::Text),
                ),
                r.get(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cols)
}

/// The columns `schema_from_row` reads.
const SELECT_ENTITIES: &str = "SELECT id, source, name, table_name, key_columns FROM entities";

fn schema_from_row(conn: &Connection, r: &rusqlite::Row<'_>) -> Result<EntitySchema> {
    let id: i64 = r.get(0)?;
    let key_json: String = r.get(4)?;
    let (columns, since) = load_columns_since(conn, id)?.into_iter().unzip();
    Ok(EntitySchema {
        id,
        source: r.get(1)?,
        name: r.get(2)?,
        table: r.get(3)?,
        key: serde_json::from_str(&key_json)
            .map_err(|e| Error::runtime(format!("store: bad key list {key_json:?}: {e}")))?,
        columns,
        since,
    })
}

pub(crate) fn entity_schema(
    conn: &Connection,
    source: &str,
    name: &str,
) -> Result<Option<EntitySchema>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_ENTITIES} WHERE source = ?1 AND name = ?2"
    ))?;
    let mut rows = stmt.query((source, name))?;
    match rows.next()? {
        Some(r) => Ok(Some(schema_from_row(conn, r)?)),
        None => Ok(None),
    }
}

/// The latest run, as (id, taken_at).
pub(crate) fn latest_run(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, taken_at FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A run as `snapshots` lists it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: i64,
    pub taken_at: String,
    pub snapshots: Vec<SnapshotInfo>,
}

#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub id: i64,
    pub source: String,
    pub status: String,
    pub error: Option<String>,
    pub rows: i64,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
}

/// The snapshot that serves a source (or one of its entities) at a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRef {
    pub id: i64,
    pub run_id: i64,
}

impl super::Store {
    pub fn entity(&self, source: &str, name: &str) -> Result<Option<EntitySchema>> {
        entity_schema(&self.conn, source, name)
    }

    /// Every recorded entity, by source and name.
    pub fn entities(&self) -> Result<Vec<EntitySchema>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_ENTITIES} ORDER BY source, name"))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(schema_from_row(&self.conn, r)?);
        }
        Ok(out)
    }

    /// The entity named `SOURCE.ENTITY`, or an error that lists what there is.
    pub fn entity_by_label(&self, label: &str) -> Result<EntitySchema> {
        let (source, name) = label.split_once('.').ok_or_else(|| {
            Error::input(format!(
                "`{label}`: expected SOURCE.ENTITY, such as ssot.members"
            ))
        })?;
        if let Some(e) = self.entity(source, name)? {
            return Ok(e);
        }
        let known: Vec<String> = self.entities()?.iter().map(EntitySchema::label).collect();
        let hint = match crate::text::nearest(label, known.iter().map(String::as_str)) {
            Some(n) => format!("; did you mean `{n}`?"),
            None if known.is_empty() => "; the store holds no entities yet".to_string(),
            None => format!(" (entities: {})", known.join(", ")),
        };
        Err(Error::input(format!(
            "no entity `{label}` in the store{hint}"
        )))
    }

    pub fn runs(&self) -> Result<Vec<RunInfo>> {
        let mut runs: Vec<RunInfo> = self
            .conn
            .prepare("SELECT id, taken_at FROM runs ORDER BY id")?
            .query_map([], |r| {
                Ok(RunInfo {
                    id: r.get(0)?,
                    taken_at: r.get(1)?,
                    snapshots: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT s.run_id, s.id, s.source, s.status, s.error,
                    coalesce(sum(e.rows), 0), coalesce(sum(e.added), 0),
                    coalesce(sum(e.changed), 0), coalesce(sum(e.removed), 0)
             FROM snapshots s LEFT JOIN snapshot_entities e ON e.snapshot_id = s.id
             GROUP BY s.id ORDER BY s.run_id, s.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let run_id: i64 = r.get(0)?;
            let info = SnapshotInfo {
                id: r.get(1)?,
                source: r.get(2)?,
                status: r.get(3)?,
                error: r.get(4)?,
                rows: r.get(5)?,
                added: r.get(6)?,
                changed: r.get(7)?,
                removed: r.get(8)?,
            };
            // Both lists are in run order.
            if let Ok(i) = runs.binary_search_by_key(&run_id, |x| x.id) {
                runs[i].snapshots.push(info);
            }
        }
        Ok(runs)
    }

    /// Resolves a RUN argument: a run id, `latest`, or an ISO date/time meaning the latest run
    /// at or before it. Returns the run id and its time.
    pub fn resolve_run(&self, spec: &str) -> Result<(i64, String)> {
        let spec = spec.trim();
        let found: Option<(i64, String)> = if spec.eq_ignore_ascii_case("latest") {
            latest_run(&self.conn)?
        } else if let Ok(id) = spec.parse::<i64>() {
            self.conn
                .query_row("SELECT id, taken_at FROM runs WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
        } else if let Some(t) = crate::time::parse(spec) {
            let mut at = crate::time::format(t);
            if spec.len() == 10 {
                // A bare date means the whole of that day.
                at = crate::time::format(t + 86_399);
            }
            self.conn
                .query_row(
                    "SELECT id, taken_at FROM runs WHERE taken_at <= ?1 ORDER BY id DESC LIMIT 1",
                    [&at],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
        } else {
            return Err(Error::input(format!(
                "run `{spec}`: expected a run id, `latest`, or an ISO date/time"
            )));
        };
        found.ok_or_else(|| {
            let count: i64 = self
                .conn
                .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
                .unwrap_or(0);
            if count == 0 {
                Error::input(format!(
                    "run `{spec}`: the store has no runs yet; run `driftwatch collect` first"
                ))
            } else {
                Error::input(format!(
                    "run `{spec}`: no such run (see `driftwatch snapshots`)"
                ))
            }
        })
    }

    /// The latest complete snapshot at or before `run_id` that collected `entity`.
    pub fn snapshot_for(&self, entity: &EntitySchema, run_id: i64) -> Result<Option<SnapshotRef>> {
        Ok(self
            .conn
            .query_row(
                "SELECT s.id, s.run_id FROM snapshots s
                 JOIN snapshot_entities se ON se.snapshot_id = s.id AND se.entity_id = ?1
                 WHERE s.source = ?2 AND s.status = 'complete' AND s.run_id <= ?3
                 ORDER BY s.run_id DESC LIMIT 1",
                (entity.id, &entity.source, run_id),
                |r| {
                    Ok(SnapshotRef {
                        id: r.get(0)?,
                        run_id: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// The columns a snapshot of `entity` collected, or None when the store did not record
    /// them (snapshots older than that record: they had every recorded column).
    pub fn snapshot_columns(
        &self,
        entity: &EntitySchema,
        snapshot: i64,
    ) -> Result<Option<Vec<String>>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT columns FROM snapshot_entities WHERE snapshot_id = ?1 AND entity_id = ?2",
                (snapshot, entity.id),
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| Error::runtime(format!("store: bad column list {j:?}: {e}")))
        })
        .transpose()
    }

    /// Calls `each` with every row of `entity` visible at `snapshot`, in key order (content
    /// order for entities without a key), values in the entity's column order.
    pub fn read_rows(
        &self,
        entity: &EntitySchema,
        snapshot: i64,
        mut each: impl FnMut(&[Value]) -> Result<()>,
    ) -> Result<()> {
        let cols: Vec<String> = entity.select("", "?1");
        let order: Vec<String> = if entity.key.is_empty() {
            entity.columns.iter().map(|c| quote(&c.name)).collect()
        } else {
            entity.key.iter().map(|k| quote(k)).collect()
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {}",
            cols.join(", "),
            quote(&entity.table),
            visible_at("?1"),
            order.join(", ")
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([snapshot])?;
        let mut buf = Vec::with_capacity(cols.len());
        while let Some(r) = rows.next()? {
            buf.clear();
            for i in 0..cols.len() {
                buf.push(Value::from_sql(r.get_ref(i)?));
            }
            each(&buf)?;
        }
        Ok(())
    }

    /// Creates a temporary view `SOURCE_ENTITY` of every entity as of `run_id`, for ad-hoc SQL
    /// (the demo's status check).
    pub fn create_views(&self, run_id: i64) -> Result<()> {
        for e in self.entities()? {
            let view = format!("{}_{}", e.source, e.name);
            self.conn
                .execute_batch(&format!("DROP VIEW IF EXISTS temp.{}", quote(&view)))?;
            // The snapshot id is the store's own integer; a view cannot take parameters.
            let snap = self.snapshot_for(&e, run_id)?.map_or(0, |s| s.id);
            let visible = if snap > 0 {
                visible_at(&snap.to_string())
            } else {
                "0".to_string()
            };
            let cols: Vec<String> = e.select("", &snap.to_string());
            self.conn.execute_batch(&format!(
                "CREATE TEMP VIEW {} AS SELECT {} FROM main.{} WHERE {visible}",
                quote(&view),
                cols.join(", "),
                quote(&e.table)
            ))?;
        }
        Ok(())
    }
}
