//! What every kind's entities share: a name, a key and declared column types; the pieces of an
//! entity table the kinds have in common (`key`, `types`, `columns`), and how a column's type is
//! decided when it is collected.

use crate::config::Origin;
use crate::error::{Error, Result};
use crate::store::Column;
use crate::text::{check_column_name, is_identifier};
use crate::value::{ColumnType, TYPE_NAMES};

/// An entity of a source, as far as every kind has one: its name, its key columns (empty:
/// keyed by content) and the types the config declares.
#[derive(Debug, Clone)]
pub struct EntityConfig {
    pub name: String,
    pub key: Vec<String>,
    pub types: Vec<(String, ColumnType)>,
}

impl EntityConfig {
    /// An entity a kind defines itself (graph, wordpress): its key is the kind's.
    pub fn predefined(name: &str, key: &[&str]) -> EntityConfig {
        EntityConfig {
            name: name.to_string(),
            key: key.iter().map(|k| k.to_string()).collect(),
            types: Vec::new(),
        }
    }

    pub fn declared_type(&self, column: &str) -> Option<ColumnType> {
        self.types
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, t)| *t)
    }

    /// Each column of `columns` as declared (text when it is not).
    pub fn declared_columns<'a>(&self, columns: impl Iterator<Item = &'a str>) -> Vec<Column> {
        columns
            .map(|c| Column::new(c, self.declared_type(c).unwrap_or(ColumnType::Text)))
            .collect()
    }

    /// The type of a column: declared in the config, else as recorded by earlier snapshots
    /// (so a column keeps its type), else what the data suggests, else text.
    pub fn column_type(
        &self,
        recorded: &[Column],
        name: &str,
        infer: impl FnOnce() -> Option<ColumnType>,
    ) -> ColumnType {
        self.known_type(recorded, name)
            .or_else(infer)
            .unwrap_or(ColumnType::Text)
    }

    /// The type the config declares for a column, else the one earlier snapshots recorded.
    pub fn known_type(&self, recorded: &[Column], name: &str) -> Option<ColumnType> {
        self.declared_type(name)
            .or_else(|| recorded.iter().find(|c| c.name == name).map(|c| c.ty))
    }

    /// Every column named in `types` or `key` must exist; a typo is named with the nearest
    /// column.
    pub fn check_declared(&self, label: &str, columns: &[String]) -> Result<()> {
        let names = self
            .types
            .iter()
            .map(|(c, _)| (c, "types"))
            .chain(self.key.iter().map(|k| (k, "key")));
        for (name, clause) in names {
            if !columns.contains(name) {
                let hint = crate::text::nearest(name, columns.iter().map(String::as_str))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_else(|| format!(" (columns: {})", columns.join(", ")));
                return Err(Error::input(format!(
                    "{label}: `{clause}` names column `{name}`, which the data does not have{hint}"
                )));
            }
        }
        Ok(())
    }
}

/// The entity tables of a source (`[sources.NAME.entities.ENTITY]`), each read into `T` by
/// `read`, with the entity's name checked. At least one is needed.
pub fn entity_tables<T>(
    origin: &Origin,
    key: &str,
    entities: toml::Table,
    mut read: impl FnMut(&str, toml::Value, &str) -> Result<T>,
) -> Result<Vec<T>> {
    if entities.is_empty() {
        return Err(origin.error(
            key,
            "no entities: add at least one [sources.NAME.entities.ENTITY] table",
        ));
    }
    entities
        .into_iter()
        .map(|(name, value)| {
            let ekey = format!("{key}.entities.{name}");
            if !is_identifier(&name) {
                return Err(origin.error(
                    &ekey,
                    "an entity name must be a letter or `_` followed by letters, digits or `_`",
                ));
            }
            read(&name, value, &ekey)
        })
        .collect()
}

/// `types = { column = "integer", … }`.
pub fn parse_types(
    origin: &Origin,
    key: &str,
    types: toml::Table,
) -> Result<Vec<(String, ColumnType)>> {
    types
        .into_iter()
        .map(|(col, ty)| {
            let parsed = ty.as_str().and_then(ColumnType::parse).ok_or_else(|| {
                origin.error(
                    &format!("{key}.types.{col}"),
                    format!("unknown type {ty}; expected one of {TYPE_NAMES}"),
                )
            })?;
            Ok((col, parsed))
        })
        .collect()
}

/// `columns = { name = "where it comes from", … }`: output column and its origin (a CSV
/// header, a JSON path), in config order.
pub fn parse_columns(
    origin: &Origin,
    key: &str,
    columns: Option<toml::Table>,
) -> Result<Option<Vec<(String, String)>>> {
    let Some(map) = columns else { return Ok(None) };
    map.into_iter()
        .map(|(col, from)| {
            let ckey = format!("{key}.columns.{col}");
            check_column_name(&col).map_err(|e| origin.error(&ckey, e))?;
            let from = from
                .as_str()
                .ok_or_else(|| origin.error(&ckey, "expected a string"))?;
            Ok((col, from.to_string()))
        })
        .collect::<Result<_>>()
        .map(Some)
}
