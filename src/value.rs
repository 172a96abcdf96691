//! Typed values of entity columns: the five column types, how raw text and JSON become values
//! of a type, how values are rendered for CSV, tables and JSON, and the stable row hash and key
//! encoding the versioned tables rely on.

use rusqlite::types::{ToSqlOutput, ValueRef};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Real,
    Bool,
    /// ISO-8601 UTC text, `YYYY-MM-DDTHH:MM:SSZ`.
    Timestamp,
}

pub const TYPE_NAMES: &str = "text, integer, real, bool, timestamp";

impl ColumnType {
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "text" => ColumnType::Text,
            "integer" => ColumnType::Integer,
            "real" => ColumnType::Real,
            "bool" => ColumnType::Bool,
            "timestamp" => ColumnType::Timestamp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Bool => "bool",
            ColumnType::Timestamp => "timestamp",
        }
    }

    /// The SQLite column type used in entity tables.
    pub fn sql_type(self) -> &'static str {
        match self {
            ColumnType::Text | ColumnType::Timestamp => "TEXT",
            ColumnType::Integer | ColumnType::Bool => "INTEGER",
            ColumnType::Real => "REAL",
        }
    }

    /// Converts text from a file (CSV field, JSON string) into this type. An empty field is
    /// NULL: CSV cannot tell an empty string from a missing value, so neither do we.
    pub fn from_text(self, text: &str) -> Result<Value, String> {
        if text.is_empty() {
            return Ok(Value::Null);
        }
        let t = text.trim();
        let bad = || format!("expected {}, found {:?}", self.as_str(), text);
        match self {
            ColumnType::Text => Ok(Value::Text(text.to_string())),
            ColumnType::Integer => t.parse().map(Value::Integer).map_err(|_| bad()),
            ColumnType::Real => match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::Real(f)),
                _ => Err(bad()),
            },
            ColumnType::Bool => parse_bool(t)
                .map(|b| Value::Integer(b as i64))
                .ok_or_else(bad),
            ColumnType::Timestamp => crate::time::normalize(t).map(Value::Text).ok_or_else(bad),
        }
    }

    /// Converts a JSON value into this type. Arrays become sorted, comma-joined text (a role
    /// list compares equal whatever order the platform returned it in).
    pub fn from_json(self, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        let bad = |found: &J| format!("expected {}, found {}", self.as_str(), found);
        match (self, json) {
            (_, J::Null) => Ok(Value::Null),
            (ColumnType::Text, J::String(s)) => Ok(Value::Text(s.clone())),
            (ColumnType::Text, J::Array(items)) => {
                let mut parts: Vec<String> = items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect();
                parts.sort();
                Ok(Value::Text(parts.join(",")))
            }
            (ColumnType::Text, other) => Ok(Value::Text(other.to_string())),
            (ColumnType::Integer, J::Number(n)) => {
                n.as_i64().map(Value::Integer).ok_or_else(|| bad(json))
            }
            (ColumnType::Real, J::Number(n)) => {
                n.as_f64().map(Value::Real).ok_or_else(|| bad(json))
            }
            (ColumnType::Bool, J::Bool(b)) => Ok(Value::Integer(*b as i64)),
            (_, J::String(s)) => self.from_text(s),
            _ => Err(bad(json)),
        }
    }

    /// The type a JSON value suggests when no type is declared or recorded.
    pub fn infer_json(json: &serde_json::Value) -> Option<ColumnType> {
        use serde_json::Value as J;
        match json {
            J::Null => None,
            J::Bool(_) => Some(ColumnType::Bool),
            J::Number(n) if n.is_i64() => Some(ColumnType::Integer),
            J::Number(_) => Some(ColumnType::Real),
            _ => Some(ColumnType::Text),
        }
    }

    /// Converts a value read from a SQLite source into this type.
    pub fn from_sql(self, v: ValueRef<'_>) -> Result<Value, String> {
        let bad = |found: String| format!("expected {}, found {found}", self.as_str());
        match (self, v) {
            (_, ValueRef::Null) => Ok(Value::Null),
            (ColumnType::Integer, ValueRef::Integer(i)) => Ok(Value::Integer(i)),
            (ColumnType::Real, ValueRef::Real(f)) => Ok(Value::Real(f)),
            (ColumnType::Real, ValueRef::Integer(i)) => Ok(Value::Real(i as f64)),
            (ColumnType::Bool, ValueRef::Integer(i @ (0 | 1))) => Ok(Value::Integer(i)),
            (ColumnType::Text, ValueRef::Integer(i)) => Ok(Value::Text(i.to_string())),
            (ColumnType::Text, ValueRef::Real(f)) => Ok(Value::Text(f.to_string())),
            (_, ValueRef::Text(t)) => match std::str::from_utf8(t) {
                Ok(s) if self == ColumnType::Text => Ok(Value::Text(s.to_string())),
                Ok(s) => self.from_text(s),
                Err(_) => Err(bad("text that is not UTF-8".into())),
            },
            (_, ValueRef::Blob(_)) => Err(bad("a blob".into())),
            (_, ValueRef::Integer(i)) => Err(bad(format!("integer {i}"))),
            (_, ValueRef::Real(f)) => Err(bad(format!("real {f}"))),
        }
    }

    /// The type a SQLite declared column type names, by SQLite's own affinity rules, with the
    /// common spellings of booleans and timestamps (Django writes `bool` and `datetime`).
    pub fn from_decl(decl: &str) -> ColumnType {
        let d = decl.to_ascii_uppercase();
        if d.contains("BOOL") {
            ColumnType::Bool
        } else if d.contains("INT") {
            ColumnType::Integer
        } else if d.contains("DATE") || d.contains("TIME") {
            ColumnType::Timestamp
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            ColumnType::Text
        } else if d.contains("REAL")
            || d.contains("FLOA")
            || d.contains("DOUB")
            || d.contains("NUM")
            || d.contains("DEC")
        {
            ColumnType::Real
        } else {
            ColumnType::Text
        }
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value as the store holds it: bools are integers 0/1, timestamps are text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl Value {
    pub fn from_sql(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Value::Text(String::from_utf8_lossy(t).into_owned())
            }
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A value from SQLite's `json_array(…)` of stored values: numbers, text or null.
    pub fn from_json_cell(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Text(s.clone()),
            J::Bool(b) => Value::Integer(*b as i64),
            other => Value::Text(other.to_string()),
        }
    }

    /// SQLite's order of values: NULL, then numbers (integers and reals by value), then text.
    pub fn sql_cmp(&self, other: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let rank = |v: &Value| match v {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
        };
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (
                a @ (Value::Integer(_) | Value::Real(_)),
                b @ (Value::Integer(_) | Value::Real(_)),
            ) => {
                let f = |v: &Value| match v {
                    Value::Integer(i) => *i as f64,
                    Value::Real(r) => *r,
                    _ => 0.0,
                };
                f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal)
            }
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }

    /// The value as SQLite's borrowed form, for `ColumnType::from_sql`.
    pub fn as_sql_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }
    }

    /// The text of a value in a CSV field or a table cell (NULL is empty).
    pub fn render(&self, ty: ColumnType) -> Cow<'_, str> {
        match (self, ty) {
            (Value::Null, _) => Cow::Borrowed(""),
            (Value::Integer(0), ColumnType::Bool) => Cow::Borrowed("false"),
            (Value::Integer(_), ColumnType::Bool) => Cow::Borrowed("true"),
            (Value::Integer(i), _) => Cow::Owned(i.to_string()),
            (Value::Real(f), _) => Cow::Owned(f.to_string()),
            (Value::Text(s), _) => Cow::Borrowed(s),
        }
    }

    pub fn to_json(&self, ty: ColumnType) -> serde_json::Value {
        use serde_json::Value as J;
        match (self, ty) {
            (Value::Null, _) => J::Null,
            (Value::Integer(i), ColumnType::Bool) => J::Bool(*i != 0),
            (Value::Integer(i), _) => J::from(*i),
            (Value::Real(f), _) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            (Value::Text(s), _) => J::String(s.clone()),
        }
    }

    /// Appends the value's bytes, tagged with its kind, to the buffer a row hash is taken of.
    fn feed(&self, buf: &mut Vec<u8>) {
        match self {
            Value::Null => buf.push(0),
            Value::Integer(i) => {
                buf.push(1);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Value::Real(f) => {
                buf.push(2);
                buf.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::Text(s) => {
                buf.push(3);
                buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(self.as_sql_ref()))
    }
}

/// The content hash of a row version: XXH3-64 of the row's non-NULL values, each with its
/// column's position in the entity, so a column added later (NULL in old rows) changes no hash.
/// XXH3's output is fixed by its specification, which the hashes stored in a store file need
/// (std's `DefaultHasher` promises no stability). `buf` is scratch space, reused across rows.
pub fn row_hash<'a>(cells: impl Iterator<Item = (usize, &'a Value)>, buf: &mut Vec<u8>) -> i64 {
    buf.clear();
    for (position, value) in cells {
        if !value.is_null() {
            buf.extend_from_slice(&(position as u32).to_le_bytes());
            value.feed(buf);
        }
    }
    xxhash_rust::xxh3::xxh3_64(buf) as i64
}

/// The `_key` text of a row: the key value itself for a one-column key, the values joined by
/// U+001F (escaped inside values) for a composite key. NULL is written as `\N`.
pub fn encode_key<'a>(parts: impl Iterator<Item = &'a Value>, out: &mut String) {
    out.clear();
    for (i, v) in parts.enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        match v {
            Value::Null => out.push_str("\\N"),
            Value::Integer(n) => {
                use std::fmt::Write;
                let _ = write!(out, "{n}");
            }
            Value::Real(f) => {
                use std::fmt::Write;
                let _ = write!(out, "{f}");
            }
            Value::Text(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\u{1f}' => out.push_str("\\u"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_null_cells_so_added_columns_change_nothing() {
        let a = [Value::Integer(1), Value::Text("x".into())];
        let b = [Value::Integer(1), Value::Text("x".into()), Value::Null];
        assert_eq!(
            row_hash(a.iter().enumerate(), &mut Vec::new()),
            row_hash(b.iter().enumerate(), &mut Vec::new())
        );
    }

    #[test]
    fn hash_tells_types_positions_and_values_apart() {
        let h = |v: &[Value]| row_hash(v.iter().enumerate(), &mut Vec::new());
        assert_ne!(h(&[Value::Integer(1)]), h(&[Value::Text("1".into())]));
        assert_ne!(
            h(&[Value::Integer(1), Value::Null]),
            h(&[Value::Null, Value::Integer(1)])
        );
        assert_ne!(
            h(&[Value::Text("ab".into()), Value::Text("c".into())]),
            h(&[Value::Text("a".into()), Value::Text("bc".into())])
        );
    }

    #[test]
    fn composite_keys_cannot_collide_through_the_separator() {
        let mut a = String::new();
        let mut b = String::new();
        encode_key(
            [Value::Text("a\u{1f}b".into()), Value::Text("c".into())].iter(),
            &mut a,
        );
        encode_key(
            [Value::Text("a".into()), Value::Text("b\u{1f}c".into())].iter(),
            &mut b,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn json_arrays_become_sorted_comma_joined_text() {
        let v = ColumnType::Text
            .from_json(&serde_json::json!(["owner", "guest"]))
            .unwrap();
        assert_eq!(v, Value::Text("guest,owner".into()));
        assert_eq!(
            ColumnType::Text.from_json(&serde_json::json!([])).unwrap(),
            Value::Text(String::new())
        );
    }

    #[test]
    fn text_conversion_reports_what_it_expected_and_found() {
        assert_eq!(
            ColumnType::Integer.from_text("12a").unwrap_err(),
            "expected integer, found \"12a\""
        );
        assert_eq!(
            ColumnType::Bool.from_text("Yes").unwrap(),
            Value::Integer(1)
        );
        assert_eq!(ColumnType::Integer.from_text("").unwrap(), Value::Null);
    }
}
