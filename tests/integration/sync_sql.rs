//! Sync management on SQL sources and the store: the SSOT's actions in one transaction on
//! SQLite, PostgreSQL and MariaDB; the PeerQuest audit's fixes; the audit log's chain;
//! suppressions.

use crate::common::{ok, repo, run, write};
use crate::live_databases::{Kind, TempDb};
use serde_json::Value as Json;
use std::path::Path;

const RULES: &str = r#"
rule archived {
  for p in db.people
  expect exists a in db.archive where a.id = p.id
  key p.id
  fix db.insert archive(id = p.id, email = p.email)
}
rule first_is_shouting {
  for p in db.people where p.id = 1
  expect p.email = 'A@X'
  fix db.update people(email = 'A@X') where id = p.id
}
"#;

/// Where the SQL actions of the test go: a database with `people` and an empty `archive`
/// whose `email` may not be NULL, as a config's source `db` (with write access).
trait Db {
    fn exec(&self, sql: &str);
    fn text(&self, sql: &str) -> Option<String>;
    fn source(&self) -> String;
}

struct Lite(std::path::PathBuf);

impl Db for Lite {
    fn exec(&self, sql: &str) {
        rusqlite::Connection::open(&self.0)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    fn text(&self, sql: &str) -> Option<String> {
        rusqlite::Connection::open(&self.0)
            .unwrap()
            .query_row(sql, [], |r| r.get::<_, Option<rusqlite::types::Value>>(0))
            .unwrap()
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
    }
    fn source(&self) -> String {
        format!("kind = \"sqlite\"\npath = {:?}\n", self.0.to_str().unwrap())
    }
}

impl Db for TempDb {
    fn exec(&self, sql: &str) {
        TempDb::exec(self, sql);
    }
    fn text(&self, sql: &str) -> Option<String> {
        TempDb::text(self, sql)
    }
    fn source(&self) -> String {
        let kind = if self.url().starts_with("postgres") {
            "postgres"
        } else {
            "mysql"
        };
        format!("kind = \"{kind}\"\nurl = \"{}\"\n", self.url())
    }
}

fn ssot_actions_roll_back_whole_when_one_fails(db: &dyn Db) {
    db.exec("CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100));\nCREATE TABLE archive (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL);\nINSERT INTO people VALUES (1, 'a@x');\nINSERT INTO people VALUES (2, 'b@x');\nINSERT INTO people VALUES (3, NULL)");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "r.rules", RULES);
    write(
        d,
        "driftwatch.toml",
        &format!(
            "rules = [\"r.rules\"]\n[sources.db]\n{}[sources.db.entities.people]\nquery = \"SELECT id, email FROM people\"\nkey = [\"id\"]\n[sources.db.entities.archive]\nquery = \"SELECT id, email FROM archive\"\nkey = [\"id\"]\n[sources.db.write]\n",
            db.source()
        ),
    );
    ok(d, &["collect"]);
    ok(d, &["plan", "--out", "plan.json"]);
    let r = run(d, &["apply", "plan.json", "--format", "json"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let report: Json = serde_json::from_str(&r.stdout).unwrap();
    let outcomes: Vec<(&str, &str)> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap(),
                a["error"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(outcomes.iter().all(|(o, _)| *o == "failed"), "{outcomes:?}");
    assert!(
        outcomes.iter().any(|(_, e)| e.contains("rolled back")),
        "{outcomes:?}"
    );
    // Nothing of the transaction is left: no archive row, the update undone.
    assert_eq!(
        db.text("SELECT CAST(count(*) AS CHAR(10)) FROM archive")
            .map(|t| t.trim().to_string())
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        db.text("SELECT email FROM people WHERE id = 1").as_deref(),
        Some("a@x")
    );
    // With the bad row put right, the same kind of plan goes through whole.
    db.exec("UPDATE people SET email = 'c@x' WHERE id = 3");
    ok(d, &["collect"]);
    ok(d, &["plan", "--out", "plan2.json"]);
    let out = ok(d, &["apply", "plan2.json"]);
    assert!(out.contains("Applied: 4 done"), "{out}");
    assert_eq!(
        db.text("SELECT CAST(count(*) AS CHAR(10)) FROM archive")
            .map(|t| t.trim().to_string())
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        db.text("SELECT email FROM people WHERE id = 1").as_deref(),
        Some("A@X")
    );
    let again = ok(d, &["apply", "plan2.json"]);
    assert!(again.contains("Applied: 0 done, 4 already"), "{again}");
}

#[test]
fn sqlite_ssot_actions_roll_back_whole_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    ssot_actions_roll_back_whole_when_one_fails(&Lite(dir.path().join("app.db")));
}

#[test]
fn postgres_ssot_actions_roll_back_whole_when_one_fails() {
    ssot_actions_roll_back_whole_when_one_fails(&TempDb::new(Kind::Postgres));
}

#[test]
fn mariadb_ssot_actions_roll_back_whole_when_one_fails() {
    ssot_actions_roll_back_whole_when_one_fails(&TempDb::new(Kind::Mysql));
}

/// A copy of the PeerQuest sample whose SSOT may be written.
fn peerquest(d: &Path) {
    let pq = repo().join("samples/peerquest");
    std::fs::copy(pq.join("ssot.db"), d.join("ssot.db")).unwrap();
    let config = std::fs::read_to_string(pq.join("driftwatch.toml"))
        .unwrap()
        .replace(
            "../../queries/peerquest.rules",
            repo().join("queries/peerquest.rules").to_str().unwrap(),
        );
    write(
        d,
        "driftwatch.toml",
        &format!("{config}\n[sources.ssot.write]\n"),
    );
}

fn ssot(d: &Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(d.join("ssot.db")).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let rows = st
        .query_map([], |r| {
            let n = r.as_ref().column_count();
            Ok((0..n)
                .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Null => "NULL".into(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn peerquest_plan_and_apply_reach_the_audits_after_state_in_two_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    ok(d, &["collect"]);
    ok(d, &["plan", "--out", "plan.json"]);
    let plan: Json =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    let verbs: Vec<(String, String)> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["verb"].as_str().unwrap().into(),
                a["params"]["table"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        verbs
            .iter()
            .filter(|v| v.0 == "insert" && v.1 == "quests_questparticipant")
            .count(),
        3
    );
    assert_eq!(
        verbs
            .iter()
            .filter(|v| v.0 == "update" && v.1 == "quests_quest")
            .count(),
        2
    );
    let before = std::fs::read(d.join("ssot.db")).unwrap();
    let dry = ok(d, &["apply", "plan.json", "--dry-run"]);
    assert!(dry.contains("INSERT quests_questparticipant"), "{dry}");
    assert_eq!(
        std::fs::read(d.join("ssot.db")).unwrap(),
        before,
        "a dry run changed the SSOT"
    );
    ok(d, &["apply", "plan.json"]);
    // The new participants make quests 2 and 3 subject to phases 3 and 4: a second round.
    ok(d, &["collect"]);
    ok(d, &["plan", "--out", "plan2.json"]);
    ok(d, &["apply", "plan2.json"]);
    ok(d, &["collect"]);
    let audit = ok(d, &["audit"]);
    assert!(audit.contains("TOTAL ISSUES: 0"), "{audit}");
    assert_eq!(
        ssot(d, "SELECT count(*) FROM quests_questparticipant"),
        ["11"]
    );
    assert_eq!(
        ssot(d, "SELECT u.username FROM quests_quest q JOIN users_user u ON u.id = q.assigned_to_id WHERE q.title IN ('Test 4', 'Test 123') ORDER BY q.title"),
        ["student2", "student1"]
    );
}

#[test]
fn log_verify_names_an_edited_a_removed_and_a_reordered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    for _ in 0..3 {
        ok(d, &["collect"]);
    }
    assert_eq!(run(d, &["audit"]).code, 1);
    assert!(ok(d, &["log", "--verify"]).contains("verified: 4 entries"));
    let store = d.join("driftwatch.db");
    let tamper = |sql: &str| {
        let c = rusqlite::Connection::open(&store).unwrap();
        // The triggers refuse it; someone with the file can drop them, and the chain tells.
        let refused = c.execute_batch("UPDATE audit_log SET actor = 'x' WHERE seq = 2");
        assert!(refused.unwrap_err().to_string().contains("append-only"));
        c.execute_batch(&format!(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql}"
        ))
        .unwrap();
    };
    let copy = |name: &str| {
        std::fs::copy(&store, d.join(name)).unwrap();
    };
    copy("clean.db");
    tamper("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2");
    let r = run(d, &["log", "--verify"]);
    assert!(
        r.code == 1 && r.stdout.contains("BROKEN at entry 2") && r.stdout.contains("edited"),
        "{}",
        r.stdout
    );
    std::fs::copy(d.join("clean.db"), &store).unwrap();
    let _ = std::fs::remove_file(d.join("driftwatch.db-wal"));
    tamper("DELETE FROM audit_log WHERE seq = 3");
    let r = run(d, &["log", "--verify"]);
    assert!(
        r.code == 1 && r.stdout.contains("entry 3 is missing"),
        "{}",
        r.stdout
    );
    std::fs::copy(d.join("clean.db"), &store).unwrap();
    tamper(
        "UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 100",
    );
    let r = run(d, &["log", "--verify"]);
    assert!(
        r.code == 1 && r.stdout.contains("BROKEN at entry 2"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_suppressed_violation_is_listed_apart_not_counted_not_planned_and_counts_again_when_it_expires()
{
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    ok(d, &["collect"]);
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(
        serde_json::from_str::<Json>(&r.stdout).unwrap()["total_issues"],
        5
    );
    let out = ok(
        d,
        &[
            "suppress",
            "approved_application_has_participant",
            "9",
            "--reason",
            "student2 withdrew by mail",
            "--until",
            "2099-01-01",
        ],
    );
    assert!(out.contains("suppression 1"), "{out}");
    let r = run(d, &["audit", "--detailed"]);
    assert!(
        r.stdout.contains("TOTAL ISSUES: 4")
            && r.stdout.contains("Suppressed (found, not counted)")
            && r.stdout.contains("student2 withdrew by mail"),
        "{}",
        r.stdout
    );
    ok(d, &["plan", "--out", "plan.json"]);
    let plan: Json =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["summary"]["insert"], 2);
    // From a file under version control, with an expiry in the past: it counts again.
    write(d, "suppressions.toml", "[[suppress]]\nrule = \"quest_with_participants_has_assignee\"\nkey = [\"4\"]\nreason = \"waiting for the mentor\"\nuntil = \"2020-01-01\"\n");
    let cfg = std::fs::read_to_string(d.join("driftwatch.toml")).unwrap();
    write(
        d,
        "driftwatch.toml",
        &format!("suppressions = \"suppressions.toml\"\n{cfg}"),
    );
    let list = ok(d, &["suppress", "--list"]);
    assert!(
        list.contains("expired") && list.contains("active"),
        "{list}"
    );
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(
        serde_json::from_str::<Json>(&r.stdout).unwrap()["total_issues"],
        4
    );
    ok(d, &["suppress", "--remove", "1"]);
    let r = run(d, &["audit", "--format", "json"]);
    assert_eq!(
        serde_json::from_str::<Json>(&r.stdout).unwrap()["total_issues"],
        5
    );
    let log = ok(d, &["log", "--format", "csv"]);
    assert!(
        log.contains("suppress,") && log.contains("suppress --remove"),
        "{log}"
    );
    let findings = ok(d, &["export", "findings"]);
    assert!(
        findings.starts_with("rule,key,subject,first_run"),
        "{findings}"
    );
    assert_eq!(findings.lines().count(), 6, "{findings}");
}

#[test]
fn check_points_at_a_fix_verb_the_source_does_not_have_and_plan_notes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    let rules = std::fs::read_to_string(repo().join("queries/peerquest.rules"))
        .unwrap()
        .replace(
            "fix ssot.update quests_quest(status = 'in-progress') where id = q.id",
            "fix ssot.set_status(status = 'in-progress')",
        );
    write(d, "pq.rules", &rules);
    let r = run(d, &["check", "pq.rules"]);
    assert!(
        r.code == 2
            && r.stderr.contains("source ssot has no verb `set_status`")
            && r.stderr.contains("pq.rules:47:12")
            && r.stderr.contains("it takes insert, update"),
        "{}",
        r.stderr
    );
    ok(d, &["collect"]);
    let r = run(d, &["plan", "--rules", "pq.rules"]);
    assert!(
        r.stderr
            .contains("rule quest_with_participants_is_not_open: its fix is not planned"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_applied_action_is_confirmed_when_its_violation_goes_and_reverted_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    ok(d, &["collect", "--at", "2026-11-01T06:00:00Z"]);
    ok(d, &["plan", "--out", "plan.json"]);
    ok(d, &["apply", "plan.json"]);
    let states = |d: &Path| -> Vec<(i64, String)> {
        let log: Json = serde_json::from_str(&ok(d, &["log", "--format", "json"])).unwrap();
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["command"] == "apply")
            .map(|e| {
                (
                    e["action_id"].as_i64().unwrap(),
                    e["verification"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    // No run evaluated since: unconfirmed.
    assert!(
        states(d).iter().all(|(_, s)| s == "unconfirmed"),
        "{:?}",
        states(d)
    );
    ok(d, &["collect", "--at", "2026-11-02T06:00:00Z"]);
    let _ = run(d, &["audit"]);
    assert!(
        states(d).iter().all(|(_, s)| s == "confirmed"),
        "{:?}",
        states(d)
    );
    // Someone takes student3's participant record out again.
    rusqlite::Connection::open(d.join("ssot.db"))
        .unwrap()
        .execute(
            "DELETE FROM quests_questparticipant WHERE quest_id = 3 AND user_id = 4",
            [],
        )
        .unwrap();
    ok(d, &["collect", "--at", "2026-11-03T06:00:00Z"]);
    let _ = run(d, &["audit"]);
    let now = states(d);
    let reverted: Vec<i64> = now
        .iter()
        .filter(|(_, s)| s == "reverted")
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(reverted.len(), 1, "{now:?}");
    let detailed = run(d, &["audit", "--detailed"]).stdout;
    assert!(detailed.contains("reverted (plan"), "{detailed}");
}

#[test]
fn a_plan_edited_to_write_a_source_without_write_credentials_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    peerquest(d);
    // The same sample, without its [sources.ssot.write] table.
    let config = std::fs::read_to_string(d.join("driftwatch.toml")).unwrap();
    write(
        d,
        "driftwatch.toml",
        &config.replace("[sources.ssot.write]", ""),
    );
    ok(d, &["collect"]);
    ok(d, &["plan", "--out", "plan.json"]);
    let text = std::fs::read_to_string(d.join("plan.json")).unwrap();
    assert!(text.contains("\"op\":\"notify\""), "{text}");
    // Someone turns the notifications into writes by hand.
    write(
        d,
        "plan.json",
        &text.replace(
            "\"op\":\"notify\",\"platform\":\"ssot\",\"verb\":\"insert\"",
            "\"op\":\"insert\",\"platform\":\"ssot\",\"verb\":\"insert\"",
        ),
    );
    let r = run(d, &["apply", "plan.json"]);
    assert!(
        r.code == 3 && r.stdout.contains("is never written"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(
        ssot(d, "SELECT count(*) FROM quests_questparticipant"),
        ["8"]
    );
}
