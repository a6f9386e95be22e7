//! Rule 13: machine identities need an approval from one of their owners and obey their own
//! max_duration; `require_known_subjects` rejects subjects nobody listed.

use crate::support::*;

const BOT: &str = "requests/deploy-bot.yaml";

fn bot_request(requester: &str, expires: &str) -> String {
    req(requester, &["deploy-bot"], &[(ONCALL, "member")]).expires(expires).yaml()
}

#[track_caller]
fn plan_merged(text: &str, proposer: &str, approvers: &[&str]) -> serde_json::Value {
    let r = TestRepo::standard();
    r.merge("Access for deploy-bot", proposer, approvers, T1, |r| r.write(BOT, text));
    let run = r.plan(NOW);
    let v = run.json();
    assert_eq!(run.code, if rejected(&v).is_empty() { 0 } else { 1 }, "exit code; output:\n{v:#}");
    v
}

#[test]
fn a_service_identity_needs_an_approval_from_its_owner() {
    let text = bot_request("alice", "2026-01-10");
    let v = plan_merged(&text, "alice", &["carol"]);
    assert_rejected(&v, &[(BOT, "insufficient-approvals")]);
    assert_changes(&v, vec![]);

    // ivan owns deploy-bot, but not on-call: both approvals are needed.
    let v = plan_merged(&text, "alice", &["ivan"]);
    assert_rejected(&v, &[(BOT, "insufficient-approvals")]);
    assert_changes(&v, vec![]);

    let v = plan_merged(&text, "alice", &["carol", "IVAN"]);
    assert_rejected(&v, &[]);
    assert_changes(&v, vec![grant(ONCALL, "member", "deploy-bot", BOT)]);
}

#[test]
fn the_identity_owner_cannot_approve_their_own_request() {
    let v = plan_merged(&bot_request("ivan", "2026-01-10"), "ivan", &["carol", "ivan"]);
    assert_rejected(&v, &[(BOT, "insufficient-approvals")]);
    assert_changes(&v, vec![]);
}

#[test]
fn a_service_identity_has_its_own_max_duration() {
    // deploy-bot: 7d from 2026-01-05T10:00:00Z; on-call itself would allow 30d.
    let v = plan_merged(&bot_request("alice", "2026-01-20"), "alice", &["carol", "ivan"]);
    assert_rejected(&v, &[(BOT, "expiry-too-long")]);
    assert_changes(&v, vec![]);
}

#[test]
fn require_known_subjects_rejects_unlisted_subjects() {
    let tenure = TENURE_YAML.replace("safety:", "require_known_subjects: true\nsafety:");
    let r = TestRepo::with_policy(&tenure, &[("catalog/main.yaml", CATALOG_MAIN)]);
    r.merge("Access requests", "alice", &["carol", "ivan", "dave"], T1, |r| {
        r.write("requests/zed.yaml", &req("alice", &["zed"], &[(ONCALL, "member")]).yaml());
        // frank is in group:leads; sam in group:sre.
        r.write("requests/frank.yaml", &req("alice", &["frank", "sam"], &[(ONCALL, "member")]).yaml());
        r.write(BOT, &bot_request("alice", "2026-01-10"));
        r.write("requests/mixed.yaml", &req("alice", &["frank", "zed"], &[(ONCALL, "member")]).yaml());
        // carol owns resources but belongs to no group.
        r.write("requests/carol.yaml", &req("alice", &["carol"], &[(BILLING, "member")]).yaml());
    });
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[
            ("requests/zed.yaml", "unknown-subject"),
            ("requests/mixed.yaml", "unknown-subject"),
            ("requests/carol.yaml", "unknown-subject"),
        ],
    );
    assert_changes(
        &v,
        vec![
            grant(ONCALL, "member", "frank", "requests/frank.yaml"),
            grant(ONCALL, "member", "sam", "requests/frank.yaml"),
            grant(ONCALL, "member", "deploy-bot", BOT),
        ],
    );
}
