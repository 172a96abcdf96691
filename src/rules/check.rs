//! The checker: resolves every alias, source, entity and field of a rule against the recorded
//! schemas and types its expressions. It reports every error it finds, each with a span and,
//! for a misspelt name, the nearest existing one.

use super::ast::*;
use super::diag::Diagnostic;
pub use super::schemas::Schemas;
use super::types::{Ty, FUNCTIONS};
use crate::store::EntitySchema;

/// What checking learns about a rule's outputs: the types of its key, subject and show
/// expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub key: Vec<Ty>,
    pub subject: Option<Ty>,
    pub show: Vec<Ty>,
    /// The types of the `fix` template's parameters, in the order of `Action::exprs`.
    pub fix: Vec<Ty>,
}

/// A rule that passed the checker: every binding (`for`, `exists`, `count`) resolved to the
/// entity it ranges over, every expression typed. Only [`check_rule`] makes one, and the
/// compiler takes nothing else, so SQL is never compiled from a rule whose names were not
/// resolved.
#[derive(Debug, Clone)]
pub struct Checked<'r> {
    pub rule: &'r Rule,
    pub outputs: Outputs,
    /// The entities the rule reads, each once, in the order the rule first names them.
    entities: Vec<EntitySchema>,
}

impl Checked<'_> {
    /// The entities the rule reads, in the order it first names them.
    pub fn entities(&self) -> &[EntitySchema] {
        &self.entities
    }

    /// The entity `b` ranges over. `b` is a binding of this rule, which the checker resolved
    /// (it is how a `Checked` comes to be), so it is in `entities`.
    pub fn entity(&self, b: &Binding) -> &EntitySchema {
        let found = self
            .entities
            .iter()
            .find(|e| e.source == b.source.name && e.name == b.entity.name);
        match found {
            Some(e) => e,
            None => unreachable!("binding {} of a checked rule is resolved", b.label()),
        }
    }
}

/// Where an expression stands, which decides whether aggregates are allowed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// `where`, `group by`, a subquery's `where`: no aggregates.
    Row,
    /// `expect`, `key`, `subject`, `show`, `fix` of a grouped rule.
    Grouped,
    /// The same clauses of an ungrouped rule.
    Ungrouped,
}

struct Checker<'a> {
    src: &'a str,
    schemas: &'a Schemas,
    diags: Vec<Diagnostic>,
    /// Aliases in scope, innermost last.
    scope: Vec<(&'a Binding, Option<&'a EntitySchema>)>,
    /// The group-by expressions' text, without spaces.
    grouped: Vec<String>,
    /// Every entity a binding resolved to, each once.
    resolved: Vec<EntitySchema>,
}

/// Checks a rule; returns it checked (resolved and typed) or every error found.
pub fn check_rule<'r>(
    rule: &'r Rule,
    src: &str,
    schemas: &Schemas,
) -> Result<Checked<'r>, Vec<Diagnostic>> {
    let mut c = Checker {
        src,
        schemas,
        diags: Vec::new(),
        scope: Vec::new(),
        grouped: Vec::new(),
        resolved: Vec::new(),
    };
    let outputs = c.rule(rule);
    if c.diags.is_empty() {
        Ok(Checked {
            rule,
            outputs,
            entities: c.resolved,
        })
    } else {
        c.diags.sort_by_key(|d| d.span.start);
        Err(c.diags)
    }
}

impl<'a> Checker<'a> {
    fn error(&mut self, d: Diagnostic) {
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }

    fn text(&self, e: &Expr) -> String {
        self.src
            .get(e.span.start..e.span.end)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// Brings a binding into scope; an alias already in scope is an error.
    fn bind(&mut self, b: &'a Binding) {
        if let Some((prev, _)) = self
            .scope
            .iter()
            .find(|(p, _)| p.alias.name == b.alias.name)
        {
            let (line, _) = Diagnostic::new("", prev.alias.span).line_col(self.src);
            self.error(
                Diagnostic::new(format!("alias `{}` is used twice", b.alias), b.alias.span).hint(
                    format!(
                        "`{}` already names {} (line {line}); pick another name",
                        b.alias,
                        prev.label()
                    ),
                ),
            );
        }
        let schema = match self.schemas.resolve(b) {
            Ok(s) => {
                if !self.resolved.iter().any(|r| r.label() == s.label()) {
                    self.resolved.push(s.clone());
                }
                Some(s)
            }
            Err(d) => {
                self.error(d);
                None
            }
        };
        self.scope.push((b, schema));
    }

    fn rule(&mut self, rule: &'a Rule) -> Outputs {
        if rule.bindings.is_empty() {
            self.error(
                Diagnostic::new(
                    format!("rule `{}` ranges over nothing", rule.name),
                    rule.name.span,
                )
                .hint("add `for ALIAS in SOURCE.ENTITY`"),
            );
        }
        for b in &rule.bindings {
            self.bind(b);
        }
        if let Some(w) = &rule.filter {
            self.expect_bool(w, Place::Row, "where");
        }
        for g in &rule.group_by {
            self.ty(g, Place::Row);
        }
        self.grouped = rule.group_by.iter().map(|g| self.text(g)).collect();
        let place = if rule.group_by.is_empty() {
            Place::Ungrouped
        } else {
            Place::Grouped
        };
        if let Some(e) = &rule.expect {
            self.expect_bool(e, place, "expect");
        }
        let key = rule.key.iter().map(|k| self.ty(k, place)).collect();
        let subject = rule.subject.as_ref().map(|s| self.ty(s, place));
        let show = rule.show.iter().map(|n| self.ty(&n.expr, place)).collect();
        self.check_show_names(rule);
        let fix = match &rule.fix {
            Some(f) => self.action(f, place),
            None => Vec::new(),
        };
        for t in [&rule.warn, &rule.fail].into_iter().flatten() {
            if t.percent && !(0.0..=100.0).contains(&t.value) {
                self.error(
                    Diagnostic::new("a percentage is between 0 and 100", t.span)
                        .hint("a percentage is of the rows the rule ranges over"),
                );
            }
        }
        self.check_values(rule);
        Outputs {
            key,
            subject,
            show,
            fix,
        }
    }

    /// Each value written in a rule is bound as one SQL parameter, and SQLite binds at most
    /// 32,766: refuse a rule that needs more here rather than when it runs.
    fn check_values(&mut self, rule: &Rule) {
        const MAX_VALUES: usize = 30_000;
        let mut values = 0;
        for e in rule.exprs() {
            e.walk(&mut |x| values += matches!(x.kind, ExprKind::Literal(_)) as usize);
        }
        if values > MAX_VALUES {
            self.error(
                Diagnostic::new(
                    format!("rule `{}` writes {values} values; SQLite takes at most {MAX_VALUES} in one rule", rule.name),
                    rule.name.span,
                )
                .hint("put long lists of values in a source (a CSV file) and join it"),
            );
        }
    }

    fn check_show_names(&mut self, rule: &Rule) {
        let names = rule.show_names();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                let n = &rule.show[i];
                let span = n.name.as_ref().map_or(n.expr.span, |id| id.span);
                self.error(
                    Diagnostic::new(format!("`show` names `{name}` twice"), span)
                        .hint(format!("name it: `other_{name} = …`")),
                );
            }
        }
    }

    fn action(&mut self, fix: &'a Action, place: Place) -> Vec<Ty> {
        let target = fix.target();
        {
            let mut sources: Vec<&str> = self
                .schemas
                .entities
                .iter()
                .map(|e| e.source.as_str())
                .collect();
            sources.dedup();
            if !sources.is_empty() && !sources.contains(&target.name.as_str()) {
                let hint = match crate::text::nearest(&target.name, sources.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!("sources: {}", sources.join(", ")),
                };
                self.error(
                    Diagnostic::new(format!("unknown platform `{target}` in `fix`"), target.span)
                        .hint(hint),
                );
            }
        }
        fix.exprs().map(|e| self.ty(e, place)).collect()
    }

    fn expect_bool(&mut self, e: &'a Expr, place: Place, clause: &str) {
        let t = self.ty(e, place);
        if !t.boolean() {
            self.error(
                Diagnostic::new(
                    format!("`{clause}` needs a condition, but this is {}", t.name()),
                    e.span,
                )
                .hint("compare it: `… = value`, `… is not null`"),
            );
        }
    }

    fn field(&mut self, e: &Expr, alias: &Ident, field: &Ident, place: Place) -> Ty {
        let Some(&(_, schema)) = self
            .scope
            .iter()
            .rev()
            .find(|(b, _)| b.alias.name == alias.name)
        else {
            let names: Vec<&str> = self
                .scope
                .iter()
                .map(|(b, _)| b.alias.name.as_str())
                .collect();
            let hint = match crate::text::nearest(&alias.name, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if names.is_empty() => "bind it first: `for ALIAS in SOURCE.ENTITY`".into(),
                None => format!("aliases here: {}", names.join(", ")),
            };
            self.error(Diagnostic::new(format!("unknown alias `{alias}`"), alias.span).hint(hint));
            return Ty::Any;
        };
        let Some(schema) = schema.filter(|s| !s.columns.is_empty()) else {
            // Its entity is unknown (reported already), or its columns are not known before
            // it is collected.
            return Ty::Any;
        };
        let Some(col) = schema.columns.iter().find(|c| c.name == field.name) else {
            let hint = schema.column_hint(&field.name);
            let message = if self.schemas.was_dropped(schema, &field.name) {
                format!(
                    "{} no longer has field `{field}`: its latest snapshot did not collect it",
                    schema.label()
                )
            } else {
                format!("unknown field `{field}` on {}", schema.label())
            };
            self.error(Diagnostic::new(message, field.span).hint(hint));
            return Ty::Any;
        };
        if place == Place::Grouped && !self.grouped.contains(&self.text(e)) {
            self.error(
                Diagnostic::new(
                    format!("`{alias}.{field}` is neither grouped nor inside an aggregate"),
                    e.span,
                )
                .hint(format!(
                    "add it to `group by`, or aggregate it: `min({alias}.{field})`"
                )),
            );
        }
        if self.schemas.is_untyped(schema, &col.name) {
            return Ty::Any;
        }
        Ty::from_column(col.ty)
    }

    /// The type of `e`; reports what is wrong inside it.
    fn ty(&mut self, e: &'a Expr, place: Place) -> Ty {
        if place == Place::Grouped && self.grouped.contains(&self.text(e)) {
            // A grouped expression is a value of its group: check it as a row expression.
            return self.ty(e, Place::Row);
        }
        match &e.kind {
            ExprKind::Literal(l) => match l {
                Literal::Text(_) => Ty::Text,
                Literal::Integer(_) => Ty::Integer,
                Literal::Real(_) => Ty::Real,
                Literal::Bool(_) => Ty::Bool,
                Literal::Null => Ty::Null,
                Literal::Duration(_) => Ty::Duration,
            },
            ExprKind::Field { alias, field } => self.field(e, alias, field, place),
            ExprKind::CountStar => {
                self.aggregate_allowed(e, "count(*)", place);
                Ty::Integer
            }
            ExprKind::Call { name, args } => self.call(e, name, args, place),
            ExprKind::Not(inner) => {
                let t = self.ty(inner, place);
                self.operand(inner, t, Ty::boolean, "`not` needs a condition");
                Ty::Bool
            }
            ExprKind::Neg(inner) => {
                let t = self.ty(inner, place);
                if !(t.numeric() || t == Ty::Duration) {
                    self.mismatch(inner, t, "`-` needs a number");
                }
                t
            }
            ExprKind::Binary(op, l, r) => self.binary(e, *op, l, r, place),
            ExprKind::IsNull { expr, .. } => {
                self.ty(expr, place);
                Ty::Bool
            }
            ExprKind::InList { expr, list, .. } => {
                let t = self.ty(expr, place);
                for item in list {
                    let it = self.ty(item, place);
                    if !t.comparable(it) {
                        self.error(Diagnostic::new(
                            format!(
                                "cannot compare {} with {} in this list",
                                t.name(),
                                it.name()
                            ),
                            item.span,
                        ));
                    }
                }
                Ty::Bool
            }
            ExprKind::Exists { binding, filter } | ExprKind::CountOf { binding, filter } => {
                self.bind(binding);
                if let Some(f) = filter {
                    // The inner `where` is about rows of the binding, not of a group.
                    self.expect_bool(f, Place::Row, "where");
                }
                self.scope.pop();
                if matches!(e.kind, ExprKind::Exists { .. }) {
                    Ty::Bool
                } else {
                    Ty::Integer
                }
            }
        }
    }

    fn operand(&mut self, e: &Expr, t: Ty, ok: fn(Ty) -> bool, what: &str) {
        if !ok(t) {
            self.mismatch(e, t, what);
        }
    }

    fn mismatch(&mut self, e: &Expr, t: Ty, what: &str) {
        self.error(Diagnostic::new(
            format!("{what}, but this is {}", t.name()),
            e.span,
        ));
    }

    fn aggregate_allowed(&mut self, e: &Expr, what: &str, place: Place) {
        let hint = match place {
            Place::Grouped => return,
            Place::Row => "aggregates belong in `expect`, `show`, `subject` or `key` of a rule with `group by`; a `where` filters rows before grouping",
            Place::Ungrouped => "add `group by …` to count per group, or count rows of a binding: `count(x in source.entity where …)`",
        };
        self.error(
            Diagnostic::new(format!("aggregate `{what}` outside `group by`"), e.span).hint(hint),
        );
    }

    fn call(&mut self, e: &'a Expr, name: &Ident, args: &'a [Expr], place: Place) -> Ty {
        let lower = name.name.to_ascii_lowercase();
        let Some(&(fname, least, most, aggregate)) = FUNCTIONS.iter().find(|f| f.0 == lower) else {
            let hint = match crate::text::nearest(&lower, FUNCTIONS.iter().map(|f| f.0)) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!(
                    "functions: {}, count",
                    FUNCTIONS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                ),
            };
            self.error(Diagnostic::new(format!("unknown function `{name}`"), name.span).hint(hint));
            for a in args {
                self.ty(a, place);
            }
            return Ty::Any;
        };
        if args.len() < least || args.len() > most {
            let wanted = match (least, most) {
                (l, m) if l == m => format!("{l} argument{}", if l == 1 { "" } else { "s" }),
                (l, _) => format!("at least {l} argument{}", if l == 1 { "" } else { "s" }),
            };
            self.error(Diagnostic::new(
                format!("`{fname}` takes {wanted}, not {}", args.len()),
                e.span,
            ));
        }
        let inner = if aggregate {
            self.aggregate_allowed(e, &format!("{fname}(…)"), place);
            // No aggregate inside an aggregate; fields inside are per row.
            Place::Row
        } else {
            place
        };
        let tys: Vec<Ty> = args.iter().map(|a| self.ty(a, inner)).collect();
        let arg = |i: usize| tys.get(i).copied().unwrap_or(Ty::Any);
        let need = |c: &mut Self, i: usize, ok: fn(Ty) -> bool, what: &str| {
            if let Some(a) = args.get(i) {
                c.operand(a, arg(i), ok, &format!("`{fname}` needs {what}"));
            }
        };
        match fname {
            "lower" | "upper" | "trim" => {
                need(self, 0, Ty::textual, "text");
                Ty::Text
            }
            "length" => {
                need(self, 0, Ty::textual, "text");
                Ty::Integer
            }
            "contains" => {
                need(self, 0, Ty::textual, "text");
                need(self, 1, Ty::textual, "text");
                Ty::Bool
            }
            "days_between" => {
                let ts = |t: Ty| t.textual();
                need(self, 0, ts, "a timestamp");
                need(self, 1, ts, "a timestamp");
                Ty::Real
            }
            "now" => Ty::Timestamp,
            "bitand" => {
                let whole = |t: Ty| matches!(t, Ty::Integer | Ty::Any | Ty::Null);
                need(self, 0, whole, "whole numbers");
                need(self, 1, whole, "whole numbers");
                Ty::Integer
            }
            "coalesce" => {
                let first = tys.iter().copied().find(|t| !t.loose()).unwrap_or(Ty::Null);
                for (a, t) in args.iter().zip(&tys) {
                    if !first.comparable(*t) {
                        self.mismatch(
                            a,
                            *t,
                            &format!("`coalesce` needs values of one type ({})", first.name()),
                        );
                    }
                }
                first
            }
            "sum" => {
                need(self, 0, Ty::numeric, "a number");
                arg(0)
            }
            _ => arg(0), // min, max
        }
    }

    fn binary(&mut self, e: &'a Expr, op: BinOp, l: &'a Expr, r: &'a Expr, place: Place) -> Ty {
        let lt = self.ty(l, place);
        let rt = self.ty(r, place);
        match op {
            BinOp::And | BinOp::Or => {
                let what = format!("`{}` needs conditions on both sides", op.as_str());
                self.operand(l, lt, Ty::boolean, &what);
                self.operand(r, rt, Ty::boolean, &what);
                Ty::Bool
            }
            BinOp::Cmp(c) => {
                if !lt.comparable(rt) {
                    let hint = if lt == Ty::Bool || rt == Ty::Bool {
                        "compare a bool with true or false"
                    } else {
                        "compare values of one kind; numbers with numbers, text with text"
                    };
                    self.error(
                        Diagnostic::new(
                            format!(
                                "cannot compare {} with {} (`{}`)",
                                lt.name(),
                                rt.name(),
                                c.as_str()
                            ),
                            e.span,
                        )
                        .hint(hint),
                    );
                }
                Ty::Bool
            }
            BinOp::Like => {
                self.operand(l, lt, Ty::textual, "`like` needs text");
                self.operand(r, rt, Ty::textual, "`like` needs a text pattern");
                Ty::Bool
            }
            BinOp::Concat => Ty::Text,
            BinOp::Add | BinOp::Sub => match (lt, rt) {
                (Ty::Timestamp, Ty::Duration) => Ty::Timestamp,
                (Ty::Duration, Ty::Timestamp) if op == BinOp::Add => Ty::Timestamp,
                (Ty::Duration, Ty::Duration) => Ty::Duration,
                (a, b) if a.numeric() && b.numeric() => {
                    if a == Ty::Real || b == Ty::Real {
                        Ty::Real
                    } else if a.loose() && b.loose() {
                        Ty::Any
                    } else {
                        Ty::Integer
                    }
                }
                (a, b) if a.loose() || b.loose() => Ty::Any,
                (a, b) => {
                    self.error(
                        Diagnostic::new(
                            format!("cannot apply `{}` to {} and {}", op.as_str(), a.name(), b.name()),
                            e.span,
                        )
                        .hint("`+` and `-` take numbers, or a timestamp and a duration; `||` joins text"),
                    );
                    Ty::Any
                }
            },
        }
    }
}
