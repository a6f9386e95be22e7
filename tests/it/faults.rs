//! Faults: tenure is killed (SIGKILL) in the middle of `apply`, and the next run converges:
//! nothing lost, nothing doubled, the state files are valid JSON, and the audit log still
//! verifies.
//!
//! The kill is made deterministic without timing: a command provider's program blocks on the
//! grant or revoke for one chosen subject, after writing a marker file. The test waits for the
//! marker (a bounded poll of the file system), then kills tenure, which is then known to be
//! inside that change, with every earlier change of the plan made and recorded, and no later
//! one started. File providers whose resources sort before the command provider's have written
//! their state by then; those that sort after have not, so the kill falls between two writes of
//! the file providers.

use std::fs;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A command provider for these tests: grants live in `$FAKE_STATE`, one
/// `resource role subject` a line. A grant or revoke for `$BLOCK_SUBJECT` writes
/// `$FAKE_STATE.blocked`, then waits, changing nothing, until `$FAKE_STATE.release` exists
/// (or about five minutes have passed, so that a failed test leaves nothing running), then
/// writes `$FAKE_STATE.exited` and fails.
pub(crate) const BLOCKING_PROVIDER: &str = r##"#!/bin/sh
set -u
state="${FAKE_STATE:?FAKE_STATE is not set}"
touch "$state"
input=$(cat | tr -d '\n\r')
field() {
  printf '%s' "$input" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
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
  if [ -n "${BLOCK_SUBJECT:-}" ] && [ "$subj" = "$BLOCK_SUBJECT" ]; then
    echo "$$" > "$state.blocked"
    i=0
    while [ ! -e "$state.release" ] && [ "$i" -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done
    touch "$state.exited"
    echo "released by the test without a change" >&2
    exit 3
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

pub(crate) const PROGRAM: &str = "plugins/slow-provider";
const ALICE: &str = "requests/alice.yaml";
const EVE: &str = "requests/eve.yaml";
const SLOW_OPS: &str = "slow:group/ops";
const VAULT_KEYS: &str = "vault:group/keys";

/// `tenure.yaml` with the blocking provider as `slow`, and extra provider lines.
fn tenure_yaml(extra_providers: &str) -> String {
    format!(
        "version: 1\nforge: {{kind: git}}\nbranch: main\nadmins: [root-admin]\nproviders:\n{extra_providers}  \
         slow: {{kind: command, program: {PROGRAM}, env: [FAKE_STATE, BLOCK_SUBJECT], timeout: 300s}}\n\
         safety: {{max_revocations: 1000}}\n"
    )
}

/// A repository whose only provider is the blocking one, managing `slow:group/ops`.
pub(crate) fn slow_repo() -> TestRepo {
    let catalog = "resources:\n  - id: slow:group/ops\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n";
    TestRepo::with_files(&tenure_yaml(""), &[("catalog/main.yaml", catalog)], |r| {
        r.write_executable(PROGRAM, BLOCKING_PROVIDER)
    })
}

/// A repository with three providers whose resources sort in this order: the file provider
/// `local`, the blocking `slow`, and the file provider `vault`.
fn mixed_repo() -> TestRepo {
    let providers =
        "  local: {kind: file, path: state/local.json}\n  vault: {kind: file, path: state/vault.json}\n";
    let catalog = "resources:\n\
        \x20 - {id: local:group/oncall, owners: [carol], roles: [member], allow_empty: true}\n\
        \x20 - {id: slow:group/ops, owners: [carol], roles: [member], allow_empty: true}\n\
        \x20 - {id: vault:group/keys, owners: [carol], roles: [member], allow_empty: true}\n";
    TestRepo::with_files(&tenure_yaml(providers), &[("catalog/main.yaml", catalog)], |r| {
        r.write_executable(PROGRAM, BLOCKING_PROVIDER)
    })
}

/// The blocking provider's state file and its markers.
pub(crate) struct Slow {
    pub(crate) state: PathBuf,
}

impl Slow {
    pub(crate) fn new(r: &TestRepo) -> Slow {
        let state = r.root().join("slow-state.txt");
        fs::write(&state, "").unwrap();
        Slow { state }
    }

    fn marker(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}.{suffix}", self.state.display()))
    }

    pub(crate) fn env(&self) -> String {
        self.state.to_string_lossy().into_owned()
    }

    /// The grants it holds, one line each, sorted.
    pub(crate) fn grants(&self) -> Vec<String> {
        let mut lines: Vec<String> =
            fs::read_to_string(&self.state).unwrap().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    /// Waits until the program is blocked inside a change of `apply`, failing if `apply` ends
    /// first. Bounded, so that a broken test fails instead of hanging.
    pub(crate) fn wait_until_blocked(&self, apply: &mut Child, out: &Path) {
        let marker = self.marker("blocked");
        for _ in 0..6000 {
            if marker.exists() {
                return;
            }
            if let Some(status) = apply.try_wait().unwrap() {
                panic!("apply ended ({status}) before it blocked:\n{}", read_outputs(out));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = apply.kill();
        panic!("apply never reached the blocking change:\n{}", read_outputs(out));
    }

    /// Lets the blocked program go (it fails without a change) and waits until it has exited.
    pub(crate) fn release(&self) {
        fs::write(self.marker("release"), "").unwrap();
        let exited = self.marker("exited");
        for _ in 0..6000 {
            if exited.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the blocked program did not exit after its release");
    }
}

/// Starts `tenure … apply` in the background, with stdout and stderr in files under `out`.
pub(crate) fn spawn_apply(r: &TestRepo, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let audit = r.audit_path();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenure"));
    cmd.current_dir(r.root())
        .arg("--repo")
        .arg(r.dir())
        .args(["--now", NOW, "--format", "json", "apply", "--audit"])
        .arg(&audit)
        .args(extra)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .stdin(Stdio::null())
        .stdout(fs::File::create(out.with_extension("stdout")).unwrap())
        .stderr(fs::File::create(out.with_extension("stderr")).unwrap());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.spawn().expect("start tenure")
}

pub(crate) fn read_outputs(out: &Path) -> String {
    let read = |ext| fs::read_to_string(out.with_extension(ext)).unwrap_or_default();
    format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
}

/// SIGKILLs `apply` and reaps it.
pub(crate) fn kill(mut apply: Child) {
    apply.kill().unwrap();
    let status = apply.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "tenure died of SIGKILL: {status}");
}

/// `tenure audit verify --format json` on the test's audit log.
pub(crate) fn verify(r: &TestRepo) -> (i32, Value) {
    let audit = r.audit_path().to_string_lossy().into_owned();
    let run = r.tenure(&["--format", "json", "audit", "verify", "--audit", audit.as_str()]);
    let value = run.json();
    (run.code, value)
}

/// The audit lines as `(action, resource, subject, outcome)`, in file order.
fn audit_summary(r: &TestRepo) -> Vec<(String, String, String, String)> {
    r.audit()
        .iter()
        .map(|line| {
            let s = |key: &str| line[key].as_str().unwrap_or_else(|| panic!("{key} in {line}")).to_owned();
            (s("action"), s("resource"), s("subject"), s("outcome"))
        })
        .collect()
}

fn line(action: &str, resource: &str, subject: &str) -> (String, String, String, String) {
    (action.into(), resource.into(), subject.into(), "ok".into())
}

#[test]
fn killed_inside_a_command_provider_change_the_next_run_converges() {
    let r = slow_repo();
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice", "dan", "erin"], &[(SLOW_OPS, "member")]).yaml())
    });
    r.merge("Old ops access", "eve", &["carol"], T1, |r| {
        r.write(EVE, &req("eve", &["eve"], &[(SLOW_OPS, "member")]).expires("2026-01-07").yaml())
    });
    let slow = Slow::new(&r);
    fs::write(&slow.state, "group/ops member eve\n").unwrap();
    let state_env = slow.env();

    // Plan order: alice, dan, erin, eve. The grant to dan hangs, and tenure dies inside it.
    let out = r.root().join("first");
    let mut first =
        spawn_apply(&r, &out, &[], &[("FAKE_STATE", state_env.as_str()), ("BLOCK_SUBJECT", "dan")]);
    slow.wait_until_blocked(&mut first, &out);
    kill(first);
    slow.release();

    assert_eq!(slow.grants(), ["group/ops member alice", "group/ops member eve"]);
    assert_eq!(audit_summary(&r), [line("grant", SLOW_OPS, "alice")], "only the finished change is recorded");
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["lines"], 1, "{report:#}");

    // The next run does the rest, once.
    let run = r.apply_env(NOW, &[], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(0);
    assert_changes(
        &run.json(),
        vec![
            grant(SLOW_OPS, "member", "dan", ALICE),
            grant(SLOW_OPS, "member", "erin", ALICE),
            revoke(SLOW_OPS, "member", "eve", "expired", EVE),
        ],
    );
    assert_eq!(slow.grants(), ["group/ops member alice", "group/ops member dan", "group/ops member erin"]);
    assert_eq!(
        audit_summary(&r),
        [
            line("grant", SLOW_OPS, "alice"),
            line("grant", SLOW_OPS, "dan"),
            line("grant", SLOW_OPS, "erin"),
            line("revoke", SLOW_OPS, "eve"),
        ]
    );
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["lines"], 4, "{report:#}");
    assert_eq!(report["torn"], serde_json::json!([]), "{report:#}");

    let plan =
        r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("FAKE_STATE", state_env.as_str())]);
    plan.expect_code(0);
    assert_changes(&plan.json(), vec![]);
}

#[test]
fn killed_between_the_writes_of_two_file_providers_the_next_run_converges() {
    let r = mixed_repo();
    r.merge("Access", "alice", &["carol"], T1, |r| {
        r.write(
            ALICE,
            &req(
                "alice",
                &["alice", "dan"],
                &[("local:group/oncall", "member"), (SLOW_OPS, "member"), (VAULT_KEYS, "member")],
            )
            .yaml(),
        )
    });
    r.merge("Old on-call access", "eve", &["carol"], T1, |r| {
        r.write(EVE, &req("eve", &["eve"], &[("local:group/oncall", "member")]).expires("2026-01-07").yaml())
    });
    r.seed_state(&[("group/oncall", "member", "eve")]);
    let slow = Slow::new(&r);
    let state_env = slow.env();

    // local (3 writes: alice, dan, eve's revocation), then slow hangs on alice; vault is never
    // reached.
    let out = r.root().join("first");
    let mut first =
        spawn_apply(&r, &out, &[], &[("FAKE_STATE", state_env.as_str()), ("BLOCK_SUBJECT", "alice")]);
    slow.wait_until_blocked(&mut first, &out);
    kill(first);
    slow.release();

    let local_after_kill = r.state_bytes();
    assert_eq!(r.state(), triples(&[("group/oncall", "member", "alice"), ("group/oncall", "member", "dan")]));
    assert!(!r.path("state/vault.json").exists(), "vault comes after the kill");
    let leftovers: Vec<_> = fs::read_dir(r.path("state"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "no temporary files are left");
    assert_eq!(slow.grants(), Vec::<String>::new());
    assert_eq!(
        audit_summary(&r),
        [
            line("grant", "local:group/oncall", "alice"),
            line("grant", "local:group/oncall", "dan"),
            line("revoke", "local:group/oncall", "eve"),
        ]
    );
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");

    let run = r.apply_env(NOW, &[], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(0);
    assert_changes(
        &run.json(),
        vec![
            grant(SLOW_OPS, "member", "alice", ALICE),
            grant(SLOW_OPS, "member", "dan", ALICE),
            grant(VAULT_KEYS, "member", "alice", ALICE),
            grant(VAULT_KEYS, "member", "dan", ALICE),
        ],
    );
    assert_eq!(r.state_bytes(), local_after_kill, "the finished provider is not written again");
    assert_eq!(slow.grants(), ["group/ops member alice", "group/ops member dan"]);
    let vault = parse_state(&fs::read_to_string(r.path("state/vault.json")).unwrap());
    assert_eq!(vault, triples(&[("group/keys", "member", "alice"), ("group/keys", "member", "dan")]));
    let summary = audit_summary(&r);
    assert_eq!(summary.len(), 7, "{summary:?}");
    let mut unique = summary.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "no change is recorded twice: {summary:?}");
    assert!(summary.iter().all(|(_, _, _, outcome)| outcome == "ok"), "{summary:?}");
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["lines"], 7, "{report:#}");

    let plan =
        r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("FAKE_STATE", state_env.as_str())]);
    plan.expect_code(0);
    assert_changes(&plan.json(), vec![]);
}
