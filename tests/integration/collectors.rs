//! What each collector makes of its source: columns, types, schema growth, and the rules a
//! store keeps across snapshots (time order, fixed keys and types).

use crate::common::{fails, ok, run, write};
use driftwatch::store::Store;
use driftwatch::value::ColumnType;

fn column_types(dir: &std::path::Path, label: &str) -> Vec<(String, ColumnType)> {
    let store = Store::open_existing(&dir.join("driftwatch.db")).unwrap();
    store
        .entity_by_label(label)
        .unwrap()
        .columns
        .into_iter()
        .map(|c| (c.name, c.ty))
        .collect()
}

fn named(cols: &[(&str, ColumnType)]) -> Vec<(String, ColumnType)> {
    cols.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

#[test]
fn json_without_columns_collects_every_top_level_field_with_types_from_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.wp]\nkind = \"json\"\n[sources.wp.entities.users]\npath = \"users.json\"\nkey = [\"id\"]\n");
    write(
        d,
        "users.json",
        r#"[{"id": 7, "username": "jdoe", "roles": ["subscriber", "editor"], "score": 2, "verified": true, "@odata.type": "x"},
            {"id": 8, "username": "amy", "roles": [], "score": 2.5, "verified": false, "extra": null}]"#,
    );
    ok(d, &["collect"]);
    use ColumnType::*;
    let want = named(&[
        ("id", Integer),
        ("username", Text),
        ("roles", Text),
        ("score", Real),
        ("verified", Bool),
        ("extra", Text),
    ]);
    assert_eq!(column_types(d, "wp.users"), want);
    assert_eq!(ok(d, &["export", "wp.users"]), "id,username,roles,score,verified,extra\n7,jdoe,\"editor,subscriber\",2,true,\n8,amy,,2.5,false,\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["export", "wp.users", "--format", "json"])).unwrap();
    assert_eq!(json[0]["verified"], true);
    assert_eq!(json[1]["score"], 2.5);
    assert_eq!(json[1]["extra"], serde_json::Value::Null);
}

#[test]
fn sqlite_types_come_from_declared_column_types_and_from_values_for_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = rusqlite::Connection::open(d.join("app.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE t (id integer PRIMARY KEY, name varchar(20), active bool, joined datetime);
         INSERT INTO t VALUES (1, 'Ann', 1, '2024-01-02 03:04:05'), (2, 'Bo', 0, NULL);",
    )
    .unwrap();
    drop(db);
    write(
        d,
        "driftwatch.toml",
        "[sources.app]\nkind = \"sqlite\"\npath = \"app.db\"\n[sources.app.entities.t]\nquery = \"SELECT id, name, active, joined, id * 2 AS twice, NULL AS missing FROM t ORDER BY id DESC\"\nkey = [\"id\"]\n",
    );
    ok(d, &["collect"]);
    use ColumnType::*;
    let want = named(&[
        ("id", Integer),
        ("name", Text),
        ("active", Bool),
        ("joined", Timestamp),
        ("twice", Integer),
        ("missing", Text),
    ]);
    assert_eq!(column_types(d, "app.t"), want);
    assert_eq!(
        ok(d, &["export", "app.t"]),
        "id,name,active,joined,twice,missing\n1,Ann,true,2024-01-02T03:04:05Z,2,\n2,Bo,false,,4,\n"
    );
}

#[test]
fn a_bad_sqlite_query_and_a_missing_database_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.app]\nkind = \"sqlite\"\npath = \"app.db\"\n[sources.app.entities.t]\nquery = \"SELECT id FROM nope\"\n");
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("sources.app.path: database") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    rusqlite::Connection::open(d.join("app.db"))
        .unwrap()
        .execute_batch("CREATE TABLE t (id integer)")
        .unwrap();
    fails(
        d,
        &["collect"],
        2,
        "sources.app.entities.t.query: no such table: nope",
    );
}

#[test]
fn a_column_added_later_reads_empty_in_older_runs_and_is_filled_in_place_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.s]\nkind = \"json\"\n[sources.s.entities.m]\npath = \"m-${n}.json\"\nrecords = \"value\"\nkey = [\"id\"]\n");
    write(
        d,
        "m-1.json",
        r#"{"value": [{"id": "a", "x": 1}, {"id": "b", "x": 2}]}"#,
    );
    write(
        d,
        "m-2.json",
        r#"{"value": [{"y": "new", "id": "a", "x": 1}, {"id": "b", "x": 3}]}"#,
    );
    ok(d, &["collect", "--var", "n=1", "--at", "2026-11-01"]);
    ok(d, &["collect", "--var", "n=2", "--at", "2026-11-02"]);
    assert_eq!(
        ok(d, &["export", "s.m", "--at", "1"]),
        "id,x,y\na,1,\nb,2,\n"
    );
    assert_eq!(
        ok(d, &["export", "s.m", "--at", "2"]),
        "id,x,y\na,1,new\nb,3,\n"
    );
    let snaps = ok(d, &["snapshots", "--format", "csv"]);
    assert!(
        snaps
            .lines()
            .last()
            .unwrap()
            .contains(",s,complete,2,0,1,0,"),
        "only b changed; a got its new column in place: {snaps}"
    );
    // Three row versions: a (its y filled in place), b before and after; not a copy of a.
    let store = rusqlite::Connection::open(d.join("driftwatch.db")).unwrap();
    let versions: i64 = store
        .query_row("SELECT count(*) FROM e_s__m", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 3);
    // The data diff sees b's change only; a query at run 1 cannot name y, at run 2 it can.
    let diff = ok(
        d,
        &[
            "diff", "--from", "1", "--to", "2", "--data", "--format", "json",
        ],
    );
    let diff: serde_json::Value = serde_json::from_str(&diff).unwrap();
    assert_eq!(diff["data"][0]["changed"], 1, "{diff}");
    let at2 = ok(
        d,
        &[
            "query",
            "--at",
            "2",
            "for m in s.m where m.y = 'new' show m.id",
            "--format",
            "csv",
        ],
    );
    assert!(at2.contains("\na\n"), "{at2}");
    let r = crate::common::run(
        d,
        &[
            "query",
            "--at",
            "1",
            "for m in s.m where m.y = 'new' show m.id",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
}

#[test]
fn a_recorded_type_and_key_cannot_change_and_runs_come_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = |types: &str, key: &str| {
        format!("[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.p]\npath = \"p.csv\"\nkey = [{key}]\ntypes = {{ {types} }}\n")
    };
    write(
        d,
        "driftwatch.toml",
        &cfg("id = \"integer\", score = \"real\"", "\"id\""),
    );
    write(d, "p.csv", "id,score\n1,1.5\n");
    ok(d, &["collect", "--at", "2026-11-05"]);
    fails(
        d,
        &["collect", "--at", "2026-11-04"],
        2,
        "a run at 2026-11-04T00:00:00Z would come before run 1 at 2026-11-05T00:00:00Z",
    );
    write(
        d,
        "driftwatch.toml",
        &cfg("id = \"integer\", score = \"integer\"", "\"id\""),
    );
    fails(
        d,
        &["collect", "--at", "2026-11-06"],
        2,
        "column `score` was recorded as real and is now integer",
    );
    write(
        d,
        "driftwatch.toml",
        &cfg("id = \"integer\", score = \"real\"", "\"score\""),
    );
    fails(
        d,
        &["collect", "--at", "2026-11-07"],
        2,
        "a key cannot change",
    );
    assert_eq!(ok(d, &["export", "hr.p", "--out", "p-out.csv"]), "");
    assert_eq!(
        std::fs::read_to_string(d.join("p-out.csv")).unwrap(),
        "id,score\n1,1.5\n"
    );
}

#[test]
fn composite_keys_identify_rows_across_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.lms]\nkind = \"csv\"\n[sources.lms.entities.cu]\npath = \"cu-${n}.csv\"\nkey = [\"course_id\", \"user_id\"]\ntypes = { course_id = \"integer\", user_id = \"integer\" }\n");
    write(
        d,
        "cu-1.csv",
        "course_id,user_id,status\n1,10,a\n1,11,a\n2,10,a\n",
    );
    write(
        d,
        "cu-2.csv",
        "course_id,user_id,status\n2,10,b\n1,10,a\n2,11,a\n",
    );
    ok(d, &["collect", "--var", "n=1", "--at", "2026-11-01"]);
    ok(d, &["collect", "--var", "n=2", "--at", "2026-11-02"]);
    let csv = ok(
        d,
        &[
            "diff", "--from", "1", "--to", "2", "--data", "--format", "csv",
        ],
    );
    assert_eq!(
        csv,
        "entity,change,key,column,before,after\nlms.cu,removed,\"1, 11\",course_id,1,\nlms.cu,removed,\"1, 11\",user_id,11,\nlms.cu,removed,\"1, 11\",status,a,\nlms.cu,changed,\"2, 10\",status,a,b\nlms.cu,added,\"2, 11\",course_id,,2\nlms.cu,added,\"2, 11\",user_id,,11\nlms.cu,added,\"2, 11\",status,,a\n"
    );
    assert_eq!(
        ok(d, &["export", "lms.cu"]),
        "course_id,user_id,status\n1,10,a\n2,10,b\n2,11,a\n"
    );
}
