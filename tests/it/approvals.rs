//! Rules 2, 3 and 4 on the git forge: where approvals come from, which approvals count, and
//! who the requester must be.

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";

/// Commits `file` with `text` on main with exactly `message`, and plans at [`NOW`].
fn plan_after_commit(file: &str, text: &str, message: &str) -> serde_json::Value {
    let r = TestRepo::standard();
    r.write(file, text);
    r.commit(message, T1);
    let run = r.plan(NOW);
    let v = run.json();
    assert_eq!(run.code, if rejected(&v).is_empty() { 0 } else { 1 }, "exit code; output:\n{v:#}");
    v
}

/// Merges `text` as `file` with the given trailers, and plans at [`NOW`].
fn plan_after_merge(file: &str, text: &str, proposer: &str, approvers: &[&str]) -> serde_json::Value {
    let r = TestRepo::standard();
    r.merge("Request access", proposer, approvers, T1, |r| r.write(file, text));
    let run = r.plan(NOW);
    let v = run.json();
    assert_eq!(run.code, if rejected(&v).is_empty() { 0 } else { 1 }, "exit code; output:\n{v:#}");
    v
}

fn assert_not_granted(v: &serde_json::Value, file: &str, code: &str) {
    assert_rejected(v, &[(file, code)]);
    assert_changes(v, vec![]);
}

// ---- rule 2: approvals come from the forge (git trailers) ----

#[test]
fn a_direct_push_without_trailers_is_not_reviewed() {
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), "Add alice");
    assert_not_granted(&v, ALICE, "not-reviewed");
}

#[test]
fn a_squash_commit_with_trailers_is_approved() {
    let r = TestRepo::standard();
    r.write(ALICE, &simple("alice", ONCALL));
    r.squash("Add alice (#12)", "alice", &["carol"], T1);
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn two_proposed_by_trailers_are_not_reviewed() {
    let message = "Add alice\n\nProposed-by: alice\nProposed-by: bob\nApproved-by: carol";
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), message);
    assert_not_granted(&v, ALICE, "not-reviewed");
}

#[test]
fn proposed_by_without_approved_by_is_not_reviewed() {
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), "Add alice\n\nProposed-by: alice");
    assert_not_granted(&v, ALICE, "not-reviewed");
}

#[test]
fn approved_by_without_proposed_by_is_not_reviewed() {
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), "Add alice\n\nApproved-by: carol");
    assert_not_granted(&v, ALICE, "not-reviewed");
}

#[test]
fn trailers_outside_the_last_paragraph_do_not_count() {
    let message = format!("Add alice\n\n{}\n\nSigned-off-by: alice", trailers("alice", &["carol"]));
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), &message);
    assert_not_granted(&v, ALICE, "not-reviewed");
}

#[test]
fn trailer_keys_match_without_case() {
    let message = "Add alice\n\nproposed-by: alice\nAPPROVED-BY: carol";
    let v = plan_after_commit(ALICE, &simple("alice", ONCALL), message);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn a_deletion_only_direct_push_needs_no_approval() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    r.remove(ALICE);
    r.commit("Remove alice's access", T2);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "request-removed", ALICE)]);
    assert_drift(&v, &[]);
}

#[test]
fn team_owners_have_no_members_on_the_git_forge() {
    let catalog = r#"resources:
  - id: local:group/payments
    owners: ["@acme/payments"]
    roles: [member]
    allow_empty: true
"#;
    let r = TestRepo::with_policy(TENURE_YAML, &[("catalog/main.yaml", catalog)]);
    r.merge("Add alice", "alice", &["payments", "acme"], T1, |r| {
        r.write(ALICE, &simple("alice", "local:group/payments"))
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_not_granted(&v, ALICE, "insufficient-approvals");

    let check = r.check(NOW);
    check.expect_code(1);
    let notices = check.json()["notices"].to_string().to_ascii_lowercase();
    assert!(
        notices.contains("@acme/payments"),
        "check must say that team owners have no members here: {notices}"
    );
}

// ---- rule 3: which approvals count ----

#[test]
fn the_requester_approving_does_not_count() {
    // carol owns on-call and asks for alice; her own approval is self-approval.
    let v =
        plan_after_merge(ALICE, &req("carol", &["alice"], &[(ONCALL, "member")]).yaml(), "carol", &["carol"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn the_proposer_approving_in_another_case_does_not_count() {
    // bob owns on-call through group:leads; requester bob, proposer "Bob", approver "BOB".
    let v = plan_after_merge(ALICE, &req("bob", &["alice"], &[(ONCALL, "member")]).yaml(), "Bob", &["BOB"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn the_requester_in_another_case_does_not_count_towards_n_of_m() {
    // db needs two of carol, dave, erin. dave asks; "DAVE" is still dave, so only erin counts.
    let v =
        plan_after_merge(ALICE, &req("dave", &["dave"], &[(DB, "member")]).yaml(), "dave", &["DAVE", "erin"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn a_subject_approving_does_not_count() {
    // frank owns on-call through group:leads, but he is one of the subjects.
    let text = req("alice", &["alice", "frank"], &[(ONCALL, "member")]).yaml();
    let v = plan_after_merge(ALICE, &text, "alice", &["frank"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
    let v = plan_after_merge(ALICE, &text, "alice", &["FRANK"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn a_non_owner_does_not_count() {
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "alice", &["mallory"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn an_owner_of_another_resource_does_not_count() {
    // dave owns billing and db, not on-call.
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "alice", &["dave"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");
}

#[test]
fn a_group_member_counts() {
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "alice", &["frank"]);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn an_owner_in_another_case_counts() {
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "alice", &["CAROL"]);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn two_of_three_needs_two_distinct_owners() {
    let text = simple("alice", DB);
    let v = plan_after_merge(ALICE, &text, "alice", &["carol", "dave"]);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(DB, "member", "alice", ALICE)]);

    for approvers in [&["carol"][..], &["carol", "carol"], &["carol", "Carol"], &["carol", "mallory"]] {
        let v = plan_after_merge(ALICE, &text, "alice", approvers);
        assert_not_granted(&v, ALICE, "insufficient-approvals");
    }
}

#[test]
fn a_file_with_one_unapproved_grant_grants_nothing() {
    // carol owns on-call, only dave owns billing.
    let text = req("alice", &["alice"], &[(ONCALL, "member"), (BILLING, "member")]).yaml();
    let v = plan_after_merge(ALICE, &text, "alice", &["carol"]);
    assert_not_granted(&v, ALICE, "insufficient-approvals");

    let v = plan_after_merge(ALICE, &text, "alice", &["carol", "dave"]);
    assert_rejected(&v, &[]);
    assert_changes(
        &v,
        vec![grant(ONCALL, "member", "alice", ALICE), grant(BILLING, "member", "alice", ALICE)],
    );
}

// ---- rule 4: the requester is the change's author ----

#[test]
fn a_requester_other_than_the_proposer_is_a_mismatch() {
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "bob", &["carol"]);
    assert_not_granted(&v, ALICE, "requester-mismatch");
}

#[test]
fn a_requester_differing_from_the_proposer_only_in_case_is_accepted() {
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "Alice", &["carol"]);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn an_approved_by_value_that_is_not_one_login_counts_for_nobody() {
    // db needs two of carol, dave, erin: erin counts; "carol, dave" is not a login.
    let text = simple("alice", DB);
    for bad in ["carol, dave", "carol dave", "carol,dave"] {
        let v = plan_after_merge(ALICE, &text, "alice", &["erin", bad]);
        assert_not_granted(&v, ALICE, "insufficient-approvals");
    }
}

#[test]
fn the_first_failing_check_is_reported() {
    // A direct push (not-reviewed) of files that fail earlier checks.
    let r = TestRepo::standard();
    r.write("requests/resource.yaml", &simple("alice", "local:group/nope"));
    r.write("requests/role.yaml", &req("alice", &["alice"], &[(ONCALL, "owner")]).yaml());
    r.write(
        "requests/before.yaml",
        &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-01").yaml(),
    );
    r.write(
        "requests/long.yaml",
        &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-12-01").yaml(),
    );
    r.write("requests/plain.yaml", &simple("alice", ONCALL));
    r.commit("Add requests", T1);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[
            ("requests/resource.yaml", "unknown-resource"),
            ("requests/role.yaml", "role-not-allowed"),
            ("requests/before.yaml", "expiry-before-merge"),
            ("requests/long.yaml", "expiry-too-long"),
            ("requests/plain.yaml", "not-reviewed"),
        ],
    );
    assert_changes(&v, vec![]);

    // A mismatched requester whose approvals are also insufficient: requester-mismatch first.
    let v = plan_after_merge(ALICE, &simple("alice", ONCALL), "bob", &["mallory"]);
    assert_not_granted(&v, ALICE, "requester-mismatch");
}
