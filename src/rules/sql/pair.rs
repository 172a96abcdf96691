//! Compiling a rule for two runs at once: one scan of the row versions visible at either run,
//! each run's `where`, `expect` and outputs tested on the same row, and each `exists` whose
//! filter reads the same at both runs probed once for both.

use super::*;

/// Compiles a rule for two runs at once, when it ranges over one entity without `group by`: one
/// scan of the row versions visible at either run, each run's `where`, `expect` and outputs
/// tested on the same row, so a rule diff between two runs not yet evaluated costs about one
/// pass instead of two. The statement returns four columns: rows ranged over and violations
/// (as JSON) at `a`, then the same at `b`. None for the rules it does not serve.
pub fn compile_pair(checked: &Checked<'_>, a: &dyn Target, b: &dyn Target) -> Option<Compiled> {
    let rule = checked.rule;
    if rule.bindings.len() != 1 || !rule.group_by.is_empty() {
        return None;
    }
    let mut c = Compiler {
        checked,
        target: a,
        params: Vec::new(),
        scope: Vec::new(),
        indexes: BTreeSet::new(),
        pair: Some(Pair {
            runs: [a, b],
            side: 0,
            shared: Vec::new(),
        }),
    };
    let binding = &rule.bindings[0];
    let (item, vis_a) = c.table_item(binding);
    c.target = b;
    let (_, vis_b) = c.table_item(binding);
    c.scope.push((&binding.alias.name, c.schema(binding)));
    if let Some(w) = &rule.filter {
        c.join_indexes(rule, w);
    }
    let mut columns = Vec::new();
    let mut shape = (0, false, 0, 0);
    for (n, t) in [(0, a), (1, b)] {
        c.target = t;
        if let Some(p) = &mut c.pair {
            p.side = n;
        }
        let vis = if n == 0 { &vis_a } else { &vis_b };
        let ok = match &rule.filter {
            Some(w) => format!("({vis} AND {})", c.expr(w)),
            None => vis.clone(),
        };
        let expect = rule.expect.as_ref().map_or("1".to_string(), |e| c.expr(e));
        let outputs = c.outputs(rule);
        shape = (
            outputs.0.len(),
            outputs.1.is_some(),
            outputs.2.len(),
            outputs.3.len(),
        );
        let mut all = outputs.0;
        all.extend(outputs.1);
        all.extend(outputs.2);
        all.extend(outputs.3);
        columns.push((ok, expect, all));
    }
    let mut outer = Vec::new();
    for (ok, expect, outs) in &columns {
        outer.push(format!(
            "count(*) FILTER (WHERE {ok}), json_group_array(json_array({})) FILTER (WHERE {ok} AND NOT coalesce({expect}, 0))",
            outs.join(", ")
        ));
    }
    // The scan is a co-routine of its own (`LIMIT -1` keeps SQLite from flattening it), named
    // as the binding: each row's shared probes (`_x0` …) are computed once, and each run's
    // `where` and `expect` test their bits; the outputs are made for violations only.
    let shared = c.pair.take().map(|p| p.shared).unwrap_or_default();
    let alias = quote(&binding.alias.name);
    let probes: String = shared
        .iter()
        .enumerate()
        .map(|(i, sql)| format!(", {sql} AS _x{i}"))
        .collect();
    // Rows that pass neither run's `where` are left out before they are probed, when the
    // `where`s need no probe of their own.
    let (ok_a, ok_b) = (&columns[0].0, &columns[1].0);
    let scan = if ok_a.contains("._x") || ok_b.contains("._x") {
        format!("{vis_a} OR {vis_b}")
    } else {
        format!("{ok_a} OR {ok_b}")
    };
    // The scan carries only the columns the rule reads (and the row's key and visibility).
    let schema = c.schema(binding);
    let mut carried: Vec<String> = vec!["_key".into(), "_from".into(), "_to".into()];
    carried.extend(schema.key.iter().cloned());
    for e in rule.exprs() {
        e.walk(&mut |x| {
            if let ExprKind::Field { alias: a, field } = &x.kind {
                if a.name == binding.alias.name && !carried.contains(&field.name) {
                    carried.push(field.name.clone());
                }
            }
        });
    }
    let carried: Vec<String> = carried
        .iter()
        .map(|col| format!("{alias}.{}", quote(col)))
        .collect();
    let sql = format!(
        "SELECT {}\nFROM (SELECT {}{probes}\n  FROM {item}\n  WHERE {scan}\n  LIMIT -1) AS {alias}",
        outer.join(",\n       "),
        carried.join(", ")
    );
    Some(Compiled {
        sql,
        params: std::mem::take(&mut c.params),
        indexes: without_prefixes(std::mem::take(&mut c.indexes)),
        key_len: shape.0,
        has_subject: shape.1,
        show_len: shape.2,
        fix_len: shape.3,
    })
}

impl<'a> Compiler<'a> {
    /// In a pair, at the scan's own level: an `exists` probed once for both runs, when its
    /// filter reads the same at both (no `now()`, no nested binding). Returns this run's test.
    pub(super) fn shared_exists(
        &mut self,
        b: &'a Binding,
        filter: Option<&'a Expr>,
    ) -> Option<String> {
        let (runs, side) = match &self.pair {
            Some(p) if self.scope.len() == 1 => (p.runs, p.side),
            _ => return None,
        };
        let schema = self.schema(b);
        let mut filters = Vec::new();
        let mut vis = Vec::new();
        let mut item = String::new();
        for t in runs {
            self.target = t;
            let (it, v) = self.table_item(b);
            item = it;
            vis.push(v);
            self.scope.push((&b.alias.name, schema));
            filters.push(filter.map(|f| self.expr(f)));
            self.scope.pop();
        }
        self.target = runs[side];
        if filters[0] != filters[1] {
            return None;
        }
        if let Some(f) = filter {
            let outer: Vec<&str> = self.scope.iter().map(|s| s.0).collect();
            self.want_index(&b.alias.name, schema, f, &outer);
        }
        let cond = filters[0]
            .as_ref()
            .map(|f| format!(" AND {f}"))
            .unwrap_or_default();
        let sql = format!(
            "(SELECT max({0}) | (max({1}) << 1) FROM {item} WHERE ({0} OR {1}){cond})",
            vis[0], vis[1]
        );
        let shared = &mut self.pair.as_mut().expect("in a pair").shared;
        let i = match shared.iter().position(|s| *s == sql) {
            Some(i) => i,
            None => {
                shared.push(sql);
                shared.len() - 1
            }
        };
        let alias = quote(self.scope[0].0);
        Some(format!("(coalesce({alias}._x{i}, 0) & {} != 0)", side + 1))
    }
}
