//! Collectors: each source kind reads its entities and writes them through the store's
//! `SnapshotWriter`. `collect_run` runs the sources of one run, each in its own savepoint, so a
//! failing source leaves a failed snapshot and no rows while the others complete.

mod csv;
mod graph;
mod http;
mod json;
mod platform;
mod sqldb;
mod sqlite;
mod wordpress;

pub use platform::{builtin_columns, builtin_entities, builtin_key};

use crate::config::{Config, EntityConfig, SourceConfig, SourceKind, Vars};
use crate::error::{Error, Result};
use crate::store::{Column, SnapshotWriter, SourceOutcome, Store};
use crate::time::Epoch;
use crate::value::ColumnType;

/// A kind of source that can snapshot its entities.
pub trait Collector {
    /// Writes every entity of `source` into `out`. Any error fails the whole snapshot.
    fn collect(&self, source: &SourceConfig, out: &mut SnapshotWriter<'_>) -> Result<()>;
}

/// What a collector needs besides the source's own config: the config file (for relative
/// paths and error messages) and the variables for `${NAME}`.
pub struct Context<'a> {
    pub config: &'a Config,
    pub vars: &'a Vars,
}

fn collector_for<'a>(kind: SourceKind, cx: &'a Context<'a>) -> Box<dyn Collector + 'a> {
    match kind {
        SourceKind::Sqlite => Box::new(sqlite::SqliteCollector { cx }),
        SourceKind::Csv => Box::new(csv::CsvCollector { cx }),
        SourceKind::Json => Box::new(json::JsonCollector { cx }),
        SourceKind::Graph => Box::new(graph::GraphCollector { cx }),
        SourceKind::Wordpress => Box::new(wordpress::WordpressCollector { cx }),
        SourceKind::Postgres | SourceKind::Mysql => Box::new(sqldb::SqlDbCollector { cx }),
    }
}

#[derive(Debug)]
pub struct RunReport {
    pub run_id: i64,
    pub taken_at: String,
    pub outcomes: Vec<SourceOutcome>,
}

impl RunReport {
    /// The error of the first failed source, the one that decides the exit code.
    pub fn first_failure(&self) -> Option<&Error> {
        self.outcomes.iter().find_map(|o| o.result.as_ref().err())
    }
}

/// Collects `sources` (all of the config's when empty) as one run at `taken_at` (default now).
pub fn collect_run(
    store: &mut Store,
    config: &Config,
    vars: &Vars,
    sources: &[String],
    taken_at: Option<Epoch>,
) -> Result<RunReport> {
    for name in sources {
        config.source(name)?; // an unknown name is an error that lists the known ones
    }
    // In config order, each once however often it was named.
    let selected: Vec<&SourceConfig> = config
        .sources
        .iter()
        .filter(|s| sources.is_empty() || sources.contains(&s.name))
        .collect();
    if selected.is_empty() {
        return Err(Error::input(format!(
            "{}: no sources to collect",
            config.file.display()
        )));
    }
    // A variable the config needs but was not given is a mistake in the command, not a
    // collection that failed: say so before a run is recorded.
    for source in &selected {
        source.path(config, vars)?;
        let r = &source.remote;
        for (name, value) in [
            ("tenant", &r.tenant),
            ("client_id", &r.client_id),
            ("base_url", &r.base_url),
            ("token_url", &r.token_url),
            ("url", &r.url),
            ("username", &r.username),
        ] {
            if let Some(v) = value {
                source.expand(config, vars, name, v)?;
            }
        }
        for entity in &source.entities {
            entity.path(&source.name, config, vars)?;
            entity.query(&source.name, config, vars)?;
        }
    }
    let cx = Context { config, vars };
    let mut run = store.begin_run(taken_at)?;
    let mut outcomes = Vec::new();
    for source in selected {
        let collector = collector_for(source.kind, &cx);
        outcomes.push(run.collect_source(&source.name, |out| collector.collect(source, out))?);
    }
    let taken_at = run.taken_at().to_string();
    let run_id = run.commit()?;
    Ok(RunReport {
        run_id,
        taken_at,
        outcomes,
    })
}

/// The type of a column: declared in the config, else as recorded by earlier snapshots (so a
/// column keeps its type), else what the data suggests, else text.
fn column_type(
    entity: &EntityConfig,
    recorded: &[Column],
    name: &str,
    infer: impl FnOnce() -> Option<ColumnType>,
) -> ColumnType {
    known_type(entity, recorded, name)
        .or_else(infer)
        .unwrap_or(ColumnType::Text)
}

/// The type the config declares for a column, else the one earlier snapshots recorded.
fn known_type(entity: &EntityConfig, recorded: &[Column], name: &str) -> Option<ColumnType> {
    entity
        .declared_type(name)
        .or_else(|| recorded.iter().find(|c| c.name == name).map(|c| c.ty))
}

/// Every column named in `types` or `key` must exist; a typo is named with the nearest column.
fn check_declared_columns(label: &str, entity: &EntityConfig, columns: &[String]) -> Result<()> {
    let names = entity
        .types
        .iter()
        .map(|(c, _)| (c, "types"))
        .chain(entity.key.iter().map(|k| (k, "key")));
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
