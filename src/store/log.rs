//! The audit log: every collect, evaluation, plan, apply attempt and suppression change, one
//! entry each, append-only (triggers refuse UPDATE and DELETE) and chained: each entry's
//! `hash` is SHA-256 over its canonical JSON, which holds the previous entry's hash, so an
//! edited, removed or reordered entry breaks the chain at that entry ([`verify`]).
//!
//! What goes in is masked with every secret this process has read (`config::mask`): an error
//! a service echoed with a token in it is logged without the token.

use super::Store;
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Who is acting when no one is named: `DRIFTWATCH_ACTOR`, else the login name.
pub fn default_actor() -> String {
    std::env::var("DRIFTWATCH_ACTOR")
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the log, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub command: String,
    pub plan_id: Option<String>,
    pub action_id: Option<i64>,
    pub target: Option<String>,
    pub request: Option<String>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub rule: Option<String>,
    pub key: Option<String>,
    pub subject: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// A new entry of `command` by `actor`; the other fields are set by the caller, the
    /// sequence number, time and hashes by [`Store::log`].
    pub fn new(command: &str, actor: &str) -> Entry {
        Entry {
            command: command.to_string(),
            actor: actor.to_string(),
            ..Entry::default()
        }
    }

    /// SHA-256 (hex) of the entry's canonical JSON: every field but `hash`, in a fixed order.
    pub fn digest(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.at,
            self.actor,
            self.command,
            self.plan_id,
            self.action_id,
            self.target,
            self.request,
            self.outcome,
            self.error,
            self.rule,
            self.key,
            self.subject,
            self.prev_hash,
        ]);
        let mut h = Sha256::new();
        h.update(canonical.to_string().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

const COLUMNS: &str = "seq, at, actor, command, plan_id, action_id, target, request, outcome, error, rule, key, subject, prev_hash, hash";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        command: r.get(3)?,
        plan_id: r.get(4)?,
        action_id: r.get(5)?,
        target: r.get(6)?,
        request: r.get(7)?,
        outcome: r.get(8)?,
        error: r.get(9)?,
        rule: r.get(10)?,
        key: r.get(11)?,
        subject: r.get(12)?,
        prev_hash: r.get(13)?,
        hash: r.get(14)?,
    })
}

/// Appends `entries` to the log of `conn`, in the transaction the connection is in, or in one
/// of their own (taken for writing at once, so two processes never chain onto one entry).
pub fn append(conn: &Connection, entries: Vec<Entry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    let result = append_in(conn, entries);
    if own {
        match &result {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    result
}

fn append_in(conn: &Connection, entries: Vec<Entry>) -> Result<()> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_string()));
    let at = crate::time::format(crate::time::now());
    let mask = |t: Option<String>| t.map(|t| crate::config::mask(&t));
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?;
    for e in entries {
        seq += 1;
        let mut e = Entry {
            seq,
            at: at.clone(),
            request: mask(e.request),
            error: mask(e.error),
            subject: mask(e.subject),
            prev_hash: prev.clone(),
            hash: String::new(),
            ..e
        };
        e.hash = e.digest();
        stmt.execute(rusqlite::params![
            e.seq,
            e.at,
            e.actor,
            e.command,
            e.plan_id,
            e.action_id,
            e.target,
            e.request,
            e.outcome,
            e.error,
            e.rule,
            e.key,
            e.subject,
            e.prev_hash,
            e.hash
        ])?;
        prev = e.hash;
    }
    Ok(())
}

/// The entries at or after `since` (ISO-8601 UTC), oldest first.
pub fn entries(conn: &Connection, since: Option<&str>) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ?1 IS NULL OR at >= ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map([since], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where the chain breaks: the first entry that was edited, removed or moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// The sequence number of the entry at which the chain breaks.
    pub seq: i64,
    pub why: String,
}

/// Recomputes the chain. `Ok(None)`: every entry is as it was written, in order.
pub fn verify(conn: &Connection) -> Result<(usize, Option<Break>)> {
    let all = entries(conn, None)?;
    let mut prev = GENESIS.to_string();
    for (expected_seq, e) in (1..).zip(all.iter()) {
        let broken = |why: String| Ok((all.len(), Some(Break { seq: e.seq, why })));
        if e.seq != expected_seq {
            return broken(format!(
                "entry {} is missing (the log goes from {} to {}): it was removed",
                expected_seq,
                expected_seq - 1,
                e.seq
            ));
        }
        if e.prev_hash != prev {
            return broken(format!(
                "entry {} does not follow entry {}: an entry before it was removed, edited or moved",
                e.seq,
                e.seq - 1
            ));
        }
        if e.digest() != e.hash {
            return broken(format!(
                "entry {} was edited or moved: its content does not match its hash",
                e.seq
            ));
        }
        prev = e.hash.clone();
    }
    Ok((all.len(), None))
}

impl Store {
    /// Appends `entries` to the audit log.
    pub fn log(&self, entries: Vec<Entry>) -> Result<()> {
        append(&self.conn, entries)
    }

    /// The store's identity, made when it is first asked for: a plan names the store it was
    /// made from, and `apply` refuses it on another.
    pub fn id(&self) -> Result<String> {
        let get = || -> Result<Option<String>> {
            Ok(self
                .conn
                .query_row(
                    "SELECT value FROM store_meta WHERE key = 'store_id'",
                    [],
                    |r| r.get(0),
                )
                .optional()?)
        };
        if let Some(id) = get()? {
            return Ok(id);
        }
        let seed = format!(
            "{}:{}:{}",
            crate::time::now_millis(),
            std::process::id(),
            self.path.display()
        );
        let id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes()));
        self.conn.execute(
            "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('store_id', ?1)",
            [&id],
        )?;
        Ok(get()?.unwrap_or(id))
    }
}
