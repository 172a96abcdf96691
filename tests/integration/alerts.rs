//! `driftwatch alert` against a local receiver: one notification when a condition starts, none
//! while it holds (until `repeat`), one when it resolves; each receiver's body; a failing
//! receiver retried and delivered at the next `alert`; a replay of past runs sending exactly
//! what live runs sent.

use crate::common::{ok, run, write};
use crate::mocks::Server;
use serde_json::Value as Json;
use std::path::Path;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const RULE: &str = "rule has_email {\n  severity critical\n  for p in hr.people\n  expect p.email is not null\n  key p.id\n  subject p.name\n}\n";

/// People by day: Bo has no email on days 2 and 3, and gets one on day 4.
fn people(day: u32) -> &'static str {
    match day {
        1 => "id,name,email\n1,Al,al@x.org\n2,Bo,bo@x.org\n",
        2 | 3 => "id,name,email\n1,Al,al@x.org\n2,Bo,\n",
        _ => "id,name,email\n1,Al,al@x.org\n2,Bo,bo@x.org\n",
    }
}

fn setup(d: &Path, receivers: &str, repeat: &str) {
    write(d, "r.rules", RULE);
    write(
        d,
        "driftwatch.toml",
        &format!(
            "rules = [\"r.rules\"]\n[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people-${{day}}.csv\"\nkey = [\"id\"]\ntypes = {{ id = \"integer\" }}\n\n\
             [[alerts]]\nname = \"missing-email\"\nseverity = \"critical\"\nwhen = \"violations > 0\"\nto = [{receivers}]\n{repeat}\n\n\
             [receivers.hook]\nkind = \"webhook\"\nurl = {{ env = \"DW_TEST_HOOK\" }}\n\
             [receivers.slack]\nkind = \"slack\"\nurl = {{ env = \"DW_TEST_SLACK\" }}\n\
             [receivers.teams]\nkind = \"teams\"\nurl = {{ env = \"DW_TEST_TEAMS\" }}\n\
             [receivers.out]\nkind = \"stdout\"\n"
        ),
    );
    for day in 1..=4 {
        write(d, &format!("people-{day}.csv"), people(day));
    }
}

fn env_run(d: &Path, s: &Server, args: &[&str]) -> crate::common::Run {
    crate::common::finish(
        crate::common::driftwatch(d)
            .args(args)
            .env("DW_TEST_HOOK", format!("{}/hook/s3cr3t-token", s.uri()))
            .env("DW_TEST_SLACK", format!("{}/slack/T000/B000/XXXX", s.uri()))
            .env("DW_TEST_TEAMS", format!("{}/teams/workflow", s.uri()))
            .output()
            .unwrap(),
    )
}

fn bodies(s: &Server, at: &str) -> Vec<Json> {
    s.rt.block_on(s.server.received_requests())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(at))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn collect(d: &Path, day: u32) {
    crate::common::collect_lms_day(d, day);
}

#[test]
fn an_alert_notifies_when_it_starts_not_while_it_holds_and_when_it_resolves_in_each_receivers_form()
{
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "\"hook\", \"slack\", \"teams\"", "");
    for day in 1..=4 {
        collect(d, day);
        let r = env_run(d, &s, &["alert"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    let hook = bodies(&s, "/hook");
    let statuses: Vec<&str> = hook.iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["firing", "resolved"], "{hook:#?}");
    assert_eq!(hook[0]["alert"], "missing-email");
    assert_eq!(hook[0]["startsAt"], "2026-11-02T06:00:00Z");
    assert_eq!(hook[0]["endsAt"], Json::Null);
    assert_eq!(
        hook[0]["rules"],
        serde_json::json!([{"rule": "has_email", "violations": 1}])
    );
    assert_eq!(hook[1]["startsAt"], "2026-11-02T06:00:00Z");
    assert_eq!(hook[1]["endsAt"], "2026-11-04T06:00:00Z");
    assert_eq!(hook[0]["fingerprint"], hook[1]["fingerprint"]);
    let slack = bodies(&s, "/slack");
    assert_eq!(slack.len(), 2);
    assert!(
        slack[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] missing-email: 1 violations"),
        "{slack:#?}"
    );
    let teams = bodies(&s, "/teams");
    assert_eq!(teams.len(), 2);
    assert_eq!(teams[0]["type"], "message");
    let card = &teams[0]["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][2]["facts"][0]["title"], "has_email");
    // The webhook URLs are secrets: not in the store, not in the log.
    let store = std::fs::read(d.join("driftwatch.db")).unwrap();
    assert!(!store.windows(12).any(|w| w == b"s3cr3t-token"));
    let log = ok(d, &["log", "--format", "csv"]);
    assert!(log.contains("alert,") && !log.contains("s3cr3t"), "{log}");
}

#[test]
fn repeat_sends_a_still_firing_alert_again_after_its_span_of_run_time() {
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "\"hook\"", "repeat = \"1d\"");
    for day in 1..=4 {
        collect(d, day);
        env_run(d, &s, &["alert"]);
    }
    let statuses: Vec<String> = bodies(&s, "/hook")
        .iter()
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["firing", "firing", "resolved"]);
}

#[test]
fn a_failing_receiver_is_retried_and_the_notification_is_delivered_at_the_next_alert() {
    let s = Server::start();
    // Three failures (the retries of one `alert`), then the receiver is back.
    s.mount(
        Mock::given(method("POST"))
            .and(path("/hook/s3cr3t-token"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(3)
            .with_priority(1),
    );
    s.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .with_priority(2),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "\"hook\"", "");
    collect(d, 1);
    collect(d, 2);
    let r = env_run(d, &s, &["alert", "--at", "1"]);
    assert_eq!(r.code, 0);
    let r = env_run(d, &s, &["alert", "--at", "2"]);
    assert!(
        r.code == 3 && r.stdout.contains("failed: the receiver answered 503"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(s.requests().len(), 3);
    let log = ok(d, &["log", "--format", "json"]);
    assert!(log.contains("\"outcome\": \"failed\""), "{log}");
    collect(d, 3);
    let r = env_run(d, &s, &["alert"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let hook = bodies(&s, "/hook");
    assert_eq!(hook.len(), 4, "three failed tries and the delivery");
    assert_eq!(hook[3]["status"], "firing");
    assert_eq!(hook[3]["startsAt"], "2026-11-02T06:00:00Z");
}

#[test]
fn a_replay_of_past_runs_sends_exactly_what_live_runs_sent_and_a_dry_run_sends_nothing() {
    let s = Server::start();
    s.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let live = tempfile::tempdir().unwrap();
    setup(live.path(), "\"out\"", "repeat = \"2d\"");
    let replay = tempfile::tempdir().unwrap();
    setup(replay.path(), "\"out\"", "repeat = \"2d\"");
    let sent = |d: &Path, at: &str| -> Vec<Json> {
        let r = env_run(d, &s, &["alert", "--at", at, "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let doc: Json = serde_json::from_str(&r.stdout).unwrap();
        doc["sent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["notification"].clone())
            .collect()
    };
    let mut live_sent = Vec::new();
    for day in 1..=4 {
        collect(live.path(), day);
        live_sent.extend(sent(live.path(), "latest"));
    }
    for day in 1..=4 {
        collect(replay.path(), day);
    }
    // A dry run says what would go and changes nothing.
    let r = env_run(replay.path(), &s, &["alert", "--at", "2", "--dry-run"]);
    assert!(r.stdout.contains("would send"), "{}", r.stdout);
    let mut replay_sent = Vec::new();
    for run_id in 1..=4 {
        replay_sent.extend(sent(replay.path(), &run_id.to_string()));
    }
    assert_eq!(live_sent.len(), 2, "{live_sent:#?}");
    assert_eq!(replay_sent, live_sent);
    assert!(s.requests().is_empty(), "stdout receivers send no request");
    // Going back is refused: the state is at run 4.
    let r = env_run(replay.path(), &s, &["alert", "--at", "2"]);
    assert!(
        r.code == 2 && r.stderr.contains("evaluated at run 4 already"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_bad_alert_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "\"pager\"", "");
    collect(d, 1);
    let r = run(d, &["alert"]);
    assert!(
        r.code == 2
            && r.stderr
                .contains("alerts.missing-email.to: no receiver \"pager\""),
        "{}",
        r.stderr
    );
}

/// The LMS samples' seven days, with alerts of every kind of condition on the rules: the
/// notifications of `alert` after each day's collection equal those of `alert --at` over the
/// seven runs collected first.
#[test]
fn a_replay_of_the_seven_lms_days_gives_exactly_the_live_notifications() {
    let sample = crate::common::lms_config();
    let alerts = "\n[[alerts]]\nname = \"guests\"\nrules = [\"guest_*\"]\nwhen = \"violations > 0\"\nto = [\"out\"]\nrepeat = \"3d\"\n\
        [[alerts]]\nname = \"teams-new\"\ntags = [\"teams\"]\nwhen = \"new > 1\"\nto = [\"out\"]\n\
        [[alerts]]\nname = \"errors-growing\"\nseverity = \"error\"\nwhen = \"growth > 1 over 2\"\nto = [\"out\"]\n\
        [[alerts]]\nname = \"old-drift\"\nrules = [\"*\"]\nwhen = \"age > 4d\"\nto = [\"out\"]\n\
        [[alerts]]\nname = \"identity-share\"\ntags = [\"identity\"]\nwhen = \"violations > 0.5%\"\nto = [\"out\"]\n\
        [receivers.out]\nkind = \"stdout\"\n";
    let s = Server::start();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for d in &dirs {
        write(d.path(), "driftwatch.toml", &format!("{sample}{alerts}"));
    }
    let notifications = |d: &Path, at: &str| -> Vec<Json> {
        let r = env_run(d, &s, &["alert", "--at", at, "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let doc: Json = serde_json::from_str(&r.stdout).unwrap();
        doc["sent"].as_array().unwrap().clone()
    };
    let (live, replay) = (dirs[0].path(), dirs[1].path());
    let mut live_sent = Vec::new();
    for day in 1..=7 {
        collect(live, day);
        live_sent.extend(notifications(live, "latest"));
    }
    for day in 1..=7 {
        collect(replay, day);
    }
    let mut replay_sent = Vec::new();
    for run_id in 1..=7 {
        replay_sent.extend(notifications(replay, &run_id.to_string()));
    }
    let alerts_sent: std::collections::BTreeSet<&str> = live_sent
        .iter()
        .map(|n| n["alert"].as_str().unwrap())
        .collect();
    assert!(alerts_sent.len() >= 4, "{live_sent:#?}");
    assert!(
        live_sent
            .iter()
            .any(|n| n["notification"]["status"] == "resolved")
            || live_sent.len() > 5,
        "{live_sent:#?}"
    );
    assert_eq!(replay_sent, live_sent);
}
