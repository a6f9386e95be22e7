//! Rule 12: break-glass requests are granted without approvals, to someone in the resource's
//! `break_glass.who`, for themselves alone, for at most `break_glass.max_duration`.

use crate::support::*;

const SAM: &str = "requests/sam-incident.yaml";

fn bg(requester: &str, subjects: &[&str], resource: &str, duration: &str) -> String {
    req(requester, subjects, &[(resource, "member")])
        .duration(duration)
        .justification("INC-42: payments down")
        .break_glass()
        .yaml()
}

/// Commits `files` on main in one commit whose message has only a Proposed-by trailer.
fn push_unapproved(r: &TestRepo, proposer: &str, files: &[(&str, String)]) -> String {
    for (path, text) in files {
        r.write(path, text);
    }
    r.commit(&format!("Emergency access\n\nProposed-by: {proposer}"), T1)
}

#[test]
fn break_glass_is_granted_without_approval_and_marked() {
    let r = TestRepo::standard();
    let change = push_unapproved(&r, "sam", &[(SAM, bg("sam", &["sam"], INCIDENT, "2h"))]);
    let during = "2026-01-05T11:00:00Z";

    let run = r.plan(during);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant_bg(INCIDENT, "member", "sam", SAM)]);

    let run = r.check(during);
    run.expect_code(0);
    let v = run.json();
    let approved = v["approved"].as_array().expect("approved");
    assert_eq!(approved.len(), 1, "{v:#}");
    assert_eq!(approved[0]["request"], SAM);
    assert_eq!(approved[0]["break_glass"], true, "{v:#}");

    let run = r.apply(during, &[]);
    run.expect_code(0);
    assert_eq!(r.state(), triples(&[(local(INCIDENT), "member", "sam")]));
    let audit = r.audit();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(find_key(&audit[0], "break_glass"), Some(&serde_json::json!(true)), "{:#}", audit[0]);
    assert_eq!(find_key(&audit[0], "reason"), Some(&serde_json::json!("break-glass")), "{:#}", audit[0]);
    assert_eq!(find_key(&audit[0], "change_commit"), Some(&serde_json::json!(change)), "{:#}", audit[0]);

    let run = r.tenure(&["--now", during, "--format", "json", "report"]);
    run.expect_code(0);
    let v = run.json();
    let grants = v["grants"].as_array().expect("grants");
    assert_eq!(grants.len(), 1, "{v:#}");
    assert_eq!(grants[0]["break_glass"], true, "{v:#}");
    assert_eq!(grants[0]["approvers"], serde_json::json!([]), "nobody approved it: {v:#}");

    // After two hours it is revoked.
    let run = r.plan("2026-01-05T12:00:00Z");
    run.expect_code(0);
    assert_changes(&run.json(), vec![revoke(INCIDENT, "member", "sam", "expired", SAM)]);
}

#[test]
fn break_glass_is_limited_by_its_own_max_duration() {
    let r = TestRepo::standard();
    push_unapproved(
        &r,
        "sam",
        &[
            ("requests/sam-4h.yaml", bg("sam", &["sam"], INCIDENT, "4h")),
            ("requests/sam-5h.yaml", bg("sam", &["sam"], INCIDENT, "5h")),
        ],
    );
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/sam-5h.yaml", "expiry-too-long")]);
    assert_changes(&v, vec![grant_bg(INCIDENT, "member", "sam", "requests/sam-4h.yaml")]);
}

#[test]
fn break_glass_by_someone_not_in_who_is_not_allowed() {
    let r = TestRepo::standard();
    push_unapproved(&r, "alice", &[("requests/alice.yaml", bg("alice", &["alice"], INCIDENT, "2h"))]);
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/alice.yaml", "break-glass-not-allowed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn break_glass_for_another_subject_is_not_allowed() {
    let r = TestRepo::standard();
    push_unapproved(
        &r,
        "sam",
        &[
            ("requests/sam-and-tom.yaml", bg("sam", &["sam", "tom"], INCIDENT, "2h")),
            ("requests/sam-for-mallory.yaml", bg("sam", &["mallory"], INCIDENT, "2h")),
        ],
    );
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[
            ("requests/sam-and-tom.yaml", "break-glass-not-allowed"),
            ("requests/sam-for-mallory.yaml", "break-glass-not-allowed"),
        ],
    );
    assert_changes(&v, vec![]);
}

#[test]
fn break_glass_on_a_resource_without_it_is_not_allowed() {
    let r = TestRepo::standard();
    push_unapproved(&r, "sam", &[(SAM, bg("sam", &["sam"], ONCALL, "2h"))]);
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(SAM, "break-glass-not-allowed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn break_glass_still_needs_a_proposer() {
    let r = TestRepo::standard();
    r.write(SAM, &bg("sam", &["sam"], INCIDENT, "2h"));
    r.commit("Emergency access", T1);
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(SAM, "not-reviewed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_normal_request_cannot_ride_along_with_break_glass() {
    let r = TestRepo::standard();
    // Without Approved-by, the change is reviewed only if every request file it leaves is
    // break-glass.
    push_unapproved(
        &r,
        "sam",
        &[(SAM, bg("sam", &["sam"], INCIDENT, "2h")), ("requests/sam-oncall.yaml", simple("sam", ONCALL))],
    );
    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(SAM, "not-reviewed"), ("requests/sam-oncall.yaml", "not-reviewed")]);
    assert_changes(&v, vec![]);
}

#[test]
fn break_glass_may_come_with_deletions() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], "2026-01-04T10:00:00Z", |r| {
        r.write("requests/alice.yaml", &simple("alice", ONCALL))
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // One unapproved commit deletes a request file and adds a break-glass one.
    r.remove("requests/alice.yaml");
    push_unapproved(&r, "sam", &[(SAM, bg("sam", &["sam"], INCIDENT, "2h"))]);

    let run = r.plan("2026-01-05T11:00:00Z");
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(
        &v,
        vec![
            grant_bg(INCIDENT, "member", "sam", SAM),
            revoke(ONCALL, "member", "alice", "request-removed", "requests/alice.yaml"),
        ],
    );
}
