//! Rule 9: what tenure revokes, and why. The history is the inventory: in additive mode only
//! tuples that an approved version of a request granted are ever revoked.

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const ZED: &str = "requests/zed.yaml";

#[test]
fn additive_mode_leaves_unbacked_grants_and_lists_them_as_drift() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.seed_state(&[
        (local(ONCALL), "member", "alice"),
        (local(ONCALL), "member", "zed"),
        (local(BILLING), "member", "yan"),
    ]);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![]);
    assert_drift(&v, &[(ONCALL, "member", "zed"), (BILLING, "member", "yan")]);
}

#[test]
fn exclusive_mode_revokes_unbacked_grants_as_drift_but_never_keep() {
    let r = TestRepo::standard();
    r.merge("Add alice to prod", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", PROD)));
    r.seed_state(&[
        (local(PROD), "member", "alice"),
        (local(PROD), "member", "zed"),
        (local(PROD), "member", "ops-bot"),
    ]);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![revoke_drift(PROD, "member", "zed")]);
    // ops-bot is kept, and no live request backs it.
    assert_drift(&v, &[(PROD, "member", "ops-bot")]);
    let zed = v["changes"].as_array().unwrap().iter().find(|c| c["subject"] == "zed").unwrap();
    assert!(zed.get("request").is_none_or(|r| r.is_null()), "a drift revocation has no request: {zed}");
}

#[test]
fn exclusive_mode_names_the_request_when_one_explains_the_revocation() {
    let r = TestRepo::standard();
    r.merge("Add alice to prod", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", PROD)));
    r.seed_state(&[(local(PROD), "member", "alice")]);
    r.write(ALICE, &req("alice", &["alice"], &[(PROD, "member")]).justification("edited").yaml());
    r.commit("Edit alice", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![revoke(PROD, "member", "alice", "not-approved", ALICE)]);
}

#[test]
fn keep_accounts_are_never_revoked_even_when_their_request_expires() {
    let r = TestRepo::standard();
    r.merge("Add ops-bot to prod", "alice", &["carol"], T1, |r| {
        r.write(
            "requests/ops-bot.yaml",
            &req("alice", &["ops-bot"], &[(PROD, "member")]).expires("2026-01-07").yaml(),
        )
    });
    r.seed_state(&[(local(PROD), "member", "ops-bot")]);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![]);
    assert_drift(&v, &[(PROD, "member", "ops-bot")]);
}

#[test]
fn expired_comes_before_request_removed() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    r.remove(ALICE);
    r.commit("Clean up alice", T4);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "expired", ALICE)]);
}

#[test]
fn an_approved_edit_that_drops_a_tuple_removes_it() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member"), (ONCALL, "admin")]).yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "alice"), (local(ONCALL), "admin", "alice")]);
    r.merge("Drop admin", "alice", &["carol"], T2, |r| r.write(ALICE, &simple("alice", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![revoke(ONCALL, "admin", "alice", "request-removed", ALICE)]);
    assert_drift(&v, &[]);
}

#[test]
fn an_unapproved_edit_makes_every_tuple_of_the_file_not_approved() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member"), (ONCALL, "admin")]).yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "alice"), (local(ONCALL), "admin", "alice")]);
    r.write(ALICE, &simple("alice", ONCALL));
    r.commit("Drop admin", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(
        &v,
        vec![
            revoke(ONCALL, "member", "alice", "not-approved", ALICE),
            revoke(ONCALL, "admin", "alice", "not-approved", ALICE),
        ],
    );
}

#[test]
fn an_unapproved_file_cannot_revoke_access_it_never_granted() {
    let r = TestRepo::standard();
    r.seed_state(&[(local(ONCALL), "member", "zed")]);
    // An unreviewed request names zed's existing, unbacked grant ...
    r.write(ZED, &simple("zed", ONCALL));
    let added = r.commit("Add zed", T1);
    // ... and is then deleted.
    r.remove(ZED);
    let removed = r.commit("Remove zed", T2);

    let run = r.plan_at(&added, NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ZED, "not-reviewed")]);
    assert_changes(&v, vec![]);
    assert_drift(&v, &[(ONCALL, "member", "zed")]);

    for run in [r.plan_at(&removed, NOW), r.plan(NOW)] {
        run.expect_code(0);
        let v = run.json();
        assert_rejected(&v, &[]);
        assert_changes(&v, vec![]);
        assert_drift(&v, &[(ONCALL, "member", "zed")]);
    }

    r.apply(NOW, &[]).expect_code(0);
    assert_eq!(r.state(), triples(&[(local(ONCALL), "member", "zed")]));
}

#[test]
fn an_unapproved_subject_added_to_an_approved_file_is_never_revoked() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.seed_state(&[(local(ONCALL), "member", "alice"), (local(ONCALL), "member", "zed")]);
    // A direct push adds zed, who holds access that tenure never granted.
    r.write(ALICE, &req("alice", &["alice", "zed"], &[(ONCALL, "member")]).yaml());
    r.commit("Add zed", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "not-approved", ALICE)]);
    assert_drift(&v, &[(ONCALL, "member", "zed")]);

    r.remove(ALICE);
    r.commit("Remove alice", T3);
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "request-removed", ALICE)]);
    assert_drift(&v, &[(ONCALL, "member", "zed")]);
}

#[test]
fn a_grant_that_was_never_applied_is_not_revoked() {
    // The approved request was deleted before any apply: there is nothing to revoke.
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.remove(ALICE);
    r.commit("Remove alice", T2);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![]);
    assert_drift(&v, &[]);
}
