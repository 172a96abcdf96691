//! What every system holds at a run (`driftwatch status`): the `count`s of the rule files,
//! each evaluated at the run like a rule (checked, compiled, run over the entities as of the
//! run); its number is how many rows, or groups with `group by`, it ranges over. A count
//! belongs to the system (source) of its first `for` binding, and counts of one name across
//! systems are one column:
//!
//! ```text
//! count members { for m in ssot.members where m.status = 'active' and m.role = 'member' }
//! count members { for u in wordpress.users where u.roles in ('subscriber', 'restricted') }
//! count people  { for t in teams.channel_members group by t.user_id }
//! ```

use crate::error::Result;
use crate::rules::check::{check_rule, Schemas};
use crate::rules::eval::{evaluate, At};
use crate::rules::RuleFile;
use crate::store::Store;

/// What one system holds: a count per column of [`Status::counted`]; None where the system
/// has no such count.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemCounts {
    pub system: String,
    pub counts: Vec<Option<i64>>,
}

/// What every system holds at a run.
#[derive(Debug, Clone)]
pub struct Status {
    pub at: At,
    /// The counts' names, in the order the files first define them.
    pub counted: Vec<String>,
    pub systems: Vec<SystemCounts>,
    /// Counts that could not be taken, and why.
    pub notes: Vec<String>,
}

/// Evaluates every `count` of `files` at `at`. Systems come in the order of `sources` (the
/// config's), then any other.
pub fn status(store: &Store, files: &[RuleFile], at: &At, sources: &[&str]) -> Result<Status> {
    let schemas = Schemas::at_run(store, at.run)?;
    let mut counted: Vec<String> = Vec::new();
    let mut found: Vec<(String, String, i64)> = Vec::new();
    let mut notes = Vec::new();
    for f in files {
        for c in &f.counts {
            let name = c.name.name.clone();
            if !counted.contains(&name) {
                counted.push(name.clone());
            }
            let Some(system) = c.bindings.first().map(|b| b.source.name.clone()) else {
                continue;
            };
            match check_rule(c, &f.src, &schemas) {
                Ok(checked) => {
                    let ev = evaluate(store, &checked, at)?;
                    notes.extend(ev.note);
                    found.push((system, name, ev.ranged as i64));
                }
                Err(diags) => notes.push(format!(
                    "count {name} of {system} is not taken: {}",
                    diags.first().map(|d| d.message.as_str()).unwrap_or("")
                )),
            }
        }
    }
    let mut order: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    for (s, _, _) in &found {
        if !order.contains(s) {
            order.push(s.clone());
        }
    }
    let systems = order
        .into_iter()
        .filter(|s| found.iter().any(|(f, _, _)| f == s))
        .map(|system| SystemCounts {
            counts: counted
                .iter()
                .map(|c| {
                    found
                        .iter()
                        .find(|(s, n, _)| *s == system && n == c)
                        .map(|f| f.2)
                })
                .collect(),
            system,
        })
        .collect();
    Ok(Status {
        at: at.clone(),
        counted,
        systems,
        notes,
    })
}
