//! `driftwatch query "EXPR"`: a rule body without braces, run once, its rows printed.

use super::rules::open_at;
use super::{io, Global};
use crate::error::{Exit, Result};
use crate::output::{Format, Grid};
use crate::rules::ast::{Expr, ExprKind, Ident, Named, Rule};
use crate::rules::check::{check_rule, Schemas};
use crate::rules::diag::render_all;
use crate::rules::eval::evaluate;
use crate::rules::parse::parse_query;
use serde_json::Value as Json;
use std::io::Write;

/// Run a rule body as an ad-hoc query and print its rows.
///
/// Without `expect`, the rows are those the body ranges over; with `expect`, those that
/// violate it. Without `show`, every field of every binding is shown. Example:
///
///   driftwatch query "for m in ssot.members where m.status = 'active' show m.email"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The query: clauses of a rule (for, where, group by, expect, subject, show, …)
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// Run id, `latest`, or an ISO date/time (the latest run at or before it)
    #[arg(long, value_name = "RUN", default_value = "latest")]
    pub at: String,
}

pub fn run(global: &Global, args: Args, out: &mut dyn Write) -> Result<Exit> {
    let text = &args.query;
    let mut rule = match parse_query(text) {
        Ok(r) => r,
        Err(d) => {
            eprint!("{}", render_all("query", text, &[d]));
            return Ok(Exit::Invalid);
        }
    };
    let config = global.config()?;
    let (store, schemas, at) = open_at(global, config, &args.at)?;
    if rule.show.is_empty() {
        rule.show = default_show(&rule, &schemas);
    }
    let checked = match check_rule(&rule, text, &schemas) {
        Ok(c) => c,
        Err(diags) => {
            eprint!("{}", render_all("query", text, &diags));
            return Ok(Exit::Invalid);
        }
    };
    let ev = evaluate(&store, &checked, &at)?;
    super::print_notes(ev.note.as_slice());
    let mut headers: Vec<String> = Vec::new();
    if rule.subject.is_some() {
        headers.push("subject".into());
    }
    headers.extend(rule.show_names());
    let mut grid = Grid::new(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    for v in ev.violations {
        let mut row: Vec<Json> = v.subject.into_iter().collect();
        row.extend(v.fields.into_iter().map(|(_, x)| x));
        grid.push(row);
    }
    io(grid.write(global.format(Format::Table), out))?;
    Ok(Exit::Ok)
}

/// What a query without `show` shows: its groups, or every field of every binding, named
/// `alias.field`.
fn default_show(rule: &Rule, schemas: &Schemas) -> Vec<Named> {
    if !rule.group_by.is_empty() {
        return rule
            .group_by
            .iter()
            .map(|g| Named {
                name: None,
                expr: g.clone(),
            })
            .collect();
    }
    let mut show = Vec::new();
    for b in &rule.bindings {
        let Some(schema) = schemas.find(&b.source.name, &b.entity.name) else {
            continue; // the checker reports it
        };
        for c in &schema.columns {
            let field = Ident {
                name: c.name.clone(),
                span: b.alias.span,
            };
            show.push(Named {
                name: Some(Ident {
                    name: format!("{}.{}", b.alias.name, c.name),
                    span: b.alias.span,
                }),
                expr: Expr {
                    kind: ExprKind::Field {
                        alias: b.alias.clone(),
                        field,
                    },
                    span: b.alias.span,
                },
            });
        }
    }
    show
}
