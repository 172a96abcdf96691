//! Graph delta collection: a history collected through delta links equals, snapshot for
//! snapshot, the history full reads record, over a scripted history of changes on the stateful
//! fake — users changed, added, removed and added again, groups added and removed, links that
//! expire (410 Gone, 400 `syncStateNotFound`), a collection that fails half way; group
//! members added and removed, a group removed, a nested group, a member renamed.

use crate::fake_platforms::{run, Fake, State};
use serde_json::json;
use std::path::Path;

fn setup(fake: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("driftwatch.toml"),
        format!(
            "store = \"store.db\"\n{}",
            fake.server
                .graph_config("entra", &["group_members", "users", "groups"], "")
        ),
    )
    .unwrap();
    dir
}

fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let r = run(dir, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    (r.stdout, r.stderr)
}

/// The reads of users the fake received since `from`.
fn user_reads(fake: &Fake, from: usize) -> Vec<String> {
    fake.with(|s| s.reads[from..].to_vec())
        .into_iter()
        .filter(|r| r.starts_with("/v1.0/users"))
        .collect()
}

fn set(fake: &Fake, user: usize, field: &str, value: serde_json::Value) {
    fake.with(|s| s.users[user][field] = value);
}

fn id(s: &State, user: usize) -> String {
    s.users[user]["id"].as_str().unwrap().to_string()
}

/// Removes user `i`, from its groups too (as Entra does); returns it.
fn remove_user(s: &mut State, i: usize) -> serde_json::Value {
    let gone = s.users.remove(i);
    for members in s.groups.values_mut() {
        members.retain(|m| gone["id"] != m.as_str());
    }
    gone
}

/// Users 10–15 in `grp-a`; `grp-nested` holds `grp-a` and user 16.
fn tenant() -> State {
    let mut s = State::from_sample(&crate::common::repo().join("samples/lms/day-1"));
    let a = (10..16).map(|i| id(&s, i)).collect();
    s.groups.insert("grp-a".into(), a);
    let nested = vec!["grp-a".to_string(), id(&s, 16)];
    s.groups.insert("grp-nested".into(), nested);
    s
}

#[test]
fn a_delta_collected_history_equals_what_full_reads_record_snapshot_for_snapshot() {
    let fake = Fake::start(tenant());
    let (delta, full) = (setup(&fake), setup(&fake));
    let day = |n: u32| format!("2026-03-{n:02}T06:00:00Z");
    // Each step changes the tenant, then both stores collect it as of the same time. `expect`
    // says how the delta store reads users: "delta" (only the link), "full" (a full list).
    type Step = (&'static str, fn(&Fake));
    let steps: Vec<Step> = vec![
        ("full", |_| {}),  // the first collection reads everything
        ("delta", |_| {}), // nothing changed: one request, no rows
        ("delta", |f| {
            set(f, 0, "displayName", json!("Renamed Person"));
            set(f, 1, "accountEnabled", json!(false));
            set(f, 2, "mail", serde_json::Value::Null);
            f.with(|s| {
                let mut u = s.users[3].clone();
                u["id"] = json!("new-user-1");
                u["userPrincipalName"] = json!("new1@contoso.example");
                s.users.push(u);
                s.groups.insert("grp-new".into(), Vec::new());
                s.groups.get_mut("grp-a").unwrap().push("new-user-1".into());
                // A member of grp-a renamed: its membership row takes the new name.
                s.users[11]["displayName"] = json!("Member Renamed");
            });
        }),
        ("delta", |f| {
            f.with(|s| {
                remove_user(s, 4);
                s.groups.remove("grp-staff");
                let gone = id(s, 12);
                s.groups.get_mut("grp-a").unwrap().retain(|m| *m != gone);
            });
        }),
        ("full", |f| {
            // Every link expired (410 Gone): a note, and a full read.
            f.with(|s| {
                s.delta.expire_before = s.delta.issued();
                s.delta.expired_with = 410;
                let gone = s.users.remove(5);
                s.deleted_users
                    .push(gone["id"].as_str().unwrap().to_string());
            });
        }),
        ("delta", |f| {
            set(f, 6, "userType", json!("Guest"));
            f.with(|s| {
                let joins = id(s, 13);
                s.groups.get_mut("grp-nested").unwrap().push(joins);
                // A user of the nested group renamed: the group is read whole.
                s.users[16]["displayName"] = json!("Nested Renamed");
            });
        }),
        ("full", |f| {
            f.with(|s| {
                s.delta.expire_before = s.delta.issued();
                s.delta.expired_with = 400;
                // A user removed and added back under the same id in one step: unchanged.
                let back = s.users.remove(7);
                s.users.push(back);
                s.users[8]["displayName"] = json!("Again Renamed");
            });
        }),
        ("delta", |f| {
            // Removed in one round, back with a change in the next.
            f.with(|s| {
                let gone = remove_user(s, 9);
                s.deleted_users.push(serde_json::to_string(&gone).unwrap());
            });
        }),
        ("delta", |f| {
            f.with(|s| {
                let back: serde_json::Value =
                    serde_json::from_str(s.deleted_users.last().unwrap()).unwrap();
                let mut back = back;
                back["displayName"] = json!("Returned");
                s.users.push(back);
            });
        }),
    ];
    for (i, (expect, change)) in steps.iter().enumerate() {
        change(&fake);
        let at = day(i as u32 + 1);
        let before = fake.with(|s| s.reads.len());
        let (d_out, d_err) = ok(delta.path(), &["collect", "--at", &at, "--format", "json"]);
        let reads = user_reads(&fake, before);
        let between = fake.with(|s| s.reads.len());
        let (f_out, _) = ok(
            full.path(),
            &["collect", "--full", "--at", &at, "--format", "json"],
        );
        assert_eq!(
            d_out,
            f_out,
            "step {}: the collections' counts differ",
            i + 1
        );
        let listed = reads.iter().any(|r| r.starts_with("/v1.0/users?"));
        let followed = reads
            .iter()
            .any(|r| r.starts_with("/v1.0/users/delta?$deltatoken=") && !r.ends_with("=latest"));
        match *expect {
            "delta" => {
                assert!(followed && !listed, "step {}: {reads:#?}", i + 1);
                assert!(d_err.is_empty(), "step {}: {d_err}", i + 1);
                // Group members by the group delta: only the group with a nested group
                // (whose members' names no delta tracks) is listed.
                let groups: Vec<String> = fake
                    .with(|s| s.reads[before..between].to_vec())
                    .into_iter()
                    .filter(|r| r.starts_with("/v1.0/groups"))
                    .collect();
                assert!(
                    groups
                        .iter()
                        .any(|r| r.starts_with("/v1.0/groups/delta?$deltatoken="))
                        && !groups.iter().any(|r| r.starts_with("/v1.0/groups?")
                            || r.starts_with("/v1.0/groups/grp-a/")),
                    "step {}: {groups:#?}",
                    i + 1
                );
            }
            _ => assert!(listed, "step {}: {reads:#?}", i + 1),
        }
        if i == 4 || i == 6 {
            assert!(
                d_err.contains("no longer knows where its changes resume")
                    && d_err.contains(if i == 4 { "410" } else { "syncStateNotFound" }),
                "step {}: {d_err}",
                i + 1
            );
        }
        // --full reads everything, whatever links it has.
        assert!(
            user_reads(&fake, between)
                .iter()
                .any(|r| r.starts_with("/v1.0/users?")),
            "step {}",
            i + 1
        );
    }
    for run_id in 1..=steps.len() {
        for entity in ["entra.users", "entra.groups", "entra.group_members"] {
            let args = ["export", entity, "--at", &run_id.to_string()];
            assert_eq!(
                ok(delta.path(), &args).0,
                ok(full.path(), &args).0,
                "{entity} at run {run_id}"
            );
        }
    }
    // The history is a real one: renamed, disabled, added, removed, back.
    let last = ok(delta.path(), &["export", "entra.users"]).0;
    assert!(
        last.contains("Renamed Person") && last.contains("Returned") && last.contains("new-user-1")
    );
    // The link is the store's alone: no output or log shows a delta token.
    let log = ok(delta.path(), &["log"]).0;
    assert!(log.contains("$deltatoken=…"), "{log}");
    assert!(
        log.split("deltatoken=")
            .skip(1)
            .all(|rest| rest.starts_with('…')),
        "{log}"
    );
}

#[test]
fn a_delta_collection_that_fails_half_way_keeps_the_store_and_its_link() {
    let fake = Fake::start(tenant());
    let dir = setup(&fake);
    ok(dir.path(), &["collect", "--at", "2026-03-01T06:00:00Z"]);
    // Enough changes for two pages; the second page is malformed: the collection fails.
    fake.with(|s| {
        for u in s.users.iter_mut().take(8) {
            u["displayName"] = json!("Changed");
        }
    });
    let before = ok(dir.path(), &["export", "entra.users"]).0;
    fake.with(|s| s.break_delta_page = true);
    let r = run(dir.path(), &["collect", "--at", "2026-03-02T06:00:00Z"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("(page 2): malformed or truncated JSON")
            && r.stderr.contains("not recorded"),
        "{}",
        r.stderr
    );
    assert_eq!(ok(dir.path(), &["export", "entra.users"]).0, before);
    // The next collection resumes from the same link and sees every change.
    fake.with(|s| s.break_delta_page = false);
    let from = fake.with(|s| s.reads.len());
    ok(dir.path(), &["collect", "--at", "2026-03-03T06:00:00Z"]);
    let reads = user_reads(&fake, from);
    // Users are collected first: theirs is the first link issued.
    let resumed = "/v1.0/users/delta?$deltatoken=0".to_string();
    assert!(
        reads.iter().any(|r| r == &resumed),
        "{resumed} not in {reads:#?}"
    );
    let after = ok(dir.path(), &["export", "entra.users"]).0;
    assert_eq!(after.matches("Changed").count(), 8, "{after}");
}
