//! Bad config, bad files and bad types: a clear error naming the place, exit code 2, and
//! nothing lost.

use crate::common::{fails, ok, run, write};

fn setup(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "driftwatch.toml", config);
    dir
}

const CSV: &str = "[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", score = \"real\" }\n";

#[test]
fn a_bad_value_names_file_line_record_and_field_and_the_store_keeps_the_earlier_run() {
    let dir = setup(CSV);
    let d = dir.path();
    write(d, "people.csv", "id,name,score\n1,Ann,1.5\n2,Bo,2\n");
    ok(d, &["collect", "--at", "2026-11-01"]);
    let before = ok(d, &["export", "hr.people"]);
    write(
        d,
        "people.csv",
        "id,name,score\n1,Ann,1.5\n2,Bo,2\n3,Cy,lots\n",
    );
    fails(
        d,
        &["collect", "--at", "2026-11-02"],
        2,
        "people.csv:4: record 3, field `score`: expected real, found \"lots\"",
    );
    assert_eq!(ok(d, &["export", "hr.people"]), before);
    let snaps: serde_json::Value =
        serde_json::from_str(&ok(d, &["snapshots", "--format", "json"])).unwrap();
    assert_eq!(snaps[1]["snapshots"][0]["status"], "failed");
    assert!(snaps[1]["snapshots"][0]["error"]
        .as_str()
        .unwrap()
        .contains("record 3"));
}

#[test]
fn a_missing_file_and_a_missing_config_are_named() {
    let dir = setup(CSV);
    let r = run(dir.path(), &["collect"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("people.csv") && r.stderr.contains("No such file"),
        "{}",
        r.stderr
    );
    let empty = tempfile::tempdir().unwrap();
    fails(empty.path(), &["collect"], 2, "driftwatch.toml");
    fails(
        empty.path(),
        &["--config", "nope.toml", "collect"],
        2,
        "nope.toml",
    );
}

#[test]
fn an_unset_variable_is_named_with_its_key() {
    let dir = setup(&CSV.replace("people.csv", "people-${day}.csv"));
    fails(
        dir.path(),
        &["collect"],
        2,
        "sources.hr.entities.people.path: variable `day` is not set",
    );
}

#[test]
fn config_typos_are_reported_with_the_key() {
    let dir = setup("[sources.hr]\nkind = \"csv\"\n[sources.hr.entities.people]\npath = \"p.csv\"\nkey = [\"id\"]\ntyeps = {}\n");
    fails(dir.path(), &["collect"], 2, "tyeps");
    let dir = setup(&CSV.replace("score = \"real\"", "scor = \"real\""));
    write(dir.path(), "people.csv", "id,name,score\n1,Ann,1.5\n");
    let r = run(dir.path(), &["collect"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`scor`") && r.stderr.contains("did you mean `score`?"),
        "{}",
        r.stderr
    );
}

#[test]
fn malformed_json_and_bad_json_types_name_file_position_record_and_field() {
    let cfg = "[sources.t]\nkind = \"json\"\n[sources.t.entities.m]\npath = \"m-*.json\"\nrecords = \"value\"\nkey = [\"id\"]\ncolumns = { id = \"id\", n = \"a.n\" }\ntypes = { n = \"integer\" }\n";
    let dir = setup(cfg);
    let d = dir.path();
    write(d, "m-1.json", r#"{"value": [{"id": "x", "a": {"n": 1}}]}"#);
    write(
        d,
        "m-2.json",
        "{\"value\": [\n{\"id\": \"y\", \"a\": {\"n\": 2}},\n{\"id\": \"z\" \"a\": 3}]}",
    );
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("m-2.json:3:") && r.stderr.contains("malformed JSON"),
        "{}",
        r.stderr
    );
    write(
        d,
        "m-2.json",
        r#"{"value": [{"id": "y", "a": {"n": 2}}, {"id": "z", "a": {"n": "three"}}]}"#,
    );
    fails(
        d,
        &["collect"],
        2,
        "m-2.json: record 2, field `n` (`a.n`): expected integer, found \"three\"",
    );
    write(d, "m-2.json", r#"{"value": [{"id": "y", "a": {"n": 2}}]}"#);
    ok(d, &["collect"]);
    assert_eq!(ok(d, &["export", "t.m"]), "id,n\nx,1\ny,2\n");
}

#[test]
fn a_duplicate_key_fails_the_snapshot_in_a_first_and_in_a_later_snapshot() {
    let dir = setup(CSV);
    let d = dir.path();
    write(
        d,
        "people.csv",
        "id,name,score\n1,Ann,1\n2,Bo,2\n3,Cy,3\n2,Di,4\n",
    );
    fails(
        d,
        &["collect"],
        2,
        "record 4: duplicate key id = 2 (first at record 2)",
    );
    write(d, "people.csv", "id,name,score\n1,Ann,1\n2,Bo,2\n");
    ok(d, &["collect"]);
    write(d, "people.csv", "id,name,score\n1,Ann,1\n2,Bo,2\n1,Al,5\n");
    fails(d, &["collect"], 2, "record 3: duplicate key id = 1");
    assert_eq!(
        ok(d, &["export", "hr.people"]),
        "id,name,score\n1,Ann,1\n2,Bo,2\n"
    );
}

#[test]
fn usage_errors_exit_2_and_unknown_entities_get_a_hint() {
    let dir = setup(CSV);
    let d = dir.path();
    assert_eq!(run(d, &["collect", "--frobnicate"]).code, 2);
    assert_eq!(run(d, &["collect", "--at", "last tuesday"]).code, 2);
    write(d, "people.csv", "id,name,score\n1,Ann,1\n");
    ok(d, &["collect"]);
    fails(d, &["export", "hr.peopel"], 2, "did you mean `hr.people`?");
    let r = run(d, &["export", "hr.people", "--at", "99"]);
    assert_eq!(r.code, 2);
    fails(
        d,
        &["--store", "missing.db", "snapshots"],
        3,
        "missing.db does not exist",
    );
}

#[test]
fn a_paged_export_that_stops_early_fails_instead_of_removing_rows() {
    let cfg = "[sources.t]\nkind = \"json\"\n[sources.t.entities.m]\npath = \"m-page-*.json\"\nrecords = \"value\"\nkey = [\"id\"]\n";
    let dir = setup(cfg);
    let d = dir.path();
    write(
        d,
        "m-page-1.json",
        r#"{"value": [{"id": "a"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=X"}"#,
    );
    write(d, "m-page-2.json", r#"{"value": [{"id": "b"}]}"#);
    ok(d, &["collect", "--at", "2026-11-01"]);
    // The page that would have followed page 1 is gone.
    std::fs::remove_file(d.join("m-page-2.json")).unwrap();
    fails(
        d,
        &["collect", "--at", "2026-11-02"],
        2,
        "m-page-1.json: the export is incomplete: the last page has an @odata.nextLink",
    );
    // A gap in the page numbers.
    write(d, "m-page-3.json", r#"{"value": [{"id": "c"}]}"#);
    fails(
        d,
        &["collect", "--at", "2026-11-03"],
        2,
        "m-page-3.json: the export is incomplete: page 3 follows page 1",
    );
    assert_eq!(ok(d, &["export", "t.m"]), "id\na\nb\n");
}
