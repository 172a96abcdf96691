//! What the benchmarks share: plain SQLite tables built by the sqlite3 shell (the baseline),
//! and medians of interleaved timings.

use std::path::Path;
use std::time::Duration;

pub fn has_sqlite3() -> bool {
    std::process::Command::new("sqlite3")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Creates `db` with `schema`, imports each (table, CSV file with a header row), then runs
/// `after`: with the sqlite3 shell's `.import`, or in-process when there is no shell.
pub fn import(db: &Path, schema: &str, tables: &[(&str, &Path)], after: &str) {
    if has_sqlite3() {
        let mut cmd = std::process::Command::new("sqlite3");
        cmd.arg(db).arg(schema);
        for (table, csv) in tables {
            cmd.arg(format!(".import --csv --skip 1 {} {table}", csv.display()));
        }
        if !after.is_empty() {
            cmd.arg(after);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        let mut c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch(schema).unwrap();
        let tx = c.transaction().unwrap();
        for (table, csv) in tables {
            let mut r = csv::Reader::from_path(csv).unwrap();
            let marks: Vec<String> = (1..=r.headers().unwrap().len())
                .map(|i| format!("?{i}"))
                .collect();
            let mut st = tx
                .prepare(&format!(
                    "INSERT INTO {table} VALUES ({})",
                    marks.join(", ")
                ))
                .unwrap();
            for rec in r.records() {
                st.execute(rusqlite::params_from_iter(rec.unwrap().iter()))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        c.execute_batch(after).unwrap();
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Writes `applications.csv` and `participants.csv` of `rows` rows each. Application i is for
/// quest i % `quests` by user i, approved unless i is a multiple of 5; participant i is on the
/// same quest as user i, or as another user where `broken(i)`: then application i has no
/// participant.
#[allow(dead_code)] // not every benchmark uses it
pub fn write_applications(dir: &Path, rows: usize, quests: usize, broken: impl Fn(usize) -> bool) {
    use std::io::Write;
    let file = |name: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    let (mut a, mut p) = (file("applications.csv"), file("participants.csv"));
    a.write_all(b"id,quest_id,applicant_id,status\n").unwrap();
    p.write_all(b"id,quest_id,user_id,status\n").unwrap();
    for i in 0..rows {
        let status = if i % 5 == 0 { "rejected" } else { "approved" };
        writeln!(a, "{i},{},{i},{status}", i % quests).unwrap();
        let user = if broken(i) { i + 10 * rows } else { i };
        writeln!(p, "{i},{},{user},joined", i % quests).unwrap();
    }
}
