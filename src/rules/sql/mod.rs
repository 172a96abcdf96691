//! The compiler: a checked rule becomes one SQL statement over the versioned entity tables,
//! each binding filtered to the rows visible at its snapshot. Every value (a literal of the
//! rule, a snapshot id, the run's time) is a bound parameter; the SQL text holds only
//! keywords, operators and the quoted names of recorded tables and columns.
//!
//! The statement returns one row: the number of rows (or groups) the rule ranged over, and its
//! violations as a JSON array of `[key…, subject, show…, fix…]` arrays, gathered in the same pass
//! (`json_group_array(…) FILTER (WHERE NOT coalesce(expect, 0))`).
//!
//! `pair` compiles a rule over one entity for two runs at once (a rule diff, a trend, between
//! runs not evaluated yet).
//!
//! It also names the indexes that serve it (`index`): for each `exists`/`count(…)` binding, its
//! columns compared for equality in the `where`; for each `for` binding after the first, its
//! columns joined to earlier ones. SQLite builds no automatic index for a correlated subquery,
//! so without these a `NOT EXISTS` is quadratic.

use super::ast::*;
use super::check::Checked;
use crate::store::{quote, visible_as, EntitySchema};
use crate::value::Value;
use std::collections::BTreeSet;
use std::fmt::Write;

mod index;
mod pair;
use index::without_prefixes;
pub use index::IndexSpec;
pub use pair::compile_pair;

/// A bound parameter and what it stands for (shown by `explain`).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub value: Value,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    /// The same question one row per violation (`[key…, subject, show…, fix…]`), in key
    /// order, for violations too many to gather: `dw_ranged()` is called once for each row (or
    /// group) the rule ranges over, so its caller counts them in the same pass. Empty for a
    /// rule compiled for two runs.
    pub rows_sql: String,
    pub params: Vec<Param>,
    pub indexes: Vec<IndexSpec>,
    pub key_len: usize,
    pub has_subject: bool,
    pub show_len: usize,
    /// Values of the `fix` template's parameters, after `show` in each violation.
    pub fix_len: usize,
}

/// What a rule is evaluated against: the snapshot serving each entity, and the run's time
/// (what `now()` means).
pub trait Target {
    fn snapshot(&self, entity: &EntitySchema) -> i64;
    fn now(&self) -> String;
}

struct Compiler<'a> {
    checked: &'a Checked<'a>,
    target: &'a dyn Target,
    params: Vec<Param>,
    scope: Vec<(&'a str, &'a EntitySchema)>,
    indexes: BTreeSet<IndexSpec>,
    /// Compiling for two runs (`compile_pair`): the runs, which one is being compiled, and the
    /// `exists` probes both share.
    pair: Option<Pair<'a>>,
    /// Compiling a `group by` rule for one run of a pair: the run's test of a row, which each
    /// aggregate takes as its `FILTER`, so that it reads that run's rows only.
    aggregates: Option<String>,
}

/// Two runs compiled together. An `exists` whose filter reads the same at both runs is probed
/// at the first run as a column of the scan (`_p0` …: 3 when the row found is visible at the
/// second run too, 1 when not, NULL when none), and the second run probes again only where that
/// does not answer it (`pair.rs`).
struct Pair<'a> {
    runs: [&'a dyn Target; 2],
    side: Side,
    /// The `exists` probed for both runs: (the probe at the first run, which also says whether
    /// the row it found is visible at the second; the probe at the second run).
    shared: Vec<(String, String)>,
}

/// Which run of a pair an expression is compiled for.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    First,
    Second,
    /// Either, for a row whose every shared `exists` the first run's probe answered for both
    /// runs (found, and visible at both): each is true.
    Answered,
}

/// Compiles a rule that passed the checker.
pub fn compile(checked: &Checked<'_>, target: &dyn Target) -> Compiled {
    let mut c = Compiler {
        checked,
        target,
        params: Vec::new(),
        scope: Vec::new(),
        indexes: BTreeSet::new(),
        pair: None,
        aggregates: None,
    };
    c.rule(checked.rule)
}

/// The number of a violation's key cells, whether it has a subject, and its numbers of shown
/// and fix cells.
type Shape = (usize, bool, usize, usize);

impl<'a> Compiler<'a> {
    /// A rule's outputs under the current target as one row of cells (`[key…, subject, show…,
    /// fix…]`), and their shape.
    fn cells(&mut self, rule: &'a Rule) -> (Vec<String>, Shape) {
        let (keys, subject, show, fix) = self.outputs(rule);
        let shape = (keys.len(), subject.is_some(), show.len(), fix.len());
        let mut all = keys;
        all.extend(subject);
        all.extend(show);
        all.extend(fix);
        (all, shape)
    }

    /// A rule's statement, with the parameters and indexes it needs (and no row-per-violation
    /// form: `rule` adds it).
    fn finish(&mut self, sql: String, shape: Shape) -> Compiled {
        Compiled {
            sql,
            rows_sql: String::new(),
            params: std::mem::take(&mut self.params),
            indexes: without_prefixes(std::mem::take(&mut self.indexes)),
            key_len: shape.0,
            has_subject: shape.1,
            show_len: shape.2,
            fix_len: shape.3,
        }
    }

    /// A rule's outputs under the current target: its key (the `key` clause, else the `group
    /// by`, else the bindings' keys), subject, shown and fix values.
    fn outputs(
        &mut self,
        rule: &'a Rule,
    ) -> (Vec<String>, Option<String>, Vec<String>, Vec<String>) {
        let keys: Vec<String> = if !rule.key.is_empty() {
            rule.key.iter().map(|k| self.expr(k)).collect()
        } else if !rule.group_by.is_empty() {
            rule.group_by.iter().map(|g| self.expr(g)).collect()
        } else {
            let mut keys = Vec::new();
            for b in &rule.bindings {
                let schema = self.schema(b);
                let alias = quote(&b.alias.name);
                if schema.key.is_empty() {
                    keys.push(format!("{alias}._key"));
                }
                for k in &schema.key {
                    keys.push(format!("{alias}.{}", quote(k)));
                }
            }
            keys
        };
        let subject = rule.subject.as_ref().map(|s| self.expr(s));
        let show: Vec<String> = rule.show.iter().map(|n| self.expr(&n.expr)).collect();
        let fix: Vec<String> = rule
            .fix
            .iter()
            .flat_map(|f| f.exprs())
            .map(|e| self.expr(e))
            .collect();
        (keys, subject, show, fix)
    }

    fn schema(&self, b: &Binding) -> &'a EntitySchema {
        self.checked.entity(b)
    }

    fn param(&mut self, value: Value, note: impl Into<String>) -> String {
        let note = note.into();
        if let Some(i) = self
            .params
            .iter()
            .position(|p| p.value == value && p.note == note)
        {
            return format!("?{}", i + 1);
        }
        self.params.push(Param { value, note });
        format!("?{}", self.params.len())
    }

    /// `"table" AS "alias"` and the alias's visibility condition.
    fn table_item(&mut self, b: &'a Binding) -> (String, String) {
        let p = self.snapshot_param(b);
        let alias = quote(&b.alias.name);
        (
            format!("{} AS {alias}", quote(&self.schema(b).table)),
            visible_as(&format!("{alias}."), &p),
        )
    }

    /// The parameter holding the snapshot a binding reads at the target.
    fn snapshot_param(&mut self, b: &'a Binding) -> String {
        let schema = self.schema(b);
        let snap = self.target.snapshot(schema);
        self.param(
            Value::Integer(snap),
            format!("snapshot of {}", schema.label()),
        )
    }

    fn rule(&mut self, rule: &'a Rule) -> Compiled {
        let mut from = Vec::new();
        let mut conds = Vec::new();
        for b in &rule.bindings {
            let (item, vis) = self.table_item(b);
            from.push(item);
            conds.push(vis);
            self.scope.push((&b.alias.name, self.schema(b)));
        }
        if let Some(w) = &rule.filter {
            conds.push(self.expr(w));
            self.join_indexes(rule, w);
        }
        let (outputs, shape) = self.cells(rule);
        let expect = rule.expect.as_ref().map(|e| self.expr(e));
        let groups: Vec<String> = rule.group_by.iter().map(|g| self.expr(g)).collect();
        let from = from.join(", ");
        let conds = conds.join("\n  AND ");
        // One pass: count what the rule ranges over, and gather the violations as JSON.
        let gather = |values: &str, violated: Option<String>| {
            let filter = violated
                .map(|v| format!(" FILTER (WHERE {v})"))
                .unwrap_or_default();
            format!("SELECT count(*), json_group_array(json_array({values})){filter}")
        };
        // One row per violation: each row (or group) ranged over as a row of a co-routine
        // (`LIMIT -1` keeps SQLite from flattening it or pushing the outer filter into it),
        // counted there, its violations kept, in key order.
        let rows_sql = {
            let mut columns: Vec<String> = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| format!("{o} AS _o{}", i + 1))
                .collect();
            columns.push(format!(
                "{} AS _ok",
                expect.clone().unwrap_or_else(|| "0".to_string())
            ));
            columns.push("dw_ranged() AS _n".to_string());
            let names: Vec<String> = (1..=outputs.len()).map(|i| format!("_o{i}")).collect();
            let grouped = if groups.is_empty() {
                String::new()
            } else {
                format!("\n  GROUP BY {}", groups.join(", "))
            };
            let order: Vec<&str> = names.iter().take(shape.0).map(String::as_str).collect();
            format!(
                "SELECT {}\nFROM (SELECT {}\n  FROM {from}\n  WHERE {}{grouped}\n  LIMIT -1)\nWHERE _n AND NOT coalesce(_ok, 0)\nORDER BY {}",
                names.join(", "),
                columns.join(", "),
                conds.replace("\n  AND ", "\n    AND "),
                order.join(", ")
            )
        };
        let sql = if groups.is_empty() {
            let violated = expect.map(|e| format!("NOT coalesce({e}, 0)"));
            format!(
                "{}\nFROM {from}\nWHERE {conds}",
                gather(&outputs.join(", "), violated)
            )
        } else {
            // Each group is a row of the inner query, its outputs and `expect` as columns.
            let mut columns: Vec<String> = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| format!("{o} AS _o{}", i + 1))
                .collect();
            if let Some(e) = &expect {
                columns.push(format!("{e} AS _ok"));
            }
            let names: Vec<String> = (1..=outputs.len()).map(|i| format!("_o{i}")).collect();
            let violated = expect.map(|_| "NOT coalesce(_ok, 0)".to_string());
            format!(
                "{}\nFROM (SELECT {}\n  FROM {from}\n  WHERE {}\n  GROUP BY {})",
                gather(&names.join(", "), violated),
                columns.join(", "),
                conds.replace("\n  AND ", "\n    AND "),
                groups.join(", ")
            )
        };
        Compiled {
            rows_sql,
            ..self.finish(sql, shape)
        }
    }

    fn expr(&mut self, e: &'a Expr) -> String {
        match &e.kind {
            ExprKind::Literal(l) => self.literal(l),
            ExprKind::Field { alias, field } => {
                format!("{}.{}", quote(&alias.name), quote(&field.name))
            }
            ExprKind::CountStar => self.aggregate("count(*)".into()),
            ExprKind::Call { name, args } => self.call(&name.name.to_ascii_lowercase(), args),
            ExprKind::Not(inner) => format!("(NOT {})", self.expr(inner)),
            ExprKind::Neg(inner) => format!("(- {})", self.expr(inner)),
            ExprKind::IsNull { expr, negated } => {
                let not = if *negated { " NOT" } else { "" };
                format!("({} IS{not} NULL)", self.expr(expr))
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let not = if *negated { " NOT" } else { "" };
                let lhs = self.expr(expr);
                let items: Vec<String> = list.iter().map(|i| self.expr(i)).collect();
                format!("({lhs}{not} IN ({}))", items.join(", "))
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r),
            ExprKind::Exists { binding, filter } => {
                if let Some(bit) = self.shared_exists(binding, filter.as_deref()) {
                    return bit;
                }
                format!(
                    "EXISTS ({})",
                    self.subquery(binding, filter.as_deref(), "1")
                )
            }
            ExprKind::CountOf { binding, filter } => {
                format!(
                    "({})",
                    self.subquery(binding, filter.as_deref(), "count(*)")
                )
            }
        }
    }

    fn literal(&mut self, l: &Literal) -> String {
        match l {
            Literal::Text(s) => self.param(Value::Text(s.clone()), "literal"),
            Literal::Integer(i) => self.param(Value::Integer(*i), "literal"),
            Literal::Real(r) => self.param(Value::Real(*r), "literal"),
            Literal::Bool(b) => self.param(Value::Integer(*b as i64), "literal"),
            Literal::Duration(s) => self.param(Value::Integer(*s), "duration in seconds"),
            Literal::Null => "NULL".into(),
        }
    }

    fn subquery(&mut self, b: &'a Binding, filter: Option<&'a Expr>, what: &str) -> String {
        let (item, vis) = self.table_item(b);
        let schema = self.schema(b);
        self.scope.push((&b.alias.name, schema));
        let mut sql = format!("SELECT {what} FROM {item} WHERE {vis}");
        if let Some(f) = filter {
            let _ = write!(sql, " AND {}", self.expr(f));
            let outer: Vec<&str> = self.scope[..self.scope.len() - 1]
                .iter()
                .map(|s| s.0)
                .collect();
            self.want_index(&b.alias.name, schema, f, &outer);
        }
        self.scope.pop();
        sql
    }

    fn call(&mut self, name: &str, args: &'a [Expr]) -> String {
        let a: Vec<String> = args.iter().map(|x| self.expr(x)).collect();
        match name {
            "contains" => format!("(instr({}, {}) > 0)", a[0], a[1]),
            "bitand" => format!("({} & {})", a[0], a[1]),
            "days_between" => format!("(julianday({}) - julianday({}))", a[1], a[0]),
            "now" => {
                let now = self.target.now();
                self.param(Value::Text(now), "the run's time")
            }
            _ if super::types::FUNCTIONS.iter().any(|f| f.0 == name && f.3) => {
                self.aggregate(format!("{name}({})", a.join(", ")))
            }
            _ => format!("{name}({})", a.join(", ")),
        }
    }

    /// An aggregate, over the rows of the run being compiled when a pair groups both runs'.
    fn aggregate(&self, call: String) -> String {
        match &self.aggregates {
            Some(test) => format!("{call} FILTER (WHERE {test})"),
            None => call,
        }
    }

    fn binary(&mut self, op: BinOp, l: &'a Expr, r: &'a Expr) -> String {
        let (ls, rs) = (self.expr(l), self.expr(r));
        match op {
            // A timestamp moved by a duration stays ISO-8601 text, so it compares as time.
            BinOp::Add | BinOp::Sub if is_duration(r) && !is_duration(l) => {
                let sign = if op == BinOp::Sub { "-" } else { "" };
                format!("strftime('%Y-%m-%dT%H:%M:%SZ', {ls}, ({sign}{rs}) || ' seconds')")
            }
            BinOp::Add if is_duration(l) && !is_duration(r) => {
                format!("strftime('%Y-%m-%dT%H:%M:%SZ', {rs}, ({ls}) || ' seconds')")
            }
            BinOp::Cmp(CmpOp::Ne) => format!("({ls} <> {rs})"),
            BinOp::And => format!("({ls} AND {rs})"),
            BinOp::Or => format!("({ls} OR {rs})"),
            BinOp::Like => format!("({ls} LIKE {rs})"),
            _ => format!("({ls} {} {rs})", op.as_str()),
        }
    }
}

/// Whether an expression is a duration (the checker's typing, for the only cases there are):
/// a duration literal, its negation, or a sum or difference of durations.
fn is_duration(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Literal(Literal::Duration(_)) => true,
        ExprKind::Neg(x) => is_duration(x),
        ExprKind::Binary(BinOp::Add | BinOp::Sub, a, b) => is_duration(a) && is_duration(b),
        _ => false,
    }
}
