//! Properties of the pure core, over generated inputs (proptest).
//!
//! The plan: applied to the actual state, it leaves every managed resource holding exactly the
//! desired grants plus the drift it reports; a plan computed right after is empty; it never
//! touches an unmanaged resource, a `keep` account, or (in additive mode) a tuple that no
//! approved request ever granted. Desired state: an expired grant is never desired, and a
//! valid, unexpired one always is, judged by `desired::evaluate` on generated histories with
//! generated merge times, expiries and "now"s. Case counts are modest so the suite stays fast.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use tenure::desired::{self, Inputs, PathStatus};
use tenure::forge::TeamMembers;
use tenure::forge::git::review_from_message;
use tenure::history::HistoryIndex;
use tenure::load;
use tenure::model::{
    CommitRecord, EntryKind, Evidence, ObjectId, PathChange, ProviderKind, ResourceId, TreeEntry, Tuple,
};
use tenure::plan::{self, Action, Managed, Plan, PlanInputs, Reason};
use tenure::policy::{self, PolicyVersion, RevocationLimit};
use tenure::wire::{GrantEntry, ManageMode, RequestFile};

// ---------------------------------------------------------------------------------------------
// The plan.

/// Managed resources: two with any-role providers, two with one role per subject (GitHub).
const RESOURCES: [(&str, ProviderKind); 4] = [
    ("local:group/a", ProviderKind::File),
    ("local:group/b", ProviderKind::File),
    ("gh:team/c", ProviderKind::Github),
    ("gh:team/d", ProviderKind::Github),
];
/// A resource that tenure does not manage, whose grants sit in the same actual state.
const UNMANAGED: &str = "local:group/elsewhere";
const SUBJECTS: [&str; 5] = ["s0", "s1", "s2", "s3", "keeper"];
const PATHS: [&str; 3] = ["requests/p0.yaml", "requests/p1.yaml", "requests/p2.yaml"];

fn roles(kind: ProviderKind) -> [&'static str; 2] {
    match kind {
        ProviderKind::Github => ["member", "maintainer"],
        _ => ["member", "admin"],
    }
}

fn id(text: &str) -> ResourceId {
    ResourceId::parse(text).expect("a valid test resource id")
}

/// Every tuple the generators may use: each resource, role and subject.
fn universe() -> Vec<Tuple> {
    let mut all = Vec::new();
    for (resource, kind) in RESOURCES.iter().copied().chain([(UNMANAGED, ProviderKind::File)]) {
        for role in roles(kind) {
            for subject in SUBJECTS {
                all.push(Tuple {
                    resource: id(resource),
                    role: role.to_owned(),
                    subject: subject.to_owned(),
                });
            }
        }
    }
    all
}

fn evidence(path: &str) -> Evidence {
    let at = |day| Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).single().expect("a fixed time");
    Evidence {
        request: path.to_owned(),
        blob: ObjectId("b".into()),
        change_commit: ObjectId("c".into()),
        policy_commit: None,
        pr_number: None,
        pr_url: None,
        requester: "alice".into(),
        approvers: vec!["carol".into()],
        justification: "why".into(),
        ticket: None,
        merged_at: at(1),
        expires: at(20),
        break_glass: false,
    }
}

/// One generated world for the planner.
#[derive(Debug, Clone)]
struct World {
    managed: BTreeMap<ResourceId, Managed>,
    desired: BTreeMap<Tuple, Vec<Evidence>>,
    actual: BTreeSet<Tuple>,
    inventory: BTreeMap<Tuple, BTreeMap<String, bool>>,
    path_status: BTreeMap<String, PathStatus>,
}

impl World {
    fn plan(&self, actual: &BTreeSet<Tuple>, limit: RevocationLimit) -> Plan {
        plan::compute(PlanInputs {
            desired: &self.desired,
            actual,
            managed: &self.managed,
            inventory: &self.inventory,
            path_status: &self.path_status,
            max_revocations: limit,
        })
    }

    fn is_managed(&self, tuple: &Tuple) -> bool {
        self.managed.contains_key(&tuple.resource)
    }

    /// The desired tuples that the plan must make hold: on one-role resources, only the
    /// highest role that each subject is wanted in.
    fn effective_desired(&self) -> BTreeSet<Tuple> {
        let mut out = BTreeSet::new();
        let mut top: BTreeMap<(ResourceId, String), &Tuple> = BTreeMap::new();
        for tuple in self.desired.keys() {
            let Some(managed) = self.managed.get(&tuple.resource) else { continue };
            if !managed.kind.one_role_per_subject() {
                out.insert(tuple.clone());
                continue;
            }
            let rank = |t: &Tuple| managed.kind.role_rank(&t.resource, &t.role);
            let slot = top.entry((tuple.resource.clone(), tuple.subject.clone())).or_insert(tuple);
            if rank(tuple) > rank(slot) {
                *slot = tuple;
            }
        }
        out.extend(top.into_values().cloned());
        out
    }
}

/// Applies a plan the way a provider would: a grant adds, a revoke removes, an update swaps.
fn apply(actual: &BTreeSet<Tuple>, plan: &Plan) -> BTreeSet<Tuple> {
    let mut after = actual.clone();
    for change in &plan.changes {
        match change.action {
            Action::Grant => {
                after.insert(change.tuple.clone());
            }
            Action::Revoke => {
                after.remove(&change.tuple);
            }
            Action::Update => {
                let from = change.from.clone().expect("an update says what it replaces");
                after.remove(&Tuple { role: from, ..change.tuple.clone() });
                after.insert(change.tuple.clone());
            }
        }
    }
    after
}

fn status_strategy() -> impl Strategy<Value = PathStatus> {
    prop_oneof![
        Just(PathStatus::Deleted),
        Just(PathStatus::Rejected),
        proptest::sample::subsequence(universe(), 0..6)
            .prop_map(|tuples| PathStatus::Approved { tuples: tuples.into_iter().collect() }),
    ]
}

fn world_strategy() -> impl Strategy<Value = World> {
    let all = universe();
    (
        proptest::collection::vec((any::<bool>(), any::<bool>()), RESOURCES.len()),
        proptest::sample::subsequence(all.clone(), 0..12),
        proptest::collection::vec(0..PATHS.len(), 12),
        proptest::sample::subsequence(all.clone(), 0..16),
        proptest::collection::vec((proptest::sample::select(all), 0..PATHS.len(), any::<bool>()), 0..12),
        proptest::collection::vec(status_strategy(), PATHS.len()),
    )
        .prop_map(|(modes, desired, desired_paths, actual, inventory, statuses)| {
            let mut world = World {
                managed: BTreeMap::new(),
                desired: BTreeMap::new(),
                actual: actual.into_iter().collect(),
                inventory: BTreeMap::new(),
                path_status: BTreeMap::new(),
            };
            for ((resource, kind), (exclusive, keeps)) in RESOURCES.iter().zip(modes) {
                world.managed.insert(
                    id(resource),
                    Managed {
                        kind: *kind,
                        manage: if exclusive { ManageMode::Exclusive } else { ManageMode::Additive },
                        keep: if keeps { vec!["KEEPER".to_owned()] } else { Vec::new() },
                        allow_empty: false,
                    },
                );
            }
            for (path, status) in PATHS.iter().zip(statuses) {
                world.path_status.insert((*path).to_owned(), status);
            }
            for (tuple, path, time_up) in inventory {
                world.inventory.entry(tuple).or_default().insert(PATHS[path].to_owned(), time_up);
            }
            // What a live approved request wants is in the inventory too, as `evaluate` makes it.
            for (tuple, path) in desired.into_iter().zip(desired_paths) {
                if !world.is_managed(&tuple) {
                    continue;
                }
                let path = PATHS[path];
                world.inventory.entry(tuple.clone()).or_default().insert(path.to_owned(), false);
                world.desired.entry(tuple).or_default().push(evidence(path));
            }
            world
        })
}

fn is_kept(world: &World, tuple: &Tuple) -> bool {
    world.managed[&tuple.resource].keep.iter().any(|keep| keep.eq_ignore_ascii_case(&tuple.subject))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn applying_the_plan_converges_on_the_desired_state(world in world_strategy()) {
        let plan = world.plan(&world.actual, RevocationLimit::Percent(100));
        let after = apply(&world.actual, &plan);
        let managed_after: BTreeSet<Tuple> = after.iter().filter(|t| world.is_managed(t)).cloned().collect();
        let desired = world.effective_desired();
        let drift: BTreeSet<Tuple> = plan.drift.iter().cloned().collect();
        // Exactly what is desired, plus the drift that the plan reports and leaves in place.
        let want: BTreeSet<Tuple> = desired.union(&drift).cloned().collect();
        prop_assert_eq!(&managed_after, &want);
        prop_assert!(drift.is_subset(&world.actual), "drift is actual: {:?}", drift);
        prop_assert!(drift.is_disjoint(&desired), "drift is not desired: {:?}", drift);
        for tuple in &drift {
            // In exclusive mode only kept accounts stay; in additive mode, what tenure never granted.
            if world.managed[&tuple.resource].manage == ManageMode::Exclusive {
                prop_assert!(is_kept(&world, tuple), "exclusive drift left in place: {}", tuple);
            }
        }

        // The plan computed right after is empty, and reports the same drift.
        let again = world.plan(&after, RevocationLimit::Percent(100));
        prop_assert!(again.changes.is_empty(), "a second plan changes {:?}", again.changes);
        prop_assert_eq!(again.drift, plan.drift);
    }

    #[test]
    fn the_plan_never_leaves_its_scope(world in world_strategy()) {
        let plan = world.plan(&world.actual, RevocationLimit::Percent(100));
        let desired = world.effective_desired();
        for change in &plan.changes {
            let tuple = &change.tuple;
            prop_assert!(world.is_managed(tuple), "an unmanaged resource is touched: {:?}", change);
            let managed = &world.managed[&tuple.resource];
            match change.action {
                Action::Grant | Action::Update => {
                    prop_assert!(desired.contains(tuple), "only desired tuples are granted: {:?}", change);
                    prop_assert!(matches!(change.reason, Reason::Approved | Reason::BreakGlass));
                    if change.action == Action::Update {
                        prop_assert!(managed.kind.one_role_per_subject(), "updates only on one-role resources");
                    }
                }
                Action::Revoke => {
                    prop_assert!(world.actual.contains(tuple), "only held tuples are revoked: {:?}", change);
                    prop_assert!(!desired.contains(tuple), "a desired tuple is revoked: {:?}", change);
                    prop_assert!(!is_kept(&world, tuple), "a kept account is revoked: {:?}", change);
                    if managed.manage == ManageMode::Additive {
                        // History is the inventory: additive mode revokes only what tenure granted.
                        prop_assert!(world.inventory.contains_key(tuple), "never granted, yet revoked: {:?}", change);
                        prop_assert!(change.reason != Reason::Drift);
                    }
                    prop_assert!(
                        change.reason == Reason::Drift || change.request.is_some(),
                        "a revocation names its request: {:?}", change
                    );
                }
            }
        }
        // The actual grants on the unmanaged resource are exactly as they were.
        let after = apply(&world.actual, &plan);
        let outside = |set: &BTreeSet<Tuple>| -> BTreeSet<Tuple> {
            set.iter().filter(|t| !world.is_managed(t)).cloned().collect()
        };
        prop_assert_eq!(outside(&after), outside(&world.actual));
    }

    #[test]
    fn a_zero_revocation_limit_trips_exactly_when_something_counted_is_revoked(world in world_strategy()) {
        let plan = world.plan(&world.actual, RevocationLimit::Count(0));
        let counted = plan.changes.iter().filter(|c| c.action == Action::Revoke && c.reason.is_counted()).count();
        let tripped = plan.guards.iter().any(|g| g.guard == "max-revocations" && g.resource.is_none());
        prop_assert_eq!(tripped, counted > 0, "guards: {:?}", plan.guards);
        // The guard never changes the plan itself; apply decides whether to run it.
        prop_assert_eq!(&plan.changes, &world.plan(&world.actual, RevocationLimit::Percent(100)).changes);
    }
}

// ---------------------------------------------------------------------------------------------
// Desired state and expiry, through `desired::evaluate` on a generated history.

const CONFIG: &str = "version: 1
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  local: {kind: file, path: state/local.json}
defaults: {approvals: 1, max_duration: 90d}
";

const CATALOG: &str = "resources:
  - id: local:group/oncall
    owners: [carol]
    roles: [member]
    max_duration: 30d
  - id: local:group/billing
    owners: [carol]
    roles: [member]
";

/// How a generated request states its end.
#[derive(Debug, Clone)]
enum End {
    /// `expires:` an RFC 3339 time this many minutes from the merge (in a +02:00 offset).
    Time(i64),
    /// `expires:` a bare date this many days from the merge's day.
    Date(i64),
    /// `duration:` this many hours.
    Hours(i64),
}

#[derive(Debug, Clone)]
struct GenRequest {
    /// Minutes after the policy commit that the request was merged.
    merged_after: i64,
    /// `local:group/oncall` (30 days at most) or `local:group/billing` (90 days).
    oncall: bool,
    end: End,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).single().expect("a fixed time")
}

impl GenRequest {
    fn merged_at(&self) -> DateTime<Utc> {
        t0() + Duration::minutes(self.merged_after)
    }

    fn resource(&self) -> &'static str {
        if self.oncall { "local:group/oncall" } else { "local:group/billing" }
    }

    fn max_duration(&self) -> Duration {
        Duration::days(if self.oncall { 30 } else { 90 })
    }

    /// The oracle: when the access ends, computed here independently of tenure.
    fn expiry(&self) -> DateTime<Utc> {
        match self.end {
            End::Time(minutes) => self.merged_at() + Duration::minutes(minutes),
            End::Date(days) => {
                let day = (self.merged_at() + Duration::days(days)).date_naive();
                (day + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc()
            }
            End::Hours(hours) => self.merged_at() + Duration::hours(hours),
        }
    }

    /// Whether tenure must approve it: it ends after the merge, within max_duration.
    fn valid(&self) -> bool {
        let expiry = self.expiry();
        expiry > self.merged_at() && expiry - self.merged_at() <= self.max_duration()
    }

    fn file(&self, subject: &str) -> RequestFile {
        let (expires, duration) = match self.end {
            End::Time(minutes) => {
                let offset = chrono::FixedOffset::east_opt(2 * 3600).expect("+02:00");
                let at = (self.merged_at() + Duration::minutes(minutes)).with_timezone(&offset);
                (Some(at.to_rfc3339()), None)
            }
            End::Date(_) => (Some(self.expiry().date_naive().pred_opt().expect("a day").to_string()), None),
            End::Hours(hours) => (None, Some(format!("{hours}h"))),
        };
        RequestFile {
            requester: "alice".into(),
            subjects: vec![subject.to_owned()],
            justification: "generated".into(),
            grants: vec![GrantEntry { resource: self.resource().to_owned(), role: "member".into() }],
            expires,
            duration,
            ticket: None,
            break_glass: false,
        }
    }
}

fn request_strategy() -> impl Strategy<Value = GenRequest> {
    let end = prop_oneof![
        (-3000i64..200_000).prop_map(End::Time),
        (-3i64..100).prop_map(End::Date),
        (1i64..3000).prop_map(End::Hours),
    ];
    (1i64..100_000, any::<bool>(), end).prop_map(|(merged_after, oncall, end)| GenRequest {
        merged_after,
        oncall,
        end,
    })
}

fn entry(id: &str) -> TreeEntry {
    TreeEntry { id: ObjectId(id.to_owned()), kind: EntryKind::File }
}

fn commit(n: usize, message: &str, at: DateTime<Utc>, changes: Vec<PathChange>) -> CommitRecord {
    CommitRecord {
        id: ObjectId(format!("{n:040x}")),
        first_parent: n.checked_sub(1).map(|p| ObjectId(format!("{p:040x}"))),
        parent_count: 2,
        message: message.to_owned(),
        committed_at: at,
        author_name: "Test".into(),
        author_email: "test@example.com".into(),
        changes,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn an_expired_grant_is_never_desired_and_a_live_one_always_is(
        mut requests in proptest::collection::vec(request_strategy(), 1..6),
        now_after in 0i64..250_000,
        at_an_edge in proptest::option::of((any::<proptest::sample::Index>(), -1i64..=1)),
    ) {
        requests.sort_by_key(|request| request.merged_after);
        // Often "now" is a request's expiry itself, or a second either side: the edge that an
        // off-by-one in `now < expiry` would get wrong.
        let now = match &at_an_edge {
            Some((which, seconds)) => which.get(&requests).expiry() + Duration::seconds(*seconds),
            None => t0() + Duration::minutes(now_after),
        };
        let config = load::parse_config(CONFIG.as_bytes()).expect("the test config");
        let catalog = load::parse_catalog(CATALOG.as_bytes()).expect("the test catalog");
        let policy = policy::build(&config, &[("catalog/main.yaml".into(), catalog)]).expect("the test policy");

        let change = |path: &str, blob: &str| PathChange { path: path.to_owned(), before: None, after: Some(entry(blob)) };
        let mut commits = vec![commit(
            0,
            "Initial policy",
            t0() - Duration::days(1),
            vec![change("catalog/main.yaml", "cat"), change("tenure.yaml", "cfg")],
        )];
        let mut parsed = BTreeMap::new();
        for (n, request) in requests.iter().enumerate() {
            let path = format!("requests/r{n}.yaml");
            let blob = format!("blob{n}");
            parsed.insert(ObjectId(blob.clone()), Ok(request.file(&format!("subject-{n}"))));
            commits.push(commit(
                n + 1,
                "Add a request\n\nProposed-by: alice\nApproved-by: carol",
                request.merged_at(),
                vec![change(&path, &blob)],
            ));
        }
        let index = HistoryIndex::build(&commits);
        let reviews = commits.iter().map(|c| (c.id.clone(), review_from_message(&c.message))).collect();
        let versions = vec![PolicyVersion {
            position: 0,
            commit: commits[0].id.clone(),
            files: [("catalog/main.yaml".to_owned(), ObjectId("cat".into())), ("tenure.yaml".to_owned(), ObjectId("cfg".into()))].into(),
            policy: Ok(policy.clone()),
            review: review_from_message(&commits[0].message),
        }];
        let teams = TeamMembers::new();
        let trust = policy::trust_chain(&versions, &teams);
        let evaluation = desired::evaluate(Inputs {
            commits: &commits,
            index: &index,
            reviews: &reviews,
            parsed: &parsed,
            policy_versions: &versions,
            trust: &trust,
            current: &policy,
            teams: &teams,
            org_members: None,
            now,
        });

        for evidence in evaluation.desired.values().flatten() {
            prop_assert!(now < evidence.expires, "desired, yet expired at {} (now {})", evidence.expires, now);
        }
        for (n, request) in requests.iter().enumerate() {
            let tuple = Tuple {
                resource: id(request.resource()),
                role: "member".into(),
                subject: format!("subject-{n}"),
            };
            let live = request.valid() && now < request.expiry();
            prop_assert_eq!(
                evaluation.desired.contains_key(&tuple),
                live,
                "request {} ({:?}): valid {}, expiry {}, now {}; rejected: {:?}",
                n, request, request.valid(), request.expiry(), now, evaluation.rejected
            );
            if request.valid() {
                let judged = evaluation.live[&format!("requests/r{n}.yaml")].outcome.as_ref();
                prop_assert_eq!(judged.map(|a| a.evidence.expires).ok(), Some(request.expiry()));
                // The inventory knows when its time is up, so that expiry revokes it.
                let time_up = evaluation.inventory.get(&tuple).and_then(|paths| paths.get(&format!("requests/r{n}.yaml")));
                prop_assert_eq!(time_up, Some(&(now >= request.expiry())));
            }
        }
    }
}
