//! Collection speed against a mock Microsoft Graph that answers each page after 50 ms:
//! 200 channels (20 teams of 10) of 3 member pages each, collected with `concurrency = 8`.
//! The ideal for that concurrency is pages ÷ concurrency × latency = 600 ÷ 8 × 50 ms = 3.75 s
//! (the token and the 20 channel lists are answered at once, so they cost nothing in it).
//! Target: at most 1.25× the ideal. `cargo bench --bench graph`.

use driftwatch::collect::collect_run;
use driftwatch::config::{Config, Vars};
use driftwatch::store::Store;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEAMS: usize = 20;
const CHANNELS: usize = 10;
const PAGES: usize = 3;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    let uri = server.uri();
    let mount = |m: Mock| rt.block_on(m.mount(&server));
    mount(Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}),
        ),
    ));
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        let team = format!("team-{t:02}");
        teams.push(format!("{team:?}"));
        let channels: Vec<_> = (0..CHANNELS)
            .map(|c| json!({"id": format!("19:t{t}c{c}@thread.tacv2"), "displayName": format!("C{c}"), "membershipType": "standard"}))
            .collect();
        mount(
            Mock::given(method("GET"))
                .and(path(format!("/v1.0/teams/{team}/channels")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": channels}))),
        );
        for c in 0..CHANNELS {
            let api = format!("/v1.0/teams/{team}/channels/19%3At{t}c{c}%40thread.tacv2/members");
            for p in 0..PAGES {
                let members: Vec<_> = (0..20)
                    .map(|m| json!({"id": format!("m-{t}-{c}-{p}-{m}"), "roles": [], "displayName": "x", "userId": format!("u{m}"), "email": format!("u{m}@x.org")}))
                    .collect();
                let mut page = json!({"value": members});
                if p + 1 < PAGES {
                    page["@odata.nextLink"] = json!(format!("{uri}{api}?$skiptoken={}", p + 1));
                }
                let m = Mock::given(method("GET")).and(path(api.clone()));
                let m = if p == 0 {
                    m.and(query_param_is_missing("$skiptoken"))
                } else {
                    m.and(query_param("$skiptoken", p.to_string()))
                };
                mount(
                    m.respond_with(
                        ResponseTemplate::new(200)
                            .set_body_json(page)
                            .set_delay(LATENCY),
                    ),
                );
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(&config, format!(
        "[sources.teams]\nkind = \"graph\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = {{ env = \"DW_BENCH_SECRET\" }}\n\
         base_url = \"{uri}/v1.0\"\ntoken_url = \"{uri}/token\"\nconcurrency = {CONCURRENCY}\nteams = [{}]\nentities = [\"channel_members\"]\n",
        teams.join(", ")
    )).unwrap();
    std::env::set_var("DW_BENCH_SECRET", "s");
    let config = Config::load(&config).unwrap();
    let pages = TEAMS * CHANNELS * PAGES;
    let ideal = LATENCY * (pages / CONCURRENCY) as u32;
    let mut times = Vec::new();
    for run in 0..3 {
        let mut store = Store::open(&dir.path().join(format!("s{run}.db"))).unwrap();
        let t = Instant::now();
        let report = collect_run(&mut store, &config, &Vars::default(), &[], None, false).unwrap();
        times.push(t.elapsed());
        assert!(
            report.first_failure().is_none(),
            "{:?}",
            report.first_failure()
        );
        let rows: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM e_teams__channel_members WHERE _to IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows as usize, pages * 20);
    }
    let mut sorted = times.clone();
    sorted.sort();
    let m = sorted[sorted.len() / 2];
    println!(
        "graph: {} channels x {PAGES} pages, {LATENCY:?} a page, concurrency {CONCURRENCY}",
        TEAMS * CHANNELS
    );
    println!("  runs: {times:.2?}");
    println!(
        "  collection {m:.2?} vs ideal {ideal:.2?} (pages / concurrency x latency): {:.2}x  (target <= 1.25x)",
        m.as_secs_f64() / ideal.as_secs_f64()
    );
}
