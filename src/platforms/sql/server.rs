//! The `postgres` and `mysql` sources (the SSOT in a server database, Question2Answer's
//! `qa_users` in MySQL or MariaDB): one SQL query per entity, as for sqlite, all of a source's
//! entities read in one read-only, repeatable-read transaction, so they agree with each other.
//!
//! An entity with a key is read in pages of `page_size` rows, by keyset: each page asks for the
//! rows after the last key seen, so a large table is never held open by one long cursor and no
//! row is read twice or skipped when pages are cut.
//!
//! Columns that look like credentials (`pass…`, Q2A's `…code` secrets) are refused: the store
//! never holds them.

use super::{convert, QueryEntity};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use crate::platforms::{at_least_one, Context, Declared, EntityConfig, Kind, Reader};
use crate::store::{Column, SnapshotWriter};
use crate::value::{ColumnType, Value};
use serde::Deserialize;
use sqlx_core::connection::ConnectOptions;
use sqlx_core::executor::Executor;
use sqlx_core::row::Row;
use sqlx_core::statement::Statement;
use sqlx_core::type_info::TypeInfo;
use sqlx_mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx_postgres::{PgConnectOptions, PgConnection, PgRow, Postgres};
use std::str::FromStr;

const DEFAULT_PAGE: usize = 10_000;

/// Column names that hold credentials: never collected.
const SECRET_COLUMNS: &[&str] = &[
    "passsalt",
    "passcheck",
    "passhash",
    "emailcode",
    "sessioncode",
];

pub const POSTGRES: Kind = Kind {
    name: "postgres",
    parse: |table, key, origin: &Origin| parse(table, key, origin, Dialect::Postgres),
};

pub const MYSQL: Kind = Kind {
    name: "mysql",
    parse: |table, key, origin: &Origin| parse(table, key, origin, Dialect::Mysql),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Postgres,
    Mysql,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: String,
    password: Option<toml::Value>,
    page_size: Option<usize>,
    /// The zone of the database's zone-less times (MySQL DATETIME, PostgreSQL TIMESTAMP), as a
    /// UTC offset: `+02:00`; default UTC.
    time_zone: Option<String>,
    #[serde(default)]
    entities: toml::Table,
    write: Option<toml::Value>,
}

#[derive(Debug)]
pub struct ServerReader {
    dialect: Dialect,
    /// As written: `${NAME}` not expanded yet.
    url: String,
    password: Option<Secret>,
    page_size: usize,
    /// Seconds east of UTC of the database's zone-less times.
    utc_offset: i64,
    entities: Vec<QueryEntity>,
    /// `[sources.NAME.write]`: the account that may write, when given.
    write: Option<super::write::Credentials>,
}

fn parse(
    table: toml::Table,
    key: &str,
    origin: &Origin,
    dialect: Dialect,
) -> Result<Box<dyn Reader>> {
    let what = match dialect {
        Dialect::Postgres => "a postgres source",
        Dialect::Mysql => "a mysql source",
    };
    let s: Settings = origin.typed(toml::Value::Table(table), key, what)?;
    Ok(Box::new(ServerReader {
        dialect,
        url: s.url,
        password: s
            .password
            .map(|p| origin.secret(&p, &format!("{key}.password")))
            .transpose()?,
        page_size: at_least_one(origin, &format!("{key}.page_size"), s.page_size)?
            .unwrap_or(DEFAULT_PAGE),
        utc_offset: match &s.time_zone {
            None => 0,
            Some(z) => parse_offset(z).ok_or_else(|| {
                origin.error(
                    &format!("{key}.time_zone"),
                    format!("{z:?} is not a UTC offset such as \"+02:00\", \"-05:00\" or \"UTC\" (a zone with summer time is converted in the query: CONVERT_TZ(created, 'Europe/Berlin', '+00:00'))"),
                )
            })?,
        },
        entities: super::parse_entities(origin, key, s.entities)?,
        write: s
            .write
            .map(|w| super::write::parse(w, &format!("{key}.write"), origin, false))
            .transpose()?,
    }))
}

pub(super) enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
}

fn db_error(what: &str) -> impl Fn(sqlx_core::Error) -> Error + '_ {
    move |e| Error::runtime(format!("{what}: {e}"))
}

impl Reader for ServerReader {
    fn entities(&self) -> Vec<&EntityConfig> {
        super::entities(&self.entities)
    }

    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()> {
        cx.expand(&self.url, &format!("sources.{source}.url"))?;
        if let Some(p) = &self.password {
            p.reveal(&format!("sources.{source}.password"))?;
        }
        for e in &self.entities {
            e.query(source, cx)?;
        }
        Ok(())
    }

    fn verbs(&self) -> &'static [crate::platforms::write::Verb] {
        super::write::VERBS
    }

    fn writable(&self) -> bool {
        self.write.is_some()
    }

    fn writer(
        &self,
        source: &str,
        cx: &Context<'_>,
    ) -> Result<Box<dyn crate::platforms::write::Writer>> {
        let key = |k: &str| format!("sources.{source}.{k}");
        let w = self
            .write
            .as_ref()
            .ok_or_else(|| crate::platforms::write::not_writable(source))?;
        let url = match &w.url {
            Some(u) => cx.expand(u, &key("write.url"))?,
            None => cx.expand(&self.url, &key("url"))?,
        };
        let password = w
            .password
            .as_ref()
            .map(|p| p.reveal(&key("write.password")))
            .transpose()?;
        Ok(super::write::writer(super::write::Target::Server {
            dialect: self.dialect,
            url,
            password,
        }))
    }

    /// Nothing before collecting: a server is not asked while rules are checked.
    fn declared(&self, _source: &str, _entity: &str, _cx: &Context<'_>) -> Declared {
        Declared::default()
    }

    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let key = |k: &str| format!("sources.{source}.{k}");
        let url = cx.expand(&self.url, &key("url"))?;
        let password = self
            .password
            .as_ref()
            .map(|p| p.reveal(&key("password")))
            .transpose()?;
        let page = self.page_size;
        let rt = crate::platforms::http::runtime()?;
        let mut conn = rt.block_on(connect(
            self.dialect,
            &url,
            password.as_ref().map(|p| p.expose()),
            &key("url"),
        ))?;
        rt.block_on(conn.begin_read_only())?;
        for qe in &self.entities {
            let entity = &qe.entity;
            let label = format!("{source}.{}", entity.name);
            let sql = qe.query(source, cx)?;
            let what = format!("{}.query", key(&format!("entities.{}", entity.name)));
            let described = rt.block_on(conn.describe(&sql, &what))?;
            let names: Vec<String> = described.iter().map(|(n, _)| n.clone()).collect();
            for n in &names {
                let lower = n.to_ascii_lowercase();
                if SECRET_COLUMNS.contains(&lower.as_str()) || lower.starts_with("pass") {
                    return Err(Error::input(format!(
                        "{what}: column `{n}` holds credentials, and driftwatch never stores them: leave it out of the query"
                    )));
                }
            }
            // Every column's type is known before any row: one driftwatch does not read (binary,
            // NUMERIC, JSON …) fails now, not when the first row holding a value arrives.
            let reads = match self.dialect {
                Dialect::Postgres => pg_reads,
                Dialect::Mysql => my_reads,
            };
            if let Some((n, ty)) = described.iter().find(|(_, ty)| !reads(ty)) {
                return Err(unsupported(&what, n, ty));
            }
            entity.check_declared(&label, &names)?;
            let recorded = out.recorded_columns(&entity.name)?;
            let columns: Vec<Column> = described
                .iter()
                .map(|(n, ty)| {
                    let t = entity
                        .known_type(&recorded, n)
                        .unwrap_or_else(|| column_type(ty));
                    Column::new(n.clone(), t)
                })
                .collect();
            // check_declared made sure every key column is among the names.
            let key_at: Vec<usize> = entity
                .key
                .iter()
                .filter_map(|k| names.iter().position(|n| n == k))
                .collect();
            // The columns whose times carry no zone: written in the database's own.
            let zoneless: Vec<usize> = described
                .iter()
                .enumerate()
                .filter(|(_, (_, ty))| matches!(ty.as_str(), "DATETIME" | "TIMESTAMP"))
                .filter(|(_, (_, ty))| self.dialect == Dialect::Postgres || ty == "DATETIME")
                .map(|(i, _)| i)
                .collect();
            let paged = Paged::new(self.dialect, &sql, &entity.key, page);
            out.write_entity(&entity.name, &entity.key, &columns, |w| {
                let mut number = 0u64;
                let mut after: Vec<Value> = Vec::new();
                let mut values = Vec::with_capacity(columns.len());
                loop {
                    let text = paged.sql(!after.is_empty());
                    let rows = rt.block_on(conn.fetch(text, &after, &described, &what))?;
                    let full = paged.keyset && rows.len() == page;
                    for row in &rows {
                        number += 1;
                        convert(&columns, &label, number, &mut values, |i| {
                            Ok(row[i].as_sql_ref())
                        })?;
                        // (After the keyset's values are taken from the row as the server has
                        // them, so paging asks for what the server holds.)
                        for &i in &zoneless {
                            shift_zone(&mut values[i], self.utc_offset);
                        }
                        w.row(&values, number)?;
                    }
                    if !full {
                        return Ok(());
                    }
                    let last = rows.last().expect("a full page has rows");
                    after = key_at.iter().map(|&i| last[i].clone()).collect();
                    if after.iter().any(Value::is_null) {
                        return Err(Error::input(format!(
                            "{label}: a key column is NULL in row {number}; keys must be set"
                        )));
                    }
                }
            })?;
        }
        // A read-only transaction has nothing to keep: end it.
        rt.block_on(conn.end())?;
        Ok(())
    }
}

/// The SQL of each page: the query itself, or, for a keyed entity, the query wrapped to read
/// `page` rows after the last key.
struct Paged {
    keyset: bool,
    first: String,
    next: String,
}

impl Paged {
    fn new(kind: Dialect, sql: &str, key: &[String], page: usize) -> Paged {
        if key.is_empty() {
            return Paged {
                keyset: false,
                first: sql.to_string(),
                next: sql.to_string(),
            };
        }
        let quote = |k: &str| match kind {
            Dialect::Mysql => format!("`{}`", k.replace('`', "``")),
            _ => format!("\"{}\"", k.replace('"', "\"\"")),
        };
        let cols: Vec<String> = key.iter().map(|k| format!("q.{}", quote(k))).collect();
        let marks: Vec<String> = (1..=key.len())
            .map(|i| match kind {
                Dialect::Mysql => "?".to_string(),
                _ => format!("${i}"),
            })
            .collect();
        let inner = sql.trim().trim_end_matches(';');
        let order = cols.join(", ");
        Paged {
            keyset: true,
            first: format!("SELECT * FROM ({inner}) AS q ORDER BY {order} LIMIT {page}"),
            next: format!(
                "SELECT * FROM ({inner}) AS q WHERE ({order}) > ({}) ORDER BY {order} LIMIT {page}",
                marks.join(", ")
            ),
        }
    }

    fn sql(&self, after: bool) -> &str {
        if after {
            &self.next
        } else {
            &self.first
        }
    }
}

/// The type a server column type names.
fn column_type(server: &str) -> ColumnType {
    let t = server.to_ascii_uppercase();
    match t.as_str() {
        "BOOL" | "BOOLEAN" => ColumnType::Bool,
        "FLOAT4" | "FLOAT8" | "FLOAT" | "DOUBLE" => ColumnType::Real,
        "TIMESTAMP" | "TIMESTAMPTZ" | "DATETIME" | "DATE" => ColumnType::Timestamp,
        "BIGINT UNSIGNED" => ColumnType::Text,
        _ if t.starts_with("INT") || t.contains("INT ") || t.ends_with("INT") => {
            ColumnType::Integer
        }
        _ => ColumnType::Text,
    }
}

pub(super) async fn connect(
    kind: Dialect,
    url: &str,
    password: Option<&str>,
    key: &str,
) -> Result<Conn> {
    // A password in the URL would end up in messages and shell history: take it from `password`.
    if reqwest::Url::parse(url).is_ok_and(|u| u.password().is_some()) {
        return Err(Error::input(format!(
            "{key}: the URL holds a password; give it as password = {{ env = \"NAME\" }} instead"
        )));
    }
    let failed = |e: sqlx_core::Error| Error::runtime(format!("{key}: cannot connect: {e}"));
    Ok(match kind {
        Dialect::Postgres => {
            let mut o =
                PgConnectOptions::from_str(url).map_err(|e| Error::input(format!("{key}: {e}")))?;
            if let Some(p) = password {
                o = o.password(p);
            }
            Conn::Pg(o.connect().await.map_err(failed)?)
        }
        _ => {
            let mut o = MySqlConnectOptions::from_str(url)
                .map_err(|e| Error::input(format!("{key}: {e}")))?;
            if let Some(p) = password {
                o = o.password(p);
            }
            Conn::My(o.connect().await.map_err(failed)?)
        }
    })
}

impl Conn {
    async fn begin_read_only(&mut self) -> Result<()> {
        let what = "starting a read-only transaction";
        match self {
            Conn::Pg(c) => {
                c.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
                    .map_err(db_error(what))?;
            }
            Conn::My(c) => {
                c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .await
                    .map_err(db_error(what))?;
                c.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
                    .map_err(db_error(what))?;
            }
        }
        Ok(())
    }

    async fn end(&mut self) -> Result<()> {
        match self {
            Conn::Pg(c) => c.execute("ROLLBACK").await.map(|_| ()),
            Conn::My(c) => c.execute("ROLLBACK").await.map(|_| ()),
        }
        .map_err(db_error("ending the read-only transaction"))
    }

    /// The query's columns: name and the server's type name.
    async fn describe(&mut self, sql: &str, what: &str) -> Result<Vec<(String, String)>> {
        fn cols<C: sqlx_core::column::Column>(c: &[C]) -> Vec<(String, String)> {
            c.iter()
                .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                .collect()
        }
        Ok(match self {
            Conn::Pg(c) => cols(c.prepare(sql).await.map_err(db_error(what))?.columns()),
            Conn::My(c) => cols(c.prepare(sql).await.map_err(db_error(what))?.columns()),
        })
    }

    /// The rows of `sql` with `after` bound to its parameters, as store values.
    async fn fetch(
        &mut self,
        sql: &str,
        after: &[Value],
        columns: &[(String, String)],
        what: &str,
    ) -> Result<Vec<Vec<Value>>> {
        // The same for both drivers; their query types differ, so a macro writes it twice.
        macro_rules! fetch {
            ($db:ty, $conn:expr, $row:ident) => {{
                let mut q = sqlx_core::query::query::<$db>(sql);
                for v in after {
                    q = match v {
                        Value::Integer(i) => q.bind(*i),
                        Value::Real(f) => q.bind(*f),
                        Value::Text(s) => q.bind(s.clone()),
                        Value::Null => q.bind(None::<String>),
                    };
                }
                let rows = q.fetch_all(&mut *$conn).await.map_err(db_error(what))?;
                rows.iter().map(|r| $row(r, columns, what)).collect()
            }};
        }
        match self {
            Conn::Pg(c) => fetch!(Postgres, c, pg_row),
            Conn::My(c) => fetch!(MySql, c, my_row),
        }
    }
}

fn epoch_text(secs: i64) -> Value {
    Value::Text(crate::time::format(secs))
}

fn offset_time(t: time::OffsetDateTime) -> Value {
    epoch_text(t.unix_timestamp())
}

/// A time without a zone is taken as UTC, as the other sources do.
/// `+HH:MM`, `-HH:MM`, `UTC` or `Z` as seconds east of UTC.
fn parse_offset(zone: &str) -> Option<i64> {
    if matches!(zone, "UTC" | "Z" | "utc" | "z") {
        return Some(0);
    }
    // The time parser knows offsets: one a day after the epoch, in that zone.
    crate::time::parse(&format!("1970-01-02T00:00:00{zone}")).map(|t| 86_400 - t)
}

/// A zone-less time read as UTC, moved to UTC from the database's zone.
fn shift_zone(v: &mut Value, utc_offset: i64) {
    if utc_offset == 0 {
        return;
    }
    if let Value::Text(t) = v {
        if let Some(at) = crate::time::parse(t) {
            *t = crate::time::format(at - utc_offset);
        }
    }
}

fn utc_time(t: time::PrimitiveDateTime) -> Value {
    epoch_text(t.assume_utc().unix_timestamp())
}

fn date(d: time::Date) -> Value {
    utc_time(d.midnight())
}

fn unsupported(what: &str, name: &str, ty: &str) -> Error {
    Error::input(format!(
        "{what}: column `{name}` has type {ty}, which driftwatch does not read; cast it in the query (to text, a number or a timestamp; binary data with HEX(…) or CONVERT(… USING utf8mb4))"
    ))
}

/// Writes, from one list of server type names with the Rust type each decodes as and its
/// conversion, the function that decodes a row and the one that says whether a type is read
/// (asked of the query's columns before any row arrives). Both drivers read the same way;
/// their row types differ, so a macro writes it for each.
macro_rules! decoder {
    ($decode:ident, $reads:ident, $row:ty, { $($($name:literal)|+ => $t:ty, $convert:expr;)+ }) => {
        /// Whether driftwatch reads columns of server type `ty`.
        fn $reads(ty: &str) -> bool {
            matches!(ty, $($($name)|+)|+)
        }

        fn $decode(r: &$row, columns: &[(String, String)], what: &str) -> Result<Vec<Value>> {
            let mut out = Vec::with_capacity(columns.len());
            for (i, (name, ty)) in columns.iter().enumerate() {
                let bad =
                    |e: sqlx_core::Error| Error::runtime(format!("{what}: column `{name}`: {e}"));
                let v = match ty.as_str() {
                    $($($name)|+ => r.try_get_unchecked::<Option<$t>, _>(i).map_err(bad)?.map($convert),)+
                    other => return Err(unsupported(what, name, other)),
                };
                out.push(v.unwrap_or(Value::Null));
            }
            Ok(out)
        }
    };
}

decoder!(pg_row, pg_reads, PgRow, {
    "BOOL" => bool, |b| Value::Integer(b as i64);
    "INT2" => i16, |n| Value::Integer(n.into());
    "INT4" => i32, |n| Value::Integer(n.into());
    "INT8" => i64, Value::Integer;
    "FLOAT4" => f32, |f| Value::Real(f.into());
    "FLOAT8" => f64, Value::Real;
    "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => String, Value::Text;
    "TIMESTAMPTZ" => time::OffsetDateTime, offset_time;
    "TIMESTAMP" => time::PrimitiveDateTime, utc_time;
    "DATE" => time::Date, date;
});

decoder!(my_row, my_reads, MySqlRow, {
    "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => i64, Value::Integer;
    "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => u64, |n| Value::Integer(n as i64);
    // Up to 2^64 - 1, past what an integer column holds (Question2Answer's random ids): kept
    // exact as decimal text.
    "BIGINT UNSIGNED" => u64, |n| Value::Text(n.to_string());
    "FLOAT" => f32, |f| Value::Real(f.into());
    "DOUBLE" => f64, Value::Real;
    "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => String, Value::Text;
    "DATETIME" | "TIMESTAMP" => time::PrimitiveDateTime, utc_time;
    "DATE" => time::Date, date;
});
