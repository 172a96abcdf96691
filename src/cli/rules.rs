//! What the rule commands share: finding the rule files, the schemas to check them against,
//! the run to evaluate at, and selecting rules by name.

use super::Global;
use crate::config::{Config, Vars};
use crate::error::{Error, Result};
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, Loaded, RuleFile};
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
        let files = load_files(config.as_ref(), &self.files)?;
        let (store, schemas, at) = open_at(global, config.as_ref(), &self.at)?;
        Ok((files, store, schemas, at))
    }
}

/// The rule files: `files` when given, else the config's `rules` patterns.
pub fn load_files(config: Option<&Config>, files: &[PathBuf]) -> Result<Vec<RuleFile>> {
    let paths =
        if !files.is_empty() {
            files.to_vec()
        } else {
            match config {
                Some(c) if !c.rules.is_empty() => crate::rules::expand_globs(
                    &c.rules,
                    &c.dir,
                    &format!("{}: rules", c.file.display()),
                )?,
                Some(c) => {
                    return Err(Error::input(format!(
                    "{}: no `rules` to run: add rules = [\"queries/*.rules\"] or pass --rules FILE",
                    c.file.display()
                )))
                }
                None => return Err(Error::input(
                    "no rule files: pass --rules FILE, or --config FILE whose `rules` names them",
                )),
            }
        };
    paths.iter().map(|p| RuleFile::load(p)).collect()
}

/// Writes to standard error every syntax error of the files and every checking error of the
/// `loaded` rules, file by file in the order of the text. Returns how many there were.
pub fn report_errors(files: &[RuleFile], loaded: &[&Loaded<'_>]) -> usize {
    let mut n = 0;
    for f in files {
        let mut diags = f.errors.clone();
        for l in loaded.iter().filter(|l| std::ptr::eq(l.file, f)) {
            if let Err(d) = &l.checked {
                diags.extend(d.iter().cloned());
            }
        }
        diags.sort_by_key(|d| d.span.start);
        eprint!("{}", f.render(&diags));
        n += diags.len();
    }
    n
}

/// The rules named by `--rule` (all when none is named), or an error naming the unknown one.
pub fn select<'a, 'f>(loaded: &'a [Loaded<'f>], names: &[String]) -> Result<Vec<&'a Loaded<'f>>> {
    if names.is_empty() {
        return Ok(loaded.iter().collect());
    }
    let mut out = Vec::new();
    for n in names {
        match loaded.iter().find(|l| l.name() == n) {
            Some(l) => out.push(l),
            None => {
                let hint = match crate::text::nearest(n, loaded.iter().map(|l| l.name())) {
                    Some(m) => format!("; did you mean `{m}`?"),
                    None => format!(
                        " (rules: {})",
                        loaded
                            .iter()
                            .map(|l| l.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                return Err(Error::input(format!("no rule named `{n}`{hint}")));
            }
        }
    }
    Ok(out)
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
pub fn schemas_for_check(global: &Global, config: Option<&Config>) -> Result<(Schemas, String)> {
    let path = global.store_path(config, &Vars::default())?;
    if path.is_file() {
        let store = Store::open_existing(&path)?;
        if let Ok((run, _)) = store.resolve_run("latest") {
            return Ok((
                Schemas::at_run(&store, run)?.with_declared(config),
                format!("the schemas of run {run} in {}", path.display()),
            ));
        }
    }
    match config {
        Some(c) => Ok((
            Schemas::from_config(c),
            format!(
                "the entities declared in {} (nothing collected yet)",
                c.file.display()
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

/// What a history command works with: the store, the config, and the chosen rules (checked
/// against the latest run's schemas; each run is checked again against its own).
pub struct History<'a> {
    pub store: &'a Store,
    pub config: Option<&'a Config>,
    pub files: &'a [RuleFile],
    pub rules: Vec<&'a Loaded<'a>>,
}

impl History<'_> {
    /// Evaluates the rules at the runs that have not been evaluated yet, and says on standard
    /// error where a rule could not be.
    pub fn backfill(&self, runs: &[At]) -> Result<Vec<crate::history::Skipped>> {
        let skipped =
            crate::history::backfill(self.store, self.config, self.files, &self.rules, runs)?;
        // Skips come run by run; one note per rule.
        let mut rules: Vec<&str> = skipped.iter().map(|s| s.rule.as_str()).collect();
        rules.sort_unstable();
        rules.dedup();
        for rule in rules {
            let runs: Vec<&crate::history::Skipped> =
                skipped.iter().filter(|s| s.rule == rule).collect();
            let ids: Vec<String> = runs.iter().map(|s| s.run.to_string()).collect();
            eprintln!(
                "driftwatch: note: rule {rule} could not be evaluated at run{} {}: {}",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", "),
                runs[0].why
            );
        }
        Ok(skipped)
    }
}

/// Opens the store and the chosen rules, and calls `f` with them.
pub fn with_history<T>(
    global: &Global,
    choice: &RuleChoice,
    f: impl FnOnce(History<'_>) -> Result<T>,
) -> Result<T> {
    let config = global.config()?;
    let files = load_files(config.as_ref(), &choice.files)?;
    let (store, schemas, _) = open_at(global, config.as_ref(), "latest")?;
    let loaded = check_files(&files, &schemas);
    let rules = select(&loaded, &choice.rules)?;
    // Syntax errors only: a rule that does not check now may still have a history.
    report_errors(&files, &[]);
    f(History {
        store: &store,
        config: config.as_ref(),
        files: &files,
        rules,
    })
}

/// Every run of the store taken at or after `since` (all when None).
pub fn runs_since(store: &Store, since: Option<&str>) -> Result<Vec<At>> {
    Ok(store
        .runs()?
        .into_iter()
        .filter(|r| since.is_none_or(|s| r.taken_at.as_str() >= s))
        .map(|r| At {
            run: r.id,
            taken_at: r.taken_at,
        })
        .collect())
}
