//! `watch`: collect → evaluate → alert (→ plan → apply, with the guards, never `--yes`) in a
//! loop, one cycle at a time, on an interval or a cron schedule. A cycle that outlasts its
//! interval makes the loop skip the ticks it missed, with a note. SIGINT and SIGTERM let the
//! current cycle finish (a collection is one transaction: a process killed outright leaves the
//! store as it was) and end the loop with exit 0. With `--listen`, `/healthz`, `/metrics` and
//! `/` (the latest daily report) are served (`server`).

pub mod cron;
mod metrics;
pub mod server;

use crate::collect::collect_run;
use crate::config::Vars;
use crate::error::Result;
use crate::history::audit_with_history;
use crate::platforms::{Config, Context};
use crate::rules::check::Schemas;
use crate::rules::eval::At;
use crate::rules::{check_files, load_files, Loaded};
use crate::store::log::Entry;
use crate::store::Store;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When cycles start.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(cron::Cron),
}

pub struct Options {
    pub schedule: Schedule,
    pub vars: Vars,
    pub listen: Option<String>,
    pub plan: bool,
    pub apply: bool,
    /// Stop after this many cycles (for tests and one-off runs).
    pub cycles: Option<u32>,
}

/// Set by SIGINT or SIGTERM: the loop ends after the current cycle.
static STOP: AtomicBool = AtomicBool::new(false);

/// Listens for SIGINT and SIGTERM on a thread of its own.
fn catch_signals() {
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(|| {
            let Ok(rt) = crate::platforms::http::runtime() else {
                return;
            };
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    if let (Ok(mut term), Ok(mut int)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::interrupt()),
                    ) {
                        futures_util::future::select(Box::pin(term.recv()), Box::pin(int.recv()))
                            .await;
                        STOP.store(true, Ordering::SeqCst);
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                    STOP.store(true, Ordering::SeqCst);
                }
            });
        });
}

/// Runs the loop until a signal (or `cycles`). `log` gets a line a cycle.
pub fn run(store: &mut Store, config: &Config, opts: &Options, log: &mut dyn Write) -> Result<()> {
    catch_signals();
    let shared: server::Shared = Arc::new(std::sync::Mutex::new(server::Published {
        overdue_after: match &opts.schedule {
            Schedule::Every(d) => *d * 2 + Duration::from_secs(60),
            Schedule::Cron(_) => Duration::from_secs(2 * 86_400),
        },
        ..Default::default()
    }));
    if let Some(addr) = &opts.listen {
        let bound = server::start(addr, shared.clone())
            .map_err(|e| crate::error::Error::input(format!("--listen {addr}: {e}")))?;
        let _ = writeln!(
            log,
            "watch: listening on http://{bound} (/healthz, /metrics, /)"
        );
    }
    let mut durations: BTreeMap<String, f64> = BTreeMap::new();
    let mut rules: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut done = 0;
    let mut next = Instant::now();
    loop {
        if STOP.load(Ordering::SeqCst) {
            let _ = writeln!(log, "watch: stopped by a signal after {done} cycle(s)");
            return Ok(());
        }
        let started = Instant::now();
        let outcome = cycle(store, config, opts, &mut durations, &mut rules, log);
        let ok = match &outcome {
            Ok((line, collected)) => {
                let _ = writeln!(log, "watch: {line}");
                *collected
            }
            Err(e) => {
                let _ = writeln!(
                    log,
                    "watch: the cycle failed: {}",
                    crate::config::mask(&e.message)
                );
                false
            }
        };
        {
            let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
            p.last = Some((Instant::now(), ok));
            if let Ok(m) = metrics::render(store, &durations, &rules) {
                p.metrics = m;
            }
            if let Ok(html) = latest_report(store, config) {
                p.report = html;
            }
        }
        done += 1;
        if opts.cycles.is_some_and(|n| done >= n) {
            return Ok(());
        }
        // The next start; ticks a long cycle ran past are skipped, with a note.
        next = match &opts.schedule {
            Schedule::Every(d) => {
                let mut n = next + *d;
                let mut skipped = 0;
                while n <= Instant::now() {
                    n += *d;
                    skipped += 1;
                }
                if skipped > 0 {
                    let _ = writeln!(log, "watch: note: the cycle took {:.1?}, longer than the interval; {skipped} cycle(s) skipped", started.elapsed());
                }
                n
            }
            Schedule::Cron(c) => {
                let now = crate::time::now();
                let at = c.next_after(now).unwrap_or(now + 86_400);
                Instant::now() + Duration::from_secs((at - now).max(1) as u64)
            }
        };
        while Instant::now() < next && !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100).min(next - Instant::now()));
        }
    }
}

/// One cycle: collect, audit, alert, and plan/apply when asked. Returns a line to log, and
/// whether every source was collected (a failed source makes the cycle unhealthy).
fn cycle(
    store: &mut Store,
    config: &Config,
    opts: &Options,
    durations: &mut BTreeMap<String, f64>,
    counted: &mut BTreeMap<String, (String, u64)>,
    log: &mut dyn Write,
) -> Result<(String, bool)> {
    let report = collect_run(store, config, &opts.vars, &[], None)?;
    for o in &report.outcomes {
        durations.insert(o.source.clone(), o.seconds);
    }
    let failed: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.source.as_str())
        .collect();
    let at = At {
        run: report.run_id,
        taken_at: report.taken_at.clone(),
    };
    let files = rule_files(config)?;
    let schemas = Schemas::at_run(store, at.run)?.with_declared(Some(config));
    let loaded = check_files(&files, &schemas);
    let rules: Vec<&Loaded<'_>> = loaded.iter().collect();
    let audit = audit_with_history(store, Some(config), &files, &rules, &at, None)?;
    *counted = audit
        .rules
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| {
            (
                r.name.clone(),
                (r.severity.as_str().to_string(), r.counted()),
            )
        })
        .collect();
    let mut e = Entry::new("watch", &crate::store::log::default_actor());
    e.outcome = Some(format!("run {}: {} issues", at.run, audit.total_issues()));
    store.log(vec![e])?;
    let alerts = crate::alert::run(store, config, &files, &at, false, log)?;
    let mut line = format!(
        "run {} at {}: {} issues, {} alert(s) firing, {} notification(s) sent{}",
        at.run,
        at.taken_at,
        audit.total_issues(),
        alerts.firing.len(),
        alerts.sent.len(),
        match alerts.failed.len() {
            0 => String::new(),
            n => format!(", {n} not delivered (due again next cycle)"),
        }
    );
    if !failed.is_empty() {
        line.push_str(&format!("; collection failed for {}", failed.join(", ")));
    }
    if opts.plan || opts.apply {
        let planned = crate::fix::plan::plan(store, config, &files, &rules, &at)?;
        let path = store
            .path()
            .with_file_name(format!("plan-run-{}.json", at.run));
        if store.path().as_os_str() != ":memory:" {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
            planned.plan.write(&mut f)?;
            f.flush()?;
        }
        line.push_str(&format!(
            "; plan {}: {} action(s)",
            path.display(),
            planned.plan.actions.len()
        ));
        if opts.apply && !planned.plan.actions.is_empty() {
            let cx = Context {
                origin: &config.origin,
                vars: &opts.vars,
            };
            let actor = crate::store::log::default_actor();
            let options = crate::fix::apply::Options {
                dry_run: false,
                yes: false,
                actor: &actor,
            };
            let applied =
                crate::fix::apply::apply(store, config, &cx, &loaded, &planned.plan, &options)?;
            match &applied.refused {
                Some(why) => line.push_str(&format!("; apply refused: {why}")),
                None => {
                    let done = applied
                        .actions
                        .iter()
                        .filter(|d| d.outcome.as_str() == "done")
                        .count();
                    let failed = applied
                        .actions
                        .iter()
                        .filter(|d| d.outcome.as_str() == "failed")
                        .count();
                    line.push_str(&format!("; applied: {done} done, {failed} failed"));
                }
            }
        }
    }
    Ok((line, failed.is_empty()))
}

/// The config's rule files; none is fine for a watch that only collects and alerts on sources.
fn rule_files(config: &Config) -> Result<Vec<crate::rules::RuleFile>> {
    if config.rules.is_empty() {
        Ok(Vec::new())
    } else {
        load_files(Some(config), &[])
    }
}

/// The daily report at the latest run, as HTML, for `/`.
fn latest_report(store: &Store, config: &Config) -> Result<String> {
    let (run, taken_at) = store.resolve_run("latest")?;
    let at = At { run, taken_at };
    let files = rule_files(config)?;
    let schemas = Schemas::at_run(store, run)?.with_declared(Some(config));
    let loaded = check_files(&files, &schemas);
    let rules: Vec<&Loaded<'_>> = loaded.iter().collect();
    let r = crate::report::period::report(
        store,
        config,
        &files,
        &rules,
        crate::report::period::Period::Daily,
        &at,
    )?;
    let mut out = Vec::new();
    crate::report::render::write(&r, crate::output::Format::Html, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
