//! Store benchmarks, each against a baseline measured in the same run.
//!
//! `cargo bench` prints divan's timings for every case, then a summary of ratios against the
//! baselines (median of interleaved runs, so that a busy machine slows both sides alike):
//! - ingest: a 1,000,000-row, 6-column CSV into an empty store, and the next snapshot with 1%
//!   of rows changed, against `sqlite3 .import` of the same file into a plain table (target
//!   ≤ 1.5×; when the sqlite3 shell is missing, the same import done in-process);
//! - storage: 30 daily snapshots of 100,000 rows with 1% churn, against a store holding only
//!   the first (target ≤ 2×);
//! - reading an entity as of an old run, against reading the same rows from a plain table
//!   (target ≤ 2×);
//! - the next snapshot (1% changed) of an entity with a rule's index on it, against the same
//!   without (target ≤ 1.2×).

use driftwatch::collect::collect_run;
use driftwatch::config::{Config, Vars};
use driftwatch::store::Store;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod baseline;
use baseline::{has_sqlite3, import, median};

const ROWS: usize = 1_000_000;
const STORAGE_ROWS: usize = 100_000;
const DAYS: usize = 30;

struct Fixture {
    dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_csv(&dir.path().join("rows-1.csv"), ROWS, 0, 0);
        write_csv(&dir.path().join("rows-2.csv"), ROWS, 1, 100); // 1% of rows changed
        std::fs::write(
            dir.path().join("driftwatch.toml"),
            "[sources.bench]\nkind = \"csv\"\n[sources.bench.entities.rows]\npath = \"rows-${n}.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", amount = \"integer\", score = \"real\" }\n",
        )
        .unwrap();
        let f = Fixture { dir };
        // A store holding the first snapshot, copied for each measurement of the second.
        collect(&f, &f.path("first.db"), 1, 1);
        f
    })
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Row i of day `day`: every `every`-th row (offset by the day) differs from day 0.
fn row(i: usize, day: usize, every: usize) -> String {
    let changed = every > 0 && (i + day).is_multiple_of(every);
    let tag = if changed { day } else { 0 };
    format!(
        "{i},user{i}@example.org,Name {i} v{tag},{},{}.5,team-{}\n",
        i % 977 + tag,
        i % 313,
        i % 23
    )
}

fn write_csv(path: &Path, rows: usize, day: usize, every: usize) {
    write_csv_with(path, rows, day, every, false)
}

/// As `write_csv`, with a seventh column (`dept`, a value for every row) when `extra`.
fn write_csv_with(path: &Path, rows: usize, day: usize, every: usize, extra: bool) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(if extra {
        b"id,email,name,amount,score,team,dept\n".as_slice()
    } else {
        b"id,email,name,amount,score,team\n".as_slice()
    })
    .unwrap();
    for i in 0..rows {
        let line = row(i, day, every);
        if extra {
            let line = line.trim_end();
            writeln!(w, "{line},dept-{}", i % 17).unwrap();
        } else {
            w.write_all(line.as_bytes()).unwrap();
        }
    }
}

fn collect(f: &Fixture, store: &Path, n: usize, day: i64) {
    let config = Config::load(&f.path("driftwatch.toml")).unwrap();
    let vars = Vars([("n".to_string(), n.to_string())].into_iter().collect());
    let mut s = Store::open(store).unwrap();
    let report = collect_run(&mut s, &config, &vars, &[], Some(day * 86_400), false).unwrap();
    assert!(report.first_failure().is_none());
}

fn remove_store(p: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
}

/// The baseline: the sqlite3 shell's `.import` of the CSV into a plain table in a new file.
fn baseline_import(csv: &Path, db: &Path) {
    remove_store(db);
    import(
        db,
        "CREATE TABLE t (id INTEGER, email TEXT, name TEXT, amount INTEGER, score REAL, team TEXT);",
        &[("t", csv)],
        "",
    );
}

fn ingest_first() {
    let f = fixture();
    let p = f.path("ingest.db");
    remove_store(&p);
    collect(f, &p, 1, 1);
}

/// A copy of the store holding the first snapshot, to collect the second into (untimed).
fn prepare_second() {
    let f = fixture();
    let p = f.path("second.db");
    remove_store(&p);
    std::fs::copy(f.path("first.db"), &p).unwrap();
}

fn ingest_second() {
    let f = fixture();
    collect(f, &f.path("second.db"), 2, 2);
}

fn import_baseline() {
    let f = fixture();
    baseline_import(&f.path("rows-1.csv"), &f.path("plain.db"));
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn ingest_1m_rows_into_an_empty_store() {
    ingest_first();
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn ingest_1m_rows_next_snapshot_1pct_changed(bencher: divan::Bencher) {
    bencher
        .with_inputs(prepare_second)
        .bench_values(|()| ingest_second());
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn baseline_sqlite3_import_1m_rows() {
    import_baseline();
}

/// 30 daily snapshots of 100,000 rows with 1% churn (from day `column_from` on, with a new
/// column holding a value in every row); returns (file size with all, with the first).
fn storage(column_from: Option<usize>) -> (u64, u64, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(
        dir.join("driftwatch.toml"),
        "[sources.bench]\nkind = \"csv\"\n[sources.bench.entities.rows]\npath = \"day-${n}.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", amount = \"integer\", score = \"real\" }\n",
    )
    .unwrap();
    let f = Fixture {
        dir: tempfile::TempDir::new_in(&dir).unwrap(),
    };
    std::fs::copy(dir.join("driftwatch.toml"), f.path("driftwatch.toml")).unwrap();
    let (one, all) = (f.path("one.db"), f.path("all.db"));
    for day in 1..=DAYS {
        let extra = column_from.is_some_and(|c| day >= c);
        write_csv_with(
            &f.path(&format!("day-{day}.csv")),
            STORAGE_ROWS,
            day,
            100,
            extra,
        );
        if day == 1 {
            collect(&f, &one, day, day as i64);
        }
        collect(&f, &all, day, day as i64);
    }
    let size = |p: &Path| {
        let c = rusqlite::Connection::open(p).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .unwrap();
        std::fs::metadata(p).unwrap().len()
    };
    let (a, o) = (size(&all), size(&one));
    // A plain table with the rows of day 1, for the read baseline.
    let plain = f.path("plain-read.db");
    baseline_import(&f.path("day-1.csv"), &plain);
    std::mem::forget(f); // kept for the read benchmark
    (a, o, all, plain)
}

fn read_as_of_first_run(store: &Path) -> usize {
    let s = Store::open_existing(store).unwrap();
    let e = s.entity("bench", "rows").unwrap().unwrap();
    let snap = s.snapshot_for(&e, 1).unwrap().unwrap();
    let mut n = 0;
    s.read_rows(&e, snap.id, |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    n
}

fn read_plain(db: &Path) -> usize {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT id, email, name, amount, score, team FROM t ORDER BY id")
        .unwrap();
    let mut rows = st.query([]).unwrap();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        for i in 0..6 {
            std::hint::black_box(driftwatch::value::Value::from_sql(r.get_ref(i).unwrap()));
        }
        n += 1;
    }
    n
}

/// Times `ours` (after an untimed `setup`) and `base` alternately, `n` times each; returns the
/// ratio of the medians.
fn ratio(
    n: usize,
    mut setup: impl FnMut(),
    mut ours: impl FnMut(),
    mut base: impl FnMut(),
) -> (f64, Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        setup();
        let t = Instant::now();
        ours();
        a.push(t.elapsed());
        let t = Instant::now();
        base();
        b.push(t.elapsed());
    }
    let (ma, mb) = (median(a), median(b));
    (ma.as_secs_f64() / mb.as_secs_f64(), ma, mb)
}

fn main() {
    divan::main();
    println!("\nratios against baselines measured in this run (median of 3 interleaved runs):");
    let baseline = if has_sqlite3() {
        "sqlite3 .import"
    } else {
        "in-process import (no sqlite3 shell)"
    };
    let (r, a, b) = ratio(3, || {}, ingest_first, import_baseline);
    println!("  ingest 1M rows, empty store:       {r:.2}x  ({a:.2?} vs {baseline} {b:.2?}; target <= 1.5x)");
    let (r, a, b) = ratio(3, prepare_second, ingest_second, import_baseline);
    println!("  ingest 1M rows, 1% changed:        {r:.2}x  ({a:.2?} vs {baseline} {b:.2?}; target <= 1.5x)");
    // A rule's index (as an `exists` on the entity's team and amount makes it) costs on every
    // collection: the next snapshot with it, against the same without.
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for indexed in [true, false] {
            prepare_second();
            if indexed {
                rusqlite::Connection::open(fixture().path("second.db"))
                    .unwrap()
                    .execute_batch(
                        "CREATE INDEX ix_rule ON e_bench__rows(team, amount, _from, _to)",
                    )
                    .unwrap();
            }
            let t = Instant::now();
            ingest_second();
            if indexed { &mut with } else { &mut without }.push(t.elapsed());
        }
    }
    let (a, b) = (median(with), median(without));
    println!(
        "  next snapshot with a rule's index:  {:.2}x  ({a:.2?} vs {b:.2?} without; target <= 1.2x)",
        a.as_secs_f64() / b.as_secs_f64()
    );
    let (all, one, store, plain) = storage(None);
    println!(
        "  storage, 30 days of 100k rows, 1% churn: {:.2}x  ({:.1} MiB vs {:.1} MiB for the first day alone; target <= 2x)",
        all as f64 / one as f64,
        all as f64 / 1048576.0,
        one as f64 / 1048576.0
    );
    let (all_c, one_c, _, _) = storage(Some(20));
    println!(
        "  the same with a column added on day 20: {:.2}x  ({:.1} MiB vs {:.1} MiB; target <= 2x)",
        all_c as f64 / one_c as f64,
        all_c as f64 / 1048576.0,
        one_c as f64 / 1048576.0
    );
    assert_eq!(read_as_of_first_run(&store), read_plain(&plain));
    let (r, a, b) = ratio(
        5,
        || {},
        || {
            std::hint::black_box(read_as_of_first_run(&store));
        },
        || {
            std::hint::black_box(read_plain(&plain));
        },
    );
    println!("  read 100k rows as of run 1 of 30:  {r:.2}x  ({a:.2?} vs plain table {b:.2?}; target <= 2x)");
}
