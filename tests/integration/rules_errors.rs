//! Broken rule files: each file of tests/integration/broken/ ends with `# expect: LINE:COL:
//! MESSAGE` lines, one per error it must report, and it must report exactly those (at that
//! line and column, saying that), checked against a store of the `hr` fixture. Also: the
//! parser never panics, and every rule that checks runs.

use crate::common::{repo, Rng};
use crate::rules_lang::{fixture, PEOPLE};
use driftwatch::rules::check::Schemas;
use driftwatch::rules::parse::parse_file;
use driftwatch::rules::{check_files, RuleFile};
use std::path::Path;

/// Every diagnostic of a rule file, as (line, col, message, rendered report).
fn diagnostics(path: &Path, schemas: &Schemas) -> Vec<(usize, usize, String, String)> {
    let file = RuleFile::load(path).unwrap();
    let files = [file];
    let loaded = check_files(&files, schemas);
    let mut all = files[0].errors.clone();
    for l in &loaded {
        if let Err(d) = &l.outcome {
            all.extend(d.iter().cloned());
        }
    }
    all.sort_by_key(|d| d.span.start);
    all.iter()
        .map(|d| {
            let (line, col) = d.line_col(&files[0].src);
            (line, col, d.message.clone(), d.render("f", &files[0].src))
        })
        .collect()
}

#[test]
fn each_broken_rule_file_fails_at_its_line_and_column_with_a_caret_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let paths = crate::common::files(&repo().join("tests/integration/broken"), "");
    assert!(paths.len() >= 30);
    let mut problems = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let want: Vec<(usize, usize, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|e| {
                let mut parts = e.splitn(3, ':');
                let line = parts.next().unwrap().trim().parse().unwrap();
                let col = parts.next().unwrap().trim().parse().unwrap();
                (line, col, parts.next().unwrap().trim())
            })
            .collect();
        let got = diagnostics(path, &schemas);
        let name = path.file_name().unwrap().to_string_lossy();
        if want.is_empty() {
            problems.push(format!("{name}: no `# expect:` line; it reports {got:#?}"));
            continue;
        }
        let matches = got.len() == want.len()
            && got
                .iter()
                .zip(&want)
                .all(|(g, w)| g.0 == w.0 && g.1 == w.1 && g.2.contains(w.2));
        if !matches {
            problems.push(format!(
                "{name}: want {want:?}, got {:#?}",
                got.iter().map(|g| (g.0, g.1, &g.2)).collect::<Vec<_>>()
            ));
        }
        for g in &got {
            // The report points at the place: `--> f:LINE:COL`, the line, and a caret.
            assert!(
                g.3.contains(&format!("--> f:{}:{}", g.0, g.1)) && g.3.contains('^'),
                "{}",
                g.3
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Random edits of real rule text and random token soup: the parser returns (never panics),
/// every error points inside the text, and every rule that passes the checker compiles to SQL
/// that SQLite runs.
#[test]
fn parser_never_panics_and_every_rule_that_checks_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let at_run = driftwatch::rules::eval::At {
        run: 1,
        taken_at: "2026-11-10T12:00:00Z".into(),
    };
    let mut seeds: Vec<String> = std::fs::read_dir(repo().join("tests/integration/broken"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    seeds.push(std::fs::read_to_string(repo().join("queries/peerquest.rules")).unwrap());
    seeds.push(
        "rule ok { for p in hr.people, t in hr.teams where p.team_id = t.id and p.active \
         expect exists b in hr.badges where b.person_id = p.id and lower(b.badge) like 'g%' \
         key p.id subject p.email show n = count(x in hr.people where x.team_id = t.id), \
         d = days_between(p.joined, now()), s = coalesce(p.score, 0) + 1 grace 1h \
         warn when count > 1 fail when count > 50% }\n\
         rule g { for p in hr.people group by p.team_id expect count(*) < 2 and max(p.score) > 1 \
         show m = min(p.name), s = sum(p.id) }"
            .into(),
    );
    const TOKENS: &[&str] = &[
        "rule", "r", "{", "}", "for", "p", "in", "hr", ".", "people", "teams", "where", "expect",
        "exists", "count", "(", ")", "*", ",", "=", "!=", "<", ">=", "and", "or", "not", "is",
        "null", "like", "'a'", "\"b\\n\"", "'", "\"", "12", "3.5", "6h", "%", "+", "-", "||",
        "group", "by", "show", "key", "subject", "grace", "warn", "fail", "when", "fix", "#", "\n",
        " ", "é", "→", "🦀", "\0", "\r", "\t", "id", "name", "email", "lower", "now",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut ran = 0;
    for _ in 0..20_000 {
        let mut src = if rng.below(4) == 0 {
            (0..rng.below(60))
                .map(|_| TOKENS[rng.below(TOKENS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(if rng.below(2) == 0 { " " } else { "" })
        } else {
            seeds[rng.below(seeds.len() as u64) as usize].clone()
        };
        for _ in 0..=rng.below(3) {
            let chars: Vec<char> = src.chars().collect();
            let at = rng.below(chars.len() as u64 + 1) as usize;
            let mut edited: Vec<char> = chars[..at].to_vec();
            match rng.below(4) {
                0 => {} // truncate
                1 => edited.extend(&chars[(at + 1 + rng.below(8) as usize).min(chars.len())..]),
                2 => {
                    edited.extend(TOKENS[rng.below(TOKENS.len() as u64) as usize].chars());
                    edited.extend(&chars[at..]);
                }
                _ => {
                    edited.push(char::from_u32(rng.below(0x2_0000) as u32).unwrap_or('?'));
                    edited.extend(&chars[at..]);
                }
            }
            src = edited.into_iter().collect();
        }
        let (rules, errors) = parse_file(&src);
        for d in &errors {
            assert!(
                d.span.start <= src.len() && d.span.end <= src.len(),
                "{src:?}: {d:?}"
            );
            d.render("f", &src);
        }
        let _ = driftwatch::rules::parse::parse_query(&src);
        for rule in &rules {
            let Ok(checked) = driftwatch::rules::check::check_rule(rule, &src, &schemas) else {
                continue;
            };
            driftwatch::rules::eval::evaluate(&store, &checked, &at_run).unwrap_or_else(|e| {
                panic!("{src:?}: rule {} checks but does not run: {e}", rule.name)
            });
            ran += 1;
        }
    }
    // Deep nesting and long chains, put anywhere in a rule: refused with a position inside the
    // text, or checked and run; never a crash.
    const DEEP: &[&str] = &[
        "(",
        "not ",
        "- ",
        " or p.id = 1",
        " + 1",
        " and p.active",
        "exists b in hr.badges where ",
    ];
    let mut deep = 0;
    for _ in 0..300 {
        let seed = &seeds[rng.below(seeds.len() as u64) as usize];
        let chars: Vec<char> = seed.chars().collect();
        let at = rng.below(chars.len() as u64 + 1) as usize;
        let unit = DEEP[rng.below(DEEP.len() as u64) as usize];
        let mut src: String = chars[..at].iter().collect();
        src.push_str(&unit.repeat(64 + rng.below(3000) as usize));
        src.extend(&chars[at..]);
        let (rules, errors) = parse_file(&src);
        for d in &errors {
            assert!(d.span.end <= src.len(), "{d:?}");
            deep += (d.message.contains("levels deep") || d.message.contains("in a row")) as usize;
        }
        for rule in &rules {
            if let Ok(checked) = driftwatch::rules::check::check_rule(rule, &src, &schemas) {
                driftwatch::rules::eval::evaluate(&store, &checked, &at_run)
                    .unwrap_or_else(|e| panic!("rule {} checks but does not run: {e}", rule.name));
            }
        }
    }
    assert!(
        deep > 10,
        "only {deep} inputs nested too deep; the test would prove little"
    );
    assert!(
        ran > 100,
        "only {ran} edited rules checked and ran; the test would prove little"
    );
}
