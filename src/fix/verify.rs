//! Verification: after an apply, whether each action's violation went away. An action is
//! `confirmed` when its violation is absent at the latest run evaluated since, `reverted` when
//! it was gone and came back, and `unconfirmed` while it persists (or no run has been
//! evaluated since).

use crate::error::Result;
use crate::store::Store;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Confirmed,
    Reverted,
    Unconfirmed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Confirmed => "confirmed",
            State::Reverted => "reverted",
            State::Unconfirmed => "unconfirmed",
        }
    }
}

/// The state of every applied action, by plan and action id.
pub fn states(store: &Store) -> Result<BTreeMap<(String, i64), State>> {
    let conn = store.conn();
    let mut applied = conn.prepare(
        "SELECT plan_id, action_id, rule, key, plan_run, applied_at FROM applied_actions",
    )?;
    let rows: Vec<(String, i64, String, String, i64, String)> = applied
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut runs = conn.prepare_cached(
        "SELECT e.run_id FROM evaluations e JOIN runs r ON r.id = e.run_id
         WHERE e.rule = ?1 AND e.run_id > ?2 AND r.started_at >= ?3 ORDER BY e.run_id",
    )?;
    let mut found = conn.prepare_cached(
        "SELECT 1 FROM findings WHERE rule = ?1 AND key = ?2 AND first_run <= ?3 AND last_run >= ?3",
    )?;
    let mut out: BTreeMap<(String, i64), State> = BTreeMap::new();
    for (plan, action, rule, key, plan_run, at) in rows {
        let later: Vec<i64> = runs
            .query_map(rusqlite::params![rule, plan_run, at], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut present = Vec::new();
        for run in later {
            present.push(found.exists(rusqlite::params![rule, key, run])?);
        }
        let gone_then_back = present
            .iter()
            .position(|p| !p)
            .is_some_and(|i| present[i..].iter().any(|p| *p));
        let state = if gone_then_back {
            State::Reverted
        } else if present.last() == Some(&false) {
            State::Confirmed
        } else {
            State::Unconfirmed
        };
        // An action resolving several violations is as good as the worst of them.
        let slot = out.entry((plan, action)).or_insert(state);
        *slot = match (*slot, state) {
            (State::Reverted, _) | (_, State::Reverted) => State::Reverted,
            (State::Unconfirmed, _) | (_, State::Unconfirmed) => State::Unconfirmed,
            _ => State::Confirmed,
        };
    }
    Ok(out)
}

/// By rule and key text: the plan, the action and its state.
pub type ByViolation = BTreeMap<(String, String), (String, i64, State)>;

/// The state of the latest applied action for each violation (`rule`, key text), for
/// `audit --detailed`.
pub fn by_violation(store: &Store) -> Result<ByViolation> {
    let states = states(store)?;
    let mut stmt = store.conn().prepare(
        "SELECT plan_id, action_id, rule, key FROM applied_actions ORDER BY applied_at, plan_id, action_id",
    )?;
    let rows: Vec<(String, i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = BTreeMap::new();
    for (plan, action, rule, key) in rows {
        if let Some(s) = states.get(&(plan.clone(), action)) {
            out.insert((rule, key), (plan, action, *s));
        }
    }
    Ok(out)
}
