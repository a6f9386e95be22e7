//! Desired state: every request file judged, and the grants that approved,
//! unexpired requests want (rules 5, 6, 8 and 9).
//!
//! [`evaluate`] judges the live version of each request file against the trusted
//! policy at its base and the policy at `--rev`, and every older version of every
//! request path against the policy at its own base. The live verdicts give the
//! desired state; the older approved versions give the inventory of what tenure
//! ever granted, which is all that additive mode may revoke. Pure.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::approvals::{ChangeFacts, Context, Judgement, judge};
use crate::forge::{ChangeReview, TeamMembers};
use crate::history::HistoryIndex;
use crate::model::{
    Code, CommitRecord, EntryKind, Evidence, Login, Notice, ObjectId, Rejection, ResourceId, Tuple,
};
use crate::policy::{CONFIG_PATH, Policy, PolicyVersion, Trust, TrustChain, is_request_file};
use crate::wire::RequestFile;

/// A parsed blob: the request, or why it could not be read.
pub type Parsed = Result<RequestFile, Rejection>;

/// Everything evaluation needs, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The first-parent history, oldest first.
    pub commits: &'a [CommitRecord],
    /// Its index.
    pub index: &'a HistoryIndex,
    /// The forge's review of each change commit that touched a watched path.
    pub reviews: &'a BTreeMap<ObjectId, ChangeReview>,
    /// Every request blob of the history, parsed once. The rejection's `request` field is
    /// filled in per path.
    pub parsed: &'a BTreeMap<ObjectId, Parsed>,
    /// Every policy version of the history.
    pub policy_versions: &'a [PolicyVersion],
    /// Their trust.
    pub trust: &'a TrustChain,
    /// The policy at `--rev`.
    pub current: &'a Policy,
    /// Resolved forge teams.
    pub teams: &'a TeamMembers,
    /// Members of the GitHub org, where known.
    pub org_members: Option<&'a BTreeSet<Login>>,
    /// The time every decision is made at.
    pub now: DateTime<Utc>,
}

/// What became of a request path that once granted something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStatus {
    /// The path no longer exists.
    Deleted,
    /// Its live version is rejected.
    Rejected,
    /// Its live version is approved.
    Approved {
        /// What the live version grants.
        tuples: BTreeSet<Tuple>,
    },
}

/// The result of evaluating every request.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// The verdict on the live version of each request file at `--rev`.
    pub live: BTreeMap<String, Judgement>,
    /// Desired tuples, each with the evidence of every live, approved, unexpired request that
    /// wants it (rule 8).
    pub desired: BTreeMap<Tuple, Vec<Evidence>>,
    /// Every tuple that some approved version of a request file granted: for each such path,
    /// whether the time of the latest approved version of it that granted the tuple is up.
    pub inventory: BTreeMap<Tuple, BTreeMap<String, bool>>,
    /// The status of every path in the inventory.
    pub path_status: BTreeMap<String, PathStatus>,
    /// Rejected files, once each, sorted by path.
    pub rejected: Vec<Rejection>,
    /// Things worth knowing.
    pub notices: Vec<Notice>,
    /// Whether the policy at `--rev` is not the last trusted one; then nothing may change, though
    /// the desired state (judged by the trusted policies of the past) is still reported.
    pub policy_refused: bool,
    /// The trusted policy commit in force at `--rev`.
    pub policy_commit: Option<ObjectId>,
}

/// Judges every request file and computes the desired state and the inventory.
pub fn evaluate(inputs: Inputs<'_>) -> Evaluation {
    let mut evaluation = Evaluation::default();
    let tip = inputs.commits.len().saturating_sub(1);
    check_policy_trust(inputs, tip, &mut evaluation);

    let only_break_glass = break_glass_commits(inputs);
    for (path, versions) in &inputs.index.request_versions {
        let live_index = inputs.index.requests_at_tip.contains_key(path).then(|| versions.len() - 1);
        let mut granted_before = false;
        for (version_index, version) in versions.iter().enumerate() {
            let Some(entry) = &version.entry else { continue };
            let Some(facts) = change_facts(inputs, version.position, &only_break_glass) else { continue };
            let parsed = parsed_for(inputs, path, entry.kind, &entry.id);
            let (base, base_commit) = base_policy(inputs, version.position);
            let judge_against = |current: &Policy| {
                let context = Context {
                    base,
                    base_commit,
                    current,
                    teams: inputs.teams,
                    org_members: inputs.org_members,
                };
                judge(path, &entry.id, parsed.as_ref().copied(), facts, context)
            };
            // Older versions are judged as they stood then: the base is also the catalog that
            // had to list the resource.
            let historical = base.map(judge_against);
            if let Some(Ok(approved)) = historical.as_ref().map(|judgement| &judgement.outcome) {
                granted_before = true;
                let time_up = inputs.now >= approved.evidence.expires;
                for tuple in &approved.tuples {
                    evaluation.inventory.entry(tuple.clone()).or_default().insert(path.clone(), time_up);
                }
            }
            if live_index == Some(version_index) {
                let reused = match (historical, base, parsed.as_ref()) {
                    (Some(judgement), Some(base), Ok(request))
                        if current_agrees(base, inputs.current, request) =>
                    {
                        Some(judgement)
                    }
                    _ => None,
                };
                let live = reused.unwrap_or_else(|| judge_against(inputs.current));
                evaluation.live.insert(path.clone(), live);
            }
        }
        let status = match evaluation.live.get(path) {
            None => PathStatus::Deleted,
            Some(Judgement { outcome: Err(_), .. }) => PathStatus::Rejected,
            Some(Judgement { outcome: Ok(approved), .. }) => {
                PathStatus::Approved { tuples: approved.tuples.iter().cloned().collect() }
            }
        };
        if granted_before || matches!(status, PathStatus::Approved { .. }) {
            evaluation.path_status.insert(path.clone(), status);
        }
    }

    for (path, judgement) in &evaluation.live {
        match &judgement.outcome {
            Err(rejection) => evaluation.rejected.push(rejection.clone()),
            Ok(approved) if inputs.now < approved.evidence.expires => {
                for tuple in &approved.tuples {
                    evaluation.desired.entry(tuple.clone()).or_default().push(approved.evidence.clone());
                }
            }
            Ok(_) => {}
        }
        debug_assert_eq!(&judgement.path, path);
    }
    evaluation.rejected.sort_by(|a, b| a.request.cmp(&b.request));
    for path in &inputs.index.ignored_at_tip {
        evaluation.notices.push(Notice {
            code: "file-ignored",
            file: Some(path.clone()),
            message: "only .yaml and .yml files under requests/ are requests; this file is ignored".into(),
        });
    }
    let teams: Vec<String> =
        inputs.current.teams().iter().map(|(org, slug)| format!("@{org}/{slug}")).collect();
    if inputs.current.forge == crate::policy::ForgeKind::Git && !teams.is_empty() {
        evaluation.notices.push(Notice {
            code: "teams-without-members",
            file: Some(CONFIG_PATH.into()),
            message: format!(
                "the git forge cannot resolve teams, so {} have no members and approve nothing",
                teams.join(", ")
            ),
        });
    }
    evaluation
}

/// Whether judging a request against `current` must give the verdict that judging it against
/// `base` (as its historical verdict did) gave, so that the live version need not be judged
/// twice. `judge` reads the current policy only for the provider kind and the roles of each
/// resource the request names; everything else comes from the base. A resource id that does
/// not parse is refused before any policy is read.
fn current_agrees(base: &Policy, current: &Policy, request: &RequestFile) -> bool {
    std::ptr::eq(base, current)
        || request.grants.iter().all(|grant| match ResourceId::parse(&grant.resource) {
            None => true,
            Some(id) => {
                base.provider_kind(&id) == current.provider_kind(&id)
                    && base.resources.get(&id).map(|resource| &resource.roles)
                        == current.resources.get(&id).map(|resource| &resource.roles)
            }
        })
}

/// Rule 6: the policy at the tip must be the last trusted one, by content.
fn check_policy_trust(inputs: Inputs<'_>, tip: usize, evaluation: &mut Evaluation) {
    let versions = inputs.policy_versions;
    for (version, trust) in versions.iter().zip(&inputs.trust.decisions) {
        if *trust == Trust::FirstUse {
            evaluation.notices.push(Notice {
                code: "policy-trusted-on-first-use",
                file: Some(CONFIG_PATH.into()),
                message: format!(
                    "commit {} created tenure.yaml and is trusted on first use; every later policy change \
                     needs an admin's approval",
                    version.commit.short()
                ),
            });
        }
    }
    let trusted = inputs.trust.trusted_at(versions, tip).map(|index| &versions[index]);
    evaluation.policy_commit = trusted.map(|version| version.commit.clone());
    let Some(at_tip) = versions.last() else { return };
    let trusted_files = trusted.map(|version| &version.files);
    if trusted_files == Some(&at_tip.files) {
        return;
    }
    evaluation.policy_refused = true;
    let empty = BTreeMap::new();
    let trusted_files = trusted_files.unwrap_or(&empty);
    let changed: BTreeSet<&String> = at_tip
        .files
        .iter()
        .filter(|(path, blob)| trusted_files.get(*path) != Some(blob))
        .map(|(path, _)| path)
        .chain(trusted_files.keys().filter(|path| !at_tip.files.contains_key(*path)))
        .collect();
    let why = versions
        .iter()
        .zip(&inputs.trust.decisions)
        .rev()
        .find_map(|(version, trust)| match trust {
            Trust::Untrusted(reason) => Some(format!("change {}: {reason}", version.commit.short())),
            _ => None,
        })
        .unwrap_or_default();
    for path in changed {
        evaluation.rejected.push(Rejection {
            request: path.clone(),
            code: Code::UnapprovedPolicyChange,
            message: format!(
                "{path} differs from the last trusted policy{}, and no admin approved the change ({why}); \
                 tenure changes nothing until an admin-approved change repairs it",
                trusted.map(|version| format!(" (commit {})", version.commit.short())).unwrap_or_default()
            ),
            field: None,
            line: None,
            column: None,
        });
    }
}

/// The trusted policy at the first parent of the commit at `position`.
fn base_policy<'a>(inputs: Inputs<'a>, position: usize) -> (Option<&'a Policy>, Option<&'a ObjectId>) {
    let Some(parent) = position.checked_sub(1) else { return (None, None) };
    match inputs.trust.trusted_at(inputs.policy_versions, parent) {
        Some(index) => {
            let version = &inputs.policy_versions[index];
            (version.policy.as_ref().ok(), Some(&version.commit))
        }
        None => (None, None),
    }
}

fn change_facts<'a>(
    inputs: Inputs<'a>,
    position: usize,
    only_break_glass: &BTreeSet<usize>,
) -> Option<ChangeFacts<'a>> {
    let commit = inputs.commits.get(position)?;
    let review = inputs.reviews.get(&commit.id)?;
    Some(ChangeFacts { commit, review, only_break_glass: only_break_glass.contains(&position) })
}

/// The parse of a version, with symlinks and other non-files refused: their blob is not a
/// request, whatever it holds.
fn parsed_for<'a>(
    inputs: Inputs<'a>,
    path: &str,
    kind: EntryKind,
    blob: &ObjectId,
) -> Result<&'a RequestFile, Rejection> {
    let refuse = |message: &str| Rejection {
        request: path.to_owned(),
        code: Code::InvalidYaml,
        message: message.to_owned(),
        field: None,
        line: None,
        column: None,
    };
    match kind {
        EntryKind::Symlink => Err(refuse("a symbolic link is not a request file; commit the file itself")),
        EntryKind::Other => Err(refuse("a submodule is not a request file")),
        EntryKind::File | EntryKind::Executable => match inputs.parsed.get(blob) {
            Some(Ok(request)) => Ok(request),
            Some(Err(rejection)) => Err(Rejection { request: path.to_owned(), ..rejection.clone() }),
            None => Err(refuse("the file could not be read from the repository")),
        },
    }
}

/// Positions of commits whose request files, every one of them, are break-glass requests.
fn break_glass_commits(inputs: Inputs<'_>) -> BTreeSet<usize> {
    let mut positions = BTreeSet::new();
    for (position, commit) in inputs.commits.iter().enumerate() {
        let mut left = commit
            .changes
            .iter()
            .filter(|change| is_request_file(&change.path))
            .filter_map(|change| change.after.as_ref())
            .peekable();
        if left.peek().is_none() {
            continue;
        }
        let all_break_glass = left.all(|entry| {
            matches!(entry.kind, EntryKind::File | EntryKind::Executable)
                && matches!(inputs.parsed.get(&entry.id), Some(Ok(request)) if request.break_glass)
        });
        if all_break_glass {
            positions.insert(position);
        }
    }
    positions
}
