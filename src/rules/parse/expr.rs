//! Expressions: `or` over `and` over `not` over comparisons over sums over terms, as in
//! the grammar of the README's Rules section.

use super::super::ast::*;
use super::token::*;
use nom::branch::alt;
use nom::combinator::{cut, map, opt};
use nom::multi::separated_list1;
use nom::sequence::preceded;
use nom::Parser;

/// Chains of one `and` or `or` longer than this are built balanced.
const BALANCE_FROM: usize = 16;

/// `items` joined by `op` as a balanced tree.
fn balanced(op: BinOp, mut items: Vec<Expr>, bin: &dyn Fn(BinOp, Expr, Expr) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let right = items.split_off(items.len() / 2);
    bin(op, balanced(op, items, bin), balanced(op, right, bin))
}

impl<'a> P<'a> {
    pub(super) fn expr(&self, i: &'a str) -> Res<'a, Expr> {
        let _level = self.nest(i)?;
        let (rest, e) = self.binary_chain(i, &|i| self.and(i), &[("or", BinOp::Or)])?;
        let depth = e.depth();
        if depth > MAX_DEPTH {
            return Err(nom::Err::Failure(
                PErr::new(ws(i), "a shallower expression")
                    .message(format!(
                        "this expression is {depth} levels deep; SQLite runs at most {MAX_DEPTH}"
                    ))
                    .hint("long chains of `+`, `-` or `||` nest one level a term: split them"),
            ));
        }
        Ok((rest, e))
    }

    pub(super) fn and(&self, i: &'a str) -> Res<'a, Expr> {
        self.binary_chain(i, &|i| self.not(i), &[("and", BinOp::And)])
    }

    /// `item { op item }`, left-associative, for keyword operators.
    pub(super) fn binary_chain(
        &self,
        i: &'a str,
        item: &dyn Fn(&'a str) -> Res<'a, Expr>,
        ops: &[(&'static str, BinOp)],
    ) -> Res<'a, Expr> {
        let (mut i, first) = item(i)?;
        let mut items = vec![first];
        let mut used: Vec<BinOp> = Vec::new();
        'next: loop {
            for (word, op) in ops {
                if let Ok((rest, _)) = self.kw(word)(i) {
                    let (rest, right) = cut(item).parse(rest)?;
                    items.push(right);
                    used.push(*op);
                    i = rest;
                    continue 'next;
                }
            }
            break;
        }
        let bin = |op, left: Expr, right: Expr| {
            let span = left.span.to(right.span);
            Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                span,
            }
        };
        // A long chain of one associative operator (and, or) is built balanced, so that its
        // depth is the logarithm of its length; a short one stays as written, left to right.
        if items.len() > BALANCE_FROM && used.windows(2).all(|w| w[0] == w[1]) {
            return Ok((i, balanced(used[0], items, &bin)));
        }
        let mut items = items.into_iter();
        let first = items.next().expect("a chain has its first item");
        Ok((
            i,
            used.into_iter()
                .zip(items)
                .fold(first, |l, (op, r)| bin(op, l, r)),
        ))
    }

    pub(super) fn not(&self, i: &'a str) -> Res<'a, Expr> {
        if let Ok((rest, kw)) = self.kw("not")(i) {
            let _level = self.nest(i)?;
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

    pub(super) fn cmp_op(&self, i: &'a str) -> Res<'a, CmpOp> {
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

    pub(super) fn cmp(&self, i: &'a str) -> Res<'a, Expr> {
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

    pub(super) fn sum(&self, i: &'a str) -> Res<'a, Expr> {
        let (mut i, mut left) = self.term(i)?;
        let mut ops = 0;
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
            ops += 1;
            if ops >= MAX_DEPTH {
                return Err(nom::Err::Failure(
                    PErr::new(ws(i), "a shorter chain")
                        .message(format!(
                            "more than {MAX_DEPTH} terms of `+`, `-` or `||` in a row"
                        ))
                        .hint("each term nests the chain one level deeper: split it"),
                ));
            }
            let (rest, right) = cut(|i| self.term(i)).parse(rest)?;
            let span = left.span.to(right.span);
            left = Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                span,
            };
            i = rest;
        }
    }

    pub(super) fn term(&self, i: &'a str) -> Res<'a, Expr> {
        let start = ws(i);
        if let Some(r) = self.literal(start) {
            return r;
        }
        if let Some(rest) = start.strip_prefix('(') {
            let (rest, mut e) = cut(|i| self.expr(i)).parse(rest)?;
            let (rest, close) = cut(self.sym(")")).parse(rest)?;
            e.span = self.span(start, start).to(close);
            return Ok((rest, e));
        }
        if let Some(rest) = start.strip_prefix('-') {
            let _level = self.nest(start)?;
            let (rest, e) = cut(|i| self.term(i)).parse(rest)?;
            let span = Span::new(self.off(start), e.span.end);
            let kind = ExprKind::Neg(Box::new(e));
            return Ok((rest, Expr { kind, span }));
        }
        if let Ok((rest, kw)) = self.kw("exists")(start) {
            return self.exists(kw, rest);
        }
        self.name_led(start)
    }

    /// A string, a number, `true`, `false` or `null`; None when `start` holds none.
    fn literal(&self, start: &'a str) -> Option<Res<'a, Expr>> {
        let lit = |rest, lit, span| {
            let kind = ExprKind::Literal(lit);
            Ok((rest, Expr { kind, span }))
        };
        if start.starts_with(['\'', '"']) {
            return Some(
                self.string(start)
                    .and_then(|(rest, (s, span))| lit(rest, Literal::Text(s), span)),
            );
        }
        if start.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(
                self.number(start)
                    .and_then(|(rest, (l, span))| lit(rest, l, span)),
            );
        }
        for (word, l) in [
            ("true", Literal::Bool(true)),
            ("false", Literal::Bool(false)),
            ("null", Literal::Null),
        ] {
            if let Ok((rest, span)) = self.kw(word)(start) {
                return Some(lit(rest, l, span));
            }
        }
        None
    }

    /// After `exists`: a binding with an optional `where`.
    fn exists(&self, kw: Span, rest: &'a str) -> Res<'a, Expr> {
        let (rest, binding) = cut(|i| self.binding(i)).parse(rest)?;
        let (rest, filter) = opt(preceded(self.kw("where"), cut(|i| self.expr(i)))).parse(rest)?;
        let end = filter.as_ref().map_or(binding.entity.span, |f| f.span);
        let kind = ExprKind::Exists {
            binding,
            filter: filter.map(Box::new),
        };
        Ok((
            rest,
            Expr {
                kind,
                span: kw.to(end),
            },
        ))
    }

    /// A term that starts with a name: `alias.field` or a call `name(…)`.
    fn name_led(&self, start: &'a str) -> Res<'a, Expr> {
        let what = "an expression (a value, `alias.field` or a function call)";
        let (rest, name) = self
            .word(start)
            .map_err(|e| e.map(|_| PErr::new(start, what)))?;
        if let Ok((rest, _)) = self.sym(".")(rest) {
            let (rest, field) = cut(|i| self.word(i)).parse(rest)?;
            let span = name.span.to(field.span);
            let kind = ExprKind::Field { alias: name, field };
            return Ok((rest, Expr { kind, span }));
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
            let kind = ExprKind::Call { name, args };
            return Ok((rest, Expr { kind, span }));
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
        Err(nom::Err::Failure(PErr::new(start, what).hint(hint)))
    }

    /// After `count(`: `*` or a binding with an optional `where`.
    pub(super) fn count(&self, name: Ident, i: &'a str) -> Res<'a, Expr> {
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

    pub(super) fn named(&self, i: &'a str) -> Res<'a, Named> {
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

    pub(super) fn exprs(&self, i: &'a str) -> Res<'a, Vec<Expr>> {
        separated_list1(self.sym(","), |i| self.expr(i)).parse(i)
    }
}
