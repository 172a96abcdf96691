//! Sync management against the stateful fake of Graph and WordPress/LearnDash: plan, apply,
//! the guard, stale plans, idempotence, failures half-way, the audit log and verification.

use crate::fake_platforms::{config, run, Fake, State, GRAPH_WRITE_SECRET, WP_WRITE_PASSWORD};
use crate::common::{repo, write, Run};
use serde_json::Value as Json;
use std::path::Path;

fn ok(r: Run) -> String {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.stdout
}

fn json(r: &Run) -> Json {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

struct Lms {
    fake: Fake,
    dir: tempfile::TempDir,
}

impl Lms {
    fn new() -> Lms {
        let fake = Fake::start(State::from_sample(&repo().join("samples/lms/day-7")));
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "driftwatch.toml", &config(&fake, dir.path()));
        Lms { fake, dir }
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.d(), args)
    }

    fn collect(&self, at: &str) {
        ok(self.run(&["collect", "--at", at]));
    }

    fn plan(&self, file: &str) -> Json {
        ok(self.run(&["plan", "--out", file]));
        serde_json::from_str(&std::fs::read_to_string(self.d().join(file)).unwrap()).unwrap()
    }
}

#[test]
fn explore() {
    let l = Lms::new();
    l.collect("2026-11-07T06:00:00Z");
    let p = l.plan("plan.json");
    println!("{}", serde_json::to_string_pretty(&p).unwrap());
    let r = l.run(&["plan"]);
    println!("{}", r.stdout);
    let r = l.run(&["apply", "plan.json", "--dry-run"]);
    println!("{}\n{}", r.stdout, r.stderr);
    let r = l.run(&["apply", "plan.json"]);
    println!("{} {}\n{}", r.code, r.stdout, r.stderr);
    let r = l.run(&["apply", "plan.json", "--yes"]);
    println!("{} {}\n{}", r.code, r.stdout, r.stderr);
    println!("{:#?}", l.fake.writes());
    l.collect("2026-11-07T07:00:00Z");
    let r = l.run(&["audit", "--detailed"]);
    println!("{}", r.stdout);
    let r = l.run(&["log"]);
    println!("{}", r.stdout);
    let _ = (GRAPH_WRITE_SECRET, WP_WRITE_PASSWORD, json(&r));
    panic!();
}
