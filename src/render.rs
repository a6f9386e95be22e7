//! Presentation: every command's output as text, JSON, markdown or CSV.
//!
//! Pure functions from values to strings. The JSON shapes are a contract
//! (`docs/cli-contract.md`): fields are only ever added, never
//! renamed. Text is for people: short, aligned, and with the reason for every
//! change next to it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use similar::TextDiff;

use crate::approvals::{ApproverNote, Judgement};
use crate::model::{Evidence, Notice, ObjectId, Rejection, ResourceId, Tuple};
use crate::plan::{Action, Change, GuardTrip, Plan};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON object.
    Json,
    /// For pull-request comments and step summaries.
    Markdown,
    /// `report` and `expiring` only.
    Csv,
}

/// The outcome of one applied change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `None` when it worked.
    pub error: Option<String>,
}

/// What a run looked at.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The commit at `--rev`.
    pub commit: &'a ObjectId,
    /// The revision as given or chosen.
    pub rev: &'a str,
    /// The decision time.
    pub now: DateTime<Utc>,
}

/// Everything `plan` and `apply` print.
#[derive(Debug, Clone, Copy)]
pub struct PlanView<'a> {
    /// What the run looked at.
    pub header: Header<'a>,
    /// The plan.
    pub plan: &'a Plan,
    /// Rejected files.
    pub rejected: &'a [Rejection],
    /// Notices.
    pub notices: &'a [Notice],
    /// For `apply`: one outcome per change, or `None` when the run was refused.
    pub outcomes: Option<Option<&'a [Outcome]>>,
    /// The actual grants on each resource with changes, for the text diff.
    pub actual: &'a BTreeMap<ResourceId, Vec<Tuple>>,
    /// Why nothing was changed, when the run was refused.
    pub refused: Option<&'a str>,
}

fn time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    #[serde(flatten)]
    change: &'a Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct PlanJson<'a> {
    commit: &'a ObjectId,
    now: String,
    changes: Vec<ChangeJson<'a>>,
    rejected: &'a [Rejection],
    drift: &'a [Tuple],
    guards: &'a [GuardTrip],
    notices: &'a [Notice],
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
}

/// `plan` and `apply` output.
pub fn plan(view: PlanView<'_>, format: Format) -> String {
    match format {
        Format::Json | Format::Csv => {
            let outcomes = view.outcomes.flatten();
            let changes = view
                .plan
                .changes
                .iter()
                .enumerate()
                .map(|(index, change)| {
                    let outcome = outcomes.and_then(|outcomes| outcomes.get(index));
                    ChangeJson {
                        change,
                        outcome: outcome.map(|o| if o.error.is_none() { "ok" } else { "error" }),
                        error: outcome.and_then(|o| o.error.as_deref()),
                    }
                })
                .collect();
            to_json(&PlanJson {
                commit: view.header.commit,
                now: time(view.header.now),
                changes,
                rejected: view.rejected,
                drift: &view.plan.drift,
                guards: &view.plan.guards,
                notices: view.notices,
                applied: view.outcomes.map(|outcomes| outcomes.is_some()),
                refused: view.refused,
            })
        }
        Format::Text => plan_text(view),
        Format::Markdown => plan_markdown(view),
    }
}

fn plan_text(view: PlanView<'_>) -> String {
    let mut out = String::new();
    let header = view.header;
    let _ = writeln!(out, "tenure at {} ({}), now {}", header.commit.short(), header.rev, time(header.now));
    let outcomes = view.outcomes.flatten();
    let mut by_resource: BTreeMap<&ResourceId, Vec<(usize, &Change)>> = BTreeMap::new();
    for (index, change) in view.plan.changes.iter().enumerate() {
        by_resource.entry(&change.tuple.resource).or_default().push((index, change));
    }
    for (resource, changes) in &by_resource {
        let before: Vec<&Tuple> =
            view.actual.get(*resource).map(|tuples| tuples.iter().collect()).unwrap_or_default();
        let mut after: Vec<Tuple> = before.iter().map(|tuple| (*tuple).clone()).collect();
        for (_, change) in changes {
            match change.action {
                Action::Grant => after.push(change.tuple.clone()),
                Action::Revoke => after.retain(|tuple| tuple != &change.tuple),
                Action::Update => {
                    after.retain(|tuple| {
                        !(tuple.subject == change.tuple.subject && Some(&tuple.role) == change.from.as_ref())
                    });
                    after.push(change.tuple.clone());
                }
            }
        }
        let lines = |tuples: &mut dyn Iterator<Item = &Tuple>| {
            let mut lines: Vec<String> =
                tuples.map(|tuple| format!("{} {}\n", tuple.role, tuple.subject)).collect();
            lines.sort();
            lines.concat()
        };
        let before_text = lines(&mut before.iter().copied());
        let after_text = lines(&mut after.iter());
        let diff = TextDiff::from_lines(&before_text, &after_text);
        let _ = writeln!(out, "\n{resource}");
        let unified = diff.unified_diff().context_radius(3).header("actual", "planned").to_string();
        for line in unified.lines() {
            let _ = writeln!(out, "  {line}");
        }
        for (index, change) in changes {
            let sign = match change.action {
                Action::Grant => "+",
                Action::Revoke => "-",
                Action::Update => "~",
            };
            let from = change.from.as_deref().map(|from| format!(" (from {from})")).unwrap_or_default();
            let request = change.request.as_deref().map(|r| format!("  {r}")).unwrap_or_default();
            let outcome = match outcomes.and_then(|outcomes| outcomes.get(*index)) {
                Some(Outcome { error: None }) => "  ok".to_owned(),
                Some(Outcome { error: Some(error) }) => format!("  FAILED: {error}"),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {sign} {} {}{from}: {}{request}{outcome}",
                change.tuple.role,
                change.tuple.subject,
                change.reason.as_str()
            );
        }
    }
    rejected_text(&mut out, view.rejected);
    if !view.plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "\nDrift left in place ({}): actual grants that no approved request backs",
            view.plan.drift.len()
        );
        for tuple in &view.plan.drift {
            let _ = writeln!(out, "  {tuple}");
        }
    }
    if !view.plan.guards.is_empty() {
        let _ = writeln!(out, "\nGuards that stop apply ({}); --force overrides:", view.plan.guards.len());
        for guard in &view.plan.guards {
            let _ = writeln!(out, "  {}: {}", guard.guard, guard.message);
        }
    }
    notices_text(&mut out, view.notices);
    let count = |action| view.plan.changes.iter().filter(|change| change.action == action).count();
    let summary = format!(
        "{} to grant, {} to update, {} to revoke",
        count(Action::Grant),
        count(Action::Update),
        count(Action::Revoke)
    );
    match (view.outcomes, view.refused) {
        (Some(None), refused) => {
            let _ = writeln!(out, "\nNothing applied: {}.", refused.unwrap_or("the run was refused"));
        }
        (None, Some(refused)) => {
            let _ = writeln!(out, "\nNothing will change: {refused}.");
        }
        (Some(Some(outcomes)), _) => {
            let failed = outcomes.iter().filter(|outcome| outcome.error.is_some()).count();
            let _ = writeln!(out, "\nApplied: {summary}; {} ok, {failed} failed.", outcomes.len() - failed);
        }
        (None, None) if view.plan.is_empty() => {
            let _ = writeln!(out, "\nNo changes. The target systems match the approved requests.");
        }
        (None, None) => {
            let _ = writeln!(out, "\nPlan: {summary}.");
        }
    }
    out
}

fn rejected_text(out: &mut String, rejected: &[Rejection]) {
    if rejected.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nRejected ({}): these files grant nothing", rejected.len());
    for rejection in rejected {
        let _ = writeln!(
            out,
            "  {}: {}: {}",
            line(&location(rejection)),
            rejection.code,
            line(&rejection.message)
        );
    }
}

fn notices_text(out: &mut String, notices: &[Notice]) {
    if notices.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nNotes:");
    for notice in notices {
        let file = notice.file.as_deref().map(|file| format!("{file}: ")).unwrap_or_default();
        let _ = writeln!(out, "  {}{}", line(&file), line(&notice.message));
    }
}

/// `file:line:column (field)`, with whatever is known.
pub fn location(rejection: &Rejection) -> String {
    let mut text = rejection.request.clone();
    if let Some(line) = rejection.line {
        let _ = write!(text, ":{line}");
        if let Some(column) = rejection.column {
            let _ = write!(text, ":{column}");
        }
    }
    if let Some(field) = &rejection.field {
        let _ = write!(text, " ({field})");
    }
    text
}

fn plan_markdown(view: PlanView<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### tenure plan at `{}`\n", view.header.commit.short());
    if view.plan.changes.is_empty() {
        let _ = writeln!(out, "No changes.\n");
    } else {
        let outcomes = view.outcomes.flatten();
        let _ = writeln!(
            out,
            "| action | resource | role | subject | reason | request |{}",
            if outcomes.is_some() { " outcome |" } else { "" }
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|{}", if outcomes.is_some() { "---|" } else { "" });
        for (index, change) in view.plan.changes.iter().enumerate() {
            let action = match (&change.action, &change.from) {
                (Action::Update, Some(from)) => format!("update (from {})", cell(from)),
                (action, _) => format!("{action:?}").to_lowercase(),
            };
            let outcome = match outcomes.and_then(|outcomes| outcomes.get(index)) {
                Some(Outcome { error: None }) => " ok |".to_owned(),
                Some(Outcome { error: Some(error) }) => format!(" failed: {} |", cell(error)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "| {action} | `{}` | {} | {} | {} | {} |{outcome}",
                change.tuple.resource,
                cell(&change.tuple.role),
                cell(&change.tuple.subject),
                change.reason.as_str(),
                change.request.as_deref().map(cell).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    rejected_markdown(&mut out, view.rejected);
    if !view.plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "**Drift left in place:** {}\n",
            view.plan.drift.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        );
    }
    for guard in &view.plan.guards {
        let _ = writeln!(out, "> **Guard `{}`:** {}\n", guard.guard, cell(&guard.message));
    }
    if let Some(refused) = view.refused {
        let _ = writeln!(out, "**Nothing applied:** {}\n", cell(refused));
    }
    out
}

fn rejected_markdown(out: &mut String, rejected: &[Rejection]) {
    if rejected.is_empty() {
        return;
    }
    let _ = writeln!(out, "**Rejected ({}):**\n\n| file | code | why |\n|---|---|---|", rejected.len());
    for rejection in rejected {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            location(rejection),
            rejection.code,
            cell(&rejection.message)
        );
    }
    out.push('\n');
}

/// Escapes a value for a markdown table cell.
fn cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

/// Text from a user file on one line, with every control character escaped: a request must
/// not be able to add lines to a report or send escape sequences to a reviewer's terminal.
pub fn line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// The last line of defence for text and markdown output: every control character but line
/// breaks and tabs is escaped, whatever field it came from.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && !matches!(c, '\n' | '\t') {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// An approved request file, for `check`.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovedFile {
    /// The file.
    pub request: String,
    /// When it ends.
    pub expires: String,
    /// Whether it is break-glass.
    pub break_glass: bool,
    /// Whether its time is up.
    pub expired: bool,
    /// What it grants.
    pub grants: Vec<Tuple>,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    commit: &'a ObjectId,
    now: String,
    approved: &'a [ApprovedFile],
    rejected: &'a [Rejection],
    notices: &'a [Notice],
}

/// `check` output.
pub fn check(
    header: Header<'_>,
    approved: &[ApprovedFile],
    rejected: &[Rejection],
    notices: &[Notice],
    format: Format,
) -> String {
    match format {
        Format::Json | Format::Csv => {
            to_json(&CheckJson { commit: header.commit, now: time(header.now), approved, rejected, notices })
        }
        Format::Markdown => {
            let mut out = format!("### tenure check at `{}`\n\n", header.commit.short());
            let _ =
                writeln!(out, "{} request files approved, {} rejected.\n", approved.len(), rejected.len());
            rejected_markdown(&mut out, rejected);
            out
        }
        Format::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "tenure check at {} ({}), now {}",
                header.commit.short(),
                header.rev,
                time(header.now)
            );
            if !approved.is_empty() {
                let _ = writeln!(out, "\nApproved ({}):", approved.len());
                for file in approved {
                    let state = if file.expired {
                        "expired"
                    } else if file.break_glass {
                        "break-glass"
                    } else {
                        "live"
                    };
                    let _ = writeln!(out, "  {} ({state}, until {})", file.request, file.expires);
                }
            }
            rejected_text(&mut out, rejected);
            notices_text(&mut out, notices);
            let _ = writeln!(
                out,
                "\n{}",
                if rejected.is_empty() {
                    "All request files are approved.".to_owned()
                } else {
                    format!("{} file(s) rejected.", rejected.len())
                }
            );
            out
        }
    }
}

/// One live grant with its evidence, for `report` and `expiring`.
#[derive(Debug, Clone, Serialize)]
pub struct GrantRow<'a> {
    /// The grant.
    #[serde(flatten)]
    pub tuple: &'a Tuple,
    /// Its evidence.
    #[serde(flatten)]
    pub evidence: &'a Evidence,
}

#[derive(Serialize)]
struct GrantsJson<'a> {
    commit: &'a ObjectId,
    now: String,
    grants: &'a [GrantRow<'a>],
}

/// `report` and `expiring` output.
pub fn grants(header: Header<'_>, rows: &[GrantRow<'_>], title: &str, format: Format) -> String {
    match format {
        Format::Json => to_json(&GrantsJson { commit: header.commit, now: time(header.now), grants: rows }),
        Format::Csv => grants_csv(rows),
        Format::Markdown => {
            let mut out = format!("### {title} at `{}`\n\n", header.commit.short());
            let _ = writeln!(
                out,
                "| resource | role | subject | requester | approvers | PR | change | justification | approved_at (merged) | expires |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            for row in rows {
                let e = row.evidence;
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} | `{}` | {} | {} | {}{} |",
                    row.tuple.resource,
                    cell(&row.tuple.role),
                    cell(&row.tuple.subject),
                    cell(&e.requester),
                    if e.break_glass { "break-glass".to_owned() } else { cell(&e.approvers.join(", ")) },
                    e.pr_url.as_deref().map(cell).unwrap_or_else(|| "-".into()),
                    e.change_commit.short(),
                    cell(&e.justification),
                    time(e.merged_at),
                    time(e.expires),
                    if e.break_glass { " (break-glass)" } else { "" }
                );
            }
            out
        }
        Format::Text => {
            let mut out =
                format!("{title} at {} ({}), now {}\n", header.commit.short(), header.rev, time(header.now));
            if rows.is_empty() {
                out.push_str("\nNone.\n");
            }
            for row in rows {
                let e = row.evidence;
                let _ = writeln!(out, "\n{} {} {}", row.tuple.resource, row.tuple.role, row.tuple.subject);
                let _ = writeln!(
                    out,
                    "  until      {}{}",
                    time(e.expires),
                    if e.break_glass { "  BREAK-GLASS" } else { "" }
                );
                let _ = writeln!(out, "  request    {} (blob {})", e.request, e.blob.short());
                let _ = writeln!(out, "  requester  {}", e.requester);
                let approvers = if e.break_glass && e.approvers.is_empty() {
                    "none (break-glass; owners review after the fact)".to_owned()
                } else {
                    e.approvers.join(", ")
                };
                let _ = writeln!(out, "  approvers  {approvers}");
                // When it was last approved: a renewal is a new change, so this moves with it.
                let _ = writeln!(out, "  approved   {} (the change's merge)", time(e.merged_at));
                let pr = e.pr_url.as_deref().map(|url| format!(", {url}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  change     {} merged {}{pr}",
                    e.change_commit.short(),
                    time(e.merged_at)
                );
                if let Some(policy) = &e.policy_commit {
                    let _ = writeln!(out, "  policy     {}", policy.short());
                }
                let _ = writeln!(
                    out,
                    "  why        {}{}",
                    line(&e.justification),
                    e.ticket.as_deref().map(|t| format!(" ({})", line(t))).unwrap_or_default()
                );
            }
            out
        }
    }
}

fn grants_csv(rows: &[GrantRow<'_>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "resource",
        "role",
        "subject",
        "request",
        "blob",
        "change_commit",
        "policy_commit",
        "pr_number",
        "pr_url",
        "requester",
        "approvers",
        "justification",
        "ticket",
        "merged_at",
        "expires",
        "break_glass",
    ]);
    for row in rows {
        let e = row.evidence;
        let _ = writer.write_record([
            row.tuple.resource.to_string(),
            row.tuple.role.clone(),
            row.tuple.subject.clone(),
            e.request.clone(),
            e.blob.to_string(),
            e.change_commit.to_string(),
            e.policy_commit.as_ref().map(ToString::to_string).unwrap_or_default(),
            e.pr_number.map(|n| n.to_string()).unwrap_or_default(),
            e.pr_url.clone().unwrap_or_default(),
            e.requester.clone(),
            e.approvers.join(" "),
            e.justification.clone(),
            e.ticket.clone().unwrap_or_default(),
            time(e.merged_at),
            time(e.expires),
            e.break_glass.to_string(),
        ]);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Serialize)]
struct ExplainJson<'a> {
    request: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    failures: &'a [Rejection],
    change: &'a ExplainChange,
    merged_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    approvers: &'a [ApproverNote],
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a Evidence>,
    grants: Vec<&'a Tuple>,
}

/// The change behind a request, for `explain`.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainChange {
    /// The change commit.
    pub commit: ObjectId,
    /// Its first line.
    pub subject: String,
    /// Whether and how it was reviewed.
    pub review: String,
    /// The proposer.
    pub proposer: Option<String>,
    /// Every approver the forge reported.
    pub approvers: Vec<String>,
    /// The pull request, if any.
    pub pull_request: Option<String>,
    /// The trusted policy commit that judged it.
    pub policy_commit: Option<ObjectId>,
}

/// `explain` output.
pub fn explain(judgement: &Judgement, change: &ExplainChange, now: DateTime<Utc>, format: Format) -> String {
    let (status, code, message) = match &judgement.outcome {
        Ok(approved) if now >= approved.evidence.expires => ("expired", None, None),
        Ok(_) => ("granted", None, None),
        Err(rejection) => ("rejected", Some(rejection.code.as_str()), Some(rejection.message.as_str())),
    };
    let evidence = judgement.outcome.as_ref().ok().map(|approved| &approved.evidence);
    let grants: Vec<&Tuple> =
        judgement.outcome.as_ref().map(|approved| approved.tuples.iter().collect()).unwrap_or_default();
    if matches!(format, Format::Json | Format::Csv) {
        return to_json(&ExplainJson {
            request: &judgement.path,
            status,
            code,
            message,
            failures: &judgement.failures,
            change,
            merged_at: time(judgement.merged_at),
            expires: judgement.expires.map(time),
            approvers: &judgement.approvers,
            evidence,
            grants,
        });
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}: {status}", judgement.path);
    let _ = writeln!(out, "\nChange (rule 1): {} \"{}\"", change.commit.short(), line(&change.subject));
    let _ = writeln!(out, "  merged     {}", time(judgement.merged_at));
    let _ = writeln!(out, "  review     {}", change.review);
    if let Some(pr) = &change.pull_request {
        let _ = writeln!(out, "  pr         {pr}");
    }
    let _ = writeln!(out, "  proposer   {}", change.proposer.as_deref().unwrap_or("none"));
    let _ = writeln!(
        out,
        "  approvals  {}",
        if change.approvers.is_empty() { "none".to_owned() } else { change.approvers.join(", ") }
    );
    let _ = writeln!(
        out,
        "  policy     {}",
        change
            .policy_commit
            .as_ref()
            .map(|c| format!("{} (trusted policy at the change's base)", c.short()))
            .unwrap_or_else(|| "no trusted policy at the change's base".into())
    );
    if let Some(expires) = judgement.expires {
        let _ = writeln!(out, "  expires    {}", time(expires));
    }
    if !judgement.approvers.is_empty() {
        let _ = writeln!(out, "\nApprovals weighed (rule 3):");
        for note in &judgement.approvers {
            match &note.ignored_because {
                None => {
                    let _ = writeln!(out, "  {:<16} counted for {}", note.login, note.target);
                }
                Some(why) => {
                    let _ = writeln!(out, "  {:<16} ignored for {}: {why}", note.login, note.target);
                }
            }
        }
    }
    if !judgement.failures.is_empty() {
        let _ = writeln!(out, "\nFailing checks, in order:");
        for failure in &judgement.failures {
            let field = failure.field.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
            let _ = writeln!(out, "  {}{field}: {}", failure.code, line(&failure.message));
        }
    }
    if !grants.is_empty() {
        let _ = writeln!(out, "\nGrants:");
        for tuple in grants {
            let _ = writeln!(out, "  {tuple}");
        }
    }
    out
}

#[derive(Serialize)]
struct PullCheckJson<'a> {
    commit: &'a ObjectId,
    now: String,
    status: &'static str,
    #[serde(flatten)]
    report: &'a crate::prcheck::Report,
}

/// `check --pr` output: the grants the pull request adds and removes, where each of its files
/// stands, and who must still approve. The markdown starts with the sticky comment's marker.
pub fn pull_check(header: Header<'_>, report: &crate::prcheck::Report, format: Format) -> String {
    let status = if report.passes() {
        "granted"
    } else if report.only_pending() {
        "pending"
    } else {
        "rejected"
    };
    let pr = &report.pull_request;
    let head = &pr.head[..pr.head.len().min(12)];
    match format {
        Format::Json | Format::Csv => {
            to_json(&PullCheckJson { commit: header.commit, now: time(header.now), status, report })
        }
        Format::Markdown => {
            let mut out = format!("{}\n", crate::prcheck::COMMENT_MARKER);
            let _ = writeln!(
                out,
                "### tenure: pull request #{} into `{}` at `{head}`\n",
                pr.number,
                cell(&pr.base)
            );
            let verdict = match status {
                "granted" => "**Would be granted** if merged now.",
                "pending" => "**Waiting for approvals**: merged now, it would not grant everything it asks.",
                _ => "**Rejected**: merged now, the files marked rejected would grant nothing.",
            };
            let _ = writeln!(out, "{verdict}\n");
            if report.adds.is_empty() && report.removes.is_empty() {
                let _ = writeln!(out, "No change to the desired access.\n");
            } else {
                let _ = writeln!(out, "| | resource | role | subject | request |\n|---|---|---|---|---|");
                for (sign, list) in [("+ grant", &report.adds), ("- remove", &report.removes)] {
                    for change in list {
                        let _ = writeln!(
                            out,
                            "| {sign} | `{}` | {} | {} | {} |",
                            change.tuple.resource,
                            cell(&change.tuple.role),
                            cell(&change.tuple.subject),
                            cell(&change.requests.join(", "))
                        );
                    }
                }
                out.push('\n');
            }
            for file in &report.files {
                let _ = writeln!(out, "- `{}`: {}", cell(&file.file), file_status(file.status));
                if let Some(rejection) = &file.rejection {
                    let _ = writeln!(out, "  - `{}`: {}", rejection.code, cell(&rejection.message));
                }
                for needs in &file.needs {
                    let _ = writeln!(out, "  - {}", cell(&needs_text(needs)));
                }
            }
            if !report.rejected_elsewhere.is_empty() {
                let files: Vec<String> =
                    report.rejected_elsewhere.iter().map(|f| format!("`{}`", cell(f))).collect();
                let _ = writeln!(
                    out,
                    "\n<sub>Already rejected on `{}`, and not touched by this pull request: {}</sub>",
                    cell(&pr.base),
                    files.join(", ")
                );
            }
            out
        }
        Format::Text => {
            let mut out = format!(
                "tenure check of pull request #{} by {} into {} (head {head}), now {}\n",
                pr.number,
                pr.author,
                pr.base,
                time(header.now)
            );
            if !report.adds.is_empty() || !report.removes.is_empty() {
                let _ = writeln!(out, "\nIf merged now:");
                for (sign, list) in [("+", &report.adds), ("-", &report.removes)] {
                    for change in list {
                        let _ = writeln!(out, "  {sign} {}  {}", change.tuple, change.requests.join(", "));
                    }
                }
            }
            if !report.files.is_empty() {
                let _ = writeln!(out, "\nFiles:");
            }
            for file in &report.files {
                let _ = writeln!(out, "  {}: {}", file.file, file_status(file.status));
                if let Some(rejection) = &file.rejection {
                    let _ = writeln!(
                        out,
                        "    {}: {}: {}",
                        location(rejection),
                        rejection.code,
                        rejection.message
                    );
                }
                for needs in &file.needs {
                    let _ = writeln!(out, "    {}", needs_text(needs));
                }
            }
            if !report.rejected_elsewhere.is_empty() {
                let _ = writeln!(
                    out,
                    "\nAlready rejected on {}, and not touched by this pull request: {}",
                    pr.base,
                    report.rejected_elsewhere.join(", ")
                );
            }
            notices_text(&mut out, &report.notices);
            let _ = writeln!(
                out,
                "\n{}",
                match status {
                    "granted" => "The pull request's files would be granted.",
                    "pending" => "The pull request waits for approvals.",
                    _ => "The pull request's files would be rejected.",
                }
            );
            out
        }
    }
}

fn file_status(status: crate::prcheck::FileStatus) -> &'static str {
    use crate::prcheck::FileStatus;
    match status {
        FileStatus::Granted => "granted",
        FileStatus::Deleted => "deleted",
        FileStatus::Pending => "waiting for approvals",
        FileStatus::Rejected => "rejected",
    }
}

fn needs_text(needs: &crate::prcheck::Needs) -> String {
    let have = if needs.approved_by.is_empty() {
        String::new()
    } else {
        format!(" (approved so far by {})", needs.approved_by.join(", "))
    };
    format!(
        "{} needs {} more approval{} from: {}{have}",
        needs.target,
        needs.more,
        if needs.more == 1 { "" } else { "s" },
        needs.owners.join(", ")
    )
}

/// Pretty JSON with a trailing newline.
pub fn to_json<T: Serialize>(value: &T) -> String {
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}
