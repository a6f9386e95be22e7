//! The PR check's glue: which pull request to judge, its files as one more change on the
//! branch, and the outputs that only a CI run has (the sticky comment, annotations and the
//! step summary). The comparison itself is `prcheck`, which is pure.
//!
//! The pull request's files are read from the local clone as data: nothing of the pull
//! request is ever run, so the check is safe on pull requests from forks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};

use super::{Exit, Output, State};
use crate::desired::{Evaluation, Parsed};
use crate::forge::ChangeReview;
use crate::history::HistoryIndex;
use crate::model::{Code, CommitRecord, ObjectId, Rejection};
use crate::policy::{self, Policy, PolicyProblem};
use crate::prcheck::{self, PullInfo, Report};
use crate::render::{self, Format};
use crate::source::{Source, Watch};

/// A pull request to judge, and whether the command line named it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Requested {
    number: u64,
    /// `--pr`, as opposed to the pull request of the GitHub Actions event.
    explicit: bool,
}

/// `--pr N`, or the pull request of `GITHUB_EVENT_PATH` when the event is about one.
pub(super) fn requested(pr: Option<u64>) -> anyhow::Result<Option<Requested>> {
    if let Some(number) = pr {
        return Ok(Some(Requested { number, explicit: true }));
    }
    let Some(path) = std::env::var_os("GITHUB_EVENT_PATH").filter(|path| !path.is_empty()) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).with_context(|| {
        format!("cannot read GITHUB_EVENT_PATH {}", std::path::Path::new(&path).display())
    })?;
    let event: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!("GITHUB_EVENT_PATH {} is not JSON", std::path::Path::new(&path).display())
    })?;
    // pull_request, pull_request_target and pull_request_review events carry the pull request;
    // a push or a schedule does not, and then `check` checks the branch.
    Ok(event
        .get("pull_request")
        .and_then(|pull| pull.get("number"))
        .and_then(serde_json::Value::as_u64)
        .map(|number| Requested { number, explicit: false }))
}

/// The pull request as one more change on the branch.
pub(super) struct Pending {
    /// A change commit on top of the branch tip whose changes are the pull request's.
    pub(super) record: CommitRecord,
    /// Its review: the pull request's standing approvals of its head, merged now.
    pub(super) review: ChangeReview,
    info: PullInfo,
}

/// Reads the pull request and builds its change. `None` when no pull request is wanted, or
/// when one comes only from the Actions event and the forge has no pull requests.
pub(super) fn pending_change(
    source: &Source,
    current: &Policy,
    tip: &ObjectId,
    watch: &Watch,
    requested: Option<Requested>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Pending>> {
    let Some(Requested { number, explicit }) = requested else { return Ok(None) };
    let policy::ForgeKind::Github { repository } = &current.forge else {
        if explicit {
            bail!("--pr needs `forge: {{kind: github}}`: the git forge has no pull requests to read");
        }
        tracing::warn!("the git forge has no pull requests; checking the branch instead of #{number}");
        return Ok(None);
    };
    let client = connect(repository)?;
    let pull = crate::forge::github::open_pull(&client, repository, number, now)
        .with_context(|| format!("cannot read pull request #{number} of {repository}"))?;
    if pull.state != "open" {
        bail!("pull request #{number} is {}; `check --pr` judges open pull requests", pull.state);
    }
    if pull.base != current.branch {
        bail!(
            "pull request #{number} merges into `{}`, not `{}`; only changes to `{}` grant access",
            pull.base,
            current.branch,
            current.branch
        );
    }
    if source.commit_parents(&pull.head)?.is_none() {
        return Err(crate::ui::hint(
            anyhow!(
                "the head commit {} of pull request #{number} is not in the clone; tenure reads the pull \
                 request's files from git and fetches nothing",
                pull.head.short()
            ),
            format!("fetch it first: git fetch origin pull/{number}/head"),
        ));
    }
    // As if merged: the paths the pull request changed since it left the branch take its
    // content; every other path keeps the branch's, so later work on the branch is not
    // counted as the pull request undoing it.
    let changes = source.tree_changes(tip, &pull.head, watch)?;
    let changes = match source.merge_base(tip, &pull.head)? {
        Some(base) => {
            let ours: BTreeSet<String> = source
                .tree_changes(&base, &pull.head, watch)?
                .into_iter()
                .map(|change| change.path)
                .collect();
            changes.into_iter().filter(|change| ours.contains(&change.path)).collect()
        }
        None => changes,
    };
    if changes.is_empty() {
        tracing::info!("pull request #{number} changes no file that tenure reads");
    }
    let record = CommitRecord {
        id: pull.head.clone(),
        first_parent: Some(tip.clone()),
        parent_count: 2,
        message: format!("Pull request #{number}, as if merged now"),
        committed_at: now,
        author_name: pull.author.clone(),
        author_email: String::new(),
        changes,
    };
    let info = PullInfo {
        number,
        url: pull.url.clone(),
        author: pull.author.clone(),
        head: pull.head.0.clone(),
        base: pull.base.clone(),
    };
    Ok(Some(Pending { record, review: pull.review, info }))
}

fn connect(repository: &str) -> anyhow::Result<crate::github::Client> {
    let owner = repository.split_once('/').map_or(repository, |(owner, _)| owner);
    crate::github::Settings::from_env()
        .and_then(|settings| crate::github::Client::connect(settings, owner))
        .context("cannot connect to GitHub for the PR check")
}

/// A policy that the pull request makes unusable is the pull request's finding, not a reason
/// to stop: the branch's policy stands, and the broken file is rejected.
pub(super) fn policy_rejections(problems: &[PolicyProblem]) -> Vec<Rejection> {
    problems
        .iter()
        .map(|problem| Rejection {
            request: problem.file.clone(),
            code: if problem.message.contains("invalid-yaml") {
                Code::InvalidYaml
            } else {
                Code::InvalidField
            },
            message: format!("the pull request's policy cannot be used: {}", problem.message),
            field: problem.field.clone(),
            line: None,
            column: None,
        })
        .collect()
}

/// Compares the branch without and with the pull request.
pub(super) fn report(
    pending: &Pending,
    without: &Evaluation,
    with: &Evaluation,
    judged_by: Option<&Policy>,
    index: &HistoryIndex,
    parsed: &BTreeMap<ObjectId, Parsed>,
) -> Report {
    let touched: BTreeSet<String> = pending.record.changes.iter().map(|change| change.path.clone()).collect();
    let requests = index
        .requests_at_tip
        .iter()
        .filter_map(|(path, entry)| match parsed.get(&entry.id) {
            Some(Ok(request)) => Some((path.clone(), request)),
            _ => None,
        })
        .collect();
    prcheck::build(prcheck::Inputs {
        pull: &pending.info,
        without,
        with,
        touched: &touched,
        base: judged_by,
        requests: &requests,
    })
}

/// `check`: the pull request's report when there is one, else the whole branch; under GitHub
/// Actions also annotations and the step summary, and with `--comment` the sticky comment.
pub(super) fn check_command(state: &State, format: Format, comment: bool) -> anyhow::Result<Output> {
    let actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true");
    let Some(report) = &state.pull else {
        if comment {
            bail!("--comment needs a pull request: --pr N, or a pull_request event in GITHUB_EVENT_PATH");
        }
        let mut output = super::check(state, format);
        if actions {
            let annotations =
                prcheck::annotations(state.evaluation.rejected.iter().map(|rejection| (rejection, false)));
            emit(&mut output, &annotations, format);
            let summary = render_check_markdown(state);
            append_summary(&summary);
        }
        return Ok(output);
    };
    let header = state.header();
    let stdout = render::pull_check(header, report, format);
    let mut output = Output { stdout, exit: if report.passes() { Exit::Ok } else { Exit::No } };
    if actions || comment {
        let markdown = render::pull_check(header, report, Format::Markdown);
        if actions {
            let findings = report.files.iter().filter_map(|file| {
                let rejection = file.rejection.as_ref()?;
                Some((rejection, file.status == prcheck::FileStatus::Pending))
            });
            emit(&mut output, &prcheck::annotations(findings), format);
            append_summary(&markdown);
        }
        if comment {
            post_comment(state, report.pull_request.number, &markdown);
        }
    }
    Ok(output)
}

fn render_check_markdown(state: &State) -> String {
    super::check(state, Format::Markdown).stdout
}

/// Annotations go before the report on standard output, except where standard output is one
/// JSON object; the runner reads workflow commands from both streams.
fn emit(output: &mut Output, annotations: &str, format: Format) {
    if annotations.is_empty() {
        return;
    }
    match format {
        Format::Text | Format::Markdown => output.stdout.insert_str(0, annotations),
        Format::Json | Format::Csv => eprint!("{annotations}"),
    }
}

/// Appends to `$GITHUB_STEP_SUMMARY`. A summary that cannot be written is a warning: the
/// verdict is the exit code.
fn append_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty()) else { return };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{markdown}\n").as_bytes()));
    if let Err(error) = written {
        tracing::warn!("cannot append to GITHUB_STEP_SUMMARY: {error}");
    }
}

/// The sticky comment. A comment that cannot be written (a read-only token, as on a fork's
/// `pull_request` run) is a warning, never a changed verdict.
fn post_comment(state: &State, number: u64, markdown: &str) {
    let policy::ForgeKind::Github { repository } = &state.current.forge else { return };
    let result = connect(repository).and_then(|client| {
        crate::forge::github::sticky_comment(&client, repository, number, prcheck::COMMENT_MARKER, markdown)
            .map_err(anyhow::Error::from)
    });
    match result {
        Ok(crate::forge::github::Sticky::Created(id)) => tracing::info!("commented on #{number} ({id})"),
        Ok(crate::forge::github::Sticky::Updated(id)) => {
            tracing::info!("updated the comment {id} on #{number}")
        }
        Err(error) => {
            eprintln!("warning: cannot write the comment on pull request #{number}: {error:#}");
            if std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true") {
                eprintln!(
                    "::warning::{}",
                    prcheck::escape_data(&format!("tenure could not comment: {error:#}"))
                );
            }
        }
    }
}
