//! Memory and time of the commands users run on big data, each a process of its own (its peak
//! resident memory read from `wait4`), against the sqlite3 shell doing the same in the same
//! run:
//! - `audit` of a rule that 1,000,000 rows violate: the first audit (it records 1,000,000 new
//!   findings) and the next, as a table summary, CSV and JSON (to /dev/null), against the
//!   shell writing the same violations as CSV; and the next CSV audit of 2,000,000 violations,
//!   whose memory should be the same (flat);
//! - `trend` over two runs of those violations, neither evaluated yet (both evaluated in one
//!   pass and recorded);
//! - `collect` of a CSV of 2,000,000 rows × 20 columns into a new store, against the shell's
//!   `.import`.
//!
//! Skipped when the sqlite3 shell is missing. `cargo bench --bench memory`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// Only `has_sqlite3` is used here.
#[allow(dead_code)]
mod baseline;

const VIOLATING: usize = 1_000_000;
const WIDE_ROWS: usize = 2_000_000;
const WIDE_COLUMNS: usize = 20;

/// Runs `cmd` to the end: its time and its peak resident memory in MB.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
fn measure(mut cmd: Command) -> (Duration, f64) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold, with valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid);
    let code = libc::WEXITSTATUS(status);
    if !(code == 0 || code == 1) {
        let mut err = String::new();
        use std::io::Read;
        child.stderr.unwrap().read_to_string(&mut err).unwrap();
        panic!("{cmd:?} exited {code}: {err}");
    }
    (elapsed, usage.ru_maxrss as f64 / 1024.0)
}

fn driftwatch(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    c.current_dir(dir).args(args).env("NO_COLOR", "1");
    c
}

/// The sqlite3 shell on `db`, with `args` before the database and `sql` (one statement or
/// dot-command) after it.
fn sqlite3(args: &[&str], db: &Path, sql: &str) -> Command {
    let mut c = Command::new("sqlite3");
    c.args(args).arg(db).arg(sql);
    c
}

fn write_people(path: &Path, rows: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,email,name,team,active").unwrap();
    for i in 0..rows {
        writeln!(f, "{i},user{i}@example.org,Person {i},team-{},0", i % 97).unwrap();
    }
}

fn write_wide(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let header: Vec<String> = (0..WIDE_COLUMNS).map(|c| format!("c{c}")).collect();
    writeln!(f, "id,{}", header[1..].join(",")).unwrap();
    for i in 0..WIDE_ROWS {
        write!(f, "{i}").unwrap();
        for c in 1..WIDE_COLUMNS {
            write!(f, ",v{}", (i * 31 + c * 7) % 100_003).unwrap();
        }
        writeln!(f).unwrap();
    }
}

fn line(what: &str, (t, mb): (Duration, f64), base: (Duration, f64)) {
    println!(
        "  {what:<34} {:>7.2}s {:>7.0} MB   {:>5.2}x the time, {:>5.2}x the memory",
        t.as_secs_f64(),
        mb,
        t.as_secs_f64() / base.0.as_secs_f64(),
        mb / base.1
    );
}

/// A store holding one collection of `rows` people, every one a violation of `bench.rules`.
fn audit_store(rows: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_people(&d.join("people.csv"), rows);
    std::fs::write(
        d.join("driftwatch.toml"),
        "rules = [\"bench.rules\"]\nstore = \"store.db\"\n[sources.bench]\nkind = \"csv\"\n\
         [sources.bench.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", active = \"integer\" }\n",
    )
    .unwrap();
    std::fs::write(
        d.join("bench.rules"),
        "rule inactive {\n  for p in bench.people\n  expect p.active = 1\n  subject p.email\n  show name = p.name, team = p.team\n}\n",
    )
    .unwrap();
    measure(driftwatch(d, &["collect"]));
    dir
}

fn main() {
    if !baseline::has_sqlite3() {
        println!("memory: skipped (no sqlite3 shell for the baseline)");
        return;
    }
    // The same audit with twice the violations: memory that stays flat is the same.
    let double = audit_store(VIOLATING * 2);
    measure(driftwatch(double.path(), &["audit", "--format", "csv"]));
    let double_next = measure(driftwatch(double.path(), &["audit", "--format", "csv"]));
    drop(double);
    let dir = audit_store(VIOLATING);
    let d = dir.path();
    let store = d.join("store.db");
    let shell = || {
        sqlite3(
            &["-csv", "-header"],
            &store,
            "SELECT id, email, name, team FROM e_bench__people WHERE _to IS NULL AND NOT coalesce(active = 1, 0) ORDER BY id;",
        )
    };
    let base = measure(shell());
    println!("memory: {VIOLATING} violations of one rule (peak resident memory of each process)");
    println!(
        "  {:<34} {:>7.2}s {:>7.0} MB   (the baseline)",
        "sqlite3 shell, violations as CSV",
        base.0.as_secs_f64(),
        base.1
    );
    let first = measure(driftwatch(d, &["audit", "--format", "csv"]));
    line("audit, first (records the findings)", first, base);
    let mut next_csv = first;
    for format in ["table", "csv", "json"] {
        let next = measure(driftwatch(d, &["audit", "--format", format]));
        line(&format!("audit, next, --format {format}"), next, base);
        if format == "csv" {
            next_csv = next;
        }
    }
    println!(
        "  the next CSV audit of {} violations: {:.2}s {:.0} MB: twice the violations, {:.2}x the memory",
        VIOLATING * 2,
        double_next.0.as_secs_f64(),
        double_next.1,
        double_next.1 / next_csv.1
    );
    // Two runs not yet evaluated, evaluated in one pass: their violations are kept in the
    // store past a threshold, as an audit's are.
    let pair = audit_store(VIOLATING);
    measure(driftwatch(pair.path(), &["collect"]));
    let trend = measure(driftwatch(pair.path(), &["trend", "--format", "json"]));
    line("trend of 2 runs, neither evaluated", trend, base);
    drop(pair);

    let wide = tempfile::tempdir().unwrap();
    let w = wide.path();
    write_wide(&w.join("wide.csv"));
    std::fs::write(
        w.join("driftwatch.toml"),
        "store = \"store.db\"\n[sources.wide]\nkind = \"csv\"\n[sources.wide.entities.rows]\npath = \"wide.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n",
    )
    .unwrap();
    let import = measure(sqlite3(
        &[],
        &w.join("plain.db"),
        &format!(".import --csv {} rows", w.join("wide.csv").display()),
    ));
    let collect = measure(driftwatch(w, &["collect"]));
    println!("collect: {WIDE_ROWS} rows x {WIDE_COLUMNS} columns of CSV into a new store");
    println!(
        "  {:<34} {:>7.2}s {:>7.0} MB   (the baseline)",
        "sqlite3 shell, .import",
        import.0.as_secs_f64(),
        import.1
    );
    line("collect", collect, import);
}
