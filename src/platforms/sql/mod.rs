//! The SQL kinds: `sqlite` (a database file opened read-only) and `postgres` / `mysql` (a
//! server). Each entity is one query.

pub mod server;
pub mod sqlite;
pub mod write;

use super::entity::{entity_tables, parse_types, EntityConfig};
use super::Context;
use crate::config::Origin;
use crate::error::{Error, Result};
use crate::store::Column;
use crate::value::Value;
use rusqlite::types::ValueRef;
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

/// Converts one result row into the entity's column types.
pub(super) fn convert<'r>(
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
        if let Value::Text(t) = &v {
            if looks_like_password_hash(t) {
                return Err(Error::input(format!(
                    "{label}: row {number}, field `{}` holds what looks like a password hash; driftwatch never stores credentials: leave it out of the query",
                    c.name
                )));
            }
        }
        values.push(v);
    }
    Ok(())
}

/// Whether `text` has the shape of a stored password hash (bcrypt `$2y$`, phpass `$P$`,
/// argon2, crypt(3) `$1$ $5$ $6$`, WordPress `$wp$`, Django `pbkdf2_sha256$…`): such a value
/// is refused whatever its column is called (`CONVERT(passhash USING utf8mb4) AS h`).
pub(super) fn looks_like_password_hash(text: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "$2a$",
        "$2b$",
        "$2x$",
        "$2y$",
        "$P$",
        "$H$",
        "$argon2",
        "$wp$",
        "$1$",
        "$5$",
        "$6$",
        "$y$",
        "pbkdf2_sha1$",
        "pbkdf2_sha256$",
        "argon2$",
        "bcrypt$",
        "bcrypt_sha256$",
        "scrypt$",
    ];
    text.len() >= 20 && PREFIXES.iter().any(|p| text.starts_with(p))
}
