//! The `tenure` binary: parses the command line, runs the command, prints its
//! output, and maps the result to the exit codes of docs/cli-contract.md.
//!
//! 0: nothing wrong. 1: tenure answered "no". 2: tenure could not answer.
//! 3: `plan --detailed-exitcode` found changes.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tenure::cli::Cli;
use tenure::engine::{self, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match engine::run(&cli, chrono::Utc::now()) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`tenure report | head`) is not an error worth a panic.
            let _ = stdout.write_all(output.stdout.as_bytes());
            let _ = stdout.flush();
            ExitCode::from(match output.exit {
                Exit::Ok => 0,
                Exit::No => 1,
                Exit::Changes => 3,
            })
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::from(2)
        }
    }
}
