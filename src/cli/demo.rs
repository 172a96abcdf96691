//! `driftwatch demo`: replays the bundled LMS samples.

use super::Global;
use crate::error::Result;
use std::io::Write;
use std::path::PathBuf;

/// Replay the bundled samples (seven days of an LMS and its platforms) and show what there is.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Samples folder [default: ./samples, else the one shipped with the source]
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
}

pub fn run(_global: &Global, _args: Args, _out: &mut dyn Write) -> Result<i32> {
    Ok(0)
}
