//! Secrets (client secrets, passwords): they come only from the environment or a file and are
//! never shown.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// Where a secret is: `{ env = "NAME" }` or `{ file = "path" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

/// A secret's value. It has no `Display`, and its `Debug` hides it.
#[derive(Clone)]
pub struct SecretString(String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(…)")
    }
}

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    /// Parses a secret's place; a literal string is refused, so that no secret lives in a
    /// config file.
    pub fn parse(
        value: &toml::Value,
        dir: &std::path::Path,
    ) -> std::result::Result<Secret, String> {
        let hint = "secrets come only from the environment or a file: write { env = \"NAME\" } or { file = \"path\" }";
        let table = value.as_table().ok_or_else(|| hint.to_string())?;
        match (table.get("env"), table.get("file"), table.len()) {
            (Some(toml::Value::String(name)), None, 1) => Ok(Secret::Env(name.clone())),
            (None, Some(toml::Value::String(path)), 1) => Ok(Secret::File(dir.join(path))),
            _ => Err(hint.to_string()),
        }
    }

    /// The secret's value; an error names the variable or the file (never the value).
    pub fn reveal(&self, key: &str) -> Result<SecretString> {
        match self {
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString(v)),
                _ => Err(Error::input(format!(
                    "{key}: environment variable {name} is not set"
                ))),
            },
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|v| SecretString(v.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| Error::input(format!("{key}: secret file {}: {e}", path.display()))),
        }
    }
}
