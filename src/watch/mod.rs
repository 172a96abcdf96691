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
use crate::platforms::{Config, Context, Subscription};
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
    let (tx, events) = std::sync::mpsc::channel::<server::Event>();
    let mut subscriptions: Vec<(String, Subscription)> = Vec::new();
    if let Some(addr) = &opts.listen {
        let cx = Context {
            origin: &config.origin,
            vars: &opts.vars,
        };
        let mut feeds = server::Feeds {
            states: Vec::new(),
            events: Some(tx.clone()),
        };
        for s in &config.sources {
            let Some(feed) = s.reader.change_feed(&s.name, &cx)? else {
                continue;
            };
            feeds
                .states
                .push((s.name.clone(), feed.client_state.clone()));
            if feed.url.is_some() {
                match s.reader.subscribe(&s.name, &cx, &feed, crate::time::now()) {
                    Ok(subs) => {
                        for sub in subs {
                            let _ = writeln!(
                                log,
                                "watch: subscribed to {} changes of {} (until {})",
                                sub.resource,
                                s.name,
                                crate::time::format(sub.expires)
                            );
                            subscriptions.push((s.name.clone(), sub));
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(
                            log,
                            "watch: note: no subscription for {}: {}",
                            s.name,
                            crate::config::mask(&e.message)
                        );
                    }
                }
            }
        }
        let bound = server::start(addr, shared.clone(), feeds)
            .map_err(|e| crate::error::Error::input(format!("--listen {addr}: {e}")))?;
        let _ = writeln!(
            log,
            "watch: listening on http://{bound} (/healthz, /metrics, /, /graph/notifications)"
        );
    }
    drop(tx);
    let mut durations: BTreeMap<String, (f64, bool)> = BTreeMap::new();
    let mut rules: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut done = 0;
    let mut next = Instant::now();
    // Sources a change notification named, collected again at once (after the debounce).
    let mut only: Vec<String> = Vec::new();
    loop {
        if STOP.load(Ordering::SeqCst) {
            let _ = writeln!(log, "watch: stopped by a signal after {done} cycle(s)");
            return Ok(());
        }
        let started = Instant::now();
        let outcome = cycle(store, config, opts, &only, &mut durations, &mut rules, log);
        let triggered = !std::mem::take(&mut only).is_empty();
        let mut made = None;
        let ok = match outcome {
            Ok((line, collected, audit)) => {
                let _ = writeln!(log, "watch: {line}");
                made = audit;
                collected
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
            if let Ok(html) = latest_report(store, config, made) {
                p.report = html;
            }
        }
        if !triggered {
            done += 1;
        }
        if opts.cycles.is_some_and(|n| done >= n) {
            return Ok(());
        }
        renew(config, opts, &mut subscriptions, log);
        // The next start (a notification's cycle leaves the schedule as it was); ticks a long
        // cycle ran past are skipped, with a note.
        if !triggered {
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
        }
        wait(
            &events,
            next,
            &mut only,
            &mut subscriptions,
            config,
            opts,
            log,
        );
    }
}

/// How long notifications are gathered before the sources they name are collected.
const DEBOUNCE: Duration = Duration::from_secs(2);

/// Waits until `next` or a change notification (then gathers more for [`DEBOUNCE`] into
/// `only`); returns whether one came. A reauthorization is done at once.
fn wait(
    events: &std::sync::mpsc::Receiver<server::Event>,
    next: Instant,
    only: &mut Vec<String>,
    subscriptions: &mut [(String, Subscription)],
    config: &Config,
    opts: &Options,
    log: &mut dyn Write,
) -> bool {
    let mut until = next;
    let mut changed = false;
    while !STOP.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        match events.recv_timeout((until - now).min(Duration::from_millis(100))) {
            Ok(server::Event::Changed(source)) => {
                if !only.contains(&source) {
                    only.push(source);
                }
                if !changed {
                    changed = true;
                    until = until.min(Instant::now() + DEBOUNCE);
                }
            }
            Ok(server::Event::Reauthorize(source, id)) => {
                for (_, sub) in subscriptions
                    .iter_mut()
                    .filter(|(s, sub)| *s == source && sub.id == id)
                {
                    sub.expires = 0;
                }
                renew(config, opts, subscriptions, log);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
            }
        }
    }
    changed
}

/// Renews the subscriptions that have less than half of their two days left.
fn renew(
    config: &Config,
    opts: &Options,
    subscriptions: &mut [(String, Subscription)],
    log: &mut dyn Write,
) {
    let now = crate::time::now();
    let cx = Context {
        origin: &config.origin,
        vars: &opts.vars,
    };
    for (source, sub) in subscriptions
        .iter_mut()
        .filter(|(_, s)| s.expires - now < 86_400)
    {
        let Ok(s) = config.source(source) else {
            continue;
        };
        match s.reader.renew(source, &cx, &sub.id, now) {
            Ok(expires) => sub.expires = expires,
            Err(e) => {
                let _ = writeln!(
                    log,
                    "watch: note: renewing the subscription to {} of {source}: {}",
                    sub.resource,
                    crate::config::mask(&e.message)
                );
            }
        }
    }
}

/// One cycle: collect, audit, alert, and plan/apply when asked. Returns a line to log, and
/// whether every source was collected (a failed source makes the cycle unhealthy).
fn cycle(
    store: &mut Store,
    config: &Config,
    opts: &Options,
    only: &[String],
    durations: &mut BTreeMap<String, (f64, bool)>,
    counted: &mut BTreeMap<String, (String, u64)>,
    log: &mut dyn Write,
) -> Result<(String, bool, Option<crate::history::AuditReport>)> {
    let report = collect_run(store, config, &opts.vars, only, None, false)?;
    for o in &report.outcomes {
        durations.insert(o.source.clone(), (o.seconds, o.result.is_ok()));
    }
    let failed = report.failed_sources();
    let at = At {
        run: report.run_id,
        taken_at: report.taken_at.clone(),
    };
    let files = rule_files(config)?;
    let schemas = Schemas::at_run(store, at.run)?.with_declared(Some(config));
    let loaded = check_files(&files, &schemas);
    // After a notification, the rules that read the sources it named; else every rule.
    let rules: Vec<&Loaded<'_>> = loaded
        .iter()
        .filter(|l| only.is_empty() || l.rule.sources().iter().any(|s| only.iter().any(|o| o == s)))
        .collect();
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
    let alerts = crate::alert::run(store, config, &files, &at, Some(&audit), false, log)?;
    let mut line = format!(
        "{}run {} at {}: {} issues, {} alert(s) firing, {} notification(s) sent{}",
        if only.is_empty() {
            String::new()
        } else {
            format!("changed {}: ", only.join(", "))
        },
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
        let planned = crate::fix::plan::from_audit(store, config, &rules, &at, audit.clone())?;
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
    // The report of a full cycle reads the same audit; one after a notification reads some rules.
    let full = only.is_empty().then_some(audit);
    Ok((line, failed.is_empty(), full))
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
fn latest_report(
    store: &Store,
    config: &Config,
    made: Option<crate::history::AuditReport>,
) -> Result<String> {
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
        made,
    )?;
    let mut out = Vec::new();
    crate::report::render::write(&r, crate::output::Format::Html, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
