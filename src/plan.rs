//! The plan: the typed, sorted difference between desired and actual grants,
//! each change with its reason, plus the drift left in place and the guards
//! that would trip (rules 9 and 11).
//!
//! [`compute`] is pure. `apply` executes exactly the [`Plan`] it returns and
//! never recomputes one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::desired::PathStatus;
use crate::model::{Evidence, ProviderKind, ResourceId, Tuple};
use crate::policy::RevocationLimit;
use crate::wire::ManageMode;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Give a subject a role.
    Grant,
    /// Change the role of a subject on a one-role-per-subject resource.
    Update,
    /// Take a role away.
    Revoke,
}

/// Why a change is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// An approved request wants it.
    Approved,
    /// A break-glass request wants it (rule 12).
    BreakGlass,
    /// Its request's time is up.
    Expired,
    /// The file was deleted, or an approved edit dropped the tuple.
    RequestRemoved,
    /// The file's current version is rejected.
    NotApproved,
    /// No request backs it, and the resource is exclusive.
    Drift,
}

impl Reason {
    /// The kebab-case name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Approved => "approved",
            Reason::BreakGlass => "break-glass",
            Reason::Expired => "expired",
            Reason::RequestRemoved => "request-removed",
            Reason::NotApproved => "not-approved",
            Reason::Drift => "drift",
        }
    }

    /// Whether the safety guards count this revocation (rule 11).
    pub fn is_counted(self) -> bool {
        matches!(self, Reason::NotApproved | Reason::Drift)
    }
}

/// One change to one target system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Grant, update or revoke.
    pub action: Action,
    /// The tuple as it should be after the change (for a revoke: as it is now).
    #[serde(flatten)]
    pub tuple: Tuple,
    /// For an update: the role the subject holds now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Why.
    pub reason: Reason,
    /// The request file that explains it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// For grants and updates: the evidence of the request that wants it.
    #[serde(skip)]
    pub evidence: Option<Evidence>,
}

/// A guard that stops `apply` (rule 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardTrip {
    /// `max-revocations` or `empty-resource`.
    pub guard: &'static str,
    /// The resource, or none for the overall count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceId>,
    /// What would happen.
    pub message: String,
}

/// How tenure manages one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    /// The kind of its provider.
    pub kind: ProviderKind,
    /// Additive or exclusive.
    pub manage: ManageMode,
    /// Accounts never revoked.
    pub keep: Vec<String>,
    /// Whether the run may leave it empty.
    pub allow_empty: bool,
}

/// The inputs of a plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    /// Desired tuples with their evidence.
    pub desired: &'a BTreeMap<Tuple, Vec<Evidence>>,
    /// Actual tuples on the managed resources.
    pub actual: &'a BTreeSet<Tuple>,
    /// The managed resources.
    pub managed: &'a BTreeMap<ResourceId, Managed>,
    /// What approved versions ever granted, by tuple: the paths, and whether the time of the
    /// latest approved version of each path that granted the tuple is up.
    pub inventory: &'a BTreeMap<Tuple, BTreeMap<String, bool>>,
    /// What became of each path of the inventory.
    pub path_status: &'a BTreeMap<String, PathStatus>,
    /// `safety.max_revocations`.
    pub max_revocations: RevocationLimit,
}

/// The plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Changes, sorted by resource, subject, role and action.
    pub changes: Vec<Change>,
    /// Actual grants that no live approved request backs and that the plan leaves in place.
    pub drift: Vec<Tuple>,
    /// Guards that would stop `apply`.
    pub guards: Vec<GuardTrip>,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Computes the plan.
pub fn compute(inputs: PlanInputs<'_>) -> Plan {
    let mut plan = Plan::default();
    for (resource, managed) in inputs.managed {
        let desired: Vec<(&Tuple, &Vec<Evidence>)> = inputs
            .desired
            .range(range_of(resource))
            .take_while(|(tuple, _)| &tuple.resource == resource)
            .collect();
        let actual: Vec<&Tuple> =
            inputs.actual.range(range_of(resource)).take_while(|tuple| &tuple.resource == resource).collect();
        if managed.kind.one_role_per_subject() {
            plan_one_role(inputs, managed, &desired, &actual, &mut plan);
        } else {
            plan_every_role(inputs, managed, &desired, &actual, &mut plan);
        }
    }
    plan.changes.sort_by(|a, b| {
        (&a.tuple.resource, &a.tuple.subject, &a.tuple.role, a.action).cmp(&(
            &b.tuple.resource,
            &b.tuple.subject,
            &b.tuple.role,
            b.action,
        ))
    });
    plan.drift.sort();
    plan.guards = guards(inputs, &plan.changes);
    plan
}

/// All tuples of a resource sort together, from the tuple with the smallest role.
fn range_of(resource: &ResourceId) -> std::ops::RangeFrom<Tuple> {
    Tuple { resource: resource.clone(), role: String::new(), subject: String::new() }..
}

fn plan_every_role(
    inputs: PlanInputs<'_>,
    managed: &Managed,
    desired: &[(&Tuple, &Vec<Evidence>)],
    actual: &[&Tuple],
    plan: &mut Plan,
) {
    let actual_set: BTreeSet<&Tuple> = actual.iter().copied().collect();
    for (tuple, evidence) in desired {
        if !actual_set.contains(tuple) {
            plan.changes.push(grant(tuple, evidence, None));
        }
    }
    let desired_set: BTreeSet<&Tuple> = desired.iter().map(|(tuple, _)| *tuple).collect();
    for tuple in actual {
        if !desired_set.contains(tuple) {
            unwanted(inputs, managed, tuple, plan);
        }
    }
}

fn plan_one_role(
    inputs: PlanInputs<'_>,
    managed: &Managed,
    desired: &[(&Tuple, &Vec<Evidence>)],
    actual: &[&Tuple],
    plan: &mut Plan,
) {
    // The highest role that any live request wants wins: one role per subject on GitHub.
    let mut wanted: BTreeMap<&str, (&Tuple, &Vec<Evidence>)> = BTreeMap::new();
    for (tuple, evidence) in desired {
        let rank = |t: &Tuple| managed.kind.role_rank(&t.resource, &t.role);
        let slot = wanted.entry(tuple.subject.as_str()).or_insert((tuple, evidence));
        if rank(tuple) > rank(slot.0) {
            *slot = (tuple, evidence);
        }
    }
    let mut held: BTreeMap<&str, Vec<&Tuple>> = BTreeMap::new();
    for tuple in actual {
        held.entry(tuple.subject.as_str()).or_default().push(tuple);
    }
    for (subject, (tuple, evidence)) in &wanted {
        match held.get(subject).map(Vec::as_slice) {
            None | Some([]) => plan.changes.push(grant(tuple, evidence, None)),
            Some([current]) if current.role == tuple.role => {}
            Some([current]) => plan.changes.push(grant(tuple, evidence, Some(current.role.clone()))),
            // A one-role system reporting several roles: converge on the wanted one.
            Some(several) => {
                for current in several.iter().filter(|current| current.role != tuple.role) {
                    unwanted(inputs, managed, current, plan);
                }
                if !several.iter().any(|current| current.role == tuple.role) {
                    plan.changes.push(grant(tuple, evidence, None));
                }
            }
        }
    }
    for (subject, tuples) in &held {
        if !wanted.contains_key(subject) {
            for tuple in tuples {
                unwanted(inputs, managed, tuple, plan);
            }
        }
    }
}

fn grant(tuple: &Tuple, evidence: &[Evidence], from: Option<String>) -> Change {
    // The request that lasts longest is the one that keeps the tuple alive.
    let chosen =
        evidence.iter().max_by(|a, b| a.expires.cmp(&b.expires).then_with(|| b.request.cmp(&a.request)));
    let break_glass = !evidence.is_empty() && evidence.iter().all(|e| e.break_glass);
    Change {
        action: if from.is_some() { Action::Update } else { Action::Grant },
        tuple: tuple.clone(),
        from,
        reason: if break_glass { Reason::BreakGlass } else { Reason::Approved },
        request: chosen.map(|e| e.request.clone()),
        evidence: chosen.cloned(),
    }
}

/// An actual tuple that nothing desires: revoke it with the first reason that fits, or leave
/// it in place as drift.
fn unwanted(inputs: PlanInputs<'_>, managed: &Managed, tuple: &Tuple, plan: &mut Plan) {
    let kept = managed.keep.iter().any(|account| account.eq_ignore_ascii_case(&tuple.subject));
    let reason = if kept { None } else { revocation_reason(inputs, managed, tuple) };
    match reason {
        Some((reason, request)) => plan.changes.push(Change {
            action: Action::Revoke,
            tuple: tuple.clone(),
            from: None,
            reason,
            request,
            evidence: None,
        }),
        None => plan.drift.push(tuple.clone()),
    }
}

fn revocation_reason(
    inputs: PlanInputs<'_>,
    managed: &Managed,
    tuple: &Tuple,
) -> Option<(Reason, Option<String>)> {
    let paths = inputs.inventory.get(tuple);
    // The access ends because its approved time ran out, whatever became of the file since:
    // an unreviewed extension or a later clean-up does not change why it ends.
    let expired = paths.into_iter().flatten().find(|(_, time_up)| **time_up).map(|(path, _)| path);
    let statuses = || {
        paths
            .into_iter()
            .flatten()
            .filter_map(|(path, _)| inputs.path_status.get(path).map(|status| (path, status)))
    };
    let removed = || {
        statuses().find(|(_, status)| match status {
            PathStatus::Deleted => true,
            PathStatus::Approved { tuples } => !tuples.contains(tuple),
            PathStatus::Rejected => false,
        })
    };
    let rejected = || statuses().find(|(_, status)| matches!(status, PathStatus::Rejected));
    if let Some(path) = expired {
        Some((Reason::Expired, Some(path.clone())))
    } else if let Some((path, _)) = removed() {
        Some((Reason::RequestRemoved, Some(path.clone())))
    } else if let Some((path, _)) = rejected() {
        Some((Reason::NotApproved, Some(path.clone())))
    } else if managed.manage == ManageMode::Exclusive {
        Some((Reason::Drift, None))
    } else {
        None
    }
}

fn guards(inputs: PlanInputs<'_>, changes: &[Change]) -> Vec<GuardTrip> {
    let mut trips = Vec::new();
    let mut counted_by_resource: BTreeMap<&ResourceId, u64> = BTreeMap::new();
    for change in
        changes.iter().filter(|change| change.action == Action::Revoke && change.reason.is_counted())
    {
        *counted_by_resource.entry(&change.tuple.resource).or_default() += 1;
    }
    let mut actual_by_resource: BTreeMap<&ResourceId, u64> = BTreeMap::new();
    for tuple in inputs.actual.iter().filter(|tuple| inputs.managed.contains_key(&tuple.resource)) {
        *actual_by_resource.entry(&tuple.resource).or_default() += 1;
    }
    let total_counted: u64 = counted_by_resource.values().sum();
    let total_actual: u64 = actual_by_resource.values().sum();

    if let RevocationLimit::Percent(percent) = inputs.max_revocations {
        for (resource, counted) in &counted_by_resource {
            let actual = actual_by_resource.get(resource).copied().unwrap_or(0);
            if exceeds_percent(*counted, actual, percent) {
                trips.push(GuardTrip {
                    guard: "max-revocations",
                    resource: Some((*resource).clone()),
                    message: format!(
                        "{counted} of {actual} grants on {resource} would be revoked as not-approved or drift, \
                         more than max_revocations ({percent}%)"
                    ),
                });
            }
        }
    }
    let overall_trips = match inputs.max_revocations {
        RevocationLimit::Percent(percent) => exceeds_percent(total_counted, total_actual, percent),
        RevocationLimit::Count(limit) => total_counted > limit,
    };
    if overall_trips {
        let limit = match inputs.max_revocations {
            RevocationLimit::Percent(percent) => format!("{percent}% of {total_actual} grants"),
            RevocationLimit::Count(limit) => limit.to_string(),
        };
        trips.push(GuardTrip {
            guard: "max-revocations",
            resource: None,
            message: format!(
                "{total_counted} revocations as not-approved or drift in all, more than max_revocations ({limit})"
            ),
        });
    }

    for (resource, actual) in &actual_by_resource {
        let Some(managed) = inputs.managed.get(*resource) else { continue };
        if managed.allow_empty || *actual == 0 || !counted_by_resource.contains_key(resource) {
            continue;
        }
        let on_resource = changes.iter().filter(|change| &change.tuple.resource == *resource);
        let revoked = on_resource.clone().filter(|change| change.action == Action::Revoke).count() as u64;
        let added = on_resource.filter(|change| change.action == Action::Grant).count();
        if revoked >= *actual && added == 0 {
            trips.push(GuardTrip {
                guard: "empty-resource",
                resource: Some((*resource).clone()),
                message: format!(
                    "{resource} would be left with no grants at all; set `allow_empty: true` in its catalog entry \
                     if that is intended"
                ),
            });
        }
    }
    trips
}

/// `counted > percent% of actual`, in integers.
fn exceeds_percent(counted: u64, actual: u64, percent: u32) -> bool {
    u128::from(counted) * 100 > u128::from(actual) * u128::from(percent)
}

#[cfg(test)]
mod tests;
