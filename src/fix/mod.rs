//! Sync management: from violations to corrective actions and back.
//!
//! - `plan`: the rules evaluated at a run; each violation past its grace, not suppressed,
//!   whose rule has a `fix`, becomes an action of a plan file (JSON).
//! - `apply`: a plan refused whole when stale or past the mass-removal guard, else executed
//!   by the platforms' writers (`platforms::*::write`), every outcome in the audit log.
//! - `verify`: whether an applied action's violation went away at the runs evaluated since.
//! - `suppress`: the `suppress` command's changes to the store's suppressions, logged.

pub mod apply;
pub mod plan;
pub mod suppress;
pub mod verify;
