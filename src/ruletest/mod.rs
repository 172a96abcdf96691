//! Rule tests: an analyst proves a rule on a few rows before it runs on the organisation.
//!
//! Tests live in `*.tests` files beside the rule files (`queries/lms.tests` tests
//! `queries/lms.rules`); the format is in [`parse`]. [`check`] resolves a file against the rules
//! and the entities' schemas (the rule exists, every entity and column exists, every value has
//! its column's type, every expected column is `key`, `subject`, `pending` or a `show` name);
//! [`run`] puts each test's rows into a store of its own in memory, as snapshots, and evaluates
//! the rule there through the same path as `audit` (check, compile, evaluate, record history),
//! then compares what it found with what the test expects.

pub mod parse;
pub mod run;

use crate::error::{Error, Result};
use crate::rules::ast::Span;
use crate::rules::check::Schemas;
use crate::rules::diag::Diagnostic;
use crate::rules::RuleFile;
use crate::store::EntitySchema;
use crate::value::{ColumnType, Value};
use std::path::{Path, PathBuf};

pub use run::{run, Failure, Outcome};

/// A table of cells: the header (column names) and the rows, each cell with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Span)>,
    pub rows: Vec<Vec<(String, Span)>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The violations at the run (None: `none`).
    Violations(Option<Table>),
    /// Violations new at the run since the one before, and resolved since (after `then`).
    New(Option<Table>),
    Resolved(Option<Table>),
    Status(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    At(String, Span),
    Then(Option<String>, Span),
    Given {
        source: String,
        entity: String,
        span: Span,
        table: Table,
    },
    Expect(Expectation, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub rule: String,
    pub rule_span: Span,
    pub span: Span,
    pub clauses: Vec<Clause>,
}

/// A test file, parsed.
#[derive(Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub name: String,
    pub src: String,
    pub tests: Vec<Test>,
    pub errors: Vec<Diagnostic>,
}

impl TestFile {
    pub fn load(path: &Path) -> Result<TestFile> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        Ok(TestFile::parse(path, src))
    }

    pub fn parse(path: &Path, src: String) -> TestFile {
        let (tests, errors) = parse::parse_tests(&src);
        TestFile {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            src,
            tests,
            errors,
        }
    }

    pub fn render(&self, diags: &[Diagnostic]) -> String {
        crate::rules::diag::render_all(&self.name, &self.src, diags)
    }
}

/// The test files of `rule_files`: each rule file's `.tests` twin, where there is one.
pub fn beside(rule_files: &[RuleFile]) -> Vec<PathBuf> {
    rule_files
        .iter()
        .map(|f| f.path.with_extension("tests"))
        .filter(|p| p.is_file())
        .collect()
}

/// The columns an entity of a test has: its schema's, when the store or the config knows the
/// entity, else those of the test's own tables (each typed by its values).
pub fn value_of(ty: Option<ColumnType>, cell: &str) -> std::result::Result<Value, String> {
    if cell.is_empty() || cell == "null" {
        return Ok(Value::Null);
    }
    if cell == "''" {
        return Ok(Value::Text(String::new()));
    }
    match ty {
        Some(ColumnType::Text) | None => Ok(Value::Text(cell.to_string())),
        Some(t) => t.from_text(cell),
    }
}

/// Checks every test of `file` against the rules and the schemas; returns every error.
pub fn check(file: &TestFile, rules: &[RuleFile], schemas: &Schemas) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let names: Vec<&str> = rules
        .iter()
        .flat_map(|f| f.rules.iter().map(|r| r.name.name.as_str()))
        .collect();
    for t in &file.tests {
        let Some(rule) = rules
            .iter()
            .flat_map(|f| f.rules.iter())
            .find(|r| r.name.name == t.rule)
        else {
            let hint = match crate::text::nearest(&t.rule, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if names.is_empty() => {
                    "no rule file is loaded: name it with --rules, or in the config's `rules`"
                        .into()
                }
                None => format!("rules: {}", names.join(", ")),
            };
            out.push(Diagnostic::new(format!("no rule `{}`", t.rule), t.rule_span).hint(hint));
            continue;
        };
        let mut expects = 0;
        let mut then = false;
        for c in &t.clauses {
            match c {
                Clause::Given {
                    source,
                    entity,
                    span,
                    table,
                } => match schemas.find(source, entity) {
                    None => {
                        let labels: Vec<String> =
                            schemas.entities.iter().map(EntitySchema::label).collect();
                        let label = format!("{source}.{entity}");
                        let hint =
                            match crate::text::nearest(&label, labels.iter().map(String::as_str)) {
                                Some(n) => format!("did you mean `{n}`?"),
                                None => {
                                    "an entity of the config's sources, as SOURCE.ENTITY".into()
                                }
                            };
                        out.push(Diagnostic::new(format!("no entity `{label}`"), *span).hint(hint));
                    }
                    Some(schema) => check_table(schema, schemas, table, &mut out),
                },
                Clause::Then(_, span) => {
                    if then {
                        out.push(
                            Diagnostic::new("a test has at most one `then`", *span)
                                .hint("a test compares two snapshots: before and after `then`"),
                        );
                    }
                    then = true;
                }
                Clause::Expect(e, span) => {
                    expects += 1;
                    let table = match e {
                        Expectation::New(t) | Expectation::Resolved(t) if !then => {
                            out.push(
                                Diagnostic::new(
                                    "`expect new` and `expect resolved` come after `then`",
                                    *span,
                                )
                                .hint("they compare the snapshot after `then` with the one before"),
                            );
                            t
                        }
                        Expectation::Violations(t)
                        | Expectation::New(t)
                        | Expectation::Resolved(t) => t,
                        Expectation::Status(_) => &None,
                    };
                    if let Some(table) = table {
                        let shown = rule.show_names();
                        for (col, span) in &table.columns {
                            let known = ["key", "subject", "pending"].contains(&col.as_str())
                                || shown.contains(col);
                            if !known {
                                let mut names: Vec<&str> = vec!["key", "subject", "pending"];
                                names.extend(shown.iter().map(String::as_str));
                                let hint = match crate::text::nearest(col, names.iter().copied()) {
                                    Some(n) => format!("did you mean `{n}`?"),
                                    None => format!("a violation has {}", names.join(", ")),
                                };
                                out.push(
                                    Diagnostic::new(
                                        format!("a violation of `{}` has no `{col}`", t.rule),
                                        *span,
                                    )
                                    .hint(hint),
                                );
                            }
                        }
                    }
                }
                Clause::At(..) => {}
            }
        }
        if expects == 0 {
            out.push(
                Diagnostic::new(format!("test \"{}\" expects nothing", t.name), t.rule_span)
                    .hint("add `expect violations` with a table (or `none`), or `expect status …`"),
            );
        }
    }
    out.sort_by_key(|d| d.span.start);
    out
}

fn check_table(schema: &EntitySchema, schemas: &Schemas, table: &Table, out: &mut Vec<Diagnostic>) {
    let mut types = Vec::new();
    for (col, span) in &table.columns {
        match schema.columns.iter().find(|c| &c.name == col) {
            Some(c) => types.push(Some((c.ty, schemas.is_untyped(schema, col)))),
            None => {
                let hint = schema.column_hint(col);
                out.push(
                    Diagnostic::new(format!("{} has no column `{col}`", schema.label()), *span)
                        .hint(hint),
                );
                types.push(None);
            }
        }
    }
    for row in &table.rows {
        for ((cell, span), ty) in row.iter().zip(&types) {
            let Some((ty, untyped)) = ty else { continue };
            if *untyped {
                continue;
            }
            if let Err(e) = value_of(Some(*ty), cell) {
                out.push(
                    Diagnostic::new(format!("`{cell}` is not a value of type {ty} ({e})"), *span)
                        .hint(match ty {
                            ColumnType::Integer => "a whole number: 42",
                            ColumnType::Real => "a number: 4.2",
                            ColumnType::Bool => "true or false",
                            ColumnType::Timestamp => "an ISO-8601 time: 2026-11-01T06:00:00Z",
                            ColumnType::Text => "any text",
                        }),
                );
            }
        }
    }
}
