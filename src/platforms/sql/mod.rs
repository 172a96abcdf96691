//! The SQL kinds: `sqlite` (a database file opened read-only) and `postgres` / `mysql` (a
//! server). Each entity is one query.

pub mod server;
pub mod sqlite;

use super::entity::{entity_tables, parse_types, EntityConfig};
use super::Context;
use crate::config::Origin;
use crate::error::Result;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    query: String,
    #[serde(default)]
    key: Vec<String>,
    #[serde(default)]
    types: toml::Table,
}

/// An entity read by a query.
#[derive(Debug)]
pub struct QueryEntity {
    pub entity: EntityConfig,
    /// As written: `${NAME}` not expanded yet.
    query: String,
}

impl QueryEntity {
    /// The query with `${NAME}` expanded.
    pub fn query(&self, source: &str, cx: &Context<'_>) -> Result<String> {
        let key = format!("sources.{source}.entities.{}.query", self.entity.name);
        cx.expand(&self.query, &key)
    }
}

/// The `[sources.NAME.entities.*]` tables of a database source.
fn parse_entities(origin: &Origin, key: &str, entities: toml::Table) -> Result<Vec<QueryEntity>> {
    entity_tables(origin, key, entities, |name, value, ekey| {
        let raw: RawEntity = origin.typed(value, ekey, "an entity of a database source")?;
        Ok(QueryEntity {
            entity: EntityConfig {
                name: name.to_string(),
                key: raw.key,
                types: parse_types(origin, ekey, raw.types)?,
            },
            query: raw.query,
        })
    })
}

fn entities(list: &[QueryEntity]) -> Vec<&EntityConfig> {
    list.iter().map(|e| &e.entity).collect()
}
