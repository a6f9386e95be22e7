//! The command line of docs/cli-contract.md: exit codes, apply and its audit log,
//! idempotency, failed changes, report, expiring, explain, check and schema.

use serde_json::{Value, json};

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const BOB: &str = "requests/bob.yaml";

/// Whether `value` is an RFC 3339 string for the same instant as `want`.
#[track_caller]
fn assert_instant(value: Option<&Value>, want: &str) {
    let got = value.and_then(Value::as_str).unwrap_or_else(|| panic!("expected a time, got {value:?}"));
    let got =
        chrono::DateTime::parse_from_rfc3339(got).unwrap_or_else(|e| panic!("{got} is not RFC 3339: {e}"));
    let want = chrono::DateTime::parse_from_rfc3339(want).unwrap();
    assert_eq!(got, want);
}

/// alice approved by carol (mallory's and alice's own approvals are ignored), with a ticket;
/// bob's approved request expired and his grant is still held.
fn repo_with_work() -> (TestRepo, String) {
    let r = TestRepo::standard();
    let change = r.merge("Add alice", "alice", &["carol", "mallory", "alice"], T1, |r| {
        r.write(
            ALICE,
            &req("alice", &["alice"], &[(ONCALL, "member")])
                .justification("Payments on-call, Q1")
                .ticket("OPS-1234")
                .yaml(),
        )
    });
    r.merge("Old access", "bob", &["carol"], T1, |r| {
        r.write(BOB, &req("bob", &["bob"], &[(ONCALL, "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[(local(ONCALL), "member", "bob")]);
    (r, change)
}

fn work() -> Vec<Change> {
    vec![grant(ONCALL, "member", "alice", ALICE), revoke(ONCALL, "member", "bob", "expired", BOB)]
}

#[test]
fn apply_makes_the_changes_and_a_second_plan_is_empty() {
    let (r, _) = repo_with_work();
    let run = r.apply(NOW, &[]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["applied"], json!(true), "{v:#}");
    assert_changes(&v, work());
    for change in v["changes"].as_array().unwrap() {
        assert_eq!(change["outcome"], "ok", "{change:#}");
    }
    assert_eq!(r.state(), triples(&[(local(ONCALL), "member", "alice")]));

    let run = r.plan(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_changes(&v, vec![]);
    assert_rejected(&v, &[]);
    assert_drift(&v, &[]);
    r.tenure(&["--now", NOW, "plan", "--detailed-exitcode"]).expect_code(0);

    // A second apply changes nothing and audits nothing more.
    let lines = r.audit().len();
    let run = r.apply(NOW, &[]);
    run.expect_code(0);
    assert_changes(&run.json(), vec![]);
    assert_eq!(r.state(), triples(&[(local(ONCALL), "member", "alice")]));
    let changes_audited = r.audit().iter().filter(|l| find_key(l, "action").is_some()).count();
    assert_eq!(changes_audited, lines, "no new change lines in the audit log");
}

#[test]
fn apply_writes_one_audit_line_per_change_with_evidence() {
    let (r, change) = repo_with_work();
    let blob = r.blob(ALICE);
    r.apply(NOW, &[]).expect_code(0);
    let audit = r.audit();
    let changes: Vec<&Value> = audit.iter().filter(|l| find_key(l, "action").is_some()).collect();
    assert_eq!(changes.len(), 2, "one line per change: {audit:#?}");

    let grant =
        changes.iter().find(|l| find_key(l, "action") == Some(&json!("grant"))).expect("a grant line");
    let field =
        |key: &str| find_key(grant, key).unwrap_or_else(|| panic!("audit line lacks {key}: {grant:#}"));
    assert_eq!(field("resource"), ONCALL);
    assert_eq!(field("role"), "member");
    assert_eq!(field("subject"), "alice");
    assert_eq!(field("reason"), "approved");
    assert_eq!(field("outcome"), "ok");
    assert_eq!(field("request"), ALICE);
    assert_eq!(field("blob"), &json!(blob));
    assert_eq!(field("change_commit"), &json!(change));
    assert_eq!(field("requester"), "alice");
    assert_eq!(field("approvers"), &json!(["carol"]), "only approvals that counted: {grant:#}");
    assert_eq!(field("justification"), "Payments on-call, Q1");
    assert_instant(Some(field("expires")), &format!("{EXPIRES_AT}Z"));
    let text = grant.to_string();
    assert!(text.contains(&r.head()), "the repository commit is recorded: {grant:#}");

    let revoke =
        changes.iter().find(|l| find_key(l, "action") == Some(&json!("revoke"))).expect("a revoke line");
    assert_eq!(find_key(revoke, "subject"), Some(&json!("bob")), "{revoke:#}");
    assert_eq!(find_key(revoke, "reason"), Some(&json!("expired")), "{revoke:#}");
    assert_eq!(find_key(revoke, "outcome"), Some(&json!("ok")), "{revoke:#}");

    // The log is append-only: a later run adds its lines after the earlier ones.
    let earlier = std::fs::read_to_string(r.audit_path()).unwrap();
    r.merge("Add dan", "dan", &["carol"], T2, |r| r.write("requests/dan.yaml", &simple("dan", ONCALL)));
    r.apply(NOW, &[]).expect_code(0);
    let now = std::fs::read_to_string(r.audit_path()).unwrap();
    assert!(now.starts_with(&earlier), "earlier lines are kept");
    let added: Vec<Value> = now[earlier.len()..]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let added_changes: Vec<&Value> = added.iter().filter(|l| find_key(l, "action").is_some()).collect();
    assert_eq!(added_changes.len(), 1, "{added:#?}");
    assert_eq!(find_key(added_changes[0], "subject"), Some(&json!("dan")));
}

#[test]
fn plan_detailed_exitcode() {
    let r = TestRepo::standard();
    r.tenure(&["--now", NOW, "--format", "json", "plan", "--detailed-exitcode"]).expect_code(0);
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    r.tenure(&["--now", NOW, "--format", "json", "plan", "--detailed-exitcode"]).expect_code(3);
    r.tenure(&["--now", NOW, "plan", "--detailed-exitcode"]).expect_code(3);
    r.tenure(&["--now", NOW, "plan"]).expect_code(0);
    // A rejected request makes it 1, even with changes pending.
    r.write(BOB, &simple("bob", ONCALL));
    r.commit("Add bob", T2);
    r.tenure(&["--now", NOW, "--format", "json", "plan", "--detailed-exitcode"]).expect_code(1);
}

#[test]
fn global_flags_may_follow_the_command() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    let run = r.tenure(&["plan", "--now", NOW, "--format", "json"]);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(ONCALL, "member", "alice", ALICE)]);
}

pub(crate) const FAKE_PROVIDER: &str = r##"#!/bin/sh
# A fake access system for tests: grants live in $FAKE_STATE, one "resource role subject" a line.
# It refuses every change for the subject "bob".
set -u
state="${FAKE_STATE:?FAKE_STATE is not set}"
touch "$state"
input=$(cat | tr -d '\n\r')
field() {
  printf '%s' "$input" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
env > "$state.env"
if [ "${FAKE_FAIL_LIST:-}" = 1 ] && [ "${1:-}" = list ]; then
  echo "cannot reach the backend" >&2
  exit 1
fi
case "${1:-}" in
list)
  printf '{"grants":['
  sep=''
  while read -r res role subj; do
    [ -n "$res" ] || continue
    case "$input" in *"\"$res\""*) ;; *) continue ;; esac
    printf '%s{"resource":"%s","role":"%s","subject":"%s"}' "$sep" "$res" "$role" "$subj"
    sep=','
  done < "$state"
  printf ']}\n'
  ;;
grant|revoke)
  res=$(field resource); role=$(field role); subj=$(field subject)
  if [ "$subj" = bob ]; then
    echo "backend refused bob" >&2
    exit 1
  fi
  grep -vxF "$res $role $subj" "$state" > "$state.tmp" || true
  if [ "$1" = grant ]; then echo "$res $role $subj" >> "$state.tmp"; fi
  mv "$state.tmp" "$state"
  ;;
*)
  echo "unknown command: ${1:-}" >&2
  exit 2
  ;;
esac
"##;

/// A repository whose only provider is [`FAKE_PROVIDER`], as `ext`.
pub(crate) fn command_repo() -> TestRepo {
    let tenure = "version: 1\nforge: {kind: git}\nbranch: main\nadmins: [root-admin]\nproviders:\n  ext: {kind: command, program: plugins/fake-provider, env: [FAKE_STATE, FAKE_FAIL_LIST], timeout: 30s}\nsafety: {max_revocations: 1000}\n";
    let catalog = "resources:\n  - id: ext:group/ops\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n";
    TestRepo::with_files(tenure, &[("catalog/main.yaml", catalog)], |r| {
        r.write_executable("plugins/fake-provider", FAKE_PROVIDER)
    })
}

#[test]
fn one_failed_change_does_not_stop_the_others() {
    let r = command_repo();
    let ops = "ext:group/ops";
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice", "bob", "dan"], &[(ops, "member")]).yaml())
    });
    r.merge("Old ops access", "eve", &["carol"], T1, |r| {
        r.write("requests/eve.yaml", &req("eve", &["eve"], &[(ops, "member")]).expires("2026-01-07").yaml())
    });
    let state = r.root().join("ext-state.txt");
    std::fs::write(&state, "group/ops member eve\n").unwrap();
    let state_env = state.to_string_lossy().into_owned();
    let env = [("FAKE_STATE", state_env.as_str())];

    let want = vec![
        grant(ops, "member", "alice", ALICE),
        grant(ops, "member", "bob", ALICE),
        grant(ops, "member", "dan", ALICE),
        revoke(ops, "member", "eve", "expired", "requests/eve.yaml"),
    ];
    let run = r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env);
    run.expect_code(0);
    assert_changes(&run.json(), want.clone());

    let run = r.apply_env(NOW, &[], &env);
    run.expect_code(1);
    let v = run.json();
    assert_eq!(v["applied"], json!(true), "{v:#}");
    assert_changes(&v, want);
    for change in v["changes"].as_array().unwrap() {
        if change["subject"] == "bob" {
            assert_eq!(change["outcome"], "error", "{change:#}");
            let error = change["error"].as_str().unwrap_or_else(|| panic!("an error message: {change:#}"));
            assert!(error.contains("backend refused bob"), "the program's stderr is shown: {change:#}");
        } else {
            assert_eq!(change["outcome"], "ok", "{change:#}");
        }
    }
    let mut lines: Vec<String> =
        std::fs::read_to_string(&state).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, vec!["group/ops member alice", "group/ops member dan"]);

    let audit = r.audit();
    let changes: Vec<&Value> = audit.iter().filter(|l| find_key(l, "action").is_some()).collect();
    assert_eq!(changes.len(), 4, "one line per change, failed or not: {audit:#?}");
    let bob = changes.iter().find(|l| find_key(l, "subject") == Some(&json!("bob"))).expect("bob's line");
    assert_ne!(find_key(bob, "outcome"), Some(&json!("ok")), "{bob:#}");
    assert!(bob.to_string().contains("backend refused bob"), "stderr in the audit log: {bob:#}");

    // What failed is still to do.
    let run = r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(ops, "member", "bob", ALICE)]);
}

#[test]
fn an_unreachable_provider_stops_the_run_before_any_change() {
    let r = command_repo();
    r.merge("Ops access", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", "ext:group/ops")));
    let state = r.root().join("ext-state.txt");
    let state_env = state.to_string_lossy().into_owned();
    let env = [("FAKE_STATE", state_env.as_str()), ("FAKE_FAIL_LIST", "1")];
    r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env).expect_code(2);
    r.apply_env(NOW, &[], &env).expect_code(2);
    assert_eq!(std::fs::read_to_string(&state).unwrap_or_default(), "", "nothing was granted");
}

#[test]
fn a_command_provider_gets_only_path_home_and_the_named_variables() {
    let r = command_repo();
    let state = r.root().join("ext-state.txt");
    let state_env = state.to_string_lossy().into_owned();
    let env = [
        ("FAKE_STATE", state_env.as_str()),
        ("TENURE_TEST_SECRET", "hunter2"),
        ("GITHUB_TOKEN", "ghp_secret"),
    ];
    r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env).expect_code(0);
    let seen = std::fs::read_to_string(r.root().join("ext-state.txt.env")).expect("the program ran");
    let names: Vec<&str> = seen.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(names.contains(&"FAKE_STATE"), "a named variable is passed: {names:?}");
    assert!(names.contains(&"PATH"), "PATH is passed: {names:?}");
    assert!(!seen.contains("hunter2") && !seen.contains("ghp_secret"), "nothing else is passed:\n{seen}");
}

#[test]
fn the_repository_defaults_to_the_working_directory() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    let args: Vec<String> =
        ["--now", NOW, "--format", "json", "plan"].iter().map(|a| a.to_string()).collect();
    let run = r.tenure_in(r.dir(), &args, &[]);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(ONCALL, "member", "alice", ALICE)]);
}

#[test]
fn plan_renders_as_text_and_markdown() {
    let (r, _) = repo_with_work();
    for format in ["text", "markdown"] {
        let run = r.tenure(&["--now", NOW, "--format", format, "plan"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains(ONCALL) && run.stdout.contains("alice") && run.stdout.contains("bob"),
            "{format}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn report_shows_the_evidence_of_every_live_grant() {
    let (r, change) = repo_with_work();
    let policy = r.rev("main~2");
    // A rejected request and an expired one are not live grants.
    r.write("requests/mallory.yaml", &simple("mallory", ONCALL));
    r.commit("Add mallory", T2);
    let blob = r.blob(ALICE);

    let run = r.tenure(&["--now", NOW, "--format", "json", "report"]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["commit"], json!(r.head()), "{v:#}");
    let grants = v["grants"].as_array().expect("grants");
    assert_eq!(grants.len(), 1, "only alice's grant is live: {v:#}");
    let g = &grants[0];
    assert_eq!(g["resource"], ONCALL);
    assert_eq!(g["role"], "member");
    assert_eq!(g["subject"], "alice");
    assert_eq!(g["request"], ALICE);
    assert_eq!(g["blob"], json!(blob));
    assert_eq!(g["change_commit"], json!(change));
    assert_eq!(g["policy_commit"], json!(policy), "judged by the policy of the first commit: {g:#}");
    assert_eq!(g["requester"], "alice");
    assert_eq!(g["approvers"], json!(["carol"]), "only approvals that counted: {g:#}");
    assert_eq!(g["justification"], "Payments on-call, Q1");
    assert_eq!(g["ticket"], "OPS-1234");
    assert_eq!(g["break_glass"], false);
    assert_instant(g.get("merged_at"), T1);
    assert_instant(g.get("expires"), &format!("{EXPIRES_AT}Z"));

    // The other formats work too.
    for format in ["text", "csv", "markdown"] {
        let run = r.tenure(&["--now", NOW, "--format", format, "report"]);
        run.expect_code(0);
        assert!(run.stdout.contains("alice") && run.stdout.contains(ONCALL), "{format}:\n{}", run.stdout);
    }
}

#[test]
fn report_needs_only_the_repository() {
    let (r, _) = repo_with_work();
    std::fs::remove_file(r.path("state/local.json")).unwrap();
    let run = r.tenure(&["--now", NOW, "--format", "json", "report"]);
    run.expect_code(0);
    let v = run.json();
    let subjects: Vec<&str> =
        v["grants"].as_array().expect("grants").iter().map(|g| g["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, vec!["alice"], "{v:#}");
}

#[test]
fn expiring_lists_grants_that_end_within_the_window() {
    let r = TestRepo::standard();
    r.merge("Requests", "alice", &["carol"], T1, |r| {
        r.write(
            "requests/soon.yaml",
            &req("alice", &["ann"], &[(ONCALL, "member")]).expires("2026-01-12").yaml(),
        );
        r.write(
            "requests/later.yaml",
            &req("alice", &["ben"], &[(ONCALL, "member")]).expires("2026-02-01").yaml(),
        );
        r.write(
            "requests/gone.yaml",
            &req("alice", &["cat"], &[(ONCALL, "member")]).expires("2026-01-08").yaml(),
        );
    });
    let subjects = |within: &str| {
        let run = r.tenure(&["--now", NOW, "--format", "json", "expiring", "--within", within]);
        run.expect_code(0);
        let v = run.json();
        let mut out: Vec<String> = v["grants"]
            .as_array()
            .unwrap_or_else(|| panic!("grants: {v:#}"))
            .iter()
            .map(|g| g["subject"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    assert_eq!(subjects("7d"), vec!["ann"]);
    // The window defaults to 7d.
    let run = r.tenure(&["--now", NOW, "--format", "json", "expiring"]);
    run.expect_code(0);
    let v = run.json();
    let default: Vec<&str> =
        v["grants"].as_array().expect("grants").iter().map(|g| g["subject"].as_str().unwrap()).collect();
    assert_eq!(default, vec!["ann"], "{v:#}");
    assert_eq!(subjects("30d"), vec!["ann", "ben"]);
    assert_eq!(subjects("1d"), Vec::<String>::new());
}

#[test]
fn explain_names_the_change_and_each_approval() {
    let (r, change) = repo_with_work();
    let run = r.tenure(&["--now", NOW, "explain", ALICE]);
    run.expect_code(0);
    let out = run.stdout.clone();
    assert!(out.contains(&change[..7]), "the change commit is named:\n{out}");
    let line_with = |who: &str| {
        out.lines()
            .filter(|l| l.contains(who) && !l.to_ascii_lowercase().contains("requester:"))
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let carol = line_with("carol");
    assert!(!carol.is_empty(), "carol's approval is listed:\n{out}");
    assert!(!carol.contains("ignored") && !carol.contains("not counted"), "carol's approval counts:\n{out}");
    let mallory = line_with("mallory");
    assert!(mallory.contains("owner"), "mallory's approval is ignored because she is no owner:\n{out}");
    let requester_approval = out.lines().map(str::to_ascii_lowercase).any(|l| {
        l.contains("alice") && (l.contains("ignored") || l.contains("not counted")) && l.contains("requester")
    });
    assert!(requester_approval, "alice's own approval is ignored as the requester's:\n{out}");
}

#[test]
fn check_exit_codes_and_it_never_writes() {
    let r = TestRepo::standard();
    r.check(NOW).expect_code(0);
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    let before = r.state_bytes();
    let run = r.check(NOW);
    run.expect_code(0);
    let v = run.json();
    let approved = v["approved"].as_array().expect("approved");
    assert_eq!(approved.len(), 1, "{v:#}");
    assert_eq!(approved[0]["request"], ALICE);
    assert_eq!(approved[0]["break_glass"], false);
    assert_eq!(
        approved[0]["grants"],
        json!([{"resource": ONCALL, "role": "member", "subject": "alice"}]),
        "{v:#}"
    );
    assert_instant(approved[0].get("expires"), &format!("{EXPIRES_AT}Z"));
    assert_eq!(r.state_bytes(), before, "check never writes");
    assert!(!r.audit_path().exists() && !r.root().join("tenure-audit.jsonl").exists());
    assert!(!r.path("tenure-audit.jsonl").exists());

    r.write(BOB, &simple("bob", ONCALL));
    r.commit("Add bob", T2);
    let run = r.check(NOW);
    run.expect_code(1);
    assert_rejected(&run.json(), &[(BOB, "not-reviewed")]);
    r.tenure(&["--now", NOW, "check"]).expect_code(1);
}

#[test]
fn bad_arguments_and_unreadable_repositories_exit_2() {
    let r = TestRepo::standard();
    r.tenure(&["--now", NOW, "frobnicate"]).expect_code(2);
    r.tenure(&["--now", "next tuesday", "plan"]).expect_code(2);
    r.tenure(&["--now", NOW, "--format", "yaml", "plan"]).expect_code(2);
    r.tenure(&["--now", NOW, "--rev", "no-such-branch", "plan"]).expect_code(2);
    r.tenure(&["--now", NOW, "expiring", "--within", "soon"]).expect_code(2);

    let missing = r.root().join("missing");
    let run = assert_cmd::Command::cargo_bin("tenure")
        .unwrap()
        .args(["--repo", missing.to_str().unwrap(), "--now", NOW, "plan"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");

    // A repository without tenure.yaml.
    let empty = TestRepo::empty();
    empty.write("README.md", "hello\n");
    empty.commit("Initial", T0);
    empty.tenure(&["--now", NOW, "plan"]).expect_code(2);
}

#[test]
fn schema_prints_json_schemas() {
    let r = TestRepo::standard();
    let run = r.tenure(&["schema", "request"]);
    run.expect_code(0);
    let v = run.json();
    let text = v.to_string();
    for field in ["requester", "subjects", "justification", "grants", "expires", "duration", "break_glass"] {
        assert!(text.contains(field), "the request schema mentions {field}: {v:#}");
    }
    let run = r.tenure(&["schema"]);
    run.expect_code(0);
    assert!(run.json().is_object());
}
