//! Generated histories: the export of every run equals exactly the data collected for it,
//! through churn, deleted and re-added keys, an added column, and duplicate keyless rows.

use crate::common::{ok, write, Rng};
use std::collections::BTreeMap;

const CONFIG: &str = r#"
[sources.hr]
kind = "csv"
[sources.hr.entities.people]
path = "people-${n}.csv"
key = ["id"]
types = { id = "integer", score = "real", active = "bool", joined = "timestamp" }
[sources.hr.entities.events]
path = "events-${n}.csv"
types = { amount = "integer" }
"#;

/// Keyless rows: (kind, amount), duplicates included.
type Events = Vec<(String, i64)>;

#[derive(Clone)]
struct Person {
    name: String,
    score: f64,
    active: bool,
    joined: String,
    team: Option<String>,
}

fn person(rng: &mut Rng, id: i64) -> Person {
    Person {
        name: format!("person {id}, \"{}\"", rng.below(1000)),
        score: rng.below(400) as f64 / 4.0,
        active: rng.below(2) == 0,
        joined: format!(
            "2026-0{}-1{}T0{}:00:00Z",
            1 + rng.below(9),
            rng.below(10),
            rng.below(10)
        ),
        team: None,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn people_csv(people: &BTreeMap<i64, Person>, with_team: bool) -> String {
    let mut text = String::from("id,name,score,active,joined");
    text.push_str(if with_team { ",team\n" } else { "\n" });
    for (id, p) in people {
        let name = csv_field(&p.name);
        text.push_str(&format!(
            "{id},{name},{},{},{}",
            p.score, p.active, p.joined
        ));
        if with_team {
            text.push_str(&format!(",{}", p.team.clone().unwrap_or_default()));
        }
        text.push('\n');
    }
    text
}

fn events_csv(events: &[(String, i64)]) -> String {
    let mut text = String::from("kind,amount\n");
    for (k, a) in events {
        text.push_str(&format!("{k},{a}\n"));
    }
    text
}

#[test]
fn export_of_every_run_equals_the_data_collected_for_it_through_churn_new_columns_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", CONFIG);
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut people: BTreeMap<i64, Person> =
        (1..=300).map(|id| (id, person(&mut rng, id))).collect();
    let mut next_id = 301;
    let mut history: Vec<(BTreeMap<i64, Person>, Events)> = Vec::new();
    const RUNS: usize = 6;
    const TEAM_FROM: usize = 3; // the `team` column appears in the third snapshot
    for n in 1..=RUNS {
        if n > 1 {
            let ids: Vec<i64> = people.keys().copied().collect();
            for id in &ids {
                match rng.below(20) {
                    0 => {
                        people.remove(id);
                    }
                    1 | 2 => people.get_mut(id).unwrap().score += 0.5,
                    3 => people.get_mut(id).unwrap().active ^= true,
                    _ => {}
                }
            }
            for _ in 0..10 {
                people.insert(next_id, person(&mut rng, next_id));
                next_id += 1;
            }
            // A key deleted earlier comes back.
            if n == 4 {
                let back = (1..300)
                    .find(|id| !people.contains_key(id))
                    .expect("some key was deleted");
                people.insert(back, person(&mut rng, back));
            }
        }
        if n >= TEAM_FROM {
            for (id, p) in people.iter_mut() {
                if p.team.is_none() || rng.below(10) == 0 {
                    p.team = if id % 7 == 0 {
                        None
                    } else {
                        Some(format!("team-{}", rng.below(5)))
                    };
                }
            }
        }
        let text = people_csv(&people, n >= TEAM_FROM);
        write(d, &format!("people-{n}.csv"), &text);
        // Keyless events with real duplicates, whose number changes from run to run.
        let mut events: Vec<(String, i64)> = Vec::new();
        for _ in 0..40 {
            events.push((
                ["login", "logout", "upload"][rng.below(3) as usize].to_string(),
                rng.below(4) as i64,
            ));
        }
        let text = events_csv(&events);
        write(d, &format!("events-{n}.csv"), &text);
        ok(
            d,
            &[
                "collect",
                "--var",
                &format!("n={n}"),
                "--at",
                &format!("2026-11-0{n}T06:00:00Z"),
            ],
        );
        history.push((people.clone(), events));
    }
    for (i, (people, events)) in history.iter().enumerate() {
        let run = (i + 1).to_string();
        // Runs before the `team` column existed read it as empty.
        let want = people_csv(people, true);
        assert_eq!(
            ok(d, &["export", "hr.people", "--at", &run]),
            want,
            "hr.people at run {run}"
        );
        let mut sorted = events.clone();
        sorted.sort();
        let want = events_csv(&sorted);
        assert_eq!(
            ok(d, &["export", "hr.events", "--at", &run]),
            want,
            "hr.events at run {run}"
        );
    }
}

#[test]
fn unchanged_rows_are_stored_once_however_many_snapshots_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.s]\nkind = \"csv\"\n[sources.s.entities.t]\npath = \"t.csv\"\nkey = [\"id\"]\n",
    );
    let mut text = String::from("id,v\n");
    for i in 0..100 {
        text.push_str(&format!("{i},v{i}\n"));
    }
    write(d, "t.csv", &text);
    for n in 1..=5 {
        ok(d, &["collect", "--at", &format!("2026-11-0{n}")]);
    }
    text = text.replace("\n7,v7\n", "\n7,changed\n");
    write(d, "t.csv", &text);
    ok(d, &["collect", "--at", "2026-11-06"]);
    let store = driftwatch::store::Store::open_existing(&d.join("driftwatch.db")).unwrap();
    let versions: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM e_s__t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        versions, 101,
        "100 rows stored once, plus one new version of the changed row"
    );
    let stats = ok(d, &["snapshots", "--format", "csv"]);
    assert!(
        stats
            .lines()
            .last()
            .unwrap()
            .contains(",s,complete,100,0,1,0,"),
        "{stats}"
    );
}

#[test]
fn a_run_at_a_date_reads_the_latest_run_at_or_before_it_and_diff_counts_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", "[sources.s]\nkind = \"csv\"\n[sources.s.entities.t]\npath = \"t-${n}.csv\"\nkey = [\"id\"]\n");
    write(d, "t-1.csv", "id,v\n1,a\n2,b\n3,c\n");
    write(d, "t-2.csv", "id,v\n1,a\n2,B\n4,d\n");
    ok(
        d,
        &["collect", "--var", "n=1", "--at", "2026-11-01T06:00:00Z"],
    );
    ok(
        d,
        &["collect", "--var", "n=2", "--at", "2026-11-03T06:00:00Z"],
    );
    assert_eq!(
        ok(d, &["export", "s.t", "--at", "2026-11-02"]),
        "id,v\n1,a\n2,b\n3,c\n"
    );
    assert_eq!(
        ok(d, &["export", "s.t", "--at", "2026-11-03"]),
        "id,v\n1,a\n2,B\n4,d\n"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "diff", "--from", "1", "--to", "2", "--data", "--format", "json",
        ],
    ))
    .unwrap();
    let t = &json["data"][0];
    assert_eq!(
        (
            t["entity"].as_str(),
            t["added"].as_i64(),
            t["removed"].as_i64(),
            t["changed"].as_i64()
        ),
        (Some("s.t"), Some(1), Some(1), Some(1))
    );
    assert_eq!(t["rows"]["changed"][0]["before"]["v"], "b");
    assert_eq!(t["rows"]["changed"][0]["after"]["v"], "B");
    let table = ok(d, &["diff", "--from", "1", "--data"]);
    for cell in ["v: b → B", "id=3 v=c", "id=4 v=d"] {
        assert!(table.contains(cell), "{cell:?} in\n{table}");
    }
    let csv = ok(d, &["diff", "--from", "1", "--data", "--format", "csv"]);
    assert_eq!(csv, "entity,change,key,column,before,after\ns.t,changed,2,v,b,B\ns.t,removed,3,id,3,\ns.t,removed,3,v,c,\ns.t,added,4,id,,4\ns.t,added,4,v,,d\n");
}
