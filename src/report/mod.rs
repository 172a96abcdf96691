//! Reports on the state of the systems: `status` (what every system holds at a run, from the
//! rule files' counts) and the periodic report (`period`: the figures; `render`: JSON,
//! Markdown, CSV and one self-contained HTML file).

pub mod period;
pub mod render;
pub mod status;

pub use status::{status, Status, SystemCounts};
