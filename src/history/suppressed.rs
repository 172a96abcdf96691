//! Suppressions: a violation an operator has decided to live with for now (a known exception,
//! a change on its way), with a reason and an optional expiry. A suppressed violation is still
//! found and listed apart, never hidden; it counts toward no threshold and gets no action in a
//! plan. When it expires it counts again.
//!
//! They come from two places: the store's `suppressions` table (`driftwatch suppress`) and the
//! file the config names with `suppressions = "suppressions.toml"`, for review under version
//! control:
//!
//! ```toml
//! [[suppress]]
//! rule   = "guest_disabled_unless_active_member"
//! key    = ["9f1c…"]
//! reason = "external auditor, access until the audit ends"
//! until  = "2026-12-31"
//! ```

use crate::error::{Error, Result};
use crate::platforms::Config;
use crate::store::Store;
pub use crate::store::Suppression;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    suppress: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rule: String,
    key: Vec<toml::Value>,
    reason: String,
    until: Option<String>,
}

/// The suppressions in the store (not removed) and in the config's file, expired ones too.
pub fn all(store: &Store, config: Option<&Config>) -> Result<Vec<Suppression>> {
    let mut out = store.suppressions()?;
    if let Some(c) = config {
        out.extend(from_file(c)?);
    }
    Ok(out)
}

/// The suppressions of the config's `suppressions` file (none when it names none).
pub fn from_file(config: &Config) -> Result<Vec<Suppression>> {
    let Some(path) = config.suppressions_file() else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::input(format!(
            "{}: suppressions = {}: {e}",
            config.origin.file.display(),
            path.display()
        ))
    })?;
    let file: File = toml::from_str(&text)
        .map_err(|e| Error::input(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
    file.suppress
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let until = e
                .until
                .map(|u| {
                    crate::time::normalize(&u).ok_or_else(|| {
                        Error::input(format!(
                            "{}: suppress[{i}].until: {u:?} is not a date or time (2026-12-31, 2026-12-31T18:00:00Z)",
                            path.display()
                        ))
                    })
                })
                .transpose()?;
            Ok(Suppression {
                id: None,
                rule: e.rule,
                key: e
                    .key
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                reason: e.reason,
                until,
                by: path.display().to_string(),
                created_at: None,
            })
        })
        .collect()
}
