//! Integration tests: one binary. They run the real `driftwatch` executable against real
//! SQLite files in temporary folders, and use the library where a test needs to look inside.

mod alerts;
mod collectors;
mod common;
mod delta;
mod drift;
mod episodes;
mod errors;
mod failures;
mod fake_delta;
mod fake_platforms;
mod grace;
mod hostile;
mod live_databases;
mod live_graph;
mod live_samples;
mod live_wordpress;
mod mocks;
mod real_wordpress;
mod report;
mod rule_tests;
mod rules_cli;
mod rules_errors;
mod rules_lang;
mod rules_samples;
mod samples;
mod status;
mod store_versions;
mod sync;
mod sync_sql;
mod watch;
