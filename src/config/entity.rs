//! The entities of a source as the config writes them: a query or a file, its key, its column
//! mapping and declared types.

use super::{is_identifier, Config, SourceKind, Vars};
use crate::error::{Error, Result};
use crate::value::{ColumnType, TYPE_NAMES};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    path: Option<String>,
    query: Option<String>,
    records: Option<String>,
    #[serde(default)]
    key: Vec<String>,
    columns: Option<toml::map::Map<String, toml::Value>>,
    #[serde(default)]
    types: toml::map::Map<String, toml::Value>,
}

#[derive(Debug, Clone)]
pub struct EntityConfig {
    pub name: String,
    pub(super) path: Option<String>,
    pub(super) query: Option<String>,
    pub records: Option<String>,
    pub key: Vec<String>,
    /// Output column and where it comes from (a CSV header, a JSON path), in config order.
    pub columns: Option<Vec<(String, String)>>,
    pub types: Vec<(String, ColumnType)>,
}

pub(super) fn parse_entity(
    kind: SourceKind,
    name: &str,
    value: toml::Value,
    key: &str,
    at: &dyn Fn(&str, String) -> Error,
) -> Result<EntityConfig> {
    if !is_identifier(name) {
        return Err(at(
            key,
            "an entity name must be a letter or `_` followed by letters, digits or `_`".into(),
        ));
    }
    let raw: RawEntity = value
        .try_into()
        .map_err(|e: toml::de::Error| at(key, e.message().to_string()))?;
    match kind {
        SourceKind::Sqlite | SourceKind::Postgres | SourceKind::Mysql if raw.query.is_none() => {
            return Err(at(
                key,
                "an entity of a database source needs `query`".into(),
            ))
        }
        SourceKind::Sqlite | SourceKind::Postgres | SourceKind::Mysql if raw.path.is_some() => {
            return Err(at(
                &format!("{key}.path"),
                "an entity of a database source has a `query`, not a `path`".into(),
            ))
        }
        SourceKind::Csv | SourceKind::Json if raw.path.is_none() => {
            return Err(at(key, "a file entity needs `path`".into()))
        }
        _ => {}
    }
    if raw.records.is_some() && kind != SourceKind::Json {
        return Err(at(
            &format!("{key}.records"),
            "only json entities have `records`".into(),
        ));
    }
    let columns = match raw.columns {
        None => None,
        Some(map) => {
            if matches!(
                kind,
                SourceKind::Sqlite | SourceKind::Postgres | SourceKind::Mysql
            ) {
                return Err(at(
                    &format!("{key}.columns"),
                    "a database entity takes its columns from the query".into(),
                ));
            }
            let mut cols = Vec::new();
            for (col, from) in map {
                let ckey = format!("{key}.columns.{col}");
                check_column_name(&col).map_err(|e| at(&ckey, e))?;
                let from = from
                    .as_str()
                    .ok_or_else(|| at(&ckey, "expected a string".into()))?;
                cols.push((col, from.to_string()));
            }
            Some(cols)
        }
    };
    let mut types = Vec::new();
    for (col, ty) in raw.types {
        let tkey = format!("{key}.types.{col}");
        let ty = ty.as_str().and_then(ColumnType::parse).ok_or_else(|| {
            at(
                &tkey,
                format!("unknown type {ty}; expected one of {TYPE_NAMES}"),
            )
        })?;
        types.push((col, ty));
    }
    Ok(EntityConfig {
        name: name.to_string(),
        path: raw.path,
        query: raw.query,
        records: raw.records,
        key: raw.key,
        columns,
        types,
    })
}

/// Entity columns must be names a rule can write, and not one of the store's own.
pub fn check_column_name(name: &str) -> std::result::Result<(), String> {
    if !is_identifier(name) {
        Err(format!("`{name}` is not a usable column name (a letter or `_` followed by letters, digits or `_`); map it with `columns = {{ new_name = \"{name}\" }}`"))
    } else if ["_key", "_hash", "_from", "_to"].contains(&name.to_ascii_lowercase().as_str()) {
        Err(format!("`{name}` is reserved for the store's own bookkeeping; map it to another name with `columns`"))
    } else {
        Ok(())
    }
}

impl EntityConfig {
    /// An entity a source kind defines itself (graph, wordpress).
    pub fn builtin(name: &str, key: Vec<String>) -> EntityConfig {
        EntityConfig {
            name: name.to_string(),
            path: None,
            query: None,
            records: None,
            key,
            columns: None,
            types: Vec::new(),
        }
    }

    pub fn path(&self, source: &str, config: &Config, vars: &Vars) -> Result<Option<String>> {
        let key = format!("sources.{source}.entities.{}.path", self.name);
        self.path
            .as_ref()
            .map(|p| {
                let p = vars.expand(p, &config.file, &key)?;
                Ok(config.dir.join(p).to_string_lossy().into_owned())
            })
            .transpose()
    }

    pub fn query(&self, source: &str, config: &Config, vars: &Vars) -> Result<Option<String>> {
        let key = format!("sources.{source}.entities.{}.query", self.name);
        self.query
            .as_ref()
            .map(|q| vars.expand(q, &config.file, &key))
            .transpose()
    }

    pub fn declared_type(&self, column: &str) -> Option<ColumnType> {
        self.types
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, t)| *t)
    }
}
