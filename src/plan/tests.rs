//! Unit tests for the plan: revocation reasons, modes, one-role resources and guards.

use chrono::{TimeZone, Utc};

use super::*;
use crate::model::ObjectId;

fn tuple(resource: &str, role: &str, subject: &str) -> Tuple {
    Tuple { resource: ResourceId::parse(resource).unwrap(), role: role.into(), subject: subject.into() }
}

fn evidence(request: &str, day: u32, break_glass: bool) -> Evidence {
    Evidence {
        request: request.into(),
        blob: ObjectId("b".into()),
        change_commit: ObjectId("c".into()),
        policy_commit: None,
        pr_number: None,
        pr_url: None,
        requester: "alice".into(),
        approvers: vec!["carol".into()],
        justification: "why".into(),
        ticket: None,
        merged_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        expires: Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap(),
        break_glass,
    }
}

#[derive(Default)]
struct World {
    desired: BTreeMap<Tuple, Vec<Evidence>>,
    actual: BTreeSet<Tuple>,
    managed: BTreeMap<ResourceId, Managed>,
    inventory: BTreeMap<Tuple, BTreeMap<String, bool>>,
    path_status: BTreeMap<String, PathStatus>,
}

impl World {
    fn manage(mut self, resource: &str, kind: ProviderKind, manage: ManageMode, keep: &[&str]) -> World {
        self.managed.insert(
            ResourceId::parse(resource).unwrap(),
            Managed {
                kind,
                manage,
                keep: keep.iter().map(|k| (*k).to_owned()).collect(),
                allow_empty: false,
            },
        );
        self
    }

    fn want(mut self, tuple: Tuple, evidence: Evidence) -> World {
        self.inventory.entry(tuple.clone()).or_default().insert(evidence.request.clone(), false);
        self.path_status
            .entry(evidence.request.clone())
            .and_modify(|status| {
                if let PathStatus::Approved { tuples, .. } = status {
                    tuples.insert(tuple.clone());
                }
            })
            .or_insert(PathStatus::Approved { tuples: [tuple.clone()].into() });
        self.desired.entry(tuple).or_default().push(evidence);
        self
    }

    fn has(mut self, tuple: Tuple) -> World {
        self.actual.insert(tuple);
        self
    }

    fn granted_by(mut self, tuple: Tuple, path: &str, status: PathStatus) -> World {
        self.inventory.entry(tuple).or_default().insert(path.into(), false);
        self.path_status.insert(path.into(), status);
        self
    }

    /// The latest approved version of `path` that granted `tuple` has run out of time.
    fn expired_by(mut self, tuple: Tuple, path: &str, status: PathStatus) -> World {
        self.inventory.entry(tuple).or_default().insert(path.into(), true);
        self.path_status.insert(path.into(), status);
        self
    }

    fn plan(&self, limit: RevocationLimit) -> Plan {
        compute(PlanInputs {
            desired: &self.desired,
            actual: &self.actual,
            managed: &self.managed,
            inventory: &self.inventory,
            path_status: &self.path_status,
            max_revocations: limit,
        })
    }
}

fn summary(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| {
            let from = c.from.as_deref().map(|f| format!(" from {f}")).unwrap_or_default();
            format!("{:?} {}{from} {}", c.action, c.tuple, c.reason.as_str())
        })
        .collect()
}

const LIMITLESS: RevocationLimit = RevocationLimit::Percent(100);
const GROUP: &str = "local:group/ops";

#[test]
fn grants_what_is_missing_and_keeps_what_is_there() {
    let world = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .want(tuple(GROUP, "member", "alice"), evidence("requests/a.yaml", 20, false))
        .want(tuple(GROUP, "member", "bob"), evidence("requests/b.yaml", 20, true))
        .has(tuple(GROUP, "member", "alice"));
    let plan = world.plan(LIMITLESS);
    assert_eq!(summary(&plan), ["Grant local:group/ops member bob break-glass"]);
    assert_eq!(plan.changes[0].request.as_deref(), Some("requests/b.yaml"));
    assert!(plan.drift.is_empty());
}

#[test]
fn the_longest_lasting_request_backs_a_shared_tuple() {
    let shared = tuple(GROUP, "member", "alice");
    let world = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .want(shared.clone(), evidence("requests/short.yaml", 5, false))
        .want(shared, evidence("requests/long.yaml", 25, false));
    let plan = world.plan(LIMITLESS);
    assert_eq!(plan.changes[0].request.as_deref(), Some("requests/long.yaml"));
}

#[test]
fn revocation_reasons_follow_the_designed_order() {
    let expired = tuple(GROUP, "member", "exp");
    let removed = tuple(GROUP, "member", "rem");
    let rejected = tuple(GROUP, "member", "rej");
    let both = tuple(GROUP, "member", "both");
    let world = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .has(expired.clone())
        .has(removed.clone())
        .has(rejected.clone())
        .has(both.clone())
        .expired_by(expired.clone(), "requests/exp.yaml", PathStatus::Approved { tuples: [expired].into() })
        .granted_by(removed, "requests/rem.yaml", PathStatus::Deleted)
        .granted_by(rejected, "requests/rej.yaml", PathStatus::Rejected)
        // Granted by a rejected file and by a deleted one: request-removed comes first.
        .granted_by(both.clone(), "requests/bad.yaml", PathStatus::Rejected)
        .granted_by(both, "requests/gone.yaml", PathStatus::Deleted);
    let plan = world.plan(LIMITLESS);
    assert_eq!(
        summary(&plan),
        [
            "Revoke local:group/ops member both request-removed",
            "Revoke local:group/ops member exp expired",
            "Revoke local:group/ops member rej not-approved",
            "Revoke local:group/ops member rem request-removed",
        ]
    );
}

#[test]
fn an_approved_edit_that_drops_a_tuple_removes_it() {
    let dropped = tuple(GROUP, "admin", "alice");
    let kept = tuple(GROUP, "member", "alice");
    let world = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .want(kept.clone(), evidence("requests/a.yaml", 20, false))
        .has(kept)
        .has(dropped.clone())
        .granted_by(dropped, "requests/a.yaml", PathStatus::Approved { tuples: BTreeSet::new() });
    // `granted_by` replaced the status; restore what the live version wants.
    let mut world = world;
    world.path_status.insert(
        "requests/a.yaml".into(),
        PathStatus::Approved { tuples: [tuple(GROUP, "member", "alice")].into() },
    );
    assert_eq!(summary(&world.plan(LIMITLESS)), ["Revoke local:group/ops admin alice request-removed"]);
}

#[test]
fn additive_mode_leaves_unknown_grants_as_drift_and_exclusive_revokes_them() {
    let stranger = tuple(GROUP, "member", "stranger");
    let bot = tuple(GROUP, "member", "OPS-BOT");
    let additive = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .has(stranger.clone())
        .has(bot.clone());
    let plan = additive.plan(LIMITLESS);
    assert!(plan.changes.is_empty());
    assert_eq!(plan.drift, [bot.clone(), stranger.clone()]);

    let exclusive = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &["ops-bot"])
        .has(stranger)
        .has(bot.clone())
        .want(tuple(GROUP, "member", "alice"), evidence("requests/a.yaml", 20, false));
    let plan = exclusive.plan(LIMITLESS);
    assert_eq!(
        summary(&plan),
        ["Grant local:group/ops member alice approved", "Revoke local:group/ops member stranger drift"]
    );
    assert_eq!(plan.drift, [bot], "keep accounts stay, and are reported");
}

#[test]
fn unmanaged_resources_are_never_touched() {
    let world = World::default().manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &[]).has(tuple(
        "local:group/other",
        "member",
        "x",
    ));
    let plan = world.plan(LIMITLESS);
    assert!(plan.changes.is_empty() && plan.drift.is_empty());
}

#[test]
fn one_role_resources_update_to_the_highest_wanted_role() {
    let repo = "gh:repo/api";
    let world = World::default()
        .manage(repo, ProviderKind::Github, ManageMode::Additive, &[])
        .want(tuple(repo, "push", "alice"), evidence("requests/a.yaml", 20, false))
        .want(tuple(repo, "admin", "alice"), evidence("requests/b.yaml", 10, false))
        .want(tuple(repo, "pull", "bob"), evidence("requests/c.yaml", 20, false))
        .has(tuple(repo, "push", "alice"))
        .has(tuple(repo, "pull", "bob"));
    let plan = world.plan(LIMITLESS);
    assert_eq!(summary(&plan), ["Update gh:repo/api admin alice from push approved"]);
    assert_eq!(plan.changes[0].request.as_deref(), Some("requests/b.yaml"));
}

#[test]
fn the_revocation_guard_counts_only_not_approved_and_drift() {
    let mut world = World::default().manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &[]);
    for name in ["a", "b", "c", "d"] {
        world = world.has(tuple(GROUP, "member", name));
    }
    world = world.want(tuple(GROUP, "member", "a"), evidence("requests/a.yaml", 20, false));
    // b expired (not counted), c and d are drift (counted): 2 of 4 is 50%.
    world = world.expired_by(
        tuple(GROUP, "member", "b"),
        "requests/b.yaml",
        PathStatus::Approved { tuples: [tuple(GROUP, "member", "b")].into() },
    );
    assert!(world.plan(RevocationLimit::Percent(50)).guards.is_empty(), "exactly at the limit is allowed");
    let tripped = world.plan(RevocationLimit::Percent(49)).guards;
    assert_eq!(tripped.len(), 2, "per resource and overall: {tripped:?}");
    assert!(tripped.iter().all(|g| g.guard == "max-revocations"));
    assert!(world.plan(RevocationLimit::Count(2)).guards.is_empty());
    assert_eq!(world.plan(RevocationLimit::Count(1)).guards.len(), 1);
}

#[test]
fn the_empty_resource_guard_needs_a_counted_revocation() {
    let only = tuple(GROUP, "member", "a");
    let drift =
        World::default().manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &[]).has(only.clone());
    let guards = drift.plan(LIMITLESS).guards;
    assert_eq!(guards.iter().map(|g| g.guard).collect::<Vec<_>>(), ["empty-resource"]);

    let mut allowed =
        World::default().manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &[]).has(only.clone());
    allowed.managed.values_mut().for_each(|m| m.allow_empty = true);
    assert!(allowed.plan(LIMITLESS).guards.is_empty());

    let expired = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Additive, &[])
        .has(only.clone())
        .expired_by(only.clone(), "requests/a.yaml", PathStatus::Approved { tuples: [only].into() });
    assert!(expired.plan(LIMITLESS).guards.is_empty(), "expiry may empty a resource");
}

#[test]
fn changes_are_sorted() {
    let world = World::default()
        .manage(GROUP, ProviderKind::File, ManageMode::Exclusive, &[])
        .manage("local:group/abc", ProviderKind::File, ManageMode::Additive, &[])
        .want(tuple(GROUP, "member", "zed"), evidence("requests/z.yaml", 20, false))
        .want(tuple("local:group/abc", "member", "amy"), evidence("requests/a.yaml", 20, false))
        .has(tuple(GROUP, "member", "bob"))
        .has(tuple(GROUP, "member", "carl"));
    let plan = world.plan(LIMITLESS);
    let subjects: Vec<&str> = plan.changes.iter().map(|c| c.tuple.subject.as_str()).collect();
    assert_eq!(subjects, ["amy", "bob", "carl", "zed"]);
}
