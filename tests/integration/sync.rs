//! Sync management against the stateful fake of Graph and WordPress/LearnDash: plan, apply,
//! the guard, stale plans, idempotence, failures half-way, the audit log and verification.

use crate::common::{repo, write, Run};
use crate::fake_platforms::{config, run, Fake, State, GRAPH_WRITE_SECRET, WP_WRITE_PASSWORD};
use serde_json::Value as Json;
use std::path::Path;

fn ok(r: Run) -> String {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.stdout
}

fn json(r: &Run) -> Json {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

struct Lms {
    fake: Fake,
    dir: tempfile::TempDir,
}

impl Lms {
    fn new() -> Lms {
        let fake = Fake::start(State::from_sample(&repo().join("samples/lms/day-7")));
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "driftwatch.toml", &config(&fake, dir.path()));
        Lms { fake, dir }
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.d(), args)
    }

    fn collect(&self, at: &str) {
        ok(self.run(&["collect", "--at", at]));
    }

    fn plan(&self, file: &str) -> Json {
        ok(self.run(&["plan", "--out", file]));
        serde_json::from_str(&std::fs::read_to_string(self.d().join(file)).unwrap()).unwrap()
    }
}

const DAY7: &str = "2026-11-07T06:00:00Z";
const LATER: &str = "2026-11-07T07:00:00Z";

/// The writes the shipped LMS rules' plan sends for day 7, one per action kind they use, as
/// PLATFORMS.md describes them.
fn expected_lms_writes(base: &str) -> Vec<String> {
    let bind = format!("{base}/v1.0/users('00000033-e906-4697-a6c6-5e2692d32b00')");
    let member = |b: &str| {
        format!("{{\"@odata.type\":\"#microsoft.graph.aadUserConversationMember\",\"roles\":[],\"user@odata.bind\":\"{b}\"}}")
    };
    let owner =
        "{\"@odata.type\":\"#microsoft.graph.aadUserConversationMember\",\"roles\":[\"owner\"]}";
    let mut v = vec![
        "PATCH /v1.0/users/0000001a-bb1b-4307-aee9-2115cc5720ff {\"accountEnabled\":false}".to_string(),
        "PATCH /v1.0/users/0000001c-d43e-4c57-ae2b-6c29043ee625 {\"accountEnabled\":false}".into(),
        "PATCH /v1.0/users/0000003b-e338-4a61-a4a0-4357a5e96cd8 {\"mail\":\"lena.fischer59@example.org\"}".into(),
        "PATCH /v1.0/users/ffffffff-0000-4000-a000-00000000dead {\"accountEnabled\":false}".into(),
        // Into the private channel's team first: Graph refuses a channel member who is not in it.
        format!("POST /v1.0/teams/team-0004-78dde6c4/members {}", member(&bind)),
        format!("POST /v1.0/teams/team-0004-78dde6c4/channels/19%3Acourse04000278de78dc%40thread.tacv2/members {}", member(&bind)),
        "DELETE /v1.0/teams/team-0001-9e3779b1/channels/19%3Acourse0100009e379e37%40thread.tacv2/members/MCMj0100000035650940b5acff%3D%3D".into(),
        format!("PATCH /v1.0/teams/team-0002-3c6ef362/channels/19%3Acourse0200013c6f3c6e%40thread.tacv2/members/MCMj0200000003fa2242e9a45c%3D%3D {owner}"),
        format!("PATCH /v1.0/teams/team-0004-78dde6c4/channels/19%3Acourse04000278de78dc%40thread.tacv2/members/MCMj04000000085e694fe6aea3%3D%3D {owner}"),
        "POST /wp-json/wp/v2/users/1057 {\"roles\":[\"subscriber\"]}".into(),
        "POST /wp-json/wp/v2/users/1058 {\"email\":\"kai.weber58@example.org\"}".into(),
        "POST /wp-json/ldlms/v2/sfwd-courses/201/users {\"user_ids\":[1161]}".into(),
        "POST /wp-json/ldlms/v2/sfwd-courses/208/users {\"user_ids\":[1055]}".into(),
    ];
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn collect_audit_plan_apply_collect_audit_fixes_the_lms_violations_and_confirms_the_actions() {
    let l = Lms::new();
    l.collect(DAY7);
    let r = l.run(&["audit", "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(json(&r)["total_issues"], 17);
    let plan = l.plan("plan.json");
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 3, "remove": 1, "update": 6, "disable": 3, "insert": 0, "notify": 0})
    );
    // The role change shows the whole set before and after.
    let role = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["verb"] == "set_user_role")
        .unwrap();
    assert_eq!(role["before"], serde_json::json!({"roles": "restricted"}));
    assert_eq!(role["after"], serde_json::json!({"roles": "subscriber"}));
    let dry = ok(l.run(&["apply", "plan.json", "--dry-run"]));
    assert!(
        l.fake.writes().is_empty(),
        "a dry run wrote: {:?}",
        l.fake.writes()
    );
    assert!(
        dry.contains(
            "PATCH /v1.0/users/0000001a-bb1b-4307-aee9-2115cc5720ff {\"accountEnabled\":false}"
        ) && dry.contains("Dry run: 13 would be sent"),
        "{dry}"
    );
    let applied = ok(l.run(&["apply", "plan.json"]));
    assert!(applied.contains("Applied: 13 done, 0 already"), "{applied}");
    assert_eq!(
        sorted(l.fake.writes()),
        expected_lms_writes(&l.fake.server.uri())
    );
    l.collect(LATER);
    let r = l.run(&["audit", "--format", "json"]);
    let audit = json(&r);
    let fixed: Vec<&Json> = audit["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["rule"].as_str().unwrap().starts_with("member_"))
        .collect();
    assert!(fixed.iter().all(|r| r["violations"] == 0), "{audit:#}");
    let log = l.run(&["log", "--format", "json"]);
    let entries = json(&log);
    let applied: Vec<&Json> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["command"] == "apply")
        .collect();
    assert_eq!(applied.len(), 13);
    assert!(
        applied
            .iter()
            .all(|e| e["verification"] == "confirmed" && e["outcome"] == "done"),
        "{applied:#?}"
    );
    assert!(ok(l.run(&["log", "--verify"])).contains("the chain is intact"));
    // Nothing secret anywhere: outputs, the plan file, the store.
    let outputs = [dry, log.stdout.clone(), r.stdout.clone()];
    for secret in [
        GRAPH_WRITE_SECRET,
        WP_WRITE_PASSWORD,
        crate::mocks::GRAPH_SECRET,
        crate::mocks::WP_PASSWORD,
    ] {
        for o in &outputs {
            assert!(!o.contains(secret));
        }
        for f in std::fs::read_dir(l.d()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
}

#[test]
fn applying_the_same_plan_again_sends_no_write() {
    let l = Lms::new();
    l.collect(DAY7);
    l.plan("plan.json");
    ok(l.run(&["apply", "plan.json"]));
    let sent = l.fake.writes().len();
    let again = ok(l.run(&["apply", "plan.json"]));
    assert!(
        again.contains("Applied: 0 done, 13 already in effect"),
        "{again}"
    );
    assert_eq!(
        l.fake.writes().len(),
        sent,
        "{:?}",
        &l.fake.writes()[sent..]
    );
}

#[test]
fn a_plan_is_refused_as_stale_after_a_newer_collection_a_changed_rule_or_on_another_store() {
    let l = Lms::new();
    l.collect(DAY7);
    l.plan("plan.json");
    l.collect(LATER);
    let r = l.run(&["apply", "plan.json"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("the plan is stale: run 2 collected") && r.stderr.contains("plan again"),
        "{}",
        r.stderr
    );
    assert!(l.fake.writes().is_empty());
    // Another store.
    let other = l.run(&["--store", "other.db", "collect", "--at", DAY7]);
    assert_eq!(other.code, 0, "{}", other.stderr);
    let r = l.run(&["--store", "other.db", "apply", "plan.json"]);
    assert!(
        r.code == 2 && r.stderr.contains("another store"),
        "{}",
        r.stderr
    );
    // A rule whose text changed since.
    l.plan("plan2.json");
    let rules = l.d().join("lms.rules");
    let text = std::fs::read_to_string(repo().join("queries/lms.rules")).unwrap();
    std::fs::write(&rules, text.replace("grace 6h", "grace 7h")).unwrap();
    let cfg = std::fs::read_to_string(l.d().join("driftwatch.toml")).unwrap();
    let first = cfg.lines().next().unwrap().to_string();
    write(
        l.d(),
        "driftwatch.toml",
        &cfg.replacen(&first, "rules = [\"lms.rules\"]", 1),
    );
    let r = l.run(&["apply", "plan2.json"]);
    assert!(
        r.code == 2
            && r.stderr
                .contains("rule enrolled_member_in_course_channel has changed"),
        "{}",
        r.stderr
    );
    assert!(l.fake.writes().is_empty());
}

#[test]
fn the_guard_refuses_a_mass_removal_before_any_write_and_yes_lets_it_through() {
    let l = Lms::new();
    // Two enrolled members of course C01 leave the SSOT: their channel memberships go too.
    l.fake.with(|s| {
        let key = s.channels.keys().next().unwrap().clone();
        let members = &mut s.channels.get_mut(&key).unwrap().1;
        // Strangers in the channel: not enrolled anywhere.
        for i in 0..6 {
            members.push(serde_json::json!({"@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": format!("stranger-{i}"), "roles": [], "displayName": "Stranger",
                "userId": format!("00000000-0000-4000-8000-00000000000{i}"), "email": format!("s{i}@example.org")}));
        }
    });
    l.collect(DAY7);
    let plan = l.plan("plan.json");
    assert_eq!(plan["summary"]["remove"], 7);
    let r = l.run(&["apply", "plan.json"]);
    assert_eq!(
        r.code, 2,
        "{}
{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr
            .contains("the plan removes too much: it removes 7 of the")
            && r.stderr.contains("more than max_remove_share (10%)")
            && r.stderr.contains("--yes"),
        "{}",
        r.stderr
    );
    assert!(l.fake.writes().is_empty(), "{:?}", l.fake.writes());
    let r = l.run(&["apply", "plan.json", "--yes"]);
    assert_eq!(
        r.code, 0,
        "{}
{}",
        r.stdout, r.stderr
    );
    let removed = l
        .fake
        .writes()
        .iter()
        .filter(|w| w.starts_with("DELETE"))
        .count();
    assert_eq!(removed, 7);
}

#[test]
fn a_target_failing_half_way_fails_its_actions_only_and_every_outcome_is_logged() {
    let l = Lms::new();
    l.fake.with(|s| {
        // WordPress refuses to edit user 1057; LearnDash fails one user inside a 200; Graph
        // throttles the first two writes and lets the first token expire.
        s.forbid.push("/wp-json/wp/v2/users/1057".into());
        s.fail_enroll.insert(1161);
        s.throttle = 2;
        s.expire_first_token = true;
    });
    l.collect(DAY7);
    l.plan("plan.json");
    let r = l.run(&["apply", "plan.json", "--format", "json"]);
    assert_eq!(
        r.code, 3,
        "{}
{}",
        r.stdout, r.stderr
    );
    let report = json(&r);
    let outcome = |verb: &str, n: usize| -> (String, String) {
        let a = report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["verb"] == verb)
            .nth(n)
            .unwrap();
        (
            a["outcome"].as_str().unwrap().into(),
            a["error"].as_str().unwrap_or("").into(),
        )
    };
    let (o, e) = outcome("set_user_role", 0);
    assert!(
        o == "failed" && e.contains("403") && e.contains("rest_cannot_edit"),
        "{e}"
    );
    let (o, e) = outcome("enroll_course_user", 0);
    assert!(
        o == "failed" && e.contains("learndash_rest_enroll_failed"),
        "{e}"
    );
    assert_eq!(outcome("enroll_course_user", 1).0, "done");
    assert_eq!(report["summary"]["done"], 11);
    assert_eq!(report["summary"]["failed"], 2);
    l.fake.with(|s| {
        // The two 429s were waited out and the expired token renewed: those writes were sent
        // again and are done.
        assert_eq!(s.throttle, 0);
        assert_eq!(s.expired.len(), 1);
        let patches = s
            .writes
            .iter()
            .filter(|w| w.starts_with("PATCH /v1.0/users/"))
            .count();
        assert!(patches > 4, "{:#?}", s.writes);
    });
    let log = json(&l.run(&["log", "--format", "json"]));
    let logged: Vec<&Json> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["command"] == "apply")
        .collect();
    assert_eq!(logged.len(), 13);
    assert_eq!(
        logged.iter().filter(|e| e["outcome"] == "failed").count(),
        2
    );
    assert!(logged.iter().any(|e| e["error"]
        .as_str()
        .unwrap_or("")
        .contains("rest_cannot_edit")));
    // Applying again retries what failed and sends nothing for what was done.
    l.fake.with(|s| {
        s.forbid.clear();
        s.fail_enroll.clear();
        s.writes.clear();
    });
    let again = ok(l.run(&["apply", "plan.json"]));
    assert!(again.contains("Applied: 2 done, 11 already"), "{again}");
    assert_eq!(l.fake.writes().len(), 2, "{:?}", l.fake.writes());
}

#[test]
fn every_graph_and_learndash_verb_sends_its_exact_request_and_group_removal_never_deletes_the_user()
{
    let l = Lms::new();
    let (u1, u2, u3, u4, team) = l.fake.with(|s| {
        s.users[3]["accountEnabled"] = serde_json::json!(false);
        let id = |i: usize| s.users[i]["id"].as_str().unwrap().to_string();
        let team = s
            .teams
            .iter()
            .find(|(_, m)| m.iter().any(|m| m["userId"].as_str() == Some(&id(0))))
            .map(|(t, _)| t.clone())
            .unwrap();
        (id(0), id(1), id(2), id(3), team)
    });
    let rules = format!(
        r#"
rule staff_group_holds_only_the_first {{
  for g in entra.group_members where g.group_id = 'grp-staff'
  expect g.member_id = '{u1}'
  key g.member_id
  fix entra.remove_group_member(group = g.group_id, user = g.member_id)
}}
rule fourth_is_staff {{
  for u in entra.users where u.id = '{u4}'
  expect exists g in entra.group_members where g.member_id = u.id
  fix entra.add_group_member(group = 'grp-staff', user = u.id)
}}
rule fourth_is_enabled {{
  for u in entra.users where u.id = '{u4}'
  expect u.account_enabled
  fix entra.enable_user(user = u.id)
}}
rule second_is_in_team_one {{
  for u in entra.users where u.id = '{u2}'
  expect false
  fix teams.add_team_member(team = 'team-0009-aaaa', user = u.id)
}}
rule no_one_in_team_four_but_owners {{
  for m in teams.team_members where m.team_id = '{team}' and m.user_id = '{u1}'
  expect false
  fix teams.remove_team_member(team = m.team_id, membership = m.id)
}}
rule no_one_in_course_212 {{
  for c in wordpress.course_users where c.course_id = 212 and c.user_id = 1023
  expect false
  fix wordpress.unenroll_course_user(course = c.course_id, user = c.user_id)
}}
"#
    );
    write(l.d(), "verbs.rules", &rules);
    let cfg = std::fs::read_to_string(l.d().join("driftwatch.toml")).unwrap();
    let first = cfg.lines().next().unwrap().to_string();
    let cfg = cfg
        .replacen(&first, "rules = [\"verbs.rules\"]", 1)
        .replace(
            "entities = [\"users\"]",
            "entities = [\"users\", \"group_members\"]",
        )
        .replace(
            "entities = [\"channels\", \"channel_members\"]",
            "entities = [\"channels\", \"channel_members\", \"team_members\"]",
        );
    write(l.d(), "driftwatch.toml", &cfg);
    l.fake.with(|s| {
        s.teams.insert("team-0009-aaaa".into(), Vec::new());
    });
    l.collect(DAY7);
    let plan = l.plan("plan.json");
    assert_eq!(plan["actions"].as_array().unwrap().len(), 7, "{plan:#}");
    ok(l.run(&["apply", "plan.json", "--yes"]));
    let base = l.fake.server.uri();
    let mut expected = vec![
        format!("DELETE /v1.0/groups/grp-staff/members/{u2}/$ref"),
        format!("DELETE /v1.0/groups/grp-staff/members/{u3}/$ref"),
        format!("POST /v1.0/groups/grp-staff/members/$ref {{\"@odata.id\":\"{base}/v1.0/directoryObjects/{u4}\"}}"),
        format!("PATCH /v1.0/users/{u4} {{\"accountEnabled\":true}}"),
        format!("POST /v1.0/teams/team-0009-aaaa/members {{\"@odata.type\":\"#microsoft.graph.aadUserConversationMember\",\"roles\":[],\"user@odata.bind\":\"{base}/v1.0/users('{u2}')\"}}"),
        format!("DELETE /v1.0/teams/{team}/members/tm-{team}-{u1}"),
        "DELETE /wp-json/ldlms/v2/sfwd-courses/212/users {\"user_ids\":[1023]}".to_string(),
    ];
    expected.sort();
    assert_eq!(sorted(l.fake.writes()), expected);
    l.fake.with(|s| {
        assert!(
            s.deleted_users.is_empty(),
            "a user object was deleted: {:?}",
            s.deleted_users
        );
        assert_eq!(s.groups["grp-staff"], vec![u1.clone(), u4.clone()]);
        assert!(s.course_users[&212].iter().all(|u| *u != 1023));
    });
}
