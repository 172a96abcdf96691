//! Compiling a rule for two runs at once: one scan of the row versions visible at either run,
//! each run's `where`, `expect` and outputs tested on the same row, and each `exists` whose
//! filter reads the same at both runs probed at the second run only where the first run's probe
//! did not answer for it too.

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
        let filter = rule.filter.as_ref().map(|w| c.expr(w));
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
        columns.push((filter, expect, all));
    }
    let alias = quote(&binding.alias.name);
    // The row versions visible at either run (and the few made and closed between them).
    let schema = c.schema(binding);
    let (sa, sb) = (a.snapshot(schema), b.snapshot(schema));
    let label = format!("snapshots of {}", schema.label());
    let (lo, hi) = (
        c.param(Value::Integer(sa.min(sb)), label.clone()),
        c.param(Value::Integer(sa.max(sb)), label),
    );
    let either = format!("({alias}._from <= {hi} AND ({alias}._to IS NULL OR {alias}._to > {lo}))");
    // Which rows the scan keeps, and each run's test of a row (`_ok0`, `_ok1`), computed once
    // a row in the scan, unless it tests a probe's bits: it is then tested where they are.
    let (fa, fb) = (&columns[0].0, &columns[1].0);
    let probed = |f: &Option<String>| f.as_ref().is_some_and(|f| f.contains("._p"));
    let ok = |vis: &str, f: &Option<String>| match f {
        Some(f) => format!("({vis} AND {f})"),
        None => vis.to_string(),
    };
    let (scan, tests, early) = if probed(fa) || probed(fb) {
        (either, [ok(&vis_a, fa), ok(&vis_b, fb)], false)
    } else if fa == fb {
        // The same `where` at both runs (no `now()`): tested once, in the scan's filter.
        let scan = match fa {
            Some(f) => format!("{either} AND {f}"),
            None => either,
        };
        (scan, [vis_a.clone(), vis_b.clone()], true)
    } else {
        let tests = [ok(&vis_a, fa), ok(&vis_b, fb)];
        (
            format!("{either} AND ({} OR {})", tests[0], tests[1]),
            tests,
            true,
        )
    };
    let mut outer = Vec::new();
    let mut computed = String::new();
    for (n, ((_, expect, outs), test)) in columns.iter().zip(&tests).enumerate() {
        let test = if early {
            computed.push_str(&format!(", {test} AS _ok{n}"));
            format!("{alias}._ok{n}")
        } else {
            test.clone()
        };
        outer.push(format!(
            "count(*) FILTER (WHERE {test}), json_group_array(json_array({})) FILTER (WHERE {test} AND NOT coalesce({expect}, 0))",
            outs.join(", ")
        ));
    }
    // The scan is a co-routine of its own (`LIMIT -1` keeps SQLite from flattening it), named
    // as the binding. Each shared `exists` is probed at the first run in the scan (`_p0` …):
    // 3 when the row it finds is visible at the second run too, which is so for every row the
    // change between the runs did not touch; 1 when it is not; NULL when nothing matched. The
    // second run's test probes again only where that did not answer it. The outputs are made
    // for violations only.
    let shared = c.pair.take().map(|p| p.shared).unwrap_or_default();
    let first: String = shared
        .iter()
        .enumerate()
        .map(|(i, (probe, _))| format!(", {probe} AS _p{i}"))
        .collect();
    // The scan carries only the columns the rule reads (and the row's visibility, when a
    // `where` is tested after the probes).
    let mut carried: Vec<String> = Vec::new();
    if !early {
        carried.extend(["_from".to_string(), "_to".to_string()]);
    }
    carried.extend(schema.key.iter().cloned());
    // A `where` tested in the scan needs its fields there only.
    let filter = rule.filter.as_ref();
    for e in rule
        .exprs()
        .into_iter()
        .filter(|e| !(early && filter.is_some_and(|f| std::ptr::eq(*e, f))))
    {
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
    let scan = format!(
        "SELECT {}{computed}{first}\n  FROM {item}\n  WHERE {scan}\n  LIMIT -1",
        carried.join(", ")
    );
    let sql = format!(
        "SELECT {}\nFROM ({scan}) AS {alias}",
        outer.join(",\n       ")
    );
    Some(Compiled {
        sql,
        rows_sql: String::new(),
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
        let probes = (
            format!(
                "(SELECT CASE WHEN {1} THEN 3 ELSE 1 END FROM {item} WHERE {0}{cond} LIMIT 1)",
                vis[0], vis[1]
            ),
            format!("EXISTS (SELECT 1 FROM {item} WHERE {}{cond})", vis[1]),
        );
        let shared = &mut self.pair.as_mut().expect("in a pair").shared;
        let i = match shared.iter().position(|s| *s == probes) {
            Some(i) => i,
            None => {
                shared.push(probes);
                shared.len() - 1
            }
        };
        let alias = quote(self.scope[0].0);
        Some(match side {
            0 => format!("({alias}._p{i} IS NOT NULL)"),
            _ => format!("({alias}._p{i} IS 3 OR {})", shared[i].1),
        })
    }
}
