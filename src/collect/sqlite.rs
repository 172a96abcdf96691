//! The `sqlite` source: one SQL query per entity against a database opened read-only.
//! Column types come from the config, else from earlier snapshots, else from the declared
//! column types of the query, else from the first non-NULL values.

use super::{check_declared_columns, column_type, known_type, Collector, Context};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::store::{Column, SnapshotWriter};
use crate::value::{ColumnType, Value};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};

/// How many rows may be held back while looking for a value that shows a column's type.
const INFER_ROWS: usize = 1000;

pub struct SqliteCollector<'a> {
    pub cx: &'a Context<'a>,
}

impl Collector for SqliteCollector<'_> {
    fn collect(&self, source: &SourceConfig, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let path = source
            .path(self.cx.config, self.cx.vars)?
            .expect("checked when the config loaded");
        if !path.is_file() {
            return Err(Error::input(format!(
                "sources.{}.path: database {} does not exist",
                source.name,
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        for entity in &source.entities {
            let key = format!("sources.{}.entities.{}.query", source.name, entity.name);
            let sql = entity
                .query(&source.name, self.cx.config, self.cx.vars)?
                .expect("checked when the config loaded");
            let query_error =
                |e: rusqlite::Error| Error::input(format!("{key}: {e} (in {})", path.display()));
            let mut stmt = conn.prepare(&sql).map_err(query_error)?;
            let label = format!("{}.{}", source.name, entity.name);
            let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
            check_declared_columns(&label, entity, &names)?;
            let recorded = out.recorded_columns(&entity.name)?;
            let decls: Vec<Option<ColumnType>> = stmt
                .columns()
                .map(|c| c.decl_type().map(ColumnType::from_decl))
                .collect();
            let mut types: Vec<Option<ColumnType>> = names
                .iter()
                .zip(&decls)
                .map(|(n, d)| known_type(entity, &recorded, n).or(*d))
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
                .map(|(n, t)| Column::new(n.clone(), column_type(entity, &recorded, n, || *t)))
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
            })?;
        }
        Ok(())
    }
}

/// Converts one result row into the entity's column types.
fn convert<'r>(
    columns: &[Column],
    label: &str,
    number: u64,
    values: &mut Vec<Value>,
    get: impl Fn(usize) -> rusqlite::Result<ValueRef<'r>>,
) -> Result<()> {
    values.clear();
    for (i, c) in columns.iter().enumerate() {
        let v = c
            .ty
            .from_sql(get(i)?)
            .map_err(|m| Error::input(format!("{label}: row {number}, field `{}`: {m}", c.name)))?;
        values.push(v);
    }
    Ok(())
}
