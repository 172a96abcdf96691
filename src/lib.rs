//! driftwatch keeps a source-of-truth database and the platforms that mirror it in agreement.
//!
//! # The pipeline
//!
//! ```text
//!  sources ──collect──▶ snapshot store ──rules──▶ findings ──▶ audit / diff / trend / delay
//!  (SQL DBs, Graph,     (versioned tables,        (violation     ──▶ status (report)
//!   WordPress, files)    one SQLite file)          episodes)      ──▶ plan ──apply──▶ platforms
//!                                                                      └──────────▶ audit log
//! ```
//!
//! A `collect` reads every configured source through its platform's reader into one run of the
//! store; rules (text files in a small language) are parsed, checked against the entities'
//! schemas and compiled to SQL; evaluating a rule at a run records what it found as violation
//! episodes, from which any two runs compare and trends and delays follow. A rule's `fix` makes
//! each violation an action of a plan; `apply` hands each source's actions to its platform's
//! writer, and every operation lands in the store's hash-chained audit log.
//!
//! # Where each job lives
//!
//! Modules are listed from the top (the command line) down. An arrow between modules points
//! down this table only: a module uses the ones below it, never one above.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | clap command line, one file per subcommand: parse arguments, call the library, render, print notes. No SQL, no computation of results |
//! | [`report`] | the state of the systems at a run (`status`: the rule files' `count`s) |
//! | [`fix`] | sync management: `plan` (violations → actions, the plan file), `apply` (stale plans, the mass-removal guard, the writers, outcomes in the audit log), `verify` (confirmed, reverted, unconfirmed), `suppress` (the command's changes) |
//! | [`ruletest`] | rule tests (`*.tests`): the format (`parse`), checking a test file against the rules and schemas, running a test in a store of its own through `history`'s evaluation |
//! | [`history`] | evaluating rules at a run and recording what they found (`evaluate`, `record`), an audit whose violations stay in the store instead of memory (`kept`), evaluating the runs a question needs (`backfill`); rule diff, trend and delay as functions returning data; [`history::History`]; the suppressions an audit honours (`suppressed`) |
//! | [`rules`] | the rule language: `ast`, `parse` (nom), `check` (returns a [`rules::check::Checked`] rule), `sql` (compiles only a checked rule), `eval` (runs it at a run); loading rule files and choosing rules |
//! | [`collect`] | a run: which sources, one savepoint each, the run report |
//! | [`platforms`] | one home per platform family (`files`: csv, json; `sql`: sqlite, postgres, mysql; `graph`: Entra ID and Teams; `wordpress`: users and LearnDash), each owning its typed settings, entity catalogue, reader and writer (`write`: fix verbs, re-read, execute); the shared HTTP client (`http`: paging, retry, auth) and record catalogue (`records`) |
//! | [`store`] | open and migrate (refinery, `migrations/`), runs, snapshots, versioned entity tables, the data diff, the audit log (`log`), suppressions |
//! | [`config`] | `driftwatch.toml` as a document: `store`, `rules`, `ssot`, sources by kind, `${NAME}`, secrets, paths relative to the file |
//! | [`output`] | table (comfy-table), CSV, JSON and Markdown: the one writer of every format |
//! | [`error`], [`text`], [`time`], [`value`] | the error type and the exit codes ([`error::Exit`]), name and "did you mean" helpers, times and spans, typed values: used by every layer |
//!
//! The order, checked with `grep -o 'crate::[a-z_]*'` over each module's files:
//! `cli → report → fix → ruletest → history → rules → collect → platforms → store → config →
//! output`, with
//! `error`, `text`, `time` and `value` below all of them. `config` is generic over the type of
//! a source ([`config::SourceSpec`]), so that it can hold each kind's typed settings without
//! naming a platform: [`platforms::Config`] is the config whose sources are this build's.
//!
//! Library code does not print: what a caller should know besides a result comes back as notes
//! (`AuditReport::notes`, `History::notes`, `Prepared::note`), which `cli` prints on standard
//! error. Exit codes come from one map, [`error::Exit`].
//!
//! # Recipes
//!
//! **A source kind.** Write `src/platforms/<family>/<kind>.rs` (or a file beside the others):
//! a `Settings` struct deserialized with serde (`#[serde(deny_unknown_fields)]`, read through
//! [`config::Origin::typed`] so that a wrong key is named with the kind), a reader struct
//! implementing [`platforms::Reader`] (its entities; `check_vars`, what can be checked without
//! reading the source: `${NAME}`s, URLs, secrets; `collect` writing each entity through the
//! `SnapshotWriter`; `declared` for the columns known before collecting), and a `pub const KIND: Kind`. Then add that `KIND` to
//! [`platforms::KINDS`]: that is the one registration. A platform with fixed entities keeps them
//! in a catalogue of [`platforms::records::Spec`]s, as `graph` and `wordpress` do.
//!
//! **A rule function.** Add it to `rules::types::FUNCTIONS` (name, argument counts, whether it
//! aggregates), type its arguments and result in `rules::check` (`Checker::call`), and write its
//! SQL in `rules::sql` (`Compiler::call`). A test in `tests/integration/rules_lang.rs` runs it
//! on a small store.
//!
//! **A platform action.** Add a [`platforms::write::Verb`] to the kind's `VERBS` (in
//! `graph/write.rs`, `wordpress/write.rs` or `sql/write.rs`): its name, op, parameters, the
//! container it acts in (for the share guard), the account it removes (for the total guard) and
//! what it changes (for before → after). Then handle the verb in that writer's `apply`: re-read
//! the target, say `Already` when it is in effect, else send the request through the kind's
//! `http` client and return the outcome with the request as sent. The plan (`fix::plan`) checks
//! a rule's `fix` against `VERBS`; nothing else needs to know the verb. A test in
//! `tests/integration/sync.rs` asserts its exact request against the stateful fake.
//!
//! **A command.** Add `src/cli/<name>.rs` with a clap `Args` (its doc comment is the help text)
//! and `run(global, args, out) -> Result<Exit>`, and a variant in `cli::Command`. `run` parses,
//! calls the library, renders through [`output`] and prints notes; the computation it needs
//! goes into the library module that owns the job.

pub mod alert;
pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod fix;
pub mod history;
pub mod output;
pub mod platforms;
pub mod report;
pub mod rules;
pub mod ruletest;
pub mod store;
pub mod text;
pub mod time;
pub mod value;
pub mod watch;
