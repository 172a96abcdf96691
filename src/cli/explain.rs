//! `driftwatch explain RULE`: the SQL a rule compiles to, its parameters, its indexes and
//! SQLite's plan for it.

use super::rules::{select, RulesAt};
use super::{io, Global};
use crate::error::{Error, Result};
use crate::rules::check_files;
use crate::rules::eval::{prepare, RunTarget};
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

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<i32> {
    let (files, store, schemas, at) = args.rules_at.open(global)?;
    let loaded = check_files(&files, &schemas);
    let l = select(&loaded, std::slice::from_ref(&args.rule))?[0];
    if let Err(diags) = &l.checked {
        eprint!("{}", l.file.render(diags));
        return Ok(2);
    }
    let target = RunTarget::for_rule(&store, l.rule, &schemas, &at)?;
    let c = prepare(&store, l.rule, &schemas, &target)?;
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
    let mut stmt = store
        .conn()
        .prepare(&format!("EXPLAIN QUERY PLAN {}", c.sql))
        .map_err(|e| Error::runtime(format!("planning rule {}: {e}", l.name())))?;
    let params: Vec<&Value> = c.params.iter().map(|p| &p.value).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut depth: Vec<(i64, usize)> = Vec::new();
    while let Some(r) = rows.next()? {
        let (id, parent, detail): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(3)?);
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map_or(0, |(_, d)| d + 1);
        depth.push((id, level));
        io(writeln!(out, "--   {}{detail}", "  ".repeat(level)))?;
    }
    Ok(0)
}
