//! `--only GLOB`: a run split into shards plans, between them, exactly what the whole run plans,
//! guards each resource in the shard that holds it, reports each rejection where its grants
//! are (or everywhere when they cannot be read), and touches only its own resources.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

const TENURE: &str = r#"version: 1
# forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  local: {kind: file, path: state/local.json}
  other: {kind: file, path: state/other.json}
defaults: {approvals: 1, max_duration: 90d}
safety: {max_revocations: 1000}
"#;

const CATALOG: &str = r#"resources:
  - id: local:group/a
    owners: [carol]
    roles: [member]
    allow_empty: true
  - id: local:group/b
    owners: [carol]
    roles: [member]
    manage: exclusive
  - id: other:group/c
    owners: [carol]
    roles: [member]
    allow_empty: true
  - id: other:group/d
    owners: [carol]
    roles: [member]
    manage: exclusive
"#;

const A: &str = "local:group/a";
const B: &str = "local:group/b";
const C: &str = "other:group/c";
const D: &str = "other:group/d";

/// Two providers, four resources; a history with a request that spans both providers, a
/// rejected request on one, an unreadable file, a deleted and an expired request; and state
/// with drift on both exclusive resources, one of which the run would empty (a guard).
fn repo() -> TestRepo {
    let r = TestRepo::with_policy(TENURE, &[("catalog/main.yaml", CATALOG)]);
    r.merge("Alice on a and c", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &["alice"], &[(A, "member"), (C, "member")]).yaml())
    });
    r.merge("Bob on d", "bob", &["carol"], T1, |r| r.write("requests/bob.yaml", &simple("bob", D)));
    r.merge("Erin on a", "erin", &["carol"], T1, |r| r.write("requests/erin.yaml", &simple("erin", A)));
    r.merge("Frank on c, briefly", "frank", &["carol"], T1, |r| {
        r.write(
            "requests/frank.yaml",
            &req("frank", &["frank"], &[(C, "member")]).expires("2026-01-06").yaml(),
        )
    });
    r.merge("Dan on c, self-approved", "dan", &["dan"], T2, |r| {
        r.write("requests/dan.yaml", &simple("dan", C))
    });
    r.merge("Broken", "gus", &["carol"], T2, |r| r.write("requests/broken.yaml", "requester: [gus\n"));
    r.merge("Remove erin", "erin", &[], T3, |r| r.remove("requests/erin.yaml"));
    r.seed_state(&[(local(A), "member", "erin"), (local(B), "member", "zed")]);
    r.write(
        "state/other.json",
        &state_json(&[
            ("group/c", "member", "frank"),
            ("group/d", "member", "yan"),
            ("group/c", "member", "dan"),
        ]),
    );
    r
}

fn plan_only(r: &TestRepo, only: &[&str]) -> Run {
    let mut args = vec!["--now", NOW, "--format", "json"];
    for pattern in only {
        args.extend(["--only", pattern]);
    }
    args.push("plan");
    r.tenure(&args)
}

fn per_resource_guards(v: &Value) -> BTreeSet<(String, Option<String>)> {
    guards(v).into_iter().filter(|(_, resource)| resource.is_some()).collect()
}

#[test]
fn the_union_of_the_shards_plans_is_the_whole_plan() {
    let r = repo();
    let whole = r.plan(NOW);
    whole.expect_code(1);
    let whole = whole.json();
    // The history is rich enough for the comparison to mean something.
    assert_changes(
        &whole,
        vec![
            grant(A, "member", "alice", "requests/alice.yaml"),
            revoke(A, "member", "erin", "request-removed", "requests/erin.yaml"),
            revoke_drift(B, "member", "zed"),
            grant(C, "member", "alice", "requests/alice.yaml"),
            revoke(C, "member", "frank", "expired", "requests/frank.yaml"),
            grant(D, "member", "bob", "requests/bob.yaml"),
            revoke_drift(D, "member", "yan"),
        ],
    );
    // dan's grant was never approved, so additive mode leaves it in place as drift.
    assert_drift(&whole, &[(C, "member", "dan")]);
    assert_eq!(
        per_resource_guards(&whole),
        BTreeSet::from([("empty-resource".to_owned(), Some(B.to_owned()))]),
        "{whole:#}"
    );

    let shards = [vec!["local:*"], vec![C, "other:group/d"]];
    let mut changes = Vec::new();
    let mut drift = Vec::new();
    let mut shard_guards = BTreeSet::new();
    for only in &shards {
        let run = plan_only(&r, only);
        run.expect_code(1);
        let v = run.json();
        for change in crate::support::changes(&v) {
            assert!(
                only.iter().any(|pattern| tenure::shard::matches(pattern, &change.resource)),
                "{change:?} is outside the shard {only:?}"
            );
            changes.push(change);
        }
        drift.extend(crate::support::drift(&v));
        shard_guards.extend(per_resource_guards(&v));
    }
    changes.sort();
    drift.sort();
    assert_eq!(changes, crate::support::changes(&whole), "the shards' changes differ from the whole plan's");
    assert_eq!(drift, crate::support::drift(&whole));
    assert_eq!(shard_guards, per_resource_guards(&whole), "each resource is guarded in its own shard");
}

#[test]
fn each_shard_reports_the_rejections_that_concern_it() {
    let r = repo();
    let whole = r.plan(NOW).json();
    assert_rejected(
        &whole,
        &[("requests/broken.yaml", "invalid-yaml"), ("requests/dan.yaml", "insufficient-approvals")],
    );
    // dan's file grants only on `other`; the unreadable file could grant anywhere.
    let local = plan_only(&r, &["local:*"]);
    local.expect_code(1);
    assert_rejected(&local.json(), &[("requests/broken.yaml", "invalid-yaml")]);
    let other = plan_only(&r, &["other:*"]);
    other.expect_code(1);
    assert_rejected(
        &other.json(),
        &[("requests/broken.yaml", "invalid-yaml"), ("requests/dan.yaml", "insufficient-approvals")],
    );
}

#[test]
fn a_shard_applies_only_its_own_resources() {
    let r = repo();
    let other_before = r.read("state/other.json");
    let audit = r.root().join("audit-local.jsonl").to_string_lossy().into_owned();
    let run =
        r.tenure(&["--now", NOW, "--format", "json", "--only", "local:group/a", "apply", "--audit", &audit]);
    run.expect_code(1); // the rejected files still answer "no"
    assert_eq!(r.read("state/other.json"), other_before, "the other provider was touched");
    assert_eq!(
        r.state(),
        triples(&[(local(A), "member", "alice"), (local(B), "member", "zed")]),
        "only local:group/a may change; b's guard belongs to another shard"
    );
    let lines = std::fs::read_to_string(&audit).expect("the shard's audit log");
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.lines().all(|line| line.contains(A)), "{lines}");
}

#[test]
fn a_pattern_that_matches_nothing_is_refused() {
    let r = repo();
    let before = r.state_bytes();
    let run = plan_only(&r, &["local:*", "gh:team/*"]);
    run.expect_code(2);
    assert!(run.stderr.contains("gh:team/*"), "{}", run.stderr);
    let run = plan_only(&r, &["local: *"]);
    run.expect_code(2);
    assert_eq!(r.state_bytes(), before);
}
