use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn driftwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    c.current_dir(dir);
    c
}

pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs driftwatch in `dir` with `args`.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    finish(
        driftwatch(dir)
            .args(args)
            .output()
            .expect("driftwatch runs"),
    )
}

/// Runs driftwatch and insists that it succeeded.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let r = run(dir, args);
    assert_eq!(
        r.code, 0,
        "driftwatch {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The files in `dir` whose names start with `prefix`, in natural order (`page-2` before
/// `page-10`).
pub fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort_by(|a, b| driftwatch::text::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    v
}

/// Collects the LMS samples' day `day` (1 to 7) as of that day, 06:00 UTC.
pub fn collect_lms_day(dir: &Path, day: u32) {
    ok(
        dir,
        &[
            "collect",
            "--var",
            &format!("day={day}"),
            "--at",
            &format!("2026-11-0{day}T06:00:00Z"),
        ],
    );
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tiny deterministic generator for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Compares two large texts, reporting the first differing line instead of both texts whole.
pub fn assert_same(got: &str, want: &str) {
    if got != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let i = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "texts differ at line {}: got {:?}, want {:?} ({} vs {} lines)",
            i + 1,
            g.get(i),
            w.get(i),
            g.len(),
            w.len()
        );
    }
}

/// Runs driftwatch, insists that it failed with `code` and that stderr says `needle`.
pub fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, code, "driftwatch {args:?}:\n{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "driftwatch {args:?}: stderr lacks {needle:?}:\n{}",
        r.stderr
    );
    r
}

/// Collects the LMS sample days `days` (all sources, or only `sources`) into a new store at
/// `path`, one run a day at 06:00 UTC, insisting that every source completes.
pub fn lms_store(
    path: &Path,
    days: std::ops::RangeInclusive<u32>,
    sources: &[&str],
) -> driftwatch::store::Store {
    use driftwatch::config::{Config, Vars};
    let config = Config::load(&repo().join("samples/lms/driftwatch.toml")).unwrap();
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let mut store = driftwatch::store::Store::open(path).unwrap();
    for day in days {
        let vars = Vars([("day".to_string(), day.to_string())].into_iter().collect());
        let at = driftwatch::time::parse(&format!("2026-11-{day:02}T06:00:00Z"));
        let report =
            driftwatch::collect::collect_run(&mut store, &config, &vars, &sources, at, false)
                .unwrap();
        assert!(
            report.first_failure().is_none(),
            "day {day}: {:?}",
            report.first_failure()
        );
    }
    store
}

/// The LMS sample config with absolute paths (its day folders, the shipped rules), so that it
/// works from any folder.
pub fn lms_config() -> String {
    let lms = repo().join("samples/lms");
    std::fs::read_to_string(lms.join("driftwatch.toml"))
        .unwrap()
        .replace("day-${day}/", &format!("{}/day-${{day}}/", lms.display()))
        .replace(
            "../../queries/lms.rules",
            repo().join("queries/lms.rules").to_str().unwrap(),
        )
}
