//! The `sqlite` source: one SQL query per entity against a database opened read-only.
//! Column types come from the config, else from earlier snapshots, else from the declared
//! column types of the query, else from the first non-NULL values.

use super::{convert, QueryEntity};
use crate::config::Origin;
use crate::error::{Error, Result};
use crate::platforms::{Context, Declared, EntityConfig, Kind, Reader};
use crate::store::{Column, SnapshotWriter};
use crate::value::ColumnType;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;
use std::path::PathBuf;

/// How many rows may be held back while looking for a value that shows a column's type.
const INFER_ROWS: usize = 1000;

pub const KIND: Kind = Kind {
    name: "sqlite",
    parse: |table, key, origin: &Origin| {
        let s: Settings = origin.typed(toml::Value::Table(table), key, "a sqlite source")?;
        Ok(Box::new(SqliteReader {
            path: s.path,
            entities: super::parse_entities(origin, key, s.entities)?,
            write: s
                .write
                .map(|w| super::write::parse(w, &format!("{key}.write"), origin, true))
                .transpose()?,
        }))
    },
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: String,
    #[serde(default)]
    entities: toml::Table,
    write: Option<toml::Value>,
}

#[derive(Debug)]
pub struct SqliteReader {
    /// As written: `${NAME}` not expanded yet, relative to the config's folder.
    path: String,
    entities: Vec<QueryEntity>,
    /// `[sources.NAME.write]`: this source may be written (its own file, or `path`).
    write: Option<super::write::Credentials>,
}

impl SqliteReader {
    fn path(&self, source: &str, cx: &Context<'_>) -> Result<PathBuf> {
        cx.path(&self.path, &format!("sources.{source}.path"))
    }

    /// The database, read-only; a missing file is named.
    fn open(&self, source: &str, cx: &Context<'_>) -> Result<(PathBuf, Connection)> {
        let path = self.path(source, cx)?;
        if !path.is_file() {
            return Err(Error::input(format!(
                "sources.{source}.path: database {} does not exist",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        Ok((path, conn))
    }
}

impl Reader for SqliteReader {
    fn entities(&self) -> Vec<&EntityConfig> {
        super::entities(&self.entities)
    }

    fn database_file(&self, source: &str, cx: &Context<'_>) -> Option<PathBuf> {
        self.path(source, cx).ok()
    }

    fn verbs(&self) -> &'static [crate::platforms::write::Verb] {
        super::write::VERBS
    }

    fn writable(&self) -> bool {
        self.write.is_some()
    }

    fn writer(
        &self,
        source: &str,
        cx: &Context<'_>,
    ) -> Result<Box<dyn crate::platforms::write::Writer>> {
        // A source without a write table is never written, whatever a plan file says.
        let w = self
            .write
            .as_ref()
            .ok_or_else(|| crate::platforms::write::not_writable(source))?;
        let path = match w.path.as_deref() {
            Some(p) => cx.path(p, &format!("sources.{source}.write.path"))?,
            None => self.path(source, cx)?,
        };
        Ok(super::write::writer(super::write::Target::Sqlite(path)))
    }

    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()> {
        self.path(source, cx)?;
        for e in &self.entities {
            e.query(source, cx)?;
        }
        Ok(())
    }

    /// The query's columns, typed as declared, else as the database declares them.
    fn declared(&self, source: &str, entity: &str, cx: &Context<'_>) -> Declared {
        let Some(qe) = self.entities.iter().find(|e| e.entity.name == entity) else {
            return Declared::default();
        };
        let columns = (|| {
            let (_, conn) = self.open(source, cx).ok()?;
            let stmt = conn.prepare(&qe.query(source, cx).ok()?).ok()?;
            let columns = stmt.columns().map(|c| {
                let ty = qe.entity.declared_type(c.name()).unwrap_or_else(|| {
                    c.decl_type()
                        .map_or(ColumnType::Text, ColumnType::from_decl)
                });
                Column::new(c.name(), ty)
            });
            Some(columns.collect())
        })();
        Declared {
            columns: columns.unwrap_or_default(),
            untyped: Vec::new(),
        }
    }

    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let (path, conn) = self.open(source, cx)?;
        for qe in &self.entities {
            collect_entity(&conn, &path, qe, source, cx, out)?;
        }
        Ok(())
    }
}

fn collect_entity(
    conn: &Connection,
    path: &std::path::Path,
    qe: &QueryEntity,
    source: &str,
    cx: &Context<'_>,
    out: &mut SnapshotWriter<'_>,
) -> Result<()> {
    let entity = &qe.entity;
    let key = format!("sources.{source}.entities.{}.query", entity.name);
    let sql = qe.query(source, cx)?;
    let query_error =
        |e: rusqlite::Error| Error::input(format!("{key}: {e} (in {})", path.display()));
    let mut stmt = conn.prepare(&sql).map_err(query_error)?;
    let label = format!("{source}.{}", entity.name);
    let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
    entity.check_declared(&label, &names)?;
    let recorded = out.recorded_columns(&entity.name)?;
    let decls: Vec<Option<ColumnType>> = stmt
        .columns()
        .map(|c| c.decl_type().map(ColumnType::from_decl))
        .collect();
    let mut types: Vec<Option<ColumnType>> = names
        .iter()
        .zip(&decls)
        .map(|(n, d)| entity.known_type(&recorded, n).or(*d))
        .collect();
    let width = names.len();
    let mut rows = stmt.query([]).map_err(query_error)?;
    let mut held: Vec<Vec<SqlValue>> = Vec::new();
    let mut exhausted = false;
    while types.iter().any(Option::is_none) && held.len() < INFER_ROWS {
        let Some(r) = rows.next().map_err(query_error)? else {
            exhausted = true;
            break;
        };
        let row = (0..width)
            .map(|i| r.get::<_, SqlValue>(i))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (t, v) in types.iter_mut().zip(&row) {
            if t.is_none() {
                *t = match v {
                    SqlValue::Integer(_) => Some(ColumnType::Integer),
                    SqlValue::Real(_) => Some(ColumnType::Real),
                    SqlValue::Text(_) | SqlValue::Blob(_) => Some(ColumnType::Text),
                    SqlValue::Null => None,
                };
            }
        }
        held.push(row);
    }
    let columns: Vec<Column> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| Column::new(n.clone(), entity.column_type(&recorded, n, || *t)))
        .collect();
    out.write_entity(&entity.name, &entity.key, &columns, |sink| {
        let mut values = Vec::with_capacity(width);
        let mut number = 0u64;
        for row in &held {
            number += 1;
            convert(&columns, &label, number, &mut values, |i| {
                Ok(ValueRef::from(&row[i]))
            })?;
            sink.row(&values, number)?;
        }
        if !exhausted {
            while let Some(r) = rows.next().map_err(query_error)? {
                number += 1;
                convert(&columns, &label, number, &mut values, |i| r.get_ref(i))?;
                sink.row(&values, number)?;
            }
        }
        Ok(())
    })
}
