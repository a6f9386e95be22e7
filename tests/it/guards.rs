//! Rule 11: guards against runs that would revoke too much. Only `not-approved` and `drift`
//! revocations count; `plan` lists tripped guards and exits 1; `apply` refuses unless forced.

use crate::support::*;

const CALM: &str = "local:group/calm";
const WIDE: &str = "local:group/wide";

fn tenure_yaml(max_revocations: &str) -> String {
    format!(
        "version: 1\nforge: {{kind: git}}\nbranch: main\nadmins: [root-admin]\nproviders:\n  local: {{kind: file, path: state/local.json}}\nsafety: {{max_revocations: {max_revocations}}}\n"
    )
}

const CATALOG: &str = r#"resources:
  - id: local:group/prod
    owners: [carol]
    roles: [member]
    manage: exclusive
    keep: [ops-bot]
  - id: local:group/calm
    owners: [carol]
    roles: [member]
    manage: exclusive
    allow_empty: true
  - id: local:group/oncall
    owners: [carol]
    roles: [member]
  - id: local:group/wide
    owners: [carol]
    roles: [member]
    manage: exclusive
    keep: [k1, k2, k3]
"#;

fn repo(max_revocations: &str) -> TestRepo {
    TestRepo::with_policy(&tenure_yaml(max_revocations), &[("catalog/main.yaml", CATALOG)])
}

#[track_caller]
fn assert_only_max_revocations(v: &serde_json::Value) {
    let got = guards(v);
    assert!(!got.is_empty(), "the max-revocations guard must trip:\n{v:#}");
    assert!(got.iter().all(|(guard, _)| guard == "max-revocations"), "only max-revocations may trip:\n{v:#}");
}

/// Whether an audit record says that guards were overridden: a key naming "force" set to
/// true, or a text mentioning it.
fn says_forced(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(map) => map.iter().any(|(key, value)| {
            (key.to_ascii_lowercase().contains("force") && *value == serde_json::json!(true))
                || says_forced(value)
        }),
        serde_json::Value::Array(items) => items.iter().any(says_forced),
        serde_json::Value::String(text) => text.to_ascii_lowercase().contains("force"),
        _ => false,
    }
}

#[test]
fn too_many_drift_revocations_stop_apply_unless_forced() {
    let r = repo("1");
    r.seed_state(&[
        (local(PROD), "member", "ops-bot"),
        (local(PROD), "member", "zed"),
        (local(PROD), "member", "yan"),
    ]);
    let want = vec![revoke_drift(PROD, "member", "zed"), revoke_drift(PROD, "member", "yan")];

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, want.clone());
    assert_only_max_revocations(&v);

    let before = r.state_bytes();
    let run = r.apply(NOW, &[]);
    run.expect_code(1);
    let v = run.json();
    assert_eq!(v["applied"], serde_json::json!(false), "{v:#}");
    assert_only_max_revocations(&v);
    for change in v["changes"].as_array().expect("changes") {
        assert!(change.get("outcome").is_none_or(|o| o.is_null()), "a refused run has no outcomes: {change}");
    }
    assert_eq!(r.state_bytes(), before, "a refused run changes nothing");

    let run = r.apply(NOW, &["--force"]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["applied"], serde_json::json!(true), "{v:#}");
    assert_changes(&v, want);
    assert_eq!(r.state(), triples(&[(local(PROD), "member", "ops-bot")]));
    let audit = r.audit();
    let revokes: Vec<_> =
        audit.iter().filter(|l| find_key(l, "action") == Some(&serde_json::json!("revoke"))).collect();
    assert_eq!(revokes.len(), 2, "one audit line per applied change: {audit:#?}");
    assert!(audit.iter().any(says_forced), "the audit log must say that guards were overridden: {audit:#?}");

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![]);
    assert_no_guards(&v);
}

#[test]
fn not_approved_revocations_count() {
    let r = repo("1");
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &simple("alice", ONCALL))
    });
    r.merge("Add bob", "bob", &["carol"], T1, |r| r.write("requests/bob.yaml", &simple("bob", ONCALL)));
    r.seed_state(&[
        (local(ONCALL), "member", "alice"),
        (local(ONCALL), "member", "bob"),
        (local(ONCALL), "member", "zed"),
    ]);
    r.write(
        "requests/alice.yaml",
        &req("alice", &["alice"], &[(ONCALL, "member")]).justification("x").yaml(),
    );
    r.write("requests/bob.yaml", &req("bob", &["bob"], &[(ONCALL, "member")]).justification("x").yaml());
    r.commit("Edit both", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/alice.yaml", "not-reviewed"), ("requests/bob.yaml", "not-reviewed")]);
    assert_changes(
        &v,
        vec![
            revoke(ONCALL, "member", "alice", "not-approved", "requests/alice.yaml"),
            revoke(ONCALL, "member", "bob", "not-approved", "requests/bob.yaml"),
        ],
    );
    assert_only_max_revocations(&v);

    let before = r.state_bytes();
    r.apply(NOW, &[]).expect_code(1);
    assert_eq!(r.state_bytes(), before, "a refused run changes nothing");
}

#[test]
fn expired_and_removed_revocations_do_not_count() {
    let r = repo("1");
    let short = |who: &str| req(who, &[who], &[(ONCALL, "member")]).expires("2026-01-07").yaml();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write("requests/alice.yaml", &short("alice")));
    r.merge("Add bob", "bob", &["carol"], T1, |r| r.write("requests/bob.yaml", &short("bob")));
    r.merge("Add dan", "dan", &["carol"], T1, |r| r.write("requests/dan.yaml", &simple("dan", ONCALL)));
    r.seed_state(&[
        (local(ONCALL), "member", "alice"),
        (local(ONCALL), "member", "bob"),
        (local(ONCALL), "member", "dan"),
    ]);
    r.remove("requests/dan.yaml");
    r.commit("Remove dan", T2);

    let want = vec![
        revoke(ONCALL, "member", "alice", "expired", "requests/alice.yaml"),
        revoke(ONCALL, "member", "bob", "expired", "requests/bob.yaml"),
        revoke(ONCALL, "member", "dan", "request-removed", "requests/dan.yaml"),
    ];
    let run = r.tenure(&["--now", NOW, "--format", "json", "plan", "--detailed-exitcode"]);
    run.expect_code(3);
    let v = run.json();
    assert_changes(&v, want.clone());
    // The resource ends up empty, but none of its revocations is counted.
    assert_no_guards(&v);

    let run = r.apply(NOW, &[]);
    run.expect_code(0);
    assert_changes(&run.json(), want);
    assert_eq!(r.state(), vec![]);
}

#[test]
fn emptying_a_resource_trips_the_empty_resource_guard_unless_allowed() {
    let r = repo("1");
    r.seed_state(&[(local(PROD), "member", "zed")]);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![revoke_drift(PROD, "member", "zed")]);
    assert_eq!(guards(&v), vec![("empty-resource".to_owned(), Some(PROD.to_owned()))], "{v:#}");
    let before = r.state_bytes();
    r.apply(NOW, &[]).expect_code(1);
    assert_eq!(r.state_bytes(), before, "a refused run changes nothing");

    // The same on a resource with allow_empty: true.
    r.seed_state(&[(local(CALM), "member", "zed")]);
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![revoke_drift(CALM, "member", "zed")]);
    assert_no_guards(&v);
    r.apply(NOW, &[]).expect_code(0);
    assert_eq!(r.state(), vec![]);
}

#[test]
fn a_percentage_is_of_the_actual_grants_and_trips_only_when_strictly_exceeded() {
    let r = repo("25%");
    let keep = [(local(WIDE), "member", "k1"), (local(WIDE), "member", "k2"), (local(WIDE), "member", "k3")];

    // 1 of 4 is exactly 25%: allowed.
    let mut state = keep.to_vec();
    state.push((local(WIDE), "member", "zed"));
    r.seed_state(&state);
    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![revoke_drift(WIDE, "member", "zed")]);
    assert_no_guards(&v);

    // 2 of 5 is 40%: refused.
    state.push((local(WIDE), "member", "yan"));
    r.seed_state(&state);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![revoke_drift(WIDE, "member", "zed"), revoke_drift(WIDE, "member", "yan")]);
    assert_only_max_revocations(&v);
}

#[test]
fn an_absolute_count_limits_the_whole_run() {
    // One drift revocation on each of two resources: 1 each, but 2 in the run.
    let r = repo("1");
    r.seed_state(&[
        (local(PROD), "member", "ops-bot"),
        (local(PROD), "member", "zed"),
        (local(WIDE), "member", "k1"),
        (local(WIDE), "member", "zed"),
    ]);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![revoke_drift(PROD, "member", "zed"), revoke_drift(WIDE, "member", "zed")]);
    assert_eq!(guards(&v), vec![("max-revocations".to_owned(), None)], "{v:#}");
}
