//! `driftwatch suppress`: suppressions made and removed in the store, each change logged.
//! What a suppression is and how the audit honours it: `history::suppressed`.

use crate::error::{Error, Result};
use crate::store::log::Entry;
use crate::store::{Store, Suppression};

/// Records a suppression of `key` of `rule`; returns its id.
pub fn add(
    store: &Store,
    rule: &str,
    key: Vec<String>,
    reason: &str,
    until: Option<&str>,
    actor: &str,
) -> Result<i64> {
    if reason.trim().is_empty() {
        return Err(Error::input(
            "a suppression needs a reason (--reason \"…\"): it is read by whoever finds it later",
        ));
    }
    let until = until
        .map(|u| {
            crate::time::normalize(u).ok_or_else(|| {
                Error::input(format!(
                    "--until {u:?} is not a date or time (2026-12-31, 2026-12-31T18:00:00Z)"
                ))
            })
        })
        .transpose()?;
    let s = Suppression {
        id: None,
        rule: rule.to_string(),
        key,
        reason: reason.to_string(),
        until,
        by: actor.to_string(),
        created_at: None,
    };
    let id = store.suppress(&s)?;
    let mut e = Entry::new("suppress", actor);
    e.rule = Some(s.rule.clone());
    e.key = Some(serde_json::to_string(&s.key)?);
    e.outcome = Some(format!("suppressed (id {id})"));
    e.request = Some(format!(
        "reason: {}{}",
        s.reason,
        s.until
            .as_ref()
            .map(|u| format!("; until {u}"))
            .unwrap_or_default()
    ));
    store.log(vec![e])?;
    Ok(id)
}

/// Removes suppression `id`.
pub fn remove(store: &Store, id: i64, actor: &str) -> Result<Suppression> {
    let s = store.unsuppress(id)?.ok_or_else(|| {
        Error::input(format!(
            "no suppression {id} in the store (see `driftwatch suppress --list`)"
        ))
    })?;
    let mut e = Entry::new("suppress --remove", actor);
    e.rule = Some(s.rule.clone());
    e.key = Some(serde_json::to_string(&s.key)?);
    e.outcome = Some(format!("removed (id {id})"));
    store.log(vec![e])?;
    Ok(s)
}
