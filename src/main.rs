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
use tenure::ui;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = ui::Verbosity { quiet: cli.global.quiet, verbose: cli.global.verbose };
    ui::init_tracing(verbosity);
    ui::start_progress(verbosity);
    let result = engine::run(&cli, chrono::Utc::now());
    ui::finish_progress();
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            // JSON escapes control characters itself, and CSV carries the data as it is; text
            // and markdown reach terminals and PR comments, where escapes must not.
            let text = match cli.global.format {
                tenure::cli::FormatArg::Text | tenure::cli::FormatArg::Markdown => {
                    tenure::render::terminal_safe(&output.stdout)
                }
                _ => std::borrow::Cow::Borrowed(output.stdout.as_str()),
            };
            // A closed pipe (`tenure report | head`) is not an error worth a panic.
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            ExitCode::from(match output.exit {
                Exit::Ok => 0,
                Exit::No => 1,
                Exit::Changes => 3,
            })
        }
        Err(error) => {
            ui::print_error(&error);
            ExitCode::from(2)
        }
    }
}
