//! `driftwatch watch`: cycles on an interval, `/healthz` and `/metrics` (equal to `audit`),
//! a clean SIGTERM, and a kill during a collection leaving the store as it was.

use crate::common::write;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn lms_config(d: &Path) {
    let config = crate::common::lms_config();
    write(d, "driftwatch.toml", &config);
}

/// Starts `watch` in `d` and returns it with the address it listens on.
fn start(d: &Path, args: &[&str]) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .current_dir(d)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr, err)
}

/// GET `path` from `addr`: (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

fn wait_for(addr: &str, path: &str, code: u16) -> String {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (c, body) = get(addr, path);
        if c == code {
            return body;
        }
        assert!(
            Instant::now() < until,
            "{path} never answered {code}: {c} {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
}

#[test]
fn watch_serves_healthz_and_metrics_that_equal_audit_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lms_config(d);
    let (mut child, addr, mut err) = start(
        d,
        &[
            "watch",
            "--every",
            "1h",
            "--var",
            "day=7",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    // Before the first cycle ends, or once it has: 503 then 200.
    let _ = get(&addr, "/healthz");
    assert_eq!(wait_for(&addr, "/healthz", 200), "ok\n");
    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    let audit: Json =
        serde_json::from_str(&crate::common::run(d, &["audit", "--format", "json"]).stdout)
            .unwrap();
    for r in audit["rules"].as_array().unwrap() {
        let counted = r["violations"].as_u64().unwrap()
            - r["pending"].as_u64().unwrap()
            - r["suppressed"].as_u64().unwrap();
        let line = format!(
            "driftwatch_rule_violations{{rule=\"{}\",severity=\"{}\"}} {counted}",
            r["rule"].as_str().unwrap(),
            r["severity"].as_str().unwrap()
        );
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    for source in ["ssot", "entra", "teams", "wordpress", "q2a"] {
        assert!(
            metrics.contains(&format!(
                "driftwatch_source_last_success_timestamp_seconds{{source=\"{source}\"}}"
            )),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "driftwatch_collect_duration_seconds{{source=\"{source}\"}}"
            )),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "driftwatch_collect_success{{source=\"{source}\"}} 1"
            )),
            "{metrics}"
        );
    }
    assert!(metrics.contains("# TYPE driftwatch_rule_violations gauge"));
    let (code, html) = get(&addr, "/");
    assert!(
        code == 200 && html.contains("id=\"total-issues\""),
        "{code}"
    );
    assert_eq!(get(&addr, "/nope").0, 404);
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(
        status.success() && rest.contains("stopped by a signal after 1 cycle"),
        "{status:?} {rest}"
    );
}

#[test]
fn a_failed_cycle_makes_healthz_answer_503() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\n");
    write(d, "people.csv", "id,name\n1,a\n2,b\n");
    let (mut child, addr, _err) = start(d, &["watch", "--every", "1s", "--listen", "127.0.0.1:0"]);
    wait_for(&addr, "/healthz", 200);
    // The export goes bad: the next cycle's collection fails, and the watch says so.
    write(d, "people.csv", "id,name\n1,a\n1,b\n");
    let body = wait_for(&addr, "/healthz", 503);
    assert!(
        body.contains("failed") || body.contains("overdue"),
        "{body}"
    );
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn killing_watch_during_a_collection_leaves_the_store_as_it_was() {
    let server = crate::mocks::Server::start();
    server.graph_token("t1");
    // Graph answers the users list after 30 s: the collection is under way when it is killed.
    server.mount(
        wiremock::Mock::given(wiremock::matchers::method("GET")).respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"value": []}))
                .set_delay(Duration::from_secs(30)),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", &format!("[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\n{}", server.graph_config("entra", &["users"], "")));
    write(d, "people.csv", "id,name\n1,a\n");
    let r = crate::mocks::run_with_secrets(d, &["collect", "--source", "hr"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .current_dir(d)
        .args(["watch", "--every", "1h"])
        .env("DW_TEST_GRAPH_SECRET", crate::mocks::GRAPH_SECRET)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while server
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /v1.0/users"))
        .count()
        == 0
    {
        assert!(Instant::now() < until, "the collection never reached Graph");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let snapshots = crate::common::ok(d, &["snapshots", "--format", "json"]);
    let runs: Json = serde_json::from_str(&snapshots).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{snapshots}");
    let r = crate::mocks::run_with_secrets(d, &["collect", "--source", "hr"]);
    assert_eq!(
        r.code, 0,
        "the store takes the next collection: {}",
        r.stderr
    );
}

/// POSTs `body` to `path` on `addr`: (status code, content type, body).
fn post(addr: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    (
        code,
        ctype,
        text.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn a_graph_change_notification_recollects_only_its_source_and_a_lifecycle_one_renews_the_subscription(
) {
    let server = crate::mocks::Server::start();
    server.graph_token("t1");
    server.mount(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/v1.0/subscriptions"))
            .respond_with(
                wiremock::ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "id": "sub-1", "resource": "users", "expirationDateTime": "2099-01-01T00:00:00Z"})),
            ),
    );
    server.mount(
        wiremock::Mock::given(wiremock::matchers::method("PATCH"))
            .and(wiremock::matchers::path("/v1.0/subscriptions/sub-1"))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": "sub-1", "expirationDateTime": "2099-01-02T00:00:00Z"})),
            ),
    );
    server.mount(
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path("/v1.0/users"))
            .respond_with(server.graph_page(&[serde_json::json!({"id": "u1", "mail": "a@x.org", "accountEnabled": true, "userType": "Member"})], None)),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        &format!(
            "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\n{}\
             [sources.entra.notifications]\nurl = \"https://driftwatch.example.org/graph/notifications\"\nclient_state = {{ env = \"DW_TEST_CLIENT_STATE\" }}\n",
            server.graph_config("entra", &["users"], "")
        ),
    );
    write(d, "people.csv", "id,name\n1,a\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .current_dir(d)
        .args(["watch", "--every", "1h", "--listen", "127.0.0.1:0"])
        .env("DW_TEST_GRAPH_SECRET", crate::mocks::GRAPH_SECRET)
        .env("DW_TEST_CLIENT_STATE", "s3cret-state")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut addr = String::new();
    for _ in 0..5 {
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        if let Some(a) = line.split("http://").nth(1) {
            addr = a.split_whitespace().next().unwrap().to_string();
            break;
        }
        assert!(
            line.contains("subscribed to users changes of entra"),
            "{line}"
        );
    }
    wait_for(&addr, "/healthz", 200);
    let subscribe = server
        .rt
        .block_on(server.server.received_requests())
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/v1.0/subscriptions")
        .expect("watch subscribed");
    let body: Json = serde_json::from_slice(&subscribe.body).unwrap();
    assert_eq!(
        body["notificationUrl"],
        "https://driftwatch.example.org/graph/notifications"
    );
    assert_eq!(body["resource"], "users");
    // Graph's handshake: the token back as text.
    let (code, ctype, echoed) = post(
        &addr,
        "/graph/notifications?validationToken=Validation%3A%20Testing%20client%20application",
        "",
    );
    assert_eq!(
        (code, echoed.as_str()),
        (200, "Validation: Testing client application")
    );
    assert!(ctype.starts_with("text/plain"));
    // A forged notification is refused; a real one is accepted and collects entra alone.
    let change = |state: &str| {
        format!("{{\"value\":[{{\"subscriptionId\":\"sub-1\",\"clientState\":\"{state}\",\"changeType\":\"updated\",\"resource\":\"Users/u1\",\"tenantId\":\"t\"}}]}}")
    };
    assert_eq!(
        post(&addr, "/graph/notifications", &change("forged")).0,
        403
    );
    assert_eq!(
        post(&addr, "/graph/notifications", &change("s3cret-state")).0,
        202
    );
    let until = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let runs: Json =
            serde_json::from_str(&crate::common::ok(d, &["snapshots", "--format", "json"]))
                .unwrap();
        if runs.as_array().unwrap().len() >= 2 {
            break runs;
        }
        assert!(
            Instant::now() < until,
            "no collection after the notification"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let second: Vec<&str> = runs[1]["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(second, ["entra"], "{runs:#}");
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
}
