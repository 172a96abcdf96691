use clap::Parser;
use driftwatch::cli::{self, Cli};
use driftwatch::error::{ErrorKind, Exit};
use std::io::Write;

fn main() {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A reader that went away (`| head`) is not a failure, and does not change the verdict.
    let result = cli::run(cli, &mut out).and_then(|exit| match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit),
        flushed => flushed.map(|()| exit).map_err(Into::into),
    });
    let exit = match result {
        Ok(exit) => exit,
        Err(e) if e.kind == ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            let _ = out.flush();
            eprintln!("error: {}", driftwatch::config::mask(&e.message));
            e.exit()
        }
    };
    std::process::exit(exit.code());
}
