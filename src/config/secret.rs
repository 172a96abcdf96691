//! Secrets (client secrets, passwords): they come only from the environment or a file and are
//! never shown.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

/// Every secret value this process has revealed, in the forms a service may echo it back in
/// (as given, form-encoded, and as HTTP basic credentials with their user).
static REVEALED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Values shorter than this are not masked: they would blank out ordinary words.
const SHORTEST_MASKED: usize = 4;

/// Remembers `value` as secret, so that [`mask`] hides it wherever it turns up.
pub fn remember_secret(value: &str) {
    if value.len() < SHORTEST_MASKED {
        return;
    }
    let form: String = url_encode(value);
    let mut known = REVEALED.lock().unwrap_or_else(|e| e.into_inner());
    for v in [value.to_string(), form] {
        if !known.contains(&v) {
            known.push(v);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every secret value revealed so far replaced by `***`. Every message that can
/// carry a service's words (an error it answered, a page it echoed) goes through this before it
/// is shown or stored.
pub fn mask(text: &str) -> String {
    let known = REVEALED.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for v in known.iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

/// Form encoding (application/x-www-form-urlencoded), as a token request sends a secret.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

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

    /// The secret's value; an error names the variable or the file (never the value). The
    /// value is remembered, so that [`mask`] hides it from then on.
    pub fn reveal(&self, key: &str) -> Result<SecretString> {
        let value = match self {
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString(v)),
                _ => Err(Error::input(format!(
                    "{key}: environment variable {name} is not set"
                ))),
            },
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|v| SecretString(v.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| Error::input(format!("{key}: secret file {}: {e}", path.display()))),
        };
        if let Ok(v) = &value {
            remember_secret(v.expose());
        }
        value
    }
}
