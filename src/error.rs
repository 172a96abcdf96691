//! The one error type of driftwatch, and the exit codes: the one map from outcomes to the
//! numbers scripts see.
//!
//! Exit codes are a contract: 0 fine; 1 a rule is at `fail` (so cron and CI can alert); 2
//! invalid input (usage, config, rule or data files a user must fix); 3 runtime failure (store
//! unreadable, a collection that broke for reasons outside the input).

use std::fmt;

/// How a command ended, as its exit code tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: nothing at `fail`.
    Ok,
    /// 1: at least one rule is at `fail`.
    RuleFailed,
    /// 2: invalid input: usage, config, a rule file, a data file.
    Invalid,
    /// 3: runtime failure: collection failed, store unreadable.
    Runtime,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::RuleFailed => 1,
            Exit::Invalid => 2,
            Exit::Runtime => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something the user gave us is wrong: a flag, the config, a data file. Exit code 2.
    Input,
    /// Something went wrong while working: the store, the file system. Exit code 3.
    Runtime,
    /// The reader of our output went away (`driftwatch export | head`): not a failure.
    BrokenPipe,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn input(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Input,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Runtime,
            message: message.into(),
        }
    }

    /// Prefixes the message with where it happened, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }

    pub fn exit(&self) -> Exit {
        match self.kind {
            ErrorKind::Input => Exit::Invalid,
            ErrorKind::Runtime => Exit::Runtime,
            ErrorKind::BrokenPipe => Exit::Ok,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::runtime(format!("store: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error {
                kind: ErrorKind::BrokenPipe,
                message: e.to_string(),
            }
        } else {
            Error::runtime(e.to_string())
        }
    }
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => io.into(),
            other => Error::runtime(format!("csv: {other:?}")),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        if let Some(kind) = e.io_error_kind() {
            std::io::Error::new(kind, e.to_string()).into()
        } else {
            Error::input(e.to_string())
        }
    }
}
