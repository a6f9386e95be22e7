//! Unit tests for the judge: each rule, and the tricks that try to get around it.

use chrono::TimeZone;

use super::*;
use crate::forge::git::review_from_message;
use crate::forge::{PullRequestRef, TeamMembers};
use crate::policy::build;
use crate::wire::{CatalogFile, ConfigFile};

fn policy(extra_config: serde_json::Value, catalog: serde_json::Value) -> Policy {
    let mut config = serde_json::json!({
        "version": 1,
        "forge": {"kind": "git"},
        "admins": ["root"],
        "providers": {"local": {"kind": "file", "path": "state.json"}, "gh": {"kind": "github", "org": "acme"}},
        "defaults": {"approvals": 1, "max_duration": "90d"},
    });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra_config.as_object()) {
        config.extend(extra.clone());
    }
    let config: ConfigFile = serde_json::from_value(config).unwrap();
    let catalog: CatalogFile = serde_json::from_value(catalog).unwrap();
    build(&config, &[("catalog/main.yaml".into(), catalog)]).unwrap()
}

fn standard() -> Policy {
    policy(
        serde_json::json!({}),
        serde_json::json!({
            "resources": [
                {"id": "local:group/oncall", "owners": ["carol", "group:leads"], "roles": ["member", "admin"],
                 "max_duration": "30d"},
                {"id": "local:group/admins", "owners": ["carol", "dan", "erin"], "roles": ["member"], "approvals": 2},
                {"id": "local:group/glass", "owners": ["carol"], "roles": ["member"],
                 "break_glass": {"who": ["group:oncall"], "max_duration": "4h"}},
                {"id": "gh:team/web", "owners": ["@acme/web-leads"], "roles": ["member", "maintainer"]},
            ],
            "groups": {"leads": ["bob"], "oncall": ["alice", "Zed"]},
            "identities": [{"id": "deploy-bot", "kind": "service", "owners": ["frank"], "max_duration": "7d"}],
        }),
    )
}

fn request(yaml: serde_json::Value) -> RequestFile {
    let mut base = serde_json::json!({
        "requester": "alice",
        "subjects": ["alice"],
        "justification": "on-call",
        "grants": [{"resource": "local:group/oncall", "role": "member"}],
        "expires": "2026-12-20",
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), yaml.as_object()) {
        base.extend(extra.clone());
    }
    serde_json::from_value(base).unwrap()
}

fn commit(message: &str) -> CommitRecord {
    CommitRecord {
        id: ObjectId("c0ffee0000000000000000000000000000000000".into()),
        first_parent: None,
        parent_count: 2,
        message: message.into(),
        committed_at: Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
        author_name: "someone".into(),
        author_email: "someone@example.com".into(),
        changes: Vec::new(),
    }
}

struct Case {
    policy: Policy,
    request: RequestFile,
    message: String,
    teams: TeamMembers,
    review: Option<ChangeReview>,
    only_break_glass: bool,
}

impl Case {
    fn new(request: RequestFile, trailers: &str) -> Case {
        Case {
            policy: standard(),
            request,
            message: format!("Grant access\n\n{trailers}\n"),
            teams: TeamMembers::new(),
            review: None,
            only_break_glass: false,
        }
    }

    fn judge(&self) -> Judgement {
        let record = commit(&self.message);
        let review = self.review.clone().unwrap_or_else(|| review_from_message(&self.message));
        judge(
            "requests/alice.yaml",
            &ObjectId("b10b".into()),
            Ok(&self.request),
            ChangeFacts { commit: &record, review: &review, only_break_glass: self.only_break_glass },
            Context {
                base: Some(&self.policy),
                base_commit: None,
                current: &self.policy,
                teams: &self.teams,
                org_members: None,
            },
        )
    }

    fn code(&self) -> Option<Code> {
        self.judge().outcome.err().map(|rejection| rejection.code)
    }
}

const GOOD: &str = "Proposed-by: alice\nApproved-by: carol";

#[test]
fn an_owner_approval_grants() {
    let judgement = Case::new(request(serde_json::json!({})), GOOD).judge();
    let approved = judgement.outcome.expect("approved");
    assert_eq!(approved.tuples.len(), 1);
    assert_eq!(approved.evidence.approvers, ["carol"]);
    assert_eq!(approved.evidence.expires, Utc.with_ymd_and_hms(2026, 12, 21, 0, 0, 0).unwrap());
    assert!(judgement.approvers.iter().all(|note| note.counted));
}

#[test]
fn a_group_member_counts_as_owner() {
    assert_eq!(
        Case::new(request(serde_json::json!({})), "Proposed-by: alice\nApproved-by: BOB").code(),
        None
    );
}

#[test]
fn self_approval_never_counts() {
    let case = Case::new(request(serde_json::json!({})), "Proposed-by: alice\nApproved-by: alice");
    assert_eq!(case.code(), Some(Code::InsufficientApprovals));
    // The requester is an owner here, and still may not approve their own access.
    let mut owner_requester = Case::new(
        request(serde_json::json!({"requester": "carol", "subjects": ["carol"]})),
        "Proposed-by: carol\nApproved-by: Carol",
    );
    assert_eq!(owner_requester.code(), Some(Code::InsufficientApprovals));
    owner_requester.message = "x\n\nProposed-by: carol\nApproved-by: bob\n".into();
    assert_eq!(owner_requester.code(), None);
}

#[test]
fn a_subject_cannot_approve_access_for_themselves() {
    let case = Case::new(
        request(serde_json::json!({"subjects": ["alice", "carol"]})),
        "Proposed-by: alice\nApproved-by: carol",
    );
    let judgement = case.judge();
    assert_eq!(judgement.outcome.unwrap_err().code, Code::InsufficientApprovals);
    assert!(
        judgement
            .approvers
            .iter()
            .any(|n| n.ignored_because.as_deref() == Some("the approver is a subject of the request"))
    );
}

#[test]
fn the_author_cannot_approve_when_requesting_for_someone_else() {
    // bob (an owner, via group) proposes a request whose requester is bob, for alice.
    let case = Case::new(
        request(serde_json::json!({"requester": "bob", "subjects": ["alice"]})),
        "Proposed-by: bob\nApproved-by: bob",
    );
    assert_eq!(case.code(), Some(Code::InsufficientApprovals));
}

#[test]
fn a_non_owner_does_not_count() {
    let case = Case::new(request(serde_json::json!({})), "Proposed-by: alice\nApproved-by: mallory");
    let judgement = case.judge();
    assert_eq!(judgement.outcome.as_ref().unwrap_err().code, Code::InsufficientApprovals);
    assert_eq!(judgement.approvers[0].ignored_because.as_deref(), Some("not an owner of the resource"));
}

#[test]
fn n_of_m_needs_distinct_owners() {
    let grants = serde_json::json!({"grants": [{"resource": "local:group/admins", "role": "member"}]});
    let one = Case::new(request(grants.clone()), "Proposed-by: alice\nApproved-by: carol");
    assert_eq!(one.code(), Some(Code::InsufficientApprovals));
    let same_twice =
        Case::new(request(grants.clone()), "Proposed-by: alice\nApproved-by: carol\nApproved-by: CAROL");
    assert_eq!(same_twice.code(), Some(Code::InsufficientApprovals));
    let two = Case::new(request(grants), "Proposed-by: alice\nApproved-by: carol\nApproved-by: dan");
    assert_eq!(two.code(), None);
}

#[test]
fn every_grant_needs_its_own_approvals() {
    let case = Case::new(
        request(serde_json::json!({"grants": [
            {"resource": "local:group/oncall", "role": "member"},
            {"resource": "local:group/admins", "role": "member"},
        ]})),
        "Proposed-by: alice\nApproved-by: bob",
    );
    let rejection = case.judge().outcome.unwrap_err();
    assert_eq!(rejection.code, Code::InsufficientApprovals);
    assert_eq!(rejection.field.as_deref(), Some("grants[1]"));
}

#[test]
fn the_requester_must_be_the_proposer_without_regard_to_case() {
    let mismatch = Case::new(request(serde_json::json!({})), "Proposed-by: mallory\nApproved-by: carol");
    assert_eq!(mismatch.code(), Some(Code::RequesterMismatch));
    let case_only = Case::new(request(serde_json::json!({})), "Proposed-by: ALICE\nApproved-by: carol");
    assert_eq!(case_only.code(), None);
}

#[test]
fn unreviewed_changes_are_refused() {
    assert_eq!(Case::new(request(serde_json::json!({})), "").code(), Some(Code::NotReviewed));
    assert_eq!(
        Case::new(request(serde_json::json!({})), "Proposed-by: alice").code(),
        Some(Code::NotReviewed)
    );
    let mut github = Case::new(request(serde_json::json!({})), GOOD);
    let mut review = review_from_message(&github.message);
    review.unreviewed_paths.insert("requests/alice.yaml".into());
    github.review = Some(review);
    assert_eq!(github.code(), Some(Code::NotReviewed), "content that differs from the reviewed head");
}

#[test]
fn teams_count_only_through_resolved_members() {
    let grants = serde_json::json!({"grants": [{"resource": "gh:team/web", "role": "member"}]});
    let mut case = Case::new(request(grants), "Proposed-by: alice\nApproved-by: tia");
    assert_eq!(case.code(), Some(Code::InsufficientApprovals));
    case.teams.insert(("acme".into(), "web-leads".into()), [Login::parse("Tia").unwrap()].into());
    assert_eq!(case.code(), None);
}

#[test]
fn github_subjects_fold_case_in_tuples() {
    let grants =
        serde_json::json!({"grants": [{"resource": "gh:team/web", "role": "member"}], "subjects": ["Alice"]});
    let mut case = Case::new(request(grants), "Proposed-by: alice\nApproved-by: tia");
    case.teams.insert(("acme".into(), "web-leads".into()), [Login::parse("tia").unwrap()].into());
    let approved = case.judge().outcome.unwrap();
    assert_eq!(approved.tuples[0].subject, "alice");
}

#[test]
fn resources_and_roles_must_be_in_the_catalog() {
    let unknown = Case::new(
        request(serde_json::json!({"grants": [{"resource": "local:group/nope", "role": "member"}]})),
        GOOD,
    );
    let rejection = unknown.judge().outcome.unwrap_err();
    assert_eq!(
        (rejection.code, rejection.field.as_deref()),
        (Code::UnknownResource, Some("grants[0].resource"))
    );
    let role = Case::new(
        request(serde_json::json!({"grants": [{"resource": "local:group/oncall", "role": "owner"}]})),
        GOOD,
    );
    let rejection = role.judge().outcome.unwrap_err();
    assert_eq!(rejection.code, Code::RoleNotAllowed);
    assert!(rejection.message.contains("allowed: member, admin"), "{}", rejection.message);
}

#[test]
fn a_resource_added_in_the_same_change_is_unknown_to_the_base() {
    let case = Case::new(
        request(serde_json::json!({"grants": [{"resource": "local:group/new", "role": "member"}]})),
        GOOD,
    );
    let mut current = case.policy.clone();
    let mut added = current.resources.values().next().unwrap().as_ref().clone();
    added.id = ResourceId::parse("local:group/new").unwrap();
    current.resources.insert_mut(added.id.clone(), std::sync::Arc::new(added));
    let record = commit(&case.message);
    let review = review_from_message(&case.message);
    let judgement = judge(
        "requests/alice.yaml",
        &ObjectId("b".into()),
        Ok(&case.request),
        ChangeFacts { commit: &record, review: &review, only_break_glass: false },
        Context {
            base: Some(&case.policy),
            base_commit: None,
            current: &current,
            teams: &case.teams,
            org_members: None,
        },
    );
    let rejection = judgement.outcome.unwrap_err();
    assert_eq!(rejection.code, Code::UnknownResource);
    assert!(rejection.message.contains("before this change"), "{}", rejection.message);
}

#[test]
fn without_a_trusted_base_nothing_is_granted() {
    let case = Case::new(request(serde_json::json!({})), GOOD);
    let record = commit(&case.message);
    let review = review_from_message(&case.message);
    let judgement = judge(
        "requests/alice.yaml",
        &ObjectId("b".into()),
        Ok(&case.request),
        ChangeFacts { commit: &record, review: &review, only_break_glass: false },
        Context {
            base: None,
            base_commit: None,
            current: &case.policy,
            teams: &case.teams,
            org_members: None,
        },
    );
    assert_eq!(judgement.outcome.unwrap_err().code, Code::UnknownResource);
}

#[test]
fn expiry_is_bounded_by_the_merge_and_max_duration() {
    // Merged 2026-12-01T12:00Z, oncall allows 30d: 2026-12-31T12:00Z at the latest.
    let at_limit = Case::new(request(serde_json::json!({"expires": "2026-12-31T12:00:00Z"})), GOOD);
    assert_eq!(at_limit.code(), None);
    let past_limit = Case::new(request(serde_json::json!({"expires": "2026-12-31T12:00:01Z"})), GOOD);
    assert_eq!(past_limit.code(), Some(Code::ExpiryTooLong));
    // A bare date means the end of that day, and that instant is what max_duration limits.
    let bare_date = Case::new(request(serde_json::json!({"expires": "2026-12-31"})), GOOD);
    assert_eq!(bare_date.code(), Some(Code::ExpiryTooLong));
    let at_merge = Case::new(request(serde_json::json!({"expires": "2026-12-01T12:00:00Z"})), GOOD);
    assert_eq!(at_merge.code(), Some(Code::ExpiryBeforeMerge));
    let zone = Case::new(request(serde_json::json!({"expires": "2026-12-01T13:00:00+02:00"})), GOOD);
    assert_eq!(zone.code(), Some(Code::ExpiryBeforeMerge), "13:00+02:00 is 11:00Z, before the merge");
}

#[test]
fn durations_count_from_the_merge() {
    let mut case = Case::new(request(serde_json::json!({"duration": "8h"})), GOOD);
    case.request.expires = None;
    let approved = case.judge().outcome.unwrap();
    assert_eq!(approved.evidence.expires, Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap());
    case.request.expires = Some("2026-12-02".into());
    assert_eq!(case.code(), Some(Code::InvalidField), "expires and duration together");
    case.request.expires = None;
    case.request.duration = Some("99999999999y".into());
    assert_eq!(case.code(), Some(Code::InvalidField), "a duration that overflows");
}

#[test]
fn the_first_failure_is_the_code_and_the_rest_are_mentioned() {
    let case = Case::new(
        request(serde_json::json!({"grants": [{"resource": "local:group/oncall", "role": "owner"}],
                                   "expires": "2027-06-01"})),
        "",
    );
    let judgement = case.judge();
    let rejection = judgement.outcome.unwrap_err();
    assert_eq!(rejection.code, Code::RoleNotAllowed);
    assert!(rejection.message.contains("not-reviewed"), "{}", rejection.message);
    let codes: Vec<Code> = judgement.failures.iter().map(|f| f.code).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "failures come in check order");
}

#[test]
fn field_checks_refuse_bad_values() {
    for (extra, field) in [
        (serde_json::json!({"requester": "al ice"}), "requester"),
        (serde_json::json!({"justification": "  "}), "justification"),
        (serde_json::json!({"subjects": []}), "subjects"),
        (serde_json::json!({"grants": []}), "grants"),
        (serde_json::json!({"subjects": ["alice", "ALICE"]}), "subjects[1]"),
        (serde_json::json!({"subjects": ["bad subject"]}), "subjects[0]"),
        (
            serde_json::json!({"grants": [{"resource": "local:group/../etc", "role": "member"}]}),
            "grants[0].resource",
        ),
        (serde_json::json!({"expires": "2026-02-29"}), "expires"),
        (serde_json::json!({"expires": "next tuesday"}), "expires"),
    ] {
        let rejection = Case::new(request(extra.clone()), GOOD).judge().outcome.unwrap_err();
        assert_eq!(rejection.code, Code::InvalidField, "{extra}");
        assert_eq!(rejection.field.as_deref(), Some(field), "{extra}");
    }
    let github_subject = Case::new(
        request(
            serde_json::json!({"grants": [{"resource": "gh:team/web", "role": "member"}], "subjects": ["svc.bot"]}),
        ),
        GOOD,
    );
    assert_eq!(github_subject.code(), Some(Code::InvalidField));
}

#[test]
fn break_glass_needs_who_a_sole_self_subject_and_a_short_expiry() {
    let glass = |extra: serde_json::Value| {
        let mut base = serde_json::json!({
            "break_glass": true,
            "grants": [{"resource": "local:group/glass", "role": "member"}],
            "expires": "2026-12-01T15:00:00Z",
        });
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        request(base)
    };
    let mut case = Case::new(glass(serde_json::json!({})), "Proposed-by: alice");
    case.only_break_glass = true;
    let approved = case.judge().outcome.expect("break-glass granted without approvals");
    assert!(approved.evidence.break_glass);
    assert!(approved.evidence.approvers.is_empty());

    case.request = glass(serde_json::json!({"expires": "2026-12-01T16:00:01Z"}));
    assert_eq!(case.code(), Some(Code::ExpiryTooLong));

    case.request = glass(serde_json::json!({"requester": "zed", "subjects": ["zed", "mallory"]}));
    case.message = "x\n\nProposed-by: zed\n".into();
    assert_eq!(case.code(), Some(Code::BreakGlassNotAllowed));

    case.request = glass(serde_json::json!({"requester": "mallory", "subjects": ["mallory"]}));
    case.message = "x\n\nProposed-by: mallory\n".into();
    assert_eq!(case.code(), Some(Code::BreakGlassNotAllowed));

    case.request =
        glass(serde_json::json!({"grants": [{"resource": "local:group/oncall", "role": "member"}]}));
    case.message = "x\n\nProposed-by: alice\n".into();
    assert_eq!(case.code(), Some(Code::BreakGlassNotAllowed), "the resource has no break_glass");

    // Without the commit-level exemption, a proposal with no approvals is not reviewed.
    let mut mixed = Case::new(glass(serde_json::json!({})), "Proposed-by: alice");
    mixed.only_break_glass = false;
    assert_eq!(mixed.code(), Some(Code::NotReviewed));
}

#[test]
fn service_identities_need_their_owner_too() {
    let bot = request(serde_json::json!({"subjects": ["deploy-bot"], "expires": "2026-12-05"}));
    let without = Case::new(bot.clone(), "Proposed-by: alice\nApproved-by: carol");
    let rejection = without.judge().outcome.unwrap_err();
    assert_eq!(
        (rejection.code, rejection.field.as_deref()),
        (Code::InsufficientApprovals, Some("subjects[0]"))
    );
    let with = Case::new(bot.clone(), "Proposed-by: alice\nApproved-by: carol\nApproved-by: frank");
    assert_eq!(with.code(), None);
    let owner_requests = Case::new(
        request(
            serde_json::json!({"requester": "frank", "subjects": ["deploy-bot"], "expires": "2026-12-05"}),
        ),
        "Proposed-by: frank\nApproved-by: carol\nApproved-by: frank",
    );
    assert_eq!(owner_requests.code(), Some(Code::InsufficientApprovals), "the identity owner requested it");
    let too_long = Case::new(
        request(serde_json::json!({"subjects": ["deploy-bot"], "expires": "2026-12-20"})),
        "Proposed-by: alice\nApproved-by: carol\nApproved-by: frank",
    );
    assert_eq!(too_long.code(), Some(Code::ExpiryTooLong), "the identity's own max_duration applies");
}

#[test]
fn unknown_subjects_are_refused_when_required() {
    let mut case =
        Case::new(request(serde_json::json!({"subjects": ["stranger"], "requester": "alice"})), GOOD);
    case.policy.require_known_subjects = true;
    assert_eq!(case.code(), Some(Code::UnknownSubject));
    case.request.subjects = vec!["zed".into()];
    assert_eq!(case.code(), None, "a catalog group member is known");
    case.request.subjects = vec!["deploy-bot".into()];
    case.request.expires = Some("2026-12-05".into());
    case.message = "x\n\nProposed-by: alice\nApproved-by: carol\nApproved-by: frank\n".into();
    assert_eq!(case.code(), None, "a listed identity is known");
}

#[test]
fn the_pull_request_is_evidence() {
    let mut case = Case::new(request(serde_json::json!({})), GOOD);
    let mut review = review_from_message(&case.message);
    review.pull_request =
        Some(PullRequestRef { number: 42, url: "https://github.com/acme/access/pull/42".into() });
    review.merged_at = Some(Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap());
    case.review = Some(review);
    let approved = case.judge().outcome.unwrap();
    assert_eq!(approved.evidence.pr_number, Some(42));
    assert_eq!(approved.evidence.merged_at, Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap());
}

#[test]
fn format_duration_picks_whole_units() {
    assert_eq!(format_duration(TimeDelta::days(30)), "30d");
    assert_eq!(format_duration(TimeDelta::hours(4)), "4h");
    assert_eq!(format_duration(TimeDelta::days(14)), "2w");
    assert_eq!(format_duration(TimeDelta::seconds(90)), "90s");
}
