//! History benchmarks: two runs of 1,000,000-row entities whose participants differ in 1% of
//! rows (5,000 violations resolved, 5,000 new), and the rule "an approved application has a
//! participant record". Measured against one audit of the rule at the later run, in the same
//! run (median of interleaved runs): the first audit of that run (it records its episodes, as
//! the cold rule diff records both runs'), and an audit of it once recorded:
//! - the rule diff between the two runs when neither has been evaluated yet (it evaluates both
//!   and records their episodes), and when both have (one SQL statement over the episodes);
//! - the data diff between the two runs.
//!
//! Targets: the cold rule diff at most 1.5× the audit (both runs in one pass, `compile_pair`),
//! the others at most 2×. Then the same cold diff of a `group by` rule against its first audit.
//! `cargo bench --bench history`.

use driftwatch::collect::collect_run;
use driftwatch::config::{Config, Vars};
use driftwatch::history::{audit_with_history, backfill};
use driftwatch::rules::check::Schemas;
use driftwatch::rules::eval::At;
use driftwatch::rules::{check_files, RuleFile};
use driftwatch::store::{diff_data, Store};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// Only `median` is used here.
#[allow(dead_code)]
mod baseline;
use baseline::{median, write_applications};

const ROWS: usize = 1_000_000;
const QUESTS: usize = 10_007;

/// A rule: its name and text.
type Rule = (&'static str, &'static str);

const RULE: Rule = (
    "approved_application_has_participant",
    "rule approved_application_has_participant {
  for a in bench.applications
  where a.status = 'approved'
  expect exists p in bench.participants
         where p.quest_id = a.quest_id and p.user_id = a.applicant_id
  subject a.applicant_id
  show quest = a.quest_id
}",
);

/// A `group by` rule: a quest with a participant who is not an applicant (about 63% of the
/// 10,007 quests at each run, a different set at each).
const GROUPED: Rule = (
    "quest_without_stranger",
    "rule quest_without_stranger {
  for p in bench.participants
  group by p.quest_id
  expect max(p.user_id) < 1000000
  show n = count(*)
}",
);

/// On day 1 the participants with i % 100 == 7 are for another user; on day 2 those with
/// i % 200 == 7 are fixed and those with i % 200 == 13 break instead: 1% of the participants
/// change.
fn write_csvs(dir: &Path, day: u32) {
    write_applications(dir, ROWS, QUESTS, |i| match day {
        1 => i % 100 == 7,
        _ => i % 200 == 107 || i % 200 == 13,
    });
}

struct Fixture {
    dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("driftwatch.toml"),
            "[sources.bench]\nkind = \"csv\"\n\
             [sources.bench.entities.applications]\npath = \"applications.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", applicant_id = \"integer\" }\n\
             [sources.bench.entities.participants]\npath = \"participants.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\", quest_id = \"integer\", user_id = \"integer\" }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("bench.rules"), RULE.1).unwrap();
        let config = Config::load(&dir.path().join("driftwatch.toml")).unwrap();
        let mut store = Store::open(&dir.path().join("store.db")).unwrap();
        for day in 1..=2 {
            write_csvs(dir.path(), day);
            let at = i64::from(day) * 86_400;
            let report = collect_run(&mut store, &config, &Vars::default(), &[], Some(at), false).unwrap();
            assert!(report.first_failure().is_none());
        }
        let f = Fixture { dir };
        // Builds the rule's indexes and the history of both runs.
        assert_eq!(audit(&f, RULE), 10_000);
        f
    })
}

fn at(run: i64) -> At {
    At {
        run,
        taken_at: driftwatch::time::format(run * 86_400),
    }
}

fn rules(store: &Store, run: i64, rule: Rule) -> (Vec<RuleFile>, Schemas) {
    let file = RuleFile::parse(Path::new("bench.rules"), rule.1.to_string());
    (vec![file], Schemas::at_run(store, run).unwrap())
}

/// One audit of the rule at run 2, as `driftwatch audit` does it once run 1 is in history.
fn audit(f: &Fixture, rule: Rule) -> usize {
    let store = Store::open_existing(&f.dir.path().join("store.db")).unwrap();
    let (files, schemas) = rules(&store, 2, rule);
    let loaded = check_files(&files, &schemas);
    let selected: Vec<_> = loaded.iter().collect();
    let report = audit_with_history(&store, None, &files, &selected, &at(2), None).unwrap();
    report.rules[0].violations.len()
}

/// Forgets every run the rule was evaluated at (untimed, before a cold measurement).
fn forget_history(store: &Store) {
    store
        .conn()
        .execute_batch("DELETE FROM findings; DELETE FROM evaluations;")
        .unwrap();
}

/// The first audit of the rule at run 2, which records its episodes as the cold rule diff does
/// for both runs (the rule's history is cleared before, outside the timing; run 1 is not
/// evaluated). This is the audit that follows each `collect` in daily use.
fn first_audit(f: &Fixture, rule: Rule) -> Duration {
    let store = Store::open_existing(&f.dir.path().join("store.db")).unwrap();
    forget_history(&store);
    let t = Instant::now();
    let (files, schemas) = rules(&store, 2, rule);
    let loaded = check_files(&files, &schemas);
    let selected: Vec<_> = loaded.iter().collect();
    let report = driftwatch::history::audit(&store, &selected, &at(2), None, &[]).unwrap();
    assert!(report.rules[0].error.is_none());
    t.elapsed()
}

/// The rule diff of runs 1 and 2, evaluating both first when `cold` (their history is cleared
/// before, outside the timing). Returns (new, resolved, persisting).
fn rule_diff(f: &Fixture, cold: bool, rule: Rule) -> (Duration, [usize; 3]) {
    let store = Store::open_existing(&f.dir.path().join("store.db")).unwrap();
    if cold {
        forget_history(&store);
    }
    let t = Instant::now();
    let (files, schemas) = rules(&store, 2, rule);
    let loaded = check_files(&files, &schemas);
    let selected: Vec<_> = loaded.iter().collect();
    let done = backfill(&store, None, &files, &selected, &[at(1), at(2)]).unwrap();
    assert!(done.skipped.is_empty());
    let rows = driftwatch::history::diff::rule_diff(store.conn(), rule.0, 1, 2).unwrap();
    let elapsed = t.elapsed();
    let mut counts = [0; 3];
    for r in rows {
        counts[r.change as usize] += 1;
    }
    (elapsed, counts)
}

fn data_diff(f: &Fixture) -> usize {
    let store = Store::open_existing(&f.dir.path().join("store.db")).unwrap();
    diff_data(&store, 1, 2)
        .unwrap()
        .iter()
        .map(|d| d.rows.len())
        .sum()
}

#[divan::bench(sample_count = 5)]
fn audit_1m_at_one_run() {
    std::hint::black_box(audit(fixture(), RULE));
}

#[divan::bench(sample_count = 5)]
fn rule_diff_1m_neither_run_evaluated() {
    std::hint::black_box(rule_diff(fixture(), true, RULE));
}

#[divan::bench(sample_count = 5)]
fn data_diff_1m() {
    std::hint::black_box(data_diff(fixture()));
}

fn main() {
    divan::main();
    let f = fixture();
    // 1% of participants changed: 5,000 violations resolved, 5,000 new, 5,000 persisting
    // (of the 10,000 of day 1, those with i % 200 == 107), for approved applications only.
    let (_, counts) = rule_diff(f, true, RULE);
    let changed_participants = data_diff(f);
    println!("\nrule diff (new, resolved, persisting): {counts:?}; data diff rows: {changed_participants}");
    let n = 5;
    let (mut a, mut first, mut cold, mut warm, mut d) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        cold.push(rule_diff(f, true, RULE).0);
        let t = Instant::now();
        audit(f, RULE);
        a.push(t.elapsed());
        warm.push(rule_diff(f, false, RULE).0);
        let t = Instant::now();
        data_diff(f);
        d.push(t.elapsed());
        // Last: it leaves run 1 unevaluated, which the next cold diff clears anyway.
        first.push(first_audit(f, RULE));
    }
    let (ma, mf) = (median(a), median(first));
    let ratio = |x: Duration| x.as_secs_f64() / ma.as_secs_f64();
    let (mc, mw, md) = (median(cold), median(warm), median(d));
    println!("median of {n} interleaved runs:");
    println!(
        "  rule diff, neither run evaluated yet: {:.2}x the first audit of a run ({mc:.2?} vs {mf:.2?}; target <= 1.5x)",
        mc.as_secs_f64() / mf.as_secs_f64()
    );
    println!(
        "    and {:.2}x an audit of a run already recorded ({ma:.2?})",
        ratio(mc)
    );
    println!(
        "  rule diff, both runs in history:      {:.3}x ({mw:.2?}; target <= 2x)",
        ratio(mw)
    );
    println!(
        "  data diff:                            {:.2}x ({md:.2?}; target <= 2x)",
        ratio(md)
    );
    // A `group by` rule: its cold diff (both runs grouped once) against its first audit.
    let (_, counts) = rule_diff(f, true, GROUPED);
    let (mut cold, mut first) = (Vec::new(), Vec::new());
    for _ in 0..n {
        cold.push(rule_diff(f, true, GROUPED).0);
        first.push(first_audit(f, GROUPED));
    }
    let (mc, mf) = (median(cold), median(first));
    println!(
        "  group-by rule diff, neither run evaluated yet: {:.2}x its first audit ({mc:.2?} vs {mf:.2?}); (new, resolved, persisting): {counts:?}",
        mc.as_secs_f64() / mf.as_secs_f64()
    );
}
