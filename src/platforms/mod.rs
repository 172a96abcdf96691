//! The platforms driftwatch reads: one home per family, each owning its typed settings
//! (deserialized from its `[sources.NAME]` table), its entity catalogue and its reader.
//!
//! | family | kinds | file |
//! |---|---|---|
//! | files | `csv`, `json` | `files/` |
//! | sql | `sqlite`, `postgres`, `mysql` | `sql/` |
//! | graph | `graph` (Entra ID users and groups, Teams) | `graph/` |
//! | wordpress | `wordpress` (users, LearnDash courses and groups) | `wordpress/` |
//!
//! A kind that can be written has its writer beside its reader (`graph/write.rs`,
//! `wordpress/write.rs`, `sql/write.rs`): the fix verbs it knows and how it applies them
//! (`write`).
//!
//! `http` is the HTTP client the web platforms share (paging, retry, auth); `records` turns
//! fetched JSON records into rows of a catalogue entity.
//!
//! A kind is a [`Kind`] in [`KINDS`]: its name and the function that reads its settings into
//! a [`Reader`]. Adding a kind is its file and one line in `KINDS`.

pub mod entity;
pub mod files;
pub mod graph;
pub mod http;
pub mod records;
pub mod sql;
pub mod wordpress;
pub mod write;

pub use entity::EntityConfig;

use crate::config::{Origin, SourceSpec, Vars};
use crate::error::Result;
use crate::store::{Column, SnapshotWriter};
use std::fmt::Debug;
use std::path::PathBuf;
use write::{Verb, Writer};

/// A config whose sources are the platforms of this build.
pub type Config = crate::config::Config<Source>;

/// What reading a source needs besides its own settings: the config file (for relative paths
/// and messages) and the variables for `${NAME}`.
pub struct Context<'a> {
    pub origin: &'a Origin,
    pub vars: &'a Vars,
}

impl Context<'_> {
    /// `text`, the value of `key`, with `${NAME}` expanded.
    pub fn expand(&self, text: &str, key: &str) -> Result<String> {
        self.origin.expand(self.vars, text, key)
    }

    /// `text`, the value of `key`, expanded and resolved against the config's folder.
    pub fn path(&self, text: &str, key: &str) -> Result<PathBuf> {
        self.origin.path(self.vars, text, key)
    }
}

/// The columns of an entity as far as they are known before it is collected.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub columns: Vec<Column>,
    /// Columns whose type only the data will tell (a JSON column without a declared type).
    pub untyped: Vec<String>,
}

/// Where a source's change notifications come from (Graph's): the secret that tells its own
/// notifications apart, the public URL for subscriptions (when the config names one), and what
/// to subscribe to.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    pub client_state: crate::config::SecretString,
    pub url: Option<String>,
    pub resources: Vec<String>,
}

/// A subscription made for a change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    /// When it expires (seconds since the epoch).
    pub expires: i64,
}

/// How a kind reads one configured source.
pub trait Reader: Debug {
    /// The source's entities.
    fn entities(&self) -> Vec<&EntityConfig>;

    /// Checks what can be checked without reading the source: every `${NAME}` it needs is
    /// set, its URLs are acceptable, its secrets can be read. A mistake here is one in the
    /// command or the config, reported before a store is opened or a run recorded (and by
    /// `check`).
    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()>;

    /// Writes every entity into `out`. Any error fails the whole snapshot.
    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()>;

    /// The columns of `entity` as far as the config (or a cheap look at the source) tells,
    /// for checking rules before anything is collected.
    fn declared(&self, source: &str, entity: &str, cx: &Context<'_>) -> Declared;

    /// The database file the source reads, when it reads one (a store must not be it).
    fn database_file(&self, _source: &str, _cx: &Context<'_>) -> Option<PathBuf> {
        None
    }

    /// The fix verbs of the kind (none: a kind driftwatch only reads).
    fn verbs(&self) -> &'static [Verb] {
        &[]
    }

    /// Whether the source has write credentials (`[sources.NAME.write]`); without them its
    /// actions are planned as `notify`.
    fn writable(&self) -> bool {
        false
    }

    /// The source's change notifications, when it has them (`watch --listen`).
    fn change_feed(&self, _source: &str, _cx: &Context<'_>) -> Result<Option<ChangeFeed>> {
        Ok(None)
    }

    /// Subscribes to the feed's resources; returns the subscriptions.
    fn subscribe(
        &self,
        source: &str,
        _cx: &Context<'_>,
        _feed: &ChangeFeed,
        _now: i64,
    ) -> Result<Vec<Subscription>> {
        Err(crate::error::Error::input(format!(
            "source {source} has no change notifications"
        )))
    }

    /// Renews subscription `id`; returns its new expiry.
    fn renew(&self, source: &str, _cx: &Context<'_>, _id: &str, _now: i64) -> Result<i64> {
        Err(crate::error::Error::input(format!(
            "source {source} has no change notifications"
        )))
    }

    /// The source's writer, its credentials read (only `apply` asks for one).
    fn writer(&self, source: &str, _cx: &Context<'_>) -> Result<Box<dyn Writer>> {
        Err(write::not_writable(source))
    }
}

/// A kind of source: the name written in `kind = "…"`, and how its settings are read.
pub struct Kind {
    pub name: &'static str,
    /// Reads `[sources.NAME]` (`key`) into the kind's reader.
    pub parse: fn(table: toml::Table, key: &str, origin: &Origin) -> Result<Box<dyn Reader>>,
}

/// Every kind this build reads.
pub const KINDS: &[Kind] = &[
    sql::sqlite::KIND,
    files::CSV,
    files::JSON,
    graph::KIND,
    wordpress::KIND,
    sql::server::POSTGRES,
    sql::server::MYSQL,
];

/// A configured source: its name and the reader of its kind.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub reader: Box<dyn Reader>,
}

impl Source {
    pub fn entities(&self) -> Vec<&EntityConfig> {
        self.reader.entities()
    }
}

impl SourceSpec for Source {
    fn parse(name: &str, kind: &str, mut table: toml::Table, origin: &Origin) -> Result<Source> {
        let key = format!("sources.{name}");
        let Some(k) = KINDS.iter().find(|k| k.name == kind) else {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            return Err(origin.error(
                &format!("{key}.kind"),
                format!(
                    "unknown source kind {kind:?}; this build collects {} and {last}",
                    rest.join(", ")
                ),
            ));
        };
        table.remove("kind");
        Ok(Source {
            name: name.to_string(),
            reader: (k.parse)(table, &key, origin)?,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// `deadline = "30m"`: how long a source's collection may take in all (default 30 minutes).
pub fn deadline(origin: &Origin, key: &str, value: Option<String>) -> Result<std::time::Duration> {
    match value {
        None => Ok(http::DEFAULT_DEADLINE),
        Some(v) => crate::time::parse_duration(&v)
            .filter(|s| *s > 0)
            .map(|s| std::time::Duration::from_secs(s as u64))
            .ok_or_else(|| {
                origin.error(
                    key,
                    format!("{v:?} is not a duration such as \"30m\" or \"90s\""),
                )
            }),
    }
}

/// `concurrency` and `page_size`: at least 1.
pub fn at_least_one(origin: &Origin, key: &str, value: Option<usize>) -> Result<Option<usize>> {
    match value {
        Some(0) => Err(origin.error(key, "must be at least 1")),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("dw.toml"), Path::new("/cfg"))
    }

    #[test]
    fn unknown_keys_and_kinds_are_named() {
        let e = parse("[sources.a]\nkind = \"csv\"\n[sources.a.entities.p]\npth = \"x.csv\"\n")
            .unwrap_err();
        assert!(
            e.message.contains("sources.a.entities.p") && e.message.contains("pth"),
            "{e}"
        );
        let e = parse("[sources.a]\nkind = \"ldap\"\n[sources.a.entities.p]\npath = \"x\"\n")
            .unwrap_err();
        assert!(
            e.message
                .contains("sources.a.kind: unknown source kind \"ldap\""),
            "{e}"
        );
        let e = parse("[sources.a]\nkind = \"csv\"\n[sources.a.entities.p]\npath = \"x\"\ntypes = { id = \"int\" }\n").unwrap_err();
        assert!(
            e.message
                .contains("sources.a.entities.p.types.id: unknown type"),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder_and_order_is_kept() {
        let dir = std::env::temp_dir().join(format!("dw-rel-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/p.csv"), "id,name\n").unwrap();
        std::fs::write(dir.join("q.csv"), "a,b,c\n").unwrap();
        let abs = dir.join("q.csv").display().to_string();
        let text = format!("[sources.z]\nkind=\"csv\"\n[sources.z.entities.p]\npath=\"p.csv\"\n[sources.a]\nkind=\"csv\"\n[sources.a.entities.q]\npath=\"{abs}\"\n");
        let c = Config::parse(&text, &dir.join("sub/dw.toml"), &dir.join("sub")).unwrap();
        let names: Vec<_> = c.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["z", "a"]);
        let vars = Vars::default();
        let cx = Context {
            origin: &c.origin,
            vars: &vars,
        };
        // The header is read from the file the path names: relative to the config's folder
        // (sub/), or absolute.
        let header = |s: &Source| -> Vec<String> {
            let declared = s.reader.declared(&s.name, &s.entities()[0].name, &cx);
            declared.columns.into_iter().map(|c| c.name).collect()
        };
        assert_eq!(header(&c.sources[0]), ["id", "name"]);
        assert_eq!(header(&c.sources[1]), ["a", "b", "c"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn remote_kinds_take_their_own_settings_and_secrets_only_from_env_or_file() {
        let graph = "[sources.g]\nkind = \"graph\"\ntenant = \"t\"\nclient_id = \"c\"\n";
        let c = parse(&format!("{graph}client_secret = {{ env = \"S\" }}\nentities = [\"users\", \"channel_members\"]\n")).unwrap();
        let g = &c.sources[0];
        assert_eq!(
            g.entities()
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["users", "channel_members"]
        );
        assert_eq!(g.entities()[0].key, ["id"]);
        assert!(format!("{:?}", g.reader).contains(&format!("{:?}", Secret::Env("S".into()))));
        let file = parse(&format!(
            "{graph}client_secret = {{ file = \"secret.txt\" }}\nentities = [\"users\"]\n"
        ))
        .unwrap();
        let wanted = format!("{:?}", Secret::File("/cfg/secret.txt".into()));
        assert!(format!("{:?}", file.sources[0].reader).contains(&wanted));
        let e = parse(&format!(
            "{graph}client_secret = \"hunter2\"\nentities = [\"users\"]\n"
        ))
        .unwrap_err();
        assert!(
            e.message.contains(
                "sources.g.client_secret: secrets come only from the environment or a file"
            ),
            "{e}"
        );
        assert!(!e.message.contains("hunter2"), "{e}");
        let e = parse(&format!(
            "{graph}client_secret = {{ env = \"S\" }}\nentities = [\"usres\"]\n"
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("a graph source has no entity `usres`; did you mean `users`?"),
            "{e}"
        );
        let e = parse("[sources.g]\nkind = \"graph\"\ntenant = \"t\"\nentities = [\"users\"]\n")
            .unwrap_err();
        assert!(
            e.message
                .contains("sources.g: a graph source needs `client_id`"),
            "{e}"
        );
        let e = parse("[sources.w]\nkind = \"csv\"\nurl = \"https://x\"\n[sources.w.entities.p]\npath = \"p.csv\"\n").unwrap_err();
        assert!(
            e.message
                .contains("sources.w.url: a csv source has no `url`"),
            "{e}"
        );
        let e = parse("[sources.d]\nkind = \"postgres\"\nurl = \"postgres://x/y\"\n[sources.d.entities.p]\npath = \"p.csv\"\n").unwrap_err();
        assert!(
            e.message.contains(
                "an entity of a database source has no `path` (it takes `query`, `key`, `types`)"
            ),
            "{e}"
        );
        let e = parse("[sources.d]\nkind = \"postgres\"\nurl = \"postgres://x/y\"\n[sources.d.entities.p]\nkey = [\"id\"]\n").unwrap_err();
        assert!(
            e.message
                .contains("sources.d.entities.p: an entity of a database source needs `query`"),
            "{e}"
        );
        let e = parse("[sources.d]\nkind = \"mysql\"\nurl = \"mysql://x/y\"\npage_size = 0\n[sources.d.entities.p]\nquery = \"SELECT 1\"\n").unwrap_err();
        assert!(
            e.message
                .contains("sources.d.page_size: must be at least 1"),
            "{e}"
        );
    }
}
