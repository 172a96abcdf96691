//! Applying a plan: refused whole when it is stale (another store, a newer collection of a
//! source it read, a changed rule) or when it removes too much (the guard) without `--yes`;
//! else each source's actions go to its writer, which re-reads each target and skips what is
//! in effect already. Every action's outcome is logged, and those done or already in effect
//! are kept for verification.

use super::plan::{Action, Plan, FORMAT_VERSION};
use crate::config::Guards;
use crate::error::{Error, Exit, Result};
use crate::history::record::key_text;
use crate::platforms::write::{Outcome, Request, Step};
use crate::platforms::{Config, Context};
use crate::rules::Loaded;
use crate::store::log::Entry;
use crate::store::Store;
use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, BTreeSet};

/// Reads a plan file.
pub fn load(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(format!("plan {}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::input(format!("plan {}: not JSON: {e}", path.display())))?;
    match v.get("format_version").and_then(|f| f.as_u64()) {
        Some(n) if n == FORMAT_VERSION as u64 => {}
        Some(n) => {
            return Err(Error::input(format!(
            "plan {}: format_version {n}; this driftwatch reads plans of version {FORMAT_VERSION}",
            path.display()
        )))
        }
        None => {
            return Err(Error::input(format!(
                "plan {}: not a driftwatch plan (no format_version)",
                path.display()
            )))
        }
    }
    serde_json::from_value(v).map_err(|e| Error::input(format!("plan {}: {e}", path.display())))
}

/// Why the plan may not be applied to this store as it is now, if it may not.
pub fn stale(store: &Store, plan: &Plan, rules: &[Loaded<'_>]) -> Result<Option<String>> {
    let id = store.id()?;
    if plan.store_id != id {
        return Ok(Some(format!(
            "the plan was made from another store (store {}, this is {id}); apply it with the store it was made from (--store)",
            plan.store_id
        )));
    }
    for (source, snapshot) in &plan.snapshots {
        let latest: Option<(i64, i64)> = store
            .conn()
            .query_row(
                "SELECT id, run_id FROM snapshots WHERE source = ?1 AND status = 'complete'
                 ORDER BY run_id DESC LIMIT 1",
                [source],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((latest, run)) = latest {
            if latest != *snapshot {
                return Ok(Some(format!(
                    "the plan is stale: run {run} collected {source} after it was made (the plan read snapshot {snapshot}); plan again"
                )));
            }
        }
    }
    for (rule, fingerprint) in &plan.rules {
        match rules.iter().find(|l| l.name() == rule) {
            Some(l) if &l.fingerprint() == fingerprint => {}
            Some(_) => {
                return Ok(Some(format!(
                    "the plan is stale: rule {rule} has changed since it was made; plan again"
                )))
            }
            None => {
                return Ok(Some(format!(
                    "the plan is stale: rule {rule} is no longer in the rule files; plan again"
                )))
            }
        }
    }
    Ok(None)
}

/// A group, channel or course: its source, the entity listing its members, and the columns
/// and values that pick it.
type Place = (String, &'static str, Vec<(&'static str, String)>);

/// What the guard refuses: each container whose share of removals is too high, and the total.
pub fn guard(store: &Store, config: &Config, plan: &Plan, guards: &Guards) -> Result<Vec<String>> {
    let mut accounts: BTreeSet<(String, String)> = BTreeSet::new();
    let mut per: BTreeMap<Place, BTreeSet<String>> = BTreeMap::new();
    for a in plan.actions.iter().filter(|a| a.op().removes()) {
        let Ok(source) = config.source(&a.platform) else {
            continue;
        };
        let Some(verb) = source.reader.verbs().iter().find(|v| v.name == &*a.verb) else {
            continue;
        };
        let account = verb
            .account
            .and_then(|p| a.params.get(p))
            .map(crate::output::cell_text)
            .unwrap_or_else(|| a.id.to_string());
        accounts.insert((a.platform.to_string(), account.clone()));
        if let Some(c) = &verb.container {
            let by: Vec<(&'static str, String)> =
                c.by.iter()
                    .map(|(p, col)| {
                        (
                            *col,
                            a.params
                                .get(*p)
                                .map(crate::output::cell_text)
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
            per.entry((a.platform.to_string(), c.entity, by))
                .or_default()
                .insert(account);
        }
    }
    let mut refused = Vec::new();
    let latest = store.resolve_run("latest").ok().map(|(run, _)| run);
    for ((source, entity, by), removed) in per {
        let Some(size) = latest
            .map(|run| members(store, run, &source, entity, &by))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        let share = removed.len() as f64 / size.max(1) as f64;
        if share > guards.max_remove_share {
            let place: Vec<String> = by.iter().map(|(c, v)| format!("{c} {v}")).collect();
            refused.push(format!(
                "it removes {} of the {size} members of {source}.{entity} {} ({:.0}%), more than max_remove_share ({:.0}%)",
                removed.len(),
                place.join(", "),
                share * 100.0,
                guards.max_remove_share * 100.0
            ));
        }
    }
    if accounts.len() as u64 > guards.max_remove_total {
        refused.push(format!(
            "it removes or disables {} accounts, more than max_remove_total ({})",
            accounts.len(),
            guards.max_remove_total
        ));
    }
    Ok(refused)
}

/// How many rows of `source.entity` hold each column's value, as of `run` (the latest).
fn members(
    store: &Store,
    run: i64,
    source: &str,
    entity: &str,
    by: &[(&str, String)],
) -> Result<Option<u64>> {
    let Some(schema) = store.entity(source, entity)? else {
        return Ok(None);
    };
    let Some(snap) = store.snapshot_for(&schema, run)? else {
        return Ok(None);
    };
    let mut conds = vec![crate::store::visible_as("", "?1")];
    let mut values: Vec<String> = Vec::new();
    for (col, v) in by {
        if !schema.columns.iter().any(|c| c.name == *col) {
            return Ok(None);
        }
        values.push(v.clone());
        conds.push(format!(
            "CAST({} AS TEXT) = ?{}",
            crate::store::quote(col),
            values.len() + 1
        ));
    }
    let sql = format!(
        "SELECT count(*) FROM {} WHERE {}",
        crate::store::quote(&schema.table),
        conds.join(" AND ")
    );
    let mut params: Vec<rusqlite::types::Value> = vec![snap.id.into()];
    params.extend(values.into_iter().map(rusqlite::types::Value::from));
    let n: i64 = store
        .conn()
        .query_row(&sql, rusqlite::params_from_iter(params), |r| r.get(0))?;
    Ok(Some(n as u64))
}

/// One action's outcome.
#[derive(Debug, Clone)]
pub struct Done {
    pub action: Action,
    pub outcome: Outcome,
    pub requests: Vec<Request>,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Why the plan was refused whole, if it was.
    pub refused: Option<String>,
    pub actions: Vec<Done>,
    pub dry_run: bool,
}

impl Report {
    /// 2 when refused whole, 3 when an action failed, else 0.
    pub fn exit(&self) -> Exit {
        if self.refused.is_some() {
            Exit::Invalid
        } else if self
            .actions
            .iter()
            .any(|d| matches!(d.outcome, Outcome::Failed(_)))
        {
            Exit::Runtime
        } else {
            Exit::Ok
        }
    }
}

pub struct Options<'a> {
    pub dry_run: bool,
    pub yes: bool,
    pub actor: &'a str,
}

/// Applies `plan`: refused whole when stale or past the guard (without `--yes`), else each
/// source's actions executed by its writer.
pub fn apply(
    store: &Store,
    config: &Config,
    cx: &Context<'_>,
    rules: &[Loaded<'_>],
    plan: &Plan,
    opts: &Options<'_>,
) -> Result<Report> {
    let refuse = |why: String| -> Result<Report> {
        let mut e = Entry::new("apply", opts.actor);
        e.plan_id = Some(plan.plan_id.clone());
        e.outcome = Some("refused".into());
        e.error = Some(why.clone());
        store.log(vec![e])?;
        Ok(Report {
            refused: Some(why),
            actions: Vec::new(),
            dry_run: opts.dry_run,
        })
    };
    if let Some(why) = stale(store, plan, rules)? {
        return refuse(why);
    }
    let over = guard(store, config, plan, &config.guards)?;
    if !over.is_empty() && !opts.yes && !opts.dry_run {
        return refuse(format!(
            "the plan removes too much: {}; nothing was changed. Check the plan, then apply with --yes if it is right (limits: [apply] max_remove_share, max_remove_total)",
            over.join("; ")
        ));
    }
    let mut done: Vec<Done> = Vec::new();
    let mut by_source: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
    for a in &plan.actions {
        if a.op() == crate::platforms::write::Op::Notify {
            let why = a
                .reason
                .as_deref()
                .unwrap_or("for a person: listed, never executed")
                .to_string();
            done.push(Done {
                action: a.clone(),
                outcome: Outcome::Refused(why),
                requests: Vec::new(),
            });
        } else {
            by_source.entry(&a.platform).or_default().push(a);
        }
    }
    for (source, actions) in by_source {
        let writer = config
            .source(source)
            .and_then(|s| s.reader.writer(source, cx));
        let outcomes = match writer {
            Err(e) => actions
                .iter()
                .map(|a| (a.id, Outcome::Failed(e.message.clone()), Vec::new()))
                .collect::<Vec<_>>(),
            Ok(w) => {
                let steps: Vec<Step> = actions
                    .iter()
                    .map(|a| Step {
                        id: a.id,
                        verb: a.verb.to_string(),
                        params: a.params.clone(),
                    })
                    .collect();
                w.apply(source, cx, &steps, opts.dry_run)
                    .into_iter()
                    .map(|x| (x.id, x.outcome, x.requests))
                    .collect()
            }
        };
        for (id, outcome, requests) in outcomes {
            if let Some(a) = actions.iter().find(|a| a.id == id) {
                done.push(Done {
                    action: (*a).clone(),
                    outcome,
                    requests,
                });
            }
        }
    }
    done.sort_by_key(|d| d.action.id);
    record(store, plan, &done, opts)?;
    Ok(Report {
        refused: None,
        actions: done,
        dry_run: opts.dry_run,
    })
}

/// One log entry per action, and the actions in effect kept for verification.
fn record(store: &Store, plan: &Plan, done: &[Done], opts: &Options<'_>) -> Result<()> {
    let entries = done
        .iter()
        .map(|d| {
            let mut e = Entry::new(
                if opts.dry_run {
                    "apply --dry-run"
                } else {
                    "apply"
                },
                opts.actor,
            );
            e.plan_id = Some(plan.plan_id.clone());
            e.action_id = Some(d.action.id as i64);
            e.target = Some(format!("{}.{}", d.action.platform, d.action.verb));
            let lines: Vec<String> = d.requests.iter().map(Request::line).collect();
            e.request = (!lines.is_empty()).then(|| lines.join("; "));
            e.outcome = Some(d.outcome.as_str().into());
            e.error = d.outcome.error().map(str::to_string);
            e.rule = Some(d.action.rule.to_string());
            e.key = Some(key_text(&d.action.key));
            e.subject = d.action.subject.as_ref().map(crate::output::cell_text);
            e
        })
        .collect();
    store.log(entries)?;
    if opts.dry_run {
        return Ok(());
    }
    let now = crate::time::format(crate::time::now());
    let mut stmt = store.conn().prepare(
        "INSERT INTO applied_actions (plan_id, action_id, rule, key, plan_run, verb, target, outcome, applied_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (plan_id, action_id, rule, key) DO UPDATE SET outcome = excluded.outcome
         WHERE applied_actions.outcome NOT IN ('done', 'already')",
    )?;
    for d in done {
        if !matches!(d.outcome, Outcome::Done | Outcome::Already) {
            continue;
        }
        for r in d.action.resolves() {
            stmt.execute(rusqlite::params![
                plan.plan_id,
                d.action.id,
                &*r.rule,
                key_text(&r.key),
                plan.run,
                &*d.action.verb,
                &*d.action.platform,
                d.outcome.as_str(),
                now
            ])?;
        }
    }
    Ok(())
}
