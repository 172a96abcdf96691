//! driftwatch keeps a source-of-truth database and the platforms that mirror it in agreement.
//!
//! ```text
//!  sources ──collect──▶ snapshot store ──▶ export / diff / snapshots
//!  (SQLite, CSV,        (versioned tables,
//!   JSON exports)        one SQLite file)
//! ```
//!
//! `config` reads `driftwatch.toml`; `collect` snapshots each source through the store's
//! writer; `store` keeps versioned entity tables and answers "as of run R" questions; `output`
//! renders tables, CSV, JSON and Markdown; `cli` is the command line.

pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod history;
pub mod output;
pub mod rules;
pub mod store;
pub mod text;
pub mod time;
pub mod value;
