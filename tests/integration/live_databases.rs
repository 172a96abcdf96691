//! The `postgres` and `mysql` collectors against real servers (started by .ci/databases): the
//! PeerQuest Django tables in PostgreSQL give exactly what the SQLite sample gives, keyset
//! paging reads every row once, Question2Answer's `qa_users` in MariaDB is read without its
//! secrets, and a failing query leaves no partial snapshot. Each test makes its own database
//! and drops it.

use crate::common::{ok, repo, run, write};
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::executor::Executor;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

fn pg_server() -> String {
    std::env::var("DRIFTWATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn mysql_server() -> String {
    std::env::var("DRIFTWATCH_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Makes sure both servers answer, once for the whole test binary. Without them, every
/// database test would fail with a connection error of its own; instead the binary stops at the
/// first one with a single message that says what to run.
fn require_servers() {
    static CHECKED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CHECKED.get_or_init(|| {
        let down: Vec<String> = [("PostgreSQL", pg_server()), ("MariaDB", mysql_server())]
            .into_iter()
            .filter(|(_, url)| !answers(url))
            .map(|(name, url)| format!("{name} at {url}"))
            .collect();
        if !down.is_empty() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nerror: the database tests need a running {}.\n\
                 Run .ci/databases (it starts the servers, installing them from Debian's packages where \
                 missing), or point DRIFTWATCH_TEST_POSTGRES and DRIFTWATCH_TEST_MYSQL at servers of \
                 your own; .ci/run does both.\n",
                down.join(" and no running ")
            );
            std::process::exit(101);
        }
    });
}

/// Whether something listens at the host and port of `url`.
fn answers(url: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default().or(u.port())) else {
        return false;
    };
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs.into_iter().any(|a| {
        std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok()
    })
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Postgres,
    Mysql,
}

/// A database of its own on a test server, dropped at the end.
pub(crate) struct TempDb {
    kind: Kind,
    name: String,
    rt: tokio::runtime::Runtime,
}

impl TempDb {
    pub(crate) fn new(kind: Kind) -> TempDb {
        require_servers();
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dw_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let db = TempDb {
            kind,
            name,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        db.admin(&format!(
            "DROP DATABASE IF EXISTS {0}; CREATE DATABASE {0}",
            db.name
        ));
        db
    }

    fn server(&self) -> String {
        match self.kind {
            Kind::Postgres => pg_server(),
            Kind::Mysql => mysql_server(),
        }
    }

    /// The database's name on its server.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database, as a config names it.
    pub(crate) fn url(&self) -> String {
        format!("{}/{}", self.server(), self.name)
    }

    fn run_script(&self, url: &str, script: &str) {
        let statements: Vec<&str> = script
            .split(";\n")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        self.rt.block_on(async {
            match self.kind {
                Kind::Postgres => {
                    let mut c = sqlx_postgres::PgConnectOptions::from_str(url)
                        .unwrap()
                        .connect()
                        .await
                        .unwrap_or_else(|e| panic!("PostgreSQL at {url} (run .ci/databases): {e}"));
                    for s in statements {
                        c.execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
                    }
                    c.close().await.unwrap();
                }
                Kind::Mysql => {
                    let mut c = sqlx_mysql::MySqlConnectOptions::from_str(url)
                        .unwrap()
                        .connect()
                        .await
                        .unwrap_or_else(|e| panic!("MariaDB at {url} (run .ci/databases): {e}"));
                    for s in statements {
                        c.execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
                    }
                    c.close().await.unwrap();
                }
            }
        });
    }

    fn admin(&self, script: &str) {
        let admin = match self.kind {
            Kind::Postgres => format!("{}/postgres", self.server()),
            Kind::Mysql => self.server(),
        };
        self.run_script(&admin, &script.replace("; ", ";\n"));
    }

    /// The first column of the first row of `sql`, as text (NULL as None).
    pub(crate) fn text(&self, sql: &str) -> Option<String> {
        let url = self.url();
        // The same for both drivers; their types differ, so a macro writes it twice.
        macro_rules! scalar {
            ($options:ty, $db:ty) => {{
                let mut c = <$options>::from_str(&url).unwrap().connect().await.unwrap();
                let v = sqlx_core::query_scalar::query_scalar::<$db, Option<String>>(sql)
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                c.close().await.unwrap();
                v
            }};
        }
        self.rt.block_on(async {
            match self.kind {
                Kind::Postgres => scalar!(sqlx_postgres::PgConnectOptions, sqlx_postgres::Postgres),
                Kind::Mysql => scalar!(sqlx_mysql::MySqlConnectOptions, sqlx_mysql::MySql),
            }
        })
    }

    pub(crate) fn exec(&self, script: &str) {
        self.run_script(&self.url(), script);
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let kill = match self.kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Kind::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        self.admin(&kill);
    }
}

/// A SQL literal of a SQLite value (test data only).
fn literal(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef::*;
    match v {
        Null => "NULL".into(),
        Integer(i) => i.to_string(),
        Real(f) => f.to_string(),
        Text(t) | Blob(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
    }
}

/// INSERTs of every row of `table` in the SQLite database at `path`.
fn inserts(path: &std::path::Path, table: &str) -> String {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
    let n = st.column_count();
    let mut rows = st.query([]).unwrap();
    let mut out = String::new();
    while let Some(r) = rows.next().unwrap() {
        let values: Vec<String> = (0..n).map(|i| literal(r.get_ref(i).unwrap())).collect();
        out.push_str(&format!(
            "INSERT INTO {table} VALUES ({});\n",
            values.join(", ")
        ));
    }
    out
}

const PEERQUEST_DJANGO: &str = "
CREATE TABLE users_user (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, username varchar(150) NOT NULL UNIQUE);
CREATE TABLE quests_quest (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, title varchar(200) NOT NULL,
    status varchar(20) NOT NULL, creator_id bigint NOT NULL REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED,
    assigned_to_id bigint NULL REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE quests_questparticipant (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    quest_id bigint NOT NULL REFERENCES quests_quest (id) DEFERRABLE INITIALLY DEFERRED,
    user_id bigint NOT NULL REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED,
    status varchar(20) NOT NULL, joined_at timestamp with time zone NOT NULL);
CREATE TABLE applications_application (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    quest_id bigint NOT NULL REFERENCES quests_quest (id) DEFERRABLE INITIALLY DEFERRED,
    applicant_id bigint NOT NULL REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED,
    status varchar(20) NOT NULL, applied_at timestamp with time zone NOT NULL, reviewed_at timestamp with time zone NULL);
";

/// The PeerQuest sample config with its SSOT moved to `kind` at `url`.
fn peerquest_config(kind: &str, url: &str, extra: &str) -> String {
    let sample = std::fs::read_to_string(repo().join("samples/peerquest/driftwatch.toml")).unwrap();
    let rules = repo().join("queries/peerquest.rules");
    sample
        .replace(
            "kind = \"sqlite\"\npath = \"ssot.db\"",
            &format!("kind = \"{kind}\"\nurl = \"{url}\"\n{extra}"),
        )
        .replace(
            "rules = [\"../../queries/peerquest.rules\"]",
            &format!("rules = [{:?}]", rules.to_str().unwrap()),
        )
}

#[test]
fn postgres_peerquest_tables_give_exactly_what_the_sqlite_sample_gives() {
    let db = TempDb::new(Kind::Postgres);
    let sample = repo().join("samples/peerquest/ssot.db");
    // The SQLite sample's times are UTC without a zone; so is this session.
    let mut script = format!("SET TIME ZONE 'UTC';\n{PEERQUEST_DJANGO}");
    for t in [
        "users_user",
        "quests_quest",
        "quests_questparticipant",
        "applications_application",
    ] {
        script.push_str(&inserts(&sample, t));
    }
    db.exec(&script);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "pg.toml",
        &peerquest_config("postgres", &db.url(), "page_size = 3"),
    );
    let lite = repo().join("samples/peerquest/driftwatch.toml");
    let lite = lite.to_str().unwrap();
    ok(d, &["--config", "pg.toml", "collect"]);
    ok(d, &["--config", lite, "--store", "lite.db", "collect"]);
    for e in [
        "ssot.users",
        "ssot.quests",
        "ssot.participants",
        "ssot.applications",
    ] {
        let pg = ok(d, &["--config", "pg.toml", "export", e]);
        assert_eq!(
            pg,
            ok(d, &["--config", lite, "--store", "lite.db", "export", e]),
            "{e}"
        );
        assert!(pg.lines().count() > 4, "{e}: {pg}");
    }
    let audit = |args: &[&str]| -> serde_json::Value {
        let r = run(d, args);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let mut j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        j["rules"].take()
    };
    let pg = audit(&["--config", "pg.toml", "audit", "--format", "json"]);
    assert_eq!(
        pg,
        audit(&["--config", lite, "--store", "lite.db", "audit", "--format", "json"])
    );
    assert_eq!(pg[0]["violations"], 3);
}

#[test]
fn keyset_paging_reads_every_row_once_whatever_the_page_size() {
    let db = TempDb::new(Kind::Postgres);
    db.exec("CREATE TABLE big (grp text NOT NULL, id integer NOT NULL, n double precision, at timestamp, ok boolean, PRIMARY KEY (grp, id));\n\
             INSERT INTO big SELECT 'g' || (i % 7), i, i / 4.0, timestamp '2026-01-01' + i * interval '1 hour', i % 2 = 0 FROM generate_series(1, 2503) AS i");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut want = String::from("grp,id,n,at,ok\n");
    let mut rows: Vec<(String, i64)> = (1..=2503).map(|i| (format!("g{}", i % 7), i)).collect();
    rows.sort();
    for (g, i) in &rows {
        let at = driftwatch::time::format(
            driftwatch::time::parse("2026-01-01T00:00:00Z").unwrap() + i * 3600,
        );
        want.push_str(&format!(
            "{g},{i},{},{at},{}\n",
            *i as f64 / 4.0,
            i % 2 == 0
        ));
    }
    for page in [1000, 100, 7] {
        write(d, "driftwatch.toml", &format!(
            "[sources.db]\nkind = \"postgres\"\nurl = \"{}\"\npage_size = {page}\n[sources.db.entities.big]\nquery = \"SELECT grp, id, n, at, ok FROM big\"\nkey = [\"grp\", \"id\"]\n",
            db.url()
        ));
        let store = format!("p{page}.db");
        ok(d, &["--store", &store, "collect"]);
        crate::common::assert_same(&ok(d, &["--store", &store, "export", "db.big"]), &want);
    }
}

#[test]
fn a_failing_query_fails_the_source_whole_and_keeps_the_last_snapshot() {
    let db = TempDb::new(Kind::Postgres);
    db.exec("CREATE TABLE a (id integer PRIMARY KEY, v text);\nINSERT INTO a SELECT i, 'v' || i FROM generate_series(1, 500) AS i;\nCREATE TABLE b (id integer PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", &format!(
        "[sources.db]\nkind = \"postgres\"\nurl = \"{}\"\npage_size = 100\n[sources.db.entities.a]\nquery = \"SELECT id, v FROM a\"\nkey = [\"id\"]\n[sources.db.entities.b]\nquery = \"SELECT id FROM b\"\nkey = [\"id\"]\n",
        db.url()
    ));
    ok(d, &["collect", "--at", "2026-11-01T00:00:00Z"]);
    let before = ok(d, &["export", "db.a"]);
    // Entity a changes and is read whole; then b's query fails: nothing of this run is kept.
    db.exec("UPDATE a SET v = 'changed' WHERE id < 250;\nDROP TABLE b");
    let r = run(d, &["collect", "--at", "2026-11-02T00:00:00Z"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("sources.db.entities.b.query")
            && r.stderr.contains("\"b\" does not exist"),
        "{}",
        r.stderr
    );
    assert_eq!(ok(d, &["export", "db.a"]), before);
    let snaps: serde_json::Value =
        serde_json::from_str(&ok(d, &["snapshots", "--format", "json"])).unwrap();
    assert_eq!(snaps[1]["snapshots"][0]["status"], "failed");
    // A server that does not answer is a failed source too, named.
    write(d, "driftwatch.toml", "[sources.db]\nkind = \"postgres\"\nurl = \"postgres://nobody@127.0.0.1:9/x\"\n[sources.db.entities.a]\nquery = \"SELECT 1 AS id\"\n");
    let r = run(d, &["collect", "--at", "2026-11-03T00:00:00Z"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("sources.db.url: cannot connect"),
        "{}",
        r.stderr
    );
    // A password written into the URL is refused, and not repeated.
    write(d, "driftwatch.toml", "[sources.db]\nkind = \"postgres\"\nurl = \"postgres://nobody:Pw-in-url-42@127.0.0.1:9/x\"\n[sources.db.entities.a]\nquery = \"SELECT 1 AS id\"\n");
    let r = run(d, &["collect", "--at", "2026-11-04T00:00:00Z"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the URL holds a password") && !r.stderr.contains("Pw-in-url-42"),
        "{}",
        r.stderr
    );
}

/// Question2Answer's users table as Q2A 1.8 creates it.
const QA_USERS: &str = "CREATE TABLE qa_users (
  userid INT UNSIGNED NOT NULL AUTO_INCREMENT, created DATETIME NOT NULL, createip VARBINARY(16) NOT NULL,
  email VARCHAR(80) NOT NULL, handle VARCHAR(20) NOT NULL, avatarblobid BIGINT UNSIGNED,
  avatarwidth SMALLINT UNSIGNED, avatarheight SMALLINT UNSIGNED, passsalt BINARY(16), passcheck BINARY(20),
  passhash VARCHAR(255) CHARACTER SET utf8 COLLATE utf8_bin DEFAULT NULL, level TINYINT UNSIGNED NOT NULL,
  loggedin DATETIME NOT NULL, loginip VARBINARY(16) NOT NULL, written DATETIME, writeip VARBINARY(16),
  emailcode CHAR(8) CHARACTER SET ascii NOT NULL DEFAULT '', sessioncode CHAR(8) CHARACTER SET ascii NOT NULL DEFAULT '',
  sessionsource VARCHAR(16) CHARACTER SET ascii DEFAULT '', flags SMALLINT UNSIGNED NOT NULL,
  wallposts MEDIUMINT NOT NULL DEFAULT 0,
  PRIMARY KEY (userid), KEY email (email), KEY handle (handle), KEY level (level), KEY created (created, level, flags)
) ENGINE=InnoDB CHARSET=utf8mb4;
CREATE TABLE qa_userlevels (
  userid INT UNSIGNED NOT NULL, entitytype CHAR(1) CHARACTER SET ascii NOT NULL, entityid INT UNSIGNED NOT NULL,
  level TINYINT UNSIGNED, UNIQUE userid (userid, entitytype, entityid), KEY entitytype (entitytype, entityid, level)
) ENGINE=InnoDB CHARSET=utf8mb4";

#[test]
fn mariadb_question2answer_users_match_the_sample_export_and_never_store_secrets() {
    let db = TempDb::new(Kind::Mysql);
    let mut script = format!("{QA_USERS};\n");
    let csv_path = repo().join("samples/lms/day-7/q2a_users.csv");
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        let dt = |s: &str| s.trim_end_matches('Z').replace('T', " ");
        script.push_str(&format!(
            "INSERT INTO qa_users (userid, created, createip, email, handle, passhash, level, loggedin, loginip, emailcode, sessioncode, flags) \
             VALUES ({}, '{}', 0x7f000001, '{}', '{}', '$2y$10$SECRETHASH{}', {}, '{}', 0x7f000001, 'EMAILCOD', 'SESSCODE', {});\n",
            &rec[0], dt(&rec[5]), &rec[2], &rec[1], &rec[0], &rec[3], dt(&rec[6]), &rec[4]
        ));
    }
    script.push_str("INSERT INTO qa_userlevels VALUES (3, 'C', 12, 50), (3, 'T', 7, 20)");
    db.exec(&script);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "driftwatch.toml", &format!(
        "[sources.q2a]\nkind = \"mysql\"\nurl = \"{}\"\npage_size = 50\n\
         [sources.q2a.entities.users]\nquery = \"SELECT userid, handle, email, level, flags, created, loggedin FROM qa_users\"\nkey = [\"userid\"]\n\
         [sources.q2a.entities.userlevels]\nquery = \"SELECT userid, entitytype, entityid, level FROM qa_userlevels\"\nkey = [\"userid\", \"entitytype\", \"entityid\"]\n",
        db.url()
    ));
    ok(d, &["collect"]);
    // The same users as the CSV export of the samples, with the same types.
    let lms = repo().join("samples/lms/driftwatch.toml");
    let lms = lms.to_str().unwrap();
    ok(
        d,
        &[
            "--config", lms, "--store", "csv.db", "collect", "--source", "q2a", "--var", "day=7",
        ],
    );
    let from_csv = ok(
        d,
        &["--config", lms, "--store", "csv.db", "export", "q2a.users"],
    );
    assert_eq!(ok(d, &["export", "q2a.users"]), from_csv);
    assert_eq!(
        ok(d, &["export", "q2a.userlevels"]),
        "userid,entitytype,entityid,level\n3,C,12,50\n3,T,7,20\n"
    );
    let store = std::fs::read(d.join("driftwatch.db")).unwrap();
    for secret in ["SECRETHASH", "EMAILCOD", "SESSCODE"] {
        assert!(
            !store.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the store"
        );
    }
    // Asking for a secret column fails the source: no row of it is kept.
    let config = std::fs::read_to_string(d.join("driftwatch.toml")).unwrap();
    write(
        d,
        "driftwatch.toml",
        &config.replace(
            "SELECT userid, handle, email,",
            "SELECT userid, handle, email, passhash,",
        ),
    );
    let r = run(d, &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("column `passhash` holds credentials"),
        "{}",
        r.stderr
    );
}

#[test]
fn database_tls_is_verified_when_asked_for_and_an_untrusted_certificate_is_refused() {
    let db = TempDb::new(Kind::Postgres);
    db.exec("CREATE TABLE t (id integer PRIMARY KEY);\nINSERT INTO t VALUES (1)");
    let ssl: String = db.rt.block_on(async {
        let mut c = sqlx_postgres::PgConnectOptions::from_str(&db.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx_core::query_scalar::query_scalar::<sqlx_postgres::Postgres, String>("SHOW ssl")
            .fetch_one(&mut c)
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = |mode: &str| {
        format!(
        "[sources.db]\nkind = \"postgres\"\nurl = \"{}?sslmode={mode}\"\n[sources.db.entities.t]\nquery = \"SELECT id FROM t\"\nkey = [\"id\"]\n",
        db.url()
    )
    };
    if ssl != "on" {
        // A server without TLS (Debian's package turns it on, with a self-signed certificate;
        // a server of one's own may not): asking for encryption must then fail, never fall
        // back to plain text.
        write(d, "driftwatch.toml", &config("require"));
        let r = run(d, &["collect", "--at", "2026-11-01T00:00:00Z"]);
        assert_eq!(r.code, 3, "ssl = {ssl}: {}", r.stderr);
        assert!(
            r.stderr.contains("sources.db.url: cannot connect"),
            "{}",
            r.stderr
        );
        return;
    }
    // Encrypted, as asked; the server's self-signed certificate is not checked in this mode.
    write(d, "driftwatch.toml", &config("require"));
    ok(d, &["collect", "--at", "2026-11-01T00:00:00Z"]);
    // Verified: the self-signed certificate is refused, and nothing is collected.
    write(d, "driftwatch.toml", &config("verify-full"));
    let r = run(d, &["collect", "--at", "2026-11-02T00:00:00Z"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("sources.db.url: cannot connect")
            && r.stderr.to_lowercase().contains("certificate"),
        "{}",
        r.stderr
    );
}

#[test]
fn question2answer_unsigned_ids_past_i64_are_exact_and_binary_columns_are_refused_before_any_row() {
    let db = TempDb::new(Kind::Mysql);
    db.exec(
        "CREATE TABLE qa_blobs (blobid BIGINT UNSIGNED NOT NULL PRIMARY KEY, format VARCHAR(20) NOT NULL, content MEDIUMBLOB);\n\
         INSERT INTO qa_blobs VALUES (18446743999999999999, 'jpeg', NULL), (7, 'png', NULL);\n\
         CREATE TABLE qa_users (userid INT UNSIGNED NOT NULL PRIMARY KEY, createip VARBINARY(16) NOT NULL)",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = |query: &str| {
        format!(
            "[sources.q2a]\nkind = \"mysql\"\nurl = \"{}\"\n[sources.q2a.entities.t]\nquery = \"{query}\"\n",
            db.url()
        )
    };
    write(
        d,
        "driftwatch.toml",
        &config("SELECT blobid, format FROM qa_blobs"),
    );
    ok(d, &["collect", "--at", "2026-11-01"]);
    assert_eq!(
        ok(d, &["export", "q2a.t"]),
        "blobid,format\n18446743999999999999,jpeg\n7,png\n"
    );
    // qa_users is empty: the binary column is refused all the same, with the way out.
    write(
        d,
        "driftwatch.toml",
        &config("SELECT userid, createip FROM qa_users"),
    );
    let r = run(d, &["collect", "--at", "2026-11-02"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("column `createip` has type VARBINARY, which driftwatch does not read")
            && r.stderr.contains("HEX(…)"),
        "{}",
        r.stderr
    );
    write(
        d,
        "driftwatch.toml",
        &config("SELECT userid, HEX(createip) AS ip FROM qa_users"),
    );
    ok(d, &["collect", "--at", "2026-11-03"]);
}

#[test]
fn zone_less_database_times_are_read_in_the_zone_the_source_names() {
    let db = TempDb::new(Kind::Mysql);
    db.exec(
        "CREATE TABLE qa_users (userid INT UNSIGNED NOT NULL PRIMARY KEY, created DATETIME NOT NULL);\n\
         INSERT INTO qa_users VALUES (1, '2026-11-07 08:30:00')",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = |zone: &str| {
        format!(
            "[sources.q2a]\nkind = \"mysql\"\nurl = \"{}\"\n{zone}\n[sources.q2a.entities.users]\n\
             query = \"SELECT userid, created FROM qa_users\"\nkey = [\"userid\"]\n",
            db.url()
        )
    };
    write(d, "driftwatch.toml", &config(""));
    ok(d, &["collect", "--at", "2026-11-08"]);
    assert_eq!(
        ok(d, &["export", "q2a.users"]),
        "userid,created\n1,2026-11-07T08:30:00Z\n"
    );
    write(d, "driftwatch.toml", &config("time_zone = \"+02:00\""));
    ok(d, &["collect", "--at", "2026-11-09"]);
    assert_eq!(
        ok(d, &["export", "q2a.users"]),
        "userid,created\n1,2026-11-07T06:30:00Z\n"
    );
    write(
        d,
        "driftwatch.toml",
        &config("time_zone = \"Europe/Berlin\""),
    );
    let r = run(d, &["collect", "--at", "2026-11-10"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sources.q2a.time_zone: \"Europe/Berlin\" is not a UTC offset"),
        "{}",
        r.stderr
    );
}
