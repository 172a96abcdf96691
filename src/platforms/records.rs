//! What the web platforms (graph, wordpress) share: an entity catalogue (names, keys, and where
//! each column is in a fetched record), the fan-out of requests, and writing fetched records as
//! one snapshot of a catalogue entity.

use super::{Declared, EntityConfig};
use crate::config::Origin;
use crate::error::{Error, Result};
use crate::store::{Column, SnapshotWriter};
use crate::value::{ColumnType, Value};
use serde_json::Value as Json;

/// A column: its name, where it is in a record (`a.b`, or `$name` for a value of the request
/// the record came from, such as the team of a channel), and its type.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub path: &'static str,
    pub ty: ColumnType,
}

#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub fields: &'static [Field],
}

pub const fn f(name: &'static str, path: &'static str, ty: ColumnType) -> Field {
    Field { name, path, ty }
}

/// A kind's entity, by name, in its catalogue.
pub fn spec<'c>(catalogue: &'c [Spec], name: &str) -> Option<&'c Spec> {
    catalogue.iter().find(|s| s.name == name)
}

impl Spec {
    pub fn columns(&self) -> Vec<Column> {
        self.fields
            .iter()
            .map(|f| Column::new(f.name, f.ty))
            .collect()
    }
}

/// The entities chosen from a catalogue, as every kind has them.
pub fn configs<'a>(chosen: &'a [(&'static Spec, EntityConfig)]) -> Vec<&'a EntityConfig> {
    chosen.iter().map(|(_, e)| e).collect()
}

/// The columns of a catalogue entity: known and typed before anything is collected.
pub fn declared(catalogue: &[Spec], entity: &str) -> Declared {
    Declared {
        columns: spec(catalogue, entity)
            .map(Spec::columns)
            .unwrap_or_default(),
        untyped: Vec::new(),
    }
}

/// The settings of a kind whose entities are its catalogue's, listed by name
/// (`entities = ["users", "channel_members"]`): each name must be in the catalogue.
pub fn listed_entities(
    origin: &Origin,
    key: &str,
    kind: &str,
    catalogue: &'static [Spec],
    entities: Option<toml::Value>,
) -> Result<Vec<(&'static Spec, EntityConfig)>> {
    let known: Vec<&str> = catalogue.iter().map(|s| s.name).collect();
    let names: Vec<&str> = match &entities {
        None => Vec::new(),
        Some(toml::Value::Array(items)) if items.iter().all(toml::Value::is_str) => {
            items.iter().filter_map(toml::Value::as_str).collect()
        }
        Some(_) => {
            return Err(origin.error(
                &format!("{key}.entities"),
                format!(
                    "a {kind} source lists its entities by name, such as entities = [\"{}\"]",
                    known[0]
                ),
            ))
        }
    };
    if names.is_empty() {
        return Err(origin.error(
            key,
            format!(
                "no entities: list them, such as entities = [\"{}\"]",
                known.join("\", \"")
            ),
        ));
    }
    names
        .iter()
        .map(|n| match spec(catalogue, n) {
            Some(s) => Ok((s, EntityConfig::predefined(s.name, s.key))),
            None => {
                let hint = match crate::text::nearest(n, known.iter().copied()) {
                    Some(m) => format!("; did you mean `{m}`?"),
                    None => String::new(),
                };
                Err(origin.error(
                    &format!("{key}.entities"),
                    format!(
                        "a {kind} source has no entity `{n}`{hint} (it has {})",
                        known.join(", ")
                    ),
                ))
            }
        })
        .collect()
}

/// A fetched record and the values of the request it came from (`$team_id` …).
#[derive(Clone)]
pub struct Record {
    pub context: Vec<(&'static str, Json)>,
    pub value: Json,
}

impl Record {
    /// Records of `values`, each with `context`.
    pub fn all(values: Vec<Json>, context: &[(&'static str, Json)]) -> Vec<Record> {
        values
            .into_iter()
            .map(|value| Record {
                context: context.to_vec(),
                value,
            })
            .collect()
    }

    fn get(&self, path: &str) -> Option<&Json> {
        if let Some(name) = path.strip_prefix('$') {
            return self
                .context
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v);
        }
        // A key such as `@odata.type` holds a dot: try the whole path first.
        let mut at = &self.value;
        if let Some(v) = at.get(path) {
            return Some(v);
        }
        for part in path.split('.') {
            at = at.get(part)?;
        }
        Some(at)
    }
}

/// Runs `fetch` for every item, `concurrency` at a time, and gathers the records (in no
/// particular order: entities are keyed).
pub async fn fan_out<I, F, Fut>(items: I, concurrency: usize, fetch: F) -> Result<Vec<Record>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Record>>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    let lists: Vec<Vec<Record>> = futures_util::stream::iter(items.into_iter().map(fetch))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}

/// Writes `records` as one snapshot of the entity `spec`.
pub fn write_records(
    out: &mut SnapshotWriter<'_>,
    source: &str,
    spec: &Spec,
    records: &[Record],
) -> Result<()> {
    let columns = spec.columns();
    let key: Vec<String> = spec.key.iter().map(|k| k.to_string()).collect();
    out.write_entity(spec.name, &key, &columns, |w| {
        w.reserve(records.len());
        let mut values = Vec::with_capacity(columns.len());
        for (n, r) in records.iter().enumerate() {
            spec.values(source, r, n as u64 + 1, &mut values)?;
            w.row(&values, n as u64 + 1)?;
        }
        Ok(())
    })
}

impl Spec {
    /// The row of record number `n` (for messages), in the entity's column order.
    pub fn values(&self, source: &str, r: &Record, n: u64, values: &mut Vec<Value>) -> Result<()> {
        values.clear();
        for f in self.fields {
            let v = r.get(f.path).unwrap_or(&Json::Null);
            let v = f.ty.from_json(v).map_err(|m| {
                Error::runtime(format!(
                    "{source}.{}: record {n}, field `{}`: {m}",
                    self.name, f.name
                ))
            })?;
            values.push(v);
        }
        Ok(())
    }
}
