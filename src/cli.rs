//! The command line, as clap derive types only (docs/cli-contract.md).
//!
//! Parsing lives here; what the commands do lives in `engine`. Every command has
//! an example in its help, since that is where people look first.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tenure: access requests as reviewed YAML files, reconciled against the systems that hold
/// the access.
#[derive(Debug, Parser)]
#[command(
    name = "tenure",
    version,
    about,
    long_about = "tenure proves that every access request in a Git repository was approved by people \
                  allowed to approve it, diffs the grants that approved, unexpired requests want against \
                  the grants that the target systems hold, applies the difference, and revokes whatever \
                  has expired.",
    after_help = "Exit codes: 0 nothing wrong; 1 tenure answered \"no\" (a rejected request, a failed change, \
                  a guard); 2 tenure could not answer (bad arguments, unreadable repository or config); \
                  3 plan --detailed-exitcode found changes."
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The access repository (default: the current directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// The revision to judge (default: the branch that tenure.yaml names at HEAD, or origin/<branch>).
    #[arg(long, global = true, value_name = "REV")]
    pub rev: Option<String>,
    /// Decide as of this time: RFC 3339, or a bare date for the start of that day in UTC.
    #[arg(long, global = true, value_name = "TIME")]
    pub now: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// For people.
    Text,
    /// One JSON object (stable fields).
    Json,
    /// For pull-request comments.
    Markdown,
    /// Comma-separated values (report and expiring).
    Csv,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate every file, the policy and the approvals; never writes.
    #[command(after_help = "Example:\n  tenure check --format json")]
    Check,
    /// Show the changes that apply would make.
    #[command(after_help = "Example:\n  tenure plan --now 2026-12-01 --detailed-exitcode")]
    Plan {
        /// Exit 3 when the plan is not empty (1 still wins when something is rejected).
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Make the changes, and record each one in the audit log.
    #[command(after_help = "Example:\n  tenure apply --audit /var/log/tenure/audit.jsonl")]
    Apply {
        /// The audit log, one JSON line per change.
        #[arg(long, value_name = "PATH", default_value = "tenure-audit.jsonl")]
        audit: PathBuf,
        /// Apply even when a safety guard trips; the audit log records it.
        #[arg(long)]
        force: bool,
    },
    /// Every live grant with its evidence (text, json, csv, markdown).
    #[command(after_help = "Example:\n  tenure report --format csv > access-review.csv")]
    Report,
    /// Grants that end soon.
    #[command(after_help = "Example:\n  tenure expiring --within 7d")]
    Expiring {
        /// The window, such as `7d` or `36h`.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        within: String,
    },
    /// Why a request is or is not granted: the change, the review, each approval weighed.
    #[command(after_help = "Example:\n  tenure explain requests/alice-payments-oncall.yaml")]
    Explain {
        /// The request file, relative to the repository root.
        file: String,
    },
    /// Print the JSON Schemas of tenure's files.
    #[command(after_help = "Example:\n  tenure schema request > request.schema.json")]
    Schema {
        /// `tenure`, `catalog` or `request`; all of them when omitted.
        name: Option<String>,
    },
}
