//! Compiling a rule for two runs at once: one scan of the row versions visible at either run,
//! each `exists` whose filter reads the same at both runs probed at the first run (and again at
//! the second only where that did not answer for it too), and each run's `where`, `expect` and
//! outputs tested on the same row.
//!
//! Most rows are the same at both runs: the same version, visible at both, and every probe
//! answered for both. When the rule then reads the same at both runs (no `now()`, no nested
//! `exists`), such a row is tested once, and only rows that differ or violate are gathered, with
//! flags saying at which run each is ranged over and violates: what the pair costs beyond one
//! run's audit follows the change between the runs.
//!
//! A `group by` rule is grouped once over both runs' rows, each aggregate computed for each run
//! with that run's test of a row as its `FILTER` (`compile_grouped`).

use super::*;

/// Compiles a rule for two runs at once, when it ranges over one entity. None for the rules it
/// does not serve (those that join entities).
///
/// The statement returns one row of four columns: rows ranged over at `a`, the same at `b`, and
/// two JSON arrays of gathered rows, each `[in_a, in_b, bad_a, bad_b, key…, subject, show…,
/// fix…]`. A gathered row whose `in_` flag for a run is 0 is one that run does not range over:
/// its count is less those rows. A row with `bad_` set for a run is a violation at that run.
pub fn compile_pair(checked: &Checked<'_>, a: &dyn Target, b: &dyn Target) -> Option<Compiled> {
    let rule = checked.rule;
    if rule.bindings.len() != 1 {
        return None;
    }
    let grouped = !rule.group_by.is_empty();
    let mut c = Compiler {
        checked,
        target: a,
        params: Vec::new(),
        scope: Vec::new(),
        indexes: BTreeSet::new(),
        // A `group by` rule's `exists` are probed at each run where its rows are read.
        pair: (!grouped).then_some(Pair {
            runs: [a, b],
            side: Side::First,
            shared: Vec::new(),
        }),
        aggregates: None,
    };
    if grouped {
        return compile_grouped(c, a, b);
    }
    let binding = &rule.bindings[0];
    let (item, _) = c.table_item(binding);
    c.scope.push((&binding.alias.name, c.schema(binding)));
    if let Some(w) = &rule.filter {
        c.join_indexes(rule, w);
    }
    // Each run's `where`, `expect` (a rule without one finds every row it ranges over) and
    // outputs, and the `expect` of a row every probe answered for both runs.
    let mut sides = Vec::new();
    for (side, t) in [(Side::First, a), (Side::Second, b)] {
        c.target = t;
        c.set_side(side);
        let filter = rule.filter.as_ref().map(|w| c.expr(w));
        let expect = rule.expect.as_ref().map_or("0".to_string(), |e| c.expr(e));
        let (all, shape) = c.cells(rule);
        sides.push((filter, expect, all, shape));
    }
    let mut answered = Vec::new();
    for t in [a, b] {
        c.target = t;
        c.set_side(Side::Answered);
        answered.push(rule.expect.as_ref().map_or("0".to_string(), |e| c.expr(e)));
    }
    let shape = sides[0].3;
    let alias = quote(&binding.alias.name);
    let schema = c.schema(binding);
    // A row of the scan is visible at the earlier snapshot when it was made by then, and at
    // the later when it is still open then.
    let either = c.either(binding, a, b);
    let [(in_a, out_a), (in_b, out_b)] = c.within(binding, a, b);
    let [(fa, ea, oa, _), (fb, eb, ob, _)] = &sides[..] else {
        unreachable!("two sides")
    };
    let probed = |f: &Option<String>| f.as_ref().is_some_and(|f| f.contains("._p"));
    // A `where` that reads no probe is tested in the scan: once when it reads the same at both
    // runs (no `now()`), else as each run's test of a row (`_ok0`, `_ok1`), computed once a row.
    // One that reads a probe is tested where the probes are.
    let early = !probed(fa) && !probed(fb);
    let same = early && fa == fb;
    let flat = same && oa == ob && answered[0] == answered[1];
    let shared = c.pair.take().map(|p| p.shared).unwrap_or_default();
    let probes: String = shared
        .iter()
        .enumerate()
        .map(|(i, (probe, _))| format!(", {probe} AS _p{i}"))
        .collect();
    let mut computed = String::new();
    let outer = if flat {
        // A row is gathered when it is not visible at both runs, a probe did not answer for
        // both, or it violates (at both runs then).
        let mut interesting = vec![out_a, out_b];
        interesting.extend((0..shared.len()).map(|i| format!("{alias}._p{i} IS NOT 3")));
        interesting.push(format!("NOT coalesce({}, 0)", answered[0]));
        format!(
            "count(*), count(*), json_group_array(json_array({in_a}, {in_b}, {in_a} AND NOT coalesce({ea}, 0), {in_b} AND NOT coalesce({eb}, 0), {})) FILTER (WHERE {}), '[]'",
            oa.join(", "),
            interesting.join(" OR ")
        )
    } else {
        let tests = match same {
            true => [in_a.clone(), in_b.clone()],
            false => [ok_or(&in_a, fa), ok_or(&in_b, fb)],
        };
        let mut counts = Vec::new();
        let mut gathered = Vec::new();
        for (n, ((expect, outs), test)) in [(ea, oa), (eb, ob)].into_iter().zip(&tests).enumerate()
        {
            let test = if early {
                computed.push_str(&format!(", {test} AS _ok{n}"));
                format!("{alias}._ok{n}")
            } else {
                test.clone()
            };
            let flags = ["1, 1, 1, 0", "1, 1, 0, 1"][n];
            counts.push(format!("count(*) FILTER (WHERE {test})"));
            gathered.push(format!(
                "json_group_array(json_array({flags}, {})) FILTER (WHERE {test} AND NOT coalesce({expect}, 0))",
                outs.join(", ")
            ));
        }
        counts.extend(gathered);
        counts.join(",\n       ")
    };
    let scan = match (same, early, fa) {
        (true, _, Some(f)) => format!("{either} AND {f}"),
        (true, _, None) | (false, false, _) => either,
        (false, true, _) => format!(
            "{either} AND ({} OR {})",
            ok_or(&in_a, fa),
            ok_or(&in_b, fb)
        ),
    };
    // The scan carries only the columns the rule reads (a `where` tested in the scan needs its
    // fields there only), and the row's bounds where visibility is tested after it.
    let carried = carried(rule, schema, early, !early || flat);
    // The scan is a co-routine of its own (`LIMIT -1` keeps SQLite from flattening it), named
    // as the binding, so that each probe is made once a row.
    let scan = format!(
        "SELECT {}{computed}{probes}\n  FROM {item}\n  WHERE {scan}\n  LIMIT -1",
        carried.join(", ")
    );
    Some(c.finish(format!("SELECT {outer}\nFROM ({scan}) AS {alias}"), shape))
}

/// The columns of the rule's binding the expressions read, qualified, with its key (`_key`
/// without one), and its bounds (`_from`, `_to`) when asked; without the `where`'s fields when
/// it is tested in the scan.
fn carried(rule: &Rule, schema: &EntitySchema, without_where: bool, bounds: bool) -> Vec<String> {
    let binding = &rule.bindings[0];
    let mut carried: Vec<String> = Vec::new();
    if bounds {
        carried.extend(["_from".to_string(), "_to".to_string()]);
    }
    if schema.key.is_empty() {
        carried.push("_key".to_string());
    }
    carried.extend(schema.key.iter().cloned());
    let filter = rule.filter.as_ref();
    for e in rule
        .exprs()
        .into_iter()
        .filter(|e| !(without_where && filter.is_some_and(|f| std::ptr::eq(*e, f))))
    {
        e.walk(&mut |x| {
            if let ExprKind::Field { alias: a, field } = &x.kind {
                if a.name == binding.alias.name && !carried.contains(&field.name) {
                    carried.push(field.name.clone());
                }
            }
        });
    }
    let alias = quote(&binding.alias.name);
    carried
        .iter()
        .map(|col| format!("{alias}.{}", quote(col)))
        .collect()
}

/// A `group by` rule over one entity at two runs: the row versions visible at either run
/// grouped once, and each aggregate computed for each run with that run's test of a row as its
/// `FILTER`. A group a run has no row of is not one of its groups. The tests are written into
/// the aggregates, so that SQLite may read the rows through an index in the groups' order as it
/// does for one run; a `where` with an `exists` is tested once a row instead, in a scan of its
/// own (`_t0`, `_t1`). Returns as `compile_pair` does.
fn compile_grouped<'a>(
    mut c: Compiler<'a>,
    a: &'a dyn Target,
    b: &'a dyn Target,
) -> Option<Compiled> {
    let rule = c.checked.rule;
    let binding = &rule.bindings[0];
    let schema = c.schema(binding);
    let alias = quote(&binding.alias.name);
    let (item, _) = c.table_item(binding);
    c.scope.push((&binding.alias.name, schema));
    if let Some(w) = &rule.filter {
        c.join_indexes(rule, w);
    }
    let either = c.either(binding, a, b);
    let mut filters = Vec::new();
    for t in [a, b] {
        c.target = t;
        filters.push(rule.filter.as_ref().map(|w| c.expr(w)));
    }
    let (fa, fb) = (&filters[0], &filters[1]);
    let mut probes = false;
    if let Some(w) = &rule.filter {
        w.walk(&mut |x| {
            probes |= matches!(x.kind, ExprKind::Exists { .. } | ExprKind::CountOf { .. });
        });
    }
    // Each run's test of a row, and which rows are read. Visibility at each run is told by the
    // bounds the rows read already meet.
    let [(in_a, _), (in_b, _)] = c.within(binding, a, b);
    let (tests, from, rows) = if probes {
        let scan = format!(
            "SELECT {}, {} AS _t0, {} AS _t1\n    FROM {item}\n    WHERE {either}\n    LIMIT -1",
            carried(rule, schema, false, true).join(", "),
            ok_or(&in_a, fa),
            ok_or(&in_b, fb)
        );
        (
            [format!("{alias}._t0"), format!("{alias}._t1")],
            format!("({scan}) AS {alias}"),
            format!("{alias}._t0 OR {alias}._t1"),
        )
    } else if fa == fb {
        let rows = match fa {
            Some(f) => format!("{either} AND {f}"),
            None => either,
        };
        ([in_a, in_b], item, rows)
    } else {
        let tests = [ok_or(&in_a, fa), ok_or(&in_b, fb)];
        let rows = format!("{either} AND ({} OR {})", tests[0], tests[1]);
        (tests, item, rows)
    };
    let (mut groups, mut columns) = (Vec::new(), Vec::new());
    let (mut counts, mut gathered) = (Vec::new(), Vec::new());
    let mut shape = (0, false, 0, 0);
    for (n, t) in [a, b].into_iter().enumerate() {
        c.target = t;
        c.aggregates = None;
        groups.push(rule.group_by.iter().map(|g| c.expr(g)).collect::<Vec<_>>());
        c.aggregates = Some(tests[n].clone());
        let expect = rule.expect.as_ref().map_or("0".to_string(), |e| c.expr(e));
        let (outs, cells) = c.cells(rule);
        shape = cells;
        let names: Vec<String> = (1..=outs.len()).map(|i| format!("_o{n}_{i}")).collect();
        columns.extend(outs.iter().zip(&names).map(|(o, m)| format!("{o} AS {m}")));
        columns.push(format!("{expect} AS _e{n}"));
        columns.push(format!("count(*) FILTER (WHERE {}) AS _n{n}", tests[n]));
        counts.push(format!("count(*) FILTER (WHERE _n{n} > 0)"));
        gathered.push(format!(
            "json_group_array(json_array({}, {})) FILTER (WHERE _n{n} > 0 AND NOT coalesce(_e{n}, 0))",
            ["1, 1, 1, 0", "1, 1, 0, 1"][n],
            names.join(", ")
        ));
    }
    c.aggregates = None;
    if groups[0] != groups[1] {
        return None;
    }
    counts.extend(gathered);
    let sql = format!(
        "SELECT {}\nFROM (SELECT {}\n  FROM {from}\n  WHERE {rows}\n  GROUP BY {})",
        counts.join(",\n       "),
        columns.join(", "),
        groups[0].join(", ")
    );
    Some(c.finish(sql, shape))
}

/// A run's test of a row: visible at it, and its `where`.
fn ok_or(vis: &str, f: &Option<String>) -> String {
    match f {
        Some(f) => format!("({vis} AND {f})"),
        None => vis.to_string(),
    }
}

impl<'a> Compiler<'a> {
    /// The parameters of the binding's snapshots at the two runs, the earlier first.
    fn bounds(
        &mut self,
        binding: &'a Binding,
        a: &'a dyn Target,
        b: &'a dyn Target,
    ) -> [String; 2] {
        let schema = self.schema(binding);
        let back = self.target;
        let mut params = [a, b].map(|t| (t.snapshot(schema), String::new()));
        for (t, p) in [a, b].into_iter().zip(&mut params) {
            self.target = t;
            p.1 = self.snapshot_param(binding);
        }
        self.target = back;
        params.sort_by_key(|p| p.0);
        params.map(|p| p.1)
    }

    /// Whether a row version visible at either run (`either`) is visible at each run, and
    /// whether it is not: at the earlier snapshot when it was made by then, at the later when it
    /// is still open then.
    fn within(
        &mut self,
        binding: &'a Binding,
        a: &'a dyn Target,
        b: &'a dyn Target,
    ) -> [(String, String); 2] {
        let [lo, hi] = self.bounds(binding, a, b);
        let alias = quote(&binding.alias.name);
        let made = (
            format!("{alias}._from <= {lo}"),
            format!("{alias}._from > {lo}"),
        );
        let open = (
            format!("({alias}._to IS NULL OR {alias}._to > {hi})"),
            format!("{alias}._to <= {hi}"),
        );
        let schema = self.schema(binding);
        match a.snapshot(schema) <= b.snapshot(schema) {
            true => [made, open],
            false => [open, made],
        }
    }

    /// The row versions of a binding visible at either run: made by the later snapshot and not
    /// closed by the earlier.
    fn either(&mut self, binding: &'a Binding, a: &'a dyn Target, b: &'a dyn Target) -> String {
        let [lo, hi] = self.bounds(binding, a, b);
        let alias = quote(&binding.alias.name);
        format!("({alias}._from <= {hi} AND ({alias}._to IS NULL OR {alias}._to > {lo}))")
    }

    fn set_side(&mut self, side: Side) {
        if let Some(p) = &mut self.pair {
            p.side = side;
        }
    }

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
        // The run the rest of the expression is compiled for.
        let target = self.target;
        for t in runs {
            self.target = t;
            let (it, v) = self.table_item(b);
            item = it;
            vis.push(v);
            self.scope.push((&b.alias.name, schema));
            filters.push(filter.map(|f| self.expr(f)));
            self.scope.pop();
        }
        self.target = target;
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
            Side::First => format!("({alias}._p{i} IS NOT NULL)"),
            Side::Second => format!("({alias}._p{i} IS 3 OR {})", shared[i].1),
            Side::Answered => "1".to_string(),
        })
    }
}
