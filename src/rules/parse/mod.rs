//! The rule-file parser (nom). It works on `&str` slices of the file; a position is a slice's
//! offset from the file's start. A syntax error inside one rule is recorded and parsing goes on
//! at the next line that starts with `rule`, so that every broken rule of a file is reported.

mod expr;
mod token;

pub use token::PErr;

use super::ast::*;
use super::diag::Diagnostic;
use nom::combinator::{cut, opt};
use nom::multi::separated_list1;
use nom::Parser;
use token::*;

/// The clause words of a rule, for errors and hints.
const CLAUSES: &[&str] = &[
    "title",
    "description",
    "severity",
    "tags",
    "for",
    "where",
    "group",
    "expect",
    "key",
    "subject",
    "show",
    "grace",
    "warn",
    "fail",
    "fix",
];

impl<'a> P<'a> {
    fn threshold(&self, i: &'a str) -> Res<'a, Threshold> {
        let start = ws(i);
        let (i, _) = cut(self.kw("when")).parse(i)?;
        let (i, _) = cut(self.kw("count")).parse(i)?;
        let (i, op) = cut(|i| self.cmp_op(i)).parse(i)?;
        let (i, (lit, span)) = cut(|i| self.number(i)).parse(i)?;
        let value = match lit {
            Literal::Integer(n) => n as f64,
            Literal::Real(r) => r,
            _ => {
                return Err(nom::Err::Failure(
                    PErr::new(&self.src[span.start..], "a number or a percentage")
                        .hint("a threshold counts violations: `count > 5` or `count > 2%`"),
                ))
            }
        };
        let (i, pct) = opt(self.sym("%")).parse(i)?;
        Ok((
            i,
            Threshold {
                op,
                value,
                percent: pct.is_some(),
                span: self.span(start, i),
            },
        ))
    }

    fn action(&self, i: &'a str) -> Res<'a, Action> {
        let (i, target) = cut(|i| self.word(i)).parse(i)?;
        let (i, _) = cut(self.sym(".")).parse(i)?;
        let (i, verb) = cut(|i| self.word(i)).parse(i)?;
        let args = |i| -> Res<'a, Vec<Named>> {
            let (i, _) = self.sym("(")(i)?;
            if let Ok((i, _)) = self.sym(")")(i) {
                return Ok((i, Vec::new()));
            }
            let (i, v) = cut(separated_list1(self.sym(","), |i| self.named(i))).parse(i)?;
            let (i, _) = cut(self.sym(")")).parse(i)?;
            Ok((i, v))
        };
        // `source.insert table(…)`: a SQL verb is followed by a table name, not `(`.
        let sql_verb = verb.name == "insert" || verb.name == "update";
        if sql_verb && self.word(i).is_ok() {
            let (i, table) = cut(|i| self.word(i)).parse(i)?;
            let (i, values) = cut(args).parse(i)?;
            if verb.name == "insert" {
                return Ok((
                    i,
                    Action::SqlInsert {
                        target,
                        table,
                        values,
                    },
                ));
            }
            let (i, _) = cut(self.kw("where")).parse(i)?;
            let (i, filter) = cut(separated_list1(self.kw("and"), |i| {
                let (i, col) = self.word(i)?;
                let (i, _) = cut(self.sym("=")).parse(i)?;
                let (i, expr) = cut(|i| self.sum(i)).parse(i)?;
                Ok((
                    i,
                    Named {
                        name: Some(col),
                        expr,
                    },
                ))
            }))
            .parse(i)?;
            return Ok((
                i,
                Action::SqlUpdate {
                    target,
                    table,
                    set: values,
                    filter,
                },
            ));
        }
        let (i, args) = opt(args).parse(i)?;
        Ok((
            i,
            Action::Platform {
                target,
                verb,
                args: args.unwrap_or_default(),
            },
        ))
    }

    /// One clause into `rule`. Returns Ok(None) at the closing brace.
    fn clause(&self, i: &'a str, rule: &mut Rule, seen: &mut Vec<String>) -> Res<'a, ()> {
        let start = ws(i);
        let (i, word) = self.word(start).map_err(|_| {
            nom::Err::Failure(
                PErr::new(start, "a clause or `}`")
                    .hint(format!("clauses are {}", CLAUSES.join(", "))),
            )
        })?;
        let lower = word.name.to_ascii_lowercase();
        if !CLAUSES.contains(&lower.as_str()) {
            let hint = match crate::text::nearest(&lower, CLAUSES.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("clauses are {}", CLAUSES.join(", ")),
            };
            return Err(nom::Err::Failure(
                PErr::new(start, "a clause or `}`").hint(hint),
            ));
        }
        if seen.contains(&lower) {
            return Err(nom::Err::Failure(
                PErr::new(start, "each clause once")
                    .hint(format!("`{}` is given twice in this rule", word.name)),
            ));
        }
        seen.push(lower.clone());
        let i = self.clause_body(&lower, i, rule)?;
        Ok((i, ()))
    }

    /// What follows the clause word `lower`, into `rule`.
    fn clause_body(
        &self,
        lower: &str,
        i: &'a str,
        rule: &mut Rule,
    ) -> Result<&'a str, nom::Err<PErr<'a>>> {
        Ok(match lower {
            "title" | "description" => {
                let (i, (s, _)) = cut(|i| self.string(i)).parse(i)?;
                if lower == "title" {
                    rule.title = Some(s)
                } else {
                    rule.description = Some(s)
                }
                i
            }
            "severity" => {
                let (i, severity) = self.severity(i)?;
                rule.severity = severity;
                i
            }
            "tags" => {
                let (i, tags) = cut(separated_list1(self.sym(","), |i| self.word(i))).parse(i)?;
                rule.tags = tags;
                i
            }
            "for" => {
                let (i, b) = cut(separated_list1(self.sym(","), |i| self.binding(i))).parse(i)?;
                rule.bindings = b;
                i
            }
            "where" => {
                let (i, e) = cut(|i| self.expr(i)).parse(i)?;
                rule.filter = Some(e);
                i
            }
            "group" => {
                let (i, _) = cut(self.kw("by")).parse(i)?;
                let (i, e) = cut(|i| self.exprs(i)).parse(i)?;
                rule.group_by = e;
                i
            }
            "expect" => {
                let (i, e) = cut(|i| self.expr(i)).parse(i)?;
                rule.expect = Some(e);
                i
            }
            "key" => {
                let (i, e) = cut(|i| self.exprs(i)).parse(i)?;
                rule.key = e;
                i
            }
            "subject" => {
                let (i, e) = cut(|i| self.expr(i)).parse(i)?;
                rule.subject = Some(e);
                i
            }
            "show" => {
                let (i, v) = cut(separated_list1(self.sym(","), |i| self.named(i))).parse(i)?;
                rule.show = v;
                i
            }
            "grace" => {
                let (i, grace) = self.grace(i)?;
                rule.grace = Some(grace);
                i
            }
            "warn" | "fail" => {
                let (i, t) = self.threshold(i)?;
                if lower == "warn" {
                    rule.warn = Some(t)
                } else {
                    rule.fail = Some(t)
                }
                i
            }
            "fix" => {
                let (i, a) = self.action(i)?;
                rule.fix = Some(a);
                i
            }
            _ => unreachable!("every clause word is handled"),
        })
    }

    /// After `severity`: one of the severities.
    fn severity(&self, i: &'a str) -> Res<'a, Severity> {
        let at = ws(i);
        let (i, w) = cut(|i| self.word(i)).parse(i)?;
        let severity = Severity::parse(&w.name).ok_or_else(|| {
            let hint = match crate::text::nearest(&w.name, Severity::NAMES.into_iter()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("severities are {}", Severity::NAMES.join(", ")),
            };
            nom::Err::Failure(PErr::new(at, "a severity").hint(hint))
        })?;
        Ok((i, severity))
    }

    /// After `grace`: a duration, in seconds.
    fn grace(&self, i: &'a str) -> Res<'a, i64> {
        let at = ws(i);
        let (i, (lit, _)) = cut(|i| self.number(i)).parse(i)?;
        match lit {
            Literal::Duration(s) => Ok((i, s)),
            _ => Err(nom::Err::Failure(
                PErr::new(at, "a duration").hint("write a unit: 6h, 2d, 30m, 1w"),
            )),
        }
    }

    fn rule(&self, i: &'a str) -> Res<'a, Rule> {
        let start = ws(i);
        let (i, count) = match self.kw("count")(start) {
            Ok((i, _)) => (i, true),
            Err(_) => (self.kw("rule")(start)?.0, false),
        };
        let (i, name) = cut(|i| self.word(i)).parse(i)?;
        let (mut i, _) = cut(self.sym("{")).parse(i)?;
        let mut rule = Rule::new(name, Span::default());
        rule.count = count;
        let mut seen = Vec::new();
        loop {
            if let Ok((rest, close)) = self.sym("}")(i) {
                rule.span = Span::new(self.off(start), close.end);
                if count {
                    let counted = |c: &String| {
                        ["title", "description", "for", "where", "group"].contains(&c.as_str())
                    };
                    if let Some(other) = seen.iter().find(|c| !counted(c)) {
                        return Err(nom::Err::Failure(
                            PErr::new(start, "a count's clauses")
                                .message(format!("a count takes no `{other}` clause"))
                                .hint("a count has `for`, `where`, `group by` (to count distinct values) and `title`"),
                        ));
                    }
                    // Nothing is a violation: the count is what the rule ranges over.
                    rule.expect = Some(Expr {
                        kind: ExprKind::Literal(Literal::Bool(true)),
                        span: rule.name.span,
                    });
                }
                return Ok((rest, rule));
            }
            if ws(i).is_empty() {
                return Err(nom::Err::Failure(PErr::new(ws(i), "`}`").hint(format!(
                    "rule `{}` (line {}) is never closed",
                    rule.name,
                    self.src[..self.off(start)].matches('\n').count() + 1
                ))));
            }
            (i, _) = self.clause(i, &mut rule, &mut seen)?;
        }
    }

    fn diagnostic(&self, e: PErr<'a>) -> Diagnostic {
        let at = self.off(e.at);
        let found = if e.at.is_empty() {
            "the end of the file".to_string()
        } else {
            format!("`{}`", &e.at[..token_len(e.at).max(1)])
        };
        let expected = match e.expected.as_slice() {
            [one] => one.clone(),
            many => {
                let (last, rest) = many.split_last().expect("at least one expectation");
                format!("{} or {last}", rest.join(", "))
            }
        };
        let message = e
            .message
            .unwrap_or_else(|| format!("expected {expected}, found {found}"));
        Diagnostic::new(message, Span::new(at, at + token_len(e.at))).with_hint(e.hint)
    }
}

/// Parses a rule file. Returns the rules that parsed and a diagnostic for each one that did not.
pub fn parse_file(src: &str) -> (Vec<Rule>, Vec<Diagnostic>) {
    on_parser_stack(|| parse_file_here(src))
}

/// How much stack the parser gets: a rule nested as deep as `MAX_NESTING` allows takes about
/// 1.5 MB in a debug build (nom's combinators keep large frames), more than a test thread or
/// a small caller's thread may have. The parser runs on a thread of its own with this much
/// (reserved, not committed, until used).
const PARSER_STACK: usize = 32 << 20;

/// `parse`, on a thread with [`PARSER_STACK`] of stack (inline when no thread can be made).
fn on_parser_stack<T: Send>(parse: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("rule parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(s, &parse)
        {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => parse(),
        }
    })
}

fn parse_file_here(src: &str) -> (Vec<Rule>, Vec<Diagnostic>) {
    let p = P::new(src);
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut i = src;
    loop {
        i = ws(i);
        if i.is_empty() {
            break;
        }
        match p.rule(i) {
            Ok((rest, rule)) => {
                i = rest;
                rules.push(rule);
            }
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
                let mut d = p.diagnostic(e);
                if p.off(ws(i)) == d.span.start
                    && p.kw("rule")(i).is_err()
                    && p.kw("count")(i).is_err()
                {
                    d = Diagnostic::new(
                        format!("expected `rule`, found `{}`", &i[..token_len(i).max(1)]),
                        d.span,
                    )
                    .with_hint(Some(
                        "a rule file holds rules: `rule NAME { … }` (and counts: `count NAME { for … }`)".into(),
                    ));
                }
                errors.push(d);
                i = skip_to_next_rule(&i[i.chars().next().map_or(0, char::len_utf8)..]);
            }
            Err(nom::Err::Incomplete(_)) => unreachable!("complete input"),
        }
    }
    (rules, errors)
}

/// The rest of the text from the next line that starts with `rule`.
fn skip_to_next_rule(i: &str) -> &str {
    let mut rest = i;
    while let Some(n) = rest.find('\n') {
        rest = &rest[n + 1..];
        let t = rest.trim_start_matches([' ', '\t']);
        let head = t.get(..4).unwrap_or("");
        if head.eq_ignore_ascii_case("rule") && !t[4..].starts_with(is_ident_char) {
            return t;
        }
        let head = t.get(..5).unwrap_or("");
        if head.eq_ignore_ascii_case("count") && !t[5..].starts_with(is_ident_char) {
            return t;
        }
    }
    &rest[rest.len()..]
}

/// Parses a query: a rule body without braces. Its rule is named `query`.
pub fn parse_query(src: &str) -> Result<Rule, Diagnostic> {
    on_parser_stack(|| parse_query_here(src))
}

fn parse_query_here(src: &str) -> Result<Rule, Diagnostic> {
    let p = P::new(src);
    let mut rule = Rule::new(
        Ident {
            name: "query".into(),
            span: Span::default(),
        },
        Span::new(0, src.len()),
    );
    let mut seen = Vec::new();
    let mut i = src;
    while !ws(i).is_empty() {
        match p.clause(i, &mut rule, &mut seen) {
            Ok((rest, ())) => i = rest,
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => return Err(p.diagnostic(e)),
            Err(nom::Err::Incomplete(_)) => unreachable!("complete input"),
        }
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Rule {
        let (rules, errors) = parse_file(src);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rules.len(), 1);
        rules.into_iter().next().unwrap()
    }

    #[test]
    fn where_of_exists_extends_as_far_as_it_can() {
        let r = one("rule r { for a in s.x expect exists b in s.y where b.k = a.k and b.v = 1 }");
        let ExprKind::Exists { filter, .. } = &r.expect.unwrap().kind else {
            panic!("expect is an exists")
        };
        assert!(matches!(
            filter.as_deref().unwrap().kind,
            ExprKind::Binary(BinOp::And, ..)
        ));
    }

    #[test]
    fn and_binds_tighter_than_or_and_comparisons_tighter_than_and() {
        let r = one("rule r { for a in s.x where a.p = 1 or a.q = 2 and a.r = 3 }");
        let ExprKind::Binary(BinOp::Or, _, right) = &r.filter.unwrap().kind else {
            panic!("or at the top")
        };
        assert!(matches!(right.kind, ExprKind::Binary(BinOp::And, ..)));
    }

    #[test]
    fn strings_unescape_doubled_quotes_and_backslashes() {
        let r = one(r#"rule r { for a in s.x where a.p = 'it''s' and a.q = "say \"hi\"\n" }"#);
        let mut texts = Vec::new();
        r.filter.unwrap().walk(&mut |e| {
            if let ExprKind::Literal(Literal::Text(t)) = &e.kind {
                texts.push(t.clone())
            }
        });
        assert_eq!(texts, ["it's", "say \"hi\"\n"]);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let r = one("RULE r { FOR a IN s.x WHERE a.p IS NOT NULL Severity Warning }");
        assert_eq!(r.severity, Severity::Warning);
        assert!(matches!(
            r.filter.unwrap().kind,
            ExprKind::IsNull { negated: true, .. }
        ));
    }

    #[test]
    fn durations_and_thresholds_parse_to_seconds_and_percent() {
        let r = one("rule r { for a in s.x grace 6h warn when count > 0 fail when count >= 2.5% }");
        assert_eq!(r.grace, Some(6 * 3600));
        let f = r.fail.unwrap();
        assert_eq!((f.op, f.value, f.percent), (CmpOp::Ge, 2.5, true));
        assert!(!r.warn.unwrap().percent);
    }
}
#[cfg(test)]
mod stack {
    /// The parser runs on a stack of its own, so a caller with little stack (a 256 KB thread)
    /// parses rules nested as deep as the language allows, and gets a positioned error past it.
    #[test]
    fn rules_at_and_past_the_nesting_limit_parse_from_a_small_thread() {
        let rule = |expect: String| format!("rule r {{ for p in hr.people expect {expect} }}");
        let limit = super::MAX_NESTING - 1; // the rule's own expression is one level
        let cases = [
            (
                rule(format!(
                    "{}p.id = 1{}",
                    "(".repeat(limit),
                    ")".repeat(limit)
                )),
                true,
            ),
            (rule(format!("{}p.id = 1", "not ".repeat(limit))), true),
            (
                rule(format!(
                    "{}p.id = 1",
                    "exists b in hr.badges where ".repeat(limit)
                )),
                true,
            ),
            (
                rule(format!("{}p.id = 1{}", "(".repeat(5000), ")".repeat(5000))),
                false,
            ),
        ];
        for (src, fits) in cases {
            let (rules, errors) = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || super::parse_file(&src))
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(rules.len(), fits as usize, "{errors:?}");
            assert!(
                errors.iter().all(|e| e.message.contains("levels deep")),
                "{errors:?}"
            );
        }
    }
}
