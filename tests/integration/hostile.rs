//! Hostile input: what an attacker controls (a service's answers, data values) or a careless
//! user gets wrong (a URL with a password, a store path that is another database) must not leak
//! a secret, lose data quietly, or change what it was not asked to change.

use crate::common::{ok, run, write};
use crate::mocks::{assert_no_secret, run_with_secrets, Server, TENANT};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn graph_dir(s: &Server) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.graph_config("entra", &["users"], ""),
    );
    dir
}

fn one_user() -> serde_json::Value {
    json!({"id": "u1", "userPrincipalName": "u1@contoso.org", "mail": "u1@contoso.org",
           "displayName": "U 1", "accountEnabled": true, "userType": "Member",
           "externalUserState": null, "createdDateTime": null})
}

#[test]
fn a_client_secret_never_follows_a_token_redirect_to_another_host() {
    let (a, other) = (Server::start(), Server::start());
    other.graph_token("stolen");
    a.mount(
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(307).insert_header(
                "Location",
                format!("{}/{TENANT}/oauth2/v2.0/token", other.uri()).as_str(),
            )),
    );
    let dir = graph_dir(&a);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("307 Temporary Redirect")
            && r.stderr.contains("a token request is never redirected"),
        "{}",
        r.stderr
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    assert_no_secret(dir.path(), &[&r.stdout, &r.stderr]);
}

#[test]
fn a_data_page_redirected_to_another_host_fails_the_source_instead_of_recording_a_snapshot() {
    let (a, other) = (Server::start(), Server::start());
    a.graph_token("t1");
    other.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .respond_with(other.graph_page(&[], None)),
    );
    a.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("Location", format!("{}/v1.0/users", other.uri()).as_str()),
            ),
    );
    let dir = graph_dir(&a);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("302 Found") && r.stderr.contains("is not followed with credentials"),
        "{}",
        r.stderr
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    assert!(ok(dir.path(), &["snapshots"]).contains("failed"));
}

#[test]
fn a_redirect_within_the_same_origin_is_followed() {
    let a = Server::start();
    a.graph_token("t1");
    a.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", "/v1.0/moved")),
    );
    a.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/moved"))
            .respond_with(a.graph_page(&[one_user()], None)),
    );
    let dir = graph_dir(&a);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(ok(dir.path(), &["export", "entra.users"]).contains("u1@contoso.org"));
}

#[test]
fn a_password_inside_an_http_url_is_refused_without_being_shown() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        "[sources.wp]\nkind = \"wordpress\"\nurl = \"https://admin:Pw-in-url-77@lms.example.org\"\n\
         username = \"admin\"\npassword = { env = \"DW_TEST_WP_PASSWORD\" }\nentities = [\"users\"]\n",
    );
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sources.wp.url: the URL holds a password"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Pw-in-url-77"), "{}", r.stderr);
    // Refused before anything is recorded: not even a store is made.
    assert!(!dir.path().join("driftwatch.db").exists());
}

#[test]
fn a_secret_missing_from_the_environment_records_no_run() {
    let s = Server::start();
    let dir = graph_dir(&s);
    let r = run(dir.path(), &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("environment variable DW_TEST_GRAPH_SECRET is not set"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("driftwatch.db").exists());
    assert!(s.requests().is_empty());
}

#[test]
fn a_config_without_sources_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "driftwatch.toml", "rules = []\n");
    let r = run(dir.path(), &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no sources to collect"), "{}", r.stderr);
    assert!(!dir.path().join("driftwatch.db").exists());
}

#[test]
fn a_service_that_echoes_the_credentials_in_its_error_never_gets_them_shown_or_stored() {
    use crate::mocks::WP_PASSWORD;
    use base64::Engine;
    let s = Server::start();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("driftwatch:{WP_PASSWORD}"));
    s.mount(
        Mock::given(method("GET"))
            .and(path("/wp-json/wp/v2/users"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "code": "rest_invalid_request",
                "message": format!("Bad request: Authorization: Basic {basic} (password {WP_PASSWORD})")
            }))),
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.wordpress_config("wp", &["users"]),
    );
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("rest_invalid_request: Bad request: Authorization: Basic *** (password ***)"),
        "{}",
        r.stderr
    );
    let snapshots = ok(dir.path(), &["snapshots", "--format", "json"]);
    assert!(snapshots.contains("Basic ***"), "{snapshots}");
    assert_no_secret(dir.path(), &[&r.stdout, &r.stderr, &snapshots]);
    for text in [&r.stderr, &snapshots] {
        assert!(!text.contains(&basic), "{text}");
    }
    let store = std::fs::read(dir.path().join("driftwatch.db")).unwrap();
    assert!(!store.windows(basic.len()).any(|w| w == basic.as_bytes()));
}

/// The PeerQuest sample config with a store of its own in a temporary folder.
struct PeerQuest {
    dir: tempfile::TempDir,
    base: Vec<String>,
}

impl PeerQuest {
    fn new() -> PeerQuest {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::common::repo().join("samples/peerquest/driftwatch.toml");
        let base = vec![
            "--config".into(),
            config.display().to_string(),
            "--store".into(),
            dir.path().join("s.db").display().to_string(),
        ];
        PeerQuest { dir, base }
    }

    /// driftwatch with the config and store, then `args`.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = crate::common::driftwatch(self.dir.path());
        c.args(&self.base).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> crate::common::Run {
        crate::common::finish(self.command(args).output().unwrap())
    }
}

#[test]
fn a_reader_that_goes_away_neither_fails_audit_nor_hides_a_failing_rule() {
    use std::process::Stdio;
    let pq = PeerQuest::new();
    assert_eq!(pq.run(&["collect"]).code, 0);
    for format in ["csv", "json", "table"] {
        let mut child = pq
            .command(&["audit", "--detailed", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before anything is written
        let r = crate::common::finish(child.wait_with_output().unwrap());
        assert_eq!(r.code, 1, "{format}: {}", r.stderr);
        assert!(!r.stderr.contains("Broken pipe"), "{format}: {}", r.stderr);
    }
}

#[test]
fn a_sqlite_file_that_is_not_a_driftwatch_store_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let prod = dir.path().join("production.db");
    {
        let c = rusqlite::Connection::open(&prod).unwrap();
        c.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'Ann');")
            .unwrap();
    }
    let before = std::fs::read(&prod).unwrap();
    for args in [
        vec!["snapshots"],
        vec!["diff", "--from", "1", "--data"],
        vec!["export", "x.y"],
    ] {
        let mut all = vec!["--store", prod.to_str().unwrap()];
        all.extend(args);
        let r = run(dir.path(), &all);
        assert_eq!(r.code, 2, "{all:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("not a driftwatch store (it has table customers)"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read(&prod).unwrap(),
        before,
        "the database was changed"
    );
    assert!(!dir.path().join("production.db-wal").exists());
    // A store driftwatch made is marked, and opens.
    write(dir.path(), "p.csv", "id\n1\n");
    write(
        dir.path(),
        "driftwatch.toml",
        "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.p]\npath = \"p.csv\"\n",
    );
    ok(dir.path(), &["collect"]);
    let c = rusqlite::Connection::open(dir.path().join("driftwatch.db")).unwrap();
    let id: i64 = c
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(id, 0x4452_4654);
    ok(dir.path(), &["snapshots"]);
}

#[test]
fn a_paged_json_export_whose_first_page_is_missing_fails_instead_of_removing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.t]\nkind = \"json\"\n[sources.t.entities.m]\npath = \"m-page-*.json\"\nrecords = \"value\"\nkey = [\"id\"]\n",
    );
    write(d, "m-page-1.json", r#"{"value": [{"id": "a"}]}"#);
    write(d, "m-page-2.json", r#"{"value": [{"id": "b"}]}"#);
    ok(d, &["collect", "--at", "2026-11-01"]);
    std::fs::remove_file(d.join("m-page-1.json")).unwrap();
    let r = run(d, &["collect", "--at", "2026-11-02"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("m-page-2.json: the export is incomplete: it starts at page 2"),
        "{}",
        r.stderr
    );
    assert_eq!(ok(d, &["export", "t.m"]), "id\na\nb\n");
}

#[test]
fn an_unterminated_quote_in_a_csv_fails_with_its_line_instead_of_swallowing_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\n",
    );
    let rows: String = (1..=20).map(|i| format!("{i},person {i}\n")).collect();
    write(d, "people.csv", &format!("id,name\n{rows}"));
    ok(d, &["collect", "--at", "2026-11-01"]);
    // Row 5's name opens a quote that never closes: the csv reader would take the other 15
    // rows for the rest of that field.
    let broken = rows.replacen("5,person 5", "5,\"person 5", 1);
    write(d, "people.csv", &format!("id,name\n{broken}"));
    let r = run(d, &["collect", "--at", "2026-11-02"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("people.csv:6: record 5: a quoted field is never closed"),
        "{}",
        r.stderr
    );
    let export = ok(d, &["export", "hr.people"]);
    assert_eq!(export.lines().count(), 21, "{export}");
    // A quoted field that spans lines and closes, with doubled quotes inside, is fine.
    let fine = rows.replacen("20,person 20", "20,\"person \"\"20\"\"\nsecond line\"", 1);
    write(d, "people.csv", &format!("id,name\n{fine}"));
    ok(d, &["collect", "--at", "2026-11-03"]);
    assert!(ok(d, &["export", "hr.people"]).contains("\"person \"\"20\"\"\nsecond line\""));
}

/// A rule file of deep and long expressions between two ordinary rules.
fn deep_rules() -> String {
    let mut r = String::new();
    let rule = |r: &mut String, name: &str, expect: String| {
        r.push_str(&format!(
            "rule {name} {{\n  for p in hr.people\n  expect {expect}\n}}\n"
        ));
    };
    rule(&mut r, "fine_first", "p.id > 0".into());
    rule(
        &mut r,
        "parens",
        format!("{}p.id = 1{}", "(".repeat(2000), ")".repeat(2000)),
    );
    rule(&mut r, "nots", format!("{}p.id = 1", "not ".repeat(5000)));
    rule(&mut r, "negs", format!("{}p.id < 0", "- ".repeat(10_000)));
    // 50,000 comparisons of fields (no values to bind), then 40,000 values to bind.
    rule(&mut r, "long_or", vec!["p.id = p.id"; 50_000].join(" or "));
    let values: Vec<String> = (1..=40_000).map(|i| format!("p.id = {i}")).collect();
    rule(&mut r, "many_values", values.join(" or "));
    rule(
        &mut r,
        "long_sum",
        format!("p.id{} > 0", " + 1".repeat(300)),
    );
    rule(&mut r, "fine_last", "p.name is not null".into());
    r
}

#[test]
fn deep_nesting_and_long_chains_are_refused_with_a_position_and_the_other_rules_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"p.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n",
    );
    write(d, "p.csv", "id,name\n1,Ann\n2,Bob\n");
    write(d, "r.rules", &deep_rules());
    // Rule k (from 1) starts on line 4k - 3; its expect is on line 4k - 1.
    let r = run(d, &["check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for (line, message) in [
        (7, "expressions nest more than 32 levels deep here"),
        (11, "expressions nest more than 32 levels deep here"),
        (15, "expressions nest more than 32 levels deep here"),
        (
            21,
            "rule `many_values` writes 40000 values; SQLite takes at most 30000",
        ),
        (27, "more than 100 terms of `+`, `-` or `||` in a row"),
    ] {
        assert!(
            r.stderr.contains(&format!("r.rules:{line}:")) && r.stderr.contains(message),
            "line {line}: {message}\n{}",
            &r.stderr[..r.stderr.len().min(3000)]
        );
    }
    assert!(!r.stderr.contains("r.rules:19:"), "the long `or` parses");
    ok(d, &["collect"]);
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(r.code, 2, "{}", &r.stderr[..r.stderr.len().min(3000)]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fine_first", "long_or", "many_values", "fine_last"]);
    for rule in report["rules"].as_array().unwrap() {
        let want = if rule["rule"] == "many_values" {
            "error"
        } else {
            "pass"
        };
        assert_eq!(rule["status"], want, "{}", rule["rule"]);
    }
}

#[test]
fn a_run_at_the_time_of_the_latest_is_refused_and_one_far_ahead_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.p]\npath = \"p.csv\"\n",
    );
    write(d, "p.csv", "id\n1\n");
    ok(d, &["collect", "--at", "2026-11-01T06:00:00Z"]);
    let r = run(d, &["collect", "--at", "2026-11-01T08:00:00+02:00"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("run 1 is at 2026-11-01T06:00:00Z already"),
        "{}",
        r.stderr
    );
    let r = run(d, &["collect", "--at", "2026-11-02T06:00:00+23:60"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(d, &["collect", "--at", "2099-01-01T00:00:00Z"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: run 2 is at 2099-01-01T00:00:00Z,")
            && r.stderr.contains("ahead of now"),
        "{}",
        r.stderr
    );
    assert_eq!(
        ok(d, &["snapshots", "--format", "json"])
            .matches("\"run\"")
            .count(),
        2
    );
}

#[test]
fn an_audit_for_a_subject_that_matches_nothing_says_so() {
    let pq = PeerQuest::new();
    assert_eq!(pq.run(&["collect"]).code, 0);
    let audit = |user: &str| pq.run(&["audit", "--user", user]);
    let r = audit("studnet2");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no violation of any rule is about subject `studnet2`"),
        "{}",
        r.stderr
    );
    let r = audit("STUDENT2");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("no violation"), "{}", r.stderr);
}

#[test]
fn store_names_for_a_row_id_are_refused_as_input_with_the_columns_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.t]\nkind = \"csv\"\n[sources.t.entities.p]\npath = \"p.csv\"\n",
    );
    for name in ["rowid", "OID", "_rowid_"] {
        write(d, "p.csv", &format!("{name},n\n1,a\n"));
        let r = run(d, &["collect"]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("`{name}` is reserved")) && r.stderr.contains("`columns`"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn an_empty_json_export_without_columns_collects_as_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.t]\nkind = \"json\"\n[sources.t.entities.m]\npath = \"m.json\"\nkey = [\"id\"]\n",
    );
    write(d, "m.json", "[]");
    ok(d, &["collect", "--at", "2026-11-01"]);
    write(d, "m.json", r#"[{"id": 1, "n": "a"}]"#);
    ok(d, &["collect", "--at", "2026-11-02"]);
    write(d, "m.json", "[]");
    ok(d, &["collect", "--at", "2026-11-03"]);
    assert_eq!(ok(d, &["export", "t.m"]), "id,n\n");
    assert_eq!(ok(d, &["export", "t.m", "--at", "2"]), "id,n\n1,a\n");
}

#[test]
fn an_audit_while_the_store_is_being_written_waits_and_records_its_history() {
    let pq = PeerQuest::new();
    pq.run(&["collect", "--at", "2026-11-01"]);
    pq.run(&["audit"]); // the rules' indexes are made; run 1 is in their history
    pq.run(&["collect", "--at", "2026-11-02"]);
    // Another process holds the write lock and writes, as a running collection does.
    let holder = rusqlite::Connection::open(pq.dir.path().join("s.db")).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE scratch (x)")
        .unwrap();
    let child = pq
        .command(&["audit"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    holder.execute_batch("COMMIT").unwrap();
    let r = crate::common::finish(child.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("could not be recorded"), "{}", r.stderr);
    let evaluated: i64 = holder
        .query_row("SELECT count(*) FROM evaluations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        evaluated, 10,
        "every rule's evaluation at both runs is in the history"
    );
}

#[test]
fn commands_that_write_text_only_refuse_another_format_instead_of_ignoring_it() {
    let dir = tempfile::tempdir().unwrap();
    for (args, command) in [
        (vec!["check", "--format", "json"], "check"),
        (vec!["explain", "r", "--format", "csv"], "explain"),
        (vec!["demo", "--format", "json"], "demo"),
    ] {
        let r = run(dir.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("`{command}` writes text only; --format")),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

#[test]
fn a_csv_columns_mapping_renames_its_headers_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\n\
         columns = { first_name = \"First Name\" }\ntypes = { id = \"integer\", score = \"real\" }\n",
    );
    write(d, "people.csv", "id,First Name,score\n1,Ann,1.5\n");
    ok(d, &["collect"]);
    assert_eq!(
        ok(d, &["export", "hr.people"]),
        "id,first_name,score\n1,Ann,1.5\n"
    );
    // Before anything is collected, check knows the same columns.
    let rules = write(
        d,
        "r.rules",
        "rule r { for p in hr.people expect p.first_name != '' and p.score > 0 }\n",
    );
    let r = run(d, &["--store", "none.db", "check", rules.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_rule_key_that_is_not_unique_is_refused_the_same_way_by_audit_trend_and_delay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"p.csv\"\nkey = [\"id\"]\n",
    );
    write(d, "p.csv", "id,team\n1,a\n2,a\n3,b\n");
    write(
        d,
        "r.rules",
        "rule by_team {\n  for p in hr.people\n  expect p.team = 'b'\n  key p.team\n}\nrule by_id {\n  for p in hr.people\n  expect p.team = 'b'\n}\n",
    );
    ok(d, &["collect"]);
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(r.code, 1, "by_id fails: {}", r.stderr);
    let audit: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let by_team = &audit["rules"][0];
    assert_eq!(by_team["status"], "error");
    assert!(
        by_team["error"]
            .as_str()
            .unwrap()
            .contains("rule by_team: its key is not unique: two violations have key (a)"),
        "{by_team}"
    );
    assert_eq!(audit["rules"][1]["violations"], 2);
    assert_eq!(audit["total_issues"], 2);
    // trend and delay know nothing of it either, rather than a different count.
    let trend: serde_json::Value =
        serde_json::from_str(&ok(d, &["trend", "--format", "json", "--rule", "by_team"])).unwrap();
    assert_eq!(trend[0]["points"].as_array().unwrap().len(), 0, "{trend}");
    // Nor when runs not yet evaluated are evaluated two at a time (in one pass): the other
    // rule's history is still recorded.
    ok(d, &["collect"]);
    ok(d, &["collect"]);
    let trend: serde_json::Value =
        serde_json::from_str(&ok(d, &["trend", "--format", "json"])).unwrap();
    assert_eq!(trend[0]["points"].as_array().unwrap().len(), 0, "{trend}");
    assert_eq!(trend[1]["points"].as_array().unwrap().len(), 3, "{trend}");
    // The same when the pair's violations are kept in the store rather than held.
    use driftwatch::history::backfill::backfill_holding;
    use driftwatch::rules::{check::Schemas, check_files, eval::At, RuleFile};
    let store = driftwatch::store::Store::open_existing(&d.join("driftwatch.db")).unwrap();
    store
        .conn()
        .execute_batch("DELETE FROM findings; DELETE FROM evaluations;")
        .unwrap();
    let files = [RuleFile::load(&d.join("r.rules")).unwrap()];
    let loaded = check_files(&files, &Schemas::at_run(&store, 3).unwrap());
    let runs: Vec<At> = store.runs().unwrap().iter().map(At::from).collect();
    let rules: Vec<_> = loaded.iter().collect();
    let done = backfill_holding(&store, None, &files, &rules, &runs[1..], 0).unwrap();
    let skipped: Vec<(&str, &str)> = done
        .skipped
        .iter()
        .map(|s| (s.rule.as_str(), s.why.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped
        .iter()
        .all(|(r, why)| *r == "by_team" && why.contains("its key is not unique")));
    let recorded: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM evaluations WHERE rule = 'by_id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 2);
}

#[test]
fn a_password_hash_under_another_column_name_is_refused_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hash = "$2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY";
    {
        let c = rusqlite::Connection::open(d.join("app.db")).unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, passhash TEXT, email TEXT)")
            .unwrap();
        c.execute("INSERT INTO users VALUES (1, ?1, 'a@x.org')", [hash])
            .unwrap();
    }
    write(
        d,
        "driftwatch.toml",
        "[sources.app]\nkind = \"sqlite\"\npath = \"app.db\"\n[sources.app.entities.users]\n\
         query = \"SELECT id, email, passhash AS h FROM users\"\nkey = [\"id\"]\n",
    );
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("row 1, field `h` holds what looks like a password hash"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(hash));
    let store = std::fs::read(d.join("driftwatch.db")).unwrap();
    assert!(!store.windows(hash.len()).any(|w| w == hash.as_bytes()));
}

#[test]
fn a_hung_endpoint_fails_the_source_at_its_deadline_naming_the_request() {
    let s = Server::start();
    s.graph_token("t1");
    s.mount(
        Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .respond_with(
                s.graph_page(&[one_user()], None)
                    .set_delay(std::time::Duration::from_secs(60)),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.graph_config("entra", &["users"], "deadline = \"2s\""),
    );
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("GET /v1.0/users?$select=")
            && r.stderr
                .contains("no answer before the source's deadline (2s, set with `deadline`)"),
        "{}",
        r.stderr
    );
    assert!(ok(dir.path(), &["snapshots"]).contains("failed"));
    // A deadline that is not a duration is named.
    write(
        dir.path(),
        "driftwatch.toml",
        &s.graph_config("entra", &["users"], "deadline = \"soon\""),
    );
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sources.entra.deadline: \"soon\" is not a duration"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_refuses_what_collect_would_and_takes_vars() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "r.rules",
        "rule r { for p in hr.people expect p.name != '' }\n",
    );
    let config = |extra: &str| {
        format!(
            "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"p-${{day}}.csv\"\n{extra}"
        )
    };
    write(d, "driftwatch.toml", &config(""));
    write(d, "p-7.csv", "id,name\n1,Ann\n");
    // A variable collect needs is needed here too; given, the file's header is checked.
    let r = run(d, &["check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("variable `day` is not set"),
        "{}",
        r.stderr
    );
    let out = ok(d, &["check", "--var", "day=7"]);
    assert!(out.contains("ok: 1 rule"), "{out}");
    write(
        d,
        "r.rules",
        "rule r { for p in hr.people expect p.nmae != '' }\n",
    );
    let r = run(d, &["check", "--var", "day=7"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `name`?"), "{}", r.stderr);
    // A URL collect would refuse is refused here.
    write(
        d,
        "driftwatch.toml",
        &config("[sources.wp]\nkind = \"wordpress\"\nurl = \"http://lms.example.org\"\nusername = \"u\"\npassword = { env = \"DW_TEST_WP_PASSWORD\" }\nentities = [\"users\"]\n"),
    );
    let r = run_with_secrets(d, &["check", "--var", "day=7"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sources.wp.url: `http://lms.example.org` is plain HTTP"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_json_field_that_is_not_a_usable_name_is_refused_as_a_csv_header_is_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.t]\nkind = \"json\"\n[sources.t.entities.m]\npath = \"m.json\"\nkey = [\"id\"]\n",
    );
    write(
        d,
        "m.json",
        r#"[{"id": 1, "@odata.etag": "W/1", "First Name": "Ann"}]"#,
    );
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("m.json: field `First Name` is not a usable column name")
            && r.stderr.contains("columns = { new_name = \"First Name\" }"),
        "{}",
        r.stderr
    );
    // Annotations are not data: with the name mapped, they are simply not collected.
    write(
        d,
        "m.json",
        r#"[{"id": 1, "@odata.etag": "W/1", "first": "Ann"}]"#,
    );
    ok(d, &["collect"]);
    assert_eq!(ok(d, &["export", "t.m"]), "id,first\n1,Ann\n");
}

#[test]
fn a_store_that_is_also_a_sources_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let c = rusqlite::Connection::open(d.join("app.db")).unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY)")
            .unwrap();
    }
    write(
        d,
        "driftwatch.toml",
        "store = \"app.db\"\n[sources.app]\nkind = \"sqlite\"\npath = \"app.db\"\n[sources.app.entities.users]\nquery = \"SELECT id FROM users\"\n",
    );
    let before = std::fs::read(d.join("app.db")).unwrap();
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("sources.app.path:") && r.stderr.contains("is the store"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(d.join("app.db")).unwrap(), before);
}

/// The shell block of the README's "A short tour".
fn readme_tour() -> String {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let tour = &readme[readme
        .find("## A short tour")
        .expect("the README has a tour")..];
    let start = tour.find("```sh\n").unwrap() + 6;
    tour[start..start + tour[start..].find("```").unwrap()].to_string()
}

#[test]
fn the_readme_tour_runs_twice_in_a_row_and_writes_nothing_into_the_repository() {
    let repo = crate::common::repo();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_driftwatch"))
        .parent()
        .unwrap()
        .to_path_buf();
    let samples_before: Vec<_> = std::fs::read_dir(repo.join("samples/lms"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for round in 1..=2 {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(readme_tour())
            .current_dir(&repo)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("error:"), "round {round}:\n{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("TOTAL ISSUES"), "round {round}:\n{stdout}");
    }
    let samples_after: Vec<_> = std::fs::read_dir(repo.join("samples/lms"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        samples_after, samples_before,
        "the tour wrote into samples/lms"
    );
}

#[test]
fn demo_without_a_store_says_its_store_is_temporary_instead_of_printing_its_path() {
    let r = run(&crate::common::repo(), &["demo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("collected into a temporary store (removed at the end"),
        "{}",
        &r.stdout[..200]
    );
    assert!(
        !r.stdout.contains("driftwatch-demo-"),
        "{}",
        &r.stdout[..200]
    );
}

#[test]
fn a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_escaped_and_bom_is_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::common::write(
        d,
        "driftwatch.toml",
        "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", score = \"integer\" }\n",
    );
    crate::common::write(
        d,
        "people.csv",
        "id,name,score\n1,\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",-5\n2,@SUM(A1),3\n3,Zoë -dash,4\n",
    );
    crate::common::ok(d, &["collect"]);
    let csv = crate::common::ok(d, &["export", "hr.people"]);
    assert_eq!(
        csv,
        "id,name,score\n1,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",-5\n2,'@SUM(A1),3\n3,Zoë -dash,4\n"
    );
    let raw = crate::common::ok(d, &["export", "hr.people", "--csv-raw"]);
    assert!(raw.contains("\n2,@SUM(A1),3\n"), "{raw}");
    let bom = crate::common::ok(d, &["export", "hr.people", "--bom"]);
    assert!(bom.starts_with('\u{feff}') && bom.contains("Zoë"), "{bom}");
    // Grids (audit, findings, log …) escape their text cells the same way.
    let q = crate::common::ok(
        d,
        &["query", "for p in hr.people show p.name", "--format", "csv"],
    );
    assert!(q.contains("'=HYPERLINK") && q.contains("'@SUM(A1)"), "{q}");
}
