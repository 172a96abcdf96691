//! `driftwatch.toml`: the model (serde + toml), `${NAME}` expansion from `--var` and then the
//! environment, and resolution of relative paths against the config file's folder.
//!
//! Expansion is lazy: a source's strings are expanded when that source is collected, so
//! `driftwatch snapshots` does not ask for the `--var day=…` that only `collect` needs.

mod entity;
mod remote;
mod vars;

use entity::parse_entity;
pub use entity::{check_column_name, EntityConfig};
pub use remote::{Remote, Secret, SecretString};
pub use vars::Vars;

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    ssot: Option<String>,
    #[serde(default)]
    sources: toml::map::Map<String, toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Sqlite,
    Csv,
    Json,
    Graph,
    Wordpress,
    Postgres,
    Mysql,
}

impl SourceKind {
    pub const NAMES: &'static str = "sqlite, csv, json, graph, wordpress, postgres and mysql";

    /// Whether the kind's entities are built in (listed by name) rather than configured.
    pub fn builtin_entities(self) -> bool {
        matches!(self, SourceKind::Graph | SourceKind::Wordpress)
    }

    /// The source-level settings the kind takes besides `kind` and `entities`.
    fn settings(self) -> &'static [&'static str] {
        match self {
            SourceKind::Sqlite => &["path"],
            SourceKind::Csv | SourceKind::Json => &[],
            SourceKind::Graph => &[
                "tenant",
                "client_id",
                "client_secret",
                "base_url",
                "token_url",
                "concurrency",
                "teams",
            ],
            SourceKind::Wordpress => &["url", "username", "password", "concurrency"],
            SourceKind::Postgres | SourceKind::Mysql => &["url", "password", "page_size"],
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            SourceKind::Sqlite => &["path"],
            SourceKind::Csv | SourceKind::Json => &[],
            SourceKind::Graph => &["tenant", "client_id", "client_secret"],
            SourceKind::Wordpress => &["url", "username", "password"],
            SourceKind::Postgres | SourceKind::Mysql => &["url"],
        }
    }
}

/// A source as written. Which of the settings a kind takes is checked after parsing, so that
/// the error can say which kinds take the setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    path: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<toml::Value>,
    base_url: Option<String>,
    token_url: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password: Option<toml::Value>,
    concurrency: Option<usize>,
    teams: Option<Vec<String>>,
    page_size: Option<usize>,
    entities: Option<toml::Value>,
}

impl RawSource {
    /// The settings given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                v.push(name)
            }
        };
        add(self.path.is_some(), "path");
        add(self.tenant.is_some(), "tenant");
        add(self.client_id.is_some(), "client_id");
        add(self.client_secret.is_some(), "client_secret");
        add(self.base_url.is_some(), "base_url");
        add(self.token_url.is_some(), "token_url");
        add(self.url.is_some(), "url");
        add(self.username.is_some(), "username");
        add(self.password.is_some(), "password");
        add(self.concurrency.is_some(), "concurrency");
        add(self.teams.is_some(), "teams");
        add(self.page_size.is_some(), "page_size");
        v
    }
}

/// A loaded config. Sources keep the order of the file.
#[derive(Debug)]
pub struct Config {
    pub file: PathBuf,
    pub dir: PathBuf,
    store: Option<String>,
    pub rules: Vec<String>,
    /// The source that is the source of truth; the others are platforms mirroring it.
    ssot: Option<String>,
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    path: Option<String>,
    pub remote: Remote,
    pub entities: Vec<EntityConfig>,
}

/// The files a glob pattern matches, in natural order (page-2 before page-10).
pub fn files_matching(pattern: &str) -> std::result::Result<Vec<PathBuf>, glob::PatternError> {
    let mut found: Vec<PathBuf> = glob::glob(pattern)?
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    found.sort_by(|a, b| crate::text::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(found)
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Config {
    pub fn load(file: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::input(format!("config {}: {e}", file.display())))?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Config::parse(&text, file, &dir)
    }

    pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<Config> {
        let at =
            |key: &str, what: String| Error::input(format!("{}: {key}: {what}", file.display()));
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            Error::input(format!("{}: {}", file.display(), e.to_string().trim_end()))
        })?;
        let mut sources = Vec::new();
        for (name, value) in raw.sources {
            let key = format!("sources.{name}");
            if !is_identifier(&name) {
                return Err(at(
                    &key,
                    "a source name must be a letter or `_` followed by letters, digits or `_`"
                        .into(),
                ));
            }
            let src: RawSource = value
                .try_into()
                .map_err(|e: toml::de::Error| at(&key, e.message().to_string()))?;
            let kind: SourceKind =
                toml::Value::String(src.kind.clone())
                    .try_into()
                    .map_err(|_| {
                        at(
                            &format!("{key}.kind"),
                            format!(
                                "unknown source kind {:?}; this build collects {}",
                                src.kind,
                                SourceKind::NAMES
                            ),
                        )
                    })?;
            let given = src.given();
            for setting in &given {
                if !kind.settings().contains(setting) {
                    return Err(at(
                        &format!("{key}.{setting}"),
                        format!("a {} source has no `{setting}`", src.kind),
                    ));
                }
            }
            for setting in kind.required() {
                if !given.contains(setting) {
                    return Err(at(&key, format!("a {} source needs `{setting}`", src.kind)));
                }
            }
            let secret = |v: &Option<toml::Value>, name: &str| {
                v.as_ref()
                    .map(|v| Secret::parse(v, dir).map_err(|e| at(&format!("{key}.{name}"), e)))
                    .transpose()
            };
            let remote = Remote {
                tenant: src.tenant.clone(),
                client_id: src.client_id.clone(),
                client_secret: secret(&src.client_secret, "client_secret")?,
                base_url: src.base_url.clone(),
                token_url: src.token_url.clone(),
                url: src.url.clone(),
                username: src.username.clone(),
                password: secret(&src.password, "password")?,
                concurrency: src.concurrency,
                teams: src.teams.clone(),
                page_size: src.page_size,
            };
            if remote.concurrency == Some(0) || remote.page_size == Some(0) {
                return Err(at(
                    &key,
                    "`concurrency` and `page_size` are at least 1".into(),
                ));
            }
            let ekey = format!("{key}.entities");
            let entities = match (kind.builtin_entities(), src.entities) {
                (_, None) => {
                    return Err(at(
                        &key,
                        if kind.builtin_entities() {
                            format!(
                                "no entities: list them, such as entities = [\"{}\"]",
                                crate::collect::builtin_entities(kind).join("\", \"")
                            )
                        } else {
                            "no entities: add at least one [sources.NAME.entities.ENTITY] table"
                                .into()
                        },
                    ))
                }
                (true, Some(toml::Value::Array(names))) => {
                    let known = crate::collect::builtin_entities(kind);
                    let mut entities = Vec::new();
                    for n in names {
                        let n = n
                            .as_str()
                            .ok_or_else(|| at(&ekey, "expected entity names".into()))?;
                        let Some(spec_key) = crate::collect::builtin_key(kind, n) else {
                            let hint = match crate::text::nearest(n, known.iter().copied()) {
                                Some(m) => format!("; did you mean `{m}`?"),
                                None => String::new(),
                            };
                            return Err(at(
                                &ekey,
                                format!(
                                    "a {} source has no entity `{n}`{hint} (it has {})",
                                    src.kind,
                                    known.join(", ")
                                ),
                            ));
                        };
                        entities.push(EntityConfig::builtin(n, spec_key));
                    }
                    entities
                }
                (true, Some(_)) => {
                    return Err(at(
                        &ekey,
                        format!(
                            "a {} source lists its entities by name, such as entities = [\"{}\"]",
                            src.kind,
                            crate::collect::builtin_entities(kind)[0]
                        ),
                    ))
                }
                (false, Some(toml::Value::Table(table))) if !table.is_empty() => {
                    let mut entities = Vec::new();
                    for (ename, evalue) in table {
                        let ekey = format!("{key}.entities.{ename}");
                        entities.push(parse_entity(kind, &ename, evalue, &ekey, &at)?);
                    }
                    entities
                }
                (false, Some(_)) => {
                    return Err(at(
                        &key,
                        "no entities: add at least one [sources.NAME.entities.ENTITY] table".into(),
                    ))
                }
            };
            sources.push(SourceConfig {
                name,
                kind,
                path: src.path,
                remote,
                entities,
            });
        }
        if let Some(name) = &raw.ssot {
            if !sources.iter().any(|s| &s.name == name) {
                let hint = crate::text::nearest(name, sources.iter().map(|s| s.name.as_str()))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return Err(Error::input(format!(
                    "{}: ssot = \"{name}\" names no source{hint}",
                    file.display()
                )));
            }
        }
        Ok(Config {
            file: file.to_path_buf(),
            dir: dir.to_path_buf(),
            store: raw.store,
            rules: raw.rules,
            ssot: raw.ssot,
            sources,
        })
    }

    /// The name of the source of truth: `ssot = "NAME"`, else the source called `ssot`.
    pub fn ssot(&self) -> &str {
        self.ssot.as_deref().unwrap_or("ssot")
    }

    /// The store file named by the config (relative to its folder), if any.
    pub fn store_path(&self, vars: &Vars) -> Result<Option<PathBuf>> {
        self.store
            .as_ref()
            .map(|s| Ok(self.dir.join(vars.expand(s, &self.file, "store")?)))
            .transpose()
    }

    pub fn source(&self, name: &str) -> Result<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            Error::input(format!(
                "{}: no source named `{name}` (sources: {})",
                self.file.display(),
                names.join(", ")
            ))
        })
    }
}

impl SourceConfig {
    /// A setting of the source with `${NAME}` expanded; `setting` names it in errors.
    pub fn expand(
        &self,
        config: &Config,
        vars: &Vars,
        setting: &str,
        text: &str,
    ) -> Result<String> {
        vars.expand(
            text,
            &config.file,
            &format!("sources.{}.{setting}", self.name),
        )
    }

    /// The source's `path` expanded and resolved against the config's folder.
    pub fn path(&self, config: &Config, vars: &Vars) -> Result<Option<PathBuf>> {
        let key = format!("sources.{}.path", self.name);
        self.path
            .as_ref()
            .map(|p| Ok(config.dir.join(vars.expand(p, &config.file, &key)?)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("dw.toml"), Path::new("/cfg"))
    }

    #[test]
    fn unset_variable_names_the_key_and_the_variable() {
        let vars = Vars::default();
        let e = vars
            .expand(
                "day-${dw_test_unset_day}/x.json",
                Path::new("dw.toml"),
                "sources.t.path",
            )
            .unwrap_err();
        assert!(
            e.message
                .contains("dw.toml: sources.t.path: variable `dw_test_unset_day` is not set"),
            "{e}"
        );
    }

    #[test]
    fn var_arguments_win_over_the_environment_and_dollar_dollar_escapes() {
        let vars = Vars::from_args(&["PATH=mine".into()]).unwrap();
        assert_eq!(
            vars.expand("${PATH}/$$x", Path::new("f"), "k").unwrap(),
            "mine/$x"
        );
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
        let c = parse("[sources.z]\nkind=\"csv\"\n[sources.z.entities.p]\npath=\"p.csv\"\n[sources.a]\nkind=\"csv\"\n[sources.a.entities.q]\npath=\"/abs/q.csv\"\n").unwrap();
        let names: Vec<_> = c.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["z", "a"]);
        let vars = Vars::default();
        assert_eq!(
            c.sources[0].entities[0]
                .path("z", &c, &vars)
                .unwrap()
                .unwrap(),
            "/cfg/p.csv"
        );
        assert_eq!(
            c.sources[1].entities[0]
                .path("a", &c, &vars)
                .unwrap()
                .unwrap(),
            "/abs/q.csv"
        );
    }

    #[test]
    fn remote_kinds_take_their_own_settings_and_secrets_only_from_env_or_file() {
        let graph = "[sources.g]\nkind = \"graph\"\ntenant = \"t\"\nclient_id = \"c\"\n";
        let c = parse(&format!("{graph}client_secret = {{ env = \"S\" }}\nentities = [\"users\", \"channel_members\"]\n")).unwrap();
        let g = &c.sources[0];
        assert_eq!(g.remote.client_secret, Some(Secret::Env("S".into())));
        assert_eq!(
            g.entities
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["users", "channel_members"]
        );
        assert_eq!(g.entities[0].key, ["id"]);
        let file = parse(&format!(
            "{graph}client_secret = {{ file = \"secret.txt\" }}\nentities = [\"users\"]\n"
        ))
        .unwrap();
        assert_eq!(
            file.sources[0].remote.client_secret,
            Some(Secret::File("/cfg/secret.txt".into()))
        );
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
            e.message
                .contains("an entity of a database source needs `query`"),
            "{e}"
        );
    }

    #[test]
    fn a_secret_from_the_environment_or_a_file_is_revealed_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("dw-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let s = Secret::File(dir.clone()).reveal("k").unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert_eq!(format!("{s:?}"), "SecretString(…)");
        std::fs::remove_file(&dir).unwrap();
        let e = Secret::Env("DW_TEST_SURELY_UNSET".into())
            .reveal("sources.g.client_secret")
            .unwrap_err();
        assert_eq!(
            e.message,
            "sources.g.client_secret: environment variable DW_TEST_SURELY_UNSET is not set"
        );
    }
}
