//! The lifecycle commands (docs/lifecycle.md): `notify` reminds once per grant and threshold,
//! `renew` rewrites exactly one line and refuses what the catalog would refuse, and
//! `report --metrics` counts a built history and audit log as computed by hand.

use serde_json::{Value, json};

use crate::support::*;

const ALICE: &str = "requests/alice-oncall.yaml";
const SAM: &str = "requests/sam-incident.yaml";

/// alice's on-call request, approved by carol, merged at T1, ending 2026-02-01 (24:00).
fn approved_alice() -> TestRepo {
    let r = TestRepo::standard();
    r.write(ALICE, &simple("alice", ONCALL));
    r.squash("Add on-call access for alice", "alice", &["carol"], T1);
    r
}

fn notify(r: &TestRepo, now: &str, state: &str) -> Vec<Value> {
    let state = r.dir().parent().expect("tmp").join(state);
    let run = r.tenure(&["--now", now, "--format", "json", "notify", "--state", &state.to_string_lossy()]);
    run.expect_code(0);
    run.json()["reminders"].as_array().expect("reminders").clone()
}

#[test]
fn git_notify_reminds_once_per_threshold() {
    let r = approved_alice();
    // Nothing is due two weeks out.
    assert_eq!(notify(&r, "2026-01-10T00:00:00Z", "n.json"), Vec::<Value>::new());

    // Six days before the end: the 7-day reminder, to the requester and subject.
    let first = notify(&r, "2026-01-27T00:00:00Z", "n.json");
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["kind"], "expiry");
    assert_eq!(first[0]["request"], ALICE);
    assert_eq!(first[0]["threshold"], "7d");
    assert_eq!(first[0]["recipients"], json!(["alice"]));
    assert_eq!(first[0]["expires"], "2026-02-02T00:00:00Z");
    // The next hourly run, and the one a day later, send nothing new.
    assert_eq!(notify(&r, "2026-01-27T01:00:00Z", "n.json"), Vec::<Value>::new());
    assert_eq!(notify(&r, "2026-01-28T00:00:00Z", "n.json"), Vec::<Value>::new());

    // Crossing the 1-day threshold adds exactly one more.
    let second = notify(&r, "2026-02-01T06:00:00Z", "n.json");
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0]["threshold"], "1d");
    assert_eq!(notify(&r, "2026-02-01T07:00:00Z", "n.json"), Vec::<Value>::new());

    // Without the state file, the reminder is due again: the state is what dedups.
    assert_eq!(notify(&r, "2026-02-01T07:00:00Z", "other.json").len(), 1);
}

#[test]
fn git_notify_dry_run_records_nothing() {
    let r = approved_alice();
    let state = r.dir().parent().expect("tmp").join("n.json");
    let args = ["--now", "2026-01-27T00:00:00Z", "notify", "--dry-run", "--state", &state.to_string_lossy()];
    let run = r.tenure(&args);
    run.expect_code(0);
    assert!(run.stdout.contains(ALICE), "{}", run.stdout);
    assert!(!state.exists(), "a dry run wrote the state file");
    assert_eq!(notify(&r, "2026-01-27T00:00:00Z", "n.json").len(), 1);
}

#[test]
fn break_glass_owners_are_asked_once() {
    let r = TestRepo::standard();
    r.write(
        SAM,
        &req("sam", &["sam"], &[(INCIDENT, "member")])
            .duration("2h")
            .justification("INC-42: payments down")
            .break_glass()
            .yaml(),
    );
    r.commit("Emergency access\n\nProposed-by: sam", T1);
    let during = "2026-01-05T11:00:00Z";
    let first = notify(&r, during, "n.json");
    let reviews: Vec<&Value> = first.iter().filter(|item| item["kind"] == "break-glass").collect();
    assert_eq!(reviews.len(), 1, "{first:#?}");
    assert_eq!(reviews[0]["recipients"], json!(["carol"]), "the incident resource's owner");
    assert_eq!(reviews[0]["request"], SAM);
    // The grant ends within a day, so sam is reminded too, once.
    let expiry: Vec<&Value> = first.iter().filter(|item| item["kind"] == "expiry").collect();
    assert_eq!(expiry.len(), 1, "{first:#?}");
    assert_eq!(expiry[0]["recipients"], json!(["sam"]));
    assert_eq!(notify(&r, "2026-01-05T11:30:00Z", "n.json"), Vec::<Value>::new());
}

const COMMENTED: &str = "# yaml-language-server: $schema=../schemas/request.schema.json\n\
# alice covers the Q1 rotation\n\
requester: alice   # the PR author\n\
subjects: [alice]\n\
justification: >\n  On-call for payments;\n  expires: is not a key here\n\
grants:\n\
  - { resource: local:group/oncall, role: member }   # flow style inside\n\
\"expires\": \"2026-02-01\"    # end of rotation\n\
ticket: OPS-1234\n";

#[test]
fn renew_rewrites_only_the_expiry_line() {
    let r = TestRepo::standard();
    r.write(ALICE, COMMENTED);
    r.squash("Add on-call access for alice", "alice", &["carol"], T1);
    r.tenure(&["--now", NOW, "--format", "json", "check"]).expect_code(0);

    let run = r.tenure(&[
        "--now",
        "2026-01-20T00:00:00Z",
        "--format",
        "json",
        "renew",
        ALICE,
        "--until",
        "2026-02-10",
    ]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["line"], 10, "{v:#}");
    assert_eq!(v["owners"], json!(["carol", "bob", "frank"]), "direct owner and group:leads: {v:#}");
    let want = COMMENTED.replace("\"2026-02-01\"    # end", "\"2026-02-10\"    # end");
    assert_ne!(want, COMMENTED);
    assert_eq!(r.read(ALICE), want);

    // The renewal, merged and approved, is a valid request that lasts longer.
    r.squash("Renew on-call access for alice", "alice", &["carol"], "2026-01-20T01:00:00Z");
    let run = r.tenure(&["--now", "2026-01-20T02:00:00Z", "--format", "json", "report"]);
    run.expect_code(0);
    assert_eq!(run.json()["grants"][0]["expires"], "2026-02-11T00:00:00Z");
}

#[test]
fn renew_for_keeps_a_duration_a_duration() {
    let r = TestRepo::standard();
    let text = req("alice", &["alice"], &[(ONCALL, "member")]).duration("8h").yaml();
    r.write(ALICE, &text);
    r.squash("Add on-call access for alice", "alice", &["carol"], T1);
    r.tenure(&["--now", T1, "renew", ALICE, "--for", "10d"]).expect_code(0);
    assert_eq!(r.read(ALICE), text.replace("duration: 8h\n", "duration: 10d\n"));
}

#[test]
fn renew_beyond_max_duration_is_refused_and_writes_nothing() {
    let r = approved_alice();
    let before = r.read(ALICE);
    // on-call allows 30d; 2026-02-20 ends 2026-02-21T00:00Z, 32 days after now.
    let run = r.tenure(&["--now", "2026-01-20T00:00:00Z", "renew", ALICE, "--until", "2026-02-20"]);
    run.expect_code(1);
    assert!(run.stdout.contains("max_duration of local:group/oncall"), "{}", run.all_output());
    assert_eq!(r.read(ALICE), before);
    // Counted from now, not from the original merge: 29 days from now is fine though it is
    // 45 days after the first merge.
    r.tenure(&["--now", "2026-01-20T00:00:00Z", "renew", ALICE, "--for", "29d"]).expect_code(0);
    assert!(r.read(ALICE).contains("expires: 2026-02-18T00:00:00Z\n"), "{}", r.read(ALICE));
    // An end in the past is refused too.
    let run = r.tenure(&["--now", "2026-01-20T00:00:00Z", "renew", ALICE, "--until", "2026-01-01"]);
    run.expect_code(1);
}

#[test]
fn renew_refuses_files_it_cannot_edit_safely() {
    let r = TestRepo::standard();
    r.write(
        ALICE,
        "{requester: alice, subjects: [alice], justification: x, grants: [{resource: local:group/oncall, role: member}], expires: 2026-02-01}\n",
    );
    r.squash("Add", "alice", &["carol"], T1);
    let before = r.read(ALICE);
    let run = r.tenure(&["--now", NOW, "renew", ALICE, "--until", "2026-02-03"]);
    run.expect_code(2);
    assert!(run.stderr.contains("flow mapping"), "{}", run.stderr);
    assert_eq!(r.read(ALICE), before);
    r.tenure(&["--now", NOW, "renew", "tenure.yaml", "--until", "2026-02-03"]).expect_code(2);
}

fn audit_line(
    time: &str,
    action: &str,
    reason: &str,
    subject: &str,
    request: &str,
    expires: Option<&str>,
) -> String {
    let mut line = json!({
        "prev": "0", "time": time, "decided_at": time, "run_id": "r", "commit": "c",
        "action": action, "resource": ONCALL, "role": "member", "subject": subject, "from": null,
        "reason": reason, "request": request, "outcome": "ok", "error": null, "forced": false,
        "evidence": null,
    });
    if let Some(expires) = expires {
        line["evidence"] = json!({"expires": expires, "request": request});
    }
    line.to_string()
}

#[test]
fn metrics_match_a_hand_counted_history() {
    let r = TestRepo::standard();
    // Before the period: dan's request, approved.
    r.write("requests/dan.yaml", &simple("dan", BILLING));
    r.squash("Add dan", "dan", &["dave"], "2026-01-01T12:00:00Z");
    // In the period: alice filed, then renewed (expiry later); bob pushed without review;
    // sam took break-glass access.
    r.write(ALICE, &simple("alice", ONCALL));
    r.squash("Add alice", "alice", &["carol"], T1);
    r.write("requests/bob.yaml", &simple("bob", BILLING));
    r.commit("Add bob\n\nProposed-by: bob", T2);
    r.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "member")]).expires("2026-02-03").yaml());
    r.squash("Renew alice", "alice", &["carol"], T3);
    r.write(SAM, &req("sam", &["sam"], &[(INCIDENT, "member")]).duration("2h").break_glass().yaml());
    r.commit("Emergency\n\nProposed-by: sam", T4);
    // Live state: alice (backed), mallory (drift, not backed).
    r.seed_state(&[(local(ONCALL), "member", "alice"), (local(ONCALL), "member", "mallory")]);
    let audit = [
        audit_line(
            "2026-01-01T13:00:00Z",
            "grant",
            "approved",
            "dan",
            "requests/dan.yaml",
            Some("2026-01-03T00:00:00Z"),
        ),
        audit_line("2026-01-03T03:00:00Z", "revoke", "expired", "dan", "requests/dan.yaml", None),
        audit_line("2026-01-05T11:00:00Z", "grant", "approved", "alice", ALICE, Some("2026-02-02T00:00:00Z")),
        audit_line("2026-01-06T00:00:00Z", "revoke", "drift", "eve", "", None),
        audit_line("2026-01-08T11:00:00Z", "grant", "break-glass", "sam", SAM, Some("2026-01-08T12:00:00Z")),
        audit_line("2026-01-08T12:30:00Z", "revoke", "expired", "sam", SAM, None),
    ];
    let audit_path = r.dir().parent().expect("tmp").join("audit.jsonl");
    std::fs::write(&audit_path, audit.join("\n") + "\n").expect("audit");
    let args = ["--now", NOW, "--format", "json", "report", "--metrics", "--since", "2026-01-02", "--audit"];
    let mut args: Vec<&str> = args.to_vec();
    let audit_arg = audit_path.to_string_lossy().into_owned();
    args.push(&audit_arg);
    let run = r.tenure(&args);
    run.expect_code(0);
    let v = run.json();
    // dan's change was before the period; alice's two changes, bob's and sam's are in it.
    assert_eq!(
        v["requests"],
        json!({"filed": 4, "approved": 2, "rejected": {"not-reviewed": 1}, "superseded": 1, "renewals": 1, "break_glass": 1}),
        "{v:#}"
    );
    let applied = &v["applied"];
    assert_eq!(applied["grants_applied"], 2, "{v:#}");
    assert_eq!(applied["break_glass_grants"], 1, "{v:#}");
    assert_eq!(applied["revoked"], json!({"drift": 1, "expired": 2}), "{v:#}");
    assert_eq!(applied["drift_removed"], 1, "{v:#}");
    let late: Vec<&Value> = applied["expired_revocations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| &r["late_by_seconds"])
        .collect();
    assert_eq!(late, [&json!(10800), &json!(1800)], "3h for dan, 30m for sam: {v:#}");
    assert_eq!(applied["max_late_seconds"], 10800);
    assert_eq!(applied["mean_late_seconds"], 6300);
    assert_eq!(v["backing"], json!({"live_grants": 2, "backed": 1, "share": 0.5}), "{v:#}");

    // Markdown and text carry the same figures.
    let run = r.tenure(&[
        "--now",
        NOW,
        "--format",
        "markdown",
        "report",
        "--metrics",
        "--since",
        "2026-01-02",
        "--audit",
        &audit_arg,
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains("| requests filed | 4 |"), "{}", run.stdout);
    assert!(
        run.stdout.contains("| live grants backed by an approved request | 1 of 2 (50.0%) |"),
        "{}",
        run.stdout
    );
}

#[test]
fn metrics_without_an_audit_log_say_so() {
    let r = approved_alice();
    let run = r.tenure(&[
        "--now",
        NOW,
        "--format",
        "json",
        "report",
        "--metrics",
        "--audit",
        "/nonexistent/audit.jsonl",
    ]);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["applied"], Value::Null);
    assert!(v["notes"].to_string().contains("no audit log"), "{v:#}");
    assert_eq!(v["requests"]["filed"], 1);
}

// ---- github forge: comments on the fake GitHub, and renewal pull requests ----

mod github {
    use crate::fake_github::{FakeGithub, Pull};
    use crate::support::*;

    use super::ALICE;

    const REPOSITORY: &str = "acme/access";

    struct Gh {
        repo: TestRepo,
        fake: FakeGithub,
    }

    /// alice's on-call request, merged through pull request #7 at T1 with carol's approval.
    fn github_alice() -> Gh {
        let yaml = TENURE_YAML.replace(
            "# forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.\nforge: {kind: git}",
            &format!("forge: {{kind: github, repository: {REPOSITORY}}}"),
        );
        assert!(yaml.contains("kind: github"), "{yaml}");
        let repo = TestRepo::with_policy(
            &yaml,
            &[("catalog/main.yaml", CATALOG_MAIN), ("catalog/legacy.yaml", CATALOG_LEGACY)],
        );
        let fake = FakeGithub::start(REPOSITORY);
        fake.account("tenure-bot", "Bot");
        let merge =
            repo.merge_raw("work", "Merge pull request #7", T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
        let head = repo.rev("HEAD^2");
        fake.add_pull(
            Pull {
                number: 7,
                author: "alice".into(),
                head_sha: head.clone(),
                base: "main".into(),
                merged_at: Some(T1.into()),
                merge_commit_sha: Some(merge.clone()),
                commits: 1,
            },
            &[&merge, &head],
        );
        fake.review(7, "carol", "APPROVED", &head);
        Gh { repo, fake }
    }

    impl Gh {
        fn tenure(&self, args: &[&str]) -> Run {
            let env = self.fake.env();
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.repo.tenure_env(args, &env)
        }

        fn notify(&self, now: &str) -> Run {
            let run = self.tenure(&["--now", now, "--format", "json", "notify"]);
            run.expect_code(0);
            run
        }

        /// The bodies of the bot's comments on `number`.
        fn bot_comments(&self, number: u64) -> Vec<String> {
            self.fake
                .comments(number)
                .into_iter()
                .filter(|(_, login, _)| login == "tenure-bot")
                .map(|(_, _, body)| body)
                .collect()
        }
    }

    #[test]
    fn reminders_are_posted_once_per_threshold_on_the_pull_request() {
        let gh = github_alice();
        let run = gh.notify("2026-01-27T00:00:00Z");
        assert_eq!(run.json()["reminders"].as_array().map(Vec::len), Some(1), "{}", run.all_output());
        let first = gh.bot_comments(7);
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(first[0].contains("@alice"), "{}", first[0]);
        assert!(first[0].contains("<!-- tenure-notify:expiry/requests/alice-oncall.yaml/"), "{}", first[0]);
        assert!(first[0].contains("/7d -->"), "{}", first[0]);

        // Later runs inside the same threshold post nothing.
        gh.notify("2026-01-27T01:00:00Z");
        gh.notify("2026-01-29T00:00:00Z");
        assert_eq!(gh.bot_comments(7).len(), 1);

        // A person pasting the 1-day marker does not silence the 1-day reminder.
        let key = first[0].split("tenure-notify:").nth(1).and_then(|rest| rest.split(" -->").next()).unwrap();
        let forged = key.replace("/7d", "/1d");
        gh.fake.comment(7, "mallory", &format!("<!-- tenure-notify:{forged} -->"));

        // A day later: crossing the 1-day threshold adds exactly one comment.
        let run = gh.notify("2026-02-01T06:00:00Z");
        assert_eq!(run.json()["reminders"][0]["threshold"], "1d", "{}", run.stdout);
        gh.notify("2026-02-01T07:00:00Z");
        let all = gh.bot_comments(7);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all[1].contains(&format!("<!-- tenure-notify:{forged} -->")), "{}", all[1]);
    }

    #[test]
    fn metrics_give_the_time_from_pull_request_to_merge() {
        let gh = github_alice();
        let run = gh.tenure(&["--now", NOW, "--format", "json", "report", "--metrics"]);
        run.expect_code(0);
        let v = run.json();
        // The fake opens every pull request three hours before its merge.
        assert_eq!(
            v["requests"]["open_to_merge"],
            serde_json::json!({"pull_requests": 1, "median_seconds": 10_800, "max_seconds": 10_800}),
            "{v:#}"
        );
        let notes = v["notes"].to_string();
        assert!(!notes.contains("pull request to merge"), "no 'not available' note: {notes}");
    }

    #[test]
    fn a_locked_pull_request_sends_reminders_to_one_tracking_issue() {
        let gh = github_alice();
        gh.fake.lock(7);
        gh.notify("2026-01-27T00:00:00Z");
        gh.notify("2026-01-28T00:00:00Z");
        gh.notify("2026-02-01T06:00:00Z");
        assert!(gh.bot_comments(7).is_empty(), "nothing on the locked pull request");
        let issues = gh.fake.issues();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].title, "tenure: access reminders");
        assert_eq!(issues[0].labels, ["tenure-reminders"]);
        let on_issue = gh.bot_comments(issues[0].number);
        assert_eq!(on_issue.len(), 2, "7d and 1d: {on_issue:?}");
    }

    #[test]
    fn renew_open_pr_commits_through_the_api_and_opens_the_pull_request() {
        let gh = github_alice();
        let before = gh.repo.read(ALICE);
        let main = gh.repo.head();
        gh.fake.set_ref("main", &main);
        gh.fake.set_content("main", ALICE, &gh.repo.blob(ALICE));
        let run = gh.tenure(&[
            "--now",
            "2026-01-20T00:00:00Z",
            "--format",
            "json",
            "renew",
            ALICE,
            "--until",
            "2026-02-10",
            "--open-pr",
        ]);
        run.expect_code(0);
        let branch = "tenure/renew-alice-oncall-20260120000000";
        assert_eq!(gh.fake.refs().get(branch), Some(&main), "{:?}", gh.fake.refs());
        let files = gh.fake.put_files();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].branch, branch);
        assert_eq!(files[0].path, ALICE);
        assert_eq!(files[0].message, format!("Renew access: {ALICE} until 2026-02-10"));
        assert_eq!(files[0].replaces.as_deref(), Some(gh.repo.blob(ALICE).as_str()));
        assert_eq!(files[0].content, before.replace("expires: 2026-02-01\n", "expires: 2026-02-10\n"));
        let pulls = gh.fake.opened_pulls();
        assert_eq!(pulls.len(), 1, "{pulls:?}");
        assert_eq!(pulls[0].title, format!("Renew access: {ALICE} until 2026-02-10"));
        assert_eq!((pulls[0].head.as_str(), pulls[0].base.as_str()), (branch, "main"));
        assert!(pulls[0].body.contains("https://github.com/acme/access/pull/7"), "{}", pulls[0].body);
        assert!(pulls[0].body.contains("@carol, @bob, @frank"), "{}", pulls[0].body);
        assert_eq!(
            run.json()["opened_pr"],
            format!("https://github.com/acme/access/pull/{}", pulls[0].number)
        );
        assert_eq!(gh.repo.read(ALICE), before, "the checkout is left alone");
    }

    #[test]
    fn renew_open_pr_refuses_a_checkout_that_differs_from_the_base() {
        let gh = github_alice();
        gh.fake.set_ref("main", &gh.repo.head());
        gh.fake.set_content("main", ALICE, "0123456789012345678901234567890123456789");
        let run = gh.tenure(&[
            "--now",
            "2026-01-20T00:00:00Z",
            "renew",
            ALICE,
            "--until",
            "2026-02-10",
            "--open-pr",
        ]);
        run.expect_code(2);
        assert!(run.stderr.contains("differs from the copy on main"), "{}", run.stderr);
        assert_eq!(gh.fake.refs().len(), 1, "no branch was created");
        assert!(gh.fake.opened_pulls().is_empty());
    }
}
