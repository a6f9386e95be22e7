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
    /// The github forge's evidence cache: facts about merged pull requests, by commit.
    #[arg(long, global = true, value_name = "DIR", default_value = ".tenure-cache")]
    pub cache: PathBuf,
    /// Limit the run to resources whose full id matches GLOB (`*` matches anything), such as
    /// `gh:team/*` or `local:*`; repeatable. One shard of a CI matrix: give each its own --audit.
    #[arg(long = "only", global = true, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Print nothing on stderr but errors: no progress, no log lines. Standard output is unchanged.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: -v names each step, -vv debugs, -vvv traces. RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
    #[command(after_help = "Examples:\n  tenure check --format json\n  \
        tenure check --pr 42 --comment   # a pull request's files, as if merged now")]
    Check {
        /// Check pull request N as if it were merged now (github forge); without it, the pull
        /// request of GITHUB_EVENT_PATH when that is a pull_request event. Its head commit must
        /// be in the clone.
        #[arg(long, value_name = "N")]
        pr: Option<u64>,
        /// Create or update one sticky comment on the pull request with the report.
        #[arg(long)]
        comment: bool,
    },
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
        /// How long to wait while another apply holds the audit log's or a state file's lock,
        /// such as `30s`; `0s` refuses at once.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        lock_timeout: String,
    },
    /// Every live grant with its evidence (text, json, csv, markdown); with --metrics, figures
    /// about the access process over a period.
    #[command(after_help = "Examples:\n  tenure report --format csv > access-review.csv\n  \
        tenure report --metrics --since 2026-01-01 --audit tenure-audit.jsonl --format markdown")]
    Report {
        /// Print figures instead: requests filed, approved and rejected, renewals, break-glass
        /// uses, grants applied and revoked (with how late after expiry), drift removed.
        #[arg(long)]
        metrics: bool,
        /// With --metrics: the start of the period (RFC 3339 or a date).
        #[arg(long, value_name = "TIME", requires = "metrics")]
        since: Option<String>,
        /// With --metrics: the audit log to read.
        #[arg(long, value_name = "PATH", default_value = "tenure-audit.jsonl")]
        audit: PathBuf,
    },
    /// Remind requesters and subjects of grants that end soon (once per threshold: 7 days,
    /// 1 day), and ask owners to review break-glass access (once per grant).
    #[command(
        after_help = "Examples:\n  tenure notify --within 7d\n  tenure notify --format json --state .tenure-cache/notify.json"
    )]
    Notify {
        /// The window, such as `7d`.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        within: String,
        /// git forge: the file that records which reminders were sent; keep it between runs
        /// (a CI cache). The github forge records them as hidden markers in the comments.
        #[arg(long, value_name = "PATH", default_value = ".tenure-cache/notify.json")]
        state: PathBuf,
        /// Show what would be sent, and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rewrite the `expires` or `duration` line of a request, and nothing else. The renewal is
    /// a new change: it needs the owners' approval like any other.
    #[command(after_help = "Examples:\n  tenure renew requests/alice-oncall.yaml --until 2026-12-31\n  \
        tenure renew requests/alice-oncall.yaml --for 30d --open-pr")]
    Renew {
        /// The request file, relative to the repository root.
        file: String,
        /// The new end: a date (through that day, UTC) or an RFC 3339 time.
        #[arg(long, value_name = "TIME", required_unless_present = "for_", conflicts_with = "for_")]
        until: Option<String>,
        /// The new end as a duration from now, such as `30d`.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
        /// github forge: commit the change to a new branch through the API and open the PR.
        #[arg(long)]
        open_pr: bool,
    },
    /// Grants that end soon.
    #[command(after_help = "Example:\n  tenure expiring --within 7d")]
    Expiring {
        /// The window, such as `7d` or `36h`.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        within: String,
    },
    /// Write request files under requests/imported/ for the grants resources hold now, to
    /// adopt tenure without revoking anyone. Never overwrites a file.
    #[command(after_help = "Examples:\n  \
        tenure import gh:team/oncall gh:org --requester dana --for 30d\n  \
        tenure import gh:repo/api --requester dana --expires 2026-12-31")]
    Import {
        /// The resources, as catalog ids such as gh:team/oncall.
        #[arg(required = true, value_name = "RESOURCE")]
        resources: Vec<String>,
        /// Who will propose the files (the author of the pull request that adds them).
        #[arg(long, value_name = "LOGIN")]
        requester: String,
        /// The end of the imported grants: a date (through that day, UTC) or an RFC 3339 time.
        #[arg(long, value_name = "TIME", required_unless_present = "for_", conflicts_with = "for_")]
        expires: Option<String>,
        /// The end as a duration from now, such as `30d`.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
    },
    /// Why a request is or is not granted: the change, the review, each approval weighed.
    #[command(after_help = "Example:\n  tenure explain requests/alice-payments-oncall.yaml")]
    Explain {
        /// The request file, relative to the repository root.
        file: String,
    },
    /// Check the audit log: its hash chain, and that every line is a record.
    #[command(subcommand, after_help = "Example:\n  tenure audit verify --audit tenure-audit.jsonl")]
    Audit(AuditCommand),
    /// Print the JSON Schemas of tenure's files.
    #[command(after_help = "Example:\n  tenure schema request > request.schema.json")]
    Schema {
        /// `tenure`, `catalog` or `request`; all of them when omitted.
        name: Option<String>,
    },
    /// Scaffold an access repository: tenure.yaml, a catalog, requests/, CI workflows,
    /// CODEOWNERS and a README. Never overwrites a file.
    #[command(after_help = "Examples:\n  \
        tenure init access --admin dana --admin erin\n  \
        cd access && git init -b main && git add -A && git commit -m 'Set up tenure' && tenure check\n  \
        tenure init --forge github --repository acme/access --admin @acme/security")]
    Init(InitArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        tenure completions bash > ~/.local/share/bash-completion/completions/tenure\n  \
        tenure completions zsh > \"${fpath[1]}/_tenure\"\n  \
        tenure completions fish > ~/.config/fish/completions/tenure.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `tenure init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the access repository (created if missing; default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where approvals come from: `git` (commit trailers, offline) or `github` (pull-request reviews).
    #[arg(long, value_enum, default_value_t = InitForge::Git)]
    pub forge: InitForge,
    /// The GitHub repository that will hold the access repository, as OWNER/NAME (with --forge github).
    #[arg(long, value_name = "OWNER/NAME", required_if_eq("forge", "github"))]
    pub repository: Option<String>,
    /// The branch whose history is the truth.
    #[arg(long, value_name = "NAME", default_value = "main")]
    pub branch: String,
    /// An admin, who may approve changes to tenure.yaml and catalog/ (a login, or @org/team with
    /// --forge github); repeatable. The first commit is trusted on first use, so choose with care.
    #[arg(long = "admin", value_name = "LOGIN", required = true)]
    pub admins: Vec<String>,
}

/// `tenure init --forge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitForge {
    /// `Proposed-by:`/`Approved-by:` trailers in the merge commit; trusts whoever can write the branch.
    Git,
    /// Pull-request reviews, read through the GitHub API.
    Github,
}

/// `tenure audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain: exit 0 when intact (torn lines from a crash are listed), 1 at the
    /// first broken line, 2 when the log cannot be read.
    #[command(after_help = "Example:\n  tenure audit verify --audit /var/log/tenure/audit.jsonl")]
    Verify {
        /// The audit log.
        #[arg(long, value_name = "PATH", default_value = "tenure-audit.jsonl")]
        audit: PathBuf,
    },
}
