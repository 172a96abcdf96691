//! `driftwatch explain RULE`: the SQL a rule compiles to, its parameters, its indexes and
//! SQLite's plan for it.

use super::rules::RulesAt;
use super::{io, Global};
use crate::error::{Error, Exit, Result};
use crate::rules::eval::{prepare, query_plan, RunTarget};
use crate::rules::{check_files, select};
use crate::value::Value;
use std::io::Write;

/// Print the SQL a rule compiles to at a run, with its bound parameters, the indexes that serve
/// it and SQLite's query plan.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rule's name
    #[arg(value_name = "RULE")]
    pub rule: String,
    #[command(flatten)]
    pub rules_at: RulesAt,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    global.text_only("explain")?;
    let (files, store, schemas, at) = args.rules_at.open(global)?;
    let loaded = check_files(&files, &schemas);
    let l = select(&loaded, std::slice::from_ref(&args.rule))?[0];
    let checked = match &l.outcome {
        Ok(c) => c,
        Err(diags) => {
            eprint!("{}", l.file.render(diags));
            return Ok(Exit::Invalid);
        }
    };
    let target = RunTarget::for_rule(&store, checked, &at)?;
    let prepared = prepare(&store, checked, &target)?;
    super::print_notes(prepared.note.as_slice());
    let c = &prepared.compiled;
    io(writeln!(
        out,
        "-- rule {} at run {} ({})\n{};\n",
        l.name(),
        at.run,
        at.taken_at,
        c.sql
    ))?;
    io(writeln!(out, "-- parameters"))?;
    for (i, p) in c.params.iter().enumerate() {
        let v = match &p.value {
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Null => "NULL".into(),
            Value::Integer(n) => n.to_string(),
            Value::Real(r) => r.to_string(),
        };
        io(writeln!(out, "--   ?{} = {v}  ({})", i + 1, p.note))?;
    }
    io(writeln!(out, "\n-- indexes"))?;
    for ix in &c.indexes {
        io(writeln!(out, "{};", ix.create_sql()))?;
    }
    io(writeln!(out, "\n-- query plan"))?;
    for (level, detail) in query_plan(&store, c)
        .map_err(|e| Error::runtime(format!("planning rule {}: {}", l.name(), e.message)))?
    {
        io(writeln!(out, "--   {}{detail}", "  ".repeat(level)))?;
    }
    Ok(Exit::Ok)
}
