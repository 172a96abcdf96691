//! Rule benchmarks, against a baseline measured in the same run.
//!
//! Two entities of 1,000,000 rows (applications and participants) and the implication rule
//! "an approved application has a participant record", compiled from the rule language and run
//! on the versioned store, against the equivalent hand-written SQL on plain indexed tables in
//! the sqlite3 shell (and, to separate the SQLite versions, the same SQL in-process through the
//! bundled SQLite). Target: at most 1.5× the shell. `cargo bench --bench rules` prints divan's
//! timings, then the ratios (median of interleaved runs).

use driftwatch::collect::collect_run;
use driftwatch::config::{Config, Vars};
use driftwatch::rules::check::{check_rule, Schemas};
use driftwatch::rules::eval::{evaluate, At};
use driftwatch::rules::parse::parse_file;
use driftwatch::store::Store;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod baseline;
use baseline::{has_sqlite3, import, median, write_applications};

const ROWS: usize = 1_000_000;
const QUESTS: usize = 10_007;

const RULE: &str = "rule approved_application_has_participant {
  for a in bench.applications
  where a.status = 'approved'
  expect exists p in bench.participants
         where p.quest_id = a.quest_id and p.user_id = a.applicant_id
  show quest = a.quest_id, user = a.applicant_id
}";

/// The same question in hand-written SQL over plain tables.
const BASELINE: &str = "SELECT a.id, a.quest_id, a.applicant_id FROM applications a
  WHERE a.status = 'approved'
    AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.quest_id = a.quest_id AND p.user_id = a.applicant_id)
  ORDER BY a.id;";

struct Fixture {
    dir: tempfile::TempDir,
    /// The first evaluation, which builds the rule's indexes.
    first: Duration,
    violations: usize,
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Every approved application has its participant, except where i % 100 == 7: 10,000
/// violations.
fn write_csvs(dir: &Path) {
    write_applications(dir, ROWS, QUESTS, |i| i % 100 == 7);
}

/// Plain tables with the index the query needs, built by the shell's `.import`.
fn baseline_db(dir: &Path) -> PathBuf {
    let db = dir.join("plain.db");
    import(
        &db,
        "CREATE TABLE applications (id INTEGER PRIMARY KEY, quest_id INTEGER, applicant_id INTEGER, status TEXT);
         CREATE TABLE participants (id INTEGER PRIMARY KEY, quest_id INTEGER, user_id INTEGER, status TEXT);",
        &[
            ("applications", &dir.join("applications.csv")),
            ("participants", &dir.join("participants.csv")),
        ],
        "CREATE INDEX participants_quest_user ON participants (quest_id, user_id); ANALYZE;",
    );
    db
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_csvs(dir.path());
        std::fs::write(
            dir.path().join("driftwatch.toml"),
            "[sources.bench]\nkind = \"csv\"\n\
             [sources.bench.entities.applications]\npath = \"applications.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", applicant_id = \"integer\" }\n\
             [sources.bench.entities.participants]\npath = \"participants.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", user_id = \"integer\" }\n",
        )
        .unwrap();
        let config = Config::load(&dir.path().join("driftwatch.toml")).unwrap();
        let mut store = Store::open(&dir.path().join("store.db")).unwrap();
        let report = collect_run(&mut store, &config, &Vars::default(), &[], Some(86_400), false).unwrap();
        assert!(report.first_failure().is_none());
        baseline_db(dir.path());
        let mut f = Fixture {
            dir,
            first: Duration::ZERO,
            violations: 0,
        };
        let t = Instant::now();
        f.violations = ours(&f);
        f.first = t.elapsed();
        f
    })
}

/// Evaluates the rule on the store (opening it, checking and compiling the rule, running it,
/// reading the violations). Returns the number of violations.
fn ours_in(dir: &Path) -> usize {
    let store = Store::open_existing(&dir.join("store.db")).unwrap();
    let schemas = Schemas::at_run(&store, 1).unwrap();
    let rule = parse_file(RULE).0.remove(0);
    let checked = check_rule(&rule, RULE, &schemas).unwrap();
    let at = At {
        run: 1,
        taken_at: "1970-01-02T00:00:00Z".into(),
    };
    evaluate(&store, &checked, &at).unwrap().violations.len()
}

fn ours(f: &Fixture) -> usize {
    ours_in(f.dir.path())
}

/// The hand-written SQL in the sqlite3 shell; returns the number of rows it printed.
fn shell(f: &Fixture) -> usize {
    let out = std::process::Command::new("sqlite3")
        .arg(f.path("plain.db"))
        .arg(BASELINE)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.iter().filter(|b| **b == b'\n').count()
}

/// The hand-written SQL in-process, through the bundled SQLite.
fn in_process(f: &Fixture) -> usize {
    let c = rusqlite::Connection::open(f.path("plain.db")).unwrap();
    let mut st = c.prepare(BASELINE).unwrap();
    let mut rows = st.query([]).unwrap();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        std::hint::black_box((r.get::<_, i64>(0).unwrap(), r.get::<_, i64>(1).unwrap()));
        n += 1;
    }
    n
}

#[divan::bench(sample_count = 5)]
fn rule_implication_1m_x_1m() {
    std::hint::black_box(ours(fixture()));
}

#[divan::bench(sample_count = 5)]
fn baseline_hand_written_sql_in_process() {
    std::hint::black_box(in_process(fixture()));
}

fn main() {
    divan::main();
    let f = fixture();
    assert_eq!(f.violations, 10_000);
    assert_eq!(in_process(f), f.violations);
    let n = 5;
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let shell_ok = has_sqlite3();
    if shell_ok {
        assert_eq!(shell(f), f.violations);
    }
    for _ in 0..n {
        let t = Instant::now();
        ours(f);
        a.push(t.elapsed());
        if shell_ok {
            let t = Instant::now();
            shell(f);
            b.push(t.elapsed());
        }
        let t = Instant::now();
        in_process(f);
        c.push(t.elapsed());
    }
    let (ma, mc) = (median(a), median(c));
    println!("\nratios against baselines measured in this run (median of {n} interleaved runs):");
    if shell_ok {
        let mb = median(b);
        println!(
            "  rule \"approved application has a participant\", 1M x 1M rows: {:.2}x  ({ma:.2?} vs sqlite3 shell {mb:.2?}; target <= 1.5x)",
            ma.as_secs_f64() / mb.as_secs_f64()
        );
    }
    println!(
        "  the same against the hand-written SQL in-process (bundled SQLite):  {:.2}x  ({ma:.2?} vs {mc:.2?})",
        ma.as_secs_f64() / mc.as_secs_f64()
    );
    println!(
        "  first evaluation, which builds the rule's indexes: {:.2?} ({} violations)",
        f.first, f.violations
    );
}
