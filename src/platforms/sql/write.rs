//! The SQL writer: `insert` and `update` actions on a sqlite, postgres or mysql source (the
//! SSOT, Question2Answer's `qa_users`).
//!
//! All of a source's actions run in one transaction that rolls back whole when any of them
//! fails: an SSOT is never left half-corrected. Each action is re-read first: an insert whose
//! row is there already, or an update whose rows hold the values already, is `already` and
//! not executed. Table and column names come from the rule file and must be plain names
//! (they are quoted); every value is a bound parameter. NULL is written as `NULL` / `IS NULL`.

use super::server::{connect, Conn, Dialect};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use crate::platforms::write::{verb, Applied, Op, Outcome, Request, Step, Verb, Writer};
use crate::platforms::Context;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use sqlx_core::executor::Executor;

pub const VERBS: &[Verb] = &[
    Verb {
        more: true,
        ..verb("insert", Op::Insert, &[])
    },
    Verb {
        more: true,
        ..verb("update", Op::Update, &[])
    },
];

/// `[sources.NAME.write]` of a SQL source: sqlite takes `path` (default: the source's own),
/// postgres and mysql `url` and `password` (default: the source's URL, no password).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: Option<String>,
    url: Option<String>,
    password: Option<toml::Value>,
}

#[derive(Debug)]
pub struct Credentials {
    /// sqlite: the database to write, as written.
    pub path: Option<String>,
    /// postgres, mysql: the URL as written, and the password.
    pub url: Option<String>,
    pub password: Option<Secret>,
}

pub fn parse(value: toml::Value, key: &str, origin: &Origin, sqlite: bool) -> Result<Credentials> {
    let s: Settings = origin.typed(value, key, "the write table of a SQL source")?;
    let wrong = |name: &str, kind: &str| {
        origin.error(
            &format!("{key}.{name}"),
            format!("the write table of a {kind} source has no `{name}`"),
        )
    };
    if sqlite && s.url.is_some() {
        return Err(wrong("url", "sqlite"));
    }
    if sqlite && s.password.is_some() {
        return Err(wrong("password", "sqlite"));
    }
    if !sqlite && s.path.is_some() {
        return Err(wrong("path", "server database"));
    }
    Ok(Credentials {
        password: s
            .password
            .map(|p| origin.secret(&p, &format!("{key}.password")))
            .transpose()?,
        path: s.path,
        url: s.url,
    })
}

/// Where the writes go.
pub(super) enum Target {
    Sqlite(std::path::PathBuf),
    Server {
        dialect: Dialect,
        url: String,
        password: Option<crate::config::SecretString>,
    },
}

pub(super) fn writer(target: Target) -> Box<dyn Writer> {
    Box::new(SqlWriter { target })
}

struct SqlWriter {
    target: Target,
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
}

/// One action as statements: the count that tells whether it is in effect, and the write.
struct Plan {
    id: u32,
    request: Request,
    /// Rows that show the action in effect: none (an insert) or all (an update) of `matching`.
    done_sql: String,
    done_params: Vec<Param>,
    /// For an update: the rows its `where` matches (none is a failure).
    matching: Option<(String, Vec<Param>)>,
    write_sql: String,
    write_params: Vec<Param>,
}

struct Sql {
    dialect: Option<Dialect>,
}

impl Sql {
    fn quote(&self, name: &str) -> Result<String> {
        if !crate::text::is_identifier(name) {
            return Err(Error::input(format!(
                "`{name}` is not a plain table or column name"
            )));
        }
        Ok(match self.dialect {
            Some(Dialect::Mysql) => format!("`{name}`"),
            _ => format!("\"{name}\""),
        })
    }

    fn placeholder(&self, n: usize) -> String {
        match self.dialect {
            Some(Dialect::Postgres) => format!("${n}"),
            Some(Dialect::Mysql) => "?".into(),
            None => format!("?{n}"),
        }
    }

    /// `a = ? AND b IS NULL`, its parameters appended to `params`. The comparison is
    /// NULL-safe (`IS`, `IS NOT DISTINCT FROM`, `<=>`): a NULL column never holds a value.
    /// `exact` compares as the bytes are (MySQL's usual collations take `a@x` for `A@X`):
    /// for whether a value is in effect already, not for which rows an update matches.
    fn conditions(
        &self,
        values: &Map<String, Json>,
        params: &mut Vec<Param>,
        exact: bool,
    ) -> Result<String> {
        let mut parts = Vec::new();
        for (col, v) in values {
            let c = self.quote(col)?;
            match param(v) {
                None => parts.push(format!("{c} IS NULL")),
                Some(p) => {
                    params.push(p);
                    let mark = self.placeholder(params.len());
                    parts.push(match (self.dialect, exact) {
                        (None, _) => format!("{c} IS {mark}"),
                        (Some(Dialect::Postgres), _) => format!("{c} IS NOT DISTINCT FROM {mark}"),
                        (Some(Dialect::Mysql), false) => format!("{c} <=> {mark}"),
                        (Some(Dialect::Mysql), true) => {
                            format!("CAST({c} AS BINARY) <=> CAST({mark} AS BINARY)")
                        }
                    });
                }
            }
        }
        Ok(parts.join(" AND "))
    }

    fn plan(&self, s: &Step) -> Result<Plan> {
        let p = &s.params;
        let table = p["table"].as_str().unwrap_or_default();
        let t = self.quote(table)?;
        let object = |name: &str| -> Result<&Map<String, Json>> {
            p.get(name)
                .and_then(Json::as_object)
                .filter(|m| !m.is_empty())
                .ok_or_else(|| Error::input(format!("the action has no `{name}` values")))
        };
        match s.verb.as_str() {
            "insert" => {
                let values = object("values")?;
                let mut done_params = Vec::new();
                let cond = self.conditions(values, &mut done_params, true)?;
                let mut cols = Vec::new();
                let mut marks = Vec::new();
                let mut write_params = Vec::new();
                for (col, v) in values {
                    cols.push(self.quote(col)?);
                    match param(v) {
                        None => marks.push("NULL".to_string()),
                        Some(p) => {
                            write_params.push(p);
                            marks.push(self.placeholder(write_params.len()));
                        }
                    }
                }
                Ok(Plan {
                    id: s.id,
                    request: Request::new("INSERT", table, Some(Json::Object(values.clone()))),
                    done_sql: format!("SELECT count(*) FROM {t} WHERE {cond}"),
                    done_params,
                    matching: None,
                    write_sql: format!(
                        "INSERT INTO {t} ({}) VALUES ({})",
                        cols.join(", "),
                        marks.join(", ")
                    ),
                    write_params,
                })
            }
            "update" => {
                let set = object("set")?;
                let filter = object("where")?;
                let mut match_params = Vec::new();
                let cond = self.conditions(filter, &mut match_params, false)?;
                // Rows it matches that do not hold the values yet.
                let mut done_params = match_params.clone();
                let holds = self.conditions(set, &mut done_params, true)?;
                let mut write_params = Vec::new();
                let mut assigns = Vec::new();
                for (col, v) in set {
                    let c = self.quote(col)?;
                    match param(v) {
                        None => assigns.push(format!("{c} = NULL")),
                        Some(p) => {
                            write_params.push(p);
                            assigns.push(format!("{c} = {}", self.placeholder(write_params.len())));
                        }
                    }
                }
                let mut filter_params = Vec::new();
                // The placeholders of the `where` come after those of the `set`.
                let offset = write_params.len();
                let mut where_parts = Vec::new();
                for (col, v) in filter {
                    let c = self.quote(col)?;
                    match param(v) {
                        None => where_parts.push(format!("{c} IS NULL")),
                        Some(p) => {
                            filter_params.push(p);
                            where_parts.push(format!(
                                "{c} = {}",
                                self.placeholder(offset + filter_params.len())
                            ));
                        }
                    }
                }
                write_params.extend(filter_params);
                Ok(Plan {
                    id: s.id,
                    request: Request::new(
                        "UPDATE",
                        table,
                        Some(serde_json::json!({"set": set, "where": filter})),
                    ),
                    done_sql: format!("SELECT count(*) FROM {t} WHERE {cond} AND NOT ({holds})"),
                    done_params,
                    matching: Some((
                        format!("SELECT count(*) FROM {t} WHERE {cond}"),
                        match_params,
                    )),
                    write_sql: format!(
                        "UPDATE {t} SET {} WHERE {}",
                        assigns.join(", "),
                        where_parts.join(" AND ")
                    ),
                    write_params,
                })
            }
            other => Err(Error::input(format!(
                "a SQL source has no verb `{other}` (it takes insert and update)"
            ))),
        }
    }
}

fn param(v: &Json) -> Option<Param> {
    match v {
        Json::Null => None,
        Json::Bool(b) => Some(Param::Bool(*b)),
        Json::Number(n) => Some(match n.as_i64() {
            Some(i) => Param::Int(i),
            None => Param::Real(n.as_f64().unwrap_or(0.0)),
        }),
        Json::String(s) => Some(Param::Text(s.clone())),
        other => Some(Param::Text(other.to_string())),
    }
}

/// A connection to the database being written.
enum Db {
    Lite(rusqlite::Connection),
    Server(Conn),
}

/// The parameters as SQLite values.
fn lite(params: &[Param]) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    params
        .iter()
        .map(|p| match p {
            Param::Bool(b) => V::Integer(*b as i64),
            Param::Int(i) => V::Integer(*i),
            Param::Real(f) => V::Real(*f),
            Param::Text(s) => V::Text(s.clone()),
        })
        .collect()
}

/// Binds `params` to a sqlx query (`query` or `query_scalar`), whatever the driver.
macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Param::Bool(b) => q.bind(*b),
                Param::Int(i) => q.bind(*i),
                Param::Real(f) => q.bind(*f),
                Param::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

impl Db {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64> {
        let fail = |e: String| Error::runtime(e);
        match self {
            Db::Lite(c) => c
                .execute(sql, rusqlite::params_from_iter(lite(params)))
                .map(|n| n as u64)
                .map_err(|e| fail(e.to_string())),
            Db::Server(Conn::Pg(c)) => bind_all!(
                sqlx_core::query::query::<sqlx_postgres::Postgres>(sql),
                params
            )
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| fail(e.to_string())),
            Db::Server(Conn::My(c)) => {
                bind_all!(sqlx_core::query::query::<sqlx_mysql::MySql>(sql), params)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| fail(e.to_string()))
            }
        }
    }

    async fn count(&mut self, sql: &str, params: &[Param]) -> Result<i64> {
        let fail = |e: String| Error::runtime(e);
        match self {
            Db::Lite(c) => c
                .query_row(sql, rusqlite::params_from_iter(lite(params)), |r| r.get(0))
                .map_err(|e| fail(e.to_string())),
            Db::Server(Conn::Pg(c)) => bind_all!(
                sqlx_core::query_scalar::query_scalar::<sqlx_postgres::Postgres, i64>(sql),
                params
            )
            .fetch_one(&mut *c)
            .await
            .map_err(|e| fail(e.to_string())),
            Db::Server(Conn::My(c)) => bind_all!(
                sqlx_core::query_scalar::query_scalar::<sqlx_mysql::MySql, i64>(sql),
                params
            )
            .fetch_one(&mut *c)
            .await
            .map_err(|e| fail(e.to_string())),
        }
    }

    async fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Lite(c) => c
                .execute_batch(sql)
                .map_err(|e| Error::runtime(e.to_string())),
            Db::Server(Conn::Pg(c)) => c
                .execute(sql)
                .await
                .map(|_| ())
                .map_err(|e| Error::runtime(e.to_string())),
            Db::Server(Conn::My(c)) => c
                .execute(sql)
                .await
                .map(|_| ())
                .map_err(|e| Error::runtime(e.to_string())),
        }
    }
}

impl SqlWriter {
    async fn open(&self, source: &str) -> Result<(Db, Sql)> {
        Ok(match &self.target {
            Target::Sqlite(path) => {
                if !path.is_file() {
                    return Err(Error::input(format!(
                        "sources.{source}: database {} does not exist",
                        path.display()
                    )));
                }
                let c = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
                )
                .map_err(|e| Error::runtime(format!("{}: {e}", path.display())))?;
                c.busy_timeout(std::time::Duration::from_secs(30))
                    .map_err(|e| Error::runtime(e.to_string()))?;
                (Db::Lite(c), Sql { dialect: None })
            }
            Target::Server {
                dialect,
                url,
                password,
            } => {
                let key = format!("sources.{source}.write.url");
                let conn =
                    connect(*dialect, url, password.as_ref().map(|p| p.expose()), &key).await?;
                (
                    Db::Server(conn),
                    Sql {
                        dialect: Some(*dialect),
                    },
                )
            }
        })
    }

    async fn run(&self, source: &str, steps: &[Step], dry_run: bool) -> Result<Vec<Applied>> {
        let (mut db, sql) = self.open(source).await?;
        let mut out = Vec::new();
        let mut plans = Vec::new();
        for s in steps {
            match sql.plan(s) {
                Ok(p) => plans.push(p),
                Err(e) => out.push(Applied::new(s.id, Outcome::Failed(e.message), Vec::new())),
            }
        }
        if !out.is_empty() {
            // A malformed action fails the source's transaction before it starts.
            let why = "not executed: another action of this source is malformed, so none runs";
            out.extend(
                plans.iter().map(|p| {
                    Applied::new(p.id, Outcome::Failed(why.into()), vec![p.request.clone()])
                }),
            );
            return Ok(out);
        }
        let begin = match sql.dialect {
            None => "BEGIN IMMEDIATE",
            Some(Dialect::Postgres) => "BEGIN",
            Some(Dialect::Mysql) => "START TRANSACTION",
        };
        db.batch(begin).await?;
        let mut failure: Option<(u32, String)> = None;
        let mut results: Vec<(u32, Outcome, Request)> = Vec::new();
        for p in &plans {
            let outcome = async {
                if let Some((m_sql, m_params)) = &p.matching {
                    if db.count(m_sql, m_params).await? == 0 {
                        return Ok(Outcome::Failed(format!(
                            "no row of {} matches {}",
                            p.request.path,
                            p.request
                                .body
                                .as_ref()
                                .map(|b| b["where"].to_string())
                                .unwrap_or_default()
                        )));
                    }
                }
                let pending = db.count(&p.done_sql, &p.done_params).await?;
                let in_effect = if p.matching.is_some() {
                    pending == 0
                } else {
                    pending > 0
                };
                if in_effect {
                    return Ok(Outcome::Already);
                }
                if dry_run {
                    return Ok(Outcome::DryRun);
                }
                db.execute(&p.write_sql, &p.write_params).await?;
                Ok::<Outcome, Error>(Outcome::Done)
            }
            .await
            .unwrap_or_else(|e| {
                Outcome::Failed(format!(
                    "{} {}: {}",
                    p.request.method, p.request.path, e.message
                ))
            });
            if let Outcome::Failed(e) = &outcome {
                failure = Some((p.id, e.clone()));
                results.push((p.id, outcome, p.request.clone()));
                break;
            }
            results.push((p.id, outcome, p.request.clone()));
        }
        let end = if failure.is_some() || dry_run {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        db.batch(end).await?;
        let shown = |o: &Outcome, r: &Request| match o {
            Outcome::Already => Vec::new(),
            _ => vec![r.clone()],
        };
        match failure {
            None => out.extend(
                results
                    .iter()
                    .map(|(id, o, r)| Applied::new(*id, o.clone(), shown(o, r))),
            ),
            Some((failed, why)) => {
                let rolled = format!("rolled back: action {failed} of this source failed ({why}), and the source's actions run in one transaction");
                for (id, o, r) in &results {
                    let o = match o {
                        Outcome::Done if *id != failed => Outcome::Failed(rolled.clone()),
                        o => o.clone(),
                    };
                    out.push(Applied::new(*id, o.clone(), shown(&o, r)));
                }
                let done: Vec<u32> = results.iter().map(|r| r.0).collect();
                for p in plans.iter().filter(|p| !done.contains(&p.id)) {
                    out.push(Applied::new(
                        p.id,
                        Outcome::Failed(format!(
                            "not executed: action {failed} of this source failed first"
                        )),
                        vec![p.request.clone()],
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl Writer for SqlWriter {
    fn apply(
        &self,
        source: &str,
        _cx: &Context<'_>,
        steps: &[Step],
        dry_run: bool,
    ) -> Vec<Applied> {
        let result = crate::platforms::http::runtime()
            .and_then(|rt| rt.block_on(self.run(source, steps, dry_run)));
        match result {
            Ok(out) => out,
            Err(e) => steps
                .iter()
                .map(|s| Applied::new(s.id, Outcome::Failed(e.message.clone()), Vec::new()))
                .collect(),
        }
    }
}
