//! Judging one version of a request file: every check of docs/rejection-codes.md, in order,
//! against the trusted policy at the base of its change (rules 3, 4, 5, 7, 12
//! and 13).
//!
//! [`judge`] runs every check it can, so that a rejection's message can mention
//! the later failures too, and keeps the first failure as the rejection's code.
//! It also records, for `explain`, why each approver counted or did not. Pure:
//! the caller hands it the parsed file, the review facts and the policies.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::forge::{ChangeReview, ReviewStatus, TeamMembers};
use crate::model::{Code, CommitRecord, Evidence, Login, ObjectId, Rejection, ResourceId, Tuple};
use crate::policy::{Policy, parse_duration};
use crate::wire::RequestFile;

/// Everything that a request version is judged against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The trusted policy at the first parent of the change commit (rule 5). `None` when no
    /// trusted policy existed then.
    pub base: Option<&'a Policy>,
    /// The commit of that trusted policy version.
    pub base_commit: Option<&'a ObjectId>,
    /// The policy that must still list each resource: the policy at `--rev` for the live
    /// version of a file, the base itself for older versions.
    pub current: &'a Policy,
    /// Resolved forge teams.
    pub teams: &'a TeamMembers,
    /// Members of the GitHub org, where the forge knows them (for `require_known_subjects`).
    pub org_members: Option<&'a BTreeSet<Login>>,
}

/// The change that left this version of the file.
#[derive(Debug, Clone, Copy)]
pub struct ChangeFacts<'a> {
    /// The change commit.
    pub commit: &'a CommitRecord,
    /// What the forge says about it.
    pub review: &'a ChangeReview,
    /// Whether every request file that the change leaves is a break-glass request; such a
    /// change may land without approvals (rule 2, git).
    pub only_break_glass: bool,
}

/// Why an approver counted, or did not, for one grant or identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApproverNote {
    /// The approver.
    pub login: String,
    /// What the approval was weighed for: a grant (`resource role`) or an identity.
    pub target: String,
    /// Whether it counted.
    pub counted: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_because: Option<String>,
}

/// A request version that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// What it grants: every grant for every subject.
    pub tuples: Vec<Tuple>,
    /// Its evidence.
    pub evidence: Evidence,
}

/// The verdict on one version of a request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The file.
    pub path: String,
    /// The merge time (rule 7).
    pub merged_at: DateTime<Utc>,
    /// The expiry, when it could be computed.
    pub expires: Option<DateTime<Utc>>,
    /// Approved, or the first failing check.
    pub outcome: Result<Approved, Rejection>,
    /// Every failing check, in order; the first is the rejection.
    pub failures: Vec<Rejection>,
    /// How each approval was weighed.
    pub approvers: Vec<ApproverNote>,
}

/// Collects failures in check order.
struct Failures<'a> {
    path: &'a str,
    list: Vec<Rejection>,
}

impl Failures<'_> {
    fn add(&mut self, code: Code, field: Option<String>, message: impl Into<String>) {
        self.list.push(Rejection {
            request: self.path.to_owned(),
            code,
            message: message.into(),
            field,
            line: None,
            column: None,
        });
    }

    fn has(&self, code: Code) -> bool {
        self.list.iter().any(|failure| failure.code == code)
    }
}

/// Judges one version of a request file.
///
/// `parsed` is the file as `load` parsed it, or its `invalid-yaml`/`invalid-field`
/// rejection. `blob` is the version's blob id, recorded in the evidence.
pub fn judge(
    path: &str,
    blob: &ObjectId,
    parsed: Result<&RequestFile, &Rejection>,
    change: ChangeFacts<'_>,
    context: Context<'_>,
) -> Judgement {
    let merged_at = change.review.merged_at.unwrap_or(change.commit.committed_at);
    let request = match parsed {
        Ok(request) => request,
        Err(rejection) => {
            return Judgement {
                path: path.to_owned(),
                merged_at,
                expires: None,
                outcome: Err(rejection.clone()),
                failures: vec![rejection.clone()],
                approvers: Vec::new(),
            };
        }
    };
    let mut failures = Failures { path, list: Vec::new() };

    // 2. invalid-field: what the schema cannot say.
    let requester = Login::parse(&request.requester);
    if requester.is_none() {
        failures.add(
            Code::InvalidField,
            Some("requester".into()),
            format!("`{}` is not a login (1-39 letters, digits or single inner hyphens)", request.requester),
        );
    }
    if request.justification.trim().is_empty() {
        failures.add(Code::InvalidField, Some("justification".into()), "the justification must not be empty");
    }
    if request.subjects.is_empty() {
        failures.add(Code::InvalidField, Some("subjects".into()), "at least one subject is required");
    }
    if request.grants.is_empty() {
        failures.add(Code::InvalidField, Some("grants".into()), "at least one grant is required");
    }
    let mut resources: Vec<Option<ResourceId>> = Vec::with_capacity(request.grants.len());
    let mut seen_grants = BTreeSet::new();
    for (index, grant) in request.grants.iter().enumerate() {
        let id = ResourceId::parse(&grant.resource);
        if id.is_none() {
            failures.add(
                Code::InvalidField,
                Some(format!("grants[{index}].resource")),
                format!(
                    "`{}` is not a resource id such as `gh:team/payments-oncall` or `gh:org`",
                    grant.resource.escape_debug()
                ),
            );
        }
        if !seen_grants.insert((grant.resource.as_str(), grant.role.as_str())) {
            failures.add(
                Code::InvalidField,
                Some(format!("grants[{index}]")),
                format!("`{} {}` is listed twice", grant.resource, grant.role),
            );
        }
        resources.push(id);
    }
    let mut seen_subjects = BTreeSet::new();
    for (index, subject) in request.subjects.iter().enumerate() {
        let kinds: BTreeSet<_> = resources
            .iter()
            .flatten()
            .filter_map(|resource| context.current.provider_kind(resource))
            .collect();
        if let Some(kind) = kinds.iter().find(|kind| !kind.is_valid_subject(subject)) {
            failures.add(
                Code::InvalidField,
                Some(format!("subjects[{index}]")),
                format!("`{}` is not a valid subject for a {kind:?} resource", subject.escape_debug()),
            );
        } else if !crate::model::is_valid_plain_subject(subject) {
            failures.add(
                Code::InvalidField,
                Some(format!("subjects[{index}]")),
                format!(
                    "`{}` is not a valid subject (printable ASCII without spaces, at most 128 characters)",
                    subject.escape_debug()
                ),
            );
        }
        if !seen_subjects.insert(subject.to_ascii_lowercase()) {
            failures.add(
                Code::InvalidField,
                Some(format!("subjects[{index}]")),
                format!("`{subject}` is listed twice"),
            );
        }
    }
    let declared_expiry = match (&request.expires, &request.duration) {
        (Some(_), Some(_)) => {
            failures.add(
                Code::InvalidField,
                Some("duration".into()),
                "give `expires` or `duration`, not both",
            );
            None
        }
        (None, None) => {
            failures.add(
                Code::InvalidField,
                Some("expires".into()),
                "every request ends: give `expires` (a date or RFC 3339 time) or `duration` (such as `8h`)",
            );
            None
        }
        (Some(text), None) => match parse_expires(text) {
            Some(expiry) => Some(expiry),
            None => {
                failures.add(
                    Code::InvalidField,
                    Some("expires".into()),
                    format!("`{text}` is not a date (2026-12-31) or an RFC 3339 time (2026-12-31T18:00:00Z)"),
                );
                None
            }
        },
        (None, Some(text)) => {
            match parse_duration(text).and_then(|duration| merged_at.checked_add_signed(duration)) {
                Some(expiry) => Some(expiry),
                None => {
                    failures.add(
                        Code::InvalidField,
                        Some("duration".into()),
                        format!("`{text}` is not a usable duration such as `8h`, `30d` or `2w`"),
                    );
                    None
                }
            }
        }
    };

    // 3 and 4. unknown-resource and role-not-allowed, against the base and the current catalog.
    let base = context.base;
    for (index, (grant, id)) in request.grants.iter().zip(&resources).enumerate() {
        let Some(id) = id else { continue };
        let in_current = context.current.resources.get(id);
        let in_base = base.and_then(|policy| policy.resources.get(id));
        match (in_base, in_current) {
            (Some(base_resource), Some(current_resource)) => {
                if !base_resource.roles.contains(&grant.role) || !current_resource.roles.contains(&grant.role) {
                    let allowed: Vec<&str> = base_resource
                        .roles
                        .iter()
                        .filter(|role| current_resource.roles.contains(role))
                        .map(String::as_str)
                        .collect();
                    failures.add(
                        Code::RoleNotAllowed,
                        Some(format!("grants[{index}].role")),
                        format!("{id} does not offer role `{}`; allowed: {}", grant.role, allowed.join(", ")),
                    );
                }
            }
            (_, None) => failures.add(
                Code::UnknownResource,
                Some(format!("grants[{index}].resource")),
                format!("{id} is not in the catalog"),
            ),
            (None, Some(_)) if base.is_none() => failures.add(
                Code::UnknownResource,
                Some(format!("grants[{index}].resource")),
                format!("no trusted policy existed before this change, so nobody could approve {id}"),
            ),
            (None, Some(_)) => failures.add(
                Code::UnknownResource,
                Some(format!("grants[{index}].resource")),
                format!(
                    "{id} was not in the catalog before this change; a request is judged by the policy at its \
                     base, so add the resource in an earlier change"
                ),
            ),
        }
    }

    // 5. unknown-subject.
    if let Some(base) = base.filter(|policy| policy.require_known_subjects) {
        for (index, subject) in request.subjects.iter().enumerate() {
            let login = Login::parse(subject);
            let known = base.identities.contains_key(subject)
                || login.as_ref().is_some_and(|login| {
                    base.groups.values().any(|members| members.contains(login))
                        || context.org_members.is_some_and(|members| members.contains(login))
                });
            if !known {
                failures.add(
                    Code::UnknownSubject,
                    Some(format!("subjects[{index}]")),
                    format!(
                        "`{subject}` is not a listed identity{}; require_known_subjects is on",
                        if context.org_members.is_some() {
                            " or a member of the org"
                        } else {
                            " or a member of a catalog group"
                        }
                    ),
                );
            }
        }
    }

    // 6 and 7. Expiry against the merge and the longest duration allowed.
    if let Some(expiry) = declared_expiry {
        let expiry_field = if request.duration.is_some() { "duration" } else { "expires" };
        if expiry <= merged_at {
            failures.add(
                Code::ExpiryBeforeMerge,
                Some(expiry_field.into()),
                format!("the access would end at {expiry}, not after the merge at {merged_at}"),
            );
        } else if let Some(base) = base {
            let (limit, because) = longest_allowed(request, &resources, base);
            if let Some(latest) = limit.and_then(|limit| merged_at.checked_add_signed(limit))
                && expiry > latest
            {
                failures.add(
                    Code::ExpiryTooLong,
                    Some(expiry_field.into()),
                    format!(
                        "the access would end at {expiry}; {because} allows at most {} from the merge, so \
                         {latest} at the latest",
                        format_duration(limit.unwrap_or_default())
                    ),
                );
            }
        }
    }

    // 8. not-reviewed.
    let review = change.review;
    match &review.status {
        ReviewStatus::NotReviewed(reason) => failures.add(
            Code::NotReviewed,
            None,
            format!("change {} was not reviewed: {reason}", change.commit.id.short()),
        ),
        ReviewStatus::NoApprovals(reason) if !change.only_break_glass => failures.add(
            Code::NotReviewed,
            None,
            format!("change {} was not reviewed: {reason}", change.commit.id.short()),
        ),
        _ => {}
    }
    if review.unreviewed_paths.contains(path) {
        failures.add(
            Code::NotReviewed,
            None,
            format!(
                "the content that landed in change {} differs from the content that was reviewed",
                change.commit.id.short()
            ),
        );
    }

    // 9. requester-mismatch.
    if let (Some(requester), Some(proposer)) = (&requester, &review.proposer)
        && requester != proposer
    {
        failures.add(
            Code::RequesterMismatch,
            Some("requester".into()),
            format!("the requester is {requester}, but the change was proposed by {proposer}"),
        );
    }

    // 10 and 11. Break-glass, or approvals.
    let mut notes = Vec::new();
    let mut counted_approvers: BTreeSet<Login> = BTreeSet::new();
    if let (Some(base), Some(requester)) = (base, &requester) {
        if request.break_glass {
            check_break_glass(request, requester, &resources, base, context.teams, &mut failures);
        } else if !failures.has(Code::UnknownResource) {
            check_approvals(
                request,
                requester,
                &resources,
                review,
                base,
                context.teams,
                &mut failures,
                &mut notes,
                &mut counted_approvers,
            );
        }
    }

    // Checks run grant by grant, so a later grant can fail an earlier check: the rejection is
    // the earliest check in code order, and the sort is stable within a code.
    failures.list.sort_by_key(|failure| failure.code);
    let expires = declared_expiry;
    let outcome = match (failures.list.first(), requester, expires) {
        (None, Some(requester), Some(expires)) => {
            let tuples = tuples_of(request, &resources, context.current);
            Ok(Approved {
                tuples,
                evidence: Evidence {
                    request: path.to_owned(),
                    blob: blob.clone(),
                    change_commit: change.commit.id.clone(),
                    policy_commit: context.base_commit.cloned(),
                    pr_number: review.pull_request.as_ref().map(|pr| pr.number),
                    pr_url: review.pull_request.as_ref().map(|pr| pr.url.clone()),
                    requester: requester.to_string(),
                    approvers: counted_approvers.iter().map(ToString::to_string).collect(),
                    justification: request.justification.clone(),
                    ticket: request.ticket.clone(),
                    merged_at,
                    expires,
                    break_glass: request.break_glass,
                },
            })
        }
        (Some(first), _, _) => {
            let mut rejection = first.clone();
            let later: BTreeSet<Code> = failures
                .list
                .iter()
                .skip(1)
                .map(|failure| failure.code)
                .filter(|code| *code != first.code)
                .collect();
            if !later.is_empty() {
                let names: Vec<&str> = later.into_iter().map(Code::as_str).collect();
                rejection.message.push_str(&format!(" (also: {})", names.join(", ")));
            }
            Err(rejection)
        }
        // Unreachable in practice: a missing requester or expiry always adds a failure.
        (None, _, _) => Err(Rejection {
            request: path.to_owned(),
            code: Code::InvalidField,
            message: "the request could not be read".into(),
            field: None,
            line: None,
            column: None,
        }),
    };
    Judgement {
        path: path.to_owned(),
        merged_at,
        expires,
        outcome,
        failures: failures.list,
        approvers: notes,
    }
}

/// `expires`: a bare date means the end of that day in UTC; otherwise an RFC 3339 time.
pub fn parse_expires(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.succ_opt()?.and_hms_opt(0, 0, 0).map(|naive| naive.and_utc());
    }
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}

/// The shortest of every limit that applies, and what sets it.
fn longest_allowed(
    request: &RequestFile,
    resources: &[Option<ResourceId>],
    base: &Policy,
) -> (Option<TimeDelta>, String) {
    let mut limit: Option<(TimeDelta, String)> = None;
    let mut tighten = |candidate: TimeDelta, why: String| {
        if limit.as_ref().is_none_or(|(current, _)| candidate < *current) {
            limit = Some((candidate, why));
        }
    };
    for id in resources.iter().flatten() {
        if let Some(resource) = base.resources.get(id) {
            tighten(resource.max_duration, format!("{id}'s max_duration"));
            if request.break_glass
                && let Some(glass) = &resource.break_glass
            {
                tighten(glass.max_duration, format!("{id}'s break_glass.max_duration"));
            }
        }
    }
    for subject in &request.subjects {
        if let Some(limit) = base.identities.get(subject).and_then(|identity| identity.max_duration) {
            tighten(limit, format!("identity {subject}'s max_duration"));
        }
    }
    match limit {
        Some((limit, why)) => (Some(limit), why),
        None => (None, String::new()),
    }
}

fn check_break_glass(
    request: &RequestFile,
    requester: &Login,
    resources: &[Option<ResourceId>],
    base: &Policy,
    teams: &TeamMembers,
    failures: &mut Failures<'_>,
) {
    let only_requester = request.subjects.len() == 1 && requester.same(&request.subjects[0]);
    if !only_requester {
        failures.add(
            Code::BreakGlassNotAllowed,
            Some("subjects".into()),
            format!("a break-glass request may grant access only to its requester ({requester})"),
        );
    }
    for (index, id) in resources.iter().enumerate() {
        let Some(resource) = id.as_ref().and_then(|id| base.resources.get(id)) else { continue };
        match &resource.break_glass {
            None => failures.add(
                Code::BreakGlassNotAllowed,
                Some(format!("grants[{index}].resource")),
                format!("{} does not allow break-glass access", resource.id),
            ),
            Some(glass) if !base.is_member(&glass.who, requester, teams) => failures.add(
                Code::BreakGlassNotAllowed,
                Some("requester".into()),
                format!(
                    "{requester} may not break the glass on {}; break_glass.who: {}",
                    resource.id,
                    join(&glass.who)
                ),
            ),
            Some(_) => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_approvals(
    request: &RequestFile,
    requester: &Login,
    resources: &[Option<ResourceId>],
    review: &ChangeReview,
    base: &Policy,
    teams: &TeamMembers,
    failures: &mut Failures<'_>,
    notes: &mut Vec<ApproverNote>,
    counted: &mut BTreeSet<Login>,
) {
    // Rule 3: nobody approves their own access, and the author cannot approve their change.
    let disqualified = |approver: &Login| -> Option<String> {
        if approver == requester {
            Some("the approver is the requester".into())
        } else if review.proposer.as_ref().is_some_and(|proposer| proposer == approver) {
            Some("the approver is the author of the change".into())
        } else if request.subjects.iter().any(|subject| approver.same(subject)) {
            Some("the approver is a subject of the request".into())
        } else {
            None
        }
    };
    // Weighs every approver for one target, records why, and returns those that count.
    let mut weigh = |target: &str, owners: &[crate::model::Principal], not_owner: &str| {
        let mut valid: BTreeSet<Login> = BTreeSet::new();
        let mut ignored = Vec::new();
        for approver in &review.approvers {
            let verdict = disqualified(approver)
                .or_else(|| (!base.is_member(owners, approver, teams)).then(|| not_owner.to_owned()));
            match &verdict {
                None => {
                    valid.insert(approver.clone());
                    counted.insert(approver.clone());
                }
                Some(why) => ignored.push(format!("{approver}: {why}")),
            }
            notes.push(ApproverNote {
                login: approver.to_string(),
                target: target.to_owned(),
                counted: verdict.is_none(),
                ignored_because: verdict,
            });
        }
        let ignored =
            if ignored.is_empty() { String::new() } else { format!("; ignored {}", ignored.join(", ")) };
        (valid, ignored)
    };
    let mut shortfalls = Vec::new();
    for (index, (grant, id)) in request.grants.iter().zip(resources).enumerate() {
        let Some(resource) = id.as_ref().and_then(|id| base.resources.get(id)) else { continue };
        let target = format!("{} {}", resource.id, grant.role);
        let (valid, ignored) = weigh(&target, &resource.owners, "not an owner of the resource");
        let needed = usize::try_from(resource.approvals).unwrap_or(usize::MAX);
        if valid.len() < needed {
            shortfalls.push((
                Some(format!("grants[{index}]")),
                format!(
                    "{target} needs {needed} approval{} from its owners ({}), other than the requester, the \
                     author and the subjects; it has {}{ignored}",
                    if needed == 1 { "" } else { "s" },
                    join(&resource.owners),
                    describe_count(&valid)
                ),
            ));
        }
    }
    // Rule 13: a service identity's owners approve its access too.
    for (index, subject) in request.subjects.iter().enumerate() {
        let Some(identity) = base.identities.get(subject) else { continue };
        let target = format!("identity {subject}");
        let (valid, ignored) = weigh(&target, &identity.owners, "not an owner of the identity");
        if valid.is_empty() {
            shortfalls.push((
                Some(format!("subjects[{index}]")),
                format!("{target} needs an approval from its owners ({}){ignored}", join(&identity.owners)),
            ));
        }
    }
    if !shortfalls.is_empty() {
        let field = shortfalls[0].0.clone();
        let message = shortfalls.into_iter().map(|(_, message)| message).collect::<Vec<_>>().join("; ");
        failures.add(Code::InsufficientApprovals, field, message);
    }
}

fn describe_count(valid: &BTreeSet<Login>) -> String {
    if valid.is_empty() {
        "none".into()
    } else {
        format!(
            "{} ({})",
            valid.len(),
            valid.iter().map(|login| login.as_str()).collect::<Vec<_>>().join(", ")
        )
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Every grant for every subject, with subjects case-folded where the target system folds
/// them.
fn tuples_of(request: &RequestFile, resources: &[Option<ResourceId>], current: &Policy) -> Vec<Tuple> {
    let mut tuples = BTreeSet::new();
    for (grant, id) in request.grants.iter().zip(resources) {
        let Some(id) = id else { continue };
        let folds = current.provider_kind(id).is_some_and(|kind| kind.folds_subject_case());
        for subject in &request.subjects {
            tuples.insert(Tuple {
                resource: id.clone(),
                role: grant.role.clone(),
                subject: if folds { subject.to_ascii_lowercase() } else { subject.clone() },
            });
        }
    }
    tuples.into_iter().collect()
}

/// `30d`, `8h`, `90m`: the largest whole unit.
pub fn format_duration(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds();
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests;
