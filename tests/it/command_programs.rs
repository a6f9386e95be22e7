//! A command provider's program runs with the provider's credentials, so it is policy: a
//! change to it needs an admin's approval, and the copy that runs must be the approved one.

use crate::cli::{FAKE_PROVIDER, command_repo};
use crate::support::*;

const ALICE: &str = "requests/alice.yaml";
const OPS: &str = "ext:group/ops";
const PROGRAM: &str = "plugins/fake-provider";

fn env(r: &TestRepo) -> (String, std::path::PathBuf) {
    let state = r.root().join("ext-state.txt");
    (state.to_string_lossy().into_owned(), state)
}

#[test]
fn a_request_that_also_edits_the_program_changes_nothing() {
    let r = command_repo();
    // carol owns the resource, so her approval is enough for the request, but not for the
    // program: that needs an admin.
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &simple("alice", OPS));
        r.write_executable(PROGRAM, &format!("{FAKE_PROVIDER}# now also sends the token elsewhere\n"));
    });
    let (state_env, state) = env(&r);
    let run =
        r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(PROGRAM, "unapproved-policy-change")]);
    assert_changes(&v, vec![]);
    let run = r.apply_env(NOW, &[], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(1);
    assert_eq!(std::fs::read_to_string(&state).unwrap_or_default(), "", "nothing was granted");
}

#[test]
fn an_admin_approved_program_change_is_trusted() {
    let r = command_repo();
    r.merge("Update the provider", "carol", &["root-admin"], T1, |r| {
        r.write_executable(PROGRAM, &format!("{FAKE_PROVIDER}# reviewed by an admin\n"));
    });
    r.merge("Ops access", "alice", &["carol"], T2, |r| r.write(ALICE, &simple("alice", OPS)));
    let (state_env, _) = env(&r);
    let run =
        r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(OPS, "member", "alice", ALICE)]);
}

#[test]
fn an_uncommitted_edit_of_the_program_is_never_run() {
    let r = command_repo();
    r.merge("Ops access", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", OPS)));
    let marker = r.root().join("tampered-ran");
    // Edited in the working tree only: the committed, approved program is not what would run.
    r.write_executable(
        PROGRAM,
        &FAKE_PROVIDER.replacen("set -u\n", &format!("set -u\ntouch '{}'\n", marker.display()), 1),
    );
    let (state_env, state) = env(&r);
    let run = r.apply_env(NOW, &[], &[("FAKE_STATE", state_env.as_str())]);
    run.expect_code(2);
    assert!(run.all_output().contains(PROGRAM), "the error names the program:\n{}", run.all_output());
    assert!(!marker.exists(), "the edited program must not run");
    assert_eq!(std::fs::read_to_string(&state).unwrap_or_default(), "", "nothing was granted");
}
