//! The entity schemas rules are checked against: the store's as of a run, or, before
//! anything is collected, what the config declares (a `columns` mapping, the columns of a
//! SQLite query, the header of a CSV file).

use super::ast::Binding;
use super::diag::Diagnostic;
use crate::config::Vars;
use crate::platforms::{Config, Context, EntityConfig, Source};
use crate::store::{EntitySchema, Store};

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
    pub fn with_declared(self, config: Option<&Config>) -> Schemas {
        self.with_declared_vars(config, &Vars::default())
    }

    /// As `with_declared`, with `${NAME}` in the config's paths and queries expanded from
    /// `vars` (`check --var day=7`).
    pub fn with_declared_vars(mut self, config: Option<&Config>, vars: &Vars) -> Schemas {
        let Some(config) = config else {
            return self;
        };
        for source in &config.sources {
            for e in source.entities() {
                if self.find(&source.name, &e.name).is_none() {
                    self.add_declared(config, source, e, vars);
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
    pub fn from_config(config: &Config, vars: &Vars) -> Schemas {
        Schemas::default().with_declared_vars(Some(config), vars)
    }

    /// Adds one declared entity, with the columns its platform knows before collecting.
    fn add_declared(&mut self, config: &Config, source: &Source, e: &EntityConfig, vars: &Vars) {
        let cx = Context {
            origin: &config.origin,
            vars,
        };
        let declared = source.reader.declared(&source.name, &e.name, &cx);
        let label = format!("{}.{}", source.name, e.name);
        for c in declared.untyped {
            self.untyped.push((label.clone(), c));
        }
        self.entities.push(EntitySchema {
            id: 0,
            source: source.name.clone(),
            name: e.name.clone(),
            table: String::new(),
            key: e.key.clone(),
            since: vec![0; declared.columns.len()],
            columns: declared.columns,
        });
    }
}
