//! The PR check (`check --pr`, docs/github-forge.md#pr-check): an open pull request's files
//! judged as if merged now, against the fake GitHub on loopback, with the real binary.
//!
//! Each pull request is a real branch off `main` whose head commit is in the clone, as
//! `actions/checkout` leaves it; the fake knows the pull request, its reviews and its comments.

use serde_json::Value;

use crate::fake_github::{self, FakeGithub, Pull};
use crate::support::*;

const REPOSITORY: &str = "acme/access";
const ALICE: &str = "requests/alice.yaml";

/// An access repository in github mode, its fake GitHub, and a counter of branches.
struct Pr {
    repo: TestRepo,
    fake: FakeGithub,
}

impl Pr {
    fn new() -> Pr {
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
        // tenure comments as a bot (Actions' GITHUB_TOKEN or a GitHub App).
        fake.account("tenure-bot", "Bot");
        Pr { repo, fake }
    }

    /// Opens pull request `number` by `author`: `edit` committed on a branch off `main`, whose
    /// head stays in the clone; `main` is checked out again. Returns the head sha.
    fn open(&self, number: u64, author: &str, edit: impl FnOnce(&TestRepo)) -> String {
        let branch = format!("pr-{number}");
        self.repo.git(&["checkout", "-q", "-b", &branch, "main"]);
        edit(&self.repo);
        let head = self.repo.commit(&format!("Work of #{number}"), T2);
        self.repo.git(&["checkout", "-q", "main"]);
        self.fake.add_pull(
            Pull {
                number,
                author: author.into(),
                head_sha: head.clone(),
                base: "main".into(),
                merged_at: None,
                merge_commit_sha: None,
                commits: 1,
            },
            &[&head],
        );
        head
    }

    /// Merges a request onto `main` through a merged pull request approved by `approver`.
    fn merged(&self, number: u64, author: &str, approver: &str, edit: impl FnOnce(&TestRepo)) {
        let merge = self.repo.merge_raw("work", &format!("Merge pull request #{number}"), T1, edit);
        let head = self.repo.rev("HEAD^2");
        self.fake.add_pull(
            Pull {
                number,
                author: author.into(),
                head_sha: head.clone(),
                base: "main".into(),
                merged_at: Some(T1.into()),
                merge_commit_sha: Some(merge.clone()),
                commits: 1,
            },
            &[&merge, &head],
        );
        self.fake.review(number, approver, "APPROVED", &head);
    }

    fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let mut env: Vec<(&str, String)> = self.fake.env();
        env.extend(extra_env.iter().map(|(k, v)| (*k, v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut full = vec!["--now", NOW];
        full.extend_from_slice(args);
        self.repo.tenure_env(&full, &env)
    }

    fn check_json(&self, number: u64) -> Run {
        let number = number.to_string();
        self.run(&["--format", "json", "check", "--pr", &number], &[])
    }
}

fn tuples(list: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            (
                item["resource"].as_str().unwrap_or_default().to_owned(),
                item["role"].as_str().unwrap_or_default().to_owned(),
                item["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn file<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|file| file["file"] == path))
        .unwrap_or_else(|| panic!("no file {path} in {report:#}"))
}

fn write_request(path: &'static str, yaml: String) -> impl FnOnce(&TestRepo) {
    move |repo: &TestRepo| repo.write(path, &yaml)
}

#[test]
fn an_approved_request_shows_its_grant_and_exits_0() {
    let pr = Pr::new();
    let head = pr.open(7, "alice", write_request(ALICE, simple("alice", ONCALL)));
    pr.fake.review(7, "carol", "APPROVED", &head);
    let run = pr.check_json(7);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "granted", "{report:#}");
    assert_eq!(tuples(&report["adds"]), triples(&[(ONCALL, "member", "alice")]));
    assert_eq!(tuples(&report["removes"]), triples(&[]));
    assert_eq!(file(&report, ALICE)["status"], "granted");
    assert_eq!(report["pull_request"]["number"], 7);
    assert_eq!(report["pull_request"]["head"], head.as_str());
    // The open pull request is never looked up as a merged change, so nothing about it is cached.
    assert_eq!(pr.fake.count(fake_github::COMMIT_PULLS), 1, "{:?}", pr.fake.log());
    // Nothing on the branch changed: a plain check still sees no request.
    let plain = pr.run(&["--format", "json", "check"], &[]);
    plain.expect_code(0);
    assert_eq!(plain.json()["approved"], Value::Array(vec![]));
}

#[test]
fn a_request_missing_an_owner_approval_lists_the_owners_still_needed() {
    let pr = Pr::new();
    let head = pr.open(8, "alice", write_request(ALICE, req("alice", &["alice"], &[(DB, "member")]).yaml()));
    // db needs 2 of carol, dave, erin; carol approved, and the author's own approval is ignored.
    pr.fake.review(8, "carol", "APPROVED", &head);
    pr.fake.review(8, "alice", "APPROVED", &head);
    let run = pr.check_json(8);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["status"], "pending", "{report:#}");
    assert_eq!(tuples(&report["adds"]), triples(&[]));
    let alice = file(&report, ALICE);
    assert_eq!(alice["status"], "pending");
    assert_eq!(alice["rejection"]["code"], "insufficient-approvals");
    let needs = &alice["needs"][0];
    assert_eq!(needs["target"], format!("{DB} member"));
    assert_eq!(needs["needed"], 2);
    assert_eq!(needs["more"], 1);
    assert_eq!(needs["approved_by"], serde_json::json!(["carol"]));
    assert_eq!(needs["owners"], serde_json::json!(["carol", "dave", "erin"]));

    // Text names who must still approve.
    let text = pr.run(&["check", "--pr", "8"], &[]);
    text.expect_code(1);
    assert!(
        text.stdout.contains(&format!("{DB} member needs 1 more approval from: carol, dave, erin")),
        "{}",
        text.all_output()
    );
    assert!(text.stdout.contains("waits for approvals"), "{}", text.all_output());
}

#[test]
fn a_pull_request_without_any_approval_waits_for_the_owners() {
    let pr = Pr::new();
    pr.open(9, "alice", write_request(ALICE, simple("alice", ONCALL)));
    let run = pr.check_json(9);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["status"], "pending", "{report:#}");
    let needs = &file(&report, ALICE)["needs"][0];
    assert_eq!(needs["more"], 1);
    assert_eq!(needs["owners"], serde_json::json!(["carol", "group:leads"]));
}

#[test]
fn a_catalog_edit_in_the_same_pull_request_cannot_approve_it() {
    let pr = Pr::new();
    // mallory makes herself an owner of oncall and an admin, and asks for oncall for alice's
    // request... as alice's accomplice eve approves: neither counts under the branch's policy.
    let head = pr.open(10, "alice", |repo: &TestRepo| {
        repo.write(
            "catalog/main.yaml",
            &CATALOG_MAIN.replace("owners: [carol, \"group:leads\"]", "owners: [eve]"),
        );
        repo.write(ALICE, &simple("alice", ONCALL));
    });
    pr.fake.review(10, "eve", "APPROVED", &head);
    let run = pr.check_json(10);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["status"], "rejected", "{report:#}");
    assert_eq!(tuples(&report["adds"]), triples(&[]));
    let alice = file(&report, ALICE);
    assert_eq!(alice["rejection"]["code"], "insufficient-approvals", "{report:#}");
    // The owners are the branch's, not the pull request's.
    assert_eq!(alice["needs"][0]["owners"], serde_json::json!(["carol", "group:leads"]));
    let catalog = file(&report, "catalog/main.yaml");
    assert_eq!(catalog["status"], "rejected");
    assert_eq!(catalog["rejection"]["code"], "unapproved-policy-change");
}

#[test]
fn a_pull_request_removing_a_request_shows_the_removal() {
    let pr = Pr::new();
    pr.merged(1, "alice", "carol", write_request(ALICE, simple("alice", ONCALL)));
    pr.open(11, "alice", |repo: &TestRepo| repo.remove(ALICE));
    let run = pr.check_json(11);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(tuples(&report["removes"]), triples(&[(ONCALL, "member", "alice")]));
    assert_eq!(tuples(&report["adds"]), triples(&[]));
    assert_eq!(file(&report, ALICE)["status"], "deleted");
    let markdown = pr.run(&["--format", "markdown", "check", "--pr", "11"], &[]);
    assert!(
        markdown.stdout.contains("| - remove | `local:group/oncall` | member | alice |"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn files_rejected_on_the_branch_are_not_the_pull_requests_doing() {
    let pr = Pr::new();
    // A direct push to main: rejected there, whatever the pull request does.
    pr.repo.write("requests/bob.yaml", &simple("bob", ONCALL));
    pr.repo.commit("Direct push", T1);
    let head = pr.open(12, "alice", write_request(ALICE, simple("alice", ONCALL)));
    pr.fake.review(12, "carol", "APPROVED", &head);
    let run = pr.check_json(12);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["rejected_elsewhere"], serde_json::json!(["requests/bob.yaml"]), "{report:#}");
    assert!(report["files"].as_array().unwrap().iter().all(|f| f["file"] != "requests/bob.yaml"));
}

#[test]
fn the_sticky_comment_is_created_once_and_then_updated() {
    let pr = Pr::new();
    let head = pr.open(13, "alice", write_request(ALICE, simple("alice", ONCALL)));
    // Someone else's comment carrying the marker is not tenure's and is left alone.
    pr.fake.comment(13, "mallory", "<!-- tenure:check -->\nAll approved, merge away!");
    let first = pr.run(&["check", "--pr", "13", "--comment"], &[]);
    first.expect_code(1);
    let comments = pr.fake.comments(13);
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0].2, "<!-- tenure:check -->\nAll approved, merge away!");
    let (id, login, body) = comments[1].clone();
    assert_eq!(login, "tenure-bot");
    assert!(body.starts_with("<!-- tenure:check -->\n"), "{body}");
    assert!(body.contains("Waiting for approvals"), "{body}");
    assert_eq!(pr.fake.count(fake_github::CREATE_COMMENT), 1);

    pr.fake.review(13, "carol", "APPROVED", &head);
    let second = pr.run(&["check", "--pr", "13", "--comment"], &[]);
    second.expect_code(0);
    let comments = pr.fake.comments(13);
    assert_eq!(comments.len(), 2, "no second comment: {comments:?}");
    assert_eq!(comments[1].0, id, "the same comment, updated");
    assert!(comments[1].2.contains("Would be granted"), "{}", comments[1].2);
    assert_eq!(pr.fake.count(fake_github::CREATE_COMMENT), 1);
    assert_eq!(pr.fake.count(fake_github::UPDATE_COMMENT), 1);
}

#[test]
fn github_actions_gets_annotations_and_a_step_summary() {
    let pr = Pr::new();
    // An unknown resource on line 5 of the request: a rejection with a line.
    pr.open(14, "alice", write_request(ALICE, simple("alice", "local:group/nope")));
    let summary = pr.repo.root().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let summary_text = summary.to_string_lossy().into_owned();
    let env = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary_text.as_str())];
    let run = pr.run(&["check", "--pr", "14"], &env);
    run.expect_code(1);
    let annotation = run
        .stdout
        .lines()
        .find(|line| line.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation:\n{}", run.all_output()));
    assert!(annotation.starts_with("::error file=requests/alice.yaml,line="), "{annotation}");
    assert!(annotation.contains(",title=tenure%3A unknown-resource::"), "{annotation}");
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.starts_with("earlier step\n<!-- tenure:check -->"), "{written}");
    assert!(written.contains("pull request #14"), "{written}");

    // With JSON on standard output, the annotations go to standard error.
    let json = pr.run(&["--format", "json", "check", "--pr", "14"], &env);
    json.json();
    assert!(json.stderr.contains("::error file=requests/alice.yaml"), "{}", json.all_output());

    // Outside GitHub Actions there are none.
    let plain = pr.run(&["check", "--pr", "14"], &[]);
    assert!(!plain.all_output().contains("::error"), "{}", plain.all_output());
}

#[test]
fn the_actions_event_names_the_pull_request() {
    let pr = Pr::new();
    let head = pr.open(15, "alice", write_request(ALICE, simple("alice", ONCALL)));
    pr.fake.review(15, "carol", "APPROVED", &head);
    let event = pr.repo.root().join("event.json");
    std::fs::write(&event, r#"{"action": "synchronize", "number": 15, "pull_request": {"number": 15}}"#)
        .unwrap();
    let event_text = event.to_string_lossy().into_owned();
    let run = pr.run(&["--format", "json", "check"], &[("GITHUB_EVENT_PATH", event_text.as_str())]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["pull_request"]["number"], 15, "{report:#}");
    assert_eq!(tuples(&report["adds"]), triples(&[(ONCALL, "member", "alice")]));

    // A push event is not about a pull request: the branch is checked.
    std::fs::write(&event, r#"{"ref": "refs/heads/main", "after": "0000"}"#).unwrap();
    let push = pr.run(&["--format", "json", "check"], &[("GITHUB_EVENT_PATH", event_text.as_str())]);
    push.expect_code(0);
    assert!(push.json().get("approved").is_some(), "{}", push.stdout);
}

#[test]
fn a_head_commit_missing_from_the_clone_is_a_clear_exit_2() {
    let pr = Pr::new();
    let missing = format!("{:0>40}", "feed16");
    pr.fake.add_pull(
        Pull {
            number: 16,
            author: "alice".into(),
            head_sha: missing,
            base: "main".into(),
            merged_at: None,
            merge_commit_sha: None,
            commits: 1,
        },
        &[],
    );
    let run = pr.run(&["check", "--pr", "16"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("git fetch origin pull/16/head"), "{}", run.all_output());
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn pr_mode_needs_the_github_forge_and_comment_needs_a_pull_request() {
    let repo = TestRepo::standard();
    let run = repo.tenure(&["--now", NOW, "check", "--pr", "3"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--pr needs"), "{}", run.all_output());
    let run = repo.tenure(&["--now", NOW, "check", "--comment"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--comment needs a pull request"), "{}", run.all_output());
}

#[test]
fn work_merged_on_the_branch_after_the_pull_request_left_it_is_not_undone() {
    let pr = Pr::new();
    let head = pr.open(17, "alice", write_request(ALICE, simple("alice", ONCALL)));
    pr.fake.review(17, "carol", "APPROVED", &head);
    // bob's request lands on main after the pull request branched off: the head lacks it, but
    // merging would keep it.
    pr.merged(2, "bob", "dave", write_request("requests/bob.yaml", simple("bob", BILLING)));
    let run = pr.check_json(17);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(tuples(&report["removes"]), triples(&[]), "{report:#}");
    assert_eq!(tuples(&report["adds"]), triples(&[(ONCALL, "member", "alice")]));
    assert!(report["files"].as_array().unwrap().iter().all(|f| f["file"] != "requests/bob.yaml"));
}

#[test]
fn a_pull_request_that_breaks_the_catalog_is_rejected_not_unanswerable() {
    let pr = Pr::new();
    let head = pr.open(18, "alice", |repo: &TestRepo| {
        repo.write("catalog/legacy.yaml", "resources: [ {id: local:group/legacy, owners: [carol]\n");
    });
    pr.fake.review(18, "root-admin", "APPROVED", &head);
    let run = pr.check_json(18);
    run.expect_code(1);
    let report = run.json();
    let legacy = file(&report, "catalog/legacy.yaml");
    assert_eq!(legacy["status"], "rejected", "{report:#}");
    assert_eq!(legacy["rejection"]["code"], "invalid-yaml", "{report:#}");
}

#[test]
fn a_catalog_change_approved_by_an_admin_passes() {
    let pr = Pr::new();
    let head = pr.open(19, "alice", |repo: &TestRepo| {
        repo.write(
            "catalog/legacy.yaml",
            &CATALOG_LEGACY.replace("owners: [carol]", "owners: [carol, dave]"),
        );
    });
    pr.fake.review(19, "root-admin", "APPROVED", &head);
    let run = pr.check_json(19);
    run.expect_code(0);
    assert_eq!(file(&run.json(), "catalog/legacy.yaml")["status"], "granted");
}
