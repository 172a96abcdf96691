//! History across runs: what each rule found at each run it was evaluated at, kept as violation
//! episodes (`record`); from them, the rule diff between any two runs (`diff`), violations per
//! run (`trend`), and how long violations take to resolve (`delay`). `backfill` evaluates the
//! runs a question needs that have not been evaluated yet.

pub mod backfill;
pub mod delay;
pub mod diff;
pub mod record;
pub mod trend;

pub use backfill::{audit_with_history, backfill, Skipped};

/// Hours between two stored timestamps.
pub(crate) fn hours_between(from: &str, to: &str) -> Option<f64> {
    let (a, b) = (crate::time::parse(from)?, crate::time::parse(to)?);
    Some((b - a) as f64 / 3600.0)
}
