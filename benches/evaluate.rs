//! How long tenure takes beyond the history walk: parsing every request blob, judging every
//! request version, and planning against the actual state.
//!
//! Every input is built in memory and deterministically: a policy (`tenure.yaml` plus two
//! catalog files with 50 resources on a `file` provider), N request files as YAML text, and a
//! first-parent history of [`CommitRecord`]s with one merge commit per request carrying
//! `Proposed-by:`/`Approved-by:` trailers, a few edits and deletions, and one admin-approved
//! policy change. Nothing in the timed part touches git or the file system.
//!
//! Run with `cargo bench --bench evaluate`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use divan::Bencher;
use divan::counter::ItemsCount;

use tenure::desired::{self, Evaluation, Inputs, Parsed};
use tenure::forge::git::review_from_message;
use tenure::forge::{ChangeReview, TeamMembers};
use tenure::history::{HistoryIndex, blob_ids};
use tenure::load::{self, LoadError};
use tenure::model::{CommitRecord, EntryKind, ObjectId, PathChange, Rejection, ResourceId, TreeEntry, Tuple};
use tenure::plan::{self, Managed, PlanInputs};
use tenure::policy::{self, CONFIG_PATH, Policy, PolicyProblem, PolicyVersion, TrustChain, is_catalog_file};
use tenure::wire::ManageMode;

/// The request counts every benchmark runs at.
const SIZES: [usize; 2] = [1_000, 10_000];

/// Catalog resources at the root commit; the policy change adds one more.
const RESOURCES: usize = 50;
/// Owner groups; resource `r` is owned by group `r % GROUPS`.
const GROUPS: usize = 10;
/// Service identities; identity `k` is owned by group `k`.
const BOTS: usize = 5;
/// Distinct requesters.
const USERS: usize = 997;

fn main() {
    // Build and check the fixtures first, so that their summary does not interleave with
    // divan's table.
    for n in SIZES {
        fixture(n);
    }
    divan::main();
}

// ---------------------------------------------------------------------------------------------
// The synthetic repository.

/// Everything the history walk would have produced, plus what engine.rs derives from it.
struct Fixture {
    /// The first-parent history, oldest first: what `source::history` returns.
    commits: Vec<CommitRecord>,
    /// Every blob of the history by id: what `source::read_blob` returns.
    blobs: BTreeMap<ObjectId, String>,
    /// The distinct request blobs, in history order.
    request_blobs: Vec<ObjectId>,
    /// Everything beyond the walk, prepared once for the benchmarks that start later.
    prepared: Prepared,
    /// The time every decision is made at.
    now: DateTime<Utc>,
    /// The evaluation of `prepared`.
    evaluation: Evaluation,
    /// The managed resources, as `engine::State::managed` builds them.
    managed: BTreeMap<ResourceId, Managed>,
    /// The actual state: half the desired tuples, leftovers of old requests, and drift.
    actual: BTreeSet<Tuple>,
}

/// What engine.rs builds between the history walk and `desired::evaluate`.
struct Prepared {
    index: HistoryIndex,
    reviews: BTreeMap<ObjectId, ChangeReview>,
    policy_versions: Vec<PolicyVersion>,
    trust: TrustChain,
    current: Policy,
    teams: TeamMembers,
    parsed: BTreeMap<ObjectId, Parsed>,
}

fn fixture(n: usize) -> &'static Fixture {
    static SMALL: OnceLock<Fixture> = OnceLock::new();
    static LARGE: OnceLock<Fixture> = OnceLock::new();
    match n {
        1_000 => SMALL.get_or_init(|| Fixture::new(n)),
        10_000 => LARGE.get_or_init(|| Fixture::new(n)),
        _ => unreachable!("add a OnceLock for {n}"),
    }
}

fn login_of_owner(group: usize, member: usize) -> String {
    format!("owner-{group}-{member}")
}

fn user(index: usize) -> String {
    format!("user-{}", index % USERS)
}

fn resource_name(resource: usize) -> String {
    format!("local:group/team-{resource:02}")
}

/// Approvals needed for resource `r`: two for every fifth resource, one otherwise.
fn approvals_of(resource: usize) -> usize {
    if resource % 5 == 4 { 2 } else { 1 }
}

fn config_yaml() -> String {
    "# tenure configuration for the benchmark\n\
     version: 1\n\
     forge: { kind: git }\n\
     branch: main\n\
     admins: [root-admin, group:security]\n\
     providers:\n  local: { kind: file, path: state/local.json }\n\
     defaults: { approvals: 1, max_duration: 90d }\n\
     safety: { max_revocations: 25% }\n"
        .to_owned()
}

fn resources_yaml(count: usize) -> String {
    let mut text = String::from("resources:\n");
    for r in 0..count {
        let _ = writeln!(text, "  - id: {}", resource_name(r));
        let _ = writeln!(text, "    description: Team {r} membership");
        let _ = writeln!(text, "    owners: [\"group:owners-{}\", lead-{r}]", r % GROUPS);
        let _ = writeln!(text, "    roles: [member, admin]");
        if approvals_of(r) != 1 {
            let _ = writeln!(text, "    approvals: {}", approvals_of(r));
        }
        if r % 3 == 0 {
            let _ = writeln!(text, "    max_duration: 30d");
        }
        if r % 10 == 9 {
            let _ = writeln!(text, "    manage: exclusive\n    keep: [ops-bot]");
        }
    }
    text.push_str("groups:\n  security: [sec-0, sec-1]\n");
    for g in 0..GROUPS {
        let members: Vec<String> = (0..3).map(|k| login_of_owner(g, k)).collect();
        let _ = writeln!(text, "  owners-{g}: [{}]", members.join(", "));
    }
    text
}

fn identities_yaml() -> String {
    let mut text = String::from("identities:\n");
    for k in 0..BOTS {
        let _ = writeln!(
            text,
            "  - id: deploy-bot-{k}\n    kind: service\n    owners: [\"group:owners-{k}\"]\n    max_duration: 30d"
        );
    }
    text
}

/// A request and who must approve it.
struct Request {
    text: String,
    requester: String,
    approvers: Vec<String>,
}

/// Request `i`, merged at `merged`. `revision` makes an edited version differ.
fn request(i: usize, merged: DateTime<Utc>, revision: usize) -> Request {
    let requester = user(i);
    let first = (i * 7) % RESOURCES;
    let mut grants = vec![(first, if i.is_multiple_of(9) { "admin" } else { "member" })];
    if i.is_multiple_of(3) {
        grants.push(((first + 13) % RESOURCES, "member"));
    }
    let mut subjects = vec![requester.clone()];
    if i % 4 == 1 {
        subjects.push(user(i + 500));
    }
    let bot = (i % 20 == 5).then_some(i % BOTS);
    if let Some(k) = bot {
        subjects.push(format!("deploy-bot-{k}"));
    }

    // Every owner group involved, with the largest count it must supply.
    let mut needed: BTreeMap<usize, usize> = BTreeMap::new();
    for (resource, _) in &grants {
        let slot = needed.entry(resource % GROUPS).or_default();
        *slot = (*slot).max(approvals_of(*resource));
    }
    if let Some(k) = bot {
        needed.entry(k).or_insert(1);
    }
    let mut approvers: Vec<String> = Vec::new();
    for (group, count) in needed {
        approvers.extend((0..count).map(|member| login_of_owner(group, (member + i) % 3)));
    }
    // One request in a hundred is approved by someone who owns nothing: it must be rejected.
    if i % 100 == 13 {
        approvers = vec![user(i + 1)];
    }

    let mut text = String::new();
    let _ = writeln!(text, "# yaml-language-server: $schema=../../schemas/request.schema.json");
    let _ = writeln!(text, "requester: {requester}");
    let _ = writeln!(text, "subjects: [{}]", subjects.join(", "));
    let _ = writeln!(
        text,
        "justification: \"Working on project {} for the next sprint (OPS-{}), revision {revision}\"",
        i % 37,
        1000 + i
    );
    text.push_str("grants:\n");
    for (resource, role) in &grants {
        let _ = writeln!(text, "  - {{ resource: {}, role: {role} }}", resource_name(*resource));
    }
    if i.is_multiple_of(25) {
        text.push_str("duration: 8h\n");
    } else if i.is_multiple_of(2) {
        let date = (merged + Duration::days(20)).date_naive();
        let _ = writeln!(text, "expires: {date}        # valid through the end of that day, UTC");
    } else {
        text.push_str("duration: 14d\n");
    }
    if i % 2 == 1 {
        let _ = writeln!(text, "ticket: OPS-{}", 1000 + i);
    }
    Request { text, requester, approvers }
}

fn request_path(i: usize) -> String {
    format!("requests/team-{:02}/req-{i:05}.yaml", (i * 7) % RESOURCES)
}

fn trailers(proposer: &str, approvers: &[String]) -> String {
    let mut text = format!("Proposed-by: {proposer}\n");
    for approver in approvers {
        let _ = writeln!(text, "Approved-by: {approver}");
    }
    text
}

/// Builds the history and the blobs it references.
struct HistoryBuilder {
    commits: Vec<CommitRecord>,
    blobs: BTreeMap<ObjectId, String>,
    request_blobs: Vec<ObjectId>,
    /// The current entry of every path, for `before`.
    tree: BTreeMap<String, TreeEntry>,
    start: DateTime<Utc>,
    next_blob: u64,
}

impl HistoryBuilder {
    fn time_of(&self, position: usize) -> DateTime<Utc> {
        self.start + Duration::minutes(position as i64)
    }

    fn blob(&mut self, text: String, is_request: bool) -> TreeEntry {
        self.next_blob += 1;
        let id = ObjectId(format!("b{:039x}", self.next_blob));
        if is_request {
            self.request_blobs.push(id.clone());
        }
        self.blobs.insert(id.clone(), text);
        TreeEntry { id, kind: EntryKind::File }
    }

    fn commit(&mut self, message: String, author: &str, writes: Vec<(String, Option<TreeEntry>)>) {
        let position = self.commits.len();
        let mut changes: Vec<PathChange> = writes
            .into_iter()
            .map(|(path, after)| {
                let before = match &after {
                    Some(entry) => self.tree.insert(path.clone(), entry.clone()),
                    None => self.tree.remove(&path),
                };
                PathChange { path, before, after }
            })
            .collect();
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        self.commits.push(CommitRecord {
            id: ObjectId(format!("c{position:039x}")),
            first_parent: position.checked_sub(1).map(|parent| ObjectId(format!("c{parent:039x}"))),
            parent_count: if position == 0 { 0 } else { 2 },
            message,
            committed_at: self.time_of(position),
            author_name: author.to_owned(),
            author_email: format!("{author}@example.com"),
            changes,
        });
    }
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let mut history = HistoryBuilder {
            commits: Vec::new(),
            blobs: BTreeMap::new(),
            request_blobs: Vec::new(),
            tree: BTreeMap::new(),
            start: Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap(),
            next_blob: 0,
        };
        let config = history.blob(config_yaml(), false);
        let catalog = history.blob(resources_yaml(RESOURCES), false);
        let identities = history.blob(identities_yaml(), false);
        history.commit(
            "Initial policy".into(),
            "root-admin",
            vec![
                (CONFIG_PATH.into(), Some(config)),
                ("catalog/resources.yaml".into(), Some(catalog)),
                ("catalog/identities.yaml".into(), Some(identities)),
            ],
        );
        for i in 0..n {
            if i == n / 2 {
                // An admin-approved policy change halfway: later requests are judged by it.
                let catalog = history.blob(resources_yaml(RESOURCES + 1), false);
                let message = format!(
                    "Add team-{RESOURCES}\n\n{}",
                    trailers(&login_of_owner(0, 0), &["root-admin".into()])
                );
                history.commit(message, "owner-0-0", vec![("catalog/resources.yaml".into(), Some(catalog))]);
            }
            let merged = history.time_of(history.commits.len());
            let Request { text, requester, approvers } = request(i, merged, 0);
            let entry = history.blob(text, true);
            let message = format!(
                "Merge pull request #{} from {requester}/req-{i}\n\nRequest access for {requester}\n\n{}",
                i + 1,
                trailers(&requester, &approvers)
            );
            history.commit(message, &requester, vec![(request_path(i), Some(entry))]);

            // One request in forty is edited later (a fresh approval), one in a hundred deleted.
            if i >= 20 && i % 40 == 7 {
                let edited = i - 20;
                let merged = history.time_of(history.commits.len());
                let Request { text, requester, approvers } = request(edited, merged, 1);
                let entry = history.blob(text, true);
                let message = format!(
                    "Merge pull request #{} from {requester}/extend-{edited}\n\nExtend access\n\n{}",
                    n + i,
                    trailers(&requester, &approvers)
                );
                history.commit(message, &requester, vec![(request_path(edited), Some(entry))]);
            }
            if i >= 30 && i % 100 == 42 {
                let removed = i - 30;
                let message = format!(
                    "Merge pull request #{} from {0}/remove-{removed}\n\nRemove finished request\n\n{}",
                    2 * n + i,
                    trailers(&user(removed), &[])
                );
                history.commit(message, &user(removed), vec![(request_path(removed), None)]);
            }
        }
        let now = history.time_of(history.commits.len()) + Duration::hours(1);
        let HistoryBuilder { commits, blobs, request_blobs, .. } = history;

        let prepared = prepare(&commits, &blobs);
        let evaluation = run_evaluation(&prepared, &commits, now);
        let managed = managed(&prepared.current, &evaluation);
        let actual = actual_state(&evaluation, &managed);
        let fixture = Fixture { commits, blobs, request_blobs, prepared, now, evaluation, managed, actual };
        fixture.check(n);
        fixture
    }

    /// The benchmark must measure the approval path, not the rejection path.
    fn check(&self, n: usize) {
        let evaluation = &self.evaluation;
        assert!(!evaluation.policy_refused, "the policy chain must be trusted: {:?}", evaluation.rejected);
        let live = evaluation.live.len();
        let approved = evaluation.live.values().filter(|judgement| judgement.outcome.is_ok()).count();
        assert!(live * 100 >= n * 95, "only {live} of {n} requests are live");
        assert!(
            approved * 100 >= live * 95,
            "only {approved} of {live} live requests are approved; first rejections: {:#?}",
            evaluation.rejected.iter().take(3).collect::<Vec<_>>()
        );
        assert!(
            evaluation.desired.len() >= n,
            "desired holds {} tuples for {n} requests",
            evaluation.desired.len()
        );
        let plan = plan::compute(self.plan_inputs());
        assert!(!plan.changes.is_empty() && !plan.drift.is_empty(), "the plan must have work to do");
        eprintln!(
            "fixture n={n}: {} commits, {} request blobs, {live} live ({approved} approved), {} desired \
             tuples, {} actual, plan: {} changes, {} drift, {} guards",
            self.commits.len(),
            self.request_blobs.len(),
            evaluation.desired.len(),
            self.actual.len(),
            plan.changes.len(),
            plan.drift.len(),
            plan.guards.len(),
        );
    }

    fn plan_inputs(&self) -> PlanInputs<'_> {
        PlanInputs {
            desired: &self.evaluation.desired,
            actual: &self.actual,
            managed: &self.managed,
            inventory: &self.evaluation.inventory,
            path_status: &self.evaluation.path_status,
            max_revocations: self.prepared.current.max_revocations,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline, as `engine::State::load` wires it, minus the history walk.

/// The policy at one snapshot, parsed from its blobs.
fn policy_at(
    files: &BTreeMap<String, TreeEntry>,
    blobs: &BTreeMap<ObjectId, String>,
) -> Result<Policy, Vec<PolicyProblem>> {
    let problem = |file: &str, error: LoadError| PolicyProblem {
        file: file.to_owned(),
        field: error.field,
        message: error.message,
    };
    let mut config = None;
    let mut catalogs = Vec::new();
    for (path, entry) in files {
        let bytes = blobs[&entry.id].as_bytes();
        if path == CONFIG_PATH {
            config = Some(load::parse_config(bytes).map_err(|error| vec![problem(path, error)])?);
        } else if is_catalog_file(path) {
            catalogs.push((
                path.clone(),
                load::parse_catalog(bytes).map_err(|error| vec![problem(path, error)])?,
            ));
        }
    }
    let config = config.ok_or_else(|| {
        vec![PolicyProblem { file: CONFIG_PATH.into(), field: None, message: "missing".into() }]
    })?;
    policy::build(&config, &catalogs)
}

/// Index, reviews, policy versions, trust chain and parsed request blobs.
fn prepare(commits: &[CommitRecord], blobs: &BTreeMap<ObjectId, String>) -> Prepared {
    let index = HistoryIndex::build(commits);
    let current = policy_at(&index.policy_at_tip(), blobs).expect("the policy at the tip is valid");
    let reviews: BTreeMap<ObjectId, ChangeReview> = commits
        .iter()
        .filter(|record| !record.changes.is_empty())
        .map(|record| (record.id.clone(), review_from_message(&record.message)))
        .collect();
    let policy_versions: Vec<PolicyVersion> = index
        .policy_snapshots
        .iter()
        .map(|snapshot| {
            let record = &commits[snapshot.position];
            PolicyVersion {
                position: snapshot.position,
                commit: record.id.clone(),
                files: blob_ids(&snapshot.files),
                policy: policy_at(&snapshot.files, blobs),
                review: reviews
                    .get(&record.id)
                    .cloned()
                    .unwrap_or_else(|| ChangeReview::not_reviewed("no review")),
            }
        })
        .collect();
    let teams = TeamMembers::new();
    let trust = policy::trust_chain(&policy_versions, &teams);
    let mut parsed: BTreeMap<ObjectId, Parsed> = BTreeMap::new();
    for versions in index.request_versions.values() {
        for entry in versions.iter().filter_map(|version| version.entry.as_ref()) {
            if matches!(entry.kind, EntryKind::File | EntryKind::Executable)
                && !parsed.contains_key(&entry.id)
            {
                let parse = load::parse_request(blobs[&entry.id].as_bytes()).map_err(Rejection::from);
                parsed.insert(entry.id.clone(), parse);
            }
        }
    }
    Prepared { index, reviews, policy_versions, trust, current, teams, parsed }
}

fn run_evaluation(prepared: &Prepared, commits: &[CommitRecord], now: DateTime<Utc>) -> Evaluation {
    desired::evaluate(Inputs {
        commits,
        index: &prepared.index,
        reviews: &prepared.reviews,
        parsed: &prepared.parsed,
        policy_versions: &prepared.policy_versions,
        trust: &prepared.trust,
        current: &prepared.current,
        teams: &prepared.teams,
        org_members: None,
        now,
    })
}

/// As `engine::State::managed`: the current catalog, and any resource once granted.
fn managed(current: &Policy, evaluation: &Evaluation) -> BTreeMap<ResourceId, Managed> {
    let mut managed = BTreeMap::new();
    for resource in current.resources.values() {
        let Some(kind) = current.provider_kind(&resource.id) else { continue };
        managed.insert(
            resource.id.clone(),
            Managed {
                kind,
                manage: resource.manage,
                keep: resource.keep.clone(),
                allow_empty: resource.allow_empty,
            },
        );
    }
    for tuple in evaluation.inventory.keys() {
        if let Some(kind) = current.provider_kind(&tuple.resource) {
            managed.entry(tuple.resource.clone()).or_insert(Managed {
                kind,
                manage: ManageMode::Additive,
                keep: Vec::new(),
                allow_empty: false,
            });
        }
    }
    managed
}

/// Half the desired tuples, every tuple that an old approved version granted and nothing
/// wants any more (expired, edited, deleted), and a few grants nobody asked for.
fn actual_state(evaluation: &Evaluation, managed: &BTreeMap<ResourceId, Managed>) -> BTreeSet<Tuple> {
    let mut actual: BTreeSet<Tuple> = evaluation.desired.keys().step_by(2).cloned().collect();
    actual.extend(
        evaluation.inventory.keys().filter(|tuple| !evaluation.desired.contains_key(*tuple)).cloned(),
    );
    for (r, resource) in managed.keys().enumerate() {
        for k in 0..(r % 4) {
            actual.insert(Tuple {
                resource: resource.clone(),
                role: "member".into(),
                subject: format!("stray-{k}"),
            });
        }
        actual.insert(Tuple { resource: resource.clone(), role: "member".into(), subject: "ops-bot".into() });
    }
    actual
}

// ---------------------------------------------------------------------------------------------
// The benchmarks.

/// `load::parse_request` over every request blob of the history.
#[divan::bench(args = SIZES, sample_count = 20)]
fn parse(bencher: Bencher, n: usize) {
    let fixture = fixture(n);
    let texts: Vec<&[u8]> = fixture.request_blobs.iter().map(|id| fixture.blobs[id].as_bytes()).collect();
    bencher.counter(ItemsCount::new(texts.len())).bench(|| {
        texts
            .iter()
            .map(|bytes| load::parse_request(divan::black_box(bytes)).map_err(Rejection::from))
            .collect::<Vec<Parsed>>()
    });
}

/// `desired::evaluate` on inputs prepared outside the timing.
#[divan::bench(args = SIZES, sample_count = 20)]
fn evaluate(bencher: Bencher, n: usize) {
    let fixture = fixture(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench(|| run_evaluation(divan::black_box(&fixture.prepared), &fixture.commits, fixture.now));
}

/// Everything beyond the history walk: the index, the reviews, the policy versions and their
/// trust, every request blob parsed, and the evaluation.
#[divan::bench(args = SIZES, sample_count = 20)]
fn parse_and_evaluate(bencher: Bencher, n: usize) {
    let fixture = fixture(n);
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let prepared = prepare(divan::black_box(&fixture.commits), &fixture.blobs);
        let evaluation = run_evaluation(&prepared, &fixture.commits, fixture.now);
        (prepared, evaluation)
    });
}

/// `plan::compute` against an actual state holding half the desired tuples plus drift.
#[divan::bench(args = SIZES, sample_count = 20)]
fn plan(bencher: Bencher, n: usize) {
    let fixture = fixture(n);
    bencher
        .counter(ItemsCount::new(fixture.evaluation.desired.len()))
        .bench(|| plan::compute(divan::black_box(fixture.plan_inputs())));
}
