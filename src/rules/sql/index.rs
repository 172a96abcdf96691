//! The indexes a compiled rule wants: for each `exists`/`count(…)` binding, its columns
//! compared for equality in the `where`; for each `for` binding after the first, its columns
//! joined to earlier ones.

use super::*;

/// An index a compiled rule wants: expressions over one table's columns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexSpec {
    pub table: String,
    pub exprs: Vec<String>,
}

impl IndexSpec {
    pub fn name(&self) -> String {
        let plain = self.exprs.iter().all(|e| {
            e.starts_with('"')
                && e.ends_with('"')
                && e[1..e.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if plain {
            let cols: Vec<&str> = self.exprs.iter().map(|e| &e[1..e.len() - 1]).collect();
            format!("ix_{}__{}", self.table, cols.join("__"))
        } else {
            let h = xxhash_rust::xxh3::xxh3_64(self.exprs.join(",").as_bytes());
            format!("ix_{}__{h:016x}", self.table)
        }
    }

    /// The index also holds each row version's `_from` and `_to`, so that a probe decides
    /// visibility from the index alone instead of reading the row.
    pub fn create_sql(&self) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {}({}, _from, _to)",
            quote(&self.name()),
            quote(&self.table),
            self.exprs.join(", ")
        )
    }
}

impl<'a> Compiler<'a> {
    /// The `for` bindings are joined to each other: index each one's sides of the `where`'s
    /// equalities, so that SQLite may take them in any order.
    pub(super) fn join_indexes(&mut self, rule: &'a Rule, filter: &'a Expr) {
        if rule.bindings.len() < 2 {
            return;
        }
        for (i, b) in rule.bindings.iter().enumerate() {
            let others: Vec<&str> = rule
                .bindings
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| o.alias.name.as_str())
                .collect();
            let schema = self.schema(b);
            self.want_index(&b.alias.name, schema, filter, &others);
        }
    }

    /// Indexes `alias`'s sides of the equalities in `filter` (its top-level `and`s) whose other
    /// side refers only to `outer` aliases: the correlated ones first, then those compared with
    /// a constant.
    pub(super) fn want_index(
        &mut self,
        alias: &str,
        schema: &EntitySchema,
        filter: &Expr,
        outer: &[&str],
    ) {
        let mut conjuncts = Vec::new();
        flatten_and(filter, &mut conjuncts);
        let mut correlated = Vec::new();
        let mut constant = Vec::new();
        for c in conjuncts {
            let ExprKind::Binary(BinOp::Cmp(CmpOp::Eq), l, r) = &c.kind else {
                continue;
            };
            for (mine, other) in [(l, r), (r, l)] {
                let (Some(mine_aliases), Some(other_aliases)) = (aliases(mine), aliases(other))
                else {
                    continue;
                };
                if mine_aliases.len() != 1 || !mine_aliases.contains(alias) || has_value(mine) {
                    continue;
                }
                let Some(text) = bare(mine) else {
                    continue;
                };
                if other_aliases.contains(alias)
                    || !other_aliases.iter().all(|a| outer.contains(&a.as_str()))
                {
                    continue;
                }
                let list = if other_aliases.is_empty() {
                    &mut constant
                } else {
                    &mut correlated
                };
                if !list.contains(&text) {
                    list.push(text);
                }
                break;
            }
        }
        correlated.extend(constant);
        correlated.dedup();
        if !correlated.is_empty() {
            self.indexes.insert(IndexSpec {
                table: schema.table.clone(),
                exprs: correlated,
            });
        }
    }
}

/// The indexes, less those whose columns lead another one on the same table (which serves
/// both).
pub(super) fn without_prefixes(set: BTreeSet<IndexSpec>) -> Vec<IndexSpec> {
    let all: Vec<IndexSpec> = set.into_iter().collect();
    all.iter()
        .filter(|a| {
            !all.iter().any(|b| {
                b.table == a.table && b.exprs.len() > a.exprs.len() && b.exprs.starts_with(&a.exprs)
            })
        })
        .cloned()
        .collect()
}

fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    if let ExprKind::Binary(BinOp::And, l, r) = &e.kind {
        flatten_and(l, out);
        flatten_and(r, out);
    } else {
        out.push(e);
    }
}

/// The aliases an expression refers to, or None when it holds a subquery (never indexable).
fn aliases(e: &Expr) -> Option<BTreeSet<String>> {
    let mut set = BTreeSet::new();
    let mut sub = false;
    e.walk(&mut |x| match &x.kind {
        ExprKind::Field { alias, .. } => {
            set.insert(alias.name.clone());
        }
        ExprKind::Exists { .. } | ExprKind::CountOf { .. } | ExprKind::CountStar => sub = true,
        ExprKind::Call { name, .. } if name.name.eq_ignore_ascii_case("now") => sub = true,
        _ => {}
    });
    (!sub).then_some(set)
}

/// Whether an expression holds a literal, which an index expression cannot (it would be a
/// parameter).
fn has_value(e: &Expr) -> bool {
    let mut v = false;
    e.walk(&mut |x| v |= matches!(x.kind, ExprKind::Literal(_)));
    v
}

/// An expression over one alias, with its columns unqualified, exactly as `Compiler::expr`
/// writes it (so that SQLite matches the index to the query); None when it cannot be indexed.
fn bare(e: &Expr) -> Option<String> {
    Some(match &e.kind {
        ExprKind::Field { field, .. } => quote(&field.name),
        ExprKind::Call { name, args }
            if ["lower", "upper", "trim", "length", "coalesce"]
                .contains(&name.name.to_ascii_lowercase().as_str()) =>
        {
            let args = args.iter().map(bare).collect::<Option<Vec<_>>>()?;
            format!("{}({})", name.name.to_ascii_lowercase(), args.join(", "))
        }
        ExprKind::Binary(op @ (BinOp::Concat | BinOp::Add | BinOp::Sub), l, r) => {
            format!("({} {} {})", bare(l)?, op.as_str(), bare(r)?)
        }
        ExprKind::Neg(x) => format!("(- {})", bare(x)?),
        _ => return None,
    })
}
