//! Rules 5 and 6: a request is judged by the trusted policy at the first parent of its change
//! commit; policy trust is a chain of admin approvals that starts on first use.

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const BOB: &str = "requests/bob.yaml";
const DAN: &str = "requests/dan.yaml";

/// Exactly one `rejected` entry is an `unapproved-policy-change`, against one of `files`; any
/// other entry must be one of `others` (request files that the trusted policy rejects).
#[track_caller]
fn assert_policy_rejected(v: &serde_json::Value, files: &[&str], others: &[(&str, &str)]) {
    let got = rejected(v);
    let policy: Vec<_> = got.iter().filter(|(_, code)| code == "unapproved-policy-change").collect();
    assert_eq!(policy.len(), 1, "exactly one unapproved-policy-change expected:\n{v:#}");
    assert!(
        files.contains(&policy[0].0.as_str()),
        "rejected against {}, expected one of {files:?}:\n{v:#}",
        policy[0].0
    );
    for (file, code) in got.iter().filter(|(_, code)| code != "unapproved-policy-change") {
        assert!(
            others.contains(&(file.as_str(), code.as_str())),
            "unexpected rejection {file} {code}:\n{v:#}"
        );
    }
}

/// A repository with an approved grant pending for alice (granted at T1) and an expired
/// request whose tuple bob still holds, so that a working run has two changes to make.
fn repo_with_pending_work() -> TestRepo {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.merge("Add bob", "bob", &["carol"], T1, |r| {
        r.write(BOB, &req("bob", &["bob"], &[(ONCALL, "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "bob")]);
    r
}

fn pending_work() -> Vec<Change> {
    vec![grant(ONCALL, "member", "alice", ALICE), revoke(ONCALL, "member", "bob", "expired", BOB)]
}

/// Plans and applies, and checks that nothing changes and the policy file is rejected.
#[track_caller]
fn assert_refuses_everything(r: &TestRepo, files: &[&str], others: &[(&str, &str)]) {
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_policy_rejected(&v, files, others);
    assert_changes(&v, vec![]);

    let before = r.state_bytes();
    let run = r.apply(NOW, &[]);
    run.expect_code(1);
    let v = run.json();
    assert_eq!(v["applied"], serde_json::json!(false), "{v:#}");
    assert_policy_rejected(&v, files, others);
    assert_eq!(r.state_bytes(), before, "apply must not touch the state under an untrusted policy");
    for line in r.audit() {
        assert_ne!(
            find_key(&line, "outcome"),
            Some(&serde_json::json!("ok")),
            "nothing may be applied: {line}"
        );
    }
}

// ---- rule 6 ----

#[test]
fn the_first_policy_is_trusted_on_first_use_and_check_says_so() {
    let r = TestRepo::standard();
    let run = r.check(NOW);
    run.expect_code(0);
    let v = run.json();
    let notices = v["notices"].as_array().expect("notices");
    assert!(
        notices.iter().any(|n| n["code"] == "policy-trusted-on-first-use" && n["file"] == "tenure.yaml"),
        "check must report trust on first use:\n{v:#}"
    );
    assert_rejected(&v, &[]);
}

#[test]
fn a_catalog_change_approved_by_an_admin_is_trusted() {
    let r = TestRepo::standard();
    r.merge("Add the data team's group", "carol", &["root-admin"], T1, |r| {
        r.write(
            "catalog/data.yaml",
            "resources:\n  - id: local:group/data\n    owners: [carol]\n    roles: [member]\n",
        )
    });
    r.merge("Add alice to data", "alice", &["carol"], T2, |r| {
        r.write(ALICE, &simple("alice", "local:group/data"))
    });

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant("local:group/data", "member", "alice", ALICE)]);
}

#[test]
fn a_policy_change_approved_only_by_its_proposer_is_refused() {
    let r = repo_with_pending_work();
    let trusted = r.head();
    r.merge("Add carol as admin", "root-admin", &["root-admin"], T2, |r| {
        r.write("tenure.yaml", &TENURE_YAML.replace("admins: [root-admin]", "admins: [root-admin, carol]"))
    });
    assert_refuses_everything(&r, &["tenure.yaml"], &[]);

    // At the last trusted revision, the work goes on.
    let run = r.plan_at(&trusted, NOW);
    run.expect_code(0);
    assert_changes(&run.json(), pending_work());
}

#[test]
fn a_policy_change_approved_by_a_non_admin_is_refused() {
    let r = repo_with_pending_work();
    r.merge("Let mallory approve on-call", "carol", &["bob"], T2, |r| {
        r.write(
            "catalog/main.yaml",
            &CATALOG_MAIN
                .replace(r#"owners: [carol, "group:leads"]"#, r#"owners: [carol, "group:leads", mallory]"#),
        )
    });
    assert_refuses_everything(&r, &["catalog/main.yaml", "tenure.yaml"], &[]);
}

#[test]
fn a_direct_push_to_the_catalog_is_refused() {
    let r = repo_with_pending_work();
    r.write("catalog/main.yaml", &CATALOG_MAIN.replace("approvals: 2", "approvals: 1"));
    r.commit("Relax db approvals", T2);
    assert_refuses_everything(&r, &["catalog/main.yaml", "tenure.yaml"], &[]);
}

#[test]
fn a_direct_push_to_tenure_yaml_is_refused() {
    let r = repo_with_pending_work();
    r.write("tenure.yaml", &TENURE_YAML.replace("admins: [root-admin]", "admins: [root-admin, mallory]"));
    r.commit("Add mallory as admin", T2);
    assert_refuses_everything(&r, &["tenure.yaml"], &[]);
}

#[test]
fn a_later_admin_approved_policy_commit_repairs_the_chain() {
    let r = repo_with_pending_work();
    // Untrusted: mallory becomes an on-call owner by direct push.
    r.write(
        "catalog/main.yaml",
        &CATALOG_MAIN
            .replace(r#"owners: [carol, "group:leads"]"#, r#"owners: [carol, "group:leads", mallory]"#),
    );
    r.commit("Let mallory approve on-call", T2);
    // While the policy is untrusted, mallory approves dan's request.
    r.merge("Add dan", "dan", &["mallory"], T3, |r| r.write(DAN, &simple("dan", ONCALL)));
    assert_refuses_everything(&r, &["catalog/main.yaml", "tenure.yaml"], &[(DAN, "insufficient-approvals")]);

    // An admin-approved commit restores the catalog.
    r.merge("Restore the catalog", "carol", &["root-admin"], T4, |r| {
        r.write("catalog/main.yaml", CATALOG_MAIN)
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    // The untrusted policy gave mallory nothing: dan was judged by the last trusted policy.
    assert_rejected(&v, &[(DAN, "insufficient-approvals")]);
    assert_changes(&v, pending_work());
}

#[test]
fn admins_added_by_an_untrusted_commit_count_for_nothing() {
    let r = repo_with_pending_work();
    r.write("tenure.yaml", &TENURE_YAML.replace("admins: [root-admin]", "admins: [root-admin, mallory]"));
    r.commit("Add mallory as admin", T2);
    // mallory, an admin only in the untrusted policy, approves a further policy change.
    r.merge("Tidy the catalog", "carol", &["mallory"], T3, |r| {
        r.write("catalog/main.yaml", &format!("# tidied\n{CATALOG_MAIN}"))
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![]);
    let got = rejected(&v);
    assert!(!got.is_empty(), "the policy must be refused:\n{v:#}");
    assert!(got.iter().all(|(_, code)| code == "unapproved-policy-change"), "{v:#}");

    // root-admin, an admin of the last trusted policy, approves the removal of mallory.
    r.merge("Remove mallory", "carol", &["root-admin"], T4, |r| r.write("tenure.yaml", TENURE_YAML));
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, pending_work());
}

// ---- rule 5 ----

#[test]
fn an_owner_added_in_the_same_merge_does_not_count() {
    let r = TestRepo::standard();
    // One PR adds mallory as an owner and alice's request; an admin approves the policy part.
    r.merge("Add mallory as owner, and alice", "alice", &["root-admin", "mallory"], T1, |r| {
        r.write(
            "catalog/main.yaml",
            &CATALOG_MAIN
                .replace(r#"owners: [carol, "group:leads"]"#, r#"owners: [carol, "group:leads", mallory]"#),
        );
        r.write(ALICE, &simple("alice", ONCALL));
    });
    // Once the policy change is merged, mallory's approval counts for later requests.
    r.merge("Add bob", "bob", &["mallory"], T2, |r| r.write(BOB, &simple("bob", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "insufficient-approvals")]);
    assert_changes(&v, vec![grant(ONCALL, "member", "bob", BOB)]);
}

#[test]
fn approvals_lowered_in_the_same_merge_do_not_apply() {
    let r = TestRepo::standard();
    r.merge("db needs one approval, and alice", "alice", &["root-admin", "carol"], T1, |r| {
        r.write("catalog/main.yaml", &CATALOG_MAIN.replace("approvals: 2", "approvals: 1"));
        r.write(ALICE, &simple("alice", DB));
    });
    r.merge("Add bob to db", "bob", &["dave"], T2, |r| r.write(BOB, &simple("bob", DB)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "insufficient-approvals")]);
    assert_changes(&v, vec![grant(DB, "member", "bob", BOB)]);
}

#[test]
fn max_duration_raised_in_the_same_merge_does_not_apply() {
    let r = TestRepo::standard();
    // on-call allows 30d; the PR raises it to 60d and asks for 40 days.
    r.merge("on-call for 60d, and alice", "alice", &["root-admin", "carol"], T1, |r| {
        r.write("catalog/main.yaml", &CATALOG_MAIN.replacen("max_duration: 30d", "max_duration: 60d", 1));
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-02-14").yaml());
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "expiry-too-long")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_resource_removed_from_the_current_catalog_is_unknown_and_revoked() {
    let r = TestRepo::standard();
    r.merge("Add alice to legacy", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", LEGACY)));
    r.seed_state(&[(local(LEGACY), "member", "alice")]);
    r.merge("Retire legacy", "carol", &["root-admin"], T2, |r| r.remove("catalog/legacy.yaml"));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "unknown-resource")]);
    assert_changes(&v, vec![revoke(LEGACY, "member", "alice", "not-approved", ALICE)]);
}

#[test]
fn roles_added_in_the_same_merge_do_not_apply() {
    let r = TestRepo::standard();
    r.merge("billing admins, and alice", "alice", &["root-admin", "dave"], T1, |r| {
        r.write(
            "catalog/main.yaml",
            &CATALOG_MAIN
                .replace("owners: [dave]\n    roles: [member]", "owners: [dave]\n    roles: [member, admin]"),
        );
        r.write(ALICE, &req("alice", &["alice"], &[(BILLING, "admin")]).yaml());
    });
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "role-not-allowed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_later_policy_change_does_not_rejudge_an_earlier_approval() {
    let r = TestRepo::standard();
    // frank approves as a member of group:leads; later, an admin removes him from the group.
    r.merge("Add alice", "alice", &["frank"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.merge("frank leaves leads", "carol", &["root-admin"], T2, |r| {
        r.write("catalog/main.yaml", &CATALOG_MAIN.replace("leads: [bob, frank]", "leads: [bob]"))
    });
    r.merge("Add dan", "dan", &["frank"], T3, |r| r.write(DAN, &simple("dan", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(DAN, "insufficient-approvals")]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn admins_may_be_a_catalog_group() {
    let tenure = TENURE_YAML.replace("admins: [root-admin]", r#"admins: ["group:platform"]"#);
    let catalog = CATALOG_MAIN.replace("groups:\n", "groups:\n  platform: [pat, quinn]\n");
    let r = TestRepo::with_policy(&tenure, &[("catalog/main.yaml", &catalog)]);
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    // carol is no admin: refused.
    let bad = r.merge("Relax db", "pat", &["carol"], T2, |r| {
        r.write("catalog/main.yaml", &catalog.replace("approvals: 2", "approvals: 1"))
    });
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_policy_rejected(&v, &["catalog/main.yaml", "tenure.yaml"], &[]);
    assert_changes(&v, vec![]);

    // quinn is an admin through group:platform, and not the proposer.
    r.git(&["reset", "-q", "--hard", &format!("{bad}^1")]);
    r.merge("Relax db", "pat", &["quinn"], T2, |r| {
        r.write("catalog/main.yaml", &catalog.replace("approvals: 2", "approvals: 1"))
    });
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn trust_on_first_use_starts_at_the_commit_that_creates_tenure_yaml() {
    let r = TestRepo::empty();
    r.write("README.md", "# access\n");
    r.commit("Start", "2025-12-01T00:00:00Z");
    r.write(".gitignore", GITIGNORE);
    r.write("tenure.yaml", TENURE_YAML);
    r.write("catalog/main.yaml", CATALOG_MAIN);
    let first = r.commit("Add the policy", T0);
    r.seed_state(&[]);
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));

    let run = r.check(NOW);
    run.expect_code(0);
    let v = run.json();
    let notice = v["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .find(|n| n["code"] == "policy-trusted-on-first-use")
        .unwrap_or_else(|| panic!("no trust-on-first-use notice:\n{v:#}"));
    assert!(
        notice["message"].as_str().unwrap_or("").contains(&first[..7]),
        "the notice names the commit: {notice}"
    );
    let run = r.plan(NOW);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn a_catalog_added_after_the_first_policy_commit_needs_an_admin() {
    let r = TestRepo::with_policy(TENURE_YAML, &[]);
    r.write("catalog/main.yaml", CATALOG_MAIN);
    r.commit("Add the catalog", T1);
    r.merge("Add alice", "alice", &["carol"], T2, |r| r.write(ALICE, &simple("alice", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![]);
    assert!(rejected(&v).iter().any(|(_, code)| code == "unapproved-policy-change"), "{v:#}");
}

#[test]
fn re_creating_tenure_yaml_is_not_a_first_use() {
    let r = repo_with_pending_work();
    r.remove("tenure.yaml");
    r.commit("Remove the policy", T2);
    r.write("tenure.yaml", &TENURE_YAML.replace("admins: [root-admin]", "admins: [mallory]"));
    r.commit("Start over", T3);
    assert_refuses_everything(&r, &["tenure.yaml"], &[]);
}

#[test]
fn a_resource_moved_to_another_catalog_file_answers_to_its_new_owners_only() {
    // Each policy version is built from the one before it, changing only what changed: a move
    // between files is a removal from one and an addition to the other in the same version, and
    // the old owner's power must go with it while untouched resources keep theirs.
    let r = TestRepo::standard();
    let billing =
        "  - id: local:group/billing\n    owners: [dave]\n    roles: [member]\n    allow_empty: true\n";
    assert!(CATALOG_MAIN.contains(billing), "the standard catalog changed");
    const FRANK: &str = "requests/frank.yaml";
    r.merge("Add frank to billing", "frank", &["dave"], T1, |r| {
        r.write(FRANK, &simple("frank", "local:group/billing"))
    });
    r.merge("Move billing to erin's file", "carol", &["root-admin"], T2, |r| {
        r.write("catalog/main.yaml", &CATALOG_MAIN.replace(billing, ""));
        r.write(
            "catalog/legacy.yaml",
            &format!("{CATALOG_LEGACY}{}", billing.replace("owners: [dave]", "owners: [erin]")),
        );
    });
    r.merge("Add dan to billing", "dan", &["dave"], T3, |r| {
        r.write(DAN, &simple("dan", "local:group/billing"))
    });
    r.merge("Add alice to billing", "alice", &["erin"], T4, |r| {
        r.write(ALICE, &simple("alice", "local:group/billing"))
    });
    r.merge("Add bob to on-call", "bob", &["carol"], T4, |r| r.write(BOB, &simple("bob", ONCALL)));

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(DAN, "insufficient-approvals")]);
    assert_changes(
        &v,
        vec![
            grant("local:group/billing", "member", "alice", ALICE),
            // Approved by dave while billing was his: the policy of its own time judges it.
            grant("local:group/billing", "member", "frank", FRANK),
            grant(ONCALL, "member", "bob", BOB),
        ],
    );
}
