//! `driftwatch watch`: collect, evaluate and alert on a schedule.

use super::Global;
use crate::config::Vars;
use crate::error::{Error, Exit, Result};
use crate::watch::{cron::Cron, Options, Schedule};
use std::io::Write;

/// Collect → evaluate → alert (→ plan → apply) on a schedule, one cycle at a time.
///
/// A cycle that outlasts its interval skips the ticks it missed (with a note). SIGINT and
/// SIGTERM let the current cycle finish, then exit 0; a process killed outright leaves the
/// store as it was (a collection is one transaction). With --listen (loopback when only a port
/// is given): `/healthz` (200 while the last cycle succeeded and is not overdue, else 503),
/// `/metrics` (Prometheus text: driftwatch_rule_violations, driftwatch_source_last_success_
/// timestamp_seconds, driftwatch_collect_duration_seconds, driftwatch_collect_success,
/// driftwatch_alerts_sent_total,
/// driftwatch_apply_actions_total) and `/` (the latest daily report). --apply applies each
/// cycle's plan with the guards, never with --yes.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("schedule").required(true).args(["every", "cron"])))]
pub struct Args {
    /// Start a cycle this often: 15m, 1h, 1d
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Start cycles on a cron schedule (five fields, UTC): "0 6 * * *"
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// Set ${K} in the config (repeatable), as for `collect`
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Serve /healthz, /metrics and / at ADDR (`8080` or `:8080` is 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Plan each cycle's corrective actions (plan-run-N.json beside the store)
    #[arg(long)]
    pub plan: bool,
    /// Apply each cycle's plan (with the guards; never --yes)
    #[arg(long)]
    pub apply: bool,
    /// Stop after N cycles
    #[arg(long, value_name = "N")]
    pub cycles: Option<u32>,
}

pub fn run(global: &Global, args: Args, _out: &mut dyn Write) -> Result<Exit> {
    let config = global.require_config()?;
    let vars = Vars::from_args(&args.vars)?;
    let schedule = match (&args.every, &args.cron) {
        (Some(e), _) => Schedule::Every(
            crate::time::parse_duration(e)
                .filter(|s| *s > 0)
                .map(|s| std::time::Duration::from_secs(s as u64))
                .ok_or_else(|| Error::input(format!("--every {e:?}: expected a duration such as 15m, 1h, 1d")))?,
        ),
        (None, Some(c)) => Schedule::Cron(Cron::parse(c).ok_or_else(|| {
            Error::input(format!("--cron {c:?}: expected five fields (minute hour day month weekday), such as \"0 6 * * *\""))
        })?),
        (None, None) => unreachable!("clap requires one"),
    };
    let listen = args.listen.map(|l| {
        if l.parse::<u16>().is_ok() {
            format!("127.0.0.1:{l}")
        } else if let Some(port) = l.strip_prefix(':') {
            format!("127.0.0.1:{port}")
        } else {
            l
        }
    });
    // The config as collect checks it, before the loop starts.
    crate::collect::check(config, &vars, &[], &global.store_path(&vars)?)?;
    let mut store = crate::store::Store::open(&global.store_path(&vars)?)?;
    let opts = Options {
        schedule,
        vars,
        listen,
        plan: args.plan,
        apply: args.apply,
        cycles: args.cycles,
    };
    // The cycles' lines go to standard error: standard output stays for the stdout receiver.
    let mut log = std::io::stderr();
    crate::watch::run(&mut store, config, &opts, &mut log)?;
    Ok(Exit::Ok)
}
