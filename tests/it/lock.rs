//! One apply at a time: while one `apply` is held inside a slow command-provider change, a
//! second `apply` on the same audit log or the same state file waits (bounded) and then refuses,
//! naming the lock file and its holder; `plan` and `check` never take the lock. The held run is
//! released by the test, not by a timer.

use std::fs;

use crate::faults::{Slow, kill, read_outputs, slow_repo, spawn_apply};
use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const OPS: &str = "slow:group/ops";

#[test]
fn a_second_apply_refuses_while_the_first_holds_the_lock() {
    let r = slow_repo();
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice", "dan"], &[(OPS, "member")]).yaml())
    });
    let slow = Slow::new(&r);
    let state_env = slow.env();
    let env = [("FAKE_STATE", state_env.as_str())];

    let out = r.root().join("first");
    let mut first = spawn_apply(&r, &out, &[], &[env[0], ("BLOCK_SUBJECT", "alice")]);
    slow.wait_until_blocked(&mut first, &out);
    let pid = first.id();
    let audit_before = fs::read(r.audit_path()).unwrap();

    // Refused at once, with the lock file and the holder named.
    let second = r.apply_env(NOW, &["--lock-timeout", "0s"], &env);
    second.expect_code(2);
    let message = second.all_output();
    let lock = format!("{}.lock", r.audit_path().display());
    assert!(message.contains("another tenure apply holds the lock"), "{message}");
    assert!(message.contains(&lock), "names the lock file {lock}: {message}");
    assert!(message.contains(&format!("pid {pid} ")), "names the holder's pid {pid}: {message}");
    assert!(message.contains("on host "), "{message}");
    assert!(message.contains("--lock-timeout"), "{message}");
    assert!(!message.contains("waiting for the lock"), "a zero timeout does not wait: {message}");

    // With a timeout, it says that it waits, and for whom, then gives up the same way.
    let waiting = r.apply_env(NOW, &["--lock-timeout", "50ms"], &env);
    waiting.expect_code(2);
    let message = waiting.all_output();
    assert!(message.contains(&format!("waiting for the lock {lock} held by pid {pid} ")), "{message}");
    assert!(message.contains("another tenure apply holds the lock"), "{message}");

    // The refused runs changed nothing and recorded nothing.
    assert_eq!(fs::read(r.audit_path()).unwrap(), audit_before);
    assert_eq!(slow.grants(), Vec::<String>::new());

    // Reading runs never take the lock.
    r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &env).expect_code(0);
    r.tenure_env(&["--now", NOW, "--format", "json", "check"], &env).expect_code(0);

    // Released: the first run records alice's failure, grants dan, and ends.
    slow.release();
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", read_outputs(&out));
    assert_eq!(slow.grants(), ["group/ops member dan"]);

    // Now a second run gets the lock and finishes the job.
    let run = r.apply_env(NOW, &["--lock-timeout", "0s"], &env);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(OPS, "member", "alice", ALICE)]);
    assert_eq!(slow.grants(), ["group/ops member alice", "group/ops member dan"]);
}

#[test]
fn a_file_provider_state_is_locked_even_under_another_audit_log() {
    let tenure = format!(
        "version: 1\nforge: {{kind: git}}\nbranch: main\nadmins: [root-admin]\nproviders:\n  \
         local: {{kind: file, path: state/local.json}}\n  \
         slow: {{kind: command, program: {}, env: [FAKE_STATE, BLOCK_SUBJECT], timeout: 300s}}\n\
         safety: {{max_revocations: 1000}}\n",
        crate::faults::PROGRAM
    );
    let catalog = "resources:\n\
        \x20 - {id: local:group/oncall, owners: [carol], roles: [member], allow_empty: true}\n\
        \x20 - {id: slow:group/ops, owners: [carol], roles: [member], allow_empty: true}\n";
    let r = TestRepo::with_files(&tenure, &[("catalog/main.yaml", catalog)], |r| {
        r.write_executable(crate::faults::PROGRAM, crate::faults::BLOCKING_PROVIDER)
    });
    r.merge("Access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice"], &[("local:group/oncall", "member"), (OPS, "member")]).yaml())
    });
    let slow = Slow::new(&r);
    let state_env = slow.env();

    let out = r.root().join("first");
    let mut first =
        spawn_apply(&r, &out, &[], &[("FAKE_STATE", state_env.as_str()), ("BLOCK_SUBJECT", "alice")]);
    slow.wait_until_blocked(&mut first, &out);

    let other_audit = r.root().join("other-audit.jsonl").to_string_lossy().into_owned();
    let second = r.tenure_env(
        &["--now", NOW, "--format", "json", "apply", "--audit", &other_audit, "--lock-timeout", "0s"],
        &[("FAKE_STATE", state_env.as_str())],
    );
    second.expect_code(2);
    let message = second.all_output();
    let lock = format!("{}.lock", r.path("state/local.json").display());
    assert!(message.contains(&lock), "names the state file's lock {lock}: {message}");
    assert!(message.contains(&format!("pid {} ", first.id())), "{message}");
    assert_eq!(fs::read_to_string(&other_audit).unwrap_or_default(), "", "nothing recorded");

    kill(first);
    slow.release();
    // A lock file left by a killed holder does not block the next run.
    assert!(r.path("state/local.json.lock").exists());
    let run = r.tenure_env(
        &["--now", NOW, "--format", "json", "apply", "--audit", &other_audit, "--lock-timeout", "0s"],
        &[("FAKE_STATE", state_env.as_str())],
    );
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant(OPS, "member", "alice", ALICE)]);
}

#[test]
fn a_bad_lock_timeout_is_refused_before_any_change() {
    let r = TestRepo::standard();
    r.merge("On-call", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    let before = r.state_bytes();
    for bad in ["soon", "10x", "2d"] {
        let run = r.apply(NOW, &["--lock-timeout", bad]);
        run.expect_code(2);
        assert!(run.stderr.contains("--lock-timeout"), "{}", run.stderr);
        assert_eq!(r.state_bytes(), before);
    }
}
