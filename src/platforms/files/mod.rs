//! The file kinds, `csv` and `json`: one file (or, for json, a glob of paged files) per entity,
//! with an optional mapping of columns and declared types.

pub mod csv;
pub mod json;

use super::entity::{entity_tables, parse_columns, parse_types, EntityConfig};
use super::Context;
use crate::config::Origin;
use crate::error::Result;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    entities: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    path: String,
    #[serde(default)]
    key: Vec<String>,
    columns: Option<toml::Table>,
    #[serde(default)]
    types: toml::Table,
    records: Option<String>,
}

/// An entity read from a file.
#[derive(Debug)]
pub struct FileEntity {
    pub entity: EntityConfig,
    /// As written: `${NAME}` not expanded yet, relative to the config's folder.
    path: String,
    /// Where the record array is (json only; absent: a top-level array).
    pub records: Option<String>,
    /// Output column and where it comes from (a CSV header, a JSON path), in config order.
    pub columns: Option<Vec<(String, String)>>,
}

impl FileEntity {
    /// The entity's path, expanded and resolved against the config's folder.
    pub fn path(&self, source: &str, cx: &Context<'_>) -> Result<String> {
        let key = format!("sources.{source}.entities.{}.path", self.entity.name);
        Ok(cx.path(&self.path, &key)?.to_string_lossy().into_owned())
    }
}

/// The entities of a file source of `kind` (`records` only for json).
fn parse(table: toml::Table, key: &str, origin: &Origin, kind: &str) -> Result<Vec<FileEntity>> {
    let settings: Settings =
        origin.typed(toml::Value::Table(table), key, &format!("a {kind} source"))?;
    entity_tables(origin, key, settings.entities, |name, value, ekey| {
        let raw: RawEntity = origin.typed(value, ekey, &format!("a {kind} entity"))?;
        if raw.records.is_some() && kind != "json" {
            return Err(origin.error(
                &format!("{ekey}.records"),
                "only json entities have `records`",
            ));
        }
        Ok(FileEntity {
            entity: EntityConfig {
                name: name.to_string(),
                key: raw.key,
                types: parse_types(origin, ekey, raw.types)?,
            },
            path: raw.path,
            records: raw.records,
            columns: parse_columns(origin, ekey, raw.columns)?,
        })
    })
}

/// Expands every entity's path.
fn check_vars(entities: &[FileEntity], source: &str, cx: &Context<'_>) -> Result<()> {
    for e in entities {
        e.path(source, cx)?;
    }
    Ok(())
}
