//! driftwatch keeps a source-of-truth database and the platforms that mirror it in agreement.
//!
//! ```text
//!  sources ──collect──▶ snapshot store ──rules──▶ findings ──▶ audit / diff / trend / delay
//!  (SQL DBs, Graph,     (versioned tables,        (violation
//!   WordPress, files)    one SQLite file)          episodes)
//! ```
//!
//! `config` reads `driftwatch.toml`; `collect` snapshots each source through the store's
//! writer; `store` keeps versioned entity tables and answers "as of run R" questions; `rules`
//! parses, checks, compiles and evaluates rule files; `history` keeps what each evaluation found
//! as violation episodes and answers diff, trend and delay; `output` renders tables, CSV, JSON
//! and Markdown; `cli` is the command line.

pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod history;
pub mod output;
pub mod platforms;
pub mod report;
pub mod rules;
pub mod store;
pub mod text;
pub mod time;
pub mod value;
