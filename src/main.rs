use clap::Parser;
use driftwatch::cli::{self, Cli};
use driftwatch::error::ErrorKind;
use std::io::Write;

fn main() {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result =
        cli::run(cli, &mut out).and_then(|code| out.flush().map(|_| code).map_err(Into::into));
    let code = match result {
        Ok(code) => code,
        Err(e) if e.kind == ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = out.flush();
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
