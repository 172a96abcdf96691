//! `driftwatch test`: the shipped rules pass their tests; a broken rule fails them with the
//! rows that differ; every error of the test format is reported at its place; and a test's
//! verdict agrees with `audit` on the same rows.

use crate::common::{ok, repo, run, write, Rng};
use driftwatch::platforms::Config;
use driftwatch::rules::check::Schemas;
use driftwatch::rules::RuleFile;
use driftwatch::ruletest::{check, TestFile};
use serde_json::Value as Json;

#[test]
fn the_shipped_rules_pass_their_tests() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("none.db");
    let store = store.to_str().unwrap();
    for (config, vars, n) in [
        ("samples/peerquest/driftwatch.toml", vec![], 8),
        ("samples/lms/driftwatch.toml", vec!["--var", "day=7"], 13),
    ] {
        let config = repo().join(config);
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "--store",
            store,
            "test",
        ];
        args.extend(vars);
        args.extend(["--format", "json"]);
        let r = run(d.path(), &args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let report: Json = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["passed"], n, "{report:#}");
        assert_eq!(report["failed"], 0);
    }
    // Every shipped rule has at least one test.
    for name in ["lms", "peerquest"] {
        let rules = RuleFile::load(&repo().join(format!("queries/{name}.rules"))).unwrap();
        let tests = TestFile::load(&repo().join(format!("queries/{name}.tests"))).unwrap();
        for r in &rules.rules {
            assert!(
                tests.tests.iter().any(|t| t.rule == r.name.name),
                "rule {} of {name}.rules has no test",
                r.name.name
            );
        }
    }
}

#[test]
fn removing_the_owners_exemption_fails_its_test_with_the_unexpected_row() {
    let d = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(repo().join("queries/lms.rules"))
        .unwrap()
        .replace(" and not contains(coalesce(t.roles, ''), 'owner')", "");
    write(d.path(), "lms.rules", &rules);
    std::fs::copy(repo().join("queries/lms.tests"), d.path().join("lms.tests")).unwrap();
    let config = repo().join("samples/lms/driftwatch.toml");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--store",
        "none.db",
        "test",
        "--var",
        "day=7",
        "--rules",
        "lms.rules",
    ];
    let r = run(d.path(), &args);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "FAILED channel_member_is_enrolled: a channel owner who is not enrolled is exempt"
        ) && r.stdout.contains("found, unexpected ┆ m3")
            && r.stdout.contains("13 tests: 12 passed, 1 failed"),
        "{}",
        r.stdout
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let report: Json = serde_json::from_str(&run(d.path(), &json_args).stdout).unwrap();
    let failed: Vec<&Json> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["failures"][0]["unexpected"],
        serde_json::json!([["m3", "o@x.org", "u3"]])
    );
}

/// Each file of tests/integration/broken_tests/ ends with `# expect: LINE:COL: MESSAGE` lines,
/// one per error it must report, checked against the PeerQuest rules and the schemas its
/// config declares.
#[test]
fn each_broken_test_file_fails_at_its_line_and_column_with_a_caret_and_a_hint() {
    let config = Config::load(&repo().join("samples/peerquest/driftwatch.toml")).unwrap();
    let schemas = Schemas::from_config(&config, &Default::default());
    let rules = vec![RuleFile::load(&repo().join("queries/peerquest.rules")).unwrap()];
    let paths = crate::common::files(&repo().join("tests/integration/broken_tests"), "");
    assert!(paths.len() >= 15);
    let mut problems = Vec::new();
    for path in &paths {
        let file = TestFile::load(path).unwrap();
        let want: Vec<(usize, usize, String)> = file
            .src
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|e| {
                let mut parts = e.splitn(3, ':');
                let line = parts.next().unwrap().trim().parse().unwrap();
                let col = parts.next().unwrap().trim().parse().unwrap();
                (line, col, parts.next().unwrap().trim().to_string())
            })
            .collect();
        let mut diags = file.errors.clone();
        diags.extend(check(&file, &rules, &schemas));
        diags.sort_by_key(|d| d.span.start);
        let got: Vec<(usize, usize, String)> = diags
            .iter()
            .map(|d| {
                let (l, c) = d.line_col(&file.src);
                (l, c, d.message.clone())
            })
            .collect();
        let name = path.file_name().unwrap().to_string_lossy();
        let matches = want.len() == got.len()
            && want
                .iter()
                .zip(&got)
                .all(|(w, g)| w.0 == g.0 && w.1 == g.1 && g.2.starts_with(&w.2));
        if !matches {
            problems.push(format!("{name}: want {want:?}, got {got:?}"));
        }
        for d in &diags {
            let shown = d.render(&name, &file.src);
            if !(shown.contains('^') && shown.contains("= hint: ")) {
                problems.push(format!("{name}: no caret or hint in\n{shown}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn test_and_check_report_a_malformed_test_file_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let config = repo().join("samples/peerquest/driftwatch.toml");
    let broken = repo().join("tests/integration/broken_tests/unknown_column.tests");
    for cmd in ["test", "check"] {
        let r = run(
            d.path(),
            &[
                "--config",
                config.to_str().unwrap(),
                "--store",
                "none.db",
                cmd,
                broken.to_str().unwrap(),
            ],
        );
        assert!(
            r.code == 2
                && r.stderr.contains("unknown_column.tests:3:12")
                && r.stderr.contains("did you mean `username`?"),
            "{cmd}: {}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// A random roster written once as CSV files (collected and audited) and once as a test's
/// tables: the test expecting exactly what `audit` found passes, and one expecting a
/// violation less fails.
#[test]
fn a_test_agrees_with_audit_on_the_same_rows() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let rule = "rule member_in_team {\n  for p in hr.people, t in hr.teams\n  where p.team_id = t.id and p.active\n  expect exists m in hr.members where m.team_id = t.id and m.person_id = p.id\n  key p.id\n  subject p.email\n  show team = t.name\n}\n";
    write(d, "r.rules", rule);
    write(
        d,
        "driftwatch.toml",
        "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n\
         [sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", team_id = \"integer\", active = \"bool\" }\n\
         [sources.hr.entities.teams]\npath = \"teams.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n\
         [sources.hr.entities.members]\npath = \"members.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", team_id = \"integer\", person_id = \"integer\" }\n",
    );
    let mut rng = Rng(0x5eed_1234);
    let mut people = vec![["id", "email", "team_id", "active"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    let mut members = vec![vec!["id".to_string(), "team_id".into(), "person_id".into()]];
    for i in 1..=40u64 {
        let team = 1 + rng.below(4);
        let active = rng.below(5) != 0;
        people.push(vec![
            i.to_string(),
            format!("p{i}@x.org"),
            team.to_string(),
            active.to_string(),
        ]);
        if rng.below(3) != 0 {
            members.push(vec![i.to_string(), team.to_string(), i.to_string()]);
        }
    }
    let teams: Vec<Vec<String>> = std::iter::once(vec!["id".to_string(), "name".into()])
        .chain((1..=4).map(|t| vec![t.to_string(), format!("team {t}")]))
        .collect();
    let csv = |rows: &[Vec<String>]| {
        rows.iter()
            .map(|r| r.join(","))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let table = |rows: &[Vec<String>]| {
        rows.iter()
            .map(|r| format!("    | {} |", r.join(" | ")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    write(d, "people.csv", &csv(&people));
    write(d, "teams.csv", &csv(&teams));
    write(d, "members.csv", &csv(&members));
    ok(d, &["collect"]);
    let audit: Json = serde_json::from_str(&run(d, &["audit", "--format", "json"]).stdout).unwrap();
    let found: Vec<Vec<String>> = audit["rules"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            vec![
                r["key"][0].to_string(),
                r["subject"].as_str().unwrap().to_string(),
                r["fields"]["team"].as_str().unwrap().to_string(),
            ]
        })
        .collect();
    assert!(found.len() > 5, "{found:?}");
    let tests = |expected: &[Vec<String>]| {
        let rows = if expected.is_empty() {
            "none".to_string()
        } else {
            format!("\n    | key | subject | team |\n{}", table(expected))
        };
        format!(
            "test \"as audit finds\" of member_in_team {{\n  given hr.people\n{}\n  given hr.teams\n{}\n  given hr.members\n{}\n  expect violations {rows}\n}}\n",
            table(&people),
            table(&teams),
            table(&members)
        )
    };
    write(d, "r.tests", &tests(&found));
    let r = run(d, &["test"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    write(d, "r.tests", &tests(&found[1..]));
    let r = run(d, &["test"]);
    assert!(
        r.code == 1 && r.stdout.contains("found, unexpected"),
        "{}",
        r.stdout
    );
}
