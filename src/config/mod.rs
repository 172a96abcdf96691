//! `driftwatch.toml`: the document (serde + toml), `${NAME}` expansion from `--var` and then the
//! environment, secrets, and resolution of relative paths against the config file's folder.
//!
//! The config knows the shape every config shares (`store`, `rules`, `ssot`, `[sources.NAME]`
//! with its `kind`); what a source of each kind holds is that kind's own typed settings, which
//! the platform of the kind deserializes through [`SourceSpec`] (see `platforms`). So the config
//! never names a platform, and a platform never reaches into another's settings.
//!
//! Expansion is lazy: a source's strings are expanded when that source is collected, so
//! `driftwatch snapshots` does not ask for the `--var day=…` that only `collect` needs.

mod secret;
mod vars;

pub use secret::{mask, remember_secret, Secret, SecretString};
pub use vars::Vars;

use crate::error::{Error, Result};
use crate::text::is_identifier;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt::Display;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    store: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    ssot: Option<String>,
    suppressions: Option<String>,
    #[serde(default)]
    apply: Guards,
    #[serde(default)]
    alerts: Vec<toml::Value>,
    #[serde(default)]
    receivers: toml::Table,
    #[serde(default)]
    sources: toml::Table,
}

/// `[apply]`: the mass-removal guard. A plan that removes or disables more than
/// `max_remove_share` of any group, channel or course, or more than `max_remove_total`
/// accounts in all, is refused without `--yes`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Guards {
    pub max_remove_share: f64,
    pub max_remove_total: u64,
}

impl Default for Guards {
    fn default() -> Guards {
        Guards {
            max_remove_share: 0.10,
            max_remove_total: 50,
        }
    }
}

/// The file a config came from: errors name it, and relative paths resolve against its folder.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    pub dir: PathBuf,
}

/// What a source of some kind is, as the config holds it: parsed from its `[sources.NAME]`
/// table by the kind's own code.
pub trait SourceSpec: Sized {
    /// Reads the source `name` of kind `kind` from `table` (which still holds `kind`); `key`
    /// is `sources.NAME`, for messages.
    fn parse(name: &str, kind: &str, table: toml::Table, origin: &Origin) -> Result<Self>;
    fn name(&self) -> &str;
}

/// A loaded config, with its sources of type `S` in the order of the file.
#[derive(Debug)]
pub struct Config<S> {
    pub origin: Origin,
    store: Option<String>,
    pub rules: Vec<String>,
    /// The source that is the source of truth; the others are platforms mirroring it.
    ssot: Option<String>,
    /// The suppressions file, as written (relative to the config's folder).
    suppressions: Option<String>,
    pub guards: Guards,
    /// `[[alerts]]` and `[receivers.NAME]` as written: the `alert` module reads them.
    pub alerts: Vec<toml::Value>,
    pub receivers: toml::Table,
    pub sources: Vec<S>,
}

impl Origin {
    /// An error about `key` of this file: `FILE: KEY: WHAT`.
    pub fn error(&self, key: &str, what: impl Display) -> Error {
        Error::input(format!("{}: {key}: {what}", self.file.display()))
    }

    /// `text`, the value of `key`, with `${NAME}` expanded.
    pub fn expand(&self, vars: &Vars, text: &str, key: &str) -> Result<String> {
        vars.expand(text, &self.file, key)
    }

    /// `text`, the value of `key`, expanded and resolved against the config's folder.
    pub fn path(&self, vars: &Vars, text: &str, key: &str) -> Result<PathBuf> {
        Ok(self.dir.join(self.expand(vars, text, key)?))
    }

    /// Deserializes the table at `key` into `T`. A setting `T` does not have and one it needs
    /// are named with `what` ("a csv source"), so the error says which kinds take what.
    pub fn typed<T: DeserializeOwned>(
        &self,
        value: toml::Value,
        key: &str,
        what: &str,
    ) -> Result<T> {
        value.try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim_end().to_string();
            let quoted = message.split('`').nth(1).unwrap_or_default().to_string();
            if message.starts_with("unknown field") {
                // serde lists what the table takes: "…, expected one of `a`, `b`".
                let takes = message
                    .split_once("expected ")
                    .map(|(_, e)| e.trim_start_matches("one of ").trim_start_matches("a "))
                    .map(|e| format!(" (it takes {e})"))
                    .unwrap_or_default();
                self.error(
                    &format!("{key}.{quoted}"),
                    format!("{what} has no `{quoted}`{takes}"),
                )
            } else if message.starts_with("missing field") {
                self.error(key, format!("{what} needs `{quoted}`"))
            } else {
                self.error(key, message)
            }
        })
    }

    /// A secret's place (`{ env = "NAME" }` or `{ file = "path" }`, relative to the config).
    pub fn secret(&self, value: &toml::Value, key: &str) -> Result<Secret> {
        Secret::parse(value, &self.dir).map_err(|e| self.error(key, e))
    }
}

impl<S: SourceSpec> Config<S> {
    pub fn load(file: &Path) -> Result<Config<S>> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::input(format!("config {}: {e}", file.display())))?;
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config::parse(&text, file, &dir)
    }

    pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<Config<S>> {
        let origin = Origin {
            file: file.to_path_buf(),
            dir: dir.to_path_buf(),
        };
        let doc: Document = toml::from_str(text).map_err(|e| {
            Error::input(format!("{}: {}", file.display(), e.to_string().trim_end()))
        })?;
        let mut sources = Vec::new();
        for (name, value) in doc.sources {
            let key = format!("sources.{name}");
            if !is_identifier(&name) {
                return Err(origin.error(
                    &key,
                    "a source name must be a letter or `_` followed by letters, digits or `_`",
                ));
            }
            let toml::Value::Table(table) = value else {
                return Err(origin.error(&key, "expected a table: [sources.NAME]"));
            };
            let kind = match table.get("kind") {
                Some(toml::Value::String(k)) => k.clone(),
                Some(_) => return Err(origin.error(&format!("{key}.kind"), "expected a string")),
                None => return Err(origin.error(&key, "missing `kind`")),
            };
            sources.push(S::parse(&name, &kind, table, &origin)?);
        }
        if let Some(name) = &doc.ssot {
            if !sources.iter().any(|s| s.name() == name) {
                let hint = crate::text::nearest(name, sources.iter().map(|s| s.name()))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return Err(Error::input(format!(
                    "{}: ssot = \"{name}\" names no source{hint}",
                    file.display()
                )));
            }
        }
        if !(0.0..=1.0).contains(&doc.apply.max_remove_share) {
            return Err(origin.error(
                "apply.max_remove_share",
                "a share is between 0 and 1 (0.10 is 10%)",
            ));
        }
        Ok(Config {
            origin,
            store: doc.store,
            rules: doc.rules,
            ssot: doc.ssot,
            suppressions: doc.suppressions,
            guards: doc.apply,
            alerts: doc.alerts,
            receivers: doc.receivers,
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
            .map(|s| self.origin.path(vars, s, "store"))
            .transpose()
    }

    /// The suppressions file the config names (relative to its folder), if any.
    pub fn suppressions_file(&self) -> Option<PathBuf> {
        self.suppressions.as_ref().map(|s| self.origin.dir.join(s))
    }

    pub fn source(&self, name: &str) -> Result<&S> {
        self.sources
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
                Error::input(format!(
                    "{}: no source named `{name}` (sources: {})",
                    self.origin.file.display(),
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
