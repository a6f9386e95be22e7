//! The `command` provider through the real binary when its plugin misbehaves: a `grant` that
//! hangs past `timeout`, one that exits 1, one that sprays junk, and a `list` that prints
//! garbage, fails or hangs. A failed change fails alone and the next run retries it; a failed
//! `list` stops the run before any change, on every provider. Also the README's walk-through
//! of the shipped example plugin, run step by step.

use std::fs;
use std::path::Path;

use crate::support::*;

const EXT: &str = "ext:group/ops";
const LOCAL: &str = "local:group/billing";
const PROGRAM: &str = "plugins/flaky";

/// A plugin that keeps grants in `$STORE`, one `resource role subject` a line, and misbehaves
/// on purpose: `list` as `$LIST_MODE` says, `grant` and `revoke` by subject.
const FLAKY: &str = r##"#!/bin/sh
set -u
store="${STORE:?STORE is not set}"
touch "$store"
input=$(cat)
field() { printf '%s' "$input" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
case "${1:-}" in
list)
  case "${LIST_MODE:-ok}" in
  garbage) echo 'Traceback (most recent call last):'; echo '  KeyError: grants'; exit 0 ;;
  fail) echo 'cannot reach the directory' >&2; exit 1 ;;
  hang) sleep 30; exit 0 ;;
  esac
  printf '{"grants":['
  sep=''
  while read -r res role subj; do
    printf '%s{"resource":"%s","role":"%s","subject":"%s"}' "$sep" "$res" "$role" "$subj"
    sep=','
  done < "$store"
  printf ']}\n'
  ;;
grant|revoke)
  res=$(field resource); role=$(field role); subj=$(field subject)
  case "$subj" in
  hang) sleep 30 ;;
  broken) echo "directory refused $subj: quota exceeded" >&2; exit 1 ;;
  junk) printf '\033[2J\033[31mJUNK\000\001 for junk\n' >&2; head -c 3000 /dev/zero | tr '\0' x; exit 7 ;;
  esac
  grep -vxF "$res $role $subj" "$store" > "$store.tmp" || true
  if [ "$1" = grant ]; then echo "$res $role $subj" >> "$store.tmp"; fi
  mv "$store.tmp" "$store"
  ;;
*) echo "unknown action ${1:-}" >&2; exit 2 ;;
esac
"##;

/// A repository with the plugin as `ext` (timeout 1s) and the file provider as `local`.
fn flaky_repo() -> TestRepo {
    let tenure = format!(
        "version: 1\nforge: {{kind: git}}\nbranch: main\nadmins: [root-admin]\nproviders:\n  \
         ext: {{kind: command, program: {PROGRAM}, env: [STORE, LIST_MODE], timeout: 1s}}\n  \
         local: {{kind: file, path: state/local.json}}\nsafety: {{max_revocations: 1000}}\n"
    );
    let catalog = "resources:\n  - id: ext:group/ops\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n  \
                   - id: local:group/billing\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n";
    TestRepo::with_files(&tenure, &[("catalog/main.yaml", catalog)], |r| r.write_executable(PROGRAM, FLAKY))
}

fn store(r: &TestRepo) -> String {
    r.root().join("ext-store.txt").to_string_lossy().into_owned()
}

fn stored(r: &TestRepo) -> Vec<String> {
    let mut lines: Vec<String> =
        fs::read_to_string(store(r)).unwrap_or_default().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn outcome<'a>(v: &'a serde_json::Value, subject: &str) -> &'a serde_json::Value {
    v["changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["subject"] == subject))
        .unwrap_or_else(|| panic!("no change for {subject}:\n{v:#}"))
}

/// Requests for `alice` (healthy), `bad` (the misbehaving subject) and `zed` (after it in plan
/// order) on the plugin's resource, and for `alice` on the file provider's.
fn merge_requests(r: &TestRepo, bad: &str) {
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write("requests/ops.yaml", &req("alice", &["alice", bad, "zed"], &[(EXT, "member")]).yaml());
        r.write("requests/billing.yaml", &simple("alice", LOCAL));
    });
}

/// One misbehaving `grant`: it fails with `expect` in its error, the others apply, the audit
/// has one line per change, and the next run retries only the failed one.
fn a_bad_grant_fails_alone(bad: &str, expect: &str) -> serde_json::Value {
    let r = flaky_repo();
    merge_requests(&r, bad);
    let store = store(&r);
    let env = [("STORE", store.as_str())];
    let run = r.apply_env(NOW, &[], &env);
    run.expect_code(1);
    let v = run.json();
    for subject in ["alice", "zed"] {
        assert_eq!(outcome(&v, subject)["outcome"], "ok", "{v:#}");
    }
    let failed = outcome(&v, bad);
    assert_eq!(failed["outcome"], "error", "{v:#}");
    let message = failed["error"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains(expect), "{message}");
    assert!(message.contains(PROGRAM) && message.contains("grant"), "{message}");
    assert_eq!(stored(&r), ["group/ops member alice", "group/ops member zed"]);
    assert_eq!(r.state(), triples(&[(local(LOCAL), "member", "alice")]));
    let audit = r.audit();
    assert_eq!(audit.len(), 4, "{audit:#?}");
    let errors: Vec<_> = audit.iter().filter(|line| line["outcome"] == "error").collect();
    assert_eq!(errors.len(), 1, "{audit:#?}");
    assert_eq!(errors[0]["subject"], bad);
    assert_eq!(errors[0]["error"], message.as_str(), "the audit line carries the same error");

    // Nothing is lost: the failed grant is planned again, and only it.
    let again = r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env);
    again.expect_code(0);
    assert_changes(&again.json(), vec![grant(EXT, "member", bad, "requests/ops.yaml")]);
    v
}

#[test]
fn a_hanging_grant_is_killed_at_the_timeout_and_the_others_apply() {
    a_bad_grant_fails_alone("hang", "did not finish within 1s and was killed");
}

#[test]
fn a_grant_that_exits_1_fails_with_its_stderr_and_the_others_apply() {
    a_bad_grant_fails_alone("broken", "exit code 1; stderr: directory refused broken: quota exceeded");
}

#[test]
fn a_grant_that_sprays_junk_fails_cleanly() {
    let v = a_bad_grant_fails_alone("junk", "exit code 7");
    let message = outcome(&v, "junk")["error"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("JUNK"), "{message}");
    assert!(
        !message.chars().any(|c| c == '\u{1b}' || c == '\0'),
        "control characters reached the output: {message:?}"
    );
}

/// A `list` that cannot be used stops `plan` and `apply` with exit 2, before any change on any
/// provider, and writes no audit line.
#[test]
fn a_list_that_prints_garbage_fails_or_hangs_stops_the_run_before_any_change() {
    for (mode, expect) in [
        ("garbage", "printed output that tenure cannot use"),
        ("fail", "cannot reach the directory"),
        ("hang", "did not finish within 1s"),
    ] {
        let r = flaky_repo();
        merge_requests(&r, "bob");
        let store = store(&r);
        let env = [("STORE", store.as_str()), ("LIST_MODE", mode)];
        let plan = r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env);
        plan.expect_code(2);
        assert!(plan.all_output().contains(expect), "{mode}: {}", plan.all_output());
        let apply = r.apply_env(NOW, &[], &env);
        apply.expect_code(2);
        assert!(apply.all_output().contains(expect), "{mode}: {}", apply.all_output());
        assert!(apply.all_output().contains("ext"), "{mode}: the provider is named: {}", apply.all_output());
        assert_eq!(stored(&r), Vec::<String>::new(), "{mode}");
        assert_eq!(r.state(), vec![], "{mode}: the file provider was not changed either");
        assert!(r.audit().is_empty(), "{mode}");
    }
}

/// The README's "Use the command provider" section, step by step: the shipped example plugin
/// copied into an access repository, a policy commit, a reviewed request, `plan` and `apply`,
/// and the expiry fourteen days later.
#[test]
fn the_readme_walkthrough_of_the_example_plugin_works() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/ldap-groups.sh");
    let plugin = fs::read_to_string(&example).expect("the shipped example plugin");
    let tenure = "version: 1\nforge: {kind: git}\nbranch: main\nadmins: [root-admin]\nproviders:\n  \
                  ldap: { kind: command, program: plugins/ldap-groups.sh, env: [LDAP_GROUPS_FILE], timeout: 10s }\n";
    let catalog = "resources:\n  - id: ldap:group/analysts\n    owners: [carol]\n    roles: [member]\n    max_duration: 30d\n";
    let r = TestRepo::with_files(tenure, &[("catalog/ldap.yaml", catalog)], |r| {
        r.write_executable("plugins/ldap-groups.sh", &plugin)
    });
    let request = "requester: alice\nsubjects: [alice]\njustification: \"Quarterly revenue analysis (FIN-42)\"\n\
                   grants:\n  - { resource: ldap:group/analysts, role: member }\nduration: 14d\n";
    // As in the README: one commit on main whose message carries the review trailers.
    r.write("requests/alice-analysts.yaml", request);
    r.squash("Request analysts for alice", "alice", &["carol"], T1);
    let groups = r.root().join("groups.json");
    let groups_env = groups.to_string_lossy().into_owned();
    let env = [("LDAP_GROUPS_FILE", groups_env.as_str())];

    let plan = r.tenure_env(&["--now", NOW, "plan"], &env);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("+ member alice: approved  requests/alice-analysts.yaml"),
        "{}",
        plan.stdout
    );
    let apply = r.apply_env(NOW, &[], &env);
    apply.expect_code(0);
    assert_changes(
        &apply.json(),
        vec![grant("ldap:group/analysts", "member", "alice", "requests/alice-analysts.yaml")],
    );
    let file: serde_json::Value = serde_json::from_str(&fs::read_to_string(&groups).unwrap()).unwrap();
    assert_eq!(
        file,
        serde_json::json!({"grants": [{"resource": "group/analysts", "role": "member", "subject": "alice"}]})
    );
    r.tenure_env(&["--now", NOW, "plan", "--detailed-exitcode"], &env).expect_code(0);

    // Fourteen days after the merge, the grant expires and `apply` runs `revoke`.
    let later = shift(T1, 14 * 24 * 3600 + 1);
    let expire = r.apply_env(&later, &[], &env);
    expire.expect_code(0);
    assert_changes(
        &expire.json(),
        vec![revoke("ldap:group/analysts", "member", "alice", "expired", "requests/alice-analysts.yaml")],
    );
    let file: serde_json::Value = serde_json::from_str(&fs::read_to_string(&groups).unwrap()).unwrap();
    assert_eq!(file, serde_json::json!({"grants": []}));
    assert_eq!(r.audit().len(), 2);
}
