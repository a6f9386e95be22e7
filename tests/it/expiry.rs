//! Rules 7 and 8: expiry is counted from the merge (the change commit's committer time), a bare
//! date means the end of that day in UTC, a grant is desired while `now < expiry`, and a tuple
//! that several requests want stays until the last of them ends.

use crate::support::*;

const ALICE: &str = "requests/alice.yaml";

fn repo_with(text: &str) -> TestRepo {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| r.write(ALICE, text));
    r
}

#[track_caller]
fn assert_plan(r: &TestRepo, now: &str, want: Vec<Change>) {
    let run = r.plan(now);
    run.expect_code(0);
    let v = run.json();
    assert_rejected(&v, &[]);
    assert_changes(&v, want);
}

#[test]
fn a_bare_date_lasts_until_the_end_of_that_day_utc() {
    let r = repo_with(&req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-20").yaml());
    // Not yet applied: desired through the last second of the day, not at midnight.
    assert_plan(&r, "2026-01-20T23:59:59Z", vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_plan(&r, "2026-01-21T00:00:00Z", vec![]);

    // Applied: kept through the day, revoked at midnight UTC (also when --now is a bare date).
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    assert_plan(&r, "2026-01-20T23:59:59Z", vec![]);
    assert_plan(&r, "2026-01-20T23:59:59+00:00", vec![]);
    let expired = vec![revoke(ONCALL, "member", "alice", "expired", ALICE)];
    assert_plan(&r, "2026-01-21T00:00:00Z", expired.clone());
    assert_plan(&r, "2026-01-21", expired.clone());
    // The same instant written with an offset.
    assert_plan(&r, "2026-01-21T02:00:00+02:00", expired.clone());
    assert_plan(&r, "2026-01-21T01:59:59+02:00", vec![]);
}

#[test]
fn an_rfc3339_expiry_ends_at_that_instant() {
    let r =
        repo_with(&req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-20T12:00:00Z").yaml());
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    assert_plan(&r, "2026-01-20T11:59:59Z", vec![]);
    assert_plan(&r, "2026-01-20T12:00:00Z", vec![revoke(ONCALL, "member", "alice", "expired", ALICE)]);
}

#[test]
fn an_rfc3339_expiry_with_an_offset_is_the_same_instant() {
    let r = repo_with(
        &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-20T14:00:00+02:00").yaml(),
    );
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    assert_plan(&r, "2026-01-20T11:59:59Z", vec![]);
    assert_plan(&r, "2026-01-20T12:00:00Z", vec![revoke(ONCALL, "member", "alice", "expired", ALICE)]);
}

#[test]
fn a_duration_counts_from_the_merge_commit() {
    // The side branch commit is at 09:00, the merge at 10:00: 8h ends at 18:00.
    let r = repo_with(&req("alice", &["alice"], &[(ONCALL, "member")]).duration("8h").yaml());
    assert_plan(&r, "2026-01-05T17:30:00Z", vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_plan(&r, "2026-01-05T17:59:59Z", vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_plan(&r, "2026-01-05T18:00:00Z", vec![]);
}

#[test]
fn a_duration_counts_from_the_committer_time_not_the_author_time() {
    let r = TestRepo::standard();
    r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).duration("8h").yaml());
    // A squash merge authored a day before it was committed to main.
    r.commit_dated(&format!("Add alice\n\n{}", trailers("alice", &["carol"])), "2026-01-04T10:00:00Z", T1);
    assert_plan(&r, "2026-01-05T17:59:59Z", vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_plan(&r, "2026-01-05T18:00:00Z", vec![]);
}

#[test]
fn an_expiry_at_or_before_the_merge_is_refused() {
    let r = TestRepo::standard();
    r.merge("Add requests", "alice", &["carol"], T1, |r| {
        // The day before the merge ends at 2026-01-05T00:00, before 10:00.
        r.write(
            "requests/a.yaml",
            &req("alice", &["ann"], &[(ONCALL, "member")]).expires("2026-01-04").yaml(),
        );
        // Exactly the merge time: not after it.
        r.write("requests/b.yaml", &req("alice", &["ben"], &[(ONCALL, "member")]).expires(T1).yaml());
        // The day of the merge lasts until midnight: fine.
        r.write(
            "requests/c.yaml",
            &req("alice", &["cat"], &[(ONCALL, "member")]).expires("2026-01-05").yaml(),
        );
    });
    let run = r.plan("2026-01-05T12:00:00Z");
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[("requests/a.yaml", "expiry-before-merge"), ("requests/b.yaml", "expiry-before-merge")],
    );
    assert_changes(&v, vec![grant(ONCALL, "member", "cat", "requests/c.yaml")]);
}

#[test]
fn an_expiry_beyond_max_duration_is_refused_and_the_limit_itself_is_allowed() {
    let r = TestRepo::standard();
    // on-call: 30d from 2026-01-05T10:00:00Z is 2026-02-04T10:00:00Z.
    // billing: the default 90d, until 2026-04-05T10:00:00Z.
    r.merge("Add requests", "alice", &["carol", "dave"], T1, |r| {
        let one = |file: &str, subject: &str, resource: &str, expires: &str| {
            r.write(file, &req("alice", &[subject], &[(resource, "member")]).expires(expires).yaml())
        };
        one("requests/at-limit.yaml", "ann", ONCALL, "2026-02-04T10:00:00Z");
        one("requests/past-limit.yaml", "ben", ONCALL, "2026-02-04T10:00:01Z");
        one("requests/date-ok.yaml", "cat", ONCALL, "2026-02-03");
        one("requests/date-too-long.yaml", "don", ONCALL, "2026-02-04");
        one("requests/default-ok.yaml", "eli", BILLING, "2026-04-04");
        one("requests/default-too-long.yaml", "fay", BILLING, "2026-04-05");
        r.write(
            "requests/duration-ok.yaml",
            &req("alice", &["gus"], &[(ONCALL, "member")]).duration("30d").yaml(),
        );
        r.write(
            "requests/duration-too-long.yaml",
            &req("alice", &["hal"], &[(ONCALL, "member")]).duration("31d").yaml(),
        );
    });
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(
        &v,
        &[
            ("requests/past-limit.yaml", "expiry-too-long"),
            ("requests/date-too-long.yaml", "expiry-too-long"),
            ("requests/default-too-long.yaml", "expiry-too-long"),
            ("requests/duration-too-long.yaml", "expiry-too-long"),
        ],
    );
    assert_changes(
        &v,
        vec![
            grant(ONCALL, "member", "ann", "requests/at-limit.yaml"),
            grant(ONCALL, "member", "cat", "requests/date-ok.yaml"),
            grant(BILLING, "member", "eli", "requests/default-ok.yaml"),
            grant(ONCALL, "member", "gus", "requests/duration-ok.yaml"),
        ],
    );
}

#[test]
fn max_duration_limits_the_end_of_a_bare_date() {
    // Merged at midnight: 30d reach exactly 2026-02-04T00:00:00Z, the end of 2026-02-03.
    let r = TestRepo::standard();
    let midnight = "2026-01-05T00:00:00Z";
    r.merge("Add requests", "alice", &["carol"], midnight, |r| {
        r.write(
            "requests/ok.yaml",
            &req("alice", &["ann"], &[(ONCALL, "member")]).expires("2026-02-03").yaml(),
        );
        r.write(
            "requests/long.yaml",
            &req("alice", &["ben"], &[(ONCALL, "member")]).expires("2026-02-04").yaml(),
        );
    });
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/long.yaml", "expiry-too-long")]);
    assert_changes(&v, vec![grant(ONCALL, "member", "ann", "requests/ok.yaml")]);
}

#[test]
fn an_unreviewed_extension_does_not_stop_the_expiry() {
    let r = repo_with(&req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-08").yaml());
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // A direct push moves the expiry out; the approved version's time is still up.
    r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-02-01").yaml());
    r.commit("Extend alice", T3);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[(ALICE, "not-reviewed")]);
    assert_changes(&v, vec![revoke(ONCALL, "member", "alice", "expired", ALICE)]);
}

// ---- rule 8 ----

#[test]
fn a_tuple_wanted_by_two_requests_stays_until_the_last_one_ends() {
    let r = TestRepo::standard();
    r.merge("Short on-call", "alice", &["carol"], T1, |r| {
        r.write(
            "requests/short.yaml",
            &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-12").yaml(),
        )
    });
    r.merge("Long on-call", "alice", &["carol"], T2, |r| {
        r.write(
            "requests/long.yaml",
            &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-01-20").yaml(),
        )
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);

    assert_plan(&r, NOW, vec![]);
    // The short one has ended; the long one still wants the tuple.
    assert_plan(&r, "2026-01-15T00:00:00Z", vec![]);
    let run = r.plan("2026-01-21T00:00:00Z");
    run.expect_code(0);
    let v = run.json();
    let got = changes(&v);
    assert_eq!(got.len(), 1, "{v:#}");
    let c = &got[0];
    assert_eq!(
        (c.action.as_str(), c.resource.as_str(), c.role.as_str(), c.subject.as_str(), c.reason.as_str()),
        ("revoke", ONCALL, "member", "alice", "expired"),
        "{v:#}"
    );
    assert!(
        matches!(c.request.as_deref(), Some("requests/short.yaml" | "requests/long.yaml")),
        "the revocation names one of the requests: {v:#}"
    );

    // Without the state, the long one grants until it ends.
    r.seed_state(&[]);
    assert_plan(&r, "2026-01-15T00:00:00Z", vec![grant(ONCALL, "member", "alice", "requests/long.yaml")]);
}

#[test]
fn the_merge_time_is_an_instant_whatever_the_committer_time_zone() {
    let r = TestRepo::standard();
    // Merged at 12:00 in UTC+2, which is 10:00 UTC: 8h end at 18:00 UTC.
    r.merge("Add alice", "alice", &["carol"], "2026-01-05T12:00:00+02:00", |r| {
        r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).duration("8h").yaml())
    });
    assert_plan(&r, "2026-01-05T17:59:59Z", vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_plan(&r, "2026-01-05T18:00:00Z", vec![]);
}

#[test]
fn a_tuple_stays_while_another_live_request_wants_it() {
    let r = TestRepo::standard();
    r.merge("Two requests", "alice", &["carol"], T1, |r| {
        r.write("requests/a.yaml", &simple("alice", ONCALL));
        r.write(
            "requests/b.yaml",
            &req("alice", &["alice"], &[(ONCALL, "member")]).justification("second").yaml(),
        );
        r.write(
            "requests/c.yaml",
            &req("alice", &["alice"], &[(ONCALL, "member")]).justification("third").yaml(),
        );
    });
    r.seed_state(&[(local(ONCALL), "member", "alice")]);
    // One is deleted, one is edited without review; the third still wants the tuple.
    r.remove("requests/a.yaml");
    r.write(
        "requests/b.yaml",
        &req("alice", &["alice"], &[(ONCALL, "member")]).justification("edited").yaml(),
    );
    r.commit("Tidy", T2);

    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_rejected(&v, &[("requests/b.yaml", "not-reviewed")]);
    assert_changes(&v, vec![]);
}
