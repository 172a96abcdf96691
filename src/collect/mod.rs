//! A run: which sources are collected, each under its own savepoint through its platform's
//! reader, and the run report. A failing source leaves a failed snapshot and no rows while the
//! others complete.

use crate::config::{mask, Vars};
use crate::error::{Error, Result};
use crate::platforms::{Config, Context, Source};
use crate::store::{SourceOutcome, Store};
use crate::time::Epoch;

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

    /// The sources that failed, in config order.
    pub fn failed_sources(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .map(|o| o.source.as_str())
            .collect()
    }

    /// A snapshot that drops most of an entity's rows is more often a cut-short export than a
    /// real exodus: one warning for each, so that it is looked at before anyone acts on it.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        // A run stays where it is recorded: one far ahead of the clock is likely a typo.
        if let Some(at) = crate::time::parse(&self.taken_at) {
            let ahead = at - crate::time::now();
            if ahead > 86_400 {
                warnings.push(format!(
                    "run {} is at {}, {} ahead of now; later runs must come after it",
                    self.run_id,
                    self.taken_at,
                    crate::time::format_span(ahead)
                ));
            }
        }
        for o in &self.outcomes {
            for (entity, s) in o.result.iter().flatten() {
                let before = s.rows - s.added + s.removed;
                if before >= 10 && s.removed * 2 > before {
                    warnings.push(format!(
                        "{}.{entity} lost {} of its {before} rows in this snapshot; if its export was cut short, that is not a real removal",
                        o.source, s.removed
                    ));
                }
            }
        }
        warnings
    }
}

/// The sources a collection of `sources` (all of the config's when empty) reads, in config
/// order, each checked as far as it can be without reading it: every `${NAME}` set, every URL
/// acceptable. A mistake here is one in the command or the config, not a collection that failed,
/// so the command says so before it opens (or creates) a store.
pub fn check<'c>(
    config: &'c Config,
    vars: &Vars,
    sources: &[String],
    store: &std::path::Path,
) -> Result<Vec<&'c Source>> {
    for name in sources {
        config.source(name)?; // an unknown name is an error that lists the known ones
    }
    // In config order, each once however often it was named.
    let selected: Vec<&Source> = config
        .sources
        .iter()
        .filter(|s| sources.is_empty() || sources.contains(&s.name))
        .collect();
    if selected.is_empty() {
        return Err(Error::input(format!(
            "{}: no sources to collect",
            config.origin.file.display()
        )));
    }
    let cx = Context {
        origin: &config.origin,
        vars,
    };
    for source in &selected {
        source.reader.check_vars(&source.name, &cx)?;
        if let Some(file) = source.reader.database_file(&source.name, &cx) {
            if same_file(&file, store) {
                return Err(Error::input(format!(
                    "sources.{}.path: {} is the store; a source's database is never the store (pass another --store)",
                    source.name,
                    file.display()
                )));
            }
        }
    }
    Ok(selected)
}

/// Collects `sources` (all of the config's when empty) as one run at `taken_at` (default now);
/// `full` reads every source whole, where it would otherwise read only what changed (Graph's
/// delta queries).
pub fn collect_run(
    store: &mut Store,
    config: &Config,
    vars: &Vars,
    sources: &[String],
    taken_at: Option<Epoch>,
    full: bool,
) -> Result<RunReport> {
    let selected = check(config, vars, sources, store.path())?;
    let cx = Context {
        origin: &config.origin,
        vars,
    };
    let mut run = store.begin_run(taken_at)?;
    if full {
        run.read_everything();
    }
    let mut outcomes = Vec::new();
    for source in selected {
        outcomes.push(run.collect_source(&source.name, |out| {
            // A service may echo a secret in its error: the store and the output never get it.
            source
                .reader
                .collect(&source.name, &cx, out)
                .map_err(|e| Error {
                    message: mask(&e.message),
                    ..e
                })
        })?);
    }
    let taken_at = run.taken_at().to_string();
    let run_id = run.commit()?;
    let actor = crate::store::log::default_actor();
    let entries = outcomes
        .iter()
        .map(|o| {
            let mut e = crate::store::log::Entry::new("collect", &actor);
            e.target = Some(o.source.clone());
            e.request = Some(format!("run {run_id} at {taken_at}"));
            e.outcome = Some(
                if o.result.is_ok() {
                    "complete"
                } else {
                    "failed"
                }
                .into(),
            );
            e.error = match &o.result {
                Err(e) => Some(e.message.clone()),
                Ok(_) if !o.notes.is_empty() => Some(o.notes.join("; ")),
                Ok(_) => None,
            };
            e
        })
        .collect();
    // The snapshot is recorded; a log that cannot be written is said, not a failed collection.
    if let Err(e) = store.log(entries) {
        eprintln!("driftwatch: warning: the audit log could not be written: {e}");
    }
    Ok(RunReport {
        run_id,
        taken_at,
        outcomes,
    })
}

/// Whether two paths name one file (both resolved, when they exist).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}
