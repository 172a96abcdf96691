//! The rule-file parser (nom). It works on `&str` slices of the file; a position is a slice's
//! offset from the file's start. A syntax error inside one rule is recorded and parsing goes on
//! at the next line that starts with `rule`, so that every broken rule of a file is reported.

use super::ast::*;
use super::diag::Diagnostic;
use nom::branch::alt;
use nom::combinator::{cut, map, opt};
use nom::error::{ErrorKind, ParseError};
use nom::multi::separated_list1;
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// A parse error: where, what was expected there, and possibly a hint.
#[derive(Debug, Clone)]
pub struct PErr<'a> {
    at: &'a str,
    expected: Vec<String>,
    hint: Option<String>,
    /// Said instead of "expected …, found …" where that reads badly.
    message: Option<String>,
}

impl<'a> PErr<'a> {
    fn new(at: &'a str, expected: impl Into<String>) -> PErr<'a> {
        PErr {
            at,
            expected: vec![expected.into()],
            hint: None,
            message: None,
        }
    }
    fn message(mut self, message: impl Into<String>) -> PErr<'a> {
        self.message = Some(message.into());
        self
    }
    fn hint(mut self, hint: impl Into<String>) -> PErr<'a> {
        self.hint = Some(hint.into());
        self
    }
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        PErr::new(input, format!("{kind:?}").to_lowercase())
    }
    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
    /// The alternative that got further wins; at the same place, the expectations merge.
    fn or(mut self, other: Self) -> Self {
        match self.at.len().cmp(&other.at.len()) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => {
                for e in other.expected {
                    if !self.expected.contains(&e) {
                        self.expected.push(e);
                    }
                }
                self.hint = self.hint.or(other.hint);
                self
            }
        }
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn fail<'a, T>(at: &'a str, expected: impl Into<String>) -> Res<'a, T> {
    Err(nom::Err::Error(PErr::new(at, expected)))
}

/// Words that cannot be aliases: they would make expressions ambiguous.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "null", "like", "exists", "true", "false", "where",
];

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

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Skips whitespace and `#` comments.
fn ws(mut i: &str) -> &str {
    loop {
        let t = i.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            // The end is a slice of the text too: positions are offsets into it.
            i = &rest[rest.find('\n').unwrap_or(rest.len())..];
        } else {
            return t;
        }
    }
}

/// The text of the token at `i`, for error spans: a word, a number, a quoted string, or one
/// character.
pub(super) fn token_len(i: &str) -> usize {
    let mut chars = i.char_indices();
    match chars.next() {
        None => 0,
        Some((_, c)) if is_ident_char(c) => i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len()),
        Some((_, q)) if q == '\'' || q == '"' => {
            let line = &i[1..i.find('\n').unwrap_or(i.len())];
            line.find(q).map_or(line.len() + 1, |n| n + 2)
        }
        Some((_, c)) => c.len_utf8(),
    }
}

/// A parser over one file's text.
struct P<'a> {
    src: &'a str,
}

impl<'a> P<'a> {
    fn off(&self, i: &'a str) -> usize {
        i.as_ptr() as usize - self.src.as_ptr() as usize
    }

    fn span(&self, from: &'a str, to: &'a str) -> Span {
        Span::new(self.off(from), self.off(to))
    }

    /// A keyword, case-insensitive, not followed by an identifier character.
    fn kw(&self, word: &'static str) -> impl Fn(&'a str) -> Res<'a, Span> + '_ {
        move |i: &'a str| {
            let i = ws(i);
            let n = word.len();
            if i.len() >= n
                && i.is_char_boundary(n)
                && i[..n].eq_ignore_ascii_case(word)
                && !i[n..].starts_with(is_ident_char)
            {
                Ok((&i[n..], Span::new(self.off(i), self.off(i) + n)))
            } else {
                fail(i, format!("`{word}`"))
            }
        }
    }

    fn sym(&self, s: &'static str) -> impl Fn(&'a str) -> Res<'a, Span> + '_ {
        move |i: &'a str| {
            let i = ws(i);
            match i.strip_prefix(s) {
                Some(rest) => Ok((rest, Span::new(self.off(i), self.off(rest)))),
                None => fail(i, format!("`{s}`")),
            }
        }
    }

    fn word(&self, i: &'a str) -> Res<'a, Ident> {
        let i = ws(i);
        if !i.starts_with(is_ident_start) {
            return fail(i, "a name");
        }
        let n = i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len());
        let (name, rest) = i.split_at(n);
        Ok((
            rest,
            Ident {
                name: name.to_string(),
                span: self.span(i, rest),
            },
        ))
    }

    /// A name that can be an alias: not a reserved word.
    fn alias(&self, i: &'a str) -> Res<'a, Ident> {
        let (rest, id) = self.word(i)?;
        if RESERVED.contains(&id.name.to_ascii_lowercase().as_str()) {
            return Err(nom::Err::Error(PErr::new(ws(i), "a name").hint(format!(
                "`{}` is a keyword and cannot name an alias",
                id.name
            ))));
        }
        Ok((rest, id))
    }

    fn string(&self, i: &'a str) -> Res<'a, (String, Span)> {
        let start = ws(i);
        let Some(quote) = start.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return fail(start, "a string");
        };
        let mut out = String::new();
        let mut chars = start[1..].char_indices();
        while let Some((n, c)) = chars.next() {
            if c == '\n' {
                break; // a string ends on its line: a missing quote is reported where it opens
            }
            if c == quote {
                // `''` inside a single-quoted string is one quote.
                if quote == '\'' && start[1 + n + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                let rest = &start[1 + n + 1..];
                return Ok((rest, (out, self.span(start, rest))));
            }
            if c == '\\' && quote == '"' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((m, other)) => {
                        let at = &start[1 + m..];
                        return Err(nom::Err::Failure(
                            PErr::new(at, "an escape: \\\" \\\\ \\n or \\t").hint(format!(
                                "`\\{other}` is not an escape; write `\\\\{other}` for a backslash"
                            )),
                        ));
                    }
                    None => break,
                }
                continue;
            }
            out.push(c);
        }
        Err(nom::Err::Failure(
            PErr::new(start, "a closing quote")
                .message("unterminated string")
                .hint(format!(
                    "this string is not closed on its line: add `{quote}`"
                )),
        ))
    }

    /// A number, or a duration when a unit (`m`, `h`, `d`, `w`) follows it directly.
    fn number(&self, i: &'a str) -> Res<'a, (Literal, Span)> {
        let start = ws(i);
        let digits = start
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(start.len());
        if digits == 0 {
            return fail(start, "a number");
        }
        let mut end = digits;
        let mut real = false;
        if start[end..].starts_with('.')
            && start[end + 1..].starts_with(|c: char| c.is_ascii_digit())
        {
            real = true;
            end += 1 + start[end + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(start.len() - end - 1);
        }
        let text = &start[..end];
        let after = &start[end..];
        let unit_len = after
            .find(|c: char| !is_ident_char(c))
            .unwrap_or(after.len());
        let too_big =
            || nom::Err::Failure(PErr::new(start, "a smaller number").hint("numbers are 64-bit"));
        if unit_len > 0 {
            let unit = &after[..unit_len];
            let secs = match unit {
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 604_800,
                _ => {
                    return Err(nom::Err::Failure(
                        PErr::new(after, "a duration unit").hint(format!(
                            "`{unit}` is not a unit: write m (minutes), h (hours), d (days) or w (weeks)"
                        )),
                    ))
                }
            };
            if real {
                return Err(nom::Err::Failure(
                    PErr::new(start, "a whole number of units").hint("write 90m rather than 1.5h"),
                ));
            }
            let n: i64 = text.parse().map_err(|_| too_big())?;
            let rest = &after[unit_len..];
            let secs = n.checked_mul(secs).ok_or_else(too_big)?;
            return Ok((rest, (Literal::Duration(secs), self.span(start, rest))));
        }
        let lit = if real {
            Literal::Real(text.parse().map_err(|_| too_big())?)
        } else {
            Literal::Integer(text.parse().map_err(|_| too_big())?)
        };
        Ok((after, (lit, self.span(start, after))))
    }

    fn binding(&self, i: &'a str) -> Res<'a, Binding> {
        let (i, alias) = self.alias(i)?;
        let (i, _) = self.kw("in")(i)?;
        let (i, source) = cut(|i| self.word(i)).parse(i)?;
        let (i, _) = cut(self.sym(".")).parse(i).map_err(|e| {
            e.map(|e| e.hint("a binding names `source.entity`, such as ssot.members"))
        })?;
        let (i, entity) = cut(|i| self.word(i)).parse(i)?;
        Ok((
            i,
            Binding {
                alias,
                source,
                entity,
            },
        ))
    }

    // ----------------------------------------------------------------------- expressions

    pub fn expr(&self, i: &'a str) -> Res<'a, Expr> {
        self.binary_chain(i, &|i| self.and(i), &[("or", BinOp::Or)])
    }

    fn and(&self, i: &'a str) -> Res<'a, Expr> {
        self.binary_chain(i, &|i| self.not(i), &[("and", BinOp::And)])
    }

    /// `item { op item }`, left-associative, for keyword operators.
    fn binary_chain(
        &self,
        i: &'a str,
        item: &dyn Fn(&'a str) -> Res<'a, Expr>,
        ops: &[(&'static str, BinOp)],
    ) -> Res<'a, Expr> {
        let (mut i, mut left) = item(i)?;
        'next: loop {
            for (word, op) in ops {
                if let Ok((rest, _)) = self.kw(word)(i) {
                    let (rest, right) = cut(item).parse(rest)?;
                    let span = left.span.to(right.span);
                    left = Expr {
                        kind: ExprKind::Binary(*op, Box::new(left), Box::new(right)),
                        span,
                    };
                    i = rest;
                    continue 'next;
                }
            }
            return Ok((i, left));
        }
    }

    fn not(&self, i: &'a str) -> Res<'a, Expr> {
        if let Ok((rest, kw)) = self.kw("not")(i) {
            let (rest, e) = cut(|i| self.not(i)).parse(rest)?;
            let span = kw.to(e.span);
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Not(Box::new(e)),
                    span,
                },
            ));
        }
        self.cmp(i)
    }

    fn cmp_op(&self, i: &'a str) -> Res<'a, CmpOp> {
        alt((
            map(self.sym("<="), |_| CmpOp::Le),
            map(self.sym(">="), |_| CmpOp::Ge),
            map(self.sym("!="), |_| CmpOp::Ne),
            map(self.sym("<>"), |_| CmpOp::Ne),
            map(self.sym("="), |_| CmpOp::Eq),
            map(self.sym("<"), |_| CmpOp::Lt),
            map(self.sym(">"), |_| CmpOp::Gt),
        ))
        .parse(i)
        .map_err(|e| e.map(|e| PErr::new(e.at, "a comparison (= != < <= > >=)")))
    }

    fn cmp(&self, i: &'a str) -> Res<'a, Expr> {
        let (i, left) = self.sum(i)?;
        let bin = |op, left: Expr, right: Expr| {
            let span = left.span.to(right.span);
            Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                span,
            }
        };
        if let Ok((rest, op)) = self.cmp_op(i) {
            let (rest, right) = cut(|i| self.sum(i)).parse(rest)?;
            return Ok((rest, bin(BinOp::Cmp(op), left, right)));
        }
        if let Ok((rest, _)) = self.kw("like")(i) {
            let (rest, right) = cut(|i| self.sum(i)).parse(rest)?;
            return Ok((rest, bin(BinOp::Like, left, right)));
        }
        if let Ok((rest, _)) = self.kw("is")(i) {
            let (rest, negated) = opt(self.kw("not")).parse(rest)?;
            let (rest, null) = cut(self.kw("null")).parse(rest)?;
            let span = left.span.to(null);
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::IsNull {
                        expr: Box::new(left),
                        negated: negated.is_some(),
                    },
                    span,
                },
            ));
        }
        // `[not] in (…)` and `not like`
        let (after_not, negated) = match self.kw("not")(i) {
            Ok((rest, _)) => (rest, true),
            Err(_) => (i, false),
        };
        if negated {
            if let Ok((rest, _)) = self.kw("like")(after_not) {
                let (rest, right) = cut(|i| self.sum(i)).parse(rest)?;
                let e = bin(BinOp::Like, left, right);
                let span = e.span;
                return Ok((
                    rest,
                    Expr {
                        kind: ExprKind::Not(Box::new(e)),
                        span,
                    },
                ));
            }
        }
        match self.kw("in")(after_not) {
            Ok((rest, _)) => {
                let (rest, _) = cut(self.sym("(")).parse(rest)?;
                let (rest, list) =
                    cut(separated_list1(self.sym(","), |i| self.expr(i))).parse(rest)?;
                let (rest, close) = cut(self.sym(")")).parse(rest)?;
                let span = left.span.to(close);
                Ok((
                    rest,
                    Expr {
                        kind: ExprKind::InList {
                            expr: Box::new(left),
                            list,
                            negated,
                        },
                        span,
                    },
                ))
            }
            Err(_) if negated => Err(nom::Err::Failure(PErr::new(
                ws(after_not),
                "`in` or `like` after `not`",
            ))),
            Err(_) => Ok((i, left)),
        }
    }

    fn sum(&self, i: &'a str) -> Res<'a, Expr> {
        let (mut i, mut left) = self.term(i)?;
        loop {
            let op = alt((
                map(self.sym("||"), |_| BinOp::Concat),
                map(self.sym("+"), |_| BinOp::Add),
                map(self.sym("-"), |_| BinOp::Sub),
            ))
            .parse(i);
            let Ok((rest, op)) = op else {
                return Ok((i, left));
            };
            let (rest, right) = cut(|i| self.term(i)).parse(rest)?;
            let span = left.span.to(right.span);
            left = Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                span,
            };
            i = rest;
        }
    }

    fn term(&self, i: &'a str) -> Res<'a, Expr> {
        let start = ws(i);
        let lit = |rest, lit, span| {
            Ok((
                rest,
                Expr {
                    kind: ExprKind::Literal(lit),
                    span,
                },
            ))
        };
        if start.starts_with(['\'', '"']) {
            let (rest, (s, span)) = self.string(start)?;
            return lit(rest, Literal::Text(s), span);
        }
        if start.starts_with(|c: char| c.is_ascii_digit()) {
            let (rest, (l, span)) = self.number(start)?;
            return lit(rest, l, span);
        }
        if let Some(rest) = start.strip_prefix('(') {
            let (rest, mut e) = cut(|i| self.expr(i)).parse(rest)?;
            let (rest, close) = cut(self.sym(")")).parse(rest)?;
            e.span = self.span(start, start).to(close);
            return Ok((rest, e));
        }
        if let Some(rest) = start.strip_prefix('-') {
            let (rest, e) = cut(|i| self.term(i)).parse(rest)?;
            let span = Span::new(self.off(start), e.span.end);
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Neg(Box::new(e)),
                    span,
                },
            ));
        }
        for (word, l) in [
            ("true", Literal::Bool(true)),
            ("false", Literal::Bool(false)),
            ("null", Literal::Null),
        ] {
            if let Ok((rest, span)) = self.kw(word)(start) {
                return lit(rest, l, span);
            }
        }
        if let Ok((rest, kw)) = self.kw("exists")(start) {
            let (rest, binding) = cut(|i| self.binding(i)).parse(rest)?;
            let (rest, filter) =
                opt(preceded(self.kw("where"), cut(|i| self.expr(i)))).parse(rest)?;
            let end = filter.as_ref().map_or(binding.entity.span, |f| f.span);
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Exists {
                        binding,
                        filter: filter.map(Box::new),
                    },
                    span: kw.to(end),
                },
            ));
        }
        let (rest, name) = self.word(start).map_err(|e| {
            e.map(|_| {
                PErr::new(
                    start,
                    "an expression (a value, `alias.field` or a function call)",
                )
            })
        })?;
        if let Ok((rest, _)) = self.sym(".")(rest) {
            let (rest, field) = cut(|i| self.word(i)).parse(rest)?;
            let span = name.span.to(field.span);
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Field { alias: name, field },
                    span,
                },
            ));
        }
        if let Ok((rest, _)) = self.sym("(")(rest) {
            if name.name.eq_ignore_ascii_case("count") {
                return self.count(name, rest);
            }
            let (rest, args) = if let Ok((rest, _)) = self.sym(")")(rest) {
                (rest, Vec::new())
            } else {
                let (rest, args) =
                    cut(separated_list1(self.sym(","), |i| self.expr(i))).parse(rest)?;
                let (rest, _) = cut(self.sym(")")).parse(rest)?;
                (rest, args)
            };
            let span = Span::new(name.span.start, self.off(rest));
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::Call { name, args },
                    span,
                },
            ));
        }
        let hint = if RESERVED.contains(&name.name.to_ascii_lowercase().as_str()) {
            format!(
                "`{}` is a keyword; an operand is missing before it",
                name.name
            )
        } else {
            format!(
                "a field is `alias.field`, such as `{0}.email`; a call is `{0}(…)`",
                name.name
            )
        };
        Err(nom::Err::Failure(
            PErr::new(
                start,
                "an expression (a value, `alias.field` or a function call)",
            )
            .hint(hint),
        ))
    }

    /// After `count(`: `*` or a binding with an optional `where`.
    fn count(&self, name: Ident, i: &'a str) -> Res<'a, Expr> {
        if let Ok((rest, _)) = self.sym("*")(i) {
            let (rest, close) = cut(self.sym(")")).parse(rest)?;
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::CountStar,
                    span: name.span.to(close),
                },
            ));
        }
        let (rest, binding) = cut(|i| self.binding(i)).parse(i).map_err(|e| {
            e.map(|_| {
                PErr::new(ws(i), "`*` or a binding").hint(
                    "count takes `*` (the rows of a group) or `alias in source.entity [where …]`",
                )
            })
        })?;
        let (rest, filter) = opt(preceded(self.kw("where"), cut(|i| self.expr(i)))).parse(rest)?;
        let (rest, close) = cut(self.sym(")")).parse(rest)?;
        Ok((
            rest,
            Expr {
                kind: ExprKind::CountOf {
                    binding,
                    filter: filter.map(Box::new),
                },
                span: name.span.to(close),
            },
        ))
    }

    fn named(&self, i: &'a str) -> Res<'a, Named> {
        if let Ok((rest, name)) = self.word(i) {
            if let Ok((rest, _)) = self.sym("=")(rest) {
                let (rest, expr) = cut(|i| self.expr(i)).parse(rest)?;
                return Ok((
                    rest,
                    Named {
                        name: Some(name),
                        expr,
                    },
                ));
            }
        }
        let (rest, expr) = self.expr(i)?;
        Ok((rest, Named { name: None, expr }))
    }

    fn exprs(&self, i: &'a str) -> Res<'a, Vec<Expr>> {
        separated_list1(self.sym(","), |i| self.expr(i)).parse(i)
    }

    // ----------------------------------------------------------------------- clauses

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
        if target.name == "ssot" && (verb.name == "insert" || verb.name == "update") {
            let (i, table) = cut(|i| self.word(i)).parse(i)?;
            let (i, values) = cut(args).parse(i)?;
            if verb.name == "insert" {
                return Ok((i, Action::SsotInsert { table, values }));
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
                Action::SsotUpdate {
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
        let i = match lower.as_str() {
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
                let at = ws(i);
                let (i, w) = cut(|i| self.word(i)).parse(i)?;
                rule.severity = Severity::parse(&w.name).ok_or_else(|| {
                    let hint = match crate::text::nearest(&w.name, Severity::NAMES.into_iter()) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("severities are {}", Severity::NAMES.join(", ")),
                    };
                    nom::Err::Failure(PErr::new(at, "a severity").hint(hint))
                })?;
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
                let at = ws(i);
                let (i, (lit, _)) = cut(|i| self.number(i)).parse(i)?;
                match lit {
                    Literal::Duration(s) => rule.grace = Some(s),
                    _ => {
                        return Err(nom::Err::Failure(
                            PErr::new(at, "a duration").hint("write a unit: 6h, 2d, 30m, 1w"),
                        ))
                    }
                }
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
        };
        Ok((i, ()))
    }

    fn rule(&self, i: &'a str) -> Res<'a, Rule> {
        let start = ws(i);
        let (i, _) = self.kw("rule")(start)?;
        let (i, name) = cut(|i| self.word(i)).parse(i)?;
        let (mut i, _) = cut(self.sym("{")).parse(i)?;
        let mut rule = Rule::new(name, Span::default());
        let mut seen = Vec::new();
        loop {
            if let Ok((rest, close)) = self.sym("}")(i) {
                rule.span = Span::new(self.off(start), close.end);
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
    let p = P { src };
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
                if p.off(ws(i)) == d.span.start && p.kw("rule")(i).is_err() {
                    d = Diagnostic::new(
                        format!("expected `rule`, found `{}`", &i[..token_len(i).max(1)]),
                        d.span,
                    )
                    .with_hint(Some("a rule file holds rules: `rule NAME { … }`".into()));
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
    }
    &rest[rest.len()..]
}

/// Parses a query: a rule body without braces. Its rule is named `query`.
pub fn parse_query(src: &str) -> Result<Rule, Diagnostic> {
    let p = P { src };
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
