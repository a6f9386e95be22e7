//! Rule 1: a request is judged by the last commit on the first-parent history of the branch
//! that changed its content at its path. Later changes need fresh approval; a rename is a
//! change; a replayed old file is a new change.

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const RENAMED: &str = "requests/alice-oncall.yaml";

#[test]
fn approved_merge_is_granted() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_rejected(&v, &[]);
    assert_drift(&v, &[]);
    assert_no_guards(&v);
}

#[test]
fn later_direct_push_editing_an_approved_file_is_not_reviewed() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // The direct push adds a subject to the approved file.
    r.write(ALICE, &req("alice", &["alice", "mallory"], &[(ONCALL, "member")]).yaml());
    r.commit("Add mallory too", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "not-approved", ALICE)]);
}

#[test]
fn a_later_approved_edit_is_judged_on_its_own_approvals() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // A reviewed edit, but approved by someone who does not own the resource: carol's approval
    // of the earlier version does not carry over.
    r.merge("Extend alice", "alice", &["mallory"], T2, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-02-03").yaml())
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "insufficient-approvals")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "not-approved", ALICE)]);
}

#[test]
fn a_direct_push_to_another_file_leaves_the_approval_alone() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    r.write("README.md", "# access\n");
    r.commit("Add a readme", T2);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn a_rename_by_direct_push_is_not_reviewed_and_the_old_path_is_removed() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    r.rename(ALICE, RENAMED);
    r.commit("Rename alice's request", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    // The new path was never approved; the old path was deleted, so the tuple its approved
    // version granted goes as request-removed.
    assert_rejected(&v, &[(RENAMED, "not-reviewed")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "request-removed", ALICE)]);
}

#[test]
fn a_rename_merged_with_approval_keeps_the_grant() {
    let r = TestRepo::standard();
    r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    r.merge("Rename alice's request", "alice", &["carol"], T2, |r| r.rename(ALICE, RENAMED));

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![]);
    assert_drift(&v, &[]);

    let check = r.check(NOW);
    check.expect_code(0);
    let approved: Vec<String> = check.json()["approved"]
        .as_array()
        .expect("check lists approved requests")
        .iter()
        .map(|a| a["request"].as_str().expect("request path").to_owned())
        .collect();
    assert_eq!(approved, vec![RENAMED.to_owned()]);
}

#[test]
fn a_replayed_old_file_is_not_reviewed() {
    let r = TestRepo::standard();
    let first = r.merge("Add on-call access for alice", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });
    let approved_blob = r.rev(&format!("{first}:{ALICE}"));
    r.merge("Remove alice", "alice", &["carol"], T2, |r| r.remove(ALICE));
    // Re-added with identical content, without review.
    r.write(ALICE, &simple("alice", ONCALL));
    r.commit("Restore alice", T3);
    assert_eq!(r.blob(ALICE), approved_blob, "the replayed file must be byte-identical");

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_replayed_old_version_after_an_approved_edit_is_not_reviewed() {
    let r = TestRepo::standard();
    r.merge("Add alice as admin", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "admin")]).yaml())
    });
    r.merge("Downgrade alice", "alice", &["carol"], T2, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // Revert to the admin version by direct push: that content was approved once, at T1.
    r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "admin")]).yaml());
    r.commit("Revert downgrade", T3);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "not-approved", ALICE)]);
}

#[test]
fn a_no_ff_merge_is_judged_by_the_merge_commit_not_the_branch_commit() {
    let r = TestRepo::standard();
    // The side branch commit looks like a direct push; the merge carries the review.
    r.merge_raw("Add alice", &format!("Merge topic\n\n{}", trailers("alice", &["carol"])), T1, |r| {
        r.write(ALICE, &simple("alice", ONCALL))
    });

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn approval_trailers_on_a_side_branch_commit_do_not_count() {
    let r = TestRepo::standard();
    // Forged trailers on the branch commit, merged without review.
    r.merge_raw(
        &format!("Add alice\n\n{}", trailers("alice", &["carol"])),
        "Merge branch 'topic-1'",
        T1,
        |r| r.write(ALICE, &simple("alice", ONCALL)),
    );

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_reviewed_merge_does_not_launder_an_earlier_direct_push_of_the_same_file() {
    let r = TestRepo::standard();
    // Direct push first; then an unrelated reviewed merge that does not touch the file.
    r.write(ALICE, &simple("alice", ONCALL));
    r.commit("Add alice", T1);
    r.merge("Add bob", "bob", &["carol"], T2, |r| r.write("requests/bob.yaml", &simple("bob", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![grant(ONCALL, "member", "bob", "requests/bob.yaml")]);
}

#[test]
fn a_symlinked_request_never_grants_its_target() {
    let r = TestRepo::standard();
    // An approved merge adds a template outside requests/ and a request that is a symlink to it.
    r.merge("Add alice via a link", "alice", &["carol"], T1, |r| {
        r.write("templates/alice.yaml", &simple("alice", ONCALL));
        std::fs::create_dir_all(r.path("requests")).unwrap();
        std::os::unix::fs::symlink("../templates/alice.yaml", r.path("requests/link.yaml")).unwrap();
    });
    // The target then changes by direct push; the link's own blob does not.
    r.write("templates/alice.yaml", &req("alice", &["alice", "mallory"], &[(ONCALL, "admin")]).yaml());
    r.commit("Widen the template", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![]);
    let got = rejected(&v);
    assert_eq!(got.len(), 1, "only the link is a request file:\n{v:#}");
    assert_eq!(got[0].0, "requests/link.yaml");
    assert!(
        matches!(got[0].1.as_str(), "invalid-yaml" | "invalid-field"),
        "a symlink is not a request:\n{v:#}"
    );
}

#[test]
fn files_outside_requests_are_not_requests() {
    let r = TestRepo::standard();
    r.merge("Add notes", "alice", &["carol"], T1, |r| {
        r.write("docs/example.yaml", &simple("alice", ONCALL));
        r.write("requests/README.md", "One request per file.\n");
    });
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![]);
}

#[test]
fn the_default_revision_is_the_configured_branch_not_head() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    // HEAD is a feature branch with an unreviewed request; tenure judges main.
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("requests/bob.yaml", &simple("bob", ONCALL));
    r.commit("Add bob", T2);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["commit"], serde_json::json!(r.rev("main")), "{v:#}");
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);

    // --rev picks the feature branch explicitly.
    let run = r.plan_at("feature", NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/bob.yaml", "not-reviewed")]);
}

#[test]
fn a_tag_named_like_the_branch_does_not_stand_in_for_it() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    let main = r.rev("main");
    // Someone who may push tags, but not main, points a tag called `main` at a commit where
    // alice's approved request is gone.
    r.git(&["checkout", "-q", "-b", "elsewhere"]);
    r.remove(ALICE);
    r.commit("Remove alice", T2);
    r.git(&["tag", "main"]);
    r.git(&["checkout", "-q", "main"]);

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["commit"], serde_json::json!(main), "the branch, not the tag: {v:#}");
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);

    // Named explicitly, a branch is still the branch.
    let run = r.plan_at("main", NOW);
    run.expect_code(0);
    assert_eq!(run.json()["commit"], serde_json::json!(main), "--rev main means the branch");
}

#[test]
fn a_foxtrot_merge_is_judged_on_the_new_first_parent_history() {
    let r = TestRepo::standard();
    let base = r.head();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    // A branch from before that merge adds bob without review, merges main into itself, and
    // main is fast-forwarded to it: the reviewed merge is no longer on the first-parent chain.
    r.git(&["checkout", "-q", "-b", "sneaky", &base]);
    r.write("requests/bob.yaml", &simple("bob", ONCALL));
    r.commit("Add bob", T2);
    r.git_at(
        &["merge", "-q", "--no-ff", "--no-edit", "-m", "Merge branch 'main' into sneaky", "main"],
        T3,
        T3,
    );
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--ff-only", "sneaky"]);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed"), ("requests/bob.yaml", "not-reviewed")]);
    assert_changes(&v, vec![]);
}
