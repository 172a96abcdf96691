//! History on generated histories: violations appearing, vanishing and coming back, a source
//! missing from a run, a failed snapshot in the middle. Every figure is checked against a model
//! computed here from the generated data: the episodes, the rule diff of every pair of runs,
//! the trend points with their pending counts, and the delay percentiles.

use crate::common::{ok, repo, run, write, Rng};
use crate::drift::drift_list;
use driftwatch::history::diff::{rule_diff, Change};
use driftwatch::store::Store;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const PEOPLE: u64 = 24;
const RUNS: usize = 12;
const GRACE_HOURS: i64 = 3;

const RULES: &str = "
rule has_account {
  for p in ssot.people
  expect exists a in lms.accounts where a.id = p.id
  key p.id
  subject p.email
  show name = p.email
  grace 3h
}
";

/// What one run collects: the accounts the platform has (None: the platform is not collected
/// in that run), and whether its export is broken (the snapshot fails).
struct Step {
    accounts: Option<BTreeSet<u64>>,
    broken: bool,
    hours_after_previous: i64,
}

struct History {
    steps: Vec<Step>,
    /// The run times, as stored.
    times: Vec<String>,
}

impl History {
    /// The keys violated at each run (1-based index 0 is run 1): a run where the platform was
    /// not collected, or failed, is served by the platform's previous good snapshot.
    fn violated(&self) -> Vec<BTreeSet<u64>> {
        let mut served: BTreeSet<u64> = BTreeSet::new();
        self.steps
            .iter()
            .map(|s| {
                if let (Some(a), false) = (&s.accounts, s.broken) {
                    served = a.clone();
                }
                (1..=PEOPLE).filter(|id| !served.contains(id)).collect()
            })
            .collect()
    }

    /// The model's episodes: (key, first run, last run, resolved run).
    fn episodes(&self) -> BTreeSet<(u64, i64, i64, Option<i64>)> {
        let v = self.violated();
        let mut out = BTreeSet::new();
        for id in 1..=PEOPLE {
            let mut start: Option<i64> = None;
            for (i, set) in v.iter().enumerate() {
                let r = i as i64 + 1;
                match (set.contains(&id), start) {
                    (true, None) => start = Some(r),
                    (false, Some(s)) => {
                        out.insert((id, s, r - 1, Some(r)));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                out.insert((id, s, RUNS as i64, None));
            }
        }
        out
    }

    fn secs(&self, run: i64) -> i64 {
        driftwatch::time::parse(&self.times[run as usize - 1]).unwrap()
    }
}

/// Generates and collects a history into `dir`: runs at irregular hours; each person's
/// account comes and goes; run 4 does not collect the platform and run 7's export is broken.
fn generate(dir: &Path, seed: u64) -> History {
    let mut rng = Rng(seed);
    write(
        dir,
        "driftwatch.toml",
        "store = \"s.db\"\nrules = [\"*.rules\"]\n
[sources.ssot]\nkind = \"csv\"\n[sources.ssot.entities.people]\npath = \"people.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n
[sources.lms]\nkind = \"csv\"\n[sources.lms.entities.accounts]\npath = \"accounts.csv\"\nkey = [\"id\"]\ntypes = { id = \"integer\" }\n",
    );
    write(dir, "h.rules", RULES);
    let people: String = (1..=PEOPLE)
        .map(|i| format!("{i},p{i}@example.org\n"))
        .collect();
    write(dir, "people.csv", &format!("id,email\n{people}"));
    let mut steps = Vec::new();
    let mut present: BTreeSet<u64> = (1..=PEOPLE).filter(|_| rng.below(3) > 0).collect();
    for r in 1..=RUNS {
        // About one account in five changes between runs.
        for id in 1..=PEOPLE {
            if rng.below(5) == 0 && !present.remove(&id) {
                present.insert(id);
            }
        }
        steps.push(Step {
            accounts: (r != 4).then(|| present.clone()),
            broken: r == 7,
            hours_after_previous: 1 + rng.below(12) as i64,
        });
    }
    let mut t = driftwatch::time::parse("2026-11-01T00:00:00Z").unwrap();
    let mut times = Vec::new();
    for s in &steps {
        t += s.hours_after_previous * 3600;
        let at = driftwatch::time::format(t);
        let mut args = vec!["collect", "--at", at.as_str()];
        match &s.accounts {
            Some(a) => {
                let rows: String = a.iter().map(|i| format!("{i},a{i}\n")).collect();
                let broken = if s.broken { "99,x,extra\n" } else { "" };
                write(dir, "accounts.csv", &format!("id,login\n{rows}{broken}"));
            }
            None => args.extend(["--source", "ssot"]),
        }
        let r = run(dir, &args);
        // A broken data file is invalid input: exit 2, and a failed snapshot.
        assert_eq!(r.code, if s.broken { 2 } else { 0 }, "{}", r.stderr);
        times.push(at);
    }
    History { steps, times }
}

fn json_of(dir: &Path, args: &[&str]) -> Json {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// The findings table as (key, first, last, resolved).
fn stored_episodes(path: &Path) -> BTreeSet<(u64, i64, i64, Option<i64>)> {
    let store = Store::open_existing(path).unwrap();
    let mut stmt = store
        .conn()
        .prepare("SELECT key, first_run, last_run, resolved_run FROM findings WHERE rule = 'has_account'")
        .unwrap();
    stmt.query_map([], |r| {
        let key: String = r.get(0)?;
        let key: Json = serde_json::from_str(&key).unwrap();
        Ok((key[0].as_u64().unwrap(), r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn episodes_follow_the_generated_history_and_a_violation_that_comes_back_is_a_new_episode() {
    let dir = tempfile::tempdir().unwrap();
    let h = generate(dir.path(), 0x5eed_1234);
    for r in 1..=RUNS {
        let _ = run(dir.path(), &["audit", "--at", &r.to_string()]);
    }
    let want = h.episodes();
    assert_eq!(stored_episodes(&dir.path().join("s.db")), want);
    // The generator made the cases the test is about.
    let keys: Vec<u64> = want.iter().map(|e| e.0).collect();
    assert!(
        keys.iter()
            .any(|k| keys.iter().filter(|x| *x == k).count() >= 2),
        "no violation came back"
    );
    assert!(want.iter().any(|e| e.3.is_some()), "nothing was resolved");
    // The failed run is a run like the others, served by the platform's run-6 snapshot: what
    // driftwatch reports at run 7 is what it reported at run 6.
    let keys_at = |r: usize| -> BTreeSet<u64> {
        let out = run(
            dir.path(),
            &["audit", "--at", &r.to_string(), "--format", "json"],
        );
        let audit: Json = serde_json::from_str(&out.stdout).unwrap();
        audit["rules"][0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["key"][0].as_u64().unwrap())
            .collect()
    };
    assert!(
        h.steps[6].broken,
        "run 7 is the one whose platform export broke"
    );
    assert_eq!(keys_at(7), keys_at(6));
    assert_eq!(keys_at(7), h.violated()[6]);
}

/// Evaluates the rule at run `run` alone, recording what it finds.
fn evaluate_only(path: &Path, h: &History, run: i64) {
    use driftwatch::history::audit;
    use driftwatch::rules::{check::Schemas, check_files, eval::At, RuleFile};
    let store = Store::open_existing(path).unwrap();
    let files = [RuleFile::parse(Path::new("h.rules"), RULES.to_string())];
    let schemas = Schemas::at_run(&store, run).unwrap();
    let loaded = check_files(&files, &schemas);
    let at = At {
        run,
        taken_at: h.times[run as usize - 1].clone(),
    };
    let report = audit(&store, &loaded.iter().collect::<Vec<_>>(), &at, None, &[]).unwrap();
    assert!(
        report.rules[0].error.is_none(),
        "{:?}",
        report.rules[0].error
    );
}

#[test]
fn evaluating_runs_in_any_order_or_again_gives_the_same_episodes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = generate(d, 0xabc_def);
    let fresh = d.join("fresh.db");
    std::fs::copy(d.join("s.db"), &fresh).unwrap();
    let mut rng = Rng(7);
    // First the ends, then halves: every run after the first two lands inside episodes that
    // span it, which it must split where it lacks the violation.
    let bisect = vec![1, 12, 6, 3, 9, 2, 4, 5, 7, 8, 10, 11, 6, 1];
    let mut orders = vec![bisect];
    for _ in 0..3 {
        // A shuffled order, some runs twice.
        let mut order: Vec<usize> = (1..=RUNS).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        order.extend([order[0], order[RUNS / 2]]);
        orders.push(order);
    }
    for (round, order) in orders.iter().enumerate() {
        let path = d.join(format!("shuffled-{round}.db"));
        std::fs::copy(&fresh, &path).unwrap();
        for r in order {
            // Only run r: `driftwatch audit --at` would evaluate the runs before it first.
            evaluate_only(&path, &h, *r as i64);
        }
        assert_eq!(stored_episodes(&path), h.episodes(), "order {order:?}");
    }
}

#[test]
fn one_audit_of_the_last_run_records_every_earlier_run_as_auditing_each_in_turn_does() {
    // On a fresh store, `audit --at` the last run evaluates the eleven before it first: two at
    // a time in one pass (`evaluate_pair`), the last alone (its violations kept in the store).
    let dir = tempfile::tempdir().unwrap();
    let h = generate(dir.path(), 0x5eed_1234);
    let _ = run(dir.path(), &["audit", "--at", &RUNS.to_string()]);
    assert_eq!(stored_episodes(&dir.path().join("s.db")), h.episodes());
}

/// Past `hold` violations, a pair's are kept in the store's temporary table instead of memory
/// and recorded from there: the episodes must be the same as when they are held, for every
/// threshold (none held, some held then kept, all held).
#[test]
fn a_pair_whose_violations_are_kept_in_the_store_records_what_one_holding_them_records() {
    use driftwatch::history::backfill::backfill_holding;
    use driftwatch::rules::{check::Schemas, check_files, eval::At, RuleFile};
    let dir = tempfile::tempdir().unwrap();
    let h = generate(dir.path(), 0x4b3e);
    let fresh = dir.path().join("s.db");
    let runs: Vec<At> = (1..=RUNS as i64)
        .map(|run| At {
            run,
            taken_at: h.times[run as usize - 1].clone(),
        })
        .collect();
    let most = h.violated().iter().map(BTreeSet::len).max().unwrap();
    assert!(most > 4, "{most}");
    for hold in [0, most / 2, usize::MAX] {
        let path = dir.path().join(format!("hold-{hold}.db"));
        std::fs::copy(&fresh, &path).unwrap();
        let store = Store::open_existing(&path).unwrap();
        let files = [RuleFile::parse(Path::new("h.rules"), RULES.to_string())];
        let schemas = Schemas::at_run(&store, RUNS as i64).unwrap();
        let loaded = check_files(&files, &schemas);
        let rules: Vec<_> = loaded.iter().collect();
        let done = backfill_holding(&store, None, &files, &rules, &runs, hold).unwrap();
        assert!(done.skipped.is_empty(), "{:?}", done.skipped);
        drop(store);
        assert_eq!(stored_episodes(&path), h.episodes(), "holding {hold}");
    }
}

#[test]
fn rule_diff_of_every_pair_of_runs_is_what_each_run_violates_compared() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = generate(d, 0x1dea);
    let v = h.violated();
    ok(d, &["trend", "--format", "json"]);
    let store = Store::open_existing(&d.join("s.db")).unwrap();
    for a in 1..=RUNS {
        for b in a..=RUNS {
            let rows = rule_diff(store.conn(), "has_account", a as i64, b as i64).unwrap();
            let of = |c: Change| -> BTreeSet<u64> {
                rows.iter()
                    .filter(|r| r.change == c)
                    .map(|r| r.key[0].as_u64().unwrap())
                    .collect()
            };
            let (va, vb) = (&v[a - 1], &v[b - 1]);
            assert_eq!(of(Change::New), vb - va, "new {a}→{b}");
            assert_eq!(of(Change::Resolved), va - vb, "resolved {a}→{b}");
            assert_eq!(of(Change::Persisting), va & vb, "persisting {a}→{b}");
        }
    }
    // The command: counts, rows with subject and fields, and CSV with one row per violation.
    let json = json_of(d, &["diff", "--from", "2", "--to", "9", "--format", "json"]);
    let rule = &json["rules"][0];
    assert_eq!(rule["new"], json!((&v[8] - &v[1]).len()));
    assert_eq!(rule["resolved"], json!((&v[1] - &v[8]).len()));
    assert_eq!(rule["persisting"], json!((&v[1] & &v[8]).len()));
    let new: Vec<Json> = (&v[8] - &v[1])
        .iter()
        .map(|id| json!({"key": [id], "subject": format!("p{id}@example.org"), "fields": {"name": format!("p{id}@example.org")}}))
        .collect();
    let got: Vec<Json> = rule["rows"]["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"key": r["key"], "subject": r["subject"], "fields": r["fields"]}))
        .collect();
    assert_eq!(got, new);
    let csv = ok(d, &["diff", "--from", "2", "--to", "9", "--format", "csv"]);
    assert_eq!(
        csv.lines().next(),
        Some("rule,change,key,subject,first_seen,name")
    );
    assert_eq!(csv.lines().count() - 1, (&v[1] | &v[8]).len());
}

#[test]
fn trend_points_count_each_runs_violations_and_those_younger_than_grace_as_pending() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = generate(d, 0x7e2d);
    let episodes = h.episodes();
    let json = json_of(d, &["trend", "--format", "json"]);
    let points = json[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), RUNS);
    for (i, p) in points.iter().enumerate() {
        let r = i as i64 + 1;
        let open: Vec<_> = episodes.iter().filter(|e| e.1 <= r && r <= e.2).collect();
        // Those there at run 1 are of unknown age: never pending.
        let pending = open
            .iter()
            .filter(|e| e.1 > 1 && h.secs(r) - h.secs(e.1) < GRACE_HOURS * 3600)
            .count();
        assert_eq!(p["run"], json!(r));
        assert_eq!(p["at"], json!(h.times[i]));
        assert_eq!(p["violations"], json!(open.len()), "run {r}");
        assert_eq!(p["pending"], json!(pending), "run {r}");
    }
    assert!(
        points.iter().any(|p| p["pending"] != json!(0)),
        "the generated runs made nothing pending"
    );
    // --since counts back from the latest run: the runs of its last 24 hours.
    let since = json_of(d, &["trend", "--since", "24h", "--format", "json"]);
    let latest = h.secs(RUNS as i64);
    let want: Vec<i64> = (1..=RUNS as i64)
        .filter(|r| h.secs(*r) >= latest - 86_400)
        .collect();
    let got: Vec<i64> = since[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["run"].as_i64().unwrap())
        .collect();
    assert_eq!(got, want);
    // The table has a sparkline and the per-run counts.
    let table = ok(d, &["trend"]);
    let counts: Vec<String> = h.violated().iter().map(|s| s.len().to_string()).collect();
    assert!(table.contains(&counts.join(" ")), "{table}");
    assert!(table.contains('█'), "{table}");
}

/// The nearest-rank percentile, written independently of the crate's.
fn nearest_rank(sorted: &[f64], p: f64) -> Json {
    if sorted.is_empty() {
        return Json::Null;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    json!(sorted[rank - 1])
}

#[test]
fn delay_reports_exact_resolve_times_and_open_ages_per_rule_and_per_platform() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = generate(d, 0xde1a);
    let episodes = h.episodes();
    let hours = |secs: i64| (secs as f64 / 3600.0 * 100.0).round() / 100.0;
    let mut resolve: Vec<f64> = episodes
        .iter()
        .filter_map(|e| e.3.map(|r| hours(h.secs(r) - h.secs(e.1))))
        .collect();
    let mut open: Vec<f64> = episodes
        .iter()
        .filter(|e| e.3.is_none())
        .map(|e| hours(h.secs(RUNS as i64) - h.secs(e.1)))
        .collect();
    resolve.sort_by(f64::total_cmp);
    open.sort_by(f64::total_cmp);
    let json = json_of(d, &["delay", "--format", "json"]);
    let r = &json[0];
    assert_eq!(r["rule"], "has_account");
    assert_eq!(r["platform"], "lms");
    assert_eq!(r["episodes"], json!(episodes.len()));
    assert_eq!(r["resolved"], json!(resolve.len()));
    assert_eq!(r["open"], json!(open.len()));
    assert_eq!(
        r["open_at_first_run"],
        json!(episodes.iter().filter(|e| e.1 == 1).count())
    );
    assert_eq!(
        r["time_to_resolve_hours"],
        json!({"p50": nearest_rank(&resolve, 50.0), "p90": nearest_rank(&resolve, 90.0), "max": resolve.last()})
    );
    assert_eq!(
        r["open_age_hours"],
        json!({"p50": nearest_rank(&open, 50.0), "max": open.last()})
    );
    assert!(
        resolve.len() >= 5,
        "too few resolved episodes to test: {resolve:?}"
    );
    let by = json_of(d, &["delay", "--by", "platform", "--format", "json"]);
    assert_eq!(by[0]["platform"], "lms");
    assert_eq!(by[0]["rules"], json!(["has_account"]));
    assert_eq!(by[0]["time_to_resolve_hours"], r["time_to_resolve_hours"]);
}

#[test]
fn a_rule_whose_text_changed_starts_its_history_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h = generate(d, 0xc4a9);
    ok(d, &["trend"]);
    // Now only people 1 to 12 count.
    write(
        d,
        "h.rules",
        &RULES.replace(
            "for p in ssot.people\n",
            "for p in ssot.people\n  where p.id <= 12\n",
        ),
    );
    let r = run(d, &["trend", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("rule has_account has changed"),
        "{}",
        r.stderr
    );
    let json: Json = serde_json::from_str(&r.stdout).unwrap();
    let got: Vec<u64> = json[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["violations"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = h
        .violated()
        .iter()
        .map(|s| s.iter().filter(|id| **id <= 12).count() as u64)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn history_commands_explain_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, 0xbad);
    let r = run(d, &["trend", "--since", "3x"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("--since `3x`: expected a span such as 30d"),
        "{}",
        r.stderr
    );
    let r = run(d, &["diff", "--from", "5", "--to", "2"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--from run 5 is later than --to run 2"),
        "{}",
        r.stderr
    );
    let r = run(d, &["delay", "--rule", "has_acount"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `has_account`?"),
        "{}",
        r.stderr
    );
    // Without rules (no config here), diff needs --data.
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let r = run(&elsewhere, &["--store", "../s.db", "diff", "--from", "1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("or --data to compare the data"),
        "{}",
        r.stderr
    );
    let data = run(
        &elsewhere,
        &["--store", "../s.db", "diff", "--from", "1", "--data"],
    );
    assert_eq!(data.code, 0, "{}", data.stderr);
    assert!(
        data.stdout.contains("data diff: run 1 → run "),
        "{}",
        data.stdout
    );
}

#[test]
fn lms_delays_are_the_lags_of_the_drift_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    drop(crate::common::lms_store(&store, 1..=7, &[]));
    let config = repo().join("samples/lms/driftwatch.toml");
    let args = |extra: &[&'static str]| -> Vec<String> {
        [
            "--config",
            config.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
    };
    let a = args(&["delay", "--format", "json"]);
    let json = json_of(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let by_rule: BTreeMap<&str, &Json> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rule"].as_str().unwrap(), r))
        .collect();
    // Each drift is one episode of its rule, from its first day to the day after its last.
    let rule_of = |kind: &str, platform: &str| -> &'static str {
        match kind {
            "missing_from_channel" => "enrolled_member_in_course_channel",
            "extra_channel_member" => "channel_member_is_enrolled",
            "mentor_not_owner" => "mentor_owns_course_channel",
            "missing_lms_enrollment" => "enrolled_member_in_lms_course",
            "guest_active" => "guest_disabled_unless_active_member",
            "still_restricted" if platform == "q2a" => "quiz_passed_unrestricted_in_q2a",
            "still_restricted" => "quiz_passed_unrestricted_in_wordpress",
            "email_mismatch" if platform == "q2a" => "email_matches_q2a",
            "email_mismatch" if platform == "entra" => "email_matches_entra",
            "email_mismatch" => "email_matches_wordpress",
            other => panic!("unknown drift kind {other}"),
        }
    };
    let mut want: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let list = drift_list();
    for d in &list {
        let (resolved, open) = want.entry(rule_of(&d.kind, &d.platform)).or_default();
        if d.last < 7 {
            resolved.push(f64::from(d.last + 1 - d.first) * 24.0);
        } else {
            open.push(f64::from(7 - d.first) * 24.0);
        }
        // The late-propagation cases resolve exactly as late as the generator made them.
        if let Some(lag) = d.lag.filter(|_| d.last < 7) {
            assert_eq!(d.last + 1 - d.first, lag, "{}", d.email);
        }
    }
    for (rule, (mut resolved, mut open)) in want {
        resolved.sort_by(f64::total_cmp);
        open.sort_by(f64::total_cmp);
        let r = by_rule[rule];
        assert_eq!(r["episodes"], json!(resolved.len() + open.len()), "{rule}");
        assert_eq!(
            r["time_to_resolve_hours"],
            json!({"p50": nearest_rank(&resolved, 50.0), "p90": nearest_rank(&resolved, 90.0), "max": resolved.last()}),
            "{rule}"
        );
        assert_eq!(
            r["open_age_hours"],
            json!({"p50": nearest_rank(&open, 50.0), "max": open.last()}),
            "{rule}"
        );
    }
    assert_eq!(
        by_rule["enrolled_member_in_course_channel"]["platform"],
        "teams"
    );
    // The day 6 → 7 rule diff: wren.kowalski118 left Teams a day late, dev.varga51's WordPress
    // role was fixed, and rosa.young161's enrollment is new.
    let a = args(&["diff", "--from", "6", "--to", "7", "--format", "json"]);
    let diff = json_of(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let subjects = |change: &str| -> BTreeSet<String> {
        diff["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["rows"][change].as_array().unwrap().clone())
            .map(|row| row["subject"].as_str().unwrap().to_string())
            .collect()
    };
    let changed = |f: &dyn Fn(&crate::drift::Drift) -> bool| -> BTreeSet<String> {
        list.iter()
            .filter(|d| f(d))
            .map(|d| d.email.clone())
            .collect()
    };
    assert_eq!(subjects("new"), changed(&|d| d.first == 7));
    assert_eq!(subjects("resolved"), changed(&|d| d.last == 6));
}

/// The one-pass evaluation of a rule at two runs finds, at each, exactly what evaluating it at
/// that run alone finds: the rows ranged over and every violation with its fields and fix.
/// The LMS samples' seven days collected into a store in `dir`, its runs, and the shipped LMS
/// rules with `extra` rules (`x.rules`) beside them.
fn lms_with_rules(
    dir: &Path,
    extra: &str,
) -> (
    Store,
    Vec<driftwatch::rules::eval::At>,
    Vec<driftwatch::rules::RuleFile>,
) {
    use driftwatch::rules::{eval::At, RuleFile};
    let store = crate::common::lms_store(&dir.join("s.db"), 1..=7, &[]);
    let runs: Vec<At> = store.runs().unwrap().iter().map(At::from).collect();
    let files = vec![
        RuleFile::load(&crate::common::repo().join("queries/lms.rules")).unwrap(),
        RuleFile::parse(Path::new("x.rules"), extra.to_string()),
    ];
    (store, runs, files)
}

/// Evaluates a rule at runs `a` and `b` in one pass and asserts that it finds at each what it
/// finds there alone (rows ranged over, every violation with its fields and fix); false when
/// the pair does not serve the rule.
fn pair_equals_each(
    store: &Store,
    checked: &driftwatch::rules::check::Checked<'_>,
    a: &driftwatch::rules::eval::At,
    b: &driftwatch::rules::eval::At,
) -> bool {
    use driftwatch::rules::eval::{evaluate, evaluate_pair};
    let Some((ea, eb)) = evaluate_pair(store, checked, a, b).unwrap() else {
        return false;
    };
    let name = &checked.rule.name.name;
    for (e, at) in [(ea, a), (eb, b)] {
        let alone = evaluate(store, checked, at).unwrap();
        assert_eq!(e.ranged, alone.ranged, "{name} at run {}", at.run);
        assert_eq!(e.violations, alone.violations, "{name} at run {}", at.run);
    }
    true
}

#[test]
fn evaluating_a_rule_at_two_runs_in_one_pass_equals_evaluating_it_at_each() {
    use driftwatch::rules::check::Schemas;
    use driftwatch::rules::check_files;
    let dir = tempfile::tempdir().unwrap();
    // Rules over one entity (the pair's case), with exists (in `expect`, negated, and in
    // `where`), now() (also beside an exists), without `expect`, fixes, and `group by` with
    // aggregates among them, and a rule the pair does not serve (it joins), which says so.
    let (store, runs, files) = lms_with_rules(
        dir.path(),
        "rule recent_member { for m in ssot.members where m.joined_at > now() - 300d expect m.status = 'active' show since = m.joined_at }\n\
         rule member_guest_gone { for u in entra.users where u.account_enabled expect not exists m in ssot.members where m.entra_id = u.id and m.status = 'left' }\n\
         rule guest_with_member { for u in entra.users where u.user_type = 'Guest' and exists m in ssot.members where m.entra_id = u.id expect u.account_enabled and not exists n in ssot.members where n.entra_id = u.id and n.status = 'left' }\n\
         rule every_guest { for u in entra.users where u.user_type = 'Guest' subject u.mail }\n\
         rule recent_user_member { for u in entra.users expect (exists m in ssot.members where m.entra_id = u.id) and u.created_at > now() - 320d }\n\
         rule crowded_course { for e in ssot.enrollments where e.status = 'active' group by e.course_id expect count(*) < 9 key e.course_id show n = count(*), first = min(e.enrolled_at), last = max(e.member_id) }\n\
         rule recent_enrolments { for e in ssot.enrollments where e.enrolled_at > now() - 300d group by e.course_id, e.role expect sum(e.member_id) < 400 }\n\
         rule every_course { for e in ssot.enrollments group by e.course_id subject e.course_id }\n",
    );
    let schemas = Schemas::at_run(&store, 7).unwrap();
    let loaded = check_files(&files, &schemas);
    let (mut paired, mut grouped) = (0, 0);
    for l in &loaded {
        let checked = l.outcome.as_ref().unwrap();
        // Either order: the pair takes the runs as given.
        for (a, b) in [
            (&runs[0], &runs[6]),
            (&runs[2], &runs[3]),
            (&runs[5], &runs[1]),
        ] {
            if pair_equals_each(&store, checked, a, b) {
                paired += 1;
                grouped += usize::from(!l.rule.group_by.is_empty());
            } else {
                assert!(l.rule.bindings.len() > 1, "{} is over one entity", l.name());
            }
        }
    }
    assert!(paired >= 6, "{paired}");
    assert!(grouped >= 9, "{grouped}");
}

/// A pair gathers only the rows that differ between its runs or violate: its counts and
/// violations at each run must still be exactly those of that run alone, for rows added,
/// changed (a new version that violates at neither run), removed, entering the `where`, and
/// starting to violate because of a change in the entity an `exists` reads; and for groups,
/// one of which only the later run has.
#[test]
fn a_rule_evaluated_at_two_runs_at_once_counts_rows_added_changed_and_removed_between_them() {
    use driftwatch::config::{Config, Vars};
    use driftwatch::rules::check::Schemas;
    use driftwatch::rules::eval::{evaluate, At};
    use driftwatch::rules::{check_files, RuleFile};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "driftwatch.toml",
        "[sources.s]\nkind = \"csv\"\n\
         [sources.s.entities.people]\npath = \"people-${day}.csv\"\nkey = [\"id\"]\n\
         [sources.s.entities.teams]\npath = \"teams-${day}.csv\"\nkey = [\"id\"]\n",
    );
    // 1 stays, 2 is renamed, 3 violates at both, 4 goes, 5 becomes active, 6 loses its team,
    // 7 comes, 8 comes violating.
    write(
        d,
        "people-1.csv",
        "id,name,status,team\n1,ann,active,t1\n2,bob,active,t1\n3,cy,active,t9\n4,dee,active,t1\n5,eve,left,t1\n6,fay,active,t2\n",
    );
    write(
        d,
        "people-2.csv",
        "id,name,status,team\n1,ann,active,t1\n2,rob,active,t1\n3,cy,active,t9\n5,eve,active,t1\n6,fay,active,t2\n7,gus,active,t1\n8,hal,active,t8\n",
    );
    write(d, "teams-1.csv", "id\nt1\nt2\n");
    write(d, "teams-2.csv", "id\nt1\n");
    let config = Config::load(&d.join("driftwatch.toml")).unwrap();
    let mut store = Store::open(&d.join("s.db")).unwrap();
    for day in 1..=2 {
        let vars = Vars([("day".to_string(), day.to_string())].into_iter().collect());
        let at = Some(i64::from(day) * 86_400);
        let report =
            driftwatch::collect::collect_run(&mut store, &config, &vars, &[], at, false).unwrap();
        assert!(report.first_failure().is_none());
    }
    let runs: Vec<At> = store.runs().unwrap().iter().map(At::from).collect();
    let rules = "rule in_team { for p in s.people where p.status = 'active' expect exists t in s.teams where t.id = p.team show name = p.name }\n\
                 rule not_named_rob { for p in s.people where p.status = 'active' expect p.name != 'rob' }\n\
                 rule every_active { for p in s.people where p.status = 'active' subject p.name }\n\
                 rule no_team_left { for p in s.people expect not exists t in s.teams where t.id = 't2' }\n\
                 rule team_size { for p in s.people where p.status = 'active' group by p.team expect count(*) < 3 show n = count(*) }\n\
                 rule known_team_size { for p in s.people where exists t in s.teams where t.id = p.team group by p.team expect count(*) < 2 show n = count(*) }\n";
    let files = vec![RuleFile::parse(Path::new("x.rules"), rules.to_string())];
    let loaded = check_files(&files, &Schemas::at_run(&store, 2).unwrap());
    for l in &loaded {
        let checked = l.outcome.as_ref().unwrap();
        for (a, b) in [(&runs[0], &runs[1]), (&runs[1], &runs[0])] {
            assert!(pair_equals_each(&store, checked, a, b), "{}", l.name());
        }
    }
    // The case is what it says: the runs differ in what the rules range over and find.
    let in_team = loaded[0].outcome.as_ref().unwrap();
    let (first, second) = (
        evaluate(&store, in_team, &runs[0]).unwrap(),
        evaluate(&store, in_team, &runs[1]).unwrap(),
    );
    assert_eq!((first.ranged, second.ranged), (5, 7));
    assert_eq!((first.violations.len(), second.violations.len()), (1, 3));
}

#[test]
fn a_rule_run_one_violation_at_a_time_finds_what_it_gathers() {
    use driftwatch::rules::check::Schemas;
    use driftwatch::rules::check_files;
    use driftwatch::rules::eval::{evaluate, prepare, stream, RunTarget};
    let dir = tempfile::tempdir().unwrap();
    // Every shipped rule (joins, exists, group by, now()), and rules without `expect` and over
    // groups with a count.
    let (store, runs, files) = lms_with_rules(
        dir.path(),
        "rule every_guest { for u in entra.users where u.user_type = 'Guest' subject u.mail }\n\
         rule crowded_course { for e in ssot.enrollments group by e.course_id expect count(*) < 20 key e.course_id show n = count(*) }\n",
    );
    let schemas = Schemas::at_run(&store, 7).unwrap();
    let loaded = check_files(&files, &schemas);
    let mut found = 0;
    for l in &loaded {
        let checked = l.outcome.as_ref().unwrap();
        for at in [&runs[0], &runs[6]] {
            let gathered = evaluate(&store, checked, at).unwrap();
            let target = RunTarget::for_rule(&store, checked, at).unwrap();
            let prepared = prepare(&store, checked, &target).unwrap();
            let mut one_by_one = Vec::new();
            let ranged = stream(&store, checked, &prepared.compiled, |v| {
                one_by_one.push(v);
                Ok(())
            })
            .unwrap();
            assert_eq!(ranged, gathered.ranged, "{} at run {}", l.name(), at.run);
            assert_eq!(
                one_by_one,
                gathered.violations,
                "{} at run {}",
                l.name(),
                at.run
            );
            found += one_by_one.len();
        }
    }
    assert!(found > 50, "{found}");
}

/// An audit's violations kept in the store and read back one at a time (`audit_kept`, what
/// `audit --format csv|json` and the table summary use) give what an audit holding them gives,
/// byte for byte in every format: with suppressions, pending violations (a grace), a subject,
/// history recorded at earlier runs, and an audit of a run already recorded.
#[test]
fn an_audit_that_keeps_its_violations_in_the_store_writes_what_one_holding_them_writes() {
    use driftwatch::cli::{write_audit as write_report, Found};
    use driftwatch::history::{audit, audit_kept};
    use driftwatch::output::Format;
    use driftwatch::rules::check::Schemas;
    use driftwatch::rules::check_files;
    use driftwatch::store::Suppression;
    let dir = tempfile::tempdir().unwrap();
    // A grace long enough that the violations new at the audited run are pending.
    let (store, runs, files) = lms_with_rules(
        dir.path(),
        "rule young_lms_enrollments {\n  for e in ssot.enrollments, m in ssot.members, c in ssot.courses\n  where e.member_id = m.id and e.course_id = c.id and e.status = 'active' and m.status = 'active'\n  expect exists u in wordpress.course_users where u.course_id = c.lms_course_id and u.user_id = m.wp_user_id\n  key e.id\n  subject m.email\n  show course = c.code\n  grace 3d\n}\n",
    );
    let schemas = Schemas::at_run(&store, 7).unwrap();
    let loaded = check_files(&files, &schemas);
    let selected: Vec<_> = loaded.iter().collect();
    // History at runs 1 to 5 first (held), so that first_seen and pending have something to
    // read.
    for at in &runs[..5] {
        audit(&store, &selected, at, None, &[]).unwrap();
    }
    let at = &runs[6];
    let held = audit(&store, &selected, at, None, &[]).unwrap();
    let with: Vec<_> = held.rules.iter().filter(|r| r.found > 1).collect();
    assert!(with.len() >= 3, "too few rules with violations to compare");
    // Suppress the first violation of two rules.
    let suppressions: Vec<Suppression> = with[..2]
        .iter()
        .map(|r| Suppression {
            id: Some(1),
            rule: r.name.clone(),
            key: r.violations[0]
                .key
                .iter()
                .map(driftwatch::output::cell_text)
                .collect(),
            reason: "known".into(),
            until: None,
            by: "test".into(),
            created_at: None,
        })
        .collect();
    let subject = with[2].violations[0].subject_text();
    let fixes = Default::default();
    // Pending violations of a rule no suppression names (counted in SQL) and of one it names
    // (counted as they are read).
    let (mut pending_sql, mut pending_read) = (0, 0);
    for subject in [None, subject.as_deref()] {
        // Twice: the second audit of a run already recorded takes its shortcut.
        for _ in 0..2 {
            let held = audit(&store, &selected, at, subject, &suppressions).unwrap();
            let (kept_report, kept) =
                audit_kept(&store, &selected, at, subject, &suppressions).unwrap();
            for (h, k) in held.rules.iter().zip(&kept_report.rules) {
                assert_eq!(
                    (
                        h.found,
                        h.counted,
                        h.pending,
                        h.suppressed,
                        h.status,
                        h.ranged
                    ),
                    (
                        k.found,
                        k.counted,
                        k.pending,
                        k.suppressed,
                        k.status,
                        k.ranged
                    ),
                    "{}",
                    h.name
                );
                assert!(k.violations.is_empty());
                if subject.is_none() && !suppressions.iter().any(|s| s.rule == h.name) {
                    pending_sql += h.pending;
                } else {
                    pending_read += h.pending;
                }
            }
            for format in [Format::Csv, Format::Json, Format::Table] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                write_report(&held, Found::Held, format, false, 0, &fixes, &mut a).unwrap();
                write_report(
                    &kept_report,
                    Found::Kept(&kept, &store),
                    format,
                    false,
                    0,
                    &fixes,
                    &mut b,
                )
                .unwrap();
                assert_eq!(
                    String::from_utf8(a).unwrap(),
                    String::from_utf8(b).unwrap(),
                    "{format:?}, subject {subject:?}"
                );
            }
        }
    }
    assert!(
        pending_sql > 0 && pending_read > 0,
        "pending compared: {pending_sql} counted in SQL, {pending_read} as read"
    );
}
