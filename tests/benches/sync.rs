//! Sync management benchmarks, each against a baseline measured in the same run:
//! - `plan --out` for 100,000 violations (250,000 applications, a participant missing for
//!   100,000 approved ones, a `fix` inserting it into a SQL source), its file written, against
//!   one audit of the same rule at the same run.
//!   Target: at most 1.5× the audit (median of interleaved runs).
//! - `apply` of 2,000 actions (`add_group_member`, 100 into each of 20 groups) against a mock
//!   Graph that answers every request after 50 ms, with `concurrency = 8`: against the ideal
//!   of 2,000 ÷ 8 × 50 ms = 12.5 s (the 20 group re-reads cost 20 ÷ 8 × 50 ms more).
//!   Target: at most 1.25× the ideal.
//!
//! `cargo bench --bench sync`.

use driftwatch::collect::collect_run;
use driftwatch::config::Vars;
use driftwatch::fix::apply::{apply, Options};
use driftwatch::fix::plan::{plan, Action, Plan, Summary, FORMAT_VERSION};
use driftwatch::history::audit_with_history;
use driftwatch::platforms::Config;
use driftwatch::platforms::Context;
use driftwatch::rules::check::Schemas;
use driftwatch::rules::eval::At;
use driftwatch::rules::{check_files, RuleFile};
use driftwatch::store::Store;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[allow(dead_code)]
mod baseline;
use baseline::{median, write_applications};

const ROWS: usize = 250_000;
const RULE: &str = "rule approved_application_has_participant {
  for a in bench.applications
  where a.status = 'approved'
  expect exists p in bench.participants
         where p.quest_id = a.quest_id and p.user_id = a.applicant_id
  subject a.applicant_id
  show quest = a.quest_id
  fix app.insert participants(quest_id = a.quest_id, user_id = a.applicant_id, status = 'joined')
}";

fn at() -> At {
    At {
        run: 1,
        taken_at: driftwatch::time::format(86_400),
    }
}

/// One audit (`audit`) or one plan, its file written (`plan --out`); returns the number of
/// violations or actions.
fn once(dir: &Path, config: &Config, make_plan: bool) -> usize {
    let store = Store::open_existing(&dir.join("store.db")).unwrap();
    let files = vec![RuleFile::parse(Path::new("bench.rules"), RULE.to_string())];
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let loaded = check_files(&files, &schemas);
    let rules: Vec<_> = loaded.iter().collect();
    if make_plan {
        let p = plan(&store, config, &files, &rules, &at()).unwrap();
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(dir.join("plan.json")).unwrap());
        p.plan.write(&mut file).unwrap();
        std::io::Write::flush(&mut file).unwrap();
        p.plan.actions.len()
    } else {
        let report = audit_with_history(&store, Some(config), &files, &rules, &at(), None).unwrap();
        report.rules[0].violations.len()
    }
}

fn plan_against_audit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Applications approved unless i % 5 == 0; the participant of i % 2 == 1 is missing:
    // 100,000 approved applications without one.
    write_applications(d, ROWS, 10_007, |i| i % 2 == 1);
    std::fs::write(
        d.join("driftwatch.toml"),
        "[sources.bench]\nkind = \"csv\"\n\
         [sources.bench.entities.applications]\npath = \"applications.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", applicant_id = \"integer\" }\n\
         [sources.bench.entities.participants]\npath = \"participants.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", user_id = \"integer\" }\n\
         [sources.app]\nkind = \"sqlite\"\npath = \"app.db\"\n[sources.app.entities.participants]\nquery = \"SELECT id, quest_id, user_id, status FROM participants\"\nkey = [\"id\"]\n[sources.app.write]\n",
    )
    .unwrap();
    // The database the fixes would write to (the plan only names it).
    rusqlite::Connection::open(d.join("app.db"))
        .unwrap()
        .execute_batch("CREATE TABLE participants (id INTEGER PRIMARY KEY, quest_id INTEGER, user_id INTEGER, status TEXT)")
        .unwrap();
    let config = Config::load(&d.join("driftwatch.toml")).unwrap();
    let mut store = Store::open(&d.join("store.db")).unwrap();
    let report = collect_run(
        &mut store,
        &config,
        &Vars::default(),
        &[],
        Some(86_400),
        false,
    )
    .unwrap();
    assert!(report.first_failure().is_none());
    drop(store);
    // The indexes and the history of the run, made once.
    assert_eq!(once(d, &config, false), 100_000);
    assert_eq!(once(d, &config, true), 100_000);
    let (mut a, mut p) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        once(d, &config, false);
        a.push(t.elapsed());
        let t = Instant::now();
        once(d, &config, true);
        p.push(t.elapsed());
    }
    let (ma, mp) = (median(a), median(p));
    println!(
        "plan of 100,000 violations: {:.2}x one audit of the rule ({mp:.2?} against {ma:.2?}, median of 5 interleaved runs; target <= 1.5x)",
        mp.as_secs_f64() / ma.as_secs_f64()
    );
}

const ACTIONS: usize = 2_000;
const GROUPS: usize = 20;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 8;

fn apply_against_ideal() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    let uri = server.uri();
    let mount = |m: Mock| rt.block_on(m.mount(&server));
    // The token at once; every group's member list (empty) and every add after 50 ms.
    mount(
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex("/oauth2/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}),
            )),
    );
    mount(
        Mock::given(method("GET")).respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": []}))
                .set_delay(LATENCY),
        ),
    );
    mount(
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex("/members/\\$ref$"))
            .respond_with(ResponseTemplate::new(204).set_delay(LATENCY)),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("driftwatch.toml"),
        format!(
            "[sources.entra]\nkind = \"graph\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = {{ env = \"DW_BENCH_SECRET\" }}\n\
             base_url = \"{uri}/v1.0\"\ntoken_url = \"{uri}/{{tenant}}/oauth2/v2.0/token\"\nentities = [\"users\"]\nconcurrency = {CONCURRENCY}\n\
             [sources.entra.write]\nclient_id = \"w\"\nclient_secret = {{ env = \"DW_BENCH_SECRET\" }}\n"
        ),
    )
    .unwrap();
    std::env::set_var("DW_BENCH_SECRET", "bench-secret");
    let config = Config::load(&d.join("driftwatch.toml")).unwrap();
    let store = Store::open(&d.join("store.db")).unwrap();
    let actions: Vec<Action> = (0..ACTIONS)
        .map(|i| Action {
            id: i as u32 + 1,
            op: "add".into(),
            platform: "entra".into(),
            verb: "add_group_member".into(),
            params: serde_json::from_value(
                json!({"group": format!("group-{}", i % GROUPS), "user": format!("user-{i}")}),
            )
            .unwrap(),
            before: None,
            after: None,
            reason: None,
            rule: "bench".into(),
            key: vec![json!(i)],
            subject: None,
            also: Vec::new(),
        })
        .collect();
    let plan = Plan {
        format_version: FORMAT_VERSION,
        plan_id: "bench".into(),
        created_at: driftwatch::time::format(0),
        store_id: store.id().unwrap(),
        run: 0,
        snapshots: Default::default(),
        rules: Default::default(),
        actions,
        summary: Summary::default(),
    };
    let vars = Vars::default();
    let cx = Context {
        origin: &config.origin,
        vars: &vars,
    };
    let opts = Options {
        dry_run: false,
        yes: false,
        actor: "bench",
    };
    let t = Instant::now();
    let report = apply(&store, &config, &cx, &[], &plan, &opts).unwrap();
    let took = t.elapsed();
    let done = report
        .actions
        .iter()
        .filter(|a| a.outcome.as_str() == "done")
        .count();
    assert_eq!(done, ACTIONS);
    let ideal = LATENCY * (ACTIONS / CONCURRENCY) as u32;
    println!(
        "apply of {ACTIONS} actions, {CONCURRENCY} at a time, 50 ms each: {:.3}x the ideal ({took:.2?} against {ideal:.2?}; target <= 1.25x)",
        took.as_secs_f64() / ideal.as_secs_f64()
    );
}

fn main() {
    plan_against_audit();
    apply_against_ideal();
}
