//! Broken rule files: each file of tests/integration/broken/ starts with `# expect: LINE:COL:
//! MESSAGE` lines, one per error it must report, and it must report exactly those (at that
//! line and column, saying that), checked against a store of the `hr` fixture. Also: the
//! parser never panics, and `check` and `audit` report errors as users see them.

use crate::common::{fails, ok, repo, run, write, Rng};
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
        if let Err(d) = &l.checked {
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
    let mut paths: Vec<_> = std::fs::read_dir(repo().join("tests/integration/broken"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
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
