//! The LMS samples of day 7 served by mock Graph and WordPress servers, in the real APIs'
//! shapes: collected by the `graph` and `wordpress` collectors, the shipped rules find exactly
//! what they find in the JSON exports of the same day. (Rules written against the samples run
//! unchanged against live sources.)

use crate::common::{files, ok, repo, run, write};
use crate::mocks::{run_with_secrets, wp_page, Server};
use serde_json::{json, Value as Json};
use std::path::Path;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

fn read(p: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn encode(s: &str) -> String {
    s.replace(':', "%3A").replace('@', "%40")
}

/// Serves a chain of Graph pages at `api_path` (the path the collector asks for first):
/// page 1 without `$skiptoken`, the others by the skiptoken of the page before, each nextLink
/// pointing back at this server.
fn serve_pages(s: &Server, api_path: &str, pages: &[std::path::PathBuf]) {
    let mut token: Option<String> = None;
    for p in pages {
        let mut doc = read(p);
        let next = doc["@odata.nextLink"]
            .as_str()
            .map(|n| n.split("$skiptoken=").nth(1).unwrap().to_string());
        if let Some(t) = &next {
            doc["@odata.nextLink"] = json!(format!("{}{api_path}?$skiptoken={t}", s.uri()));
        }
        let m = Mock::given(method("GET")).and(path(api_path.to_string()));
        let m = match &token {
            None => m.and(query_param_is_missing("$skiptoken")),
            Some(t) => m.and(query_param("$skiptoken", t.clone())),
        };
        s.mount(m.respond_with(ResponseTemplate::new(200).set_body_json(doc)));
        token = next;
    }
}

fn serve_graph(s: &Server, day: &Path) {
    s.graph_token("t1");
    serve_pages(s, "/v1.0/users", &files(day, "entra_users-page-"));
    let mut teams = Vec::new();
    for f in files(day, "teams_channels-") {
        let doc = read(&f);
        let team = doc["teamId"].as_str().unwrap().to_string();
        teams.push(json!({"id": team, "displayName": team}));
        s.mount(
            Mock::given(method("GET"))
                .and(path(format!("/v1.0/teams/{team}/channels")))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"value": doc["value"]})),
                ),
        );
        let code = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("teams_channels-")
            .trim_end_matches(".json")
            .to_string();
        for c in doc["value"].as_array().unwrap() {
            let channel = c["id"].as_str().unwrap();
            let api = format!("/v1.0/teams/{team}/channels/{}/members", encode(channel));
            serve_pages(
                s,
                &api,
                &files(day, &format!("teams_channel_members-{code}-page-")),
            );
        }
    }
    s.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/teams"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": teams}))),
    );
}

fn serve_wordpress(s: &Server, day: &Path) {
    let pages = files(day, "wp_users-page-");
    let all: Vec<Json> = pages
        .iter()
        .flat_map(|p| read(p).as_array().unwrap().clone())
        .collect();
    for (k, p) in pages.iter().enumerate() {
        s.mount(
            Mock::given(method("GET"))
                .and(path("/wp-json/wp/v2/users"))
                .and(query_param("page", (k + 1).to_string()))
                .respond_with(wp_page(read(p).as_array().unwrap(), all.len(), pages.len())),
        );
    }
    for (api, file) in [
        ("/wp-json/ldlms/v2/sfwd-courses", "learndash_courses.json"),
        ("/wp-json/ldlms/v2/groups", "learndash_groups.json"),
    ] {
        let items = read(&day.join(file));
        let items = items.as_array().unwrap();
        s.mount(
            Mock::given(method("GET"))
                .and(path(api))
                .respond_with(wp_page(items, items.len(), 1)),
        );
    }
    for f in files(day, "learndash_course_users-") {
        let doc = read(&f);
        let users = doc["users"].as_array().unwrap();
        s.mount(
            Mock::given(method("GET"))
                .and(path(format!(
                    "/wp-json/ldlms/v2/sfwd-courses/{}/users",
                    doc["course_id"]
                )))
                .respond_with(wp_page(users, users.len(), users.len().div_ceil(100))),
        );
    }
}

/// The sample config with Entra, Teams and WordPress read live from `graph` and `wp`.
fn live_config(graph: &Server, wp: &Server) -> String {
    let lms = repo().join("samples/lms");
    let sample = std::fs::read_to_string(lms.join("driftwatch.toml")).unwrap();
    let kept: Vec<&str> = sample
        .split("\n[sources.")
        .skip(1)
        .filter(|s| s.starts_with("ssot") || s.starts_with("q2a"))
        .collect();
    let mut config = format!(
        "rules = [{:?}]\n",
        repo().join("queries/lms.rules").to_str().unwrap()
    );
    for s in kept {
        config.push_str(&format!(
            "\n[sources.{}",
            s.replace("day-${day}/", &format!("{}/day-${{day}}/", lms.display()))
        ));
    }
    config.push('\n');
    config.push_str(&graph.graph_config("entra", &["users"], ""));
    config.push_str(&graph.graph_config(
        "teams",
        &["channels", "channel_members"],
        "concurrency = 6",
    ));
    config.push_str(
        &wp.wordpress_config("wordpress", &["users", "courses", "groups", "course_users"]),
    );
    config
}

#[test]
fn the_lms_rules_find_the_same_on_the_live_collectors_as_on_the_json_exports() {
    let day = repo().join("samples/lms/day-7");
    let (graph, wp) = (Server::start(), Server::start());
    serve_graph(&graph, &day);
    serve_wordpress(&wp, &day);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "live.toml", &live_config(&graph, &wp));
    // Before anything is collected, the rules check against the columns the kinds declare.
    let r = crate::common::finish(
        crate::common::driftwatch(d)
            .args(["--config", "live.toml", "--store", "none.db", "check"])
            .env("day", "7")
            // check asks for what collect will need, secrets included.
            .env("DW_TEST_GRAPH_SECRET", crate::mocks::GRAPH_SECRET)
            .env("DW_TEST_WP_PASSWORD", crate::mocks::WP_PASSWORD)
            .output()
            .unwrap(),
    );
    assert!(
        r.code == 0
            && r.stdout.contains(
                "12 rules in 1 file, 22 counts and 13 rule tests, checked against the entities declared"
            ),
        "{}{}",
        r.stdout,
        r.stderr
    );
    write(
        d,
        "typo.rules",
        "rule r {\n  for u in entra.users\n  where u.mial = 'x'\n}\n",
    );
    let r = run_with_secrets(
        d,
        &[
            "--config",
            "live.toml",
            "--store",
            "none.db",
            "check",
            "--var",
            "day=7",
            "typo.rules",
        ],
    );
    assert!(
        r.code == 2 && r.stderr.contains("unknown field `mial` on entra.users"),
        "{}",
        r.stderr
    );
    let at = "2026-11-07T06:00:00Z";
    let r = run_with_secrets(
        d,
        &[
            "--config",
            "live.toml",
            "--store",
            "live.db",
            "collect",
            "--var",
            "day=7",
            "--at",
            at,
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let sample = repo().join("samples/lms/driftwatch.toml");
    let sample = sample.to_str().unwrap();
    ok(
        d,
        &[
            "--config", sample, "--store", "json.db", "collect", "--var", "day=7", "--at", at,
        ],
    );
    for e in [
        "entra.users",
        "teams.channels",
        "teams.channel_members",
        "wordpress.users",
        "wordpress.courses",
        "wordpress.course_users",
    ] {
        let live = ok(
            d,
            &["--config", "live.toml", "--store", "live.db", "export", e],
        );
        assert_eq!(
            live,
            ok(d, &["--config", sample, "--store", "json.db", "export", e]),
            "{e}"
        );
        assert!(live.lines().count() > 10, "{e}");
    }
    let audit = |args: &[&str]| -> Json {
        let r = run(d, args);
        assert_eq!(r.code, 1, "{}", r.stderr);
        serde_json::from_str::<Json>(&r.stdout).unwrap()["rules"].clone()
    };
    let live = audit(&[
        "--config",
        "live.toml",
        "--store",
        "live.db",
        "audit",
        "--format",
        "json",
    ]);
    let json = audit(&[
        "--config", sample, "--store", "json.db", "audit", "--format", "json",
    ]);
    assert_eq!(live, json);
    let total: u64 = live
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["violations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 17);
}
