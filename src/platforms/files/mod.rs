//! The file kinds, `csv` and `json`: one file (or, for json, a glob of paged files) per entity,
//! with an optional mapping of columns and declared types.

pub mod csv;
pub mod json;

use super::entity::{entity_tables, parse_columns, parse_types, EntityConfig};
use super::{Context, Declared, Kind, Reader};
use crate::config::Origin;
use crate::error::Result;
use crate::store::SnapshotWriter;
use serde::Deserialize;

pub const CSV: Kind = Kind {
    name: "csv",
    parse: |table, key, origin: &Origin| parse(table, key, origin, Format::Csv),
};

pub const JSON: Kind = Kind {
    name: "json",
    parse: |table, key, origin: &Origin| parse(table, key, origin, Format::Json),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// A csv or json source: its entities, each a file (or a glob of pages).
#[derive(Debug)]
pub struct FileReader {
    format: Format,
    entities: Vec<FileEntity>,
}

impl Reader for FileReader {
    fn entities(&self) -> Vec<&EntityConfig> {
        self.entities.iter().map(|e| &e.entity).collect()
    }

    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()> {
        for e in &self.entities {
            e.path(source, cx)?;
        }
        Ok(())
    }

    fn declared(&self, source: &str, entity: &str, cx: &Context<'_>) -> Declared {
        match self.entities.iter().find(|e| e.entity.name == entity) {
            None => Declared::default(),
            Some(fe) if self.format == Format::Csv => csv::declared(fe, source, cx),
            Some(fe) => json::declared(fe),
        }
    }

    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()> {
        for fe in &self.entities {
            match self.format {
                Format::Csv => csv::collect_entity(fe, source, cx, out)?,
                Format::Json => json::collect_entity(fe, source, cx, out)?,
            }
        }
        Ok(())
    }
}

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

/// A file source of `format` (`records` only for json).
fn parse(
    table: toml::Table,
    key: &str,
    origin: &Origin,
    format: Format,
) -> Result<Box<dyn Reader>> {
    let kind = match format {
        Format::Csv => "csv",
        Format::Json => "json",
    };
    let settings: Settings =
        origin.typed(toml::Value::Table(table), key, &format!("a {kind} source"))?;
    let entities = entity_tables(origin, key, settings.entities, |name, value, ekey| {
        let raw: RawEntity = origin.typed(value, ekey, &format!("a {kind} entity"))?;
        if raw.records.is_some() && format != Format::Json {
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
    })?;
    Ok(Box::new(FileReader { format, entities }))
}
