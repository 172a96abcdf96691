//! `${NAME}` in config strings: from `--var NAME=VALUE` first, then the environment.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Values for `${NAME}`: `--var NAME=VALUE` first, then the environment.
#[derive(Debug, Clone, Default)]
pub struct Vars(pub HashMap<String, String>);

impl Vars {
    /// Parses `--var` arguments of the form `NAME=VALUE`.
    pub fn from_args(args: &[String]) -> Result<Vars> {
        let mut vars = HashMap::new();
        for arg in args {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| Error::input(format!("--var {arg:?}: expected NAME=VALUE")))?;
            vars.insert(k.trim().to_string(), v.to_string());
        }
        Ok(Vars(vars))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    /// Expands `${NAME}` (and `$$` to `$`) in `text`, the value of `key` in `file`.
    pub fn expand(&self, text: &str, file: &Path, key: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
            } else if let Some(r) = after.strip_prefix('{') {
                let end = r.find('}').ok_or_else(|| {
                    Error::input(format!(
                        "{}: {key}: `${{` without a closing `}}` in {text:?}",
                        file.display()
                    ))
                })?;
                let name = &r[..end];
                let value = self.get(name).ok_or_else(|| {
                    Error::input(format!(
                        "{}: {key}: variable `{name}` is not set (pass --var {name}=VALUE or set the environment variable {name})",
                        file.display()
                    ))
                })?;
                out.push_str(&value);
                rest = &r[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}
