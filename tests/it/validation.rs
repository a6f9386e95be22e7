//! Rule 10: fail closed, keep going. A bad request file grants nothing and the run goes on; a
//! `tenure.yaml` or catalog that cannot be read stops the run before any change (exit 2).

use crate::support::*;

const GOOD: &str = "requests/payments/alice.yaml";
const OLD: &str = "requests/bob-old.yaml";

#[test]
fn invalid_files_do_not_stop_the_others() {
    let r = TestRepo::standard();
    r.merge("Old access", "bob", &["carol"], T1, |r| {
        r.write(OLD, &req("bob", &["bob"], &[(ONCALL, "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "bob")]);
    let good = simple("alice", ONCALL);
    r.merge("A batch of requests", "alice", &["carol"], T2, |r| {
        r.write(GOOD, &good);
        r.write("requests/syntax.yaml", "requester: alice\nsubjects: [alice\njustification: x\n");
        r.write("requests/duplicate-key.yaml", &format!("{good}requester: alice\n"));
        r.write("requests/two-documents.yaml", &format!("{good}---\n{good}"));
        r.write("requests/empty.yaml", "");
        r.write("requests/unknown-field.yaml", &format!("{good}color: red\n"));
        r.write("requests/wrong-type.yaml", &good.replace("subjects:\n  - alice\n", "subjects: alice\n"));
        r.write(
            "requests/empty-justification.yaml",
            &req("alice", &["alice"], &[(ONCALL, "member")]).justification("").yaml(),
        );
        r.write("requests/bad-login.yaml", &good.replace("requester: alice", "requester: alice_smith"));
        r.write(
            "requests/no-grants.yaml",
            "requester: alice\nsubjects: [alice]\njustification: x\ngrants: []\nexpires: 2026-02-01\n",
        );
        r.write("requests/bad-subject.yaml", &req("alice", &["has space"], &[(ONCALL, "member")]).yaml());
        r.write("requests/bad-expiry.yaml", &good.replace("expires: 2026-02-01", "expires: next tuesday"));
        r.write("requests/unknown-resource.yaml", &simple("alice", "local:group/nope"));
        r.write("requests/role.yaml", &req("alice", &["alice"], &[(ONCALL, "owner")]).yaml());
    });

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[
            ("requests/syntax.yaml", "invalid-yaml"),
            ("requests/duplicate-key.yaml", "invalid-yaml"),
            ("requests/two-documents.yaml", "invalid-yaml"),
            ("requests/empty.yaml", "invalid-yaml"),
            ("requests/unknown-field.yaml", "invalid-field"),
            ("requests/wrong-type.yaml", "invalid-field"),
            ("requests/empty-justification.yaml", "invalid-field"),
            ("requests/bad-login.yaml", "invalid-field"),
            ("requests/no-grants.yaml", "invalid-field"),
            ("requests/bad-subject.yaml", "invalid-field"),
            ("requests/bad-expiry.yaml", "invalid-field"),
            ("requests/unknown-resource.yaml", "unknown-resource"),
            ("requests/role.yaml", "role-not-allowed"),
        ],
    );
    // The valid request is granted, and expiries are still enforced.
    assert_changes(
        &v,
        vec![grant(ONCALL, "member", "alice", GOOD), revoke(ONCALL, "member", "bob", "expired", OLD)],
    );

    let run = r.apply(NOW, &[]);
    run.expect_code(1);
    assert_eq!(r.state(), triples(&[(local(ONCALL), "member", "alice")]));
}

#[test]
fn a_yaml_syntax_error_is_reported_with_file_line_and_column() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", "requester: alice\nsubjects: [alice]\njustification: a: b\n")
    });
    let run = r.check(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/alice.yaml", "invalid-yaml")]);
    let entry = &v["rejected"][0];
    assert_eq!(entry["line"], 3, "the error is on line 3: {entry:#}");
    let column = entry["column"].as_u64().unwrap_or_else(|| panic!("a column is reported: {entry:#}"));
    assert!((16..=18).contains(&column), "the error is at the second colon (column 17): {entry:#}");

    // The text output names the place too.
    let run = r.tenure(&["--now", NOW, "check"]);
    run.expect_code(1);
    let out = run.all_output();
    assert!(out.contains("requests/alice.yaml"), "file named:\n{out}");
    assert!(out.contains("invalid-yaml"), "code named:\n{out}");
    assert!(out.contains(":3:") || out.contains("line 3"), "line named:\n{out}");
}

/// A repository with work pending (alice to grant, bob's expired grant to revoke) whose policy
/// is then broken by an admin-approved merge of `path` with `text`.
fn broken(path: &str, text: &str) -> TestRepo {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &simple("alice", ONCALL))
    });
    r.merge("Old access", "bob", &["carol"], T1, |r| {
        r.write(OLD, &req("bob", &["bob"], &[(ONCALL, "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "bob")]);
    r.merge("Edit policy", "carol", &["root-admin"], T2, |r| r.write(path, text));
    r
}

#[track_caller]
fn assert_stops_before_any_change(r: &TestRepo) {
    let before = r.state_bytes();
    r.plan(NOW).expect_code(2);
    r.check(NOW).expect_code(2);
    r.apply(NOW, &[]).expect_code(2);
    r.apply(NOW, &["--force"]).expect_code(2);
    assert_eq!(r.state_bytes(), before, "the state file must be unchanged");
    assert!(r.audit().is_empty(), "nothing was applied: {:?}", r.audit());
}

#[test]
fn a_broken_tenure_yaml_stops_the_run() {
    let r = broken("tenure.yaml", &TENURE_YAML.replace("admins: [root-admin]", "admins: [root-admin"));
    assert_stops_before_any_change(&r);
}

#[test]
fn a_tenure_yaml_with_an_unknown_field_stops_the_run() {
    let r = broken("tenure.yaml", &format!("{TENURE_YAML}colour: blue\n"));
    assert_stops_before_any_change(&r);
}

#[test]
fn a_broken_catalog_stops_the_run() {
    let r = broken(
        "catalog/main.yaml",
        &CATALOG_MAIN.replace("    roles: [member, admin]\n", "    roles: [member, admin\n"),
    );
    assert_stops_before_any_change(&r);
}

#[test]
fn a_catalog_with_an_unknown_field_stops_the_run() {
    let r = broken(
        "catalog/main.yaml",
        &CATALOG_MAIN.replace("    max_duration: 30d\n", "    max_duraton: 30d\n"),
    );
    assert_stops_before_any_change(&r);
}

#[test]
fn a_resource_defined_twice_in_the_catalog_stops_the_run() {
    // A second definition of on-call with another owner: which owners count is ambiguous, so
    // the catalog cannot be read.
    let r = broken(
        "catalog/extra.yaml",
        "resources:\n  - id: local:group/oncall\n    owners: [mallory]\n    roles: [member, admin]\n",
    );
    assert_stops_before_any_change(&r);
}
