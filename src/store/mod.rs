//! The snapshot store: one SQLite file in WAL mode, migrated on open (refinery, `migrations/`).
//!
//! A run is one transaction. Each source is collected under a savepoint: a source that fails is
//! rolled back to nothing and recorded as a failed snapshot, and the others go on. A process
//! killed at any moment leaves the store as it was, because nothing is committed until the run
//! ends. The write lock is taken at the start of the run (`BEGIN IMMEDIATE`), so a second
//! `collect` waits for the first and never interleaves with it.

mod diff;
mod entity;
pub mod log;
mod read;
mod suppressions;

pub use diff::{diff_data, EntityDiff, RowChange};
pub(crate) use entity::{quote, visible_as};
pub use entity::{Column, EntityStats, EntityWriter};
pub use read::{EntitySchema, RunInfo, SnapshotInfo, SnapshotRef};
pub use suppressions::Suppression;

use crate::error::{Error, Result};
use crate::time::{self, Epoch};
use crate::value::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// `PRAGMA application_id` of a driftwatch store ("DRFT"), so that no other database is taken
/// for one.
const APPLICATION_ID: i64 = 0x4452_4654;

/// How long a collection waits for another process's collection to finish.
const LOCK_WAIT: Duration = Duration::from_secs(120);

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Called with the store's path when a run must wait for another process's run.
    on_wait: fn(&Path),
}

impl Store {
    /// Opens the store at `path`, creating and migrating it when needed.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::input(format!(
                    "store {}: folder {} does not exist",
                    path.display(),
                    dir.display()
                )));
            }
        }
        Store::connect(path, OpenFlags::default())
    }

    /// Opens an existing store for reading commands; a missing file is an error, not a new store.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::runtime(format!(
                "store {} does not exist: run `driftwatch collect` first (or pass --store FILE)",
                path.display()
            )));
        }
        Store::connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Store> {
        let failed = |e: rusqlite::Error| Error::runtime(format!("store {}: {e}", path.display()));
        let mut conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        // Before anything is changed (the journal mode, the tables): is it ours to change?
        let marked = check_identity(&conn, path)?;
        configure(&conn).map_err(failed)?;
        migrate(&mut conn).map_err(|e| e.context(format!("store {}", path.display())))?;
        if !marked {
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(failed)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            on_wait: |_| {},
        })
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What to do when a run must wait for another process's run to finish (the command line
    /// says so on standard error); by default, nothing.
    pub fn on_wait(&mut self, f: fn(&Path)) {
        self.on_wait = f;
    }

    /// Starts a run at `taken_at` (now, when None: read after the lock is held, so that runs
    /// that waited for each other still come in time order), waiting for any other writer.
    pub fn begin_run(&mut self, taken_at: Option<Epoch>) -> Result<RunWriter<'_>> {
        let path = self.path.display().to_string();
        self.conn.busy_timeout(Duration::ZERO)?;
        let tx = match Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) if is_busy(&e) => {
                (self.on_wait)(&self.path);
                self.conn.busy_timeout(LOCK_WAIT)?;
                Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(|e| {
                    if is_busy(&e) {
                        Error::runtime(format!("store {path} is still locked by another driftwatch process after {}s; try again when it has finished", LOCK_WAIT.as_secs()))
                    } else {
                        e.into()
                    }
                })?
            }
            Err(e) => return Err(e.into()),
        };
        let latest = read::latest_run(&tx)?;
        let mut at = time::format(taken_at.unwrap_or_else(time::now));
        if taken_at.is_none() && latest.as_ref().is_some_and(|(_, l)| *l == at) {
            // Runs are told apart by their second: a run "now" waits for the next one.
            std::thread::sleep(Duration::from_millis(1000 - time::now_millis() % 1000));
            at = time::format(time::now());
        }
        if let Some((id, latest_at)) = latest {
            if at < latest_at {
                return Err(Error::input(format!(
                    "a run at {at} would come before run {id} at {latest_at}: runs are collected in time order"
                )));
            }
            if at == latest_at {
                return Err(Error::input(format!(
                    "run {id} is at {at} already: two runs at one time could not be told apart (pass a later --at)"
                )));
            }
        }
        let started = time::format(time::now());
        tx.execute(
            "INSERT INTO runs (taken_at, started_at, finished_at) VALUES (?1, ?2, ?2)",
            (&at, &started),
        )?;
        let run_id = tx.last_insert_rowid();
        Ok(RunWriter {
            tx,
            run_id,
            taken_at: at,
            full: false,
        })
    }
}

/// Refuses a SQLite file that is not a driftwatch store: a typo in `--store` must not add
/// driftwatch's tables to a production database or switch it to WAL. A store is one marked with
/// driftwatch's application id, an empty database (a new store), or a store made before stores
/// were marked (it has driftwatch's tables). Returns whether it is marked already.
fn check_identity(conn: &Connection, path: &Path) -> Result<bool> {
    let not_ours = |what: String| {
        Error::input(format!(
            "store {}: {what}; driftwatch changes nothing in it. Pass the store's own path with --store (or `store` in the config)",
            path.display()
        ))
    };
    let id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| not_ours(format!("not a SQLite database ({e})")))?;
    if id == APPLICATION_ID {
        return Ok(true);
    }
    if id != 0 {
        return Err(not_ours(format!(
            "a SQLite database of another application (application_id {id:#x})"
        )));
    }
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let ours = ["refinery_schema_history", "runs", "snapshots"];
    if tables.is_empty() || ours.iter().all(|t| tables.iter().any(|n| n == t)) {
        return Ok(false);
    }
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    Err(not_ours(format!(
        "a SQLite database that is not a driftwatch store (it has table{} {}{})",
        if tables.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if tables.len() > 5 { ", …" } else { "" }
    )))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(LOCK_WAIT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A collection writes in one transaction; a larger page cache keeps it from spilling.
    conn.pragma_update(None, "cache_size", -65_536)?;
    Ok(())
}

/// Runs pending migrations. Two processes opening a new store at once may race to create it;
/// the loser's migration fails on the tables the winner made, and a second pass sees them
/// applied.
fn migrate(conn: &mut Connection) -> Result<()> {
    let mut last = None;
    for _ in 0..3 {
        match embedded::migrations::runner().run(conn) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::runtime(format!(
        "migrating the store failed: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// A run being collected: one open transaction holding the store's write lock.
pub struct RunWriter<'s> {
    tx: rusqlite::Transaction<'s>,
    run_id: i64,
    taken_at: String,
    full: bool,
}

/// What became of one source in a run.
#[derive(Debug)]
pub struct SourceOutcome {
    pub source: String,
    pub snapshot_id: i64,
    pub result: Result<Vec<(String, EntityStats)>>,
    /// How long the source took to collect.
    pub seconds: f64,
    /// What the user should know about how it was collected (a delta read that fell back to
    /// a full read …).
    pub notes: Vec<String>,
}

impl RunWriter<'_> {
    pub fn taken_at(&self) -> &str {
        &self.taken_at
    }

    /// Reads every source whole, ignoring delta links (`collect --full`).
    pub fn read_everything(&mut self) {
        self.full = true;
    }

    /// Collects one source under a savepoint. `collect` writes the source's entities through
    /// the `SnapshotWriter`; when it fails, everything it wrote is rolled back and the snapshot
    /// is recorded as failed with the error.
    pub fn collect_source(
        &mut self,
        source: &str,
        collect: impl FnOnce(&mut SnapshotWriter<'_>) -> Result<()>,
    ) -> Result<SourceOutcome> {
        let started = std::time::Instant::now();
        let mut notes = Vec::new();
        let attempt: Result<(i64, Vec<(String, EntityStats)>)> = (|| {
            let sp = self.tx.savepoint()?;
            sp.execute(
                "INSERT INTO snapshots (run_id, source, status) VALUES (?1, ?2, 'complete')",
                (self.run_id, source),
            )?;
            let snapshot_id = sp.last_insert_rowid();
            let mut writer = SnapshotWriter {
                conn: &sp,
                snapshot_id,
                source: source.to_string(),
                stats: Vec::new(),
                full: self.full,
                notes: Vec::new(),
            };
            let collected = collect(&mut writer);
            notes = std::mem::take(&mut writer.notes);
            collected?;
            let stats = std::mem::take(&mut writer.stats);
            sp.commit()?;
            Ok((snapshot_id, stats))
        })();
        match attempt {
            Ok((snapshot_id, stats)) => Ok(SourceOutcome {
                source: source.to_string(),
                snapshot_id,
                result: Ok(stats),
                seconds: started.elapsed().as_secs_f64(),
                notes,
            }),
            Err(e) => {
                self.tx.execute(
                    "INSERT INTO snapshots (run_id, source, status, error) VALUES (?1, ?2, 'failed', ?3)",
                    (self.run_id, source, &e.message),
                )?;
                let snapshot_id = self.tx.last_insert_rowid();
                Ok(SourceOutcome {
                    source: source.to_string(),
                    snapshot_id,
                    result: Err(e),
                    seconds: started.elapsed().as_secs_f64(),
                    notes,
                })
            }
        }
    }

    /// Makes the run visible. Before this, nothing of it is.
    pub fn commit(self) -> Result<i64> {
        self.tx.execute(
            "UPDATE runs SET finished_at = ?1 WHERE id = ?2",
            (time::format(time::now()), self.run_id),
        )?;
        self.tx.commit()?;
        Ok(self.run_id)
    }
}

/// Which rows of an entity `SnapshotWriter::rows` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// The entity as it stands: as last collected, with what this snapshot wrote of it.
    Open,
    /// The versions this snapshot opened or closed.
    ChangedNow,
}

/// Writes the entities of one source's snapshot.
pub struct SnapshotWriter<'a> {
    conn: &'a Connection,
    snapshot_id: i64,
    source: String,
    stats: Vec<(String, EntityStats)>,
    full: bool,
    notes: Vec<String>,
}

impl SnapshotWriter<'_> {
    /// The columns recorded for an entity of this source by earlier snapshots, if any.
    pub fn recorded_columns(&self, entity: &str) -> Result<Vec<Column>> {
        Ok(read::entity_schema(self.conn, &self.source, entity)?
            .map(|s| s.columns)
            .unwrap_or_default())
    }

    /// Writes one entity: `rows` is called with a sink that takes each row, in `columns` order.
    pub fn write_entity(
        &mut self,
        entity: &str,
        key: &[String],
        columns: &[Column],
        rows: impl FnOnce(&mut EntityWriter<'_>) -> Result<()>,
    ) -> Result<()> {
        self.entity(entity, key, columns, false, rows)
    }

    /// Writes one entity as a patch of its open rows (a delta collection): the rows given are
    /// upserted, `EntityWriter::remove` closes a row, and every other row stays as it was.
    /// Only for an entity whose `delta_link` is current: its open rows are then the state the
    /// changes apply to.
    pub fn patch_entity(
        &mut self,
        entity: &str,
        key: &[String],
        columns: &[Column],
        rows: impl FnOnce(&mut EntityWriter<'_>) -> Result<()>,
    ) -> Result<()> {
        self.entity(entity, key, columns, true, rows)
    }

    /// The delta link where `entity` resumes, when there is one for this `request` and the
    /// entity's open rows are still those of the snapshot it was recorded with (and the
    /// collection is not `--full`).
    pub fn delta_link(&self, entity: &str, request: &str) -> Result<Option<String>> {
        if self.full {
            return Ok(None);
        }
        let found: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT request, link, snapshot_id FROM delta_links WHERE source = ?1 AND entity = ?2",
                (&self.source, entity),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((recorded, link, snapshot)) = found else {
            return Ok(None);
        };
        let last: Option<i64> = self.conn.query_row(
            "SELECT max(se.snapshot_id) FROM snapshot_entities se JOIN entities e ON e.id = se.entity_id WHERE e.source = ?1 AND e.name = ?2",
            (&self.source, entity),
            |r| r.get(0),
        )?;
        Ok((recorded == request && last == Some(snapshot)).then_some(link))
    }

    /// Records where the next delta collection of `entity` resumes: the state this snapshot
    /// records. Rolled back with the snapshot when it fails.
    pub fn set_delta_link(&self, entity: &str, request: &str, link: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO delta_links (source, entity, request, link, snapshot_id) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source, entity) DO UPDATE SET request = excluded.request, link = excluded.link, snapshot_id = excluded.snapshot_id",
            (&self.source, entity, request, link, self.snapshot_id),
        )?;
        Ok(())
    }

    /// The rows of `entity` of this source, as `which` says, with `columns` (in that order).
    /// Empty when the entity has no snapshot yet. A delta collection reads here the state its
    /// changes apply to, and what this snapshot changed of another entity.
    pub fn rows(&self, entity: &str, columns: &[&str], which: Rows) -> Result<Vec<Vec<Value>>> {
        let Some(schema) = read::entity_schema(self.conn, &self.source, entity)? else {
            return Ok(Vec::new());
        };
        let list: Vec<String> = columns.iter().map(|c| entity::quote(c)).collect();
        let (filter, params): (&str, &[i64]) = match which {
            Rows::Open => ("_to IS NULL", &[]),
            Rows::ChangedNow => ("_from = ?1 OR _to = ?1", &[self.snapshot_id]),
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM {} WHERE {filter}",
            list.join(", "),
            entity::quote(&schema.table)
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            (0..columns.len())
                .map(|i| r.get_ref(i).map(Value::from_sql))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A note about this collection for the user (a delta link that expired …).
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    fn entity(
        &mut self,
        entity: &str,
        key: &[String],
        columns: &[Column],
        patch: bool,
        rows: impl FnOnce(&mut EntityWriter<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.stats.iter().any(|(e, _)| e == entity) {
            return Err(Error::input(format!(
                "entity {}.{entity} is collected twice in one snapshot",
                self.source
            )));
        }
        let mut writer = EntityWriter::begin(
            self.conn,
            self.snapshot_id,
            &self.source,
            entity,
            key,
            columns,
            patch,
        )?;
        rows(&mut writer)?;
        let stats = writer.finish()?;
        self.stats.push((entity.to_string(), stats));
        Ok(())
    }
}
