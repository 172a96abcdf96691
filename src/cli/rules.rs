//! What the rule commands share: finding the rule files, the schemas to check them against,
//! the run to evaluate at, and selecting rules by name.

use super::Global;
use crate::config::Vars;
use crate::error::{Error, Result};
use crate::history::History;
use crate::platforms::Config;
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, load_files, select, Loaded, RuleFile};
use crate::store::Store;
use std::path::PathBuf;

/// Which rule files, evaluated at which run: the options `audit` and `explain` share.
#[derive(Debug, clap::Args)]
pub struct RulesAt {
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
    /// Rule file to use instead of the config's `rules` (repeatable)
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl RulesAt {
    /// The rule files (parsed), the store, its schemas at the run, and the run.
    pub fn open(&self, global: &Global) -> Result<(Vec<RuleFile>, Store, Schemas, At)> {
        let config = global.config()?;
        let files = load_files(config, &self.files)?;
        let (store, schemas, at) = open_at(global, config, &self.at)?;
        Ok((files, store, schemas, at))
    }
}

/// Writes to standard error every syntax error of the files and every checking error of the
/// `loaded` rules, file by file in the order of the text. Returns how many there were.
pub fn report_errors(files: &[RuleFile], loaded: &[&Loaded<'_>]) -> usize {
    let mut n = 0;
    for f in files {
        let mut diags = f.errors.clone();
        for l in loaded.iter().filter(|l| std::ptr::eq(l.file, f)) {
            if let Err(d) = &l.outcome {
                diags.extend(d.iter().cloned());
            }
        }
        diags.sort_by_key(|d| d.span.start);
        eprint!("{}", f.render(&diags));
        n += diags.len();
    }
    n
}

/// The store (which must exist), its schemas at the run `spec` names (with the entities the
/// config declares but nothing collected yet), and the run.
pub fn open_at(
    global: &Global,
    config: Option<&Config>,
    spec: &str,
) -> Result<(Store, Schemas, At)> {
    let store = global.open_store()?;
    let (run, taken_at) = store.resolve_run(spec)?;
    let schemas = Schemas::at_run(&store, run)?.with_declared(config);
    Ok((store, schemas, At { run, taken_at }))
}

/// The store's schemas when there is a store, else the config's declared ones; and what they
/// came from, for messages.
pub fn schemas_for_check(
    global: &Global,
    config: Option<&Config>,
    vars: &Vars,
) -> Result<(Schemas, String)> {
    let path = global.store_path(&Vars::default())?;
    if path.is_file() {
        let store = Store::open_existing(&path)?;
        if let Ok((run, _)) = store.resolve_run("latest") {
            return Ok((
                Schemas::at_run(&store, run)?.with_declared_vars(config, vars),
                format!("the schemas of run {run} in {}", path.display()),
            ));
        }
    }
    match config {
        Some(c) => Ok((
            Schemas::from_config(c, vars),
            format!(
                "the entities declared in {} (nothing collected yet)",
                c.origin.file.display()
            ),
        )),
        None => Err(Error::input(
            "nothing to check names against: no store and no config; pass --config FILE",
        )),
    }
}

/// Which rules a history command looks at: the options `diff`, `trend` and `delay` share.
#[derive(Debug, Clone, clap::Args)]
pub struct RuleChoice {
    /// Only this rule (repeatable)
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// Rule file to use instead of the config's `rules` (repeatable)
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Opens the store and the chosen rules, and calls `f` with them.
pub fn with_history<T>(
    global: &Global,
    choice: &RuleChoice,
    f: impl FnOnce(&History<'_>) -> Result<T>,
) -> Result<T> {
    let config = global.config()?;
    let files = load_files(config, &choice.files)?;
    let (store, schemas, _) = open_at(global, config, "latest")?;
    let loaded = check_files(&files, &schemas);
    let rules = select(&loaded, &choice.rules)?;
    // Syntax errors only: a rule that does not check now may still have a history.
    report_errors(&files, &[]);
    let history = History::new(&store, config, &files, rules);
    let result = f(&history);
    super::print_notes(&history.notes());
    result
}
