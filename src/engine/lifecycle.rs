//! The I/O of the lifecycle commands: `notify`, `renew` and `report --metrics`.
//!
//! Each reads what it needs (the state file, the working-tree request, the audit log, the
//! providers), hands values to the pure `notify`, `renew` and `metrics` modules, and writes
//! the result. See docs/lifecycle.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};

use super::{Exit, Output, State};
use crate::approvals::parse_expires;
use crate::metrics::{self, AuditEvent, RequestChange, Standing};
use crate::model::{Principal, ResourceId};
use crate::notify::{self, Live};
use crate::policy::{self, ForgeKind};
use crate::render::{Format, to_json};
use crate::renew::{self, ExpiryKey};

/// `30d`, `4h`, or humantime's form for anything else.
fn span(delta: TimeDelta) -> String {
    let seconds = delta.num_seconds();
    if seconds > 0 && seconds % 86_400 == 0 {
        format!("{}d", seconds / 86_400)
    } else if seconds > 0 && seconds % 3_600 == 0 {
        format!("{}h", seconds / 3_600)
    } else {
        humantime::format_duration(delta.to_std().unwrap_or_default()).to_string()
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The owners of a resource as mentions: users and teams as written, groups expanded.
fn owners_of(state: &State, resource: &ResourceId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(found) = state.current.resources.get(resource) else { return out };
    for owner in &found.owners {
        let names: Vec<String> = match owner {
            Principal::User(login) => vec![login.to_string()],
            Principal::Team { .. } => vec![owner.to_string()],
            Principal::Group(name) => state
                .current
                .groups
                .get(name)
                .map(|members| members.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        };
        for name in names {
            if !out.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
                out.push(name);
            }
        }
    }
    out
}

/// The approved requests at the tip, with their subjects, resources and owners.
fn live_requests(state: &State) -> Vec<Live<'_>> {
    let mut out = Vec::new();
    for judgement in state.evaluation.live.values() {
        let Ok(approved) = &judgement.outcome else { continue };
        let mut subjects: Vec<String> = Vec::new();
        let mut resources: Vec<ResourceId> = Vec::new();
        for tuple in &approved.tuples {
            if !state.only.contains(&tuple.resource.to_string()) {
                continue;
            }
            if !subjects.contains(&tuple.subject) {
                subjects.push(tuple.subject.clone());
            }
            if !resources.contains(&tuple.resource) {
                resources.push(tuple.resource.clone());
            }
        }
        if resources.is_empty() {
            continue;
        }
        let mut owners: Vec<String> = Vec::new();
        for resource in &resources {
            for owner in owners_of(state, resource) {
                if !owners.iter().any(|known| known.eq_ignore_ascii_case(&owner)) {
                    owners.push(owner);
                }
            }
        }
        out.push(Live {
            evidence: &approved.evidence,
            subjects,
            resources: resources.iter().map(ToString::to_string).collect(),
            owners,
        });
    }
    out
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct NotifyState {
    /// Reminder keys already sent.
    sent: BTreeSet<String>,
}

/// `tenure notify`.
pub(super) fn notify(
    state: &State,
    within: &str,
    path: &Path,
    dry_run: bool,
    format: Format,
) -> anyhow::Result<Output> {
    let window = policy::parse_duration(within)
        .ok_or_else(|| anyhow!("--within `{within}` is not a duration such as `7d` or `36h`"))?;
    let live = live_requests(state);
    if let ForgeKind::Github { repository } = &state.current.forge {
        return notify_github(state, repository, &live, window, dry_run, format);
    }
    let mut saved: NotifyState = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("the notify state {} is not a notify state file", path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => NotifyState::default(),
        Err(error) => return Err(error).context(format!("cannot read {}", path.display())),
    };
    let due = notify::due(&live, state.now, window, &saved.sent);
    let stdout = notify::render(&due, state.now, format);
    if !dry_run && !due.is_empty() {
        saved.sent.extend(due.iter().map(|reminder| reminder.key.clone()));
        crate::atomic::write(path, &serde_json::to_vec_pretty(&saved)?)?;
    }
    Ok(Output { stdout, exit: Exit::Ok })
}

/// `tenure renew`.
pub(super) fn renew(
    state: &State,
    file: &str,
    until: Option<&str>,
    for_: Option<&str>,
    open_pr: bool,
    format: Format,
) -> anyhow::Result<Output> {
    let rel = file.trim_start_matches("./");
    if !policy::is_request_file(rel) {
        bail!("{rel} is not a request file (request files are requests/**/*.yaml)");
    }
    if open_pr && !matches!(state.current.forge, ForgeKind::Github { .. }) {
        bail!("--open-pr needs the github forge; with the git forge, commit the change and have it reviewed");
    }
    let on_disk = state.root.join(rel);
    let text = std::fs::read_to_string(&on_disk).with_context(|| format!("cannot read {rel}"))?;
    let request = crate::load::parse_request(text.as_bytes())
        .map_err(|error| anyhow!("{rel}: {}: {}", error.code, error.message))?;
    let line = renew::find(&text).map_err(|error| anyhow!("{rel}: {error}"))?;
    let now = state.now;
    let (key, value, expires) = match (until, for_) {
        (Some(until), _) => {
            let expires = parse_expires(until).ok_or_else(|| {
                anyhow!("--until `{until}` is neither a date (2026-12-31) nor an RFC 3339 time")
            })?;
            (ExpiryKey::Expires, until.trim().to_owned(), expires)
        }
        (None, Some(span)) => {
            let delta = policy::parse_duration(span)
                .ok_or_else(|| anyhow!("--for `{span}` is not a duration such as `30d`"))?;
            let expires =
                now.checked_add_signed(delta).ok_or_else(|| anyhow!("--for `{span}` is too long"))?;
            match line.key {
                // A duration counts from the merge, which is about now.
                ExpiryKey::Duration => (ExpiryKey::Duration, span.trim().to_owned(), expires),
                ExpiryKey::Expires => (ExpiryKey::Expires, time(expires), expires),
            }
        }
        (None, None) => bail!("give --until TIME or --for DURATION"),
    };
    if expires <= now {
        return refuse(
            format,
            rel,
            &format!("the new end {} is not after now ({})", time(expires), time(now)),
        );
    }
    // The renewal will be judged at its merge, which will be about now; so the limit counts
    // from now, and a slow review can still make it too long by the time it merges.
    let mut limit: Option<(TimeDelta, String)> = None;
    let mut tighten = |delta: TimeDelta, why: String| {
        if limit.as_ref().is_none_or(|(current, _)| delta < *current) {
            limit = Some((delta, why));
        }
    };
    let mut owners: Vec<String> = Vec::new();
    for grant in &request.grants {
        let Some(id) = ResourceId::parse(&grant.resource) else { continue };
        let Some(resource) = state.current.resources.get(&id) else {
            return refuse(format, rel, &format!("{id} is not in the current catalog"));
        };
        tighten(resource.max_duration, format!("max_duration of {id}"));
        if request.break_glass
            && let Some(glass) = &resource.break_glass
        {
            tighten(glass.max_duration, format!("break_glass.max_duration of {id}"));
        }
        for owner in owners_of(state, &id) {
            if !owners.contains(&owner) {
                owners.push(owner);
            }
        }
    }
    for subject in &request.subjects {
        if let Some(max) = state.current.identities.get(subject).and_then(|identity| identity.max_duration) {
            tighten(max, format!("max_duration of identity {subject}"));
        }
    }
    if let Some((max, why)) = &limit
        && expires - now > *max
    {
        return refuse(
            format,
            rel,
            &format!(
                "the new end {} is more than {} from now, the {why}; the renewal is judged at its merge, \
                 which will be about now",
                time(expires),
                span(*max)
            ),
        );
    }
    let rewritten = renew::rewrite(&text, key, &value).map_err(|error| anyhow!("{rel}: {error}"))?;
    let original = state.evaluation.live.get(rel).and_then(|judgement| judgement.outcome.as_ref().ok());
    let opened = if let (true, ForgeKind::Github { repository }) = (open_pr, &state.current.forge) {
        let renewal = Renewal {
            repository,
            base: &state.current.branch,
            path: rel,
            on_disk: &on_disk,
            content: &rewritten,
            until: &until.map_or_else(|| time(expires), |until| until.trim().to_owned()),
            owners: &owners,
            original_pr: original.and_then(|approved| approved.evidence.pr_url.as_deref()),
            root: &state.root,
            stamp: state.now.format("%Y%m%d%H%M%S").to_string(),
        };
        Some(open_renewal_pr(&renewal)?)
    } else {
        // With --open-pr the change lives on the new branch; the checkout is left alone.
        crate::atomic::write(&on_disk, rewritten.as_bytes())?;
        None
    };
    let summary = RenewSummary {
        opened_pr: opened,
        request: rel.to_owned(),
        line: line.line,
        from: format!("{}: {}", line.key.as_str(), line.value),
        to: format!("{}: {value}", key.as_str()),
        expires: time(expires),
        owners,
        original_pr: original.and_then(|approved| approved.evidence.pr_url.clone()),
    };
    Ok(Output { stdout: summary.render(format), exit: Exit::Ok })
}

fn refuse(format: Format, request: &str, why: &str) -> anyhow::Result<Output> {
    let stdout = match format {
        Format::Json => to_json(&serde_json::json!({"request": request, "renewed": false, "refused": why})),
        _ => format!("refused to renew {request}: {why}\n"),
    };
    Ok(Output { stdout, exit: Exit::No })
}

#[derive(serde::Serialize)]
struct RenewSummary {
    opened_pr: Option<String>,
    request: String,
    line: usize,
    from: String,
    to: String,
    expires: String,
    owners: Vec<String>,
    original_pr: Option<String>,
}

impl RenewSummary {
    fn render(&self, format: Format) -> String {
        match format {
            Format::Json => to_json(self),
            _ if self.opened_pr.is_some() => format!(
                "opened {} to renew {} (line {}): `{}` -> `{}`, ending {}\nIt needs the approval of: {}\n",
                self.opened_pr.as_deref().unwrap_or_default(),
                self.request,
                self.line,
                self.from,
                self.to,
                self.expires,
                if self.owners.is_empty() {
                    "the resources' owners".to_owned()
                } else {
                    self.owners.join(", ")
                }
            ),
            _ => format!(
                "renewed {} (line {}): `{}` -> `{}`, ending {}\n\
                 The renewal is a new change: commit it, open a pull request{}, and have it approved by: {}\n",
                self.request,
                self.line,
                self.from,
                self.to,
                self.expires,
                self.original_pr
                    .as_deref()
                    .map(|url| format!(" (the original was {url})"))
                    .unwrap_or_default(),
                if self.owners.is_empty() {
                    "the resources' owners".to_owned()
                } else {
                    self.owners.join(", ")
                }
            ),
        }
    }
}

/// `tenure report --metrics`.
pub(super) fn metrics(
    state: &State,
    since: Option<&str>,
    audit: &Path,
    format: Format,
) -> anyhow::Result<Output> {
    if format == Format::Csv {
        bail!("report --metrics prints text, json or markdown");
    }
    let since = since.map(super::parse_now).transpose()?;
    let changes = request_changes(state)?;
    let events = match std::fs::read_to_string(audit) {
        Ok(text) => Some(audit_events(&text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).context(format!("cannot read the audit log {}", audit.display())),
    };
    let expiry_of: BTreeMap<String, DateTime<Utc>> = state
        .evaluation
        .live
        .iter()
        .filter_map(|(path, judgement)| judgement.expires.map(|at| (path.clone(), at)))
        .collect();
    let live = match state.plan() {
        Ok((_, actual, _)) => {
            let tuples: Vec<_> = actual.values().flatten().collect();
            let backed = tuples.iter().filter(|tuple| state.evaluation.desired.contains_key(tuple)).count();
            Some((tuples.len(), backed))
        }
        Err(error) => {
            tracing::warn!("{error:#}");
            None
        }
    };
    let mut figures = metrics::compute(metrics::Inputs {
        since,
        now: state.now,
        changes: &changes,
        audit: events.as_deref(),
        expiry_of: &expiry_of,
        live,
    });
    if figures.requests.open_to_merge.is_none() {
        figures.notes.push(match state.current.forge {
            ForgeKind::Git => "time from pull request to merge: not available with the git forge".to_owned(),
            ForgeKind::Github { .. } => {
                "time from pull request to merge: no pull request in the period says when it was opened (caches \
                 written by older versions of tenure do not record it)"
                    .to_owned()
            }
        });
    }
    Ok(Output { stdout: metrics::render(&figures, format), exit: Exit::Ok })
}

/// Every change that added or edited a request file, judged as it stands at the tip.
fn request_changes(state: &State) -> anyhow::Result<Vec<RequestChange>> {
    let source = crate::source::Source::open(&state.root)?;
    let mut out = Vec::new();
    for (path, versions) in &state.index.request_versions {
        let mut previous_expiry: Option<DateTime<Utc>> = None;
        for (index, version) in versions.iter().enumerate() {
            let record = &state.commits[version.position];
            let Some(entry) = &version.entry else {
                previous_expiry = None;
                continue;
            };
            let request =
                source.read_blob(&entry.id).ok().and_then(|bytes| crate::load::parse_request(&bytes).ok());
            let expiry = request.as_ref().and_then(|request| match (&request.expires, &request.duration) {
                (Some(expires), _) => parse_expires(expires),
                (None, Some(duration)) => policy::parse_duration(duration)
                    .and_then(|delta| record.committed_at.checked_add_signed(delta)),
                _ => None,
            });
            let is_live = index + 1 == versions.len();
            let standing = match state.evaluation.live.get(path).filter(|_| is_live).map(|j| &j.outcome) {
                Some(Ok(_)) => Standing::Approved,
                Some(Err(rejection)) => Standing::Rejected(rejection.code.as_str().to_owned()),
                None => Standing::Superseded,
            };
            let review = state.reviews.get(&record.id);
            let pull_request = review.and_then(|review| {
                let number = review.pull_request.as_ref()?.number;
                let seconds = (review.merged_at? - review.opened_at?).num_seconds();
                Some((number, seconds))
            });
            out.push(RequestChange {
                path: path.clone(),
                at: record.committed_at,
                standing,
                renewal: matches!((previous_expiry, expiry), (Some(before), Some(after)) if after > before),
                break_glass: request.as_ref().is_some_and(|request| request.break_glass),
                pull_request,
            });
            previous_expiry = expiry;
        }
    }
    Ok(out)
}

/// The audit log's lines as events; lines that are not records (a torn last line) are skipped,
/// as `audit verify` reports them.
fn audit_events(text: &str) -> Vec<AuditEvent> {
    let string =
        |value: &serde_json::Value, key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| {
            let time = string(&value, "time")?.parse::<DateTime<Utc>>().ok()?;
            Some(AuditEvent {
                time,
                action: string(&value, "action")?,
                reason: string(&value, "reason").unwrap_or_default(),
                ok: string(&value, "outcome").as_deref() == Some("ok"),
                tuple: (string(&value, "resource")?, string(&value, "role")?, string(&value, "subject")?),
                request: string(&value, "request"),
                expires: value
                    .get("evidence")
                    .and_then(|evidence| evidence.get("expires"))
                    .and_then(|v| v.as_str())
                    .and_then(|text| text.parse().ok()),
            })
        })
        .collect()
}

// ---- github: reminders as pull-request comments, renewals as pull requests ----

const TRACKING_TITLE: &str = "tenure: access reminders";
const TRACKING_LABEL: &str = "tenure-reminders";

fn github_client(repository: &str) -> anyhow::Result<crate::github::Client> {
    let owner = repository.split_once('/').map_or(repository, |(owner, _)| owner);
    crate::github::Settings::from_env()
        .and_then(|settings| crate::github::Client::connect(settings, owner))
        .context("cannot connect to GitHub")
}

#[derive(serde::Deserialize)]
struct ApiUser {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(serde::Deserialize)]
struct ApiComment {
    body: Option<String>,
    user: Option<ApiUser>,
}

#[derive(serde::Deserialize)]
struct ApiIssue {
    number: u64,
    title: String,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ApiPull {
    #[serde(default)]
    locked: bool,
}

/// The reminder keys already posted on issue or pull request `number`. Only comments by a bot
/// account count (tenure comments as Actions' token or a GitHub App): anyone can paste a
/// marker into a comment of their own, and that must not silence a reminder.
fn posted_keys(
    client: &crate::github::Client,
    owner: &str,
    name: &str,
    number: u64,
) -> anyhow::Result<BTreeSet<String>> {
    let comments: Vec<ApiComment> =
        client.all_pages(&format!("/repos/{owner}/{name}/issues/{number}/comments"), &[])?;
    Ok(comments
        .iter()
        .filter(|comment| comment.user.as_ref().is_some_and(|user| user.kind == "Bot"))
        .filter_map(|comment| comment.body.as_deref())
        .flat_map(notify::markers_in)
        .collect())
}

/// The open tracking issue, created (and labelled) when there is none; `None` on a dry run
/// when it does not exist yet.
fn tracking_issue(
    client: &crate::github::Client,
    owner: &str,
    name: &str,
    create: bool,
) -> anyhow::Result<Option<u64>> {
    let route = format!("/repos/{owner}/{name}/issues");
    let issues: Vec<ApiIssue> = client.all_pages(&route, &[("labels", TRACKING_LABEL), ("state", "open")])?;
    if let Some(issue) =
        issues.iter().find(|issue| issue.pull_request.is_none() && issue.title == TRACKING_TITLE)
    {
        return Ok(Some(issue.number));
    }
    if !create {
        return Ok(None);
    }
    let body = serde_json::json!({
        "title": TRACKING_TITLE,
        "labels": [TRACKING_LABEL],
        "body": "tenure posts reminders here for grants whose pull request is locked or missing, and \
                 break-glass reviews. Each comment carries a hidden marker so that it is posted once.",
    });
    let created: ApiIssue = client.post(&route, &body)?;
    Ok(Some(created.number))
}

fn notify_github(
    state: &State,
    repository: &str,
    live: &[Live<'_>],
    window: TimeDelta,
    dry_run: bool,
    format: Format,
) -> anyhow::Result<Output> {
    let client = github_client(repository)?;
    let (owner, name) = crate::github::repository_segments(repository)?;
    let candidates = notify::due(live, state.now, window, &BTreeSet::new());
    let mut posted: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut tracking: Option<Option<u64>> = None;
    let mut sent = Vec::new();
    for reminder in candidates {
        let on_pull = match reminder.pr_number {
            Some(number) => {
                let pull: ApiPull = client.get(&format!("/repos/{owner}/{name}/pulls/{number}"), &[])?;
                (!pull.locked).then_some(number)
            }
            None => None,
        };
        let target = match on_pull {
            Some(number) => Some(number),
            None => match tracking {
                Some(found) => found,
                None => {
                    let found = tracking_issue(&client, owner, name, !dry_run)?;
                    tracking = Some(found);
                    found
                }
            },
        };
        let already = match target {
            Some(number) => {
                let keys = match posted.entry(number) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        entry.insert(posted_keys(&client, owner, name, number)?)
                    }
                };
                keys.contains(&reminder.key)
            }
            None => false,
        };
        if already {
            continue;
        }
        if !dry_run && let Some(number) = target {
            let route = format!("/repos/{owner}/{name}/issues/{number}/comments");
            let _: serde_json::Value =
                client.post(&route, &serde_json::json!({ "body": notify::comment(&reminder) }))?;
            posted.entry(number).or_default().insert(reminder.key.clone());
        }
        sent.push(reminder);
    }
    Ok(Output { stdout: notify::render(&sent, state.now, format), exit: Exit::Ok })
}

/// What `renew --open-pr` sends.
struct Renewal<'a> {
    repository: &'a str,
    base: &'a str,
    path: &'a str,
    on_disk: &'a Path,
    content: &'a str,
    until: &'a str,
    owners: &'a [String],
    original_pr: Option<&'a str>,
    root: &'a Path,
    stamp: String,
}

#[derive(serde::Deserialize)]
struct ApiRef {
    object: ApiObject,
}

#[derive(serde::Deserialize)]
struct ApiObject {
    sha: String,
}

#[derive(serde::Deserialize)]
struct ApiBlob {
    sha: String,
}

#[derive(serde::Deserialize)]
struct ApiCreatedPull {
    html_url: String,
}

/// Commits the renewal to a new branch through the contents API and opens the pull request:
/// no push and no git credentials, only the API token.
fn open_renewal_pr(renewal: &Renewal<'_>) -> anyhow::Result<String> {
    let client = github_client(renewal.repository)?;
    let (owner, name) = crate::github::repository_segments(renewal.repository)?;
    let path = crate::github::file_path_segments(renewal.path)?;
    let base_ref = crate::github::file_path_segments(renewal.base)?;
    let head: ApiRef = client
        .get(&format!("/repos/{owner}/{name}/git/ref/heads/{base_ref}"), &[])
        .with_context(|| format!("cannot read branch {} on GitHub", renewal.base))?;
    let on_base: ApiBlob = client
        .get(&format!("/repos/{owner}/{name}/contents/{path}"), &[("ref", renewal.base)])
        .with_context(|| format!("cannot read {} on {} on GitHub", renewal.path, renewal.base))?;
    // The edit was made to the local copy; it must be the copy on the base branch, or the PR
    // would silently revert someone else's change to the file.
    let local = crate::source::Source::open(renewal.root)?.blob_id_of_file(renewal.on_disk)?;
    if local.as_ref().map(|id| id.0.as_str()) != Some(on_base.sha.as_str()) {
        bail!(
            "{} in the working tree differs from the copy on {} on GitHub; update the checkout first",
            renewal.path,
            renewal.base
        );
    }
    let stem =
        renewal.path.trim_start_matches("requests/").trim_end_matches(".yaml").trim_end_matches(".yml");
    let stem: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let branch = format!("tenure/renew-{stem}-{}", renewal.stamp);
    let _: serde_json::Value = client.post(
        &format!("/repos/{owner}/{name}/git/refs"),
        &serde_json::json!({ "ref": format!("refs/heads/{branch}"), "sha": head.object.sha }),
    )?;
    let title = format!("Renew access: {} until {}", renewal.path, renewal.until);
    client.put(
        &format!("/repos/{owner}/{name}/contents/{path}"),
        &serde_json::json!({
            "message": title,
            "content": base64(renewal.content.as_bytes()),
            "sha": on_base.sha,
            "branch": branch,
        }),
    )?;
    let owners = if renewal.owners.is_empty() {
        "the resources' owners".to_owned()
    } else {
        let mentions: Vec<String> = renewal
            .owners
            .iter()
            .map(|o| if o.starts_with('@') { o.clone() } else { format!("@{o}") })
            .collect();
        mentions.join(", ")
    };
    let body = format!(
        "Renews `{}` until {}: only its expiry line changes.\n\n\
         Original request: {}\n\n\
         A renewal is a new change, approved like any other. Approval needed from: {owners}\n",
        renewal.path,
        renewal.until,
        renewal.original_pr.unwrap_or("(no pull request on record)"),
    );
    let pull: ApiCreatedPull = client.post(
        &format!("/repos/{owner}/{name}/pulls"),
        &serde_json::json!({ "title": title, "head": branch, "base": renewal.base, "body": body }),
    )?;
    Ok(pull.html_url)
}

/// Standard base64 with padding, for the contents API.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
