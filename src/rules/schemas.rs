//! The entity schemas rules are checked against: the store's as of a run, or, before
//! anything is collected, what the config declares (a `columns` mapping, the columns of a
//! SQLite query, the header of a CSV file).

use super::ast::Binding;
use super::diag::Diagnostic;
use crate::config::{Config, EntityConfig, SourceConfig, SourceKind, Vars};
use crate::store::{Column, EntitySchema, Store};
use crate::value::ColumnType;

/// The entity schemas rules are checked against: the store's, or the config's declared ones.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    pub entities: Vec<EntitySchema>,
    /// Columns an entity had once but not in the snapshot that serves the run: by label.
    pub dropped: Vec<(String, Vec<String>)>,
    /// Columns whose type is not known before they are collected (JSON values without a
    /// declared type): by label. Their fields check as any type.
    pub untyped: Vec<(String, String)>,
}

impl Schemas {
    pub fn find(&self, source: &str, entity: &str) -> Option<&EntitySchema> {
        self.entities
            .iter()
            .find(|e| e.source == source && e.name == entity)
    }

    /// The schema a binding names, or a diagnostic at the misspelt part.
    pub fn resolve(&self, b: &Binding) -> Result<&EntitySchema, Diagnostic> {
        if let Some(e) = self.find(&b.source.name, &b.entity.name) {
            return Ok(e);
        }
        let in_source: Vec<&str> = self
            .entities
            .iter()
            .filter(|e| e.source == b.source.name)
            .map(|e| e.name.as_str())
            .collect();
        if in_source.is_empty() {
            let mut sources: Vec<&str> = self.entities.iter().map(|e| e.source.as_str()).collect();
            sources.dedup();
            let hint = match crate::text::nearest(&b.source.name, sources.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if sources.is_empty() => "nothing is collected yet".to_string(),
                None => format!("sources: {}", sources.join(", ")),
            };
            return Err(
                Diagnostic::new(format!("unknown source `{}`", b.source), b.source.span).hint(hint),
            );
        }
        let hint = match crate::text::nearest(&b.entity.name, in_source.iter().copied()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("{} has {}", b.source, in_source.join(", ")),
        };
        Err(Diagnostic::new(
            format!("unknown entity `{}` in source `{}`", b.entity, b.source),
            b.entity.span,
        )
        .hint(hint))
    }
}

impl Schemas {
    /// The entities as of run `run`: each with the columns its serving snapshot collected.
    /// (The store keeps every column an entity ever had; a rule that names one the source no
    /// longer has must fail, not read NULLs.)
    pub fn at_run(store: &Store, run: i64) -> crate::error::Result<Schemas> {
        let mut entities = store.entities()?;
        let mut dropped = Vec::new();
        for e in &mut entities {
            let Some(snap) = store.snapshot_for(e, run)? else {
                continue;
            };
            if let Some(names) = store.snapshot_columns(e, snap.id)? {
                let (kept, gone): (Vec<_>, Vec<_>) =
                    e.columns.drain(..).partition(|c| names.contains(&c.name));
                e.columns = kept;
                if !gone.is_empty() {
                    dropped.push((e.label(), gone.into_iter().map(|c| c.name).collect()));
                }
            }
        }
        Ok(Schemas {
            entities,
            dropped,
            untyped: Vec::new(),
        })
    }

    /// Adds the entities `config` declares that the store has not collected yet, so that a rule
    /// naming one is told it is not collected rather than that it does not exist. Only those
    /// entities' sources are opened (a SQLite query prepared, a CSV header read).
    pub fn with_declared(mut self, config: Option<&Config>) -> Schemas {
        let Some(config) = config else {
            return self;
        };
        for source in &config.sources {
            for e in &source.entities {
                if self.find(&source.name, &e.name).is_none() {
                    self.add_declared(config, source, e);
                }
            }
        }
        self
    }

    /// Whether the type of `entity`'s `column` is unknown until it is collected.
    pub fn is_untyped(&self, entity: &EntitySchema, column: &str) -> bool {
        let label = entity.label();
        self.untyped.iter().any(|(l, c)| *l == label && c == column)
    }

    /// Whether `entity` had `column` once but no longer has it.
    pub fn was_dropped(&self, entity: &EntitySchema, column: &str) -> bool {
        let label = entity.label();
        self.dropped
            .iter()
            .any(|(l, cols)| *l == label && cols.iter().any(|c| c == column))
    }

    /// What the config says of each entity's columns. An entity whose columns cannot be known
    /// without collecting it (a JSON source without `columns`, a server database, a file named
    /// by an unset variable) has none listed, and its fields are not checked.
    pub fn from_config(config: &Config) -> Schemas {
        Schemas::default().with_declared(Some(config))
    }

    /// Adds one declared entity, with the columns the config (or its source) shows.
    fn add_declared(&mut self, config: &Config, source: &SourceConfig, e: &EntityConfig) {
        let vars = Vars::default();
        let typed =
            |name: &str| Column::new(name, e.declared_type(name).unwrap_or(ColumnType::Text));
        let columns: Vec<Column> = match (&e.columns, source.kind) {
            (Some(cols), _) => cols.iter().map(|(out, _)| typed(out)).collect(),
            (None, SourceKind::Sqlite) => sqlite_columns(config, source, e, &vars)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, decl)| {
                    let ty = e.declared_type(&name).unwrap_or_else(|| {
                        decl.map_or(ColumnType::Text, |d| ColumnType::from_decl(&d))
                    });
                    Column::new(name, ty)
                })
                .collect(),
            (None, SourceKind::Csv) => csv_header(config, &source.name, e, &vars)
                .unwrap_or_default()
                .iter()
                .map(|h| typed(h))
                .collect(),
            (None, SourceKind::Graph | SourceKind::Wordpress) => {
                crate::collect::builtin_columns(source.kind, &e.name)
            }
            (None, SourceKind::Json | SourceKind::Postgres | SourceKind::Mysql) => Vec::new(),
        };
        let label = format!("{}.{}", source.name, e.name);
        if source.kind == SourceKind::Json {
            for c in columns
                .iter()
                .filter(|c| e.declared_type(&c.name).is_none())
            {
                self.untyped.push((label.clone(), c.name.clone()));
            }
        }
        self.entities.push(EntitySchema {
            id: 0,
            source: source.name.clone(),
            name: e.name.clone(),
            table: String::new(),
            key: e.key.clone(),
            columns,
        });
    }
}

type Columns = Vec<(String, Option<String>)>;

fn sqlite_columns(
    config: &Config,
    source: &SourceConfig,
    e: &EntityConfig,
    vars: &Vars,
) -> Option<Columns> {
    let path = source.path(config, vars).ok()??;
    let sql = e.query(&source.name, config, vars).ok()??;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let stmt = conn.prepare(&sql).ok()?;
    Some(
        stmt.columns()
            .map(|c| (c.name().to_string(), c.decl_type().map(str::to_string)))
            .collect(),
    )
}

fn csv_header(config: &Config, source: &str, e: &EntityConfig, vars: &Vars) -> Option<Vec<String>> {
    let path = e.path(source, config, vars).ok()??;
    let mut r = csv::Reader::from_path(path).ok()?;
    Some(r.headers().ok()?.iter().map(str::to_string).collect())
}
