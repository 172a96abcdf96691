//! The rule test format, parsed with nom. A file holds tests; a test names its rule and gives
//! rows and expectations, each a table of `|`-separated cells whose first row names the columns:
//!
//! ```text
//! # queries/lms.tests
//! test "an owner outside the course is no violation" of channel_member_is_enrolled {
//!   given ssot.courses
//!     | id | code | teams_channel_id |
//!     | 1  | C01  | ch1              |
//!   given teams.channel_members
//!     | id | channel_id | user_id | email   | roles |
//!     | m1 | ch1        | u1      | a@x.org | owner |
//!     | m2 | ch1        | u2      | b@x.org |       |
//!   expect violations
//!     | key | subject |
//!     | m2  | b@x.org |
//!   expect status warn
//! }
//! ```
//!
//! A cell is text as written (trimmed); an empty cell and `null` are NULL, `''` is the empty
//! text. `at TIME` sets the time of the snapshot; `then [at TIME]` starts a second snapshot,
//! whose `given` tables replace those entities (the others keep their rows); expectations after
//! it are of the second run, where `expect new` and `expect resolved` compare it with the first.

use super::{Clause, Expectation, Table, Test};
use crate::rules::ast::Span;
use crate::rules::diag::Diagnostic;
use nom::bytes::complete::{tag, take_till, take_while1};
use nom::character::complete::char;
use nom::IResult;

type Res<'a, T> = IResult<&'a str, T>;

struct P<'a> {
    src: &'a str,
}

impl<'a> P<'a> {
    fn at(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }

    fn span(&self, from: &str, to: &str) -> Span {
        Span {
            start: self.at(from),
            end: self.at(to),
        }
    }

    fn error(&self, rest: &str, message: impl Into<String>, hint: &str) -> Diagnostic {
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
            .map_or(rest.len(), |(i, _)| i)
            .max(1)
            .min(rest.len());
        Diagnostic::new(message, self.span(rest, &rest[end..])).hint(hint)
    }
}

/// Blanks, line breaks and `#` comments.
fn ws(mut i: &str) -> &str {
    loop {
        let t = i.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            i = rest.find('\n').map_or("", |n| &rest[n..]);
        } else {
            return t;
        }
    }
}

fn word(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_')(i)
}

/// A `"…"` string (`\"` and `\\` escaped).
fn string(i: &str) -> Res<'_, String> {
    let (mut i, _) = char('"')(i)?;
    let mut out = String::new();
    loop {
        let (rest, part) = take_till(|c| c == '"' || c == '\\' || c == '\n')(i)?;
        out.push_str(part);
        if let Some(r) = rest.strip_prefix("\\\"") {
            out.push('"');
            i = r;
        } else if let Some(r) = rest.strip_prefix("\\\\") {
            out.push('\\');
            i = r;
        } else if let Some(r) = rest.strip_prefix('"') {
            return Ok((r, out));
        } else {
            return Err(nom::Err::Error(nom::error::Error::new(
                rest,
                nom::error::ErrorKind::Char,
            )));
        }
    }
}

/// The rest of the line, without its break.
fn line(i: &str) -> Res<'_, &str> {
    take_till(|c| c == '\n')(i)
}

/// Parses a test file; returns its tests and every error found (a malformed test is skipped
/// to its closing brace, and the others are still read).
pub fn parse_tests(src: &str) -> (Vec<Test>, Vec<Diagnostic>) {
    let p = P { src };
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    let mut i = ws(src);
    while !i.is_empty() {
        match p.test(i) {
            Ok((rest, t)) => {
                tests.push(t);
                i = ws(rest);
            }
            Err(d) => {
                errors.push(d);
                // Go on after the test's closing brace (a line holding only `}`).
                let skip = i.find("\n}").map_or(i.len(), |n| n + 2);
                i = ws(&i[skip..]);
            }
        }
    }
    (tests, errors)
}

impl<'a> P<'a> {
    fn test(&self, i: &'a str) -> Result<(&'a str, Test), Diagnostic> {
        let start = i;
        let Ok((i, _)) = tag::<_, _, nom::error::Error<&str>>("test")(i) else {
            return Err(self.error(
                i,
                "expected `test \"what it shows\" of RULE {`",
                "a test file holds tests; `#` starts a comment",
            ));
        };
        let i = ws(i);
        let (i, name) = string(i).map_err(|_| {
            self.error(
                i,
                "expected the test's name in double quotes",
                "test \"an owner is exempt\" of RULE {",
            )
        })?;
        let i = ws(i);
        let i = tag::<_, _, nom::error::Error<&str>>("of")(i)
            .map(|(r, _)| r)
            .map_err(|_| {
                self.error(
                    i,
                    "expected `of RULE` after the test's name",
                    "test \"…\" of RULE {",
                )
            })?;
        let i = ws(i);
        let rule_at = i;
        let (i, rule) = word(i).map_err(|_| {
            self.error(
                i,
                "expected the name of the rule tested",
                "test \"…\" of RULE {",
            )
        })?;
        let rule_span = self.span(rule_at, i);
        let i = ws(i);
        let mut i = char::<_, nom::error::Error<&str>>('{')(i)
            .map(|(r, _)| r)
            .map_err(|_| self.error(i, "expected `{` to open the test", "test \"…\" of RULE {"))?;
        let mut clauses = Vec::new();
        loop {
            i = ws(i);
            if let Some(rest) = i.strip_prefix('}') {
                return Ok((
                    rest,
                    Test {
                        name,
                        rule: rule.to_string(),
                        rule_span,
                        span: self.span(start, rest),
                        clauses,
                    },
                ));
            }
            if i.is_empty() {
                return Err(self.error(
                    start,
                    "this test is never closed",
                    "end it with `}` on a line of its own",
                ));
            }
            let (rest, clause) = self.clause(i)?;
            clauses.push(clause);
            i = rest;
        }
    }

    fn clause(&self, i: &'a str) -> Result<(&'a str, Clause), Diagnostic> {
        let at = i;
        let (i, w) = word(i).map_err(|_| self.error(i, "expected a clause or `}`", CLAUSES))?;
        let word_span = self.span(at, i);
        match w {
            "at" => {
                let i = ws(i);
                let (rest, text) = line(i).unwrap_or((i, ""));
                let text = text.trim();
                let time = crate::time::normalize(text).ok_or_else(|| {
                    self.error(
                        i,
                        format!("`{text}` is not a date or time"),
                        "at 2026-11-01T06:00:00Z",
                    )
                })?;
                Ok((rest, Clause::At(time, word_span)))
            }
            "then" => {
                let (rest, text) = line(i).unwrap_or((i, ""));
                let text = text.trim();
                let time = match text.strip_prefix("at") {
                    Some(t) => Some(crate::time::normalize(t.trim()).ok_or_else(|| {
                        self.error(
                            i,
                            format!("`{}` is not a date or time", t.trim()),
                            "then at 2026-11-01T08:00:00Z",
                        )
                    })?),
                    None if text.is_empty() => None,
                    None => {
                        return Err(self.error(
                            i.trim_start(),
                            "expected `then` or `then at TIME`",
                            "then at 2026-11-01T08:00:00Z",
                        ))
                    }
                };
                Ok((rest, Clause::Then(time, word_span)))
            }
            "given" => {
                let i = ws(i);
                let name_at = i;
                let (i, source) = word(i)
                    .map_err(|_| self.error(i, "expected SOURCE.ENTITY", "given ssot.members"))?;
                let i = char::<_, nom::error::Error<&str>>('.')(i)
                    .map(|(r, _)| r)
                    .map_err(|_| self.error(i, "expected SOURCE.ENTITY", "given ssot.members"))?;
                let (i, entity) = word(i)
                    .map_err(|_| self.error(i, "expected SOURCE.ENTITY", "given ssot.members"))?;
                let span = self.span(name_at, i);
                let (i, table) = self.table(i, true)?;
                Ok((
                    i,
                    Clause::Given {
                        source: source.to_string(),
                        entity: entity.to_string(),
                        span,
                        table,
                    },
                ))
            }
            "expect" => {
                let i = ws(i);
                let what_at = i;
                let (i, what) = word(i).map_err(|_| {
                    self.error(
                        i,
                        "expected `violations`, `status`, `new` or `resolved`",
                        EXPECTS,
                    )
                })?;
                let what_span = self.span(what_at, i);
                match what {
                    "status" => {
                        let i = ws(i);
                        let (rest, s) = word(i).map_err(|_| {
                            self.error(i, "expected pass, warn or fail", "expect status fail")
                        })?;
                        if !matches!(s, "pass" | "warn" | "fail") {
                            return Err(self.error(
                                i,
                                format!("`{s}` is not a status"),
                                "a rule's status is pass, warn or fail",
                            ));
                        }
                        Ok((
                            rest,
                            Clause::Expect(Expectation::Status(s.to_string()), what_span),
                        ))
                    }
                    "violations" | "new" | "resolved" => {
                        let after = ws(i);
                        let (rest, table) = if let Some(r) = after.strip_prefix("none") {
                            (r, None)
                        } else {
                            let (r, t) = self.table(i, false)?;
                            (r, Some(t))
                        };
                        let e = match what {
                            "violations" => Expectation::Violations(table),
                            "new" => Expectation::New(table),
                            _ => Expectation::Resolved(table),
                        };
                        Ok((rest, Clause::Expect(e, what_span)))
                    }
                    other => Err(Diagnostic::new(
                        format!("unknown expectation `{other}`"),
                        what_span,
                    )
                    .hint(EXPECTS)),
                }
            }
            other => {
                let hint = match crate::text::nearest(
                    other,
                    ["at", "given", "then", "expect"].into_iter(),
                ) {
                    Some(n) => format!("did you mean `{n}`? {CLAUSES}"),
                    None => CLAUSES.to_string(),
                };
                Err(Diagnostic::new(format!("unknown clause `{other}`"), word_span).hint(hint))
            }
        }
    }

    /// A table: a header row naming the columns, then rows, each `| a | b |` on its line.
    fn table(&self, i: &'a str, rows_needed: bool) -> Result<(&'a str, Table), Diagnostic> {
        let mut rows: Vec<Vec<(String, Span)>> = Vec::new();
        let mut i = i;
        loop {
            let next = ws(i);
            if !next.starts_with('|') {
                break;
            }
            let (rest, text) = line(next).unwrap_or((next, ""));
            let body = text.trim_end();
            let Some(inner) = body.strip_prefix('|').and_then(|b| b.strip_suffix('|')) else {
                return Err(self.error(
                    next,
                    "a table row starts and ends with `|`",
                    "| id | email |",
                ));
            };
            let mut cells = Vec::new();
            let mut at = self.at(next) + 1;
            for cell in inner.split('|') {
                let lead = cell.len() - cell.trim_start().len();
                let t = cell.trim();
                let start = at + lead;
                cells.push((
                    t.to_string(),
                    Span {
                        start,
                        end: start + t.len().max(1),
                    },
                ));
                at += cell.len() + 1;
            }
            if let Some(head) = rows.first() {
                if cells.len() != head.len() {
                    let row_span = self.span(next, &next[body.len()..]);
                    return Err(Diagnostic::new(
                        format!(
                            "this row has {} cells, the header {}",
                            cells.len(),
                            head.len()
                        ),
                        row_span,
                    )
                    .hint("every row has a cell for each column; leave a cell empty for NULL"));
                }
            }
            rows.push(cells);
            i = rest;
        }
        let Some((header, body)) = rows.split_first() else {
            return Err(self.error(
                ws(i),
                "expected a table: a header row `| column | … |`, then rows",
                "| id | email |\n| 1  | a@x.org |",
            ));
        };
        if rows_needed && body.is_empty() {
            let span = header.first().map_or(Span { start: 0, end: 1 }, |c| c.1);
            return Err(Diagnostic::new("this table has a header but no rows", span)
                .hint("give the rows under the header; an entity not given is empty"));
        }
        Ok((
            i,
            Table {
                columns: header.clone(),
                rows: body.to_vec(),
            },
        ))
    }
}

const CLAUSES: &str = "clauses are `at TIME`, `given SOURCE.ENTITY` with a table, `then [at TIME]`, `expect violations|new|resolved` with a table or `none`, `expect status pass|warn|fail`";
const EXPECTS: &str = "expect violations (a table, or none), expect status pass|warn|fail, and after `then`: expect new, expect resolved";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_with_tables_then_and_expectations_parses_with_its_cells() {
        let src = "# c\ntest \"x\" of r {\n  at 2026-11-01\n  given a.b\n    | id | e |\n    | 1  |   |\n  then at 2026-11-02T06:00:00Z\n  expect violations none\n  expect new\n    | key |\n  expect status warn\n}\n";
        let (tests, errors) = parse_tests(src);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(tests.len(), 1);
        let t = &tests[0];
        assert_eq!((t.name.as_str(), t.rule.as_str()), ("x", "r"));
        assert_eq!(t.clauses.len(), 6);
        let Clause::Given { table, .. } = &t.clauses[1] else {
            panic!()
        };
        assert_eq!(table.rows[0][1].0, "");
        assert_eq!(&src[table.rows[0][0].1.start..table.rows[0][0].1.end], "1");
    }

    #[test]
    fn a_row_with_too_many_cells_and_an_unknown_clause_are_both_reported() {
        let src = "test \"a\" of r {\n  given a.b\n    | id |\n    | 1 | 2 |\n}\ntest \"b\" of r {\n  expct status pass\n}\n";
        let (_, errors) = parse_tests(src);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].message.contains("2 cells, the header 1"));
        assert!(errors[1]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `expect`?"));
    }
}
