//! The PR check: what a pull request would change if it were merged now, and what still
//! stands in its way (DESIGN §4, docs/github-forge.md#pr-check).
//!
//! `engine` evaluates the branch twice, without and with a synthetic change that holds the
//! pull request's files; [`build`] compares the two evaluations. The grants it adds or removes
//! are the difference of the desired states. Its findings are the rejections of the files it
//! touches, plus any rejection it causes elsewhere (a file that is rejected only with the pull
//! request merged); files that were already rejected on the branch are not its doing and are
//! only named. A file whose only failures are missing approvals is pending, not refused: the
//! report says which owners must still approve each grant. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::approvals::Judgement;
use crate::desired::Evaluation;
use crate::model::{Code, Notice, Rejection, ResourceId, Tuple};
use crate::policy::Policy;
use crate::wire::RequestFile;

/// The marker that makes the PR comment findable, so that it is updated, never repeated.
pub const COMMENT_MARKER: &str = "<!-- tenure:check -->";

/// The pull request, as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct PullInfo {
    /// Its number.
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// Its author.
    pub author: String,
    /// Its head commit.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
}

/// A grant the pull request adds or removes, with the request files behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantChange {
    /// The grant.
    #[serde(flatten)]
    pub tuple: Tuple,
    /// The request files that want it (adds) or wanted it (removes).
    pub requests: Vec<String>,
}

/// Approvals a grant (or a service identity) still needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// `resource role`, or `identity NAME`.
    pub target: String,
    /// Distinct owner approvals needed.
    pub needed: usize,
    /// The approvals that count so far.
    pub approved_by: Vec<String>,
    /// How many more are needed.
    pub more: usize,
    /// Who may approve: users, `group:` and `@org/team`, other than the requester, the
    /// author and the subjects.
    pub owners: Vec<String>,
}

/// Where a file of the pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    /// It would be granted.
    Granted,
    /// It is deleted, so it grants nothing from the merge on.
    Deleted,
    /// It lacks approvals only.
    Pending,
    /// It fails a check that approvals cannot fix.
    Rejected,
}

/// One file the pull request touches, or one it makes rejected.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Where it stands.
    pub status: FileStatus,
    /// The first failing check, when not granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
    /// Approvals still needed, per grant and identity.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Needs>,
}

/// Everything the PR check found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The pull request.
    pub pull_request: PullInfo,
    /// Grants that merging would add to the desired state.
    pub adds: Vec<GrantChange>,
    /// Grants that merging would remove from it.
    pub removes: Vec<GrantChange>,
    /// The pull request's files, and files that it makes rejected, sorted by path.
    pub files: Vec<FileReport>,
    /// Files rejected on the branch already, which the pull request does not touch.
    pub rejected_elsewhere: Vec<String>,
    /// Things worth knowing.
    pub notices: Vec<Notice>,
}

impl Report {
    /// Whether the pull request's files would be granted as they stand.
    pub fn passes(&self) -> bool {
        self.files.iter().all(|file| matches!(file.status, FileStatus::Granted | FileStatus::Deleted))
    }

    /// Whether the only thing missing is approvals.
    pub fn only_pending(&self) -> bool {
        !self.passes() && self.files.iter().all(|file| file.status != FileStatus::Rejected)
    }
}

/// What [`build`] compares.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The pull request.
    pub pull: &'a PullInfo,
    /// The branch as it is.
    pub without: &'a Evaluation,
    /// The branch with the pull request merged.
    pub with: &'a Evaluation,
    /// The paths the pull request changes.
    pub touched: &'a BTreeSet<String>,
    /// The trusted policy that judges the pull request's requests: the branch tip's.
    pub base: Option<&'a Policy>,
    /// The parsed request at each path, with the pull request merged.
    pub requests: &'a BTreeMap<String, &'a RequestFile>,
}

/// Compares the branch without and with the pull request.
pub fn build(inputs: Inputs<'_>) -> Report {
    let adds = difference(&inputs.with.desired, &inputs.without.desired);
    let removes = difference(&inputs.without.desired, &inputs.with.desired);
    let before: BTreeSet<&str> = inputs.without.rejected.iter().map(|r| r.request.as_str()).collect();
    let mut files: BTreeMap<String, FileReport> = BTreeMap::new();
    let mut rejected_elsewhere = Vec::new();
    for rejection in &inputs.with.rejected {
        let path = rejection.request.as_str();
        if !inputs.touched.contains(path) && before.contains(path) {
            rejected_elsewhere.push(path.to_owned());
            continue;
        }
        let judgement = inputs.with.live.get(path);
        let pending = judgement.is_some_and(only_missing_approvals);
        let needs = judgement.map(|judgement| needs_of(judgement, &inputs)).unwrap_or_default();
        files.insert(
            path.to_owned(),
            FileReport {
                file: path.to_owned(),
                status: if pending { FileStatus::Pending } else { FileStatus::Rejected },
                rejection: Some(rejection.clone()),
                needs,
            },
        );
    }
    for path in inputs.touched {
        if files.contains_key(path) {
            continue;
        }
        let status = match inputs.with.live.get(path) {
            Some(judgement) if judgement.outcome.is_ok() => FileStatus::Granted,
            Some(_) => continue,
            // A deleted request file, or a policy file that passed.
            None if crate::policy::is_request_file(path) => FileStatus::Deleted,
            None => FileStatus::Granted,
        };
        files.insert(
            path.clone(),
            FileReport { file: path.clone(), status, rejection: None, needs: Vec::new() },
        );
    }
    Report {
        pull_request: inputs.pull.clone(),
        adds,
        removes,
        files: files.into_values().collect(),
        rejected_elsewhere,
        notices: inputs.with.notices.clone(),
    }
}

/// Tuples desired in `a` but not in `b`, with the requests that want them in `a`.
fn difference(
    a: &BTreeMap<Tuple, Vec<crate::model::Evidence>>,
    b: &BTreeMap<Tuple, Vec<crate::model::Evidence>>,
) -> Vec<GrantChange> {
    a.iter()
        .filter(|(tuple, _)| !b.contains_key(*tuple))
        .map(|(tuple, evidence)| {
            let requests: BTreeSet<String> = evidence.iter().map(|e| e.request.clone()).collect();
            GrantChange { tuple: tuple.clone(), requests: requests.into_iter().collect() }
        })
        .collect()
}

/// A verdict that approvals alone would turn around: every failing check is about reviews.
fn only_missing_approvals(judgement: &Judgement) -> bool {
    !judgement.failures.is_empty()
        && judgement
            .failures
            .iter()
            .all(|failure| matches!(failure.code, Code::NotReviewed | Code::InsufficientApprovals))
}

/// For each grant and service identity of the request, the approvals it still needs, from the
/// base policy's owners and the approvals that counted for it.
fn needs_of(judgement: &Judgement, inputs: &Inputs<'_>) -> Vec<Needs> {
    let (Some(base), Some(request)) = (inputs.base, inputs.requests.get(&judgement.path)) else {
        return Vec::new();
    };
    if request.break_glass {
        return Vec::new();
    }
    let counted = |target: &str| -> Vec<String> {
        let logins: BTreeSet<String> = judgement
            .approvers
            .iter()
            .filter(|note| note.counted && note.target == target)
            .map(|note| note.login.clone())
            .collect();
        logins.into_iter().collect()
    };
    let mut needs = Vec::new();
    let mut push = |target: String, needed: usize, owners: Vec<String>| {
        let approved_by = counted(&target);
        let more = needed.saturating_sub(approved_by.len());
        if more > 0 {
            needs.push(Needs { target, needed, approved_by, more, owners });
        }
    };
    for grant in &request.grants {
        let Some(resource) = ResourceId::parse(&grant.resource).and_then(|id| base.resources.get(&id)) else {
            continue;
        };
        push(
            format!("{} {}", resource.id, grant.role),
            usize::try_from(resource.approvals).unwrap_or(usize::MAX),
            resource.owners.iter().map(ToString::to_string).collect(),
        );
    }
    for subject in &request.subjects {
        if let Some(identity) = base.identities.get(subject) {
            push(format!("identity {subject}"), 1, identity.owners.iter().map(ToString::to_string).collect());
        }
    }
    needs
}

/// Escapes the message of a GitHub Actions workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`) of a GitHub Actions workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` (or `::warning`, for a file that only waits for approvals) line per
/// rejection, as GitHub Actions turns them into annotations on the file.
pub fn annotations<'a>(rejections: impl IntoIterator<Item = (&'a Rejection, bool)>) -> String {
    let mut out = String::new();
    for (rejection, pending) in rejections {
        let level = if pending { "warning" } else { "error" };
        let mut properties = vec![format!("file={}", escape_property(&rejection.request))];
        if let Some(line) = rejection.line {
            properties.push(format!("line={line}"));
            if let Some(column) = rejection.column {
                properties.push(format!("col={column}"));
            }
        }
        properties.push(format!("title={}", escape_property(&format!("tenure: {}", rejection.code))));
        out.push_str(&format!("::{level} {}::{}\n", properties.join(","), escape_data(&rejection.message)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(file: &str, message: &str) -> Rejection {
        Rejection {
            request: file.into(),
            code: Code::InsufficientApprovals,
            message: message.into(),
            field: None,
            line: Some(3),
            column: Some(5),
        }
    }

    #[test]
    fn workflow_commands_escape_what_github_parses() {
        assert_eq!(escape_data("100%\r\ndone"), "100%25%0D%0Adone");
        assert_eq!(escape_property("a,b:c%"), "a%2Cb%3Ac%25");
        let text = annotations([(&rejection("requests/a,b:c.yaml", "needs 1\nmore: carol"), false)]);
        assert_eq!(
            text,
            "::error file=requests/a%2Cb%3Ac.yaml,line=3,col=5,title=tenure%3A insufficient-approvals::needs 1%0Amore: carol\n"
        );
        let pending = annotations([(&rejection("requests/x.yaml", "m"), true)]);
        assert!(pending.starts_with("::warning file=requests/x.yaml,"), "{pending}");
    }

    #[test]
    fn an_injected_newline_cannot_start_a_second_command() {
        let text = annotations([(&rejection("requests/x.yaml", "x\n::error file=y::forged"), false)]);
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
