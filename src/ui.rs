//! The terminal conventions of the `tenure` binary: how it talks to a person on stderr.
//!
//! Standard output carries the command's answer and is the same wherever it goes, so scripts and
//! tests can rely on it byte for byte. Everything else goes to stderr and adapts to it: colour
//! only on a terminal and never under `NO_COLOR`, through `anstream`, the crate clap already uses
//! for its own messages, so that tenure's errors and clap's look alike and obey the same
//! variables (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`); a spinner on long runs, only on an
//! interactive terminal and never in CI logs; `RUST_LOG` tracing for debugging. Errors read
//! like rustc's and cargo's: `error: …`, then `  = help: …` where tenure knows a way out.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};

const ERROR: Style = Style::new().bold().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const HELP: Style = Style::new().bold().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));

/// How much tenure says on stderr, from `-q` and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity {
    /// `-q`: errors only.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
}

impl Verbosity {
    /// The tracing filter when `RUST_LOG` is not set: tenure's own events at the level that
    /// `-q`/`-v` ask for, and only warnings from the libraries below it.
    fn default_filter(self) -> String {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        format!("warn,tenure={level}")
    }
}

/// Whether styles written to stderr reach the reader (a terminal, no `NO_COLOR`).
pub fn stderr_styled() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Installs the tracing subscriber: `RUST_LOG` when set (the usual env-filter syntax, such as
/// `RUST_LOG=tenure=debug`), else the level of `-q`/`-v`. Logs go to stderr, never stdout.
pub fn init_tracing(verbosity: Verbosity) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(verbosity.default_filter()));
    // A second subscriber (a test harness that already set one) is not worth failing over.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_styled())
        .with_target(true)
        .try_init();
}

/// An error with a hint for the user, shown as `  = help: …` under the error. Its text is
/// the wrapped error's, so output without the hint is unchanged.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    help: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Attaches a `help:` line to `error`.
pub fn hint(error: anyhow::Error, help: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message: format!("{error:#}"), help: help.into() })
}

/// The hints that an error chain carries, outermost first.
pub fn hints(error: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<Hinted>())
        .map(|hinted| hinted.help.clone())
        .collect();
    hints.extend(typed_hints(error));
    hints.dedup();
    hints
}

/// Hints for the adapters' typed errors, which know nothing of the command line.
fn typed_hints(error: &anyhow::Error) -> Vec<String> {
    use crate::source::SourceError;
    error
        .chain()
        .filter_map(|cause| match cause.downcast_ref::<SourceError>()? {
            SourceError::Open { .. } => Some(
                "run tenure inside an access repository, or pass --repo PATH; \
                 `tenure init` scaffolds a new one"
                    .to_owned(),
            ),
            SourceError::Shallow { .. } => Some(
                "in GitHub Actions, check out with `fetch-depth: 0` (actions/checkout); \
                 elsewhere run `git fetch --unshallow`"
                    .to_owned(),
            ),
            SourceError::RevisionNotFound { .. } => Some(
                "pass --rev with a branch, tag or commit that exists; \
                 in CI, fetch the branch that tenure.yaml names"
                    .to_owned(),
            ),
            _ => None,
        })
        .collect()
}

/// Prints `error: …` (bold red on a terminal) and its hints to stderr, like rustc and cargo.
/// Without a terminal, or with `NO_COLOR`, the text is plain: `error: <chain>`.
pub fn print_error(error: &anyhow::Error) {
    finish_progress();
    let mut stderr = anstream::stderr().lock();
    let _ = writeln!(stderr, "{}error:{} {error:#}", ERROR.render(), ERROR.render_reset());
    for help in hints(error) {
        let _ = writeln!(stderr, "  {}= help:{} {help}", HELP.render(), HELP.render_reset());
    }
}

/// The spinner of the current run, if one is shown.
static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether a spinner may be shown: stderr is an interactive terminal, not a CI log (`CI` is
/// set by GitHub Actions and most CI systems), not `-q`, and not mixed with log lines.
pub fn progress_allowed(verbosity: Verbosity) -> bool {
    !verbosity.quiet
        && verbosity.verbose == 0
        && std::env::var_os("RUST_LOG").is_none()
        && std::env::var_os("CI").is_none()
        && std::io::stderr().is_terminal()
}

/// Starts the spinner when [`progress_allowed`]; a no-op otherwise.
pub fn start_progress(verbosity: Verbosity) {
    if !progress_allowed(verbosity) {
        return;
    }
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}") {
        spinner.set_style(style);
    }
    spinner.enable_steady_tick(Duration::from_millis(120));
    if let Ok(mut slot) = SPINNER.lock() {
        *slot = Some(spinner);
    }
}

/// Names the step that a long run is in: the spinner's message, and an `info` event for
/// `-v` and `RUST_LOG`.
pub fn step(message: impl Into<String>) {
    let message = message.into();
    tracing::info!("{message}");
    if let Ok(slot) = SPINNER.lock()
        && let Some(spinner) = slot.as_ref()
    {
        spinner.set_message(message);
    }
}

/// Like [`step`], for the many small steps of a long one: the spinner's message, and a
/// `debug` event, so that `-v` stays short.
pub fn detail(message: impl Into<String>) {
    let message = message.into();
    tracing::debug!("{message}");
    if let Ok(slot) = SPINNER.lock()
        && let Some(spinner) = slot.as_ref()
    {
        spinner.set_message(message);
    }
}

/// Removes the spinner, leaving the terminal as it was.
pub fn finish_progress() {
    if let Ok(mut slot) = SPINNER.lock()
        && let Some(spinner) = slot.take()
    {
        spinner.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_follows_quiet_and_verbose() {
        let at = |quiet, verbose| Verbosity { quiet, verbose }.default_filter();
        assert_eq!(at(false, 0), "warn,tenure=warn");
        assert_eq!(at(false, 1), "warn,tenure=info");
        assert_eq!(at(false, 2), "warn,tenure=debug");
        assert_eq!(at(false, 7), "warn,tenure=trace");
        assert_eq!(at(true, 0), "warn,tenure=error");
    }

    #[test]
    fn a_hint_keeps_the_error_text_and_is_found_under_context() {
        let error = hint(anyhow::anyhow!("no tenure.yaml"), "run `tenure init`");
        assert_eq!(format!("{error:#}"), "no tenure.yaml");
        let wrapped = error.context("cannot load");
        assert_eq!(hints(&wrapped), vec!["run `tenure init`".to_owned()]);
        assert!(hints(&anyhow::anyhow!("plain")).is_empty());
    }
}
