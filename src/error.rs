//! The one error type of driftwatch, and how each kind maps to an exit code.
//!
//! Exit codes are a contract (DESIGN.md): 2 for invalid input (usage, config, rule or data
//! files a user must fix), 3 for runtime failures (store unreadable, a collection that broke
//! for reasons outside the input).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something the user gave us is wrong: a flag, the config, a data file. Exit code 2.
    Input,
    /// Something went wrong while working: the store, the file system. Exit code 3.
    Runtime,
    /// The reader of our output went away (`driftwatch export | head`): not a failure.
    BrokenPipe,
}

#[derive(Debug)]
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

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::Runtime => 3,
            ErrorKind::BrokenPipe => 0,
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
