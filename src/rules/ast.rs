//! The syntax tree of rule files. Every name and expression keeps its byte span in the file, so
//! that the checker can point at it.

use std::fmt;

/// Byte offsets `start..end` into the rule file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 4] = ["info", "warning", "error", "critical"];

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Severity::NAMES[self as usize]
    }
}

/// `alias in source.entity`
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub alias: Ident,
    pub source: Ident,
    pub entity: Ident,
}

impl Binding {
    pub fn label(&self) -> String {
        format!("{}.{}", self.source.name, self.entity.name)
    }
}

/// `[name =] expr`
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: Option<Ident>,
    pub expr: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    /// Whether `count OP limit` holds.
    pub fn holds(self, count: f64, limit: f64) -> bool {
        match self {
            CmpOp::Eq => count == limit,
            CmpOp::Ne => count != limit,
            CmpOp::Lt => count < limit,
            CmpOp::Le => count <= limit,
            CmpOp::Gt => count > limit,
            CmpOp::Ge => count >= limit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Cmp(CmpOp),
    And,
    Or,
    Add,
    Sub,
    Concat,
    Like,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Cmp(c) => c.as_str(),
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Concat => "||",
            BinOp::Like => "like",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    Null,
    /// A duration in seconds (`6h`, `30d`).
    Duration(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `alias.field`
    Field {
        alias: Ident,
        field: Ident,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `count(*)`: the rows of a group.
    CountStar,
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `exists b in s.e [where …]`
    Exists {
        binding: Binding,
        filter: Option<Box<Expr>>,
    },
    /// `count(b in s.e [where …])`
    CountOf {
        binding: Binding,
        filter: Option<Box<Expr>>,
    },
}

impl Expr {
    /// How many levels deep the expression's tree is (a literal is 1). Counted without
    /// recursion, so that any tree can be measured.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack: Vec<(&Expr, usize)> = vec![(self, 1)];
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            match &e.kind {
                ExprKind::Literal(_) | ExprKind::Field { .. } | ExprKind::CountStar => {}
                ExprKind::Call { args, .. } => stack.extend(args.iter().map(|a| (a, d + 1))),
                ExprKind::Not(x) | ExprKind::Neg(x) => stack.push((x, d + 1)),
                ExprKind::IsNull { expr, .. } => stack.push((expr, d + 1)),
                ExprKind::Binary(_, l, r) => stack.extend([(&**l, d + 1), (&**r, d + 1)]),
                ExprKind::InList { expr, list, .. } => {
                    stack.push((expr, d + 1));
                    stack.extend(list.iter().map(|a| (a, d + 1)));
                }
                ExprKind::Exists { filter, .. } | ExprKind::CountOf { filter, .. } => {
                    stack.extend(filter.iter().map(|f| (&**f, d + 1)));
                }
            }
        }
        deepest
    }

    /// Calls `f` on this expression and every expression inside it, outside in.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Literal(_) | ExprKind::Field { .. } | ExprKind::CountStar => {}
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            ExprKind::Not(e) | ExprKind::Neg(e) => e.walk(f),
            ExprKind::Binary(_, l, r) => {
                l.walk(f);
                r.walk(f);
            }
            ExprKind::IsNull { expr, .. } => expr.walk(f),
            ExprKind::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            ExprKind::Exists { filter, .. } | ExprKind::CountOf { filter, .. } => {
                if let Some(w) = filter {
                    w.walk(f)
                }
            }
        }
    }
}

/// `warn when count > 2%`
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub op: CmpOp,
    pub value: f64,
    pub percent: bool,
    pub span: Span,
}

impl Threshold {
    /// The default: `fail when count > 0`.
    pub fn any() -> Threshold {
        Threshold {
            op: CmpOp::Gt,
            value: 0.0,
            percent: false,
            span: Span::default(),
        }
    }

    /// Whether `violations` of `checked` rows reach the threshold.
    pub fn reached(&self, violations: u64, checked: u64) -> bool {
        let count = if self.percent {
            if checked == 0 {
                0.0
            } else {
                violations as f64 * 100.0 / checked as f64
            }
        } else {
            violations as f64
        };
        self.op.holds(count, self.value)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.percent { "%" } else { "" };
        write!(f, "count {} {}{pct}", self.op.as_str(), self.value)
    }
}

/// A corrective action template, evaluated per violation.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `platform.verb(name = expr, …)`
    Platform {
        target: Ident,
        verb: Ident,
        args: Vec<Named>,
    },
    /// `source.insert table(column = expr, …)` on a SQL source
    SqlInsert {
        target: Ident,
        table: Ident,
        values: Vec<Named>,
    },
    /// `source.update table(column = expr, …) where column = expr {and column = expr}`
    SqlUpdate {
        target: Ident,
        table: Ident,
        set: Vec<Named>,
        filter: Vec<Named>,
    },
}

impl Action {
    /// Every expression of the template.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        let (a, b): (&[Named], &[Named]) = match self {
            Action::Platform { args, .. } => (args, &[]),
            Action::SqlInsert { values, .. } => (values, &[]),
            Action::SqlUpdate { set, filter, .. } => (set, filter),
        };
        a.iter().chain(b).map(|n| &n.expr)
    }

    /// Every parameter of the template with its name, in the order of [`Action::exprs`].
    pub fn named(&self) -> impl Iterator<Item = &Named> {
        let (a, b): (&[Named], &[Named]) = match self {
            Action::Platform { args, .. } => (args, &[]),
            Action::SqlInsert { values, .. } => (values, &[]),
            Action::SqlUpdate { set, filter, .. } => (set, filter),
        };
        a.iter().chain(b)
    }

    /// The source the action writes to.
    pub fn target(&self) -> &Ident {
        match self {
            Action::Platform { target, .. }
            | Action::SqlInsert { target, .. }
            | Action::SqlUpdate { target, .. } => target,
        }
    }

    /// The verb: the platform's, or `insert` / `update`.
    pub fn verb(&self) -> &str {
        match self {
            Action::Platform { verb, .. } => &verb.name,
            Action::SqlInsert { .. } => "insert",
            Action::SqlUpdate { .. } => "update",
        }
    }
}

/// One rule, or the body of an ad-hoc query (whose name is `query`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Ident,
    pub span: Span,
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Severity,
    pub tags: Vec<Ident>,
    pub bindings: Vec<Binding>,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub expect: Option<Expr>,
    pub key: Vec<Expr>,
    pub subject: Option<Expr>,
    pub show: Vec<Named>,
    /// Seconds.
    pub grace: Option<i64>,
    pub warn: Option<Threshold>,
    pub fail: Option<Threshold>,
    pub fix: Option<Action>,
    /// A `count` of `driftwatch status`, not a rule: how many rows (or groups) it ranges over.
    pub count: bool,
}

impl Rule {
    pub fn new(name: Ident, span: Span) -> Rule {
        Rule {
            name,
            span,
            title: None,
            description: None,
            severity: Severity::Error,
            tags: Vec::new(),
            bindings: Vec::new(),
            filter: None,
            group_by: Vec::new(),
            expect: None,
            key: Vec::new(),
            subject: None,
            show: Vec::new(),
            grace: None,
            warn: None,
            fail: None,
            fix: None,
            count: false,
        }
    }

    /// The name a `show` entry is reported under: its own, else the field it shows, else
    /// `field_N`.
    pub fn show_names(&self) -> Vec<String> {
        self.show
            .iter()
            .enumerate()
            .map(|(i, n)| match (&n.name, &n.expr.kind) {
                (Some(name), _) => name.name.clone(),
                (None, ExprKind::Field { field, .. }) => field.name.clone(),
                _ => format!("field_{}", i + 1),
            })
            .collect()
    }

    /// The expressions of every clause, clause by clause.
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut exprs: Vec<&Expr> = Vec::new();
        exprs.extend(&self.filter);
        exprs.extend(&self.group_by);
        exprs.extend(&self.expect);
        exprs.extend(&self.key);
        exprs.extend(&self.subject);
        exprs.extend(self.show.iter().map(|n| &n.expr));
        if let Some(f) = &self.fix {
            exprs.extend(f.exprs());
        }
        exprs
    }

    /// Every binding of the rule: its `for` bindings, then those of its `exists` and
    /// `count(…)` subqueries, clause by clause.
    pub fn all_bindings(&self) -> Vec<&Binding> {
        let mut out: Vec<&Binding> = self.bindings.iter().collect();
        for e in self.exprs() {
            e.walk(&mut |x| {
                if let ExprKind::Exists { binding, .. } | ExprKind::CountOf { binding, .. } =
                    &x.kind
                {
                    out.push(binding);
                }
            });
        }
        out
    }

    /// The sources the rule reads, in order of first mention.
    pub fn sources(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for b in self.all_bindings() {
            if !out.contains(&b.source.name.as_str()) {
                out.push(&b.source.name);
            }
        }
        out
    }
}
