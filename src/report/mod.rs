//! Reports on the state of the systems. `status`: what every system holds at a run.

pub mod status;

pub use status::{status, Status, SystemCounts};
