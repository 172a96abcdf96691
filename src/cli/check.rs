//! `driftwatch check [FILES…]`: parse and type-check rule files without running them.

use super::rules::{report_errors, schemas_for_check};
use super::{io, Global};
use crate::config::Vars;
use crate::error::{Exit, Result};
use crate::rules::{check_files, load_files};
use std::io::Write;
use std::path::PathBuf;

/// Parse and type-check rule files (the config's `rules` when no FILES are given).
///
/// Names and types are checked against the schemas recorded in the store when there is one,
/// else against the entities the config declares. Every error of every file is reported as
/// file:line:col with the line, a caret and a hint; the exit code is then 2.
///
/// The config is checked as `collect` would check it first: every ${NAME} set (pass them with
/// --var), every URL acceptable, every secret readable from the environment or its file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files [default: the config's `rules`]
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Set ${K} in the config (repeatable), as for `collect`
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    global.text_only("check")?;
    let config = global.config()?;
    let vars = Vars::from_args(&args.vars)?;
    // The config as `collect` will need it: every ${NAME} set, every URL and secret usable.
    if let Some(c) = config.filter(|c| !c.sources.is_empty()) {
        crate::collect::check(c, &vars, &[], &global.store_path(&vars)?)?;
    }
    // `.tests` files are rule tests; the others rule files.
    let (test_paths, rule_paths): (Vec<PathBuf>, Vec<PathBuf>) = args
        .files
        .iter()
        .cloned()
        .partition(|p| p.extension().is_some_and(|e| e == "tests"));
    let files = load_files(config, &rule_paths)?;
    let (schemas, origin) = schemas_for_check(global, config, &vars)?;
    let loaded = check_files(&files, &schemas);
    let mut errors = report_errors(&files, &loaded.iter().collect::<Vec<_>>());
    // Each `fix` against the config's sources: the source, its kind's verb, the parameters.
    if let Some(c) = config {
        for f in &files {
            let diags: Vec<_> = loaded
                .iter()
                .filter(|l| std::ptr::eq(l.file, f) && l.outcome.is_ok())
                .filter_map(|l| l.rule.fix.as_ref())
                .filter_map(|fix| crate::fix::plan::resolve(c, fix).err())
                .collect();
            eprint!("{}", f.render(&diags));
            errors += diags.len();
        }
    }
    // The files' `count`s (for `status`), as rules are checked.
    let mut counts = 0;
    for f in &files {
        let diags: Vec<_> = f
            .counts
            .iter()
            .filter_map(|c| crate::rules::check::check_rule(c, &f.src, &schemas).err())
            .flatten()
            .collect();
        eprint!("{}", f.render(&diags));
        errors += diags.len();
        counts += f.counts.len();
    }
    // The rule tests beside the rule files (or given), against the rules and the schemas.
    let test_paths = if test_paths.is_empty() {
        crate::ruletest::beside(&files)
    } else {
        test_paths
    };
    let mut tests = 0;
    for p in &test_paths {
        let mut t = crate::ruletest::TestFile::load(p)?;
        t.name = super::shown_path(p);
        let mut diags = t.errors.clone();
        diags.extend(crate::ruletest::check(&t, &files, &schemas));
        diags.sort_by_key(|d| d.span.start);
        eprint!("{}", t.render(&diags));
        errors += diags.len();
        tests += t.tests.len();
    }
    let rules: usize = files.iter().map(|f| f.rules.len()).sum();
    if errors > 0 {
        eprintln!(
            "driftwatch: {errors} error{} in {} rule file{}",
            if errors == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        return Ok(Exit::Invalid);
    }
    let tests = match (counts, tests) {
        (0, 0) => String::new(),
        (0, n) => format!(" and {n} rule test{}", if n == 1 { "" } else { "s" }),
        (c, 0) => format!(" and {c} count{}", if c == 1 { "" } else { "s" }),
        (c, n) => format!(
            ", {c} count{} and {n} rule test{}",
            if c == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" }
        ),
    };
    io(writeln!(
        out,
        "ok: {rules} rule{} in {} file{}{tests}, checked against {origin}",
        if rules == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    ))?;
    Ok(Exit::Ok)
}
