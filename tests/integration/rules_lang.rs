//! The rule language on small, exactly known data: every clause, the semantics of `expect`,
//! functions, aggregates, subqueries and thresholds, and that values are never SQL.

use crate::common::write;
use driftwatch::config::{Config, Vars};
use driftwatch::rules::ast::{Action, Severity};
use driftwatch::rules::check::{check_rule, Schemas};
use driftwatch::rules::eval::{evaluate, status, At, Evaluation, Status};
use driftwatch::rules::parse::{parse_file, parse_query};
use driftwatch::store::Store;
use serde_json::{json, Value as Json};

/// A store holding one run of three CSV entities: `hr.people`, `hr.teams` and the keyless
/// `hr.badges` (with a duplicate row).
pub fn fixture(dir: &std::path::Path, people: &str) -> Store {
    write(dir, "people.csv", people);
    write(
        dir,
        "teams.csv",
        "id,name,lead\n1,Red,ann@x.org\n2,Blue,bo@x.org\n3,Empty,\n",
    );
    write(
        dir,
        "badges.csv",
        "person_id,badge\n1,gold\n1,gold\n2,silver\n",
    );
    let config = write(
        dir,
        "driftwatch.toml",
        r#"
[sources.hr]
kind = "csv"
[sources.hr.entities.people]
path = "people.csv"
key = ["id"]
types = { id = "integer", team_id = "integer", active = "bool", joined = "timestamp", score = "real", manager_id = "integer" }
[sources.hr.entities.teams]
path = "teams.csv"
key = ["id"]
types = { id = "integer" }
[sources.hr.entities.badges]
path = "badges.csv"
types = { person_id = "integer" }
"#,
    );
    let config = Config::load(&config).unwrap();
    let mut store = Store::open(&dir.join("s.db")).unwrap();
    let at = driftwatch::time::parse("2026-11-10T12:00:00Z");
    let report =
        driftwatch::collect::collect_run(&mut store, &config, &Vars::default(), &[], at, false)
            .unwrap();
    assert!(report.first_failure().is_none());
    store
}

pub const PEOPLE: &str = "id,name,email,team_id,active,joined,score,manager_id
1,Ann,ann@x.org,1,true,2026-11-01T00:00:00Z,1.5,
2,Bo,BO@X.ORG,1,true,2026-11-08T12:00:00Z,2.5,1
3,Cy, cy@x.org ,2,false,2026-10-01T00:00:00Z,,1
4,Di,,2,true,2026-11-10T00:00:00Z,4,2
";

fn at() -> At {
    At {
        run: 1,
        taken_at: "2026-11-10T12:00:00Z".into(),
    }
}

/// Parses, checks and runs a query (a rule body) on the store.
pub fn query(store: &Store, text: &str) -> Evaluation {
    let rule = parse_query(text).unwrap_or_else(|d| panic!("{}", d.render("query", text)));
    let schemas = Schemas::at_run(store, 1).unwrap();
    let checked = check_rule(&rule, text, &schemas)
        .unwrap_or_else(|d| panic!("{}", driftwatch::rules::diag::render_all("query", text, &d)));
    evaluate(store, &checked, &at()).unwrap()
}

/// The shown fields of each row, as JSON arrays.
fn rows(ev: &Evaluation) -> Vec<Json> {
    ev.violations
        .iter()
        .map(|v| Json::Array(v.fields.iter().map(|(_, x)| x.clone()).collect()))
        .collect()
}

#[test]
fn every_clause_parses_into_the_rule() {
    let src = r#"
# a comment
rule everything {   # trailing comment
  title "All clauses" description 'it''s complete'
  severity critical
  tags a, b_2
  for p in hr.people, t in hr.teams
  where p.team_id = t.id
  group by t.id, t.name
  expect count(*) <= 2
  key t.id
  subject t.name
  show team = t.name, n = count(*), max(p.score)
  grace 2d
  warn when count > 1
  fail when count >= 50%
  fix hr.notify(team = t.name, size = count(*))
}
rule inserts { for p in hr.people fix ssot.insert people_archive(id = p.id, why = 'left') }
rule updates { for p in hr.people fix ssot.update people(active = false) where id = p.id and team_id = p.team_id }
"#;
    let (rules, errors) = parse_file(src);
    assert!(errors.is_empty(), "{errors:?}");
    let r = &rules[0];
    assert_eq!(r.name.name, "everything");
    assert_eq!(r.title.as_deref(), Some("All clauses"));
    assert_eq!(r.description.as_deref(), Some("it's complete"));
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(
        r.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["a", "b_2"]
    );
    assert_eq!(
        r.bindings.iter().map(|b| b.label()).collect::<Vec<_>>(),
        ["hr.people", "hr.teams"]
    );
    assert!(r.filter.is_some() && r.expect.is_some() && r.subject.is_some());
    assert_eq!((r.group_by.len(), r.key.len()), (2, 1));
    assert_eq!(r.show_names(), ["team", "n", "field_3"]);
    assert_eq!(r.grace, Some(2 * 86_400));
    assert_eq!(r.warn.as_ref().unwrap().to_string(), "count > 1");
    assert_eq!(r.fail.as_ref().unwrap().to_string(), "count >= 50%");
    assert!(
        matches!(&r.fix, Some(Action::Platform { target, verb, args }) if target.name == "hr" && verb.name == "notify" && args.len() == 2)
    );
    assert!(
        matches!(&rules[1].fix, Some(Action::SqlInsert { table, values, .. }) if table.name == "people_archive" && values.len() == 2)
    );
    assert!(
        matches!(&rules[2].fix, Some(Action::SqlUpdate { set, filter, .. }) if set.len() == 1 && filter.len() == 2)
    );

    // And it checks and runs: teams 1 and 2 have two people each, so none has more than 2.
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let checked = check_rule(r, src, &schemas).unwrap();
    let ev = evaluate(&store, &checked, &at()).unwrap();
    assert_eq!((ev.ranged, ev.violations.len()), (2, 0));
}

#[test]
fn an_expect_that_is_null_is_a_violation() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    // Ann has no manager: `manager_id > 0` is null for her, so she violates it.
    let ev = query(
        &store,
        "for p in hr.people expect p.manager_id > 0 show p.name",
    );
    assert_eq!(ev.ranged, 4);
    assert_eq!(rows(&ev), [json!(["Ann"])]);
    // Without `expect`, every row the body ranges over is listed.
    let ev = query(&store, "for p in hr.people where p.active show p.id");
    assert_eq!(rows(&ev), [json!([1]), json!([2]), json!([4])]);
}

#[test]
fn functions_compute_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let ev = query(
        &store,
        "for p in hr.people where p.id = 3 or p.id = 2
         show lower(p.email), upper(p.name), trim(p.email), coalesce(p.score, 0), length(p.name),
              contains(p.email, '@x'), days_between(p.joined, now()), now(), p.name || '!'",
    );
    assert_eq!(
        rows(&ev),
        [
            json!([
                "bo@x.org",
                "BO",
                "BO@X.ORG",
                2.5,
                2,
                false,
                2.0,
                "2026-11-10T12:00:00Z",
                "Bo!"
            ]),
            json!([
                " cy@x.org ",
                "CY",
                "cy@x.org",
                0,
                2,
                true,
                40.5,
                "2026-11-10T12:00:00Z",
                "Cy!"
            ]),
        ]
    );
}

#[test]
fn comparisons_like_in_and_null_tests_select_exactly_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let ids = |q: &str| -> Vec<Json> {
        rows(&query(&store, &format!("{q} show p.id")))
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    assert_eq!(
        ids("for p in hr.people where p.name in ('Ann', 'Di')"),
        [json!(1), json!(4)]
    );
    assert_eq!(
        ids("for p in hr.people where p.name not in ('Ann', 'Di')"),
        [json!(2), json!(3)]
    );
    assert_eq!(
        ids("for p in hr.people where p.email like '%x.org'"),
        [json!(1), json!(2)]
    );
    assert_eq!(
        ids("for p in hr.people where p.email not like '%x.org%'"),
        Vec::<Json>::new()
    );
    assert_eq!(ids("for p in hr.people where p.score is null"), [json!(3)]);
    assert_eq!(
        ids("for p in hr.people where p.score is not null and p.score + 1 >= 3.5"),
        [json!(2), json!(4)]
    );
    assert_eq!(ids("for p in hr.people where not p.active"), [json!(3)]);
    assert_eq!(
        ids("for p in hr.people where p.active = false or p.id - 1 = 0"),
        [json!(1), json!(3)]
    );
    assert_eq!(ids("for p in hr.people where -p.id < -3"), [json!(4)]);
    // Timestamps move by durations and compare as time.
    assert_eq!(
        ids("for p in hr.people where p.joined >= now() - 2d"),
        [json!(2), json!(4)]
    );
    assert_eq!(
        ids("for p in hr.people where (p.joined + 1d) - 3d >= now() - 4d + 1h - 1h"),
        [json!(2), json!(4)]
    );
    // Bo joined exactly two days before the run.
    assert_eq!(
        ids("for p in hr.people where p.joined > now() - 2d"),
        [json!(4)]
    );
    assert_eq!(
        ids("for p in hr.people where p.joined + 1w < now()"),
        [json!(1), json!(3)]
    );
    assert_eq!(
        ids("for p in hr.people where p.joined >= '2026-11-08'"),
        [json!(2), json!(4)]
    );
}

#[test]
fn exists_and_count_over_a_binding_see_the_outer_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    // Teams without a member; a team whose lead is not among its people.
    let ev = query(
        &store,
        "for t in hr.teams expect exists p in hr.people where p.team_id = t.id show t.name",
    );
    assert_eq!(rows(&ev), [json!(["Empty"])]);
    let ev = query(
        &store,
        "for t in hr.teams where t.lead is not null
         expect exists p in hr.people where p.team_id = t.id and lower(p.email) = lower(t.lead)
         show t.name",
    );
    assert_eq!(rows(&ev), [json!(["Blue"])]);
    let ev = query(&store, "for t in hr.teams show t.name, n = count(p in hr.people where p.team_id = t.id and p.active)");
    assert_eq!(
        rows(&ev),
        [json!(["Red", 2]), json!(["Blue", 1]), json!(["Empty", 0])]
    );
    // Parentheses end the `where` of an `exists`, so the outer expression goes on.
    let ev = query(&store, "for t in hr.teams where (exists p in hr.people where p.team_id = t.id) and t.id > 1 show t.name");
    assert_eq!(rows(&ev), [json!(["Blue"])]);
}

#[test]
fn aggregates_run_per_group_and_groups_are_what_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path(), PEOPLE);
    let ev = query(
        &store,
        "for p in hr.people group by p.team_id
         show p.team_id, n = count(*), lo = min(p.score), hi = max(p.joined), total = sum(p.score)",
    );
    assert_eq!(ev.ranged, 2);
    assert_eq!(
        rows(&ev),
        [
            json!([1, 2, 1.5, "2026-11-08T12:00:00Z", 4.0]),
            json!([2, 2, 4.0, "2026-11-10T00:00:00Z", 4.0])
        ]
    );
    // Keyless rows are real data: the duplicate badge is found.
    let ev = query(&store, "for b in hr.badges group by b.person_id, b.badge expect count(*) = 1 show b.person_id, n = count(*)");
    assert_eq!((ev.ranged, rows(&ev)), (2, vec![json!([1, 2])]));
}

#[test]
fn thresholds_set_pass_warn_and_fail_by_count_and_by_percent() {
    let rule = |body: &str| {
        parse_file(&format!("rule r {{ for p in hr.people {body} }}"))
            .0
            .remove(0)
    };
    let plain = rule("");
    assert_eq!(status(&plain, 0, 10), Status::Pass);
    assert_eq!(status(&plain, 1, 10), Status::Fail);
    let tiered = rule("warn when count > 0 fail when count > 20%");
    assert_eq!(status(&tiered, 0, 10), Status::Pass);
    assert_eq!(status(&tiered, 2, 10), Status::Warn);
    assert_eq!(status(&tiered, 3, 10), Status::Fail);
    assert_eq!(status(&tiered, 0, 0), Status::Pass);
    let warn_only = rule("warn when count >= 5");
    assert_eq!(status(&warn_only, 4, 10), Status::Pass);
    assert_eq!(status(&warn_only, 100, 100), Status::Warn);
}

#[test]
fn a_value_that_looks_like_sql_is_compared_with_and_never_run() {
    let evil = "x'); DROP TABLE entities; --";
    let dir = tempfile::tempdir().unwrap();
    let people = format!("{PEOPLE}5,\"{evil}\",e@x.org,1,true,2026-11-01T00:00:00Z,1,\n");
    let store = fixture(dir.path(), &people);
    let text = format!(
        "for p in hr.people where p.name = '{}' show p.id",
        evil.replace('\'', "''")
    );
    let ev = query(&store, &text);
    assert_eq!(rows(&ev), [json!([5])]);
    let ev = query(
        &store,
        "for p in hr.people where p.name = '''); DROP TABLE entities; --' show p.id",
    );
    assert!(ev.violations.is_empty());
    let tables: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM entities", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 3, "the store still has its entities");
    // The SQL text holds no value of the rule: they are all bound parameters.
    let rule = parse_query(&text).unwrap();
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let checked = check_rule(&rule, &text, &schemas).unwrap();
    let target = driftwatch::rules::eval::RunTarget::for_rule(&store, &checked, &at()).unwrap();
    let compiled = driftwatch::rules::sql::compile(&checked, &target);
    assert!(!compiled.sql.contains("DROP"), "{}", compiled.sql);
    assert!(compiled
        .params
        .iter()
        .any(|p| p.value == driftwatch::value::Value::Text(evil.into())));
}
