//! The rule commands as a user runs them: `check`, `audit`, `query` and `explain`, their
//! formats, their errors and exit codes.

use crate::common::{fails, ok, repo, run, write};
use crate::rules_lang::{fixture, PEOPLE};
use serde_json::Value as Json;

const RULES: &str = "rule has_email {
  title \"Everyone has an email address\"
  for p in hr.people
  expect p.email is not null and p.email != ''
  subject p.name
  show team = p.team_id
}

rule team_has_people {
  severity warning
  for t in hr.teams
  expect exists p in hr.people where p.team_id = t.id
  subject t.name
  warn when count > 0
}
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), PEOPLE);
    let config = std::fs::read_to_string(dir.path().join("driftwatch.toml")).unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &format!("store = \"s.db\"\nrules = [\"*.rules\"]\n{config}"),
    );
    write(dir.path(), "hr.rules", RULES);
    dir
}

#[test]
fn audit_table_json_csv_and_md_agree_and_exit_1_when_a_rule_fails() {
    let dir = setup();
    let d = dir.path();
    let table = run(d, &["audit", "--detailed"]);
    assert_eq!(table.code, 1, "{}", table.stderr);
    assert!(
        table.stdout.contains("has_email: 1 violation"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("│ 4   ┆ Di      ┆ 2026-11-10T12:00:00Z ┆ 0m  ┆    2 │"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .ends_with("2 rules: 1 fail, 1 warn, 0 pass\nTOTAL ISSUES: 2\n"),
        "{}",
        table.stdout
    );

    let json: Json = serde_json::from_str(&run(d, &["audit", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["run"], 1);
    assert_eq!(json["snapshots"]["hr"]["stale"], false);
    assert_eq!(json["rules"][0]["status"], "fail");
    assert_eq!(json["rules"][0]["checked"], 4);
    assert_eq!(json["rules"][0]["rows"][0]["key"], serde_json::json!([4]));
    assert_eq!(json["rules"][0]["rows"][0]["fields"]["team"], 2);
    assert_eq!(
        json["rules"][0]["rows"][0]["first_seen"],
        "2026-11-10T12:00:00Z"
    );
    assert_eq!(json["rules"][1]["status"], "warn");
    assert_eq!(json["rules"][1]["rows"][0]["subject"], "Empty");
    assert_eq!(json["total_issues"], 2);

    let csv = run(d, &["audit", "--format", "csv"]).stdout;
    assert_eq!(csv, "rule,severity,key,subject,first_seen,pending,team,suppressed\nhas_email,error,4,Di,2026-11-10T12:00:00Z,false,2,\nteam_has_people,warning,3,Empty,2026-11-10T12:00:00Z,false,,\n");
    let md = run(d, &["audit", "--format", "md"]).stdout;
    assert!(md.contains("| has_email | error | fail | 4 | 1 |"), "{md}");

    // Only the warning: exit 0.
    let warn = run(d, &["audit", "--rule", "team_has_people"]);
    assert_eq!(warn.code, 0, "{}", warn.stdout);
    fails(
        d,
        &["audit", "--rule", "has_emial"],
        2,
        "no rule named `has_emial`; did you mean `has_email`?",
    );
}

#[test]
fn audit_runs_the_other_rules_when_one_names_a_field_the_source_no_longer_has() {
    let dir = setup();
    let d = dir.path();
    // The people export loses its email column in the second run.
    write(
        d,
        "people.csv",
        "id,name,team_id,active,joined,score,manager_id\n1,Ann,1,true,2026-11-01T00:00:00Z,1.5,\n",
    );
    ok(d, &["collect", "--at", "2026-11-11T12:00:00Z"]);
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("hr.people no longer has field `email`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hr.rules:4:"), "{}", r.stderr);
    let json: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["rules"][0]["status"], "error");
    assert!(json["rules"][0]["error"]
        .as_str()
        .unwrap()
        .contains("no longer has field `email`"));
    // The other rule still ran: teams 2 and 3 have nobody now.
    assert_eq!(json["rules"][1]["status"], "warn");
    assert_eq!(json["rules"][1]["violations"], 2);
    let table = run(d, &["audit"]);
    assert!(
        table
            .stdout
            .contains("error: rule has_email could not run: "),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("1 could not run"), "{}", table.stdout);
    // At the first run the source still had the field.
    assert_eq!(run(d, &["audit", "--at", "1"]).code, 1);
    fails(d, &["check"], 2, "no longer has field `email`");
}

#[test]
fn audit_says_which_sources_are_stale_at_the_run() {
    let dir = setup();
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("driftwatch.toml")).unwrap();
    write(d, "driftwatch.toml", &format!("{config}\n[sources.extra]\nkind = \"csv\"\n[sources.extra.entities.things]\npath = \"teams.csv\"\nkey = [\"id\"]\n"));
    ok(
        d,
        &[
            "collect",
            "--source",
            "extra",
            "--at",
            "2026-11-11T12:00:00Z",
        ],
    );
    let json: Json = serde_json::from_str(&run(d, &["audit", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["run"], 2);
    assert_eq!(json["snapshots"]["hr"]["run"], 1);
    assert_eq!(json["snapshots"]["hr"]["stale"], true);
    let table = run(d, &["audit"]).stdout;
    assert!(table.contains("note: hr is as of run 1"), "{table}");
}

#[test]
fn check_reports_every_error_with_place_caret_and_hint_and_exits_2() {
    let dir = setup();
    let d = dir.path();
    assert!(ok(d, &["check"])
        .starts_with("ok: 2 rules in 1 file, checked against the schemas of run 1"));
    write(d, "bad.rules", "rule a {\n  for p in hr.people\n  where p.emial = 'x'\n}\n\nrule b {\n  for t in hr.teams\n  expcet t.id > 0\n}\n");
    let r = fails(d, &["check", "bad.rules"], 2, "error: unknown field `emial` on hr.people\n --> bad.rules:3:11\n  |\n3 |   where p.emial = 'x'\n  |           ^^^^^\n  = hint: did you mean `email`?\n");
    assert!(r.stderr.contains("--> bad.rules:8:3"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: did you mean `expect`?"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 errors in 1 rule file"), "{}", r.stderr);
    fails(d, &["check", "missing.rules"], 2, "missing.rules");
}

#[test]
fn check_without_a_store_uses_the_columns_the_config_declares() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = repo().join("samples/lms/driftwatch.toml");
    let config = config.to_str().unwrap();
    write(d, "typo.rules", "rule r {\n  for m in ssot.members, w in wordpress.users\n  where w.id = m.wp_user_id\n  expect w.emial = m.email\n}\n");
    // `check` with the LMS config, no store, and `day` from the environment.
    let check = |file: &str| {
        crate::common::finish(
            crate::common::driftwatch(d)
                .args(["--config", config, "--store", "none.db", "check", file])
                .env("day", "7")
                .output()
                .unwrap(),
        )
    };
    // The SSOT's columns come from its query, WordPress's from the `columns` mapping.
    let r = check("typo.rules");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown field `emial` on wordpress.users"),
        "{}",
        r.stderr
    );
    let r = check(repo().join("queries/lms.rules").to_str().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("checked against the entities declared in"),
        "{}",
        r.stdout
    );
}

#[test]
fn query_prints_the_rows_of_a_rule_body_in_every_format() {
    let dir = setup();
    let d = dir.path();
    let q = "for p in hr.people where p.active and p.team_id = 1 show p.name, p.score";
    assert_eq!(
        ok(d, &["query", q, "--format", "csv"]),
        "name,score\nAnn,1.5\nBo,2.5\n"
    );
    let json: Json = serde_json::from_str(&ok(d, &["query", q, "--format", "json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"name": "Ann", "score": 1.5}, {"name": "Bo", "score": 2.5}])
    );
    assert!(ok(d, &["query", q]).contains("│ Bo   ┆   2.5 │"));
    // Without `show`, every field of every binding.
    let all = ok(
        d,
        &[
            "query",
            "for t in hr.teams where t.id = 1",
            "--format",
            "csv",
        ],
    );
    assert_eq!(all, "t.id,t.name,t.lead\n1,Red,ann@x.org\n");
    // With `expect`, the rows that violate it.
    assert_eq!(
        ok(
            d,
            &[
                "query",
                "for p in hr.people expect p.score > 2 show p.id",
                "--format",
                "csv"
            ]
        ),
        "id\n1\n3\n"
    );
    let r = fails(
        d,
        &["query", "for p in hr.people where p.nme = 'x'"],
        2,
        "--> query:1:28",
    );
    assert!(r.stderr.contains("did you mean `name`?"), "{}", r.stderr);
    fails(
        d,
        &["query", "for p in hr.people where"],
        2,
        "expected an expression",
    );
}

#[test]
fn explain_prints_sql_parameters_indexes_and_a_plan_that_uses_them() {
    let dir = setup();
    let d = dir.path();
    let out = ok(d, &["explain", "team_has_people"]);
    assert!(
        out.contains("NOT coalesce(EXISTS (SELECT 1 FROM \"e_hr__people\" AS \"p\""),
        "{out}"
    );
    assert!(
        out.contains("--   ?1 = 1  (snapshot of hr.teams)\n--   ?2 = 1  (snapshot of hr.people)\n"),
        "{out}"
    );
    assert!(out.contains("CREATE INDEX IF NOT EXISTS \"ix_e_hr__people__team_id\" ON \"e_hr__people\"(\"team_id\", _from, _to);"), "{out}");
    assert!(
        out.contains("SEARCH p USING COVERING INDEX ix_e_hr__people__team_id (team_id=?"),
        "{out}"
    );
    fails(d, &["explain", "nope"], 2, "no rule named `nope`");
}

#[test]
fn a_rule_on_a_configured_source_not_yet_collected_says_so() {
    let dir = setup();
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("driftwatch.toml")).unwrap();
    write(d, "driftwatch.toml", &format!("{config}\n[sources.extra]\nkind = \"csv\"\n[sources.extra.entities.things]\npath = \"teams.csv\"\nkey = [\"id\"]\n"));
    write(
        d,
        "extra.rules",
        "rule things_have_names {\n  for t in extra.things\n  expect t.name is not null\n}\n",
    );
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let json: Json = serde_json::from_str(&r.stdout).unwrap();
    let rules = json["rules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|r| r["rule"] == "things_have_names")
        .unwrap();
    assert_eq!(rule["status"], "error");
    assert_eq!(
        rule["error"],
        "extra.things is in the config but has not been collected yet: run `driftwatch collect`"
    );
    // Its columns come from the config meanwhile: a typo is still caught.
    write(
        d,
        "extra.rules",
        "rule things_have_names {\n  for t in extra.things\n  expect t.nme is not null\n}\n",
    );
    fails(d, &["check"], 2, "unknown field `nme` on extra.things");
}
