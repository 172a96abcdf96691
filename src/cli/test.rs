//! `driftwatch test [FILES…]`: the rule tests, each in a store of its own.

use super::rules::schemas_for_check;
use super::{io, Global};
use crate::config::Vars;
use crate::error::{Error, Exit, Result};
use crate::output::{Format, Grid};
use crate::rules::load_files;
use crate::ruletest::{beside, check, run, Outcome, TestFile};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Run rule tests: a rule proved on a few rows before it runs on everyone.
///
/// A test file (`*.tests`, beside its rule file: `queries/lms.tests` tests `queries/lms.rules`)
/// holds tests; each names its rule, gives the rows of the entities it reads (a table per
/// entity; entities not given are empty) and states the violations it expects:
///
///   test "an owner outside the course is no violation" of channel_member_is_enrolled {
///     given teams.channel_members
///       | id | channel_id | user_id | roles |
///       | m1 | ch1        | u1      | owner |
///     expect violations none
///   }
///
/// Each test runs in a store of its own, in memory, through the same checking, compiling and
/// evaluation as `audit`. Values are typed by the entities' columns (from the store when there
/// is one, else the config: pass --var for `${NAME}` in its paths). Exit 1 when a test fails, 2
/// when a test file is malformed (file:line:col, caret and hint).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test files [default: the `.tests` file beside each rule file]
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Rule file to test instead of the config's `rules` (repeatable)
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Set ${K} in the config (repeatable), for the entities' columns
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
}

pub fn run_tests(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let config = global.config()?;
    let vars = Vars::from_args(&args.vars)?;
    let rules = load_files(config, &args.rules)?;
    let paths = if args.files.is_empty() {
        beside(&rules)
    } else {
        args.files.clone()
    };
    if paths.is_empty() {
        return Err(Error::input(
            "no test files: none beside the rule files (a `.tests` file next to each `.rules`), and none given",
        ));
    }
    let (schemas, _) = schemas_for_check(global, config, &vars)?;
    let mut malformed = 0;
    let mut results: Vec<(String, Outcome)> = Vec::new();
    for p in &paths {
        let mut file = TestFile::load(p)?;
        file.name = super::shown_path(p);
        let mut diags = file.errors.clone();
        diags.extend(check(&file, &rules, &schemas));
        diags.sort_by_key(|d| d.span.start);
        if !diags.is_empty() {
            eprint!("{}", file.render(&diags));
            malformed += diags.len();
            continue;
        }
        for t in &file.tests {
            results.push((file.name.clone(), run(t, &rules, &schemas)?));
        }
    }
    let failed = results.iter().filter(|(_, o)| !o.passed()).count();
    let written = match global.format(Format::Table) {
        Format::Json => io(
            serde_json::to_writer_pretty(&mut *out, &to_json(&results, malformed))
                .map_err(Into::into),
        )
        .and_then(|()| io(writeln!(out))),
        Format::Table | Format::Md => write_table(&results, malformed, out),
        Format::Csv | Format::Html => Err(Error::input("test writes table or json")),
    };
    let exit = if malformed > 0 {
        Exit::Invalid
    } else if failed > 0 {
        Exit::RuleFailed
    } else {
        Exit::Ok
    };
    super::verdict(exit, written.and_then(|()| io(out.flush())))
}

fn to_json(results: &[(String, Outcome)], malformed: usize) -> serde_json::Value {
    let tests: Vec<serde_json::Value> = results
        .iter()
        .map(|(file, o)| {
            json!({
                "file": file, "test": o.test, "rule": o.rule, "passed": o.passed(),
                "failures": o.failures.iter().map(|f| json!({
                    "what": f.what, "message": f.message, "columns": f.columns,
                    "missing": f.missing, "unexpected": f.unexpected,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed = results.iter().filter(|(_, o)| !o.passed()).count();
    json!({"tests": tests, "passed": results.len() - failed, "failed": failed, "errors": malformed})
}

fn write_table(results: &[(String, Outcome)], malformed: usize, out: &mut dyn Write) -> Result<()> {
    let mut file = "";
    for (f, o) in results {
        if f != file {
            file = f;
            io(writeln!(out, "{f}"))?;
        }
        let verdict = if o.passed() { "ok    " } else { "FAILED" };
        io(writeln!(out, "  {verdict} {}: {}", o.rule, o.test))?;
        for fail in &o.failures {
            if let Some(m) = &fail.message {
                io(writeln!(out, "         {m}"))?;
                continue;
            }
            io(writeln!(out, "         {}:", fail.what))?;
            let mut headers = vec![""];
            headers.extend(fail.columns.iter().map(String::as_str));
            let mut g = Grid::new(&headers);
            for (label, rows) in [
                ("expected, missing", &fail.missing),
                ("found, unexpected", &fail.unexpected),
            ] {
                for r in rows {
                    let mut row = vec![json!(label)];
                    row.extend(r.iter().map(|c| json!(c)));
                    g.push(row);
                }
            }
            let mut text = Vec::new();
            io(g.write(Format::Table, &mut text))?;
            for line in String::from_utf8_lossy(&text).lines() {
                io(writeln!(out, "         {line}"))?;
            }
        }
    }
    let failed = results.iter().filter(|(_, o)| !o.passed()).count();
    io(writeln!(
        out,
        "\n{} test{}: {} passed, {failed} failed{}",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() - failed,
        if malformed > 0 {
            format!(
                "; {malformed} error{} in the test files (see above)",
                if malformed == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    ))
}
