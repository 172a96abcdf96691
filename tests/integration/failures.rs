//! Failures half way: a killed process, a failing source among good ones, two writers at once.
//! None of them may leave a partial snapshot or change an earlier run.

use crate::common::{assert_same, driftwatch, fails, finish, ok, run, write};
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

fn big_csv(rows: usize, tag: &str) -> String {
    let mut s = String::with_capacity(rows * 40);
    s.push_str("id,name,team,score\n");
    for i in 0..rows {
        s.push_str(&format!(
            "{i},name-{i}-{tag},team-{},{}\n",
            i % 17,
            i % 1000
        ));
    }
    s
}

const CONFIG: &str =
    "[sources.big]\nkind = \"csv\"\n[sources.big.entities.t]\npath = \"t.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n";

#[test]
fn a_collection_killed_mid_way_leaves_every_earlier_run_as_it_was_and_no_partial_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "t.csv", &big_csv(2_000, "first"));
    ok(d, &["collect", "--at", "2026-11-01"]);
    let before = ok(d, &["export", "big.t"]);
    let snapshots_before = ok(d, &["snapshots", "--format", "csv"]);
    // The source is a named pipe: the collection reads the rows written so far, then waits for
    // more, in the middle of its transaction, and is killed there.
    let fifo = d.join("t.csv");
    std::fs::remove_file(&fifo).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = driftwatch(d)
        .args(["collect", "--at", "2026-11-02"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (sent, written) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // Every row differs from the first run's, so the writer has been changing rows.
        pipe.write_all(big_csv(100_000, "second").as_bytes())
            .unwrap();
        sent.send(()).unwrap();
        pipe // held open: the reader sees no end of file
    });
    let in_time = written.recv_timeout(Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the collection ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    in_time.expect("the collection read the rows written to the pipe");
    drop(writer.join().unwrap());
    std::fs::remove_file(d.join("t.csv")).unwrap();
    assert_eq!(
        ok(d, &["snapshots", "--format", "csv"]),
        snapshots_before,
        "no run of the killed collection is visible"
    );
    assert_same(&ok(d, &["export", "big.t"]), &before);
    let conn = rusqlite::Connection::open(d.join("driftwatch.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    // The store goes on working.
    write(d, "t.csv", &big_csv(10, "third"));
    ok(d, &["collect", "--at", "2026-11-03"]);
    assert_eq!(ok(d, &["export", "big.t"]), big_csv(10, "third"));
    assert_same(&ok(d, &["export", "big.t", "--at", "1"]), &before);
}

#[test]
fn a_failing_source_is_recorded_failed_while_the_other_sources_of_the_run_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.a]\nkind = \"csv\"\n[sources.a.entities.t]\npath = \"a.csv\"\nkey = [\"id\"]\n[sources.b]\nkind = \"csv\"\n[sources.b.entities.t]\npath = \"b.csv\"\nkey = [\"id\"]\n");
    write(d, "a.csv", "id,v\n1,a1\n");
    write(d, "b.csv", "id,v\n1,b1\n");
    ok(d, &["collect", "--at", "2026-11-01"]);
    write(d, "a.csv", "id,v\n1,a2\n");
    write(d, "b.csv", "id,v\n1,b2\n2\n");
    // Naming a source twice collects it once.
    let r = run(
        d,
        &[
            "collect",
            "--at",
            "2026-11-02",
            "--source",
            "b",
            "--source",
            "a",
            "--source",
            "b",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("collection failed for b") && r.stderr.contains("b.csv"),
        "{}",
        r.stderr
    );
    assert_eq!(ok(d, &["export", "a.t"]), "id,v\n1,a2\n");
    assert_eq!(ok(d, &["export", "b.t"]), "id,v\n1,b1\n");
    let snaps: serde_json::Value =
        serde_json::from_str(&ok(d, &["snapshots", "--format", "json"])).unwrap();
    let statuses: Vec<(&str, &str)> = snaps[1]["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("a", "complete"), ("b", "failed")]);
}

#[test]
fn two_collections_at_once_take_turns_and_both_land_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "t.csv", &big_csv(200_000, "x"));
    ok(d, &["collect", "--at", "2026-11-01"]);
    write(d, "t.csv", &big_csv(200_000, "y"));
    let spawn = || {
        driftwatch(d)
            .arg("collect")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let r = finish(child.wait_with_output().unwrap());
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let snaps: serde_json::Value =
        serde_json::from_str(&ok(d, &["snapshots", "--format", "json"])).unwrap();
    let runs = snaps.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    // One of the two wrote the changes, the other found nothing new: never a mix.
    let changed: Vec<i64> = runs[1..]
        .iter()
        .map(|r| r["snapshots"][0]["changed"].as_i64().unwrap())
        .collect();
    assert_eq!(changed, [200_000, 0]);
    assert_same(&ok(d, &["export", "big.t"]), &big_csv(200_000, "y"));
}

#[test]
fn export_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "t.csv", &big_csv(50_000, "p"));
    ok(d, &["collect"]);
    let mut child = driftwatch(d)
        .args(["export", "big.t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap(); // then the pipe closes
    let r = finish(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_snapshot_that_loses_most_rows_is_flagged_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    write(d, "t.csv", &big_csv(100, "a"));
    ok(d, &["collect", "--at", "2026-11-01"]);
    write(d, "t.csv", &big_csv(60, "a"));
    let r = run(d, &["collect", "--at", "2026-11-02"]);
    assert_eq!(r.code, 0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    write(d, "t.csv", &big_csv(5, "a"));
    fails(
        d,
        &["collect", "--at", "2026-11-03"],
        0,
        "warning: big.t lost 55 of its 60 rows",
    );
}
