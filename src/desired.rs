//! Desired state: every request file judged, and the grants that approved,
//! unexpired requests want (rules 5, 6, 8 and 9).
//!
//! [`evaluate`] judges the live version of each request file against the trusted
//! policy at its base and the policy at `--rev`, and every older version of every
//! request path against the policy at its own base. The live verdicts give the
//! desired state; the older approved versions give the inventory of what tenure
//! ever granted, which is all that additive mode may revoke.
//!
//! Each path's verdicts depend on the inputs alone, so on a large history the paths are judged
//! in contiguous chunks on several threads and the results merged in path order: the
//! [`Evaluation`] is the same whatever the number of threads. Pure: no I/O, no clock.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::approvals::{ChangeFacts, Context, Judgement, judge};
use crate::forge::{ChangeReview, TeamMembers};
use crate::history::{HistoryIndex, Version};
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Request paths below which a worker thread costs more than it saves.
const MIN_PATHS_PER_THREAD: usize = 256;
/// The merge of the chunks is serial, so more threads than this gain little.
const MAX_THREADS: usize = 8;

/// Judges every request file and computes the desired state and the inventory.
pub fn evaluate(inputs: Inputs<'_>) -> Evaluation {
    let cores = std::thread::available_parallelism().map_or(1, usize::from).min(MAX_THREADS);
    let threads = cores.min(inputs.index.request_versions.len() / MIN_PATHS_PER_THREAD).max(1);
    evaluate_with_threads(inputs, threads)
}

/// [`evaluate`] with the request paths split into (at most) `threads` contiguous chunks judged
/// on as many threads. The result does not depend on `threads`.
fn evaluate_with_threads(inputs: Inputs<'_>, threads: usize) -> Evaluation {
    let mut evaluation = Evaluation::default();
    let tip = inputs.commits.len().saturating_sub(1);
    check_policy_trust(inputs, tip, &mut evaluation);

    let shared = Shared::new(inputs);
    let paths: Vec<PathVersions<'_>> =
        inputs.index.request_versions.iter().map(|(path, versions)| (path, versions.as_slice())).collect();
    let chunks = split(&paths, threads);
    // Each path's verdicts depend on the inputs alone, and the chunks hold disjoint, ascending
    // runs of paths, so the partial results, appended in chunk order, hold exactly what judging
    // the paths one by one would, down to the path order of each tuple's evidence and of the
    // rejections (whose sort below is stable).
    let mut live = Vec::with_capacity(paths.len());
    let mut path_status = Vec::new();
    for partial in judge_chunks(&shared, &chunks) {
        live.extend(partial.live);
        path_status.extend(partial.path_status);
        append(&mut evaluation.inventory, partial.inventory);
        append(&mut evaluation.desired, partial.desired);
        evaluation.rejected.extend(partial.rejected);
    }
    evaluation.live = live.into_iter().collect();
    evaluation.path_status = path_status.into_iter().collect();
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

/// A request path and its versions, oldest first.
type PathVersions<'a> = (&'a String, &'a [Version]);

/// What every chunk of paths reads, computed once.
struct Shared<'a> {
    inputs: Inputs<'a>,
    /// By position: whether every request file that the commit leaves is a break-glass request.
    only_break_glass: Vec<bool>,
}

impl<'a> Shared<'a> {
    fn new(inputs: Inputs<'a>) -> Shared<'a> {
        Shared { inputs, only_break_glass: break_glass_commits(inputs) }
    }

    /// The trusted policy at the first parent of the commit at `position`.
    fn base_policy(&self, position: usize) -> (Option<&'a Policy>, Option<&'a ObjectId>) {
        let Some(parent) = position.checked_sub(1) else { return (None, None) };
        let versions = self.inputs.policy_versions;
        match self.inputs.trust.trusted_at(versions, parent).and_then(|index| versions.get(index)) {
            Some(version) => (version.policy.as_ref().ok(), Some(&version.commit)),
            None => (None, None),
        }
    }

    fn change_facts(&self, position: usize) -> Option<ChangeFacts<'a>> {
        let commit = self.inputs.commits.get(position)?;
        let review = self.inputs.reviews.get(&commit.id)?;
        let only_break_glass = self.only_break_glass.get(position).copied().unwrap_or(false);
        Some(ChangeFacts { commit, review, only_break_glass })
    }
}

/// The verdicts on one chunk of paths, in path order.
#[derive(Default)]
struct Partial {
    live: Vec<(String, Judgement)>,
    inventory: BTreeMap<Tuple, BTreeMap<String, bool>>,
    path_status: Vec<(String, PathStatus)>,
    desired: BTreeMap<Tuple, Vec<Evidence>>,
    rejected: Vec<Rejection>,
}

/// Appends each of `from`'s collections to the one under the same key in `into`.
fn append<K: Ord, C: IntoIterator + Extend<C::Item>>(into: &mut BTreeMap<K, C>, from: BTreeMap<K, C>) {
    if into.is_empty() {
        *into = from;
        return;
    }
    for (key, items) in from {
        match into.entry(key) {
            Entry::Vacant(entry) => {
                entry.insert(items);
            }
            Entry::Occupied(mut entry) => entry.get_mut().extend(items),
        }
    }
}

/// Splits `paths` into at most `parts` contiguous chunks of about as many versions each, since
/// the work is per version.
fn split<'p, 'a>(paths: &'p [PathVersions<'a>], parts: usize) -> Vec<&'p [PathVersions<'a>]> {
    let weight = |versions: &[Version]| versions.len().max(1);
    let total: usize = paths.iter().map(|(_, versions)| weight(versions)).sum();
    let target = total.div_ceil(parts.max(1)).max(1);
    let mut chunks = Vec::with_capacity(parts.max(1));
    let (mut start, mut filled) = (0, 0);
    for (index, (_, versions)) in paths.iter().enumerate() {
        filled += weight(versions);
        if filled >= target && chunks.len() + 1 < parts {
            chunks.push(&paths[start..=index]);
            (start, filled) = (index + 1, 0);
        }
    }
    if start < paths.len() {
        chunks.push(&paths[start..]);
    }
    chunks
}

/// Judges every chunk, the first on the calling thread and each other one on a thread of its
/// own, and returns their results in chunk order.
///
/// A chunk whose thread cannot be started, or panics, is judged again on the calling thread.
/// Judging is deterministic, so the result is then exactly the sequential one: the right
/// answer if the failure was the thread's own, or the same panic that judging the paths one
/// by one would raise, never a partial result.
fn judge_chunks(shared: &Shared<'_>, chunks: &[&[PathVersions<'_>]]) -> Vec<Partial> {
    let Some((first, rest)) = chunks.split_first() else { return Vec::new() };
    if rest.is_empty() {
        return vec![judge_paths(shared, first)];
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = rest
            .iter()
            .map(|&chunk| {
                let worker = std::thread::Builder::new()
                    .name("tenure-evaluate".into())
                    .spawn_scoped(scope, move || judge_paths(shared, chunk));
                (chunk, worker)
            })
            .collect();
        let mut partials = Vec::with_capacity(chunks.len());
        partials.push(judge_paths(shared, first));
        for (chunk, worker) in workers {
            let finished = worker.ok().and_then(|worker| worker.join().ok());
            partials.push(finished.unwrap_or_else(|| judge_paths(shared, chunk)));
        }
        partials
    })
}

/// Judges every version of each path of a chunk.
fn judge_paths(shared: &Shared<'_>, paths: &[PathVersions<'_>]) -> Partial {
    let inputs = shared.inputs;
    let mut partial = Partial::default();
    for &(path, versions) in paths {
        let live_index =
            versions.len().checked_sub(1).filter(|_| inputs.index.requests_at_tip.contains_key(path));
        let mut granted_before = false;
        let mut live = None;
        for (version_index, version) in versions.iter().enumerate() {
            let Some(entry) = &version.entry else { continue };
            let Some(facts) = shared.change_facts(version.position) else { continue };
            let parsed = parsed_for(inputs, path, entry.kind, &entry.id);
            let (base, base_commit) = shared.base_policy(version.position);
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
                    let paths = partial.inventory.entry(tuple.clone()).or_default();
                    match paths.get_mut(path.as_str()) {
                        Some(known) => *known = time_up,
                        None => {
                            paths.insert(path.clone(), time_up);
                        }
                    }
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
                live = Some(reused.unwrap_or_else(|| judge_against(inputs.current)));
            }
        }
        let status = match &live {
            None => PathStatus::Deleted,
            Some(Judgement { outcome: Err(_), .. }) => PathStatus::Rejected,
            Some(Judgement { outcome: Ok(approved), .. }) => {
                PathStatus::Approved { tuples: approved.tuples.iter().cloned().collect() }
            }
        };
        if granted_before || matches!(status, PathStatus::Approved { .. }) {
            partial.path_status.push((path.clone(), status));
        }
        if let Some(live) = live {
            match &live.outcome {
                Err(rejection) => partial.rejected.push(rejection.clone()),
                Ok(approved) if inputs.now < approved.evidence.expires => {
                    for tuple in &approved.tuples {
                        partial.desired.entry(tuple.clone()).or_default().push(approved.evidence.clone());
                    }
                }
                Ok(_) => {}
            }
            debug_assert_eq!(&live.path, path);
            partial.live.push((path.clone(), live));
        }
    }
    partial
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

/// By position: whether the commit leaves request files, every one of them a break-glass
/// request.
fn break_glass_commits(inputs: Inputs<'_>) -> Vec<bool> {
    let mut positions = vec![false; inputs.commits.len()];
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
            positions[position] = true;
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::forge::git::review_from_message;
    use crate::model::{PathChange, TreeEntry};
    use crate::wire::GrantEntry;

    const CONFIG: &str = "version: 1
forge: {kind: git}
admins: [root]
providers:
  local: {kind: file, path: state/local.json}
defaults: {approvals: 1, max_duration: 90d}
";

    /// The catalog at each policy change: the root, an approved addition, an unapproved
    /// change, and an approved change again.
    const CATALOGS: [&str; 4] = [
        "resources:
  - {id: local:group/oncall, owners: [carol], roles: [member], max_duration: 30d,
     break_glass: {who: [group:oncall], max_duration: 4h}}
  - {id: local:group/billing, owners: [carol, dan], roles: [member, admin]}
groups: {oncall: [u1, u2]}
",
        "resources:
  - {id: local:group/oncall, owners: [carol], roles: [member], max_duration: 30d,
     break_glass: {who: [group:oncall], max_duration: 4h}}
  - {id: local:group/billing, owners: [carol, dan], roles: [member, admin]}
  - {id: local:group/extra, owners: [erin], roles: [member]}
groups: {oncall: [u1, u2]}
",
        "resources:
  - {id: local:group/oncall, owners: [mallory], roles: [member]}
  - {id: local:group/extra, owners: [mallory], roles: [member]}
",
        "resources:
  - {id: local:group/oncall, owners: [carol], roles: [member], max_duration: 30d,
     break_glass: {who: [group:oncall], max_duration: 4h}}
  - {id: local:group/billing, owners: [carol, dan], roles: [member]}
  - {id: local:group/extra, owners: [erin], roles: [member]}
groups: {oncall: [u1, u2]}
",
    ];

    /// The policy changes: position, catalog, and commit message.
    const POLICY_CHANGES: [(usize, usize, &str); 4] = [
        (0, 0, "Initial policy"),
        (150, 1, "Add extra\n\nProposed-by: carol\nApproved-by: root"),
        (300, 2, "Take over\n\nProposed-by: mallory"),
        (450, 3, "Repair\n\nProposed-by: carol\nApproved-by: root"),
    ];

    /// A history that exercises every branch of the per-path work: edits, deletions,
    /// re-additions, rejections of each kind, break-glass changes, unreadable files, symlinks,
    /// changes without a review, untrusted policy, and tuples granted by several paths.
    struct Fixture {
        commits: Vec<CommitRecord>,
        index: HistoryIndex,
        reviews: BTreeMap<ObjectId, ChangeReview>,
        parsed: BTreeMap<ObjectId, Parsed>,
        versions: Vec<PolicyVersion>,
        trust: TrustChain,
        current: Policy,
        teams: TeamMembers,
        now: DateTime<Utc>,
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("a fixed time")
    }

    fn request(k: usize, edit: usize) -> RequestFile {
        let requester = format!("u{}", k % 37);
        let (resource, role) = match k % 4 {
            0 => ("local:group/oncall", "member"),
            1 => ("local:group/billing", "admin"),
            2 => ("local:group/extra", "member"),
            _ => ("local:group/billing", "member"),
        };
        let subjects =
            if k % 6 == 5 { vec![requester.clone(), "u3".into()] } else { vec![requester.clone()] };
        let (expires, duration) = match (k + edit) % 5 {
            0 => (Some("2030-01-01".to_owned()), None),
            1 => (None, Some("200h".to_owned())),
            2 => (None, Some("60d".to_owned())),
            3 => (Some((t0() + Duration::hours(k as i64 + 900)).to_rfc3339()), None),
            _ => (None, Some("48h".to_owned())),
        };
        RequestFile {
            requester,
            subjects,
            justification: format!("work {k}.{edit}"),
            grants: vec![GrantEntry { resource: resource.into(), role: role.into() }],
            expires,
            duration,
            ticket: None,
            break_glass: k.is_multiple_of(13),
        }
    }

    fn commit(position: usize, message: String, changes: Vec<PathChange>) -> CommitRecord {
        CommitRecord {
            id: ObjectId(format!("{position:040x}")),
            first_parent: position.checked_sub(1).map(|parent| ObjectId(format!("{parent:040x}"))),
            parent_count: 2,
            message,
            committed_at: t0() + Duration::hours(position as i64),
            author_name: "Test".into(),
            author_email: "test@example.com".into(),
            changes,
        }
    }

    impl Fixture {
        fn new(paths: usize) -> Fixture {
            let config = crate::load::parse_config(CONFIG.as_bytes()).expect("the test config");
            let policies: Vec<Policy> = CATALOGS
                .iter()
                .map(|text| {
                    let catalog = crate::load::parse_catalog(text.as_bytes()).expect("a test catalog");
                    crate::policy::build(&config, &[("catalog/main.yaml".into(), catalog)])
                        .expect("a test policy")
                })
                .collect();
            let entry = |id: String, kind: EntryKind| Some(TreeEntry { id: ObjectId(id), kind });
            let mut commits = Vec::new();
            let mut parsed = BTreeMap::new();
            let mut unreviewed = BTreeSet::new();
            let mut versions = Vec::new();
            let mut add = |commits: &mut Vec<CommitRecord>, message: String, changes: Vec<PathChange>| {
                let position = commits.len();
                if let Some(&(_, which, policy_message)) =
                    POLICY_CHANGES.iter().find(|(at, _, _)| *at == position)
                {
                    let change = |path: &str, blob: String| PathChange {
                        path: path.into(),
                        before: None,
                        after: entry(blob, EntryKind::File),
                    };
                    let files: BTreeMap<String, ObjectId> = [
                        (CONFIG_PATH.to_owned(), ObjectId("config".into())),
                        ("catalog/main.yaml".to_owned(), ObjectId(format!("catalog{which}"))),
                    ]
                    .into();
                    versions.push(PolicyVersion {
                        position,
                        commit: ObjectId(format!("{position:040x}")),
                        files,
                        policy: Ok(policies[which].clone()),
                        review: review_from_message(policy_message),
                    });
                    commits.push(commit(
                        position,
                        policy_message.into(),
                        vec![
                            change(CONFIG_PATH, "config".into()),
                            change("catalog/main.yaml", format!("catalog{which}")),
                        ],
                    ));
                }
                commits.push(commit(commits.len(), message, changes));
            };
            for round in 0..3 {
                for k in 0..paths {
                    // Every path is added; a third are edited, a seventh deleted, and some of
                    // those added again.
                    let (wanted, after) = match round {
                        0 => (true, Some(0)),
                        1 if k.is_multiple_of(3) => (true, Some(1)),
                        1 if k.is_multiple_of(7) => (true, None),
                        2 if k.is_multiple_of(7) && k.is_multiple_of(2) => (true, Some(2)),
                        _ => (false, None),
                    };
                    if !wanted {
                        continue;
                    }
                    let path = format!("requests/team{}/r{k:04}.yaml", k % 10);
                    let blob = format!("blob-{k}-{round}");
                    let kind =
                        if k.is_multiple_of(19) && round == 0 { EntryKind::Symlink } else { EntryKind::File };
                    if let Some(edit) = after {
                        let file = request(k, edit);
                        let rejection = Rejection {
                            request: String::new(),
                            code: Code::InvalidYaml,
                            message: "not YAML".into(),
                            field: None,
                            line: Some(1),
                            column: Some(1),
                        };
                        parsed.insert(
                            ObjectId(blob.clone()),
                            if k.is_multiple_of(17) { Err(rejection) } else { Ok(file) },
                        );
                    }
                    let requester = format!("u{}", k % 37);
                    let approver = match k % 5 {
                        0 => requester.clone(),
                        _ if k % 4 == 2 => "erin".into(),
                        _ => "carol".into(),
                    };
                    let message = if k.is_multiple_of(13) {
                        format!("Break the glass\n\nProposed-by: {requester}")
                    } else {
                        format!("Request {k}\n\nProposed-by: {requester}\nApproved-by: {approver}")
                    };
                    if k.is_multiple_of(23) {
                        unreviewed.insert(commits.len());
                    }
                    let change =
                        PathChange { path, before: None, after: after.and_then(|_| entry(blob, kind)) };
                    add(&mut commits, message, vec![change]);
                }
            }
            let index = HistoryIndex::build(&commits);
            let reviews = commits
                .iter()
                .enumerate()
                .filter(|(position, _)| !unreviewed.contains(position))
                .map(|(_, commit)| (commit.id.clone(), review_from_message(&commit.message)))
                .collect();
            let teams = TeamMembers::new();
            let trust = crate::policy::trust_chain(&versions, &teams);
            let current = policies[3].clone();
            let now = t0() + Duration::hours(paths as i64 + 400);
            Fixture { commits, index, reviews, parsed, versions, trust, current, teams, now }
        }

        fn inputs(&self) -> Inputs<'_> {
            Inputs {
                commits: &self.commits,
                index: &self.index,
                reviews: &self.reviews,
                parsed: &self.parsed,
                policy_versions: &self.versions,
                trust: &self.trust,
                current: &self.current,
                teams: &self.teams,
                org_members: None,
                now: self.now,
            }
        }
    }

    #[test]
    fn the_evaluation_does_not_depend_on_the_number_of_threads() {
        let fixture = Fixture::new(900);
        let inputs = fixture.inputs();
        assert_eq!(
            fixture.trust.decisions.iter().filter(|trust| matches!(trust, Trust::Untrusted(_))).count(),
            1,
            "the fixture has one untrusted policy change"
        );
        let sequential = evaluate_with_threads(inputs, 1);
        // The fixture reaches what merging must get right.
        assert!(sequential.live.len() > 700);
        assert!(sequential.rejected.len() > 100);
        assert!(sequential.desired.len() > 10);
        assert!(sequential.desired.values().any(|evidence| evidence.len() > 1));
        assert!(sequential.inventory.values().any(|paths| paths.len() > 10));
        assert!(sequential.inventory.values().flat_map(BTreeMap::values).any(|time_up| *time_up));
        assert!(sequential.inventory.values().flat_map(BTreeMap::values).any(|time_up| !*time_up));
        for wanted in [PathStatus::Deleted, PathStatus::Rejected] {
            assert!(sequential.path_status.values().any(|status| *status == wanted), "no {wanted:?} path");
        }
        assert!(sequential.path_status.values().any(|status| matches!(status, PathStatus::Approved { .. })));
        assert!(!sequential.policy_refused);

        let paths: Vec<PathVersions<'_>> = fixture
            .index
            .request_versions
            .iter()
            .map(|(path, versions)| (path, versions.as_slice()))
            .collect();
        for threads in [2, 3, 4, 7] {
            assert_eq!(split(&paths, threads).len(), threads, "{threads} chunks really run");
            assert!(
                evaluate_with_threads(inputs, threads) == sequential,
                "{threads} threads differ from one"
            );
        }
        assert!(evaluate(inputs) == sequential);
    }

    #[test]
    fn chunks_cover_every_path_once_in_order() {
        let fixture = Fixture::new(60);
        let paths: Vec<PathVersions<'_>> = fixture
            .index
            .request_versions
            .iter()
            .map(|(path, versions)| (path, versions.as_slice()))
            .collect();
        for parts in 0..=70 {
            let chunks = split(&paths, parts);
            assert!(chunks.len() <= parts.max(1));
            assert!(chunks.iter().all(|chunk| !chunk.is_empty()));
            let joined: Vec<&String> =
                chunks.iter().flat_map(|chunk| chunk.iter().map(|(path, _)| *path)).collect();
            assert_eq!(joined, paths.iter().map(|(path, _)| *path).collect::<Vec<_>>());
        }
        assert!(split(&[], 4).is_empty());
    }
}
