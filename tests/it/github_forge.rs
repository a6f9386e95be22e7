//! The github forge (rule 2 on GitHub, docs/github-forge.md): real git histories, pull
//! requests and reviews on the loopback fake GitHub, and the real binary pointed at it.
//!
//! Each adversarial case builds the history that GitHub would show after the merge, tells the
//! fake what GitHub would answer about it, and asserts what `plan` grants and rejects.

use std::cell::Cell;

use serde_json::Value;

use crate::fake_github::{self, FakeGithub, Pull};
use crate::support::*;

const REPOSITORY: &str = "acme/access";

/// A catalog file with a resource owned by a GitHub team.
const TEAM_CATALOG: &str = r#"resources:
  - id: local:group/payments
    owners: ["@acme/payments-leads"]
    roles: [member]
    allow_empty: true
"#;
const PAYMENTS: &str = "local:group/payments";

fn github_yaml() -> String {
    TENURE_YAML.replace(
        "# forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.\nforge: {kind: git}",
        &format!("forge: {{kind: github, repository: {REPOSITORY}}}"),
    )
}

/// One edit of the working tree, for a commit of a rebased pull request.
type Edit = Box<dyn FnOnce(&TestRepo)>;

/// A pull request as the tests made it.
struct Pr {
    number: u64,
    head: String,
}

/// An access repository in github mode, with its fake GitHub.
struct Gh {
    repo: TestRepo,
    fake: FakeGithub,
    next: Cell<u64>,
}

impl Gh {
    fn new() -> Gh {
        let yaml = github_yaml();
        assert!(yaml.contains("kind: github"), "{yaml}");
        let repo = TestRepo::with_policy(
            &yaml,
            &[
                ("catalog/main.yaml", CATALOG_MAIN),
                ("catalog/legacy.yaml", CATALOG_LEGACY),
                ("catalog/team.yaml", TEAM_CATALOG),
            ],
        );
        Gh { repo, fake: FakeGithub::start(REPOSITORY), next: Cell::new(0) }
    }

    fn number(&self) -> u64 {
        self.next.set(self.next.get() + 1);
        self.next.get()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.fake.env()
    }

    fn tenure(&self, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.repo.tenure_env(args, &env)
    }

    fn plan(&self) -> Value {
        let run = self.tenure(&["--now", NOW, "--format", "json", "plan"]);
        assert!(
            run.code == 0 || run.code == 1,
            "exit {}\n{}\nrequests: {:?}",
            run.code,
            run.all_output(),
            self.fake.log()
        );
        run.json()
    }

    /// A pull request merged with a merge commit: `edit` on a side branch committed an hour
    /// before `date` (the head), merged into main at `date`.
    fn merge_pr(&self, author: &str, date: &str, edit: impl FnOnce(&TestRepo)) -> Pr {
        let number = self.number();
        let merge = self.repo.merge_raw("work", &format!("Merge pull request #{number}"), date, edit);
        let head = self.repo.rev("HEAD^2");
        self.fake
            .add_pull(pull(number, author, &head, "main", Some(date), Some(&merge), 1), &[&merge, &head]);
        Pr { number, head }
    }

    /// A pull request squash-merged at `date`; its head commit is not in the clone, so its
    /// content comes from the contents API, where it is the content of `paths` that landed.
    fn squash_pr(&self, author: &str, date: &str, paths: &[&str], edit: impl FnOnce(&TestRepo)) -> Pr {
        let number = self.number();
        edit(&self.repo);
        let squash = self.repo.commit(&format!("Squashed (#{number})"), date);
        let head = fake_sha(number);
        for path in paths {
            self.fake.set_content(&head, path, &self.repo.blob(path));
        }
        self.fake.add_pull(pull(number, author, &head, "main", Some(date), Some(&squash), 1), &[&squash]);
        Pr { number, head }
    }

    /// A pull request rebase-merged at `date`: one commit on main per edit, the head not in the
    /// clone.
    fn rebase_pr(&self, author: &str, date: &str, paths: &[&str], edits: Vec<Edit>) -> Pr {
        let number = self.number();
        let mut commits = Vec::new();
        let count = edits.len() as u64;
        for (index, edit) in edits.into_iter().enumerate() {
            edit(&self.repo);
            commits.push(self.repo.commit(&format!("Rebased commit {index} of #{number}"), date));
        }
        let head = fake_sha(number);
        for path in paths {
            self.fake.set_content(&head, path, &self.repo.blob(path));
        }
        let last = commits.last().cloned().expect("at least one commit");
        let links: Vec<&str> = commits.iter().map(String::as_str).collect();
        self.fake.add_pull(pull(number, author, &head, "main", Some(date), Some(&last), count), &links);
        Pr { number, head }
    }

    fn cache_file(&self) -> std::path::PathBuf {
        self.repo.root().join(".tenure-cache").join("github-acme--access.json")
    }
}

fn pull(
    number: u64,
    author: &str,
    head: &str,
    base: &str,
    merged_at: Option<&str>,
    merge_commit_sha: Option<&str>,
    commits: u64,
) -> Pull {
    Pull {
        number,
        author: author.into(),
        head_sha: head.into(),
        base: base.into(),
        merged_at: merged_at.map(Into::into),
        merge_commit_sha: merge_commit_sha.map(Into::into),
        commits,
    }
}

/// A commit id that no clone holds.
fn fake_sha(seed: u64) -> String {
    format!("{:0>40}", format!("feed{seed}"))
}

fn write_request(path: &'static str, yaml: String) -> impl FnOnce(&TestRepo) {
    move |repo: &TestRepo| repo.write(path, &yaml)
}

const ALICE: &str = "requests/alice.yaml";

fn alice_oncall() -> impl FnOnce(&TestRepo) {
    write_request(ALICE, simple("alice", ONCALL))
}

#[test]
fn a_merged_pull_request_approved_by_an_owner_grants() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_rejected(&plan, &[]);
    // The evidence names the pull request.
    let explain = gh.tenure(&["--now", NOW, "--format", "json", "explain", ALICE]);
    assert!(explain.stdout.contains(&format!("#{}", pr.number)), "{}", explain.all_output());
    assert!(explain.stdout.contains("carol"), "{}", explain.all_output());
}

#[test]
fn self_approval_does_not_count() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "alice", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
}

#[test]
fn an_approval_of_an_earlier_head_is_stale() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &fake_sha(999));
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
}

#[test]
fn changes_requested_after_an_approval_withdraws_it() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    gh.fake.review(pr.number, "carol", "COMMENTED", &pr.head);
    gh.fake.review(pr.number, "carol", "CHANGES_REQUESTED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
}

#[test]
fn a_dismissed_approval_does_not_count_but_a_later_comment_keeps_an_approval() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    gh.fake.review(pr.number, "carol", "DISMISSED", &pr.head);
    gh.fake.review(pr.number, "frank", "APPROVED", &pr.head);
    gh.fake.review(pr.number, "frank", "COMMENTED", &pr.head);
    // frank (group:leads) still approves; carol's dismissed approval is gone.
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(ONCALL, "member", "alice", ALICE)]);
    let explain = gh.tenure(&["--now", NOW, "--format", "json", "explain", ALICE]);
    let approvers = explain.json()["change"]["approvers"].clone();
    assert_eq!(approvers, serde_json::json!(["frank"]), "{}", explain.stdout);
}

#[test]
fn a_dismissed_only_approval_is_not_a_review() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    gh.fake.review(pr.number, "carol", "DISMISSED", &pr.head);
    let plan = gh.plan();
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
}

#[test]
fn approvals_by_non_owners_team_members_and_bots() {
    let gh = Gh::new();
    gh.fake.team("acme", "payments-leads", &[("pat", "maintainer", false), ("zed", "member", true)]);
    // A bot account whose login is an owner's.
    gh.fake.account("carol", "Bot");
    let by_dave = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(by_dave.number, "dave", "APPROVED", &by_dave.head);
    let by_team = gh.merge_pr("bob", T2, write_request("requests/bob.yaml", simple("bob", PAYMENTS)));
    gh.fake.review(by_team.number, "zed", "APPROVED", &by_team.head);
    let by_outsider = gh.merge_pr("erin", T3, write_request("requests/erin.yaml", simple("erin", PAYMENTS)));
    gh.fake.review(by_outsider.number, "dave", "APPROVED", &by_outsider.head);
    let by_bot = gh.merge_pr("ivan", T4, write_request("requests/ivan.yaml", simple("ivan", ONCALL)));
    gh.fake.review(by_bot.number, "carol", "APPROVED", &by_bot.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(PAYMENTS, "member", "bob", "requests/bob.yaml")]);
    assert_rejected(
        &plan,
        &[
            (ALICE, "insufficient-approvals"),
            ("requests/erin.yaml", "insufficient-approvals"),
            ("requests/ivan.yaml", "not-reviewed"),
        ],
    );
    assert_eq!(gh.fake.count(fake_github::TEAM_MEMBERS), 1, "{:?}", gh.fake.counts());
}

#[test]
fn logins_that_differ_only_in_case() {
    let gh = Gh::new();
    // GitHub's canonical login is `Carol`; the catalog says `carol`: the same person.
    gh.fake.account("Carol", "User");
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "Carol", "APPROVED", &pr.head);
    // frank (an owner through group:leads) asks for himself; `FRANK` is another account that
    // approves: it is still the requester as far as logins go, so it cannot count.
    gh.fake.account("frank", "User");
    gh.fake.account("FRANK", "User");
    let own = gh.merge_pr("frank", T2, write_request("requests/frank.yaml", simple("frank", ONCALL)));
    gh.fake.review(own.number, "FRANK", "APPROVED", &own.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_rejected(&plan, &[("requests/frank.yaml", "insufficient-approvals")]);
}

#[test]
fn merge_squash_and_rebase_merges_are_recognised() {
    let gh = Gh::new();
    let merged = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(merged.number, "carol", "APPROVED", &merged.head);
    let squashed = gh.squash_pr(
        "bob",
        T2,
        &["requests/bob.yaml"],
        write_request("requests/bob.yaml", simple("bob", BILLING)),
    );
    gh.fake.review(squashed.number, "dave", "APPROVED", &squashed.head);
    let rebased = gh.rebase_pr(
        "erin",
        T3,
        &["requests/erin.yaml", "requests/erin2.yaml"],
        vec![
            Box::new(write_request("requests/erin.yaml", simple("erin", BILLING))),
            Box::new(write_request("requests/erin2.yaml", simple("erin", ONCALL))),
        ],
    );
    gh.fake.review(rebased.number, "dave", "APPROVED", &rebased.head);
    gh.fake.review(rebased.number, "carol", "APPROVED", &rebased.head);
    let plan = gh.plan();
    assert_changes(
        &plan,
        vec![
            grant(ONCALL, "member", "alice", ALICE),
            grant(BILLING, "member", "bob", "requests/bob.yaml"),
            grant(BILLING, "member", "erin", "requests/erin.yaml"),
            grant(ONCALL, "member", "erin", "requests/erin2.yaml"),
        ],
    );
    assert_rejected(&plan, &[]);
    // The squash and rebase heads are not in the clone: their content came from the API.
    assert_eq!(gh.fake.count(fake_github::CONTENTS), 3, "{:?}", gh.fake.counts());
    // Only the rebased commit that is not the merge commit needs the PR's commit count.
    assert_eq!(gh.fake.count(fake_github::PULL), 1, "{:?}", gh.fake.counts());
}

#[test]
fn a_rebased_commit_outside_the_pull_request_is_not_claimed() {
    let gh = Gh::new();
    // A direct push just before the rebase: the PR's merge commit is later on the branch, but
    // the PR has one commit, so the direct push is not one of them.
    alice_oncall()(&gh.repo);
    let pushed = gh.repo.commit("direct push", T1);
    let rebased = gh.rebase_pr(
        "bob",
        T2,
        &["requests/bob.yaml"],
        vec![Box::new(write_request("requests/bob.yaml", simple("bob", BILLING)))],
    );
    gh.fake.review(rebased.number, "dave", "APPROVED", &rebased.head);
    // GitHub would not link the pushed commit; even if it did, the count excludes it.
    gh.fake.add_pull(
        pull(rebased.number + 100, "alice", &rebased.head, "main", Some(T2), Some(&gh.repo.head()), 1),
        &[&pushed],
    );
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(BILLING, "member", "bob", "requests/bob.yaml")]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
}

#[test]
fn a_direct_push_and_a_pull_request_into_another_branch_are_not_reviewed() {
    let gh = Gh::new();
    alice_oncall()(&gh.repo);
    gh.repo.commit("Add alice directly", T1);
    write_request("requests/bob.yaml", simple("bob", BILLING))(&gh.repo);
    let landed = gh.repo.commit("Bob, via a PR into develop", T2);
    let head = fake_sha(7);
    gh.fake.add_pull(pull(7, "bob", &head, "develop", Some(T2), Some(&landed), 1), &[&landed]);
    gh.fake.review(7, "dave", "APPROVED", &head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed"), ("requests/bob.yaml", "not-reviewed")]);
    // An open pull request that contains a pushed commit is no review either.
    let gh = Gh::new();
    alice_oncall()(&gh.repo);
    let pushed = gh.repo.commit("pushed", T1);
    gh.fake.add_pull(pull(3, "alice", &pushed, "main", None, None, 1), &[&pushed]);
    gh.fake.review(3, "carol", "APPROVED", &pushed);
    assert_rejected(&gh.plan(), &[(ALICE, "not-reviewed")]);
}

#[test]
fn content_that_differs_from_the_reviewed_head_is_not_reviewed() {
    let gh = Gh::new();
    // A merge commit that changes the file beyond what the PR's head held.
    let number = gh.number();
    gh.repo.git(&["checkout", "-q", "-b", "evil", "main"]);
    alice_oncall()(&gh.repo);
    let head = gh.repo.commit("reviewed content", T1);
    gh.repo.git(&["checkout", "-q", "main"]);
    gh.repo.git(&["merge", "-q", "--no-ff", "--no-commit", "evil"]);
    gh.repo.write(ALICE, &req("alice", &["alice"], &[(ONCALL, "admin")]).yaml());
    let merge = gh.repo.commit("Merge pull request, edited in the merge", T2);
    gh.fake.add_pull(pull(number, "alice", &head, "main", Some(T2), Some(&merge), 1), &[&merge, &head]);
    gh.fake.review(number, "carol", "APPROVED", &head);
    // A squash whose result is not what the head held (the contents API says another blob).
    let squashed = gh.squash_pr("bob", T3, &[], write_request("requests/bob.yaml", simple("bob", BILLING)));
    gh.fake.set_content(&squashed.head, "requests/bob.yaml", &fake_sha(4242));
    gh.fake.review(squashed.number, "dave", "APPROVED", &squashed.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed"), ("requests/bob.yaml", "not-reviewed")]);
}

#[test]
fn the_pull_request_author_must_be_the_requester() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, write_request("requests/bob.yaml", simple("bob", BILLING)));
    gh.fake.review(pr.number, "dave", "APPROVED", &pr.head);
    assert_rejected(&gh.plan(), &[("requests/bob.yaml", "requester-mismatch")]);
}

fn add_dave_as_oncall_owner(repo: &TestRepo) {
    repo.write(
        "catalog/main.yaml",
        &CATALOG_MAIN.replacen(
            "owners: [carol, \"group:leads\"]",
            "owners: [carol, dave, \"group:leads\"]",
            1,
        ),
    );
}

#[test]
fn a_policy_change_approved_by_an_admin_through_a_review_is_trusted() {
    let gh = Gh::new();
    let policy = gh.merge_pr("carol", T1, add_dave_as_oncall_owner);
    gh.fake.review(policy.number, "root-admin", "APPROVED", &policy.head);
    let pr = gh.merge_pr("alice", T2, alice_oncall());
    gh.fake.review(pr.number, "dave", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_rejected(&plan, &[]);

    // The same change approved by an owner who is not an admin is not trusted: nothing changes.
    let gh = Gh::new();
    let policy = gh.merge_pr("carol", T1, add_dave_as_oncall_owner);
    gh.fake.review(policy.number, "frank", "APPROVED", &policy.head);
    let pr = gh.merge_pr("alice", T2, alice_oncall());
    gh.fake.review(pr.number, "dave", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert!(rejected(&plan).iter().any(|(_, code)| code == "unapproved-policy-change"), "{plan:#}");
}

/// One request of the twin test: who proposes, who approves, the file and its content.
struct Twin {
    proposer: &'static str,
    approvers: &'static [&'static str],
    path: &'static str,
    yaml: String,
    reviewed: bool,
}

fn twins() -> Vec<Twin> {
    vec![
        Twin {
            proposer: "alice",
            approvers: &["carol"],
            path: ALICE,
            yaml: simple("alice", ONCALL),
            reviewed: true,
        },
        Twin {
            proposer: "bob",
            approvers: &["dave"],
            path: "requests/bob.yaml",
            yaml: simple("bob", BILLING),
            reviewed: true,
        },
        Twin {
            proposer: "erin",
            approvers: &["carol"],
            path: "requests/erin.yaml",
            yaml: simple("erin", DB),
            reviewed: true,
        },
        Twin {
            proposer: "alice",
            approvers: &["dave"],
            path: "requests/gus.yaml",
            yaml: simple("gus", BILLING),
            reviewed: true,
        },
        Twin {
            proposer: "hal",
            approvers: &[],
            path: "requests/hal.yaml",
            yaml: simple("hal", BILLING),
            reviewed: false,
        },
        Twin {
            proposer: "ivy",
            approvers: &["carol", "dave"],
            path: "requests/ivy.yaml",
            yaml: simple("ivy", DB),
            reviewed: true,
        },
    ]
}

#[test]
fn github_mode_judges_like_its_git_twin() {
    let dates = [T1, T2, T3, T4, &shift(T4, 3600), &shift(T4, 7200)].map(str::to_owned);
    // git mode: trailers.
    let git = TestRepo::standard();
    for (twin, date) in twins().iter().zip(&dates) {
        git.write(twin.path, &twin.yaml);
        if twin.reviewed {
            git.squash("Request", twin.proposer, twin.approvers, date);
        } else {
            git.commit("Direct push", date);
        }
    }
    // github mode: squash-merged pull requests with reviews, and a direct push.
    let gh = Gh::new();
    for (twin, date) in twins().iter().zip(&dates) {
        if twin.reviewed {
            let pr =
                gh.squash_pr(twin.proposer, date, &[twin.path], write_request(twin.path, twin.yaml.clone()));
            for approver in twin.approvers {
                gh.fake.review(pr.number, approver, "APPROVED", &pr.head);
            }
        } else {
            gh.repo.write(twin.path, &twin.yaml);
            gh.repo.commit("Direct push", date);
        }
    }
    let git_plan = git.plan(NOW).json();
    let gh_plan = gh.plan();
    assert_eq!(changes(&gh_plan), changes(&git_plan), "github:\n{gh_plan:#}\ngit:\n{git_plan:#}");
    assert_eq!(rejected(&gh_plan), rejected(&git_plan), "github:\n{gh_plan:#}\ngit:\n{git_plan:#}");
    assert_eq!(changes(&gh_plan).len(), 3, "{gh_plan:#}");
    assert_eq!(rejected(&gh_plan).len(), 3, "{gh_plan:#}");
}

#[test]
fn a_warm_cache_makes_no_pull_request_or_review_calls() {
    let gh = Gh::new();
    gh.fake.team("acme", "payments-leads", &[("pat", "maintainer", false)]);
    // N = 6 request files from P = 3 pull requests, T = 1 owner team.
    let people = [["amy", "ben"], ["cat", "dan"], ["eve", "fay"]];
    for (index, pair) in people.iter().enumerate() {
        let date = [T1, T2, T3][index];
        let pr = gh.merge_pr(pair[0], date, |repo| {
            for person in pair {
                let yaml = req(pair[0], &[person], &[(PAYMENTS, "member")]).yaml();
                repo.write(&format!("requests/{person}.yaml"), &yaml);
            }
        });
        gh.fake.review(pr.number, "pat", "APPROVED", &pr.head);
    }
    let cold = gh.plan();
    assert_eq!(changes(&cold).len(), 6, "{cold:#}");
    let pr_calls = |fake: &FakeGithub| {
        fake.count(fake_github::COMMIT_PULLS)
            + fake.count(fake_github::PULL)
            + fake.count(fake_github::REVIEWS)
    };
    let p = 3;
    // One commit → pulls call per change commit (the P merges and the initial policy commit)
    // and one review list per pull request.
    assert!(pr_calls(&gh.fake) <= 2 * p + 1, "cold run: {:?}", gh.fake.counts());
    assert_eq!(gh.fake.count(fake_github::COMMIT_PULLS), p + 1, "{:?}", gh.fake.counts());
    assert_eq!(gh.fake.count(fake_github::REVIEWS), p, "{:?}", gh.fake.counts());
    assert_eq!(gh.fake.count(fake_github::PULL), 0, "{:?}", gh.fake.counts());
    assert_eq!(gh.fake.count(fake_github::TEAM_MEMBERS), 1, "{:?}", gh.fake.counts());
    assert_eq!(gh.fake.unauthenticated(), 0);
    assert!(gh.cache_file().exists(), "the cold run writes the cache");

    gh.fake.reset_counts();
    let warm = gh.plan();
    assert_eq!(pr_calls(&gh.fake), 0, "warm run: {:?}", gh.fake.counts());
    assert_eq!(gh.fake.count(fake_github::TEAM_MEMBERS), 1, "team members are read once per run");
    assert_eq!(changes(&warm), changes(&cold));
}

#[test]
fn no_pull_request_is_cached_only_for_commits_over_an_hour_old() {
    let gh = Gh::new();
    alice_oncall()(&gh.repo);
    // Dated far beyond the real clock: young by any measure.
    gh.repo.commit("just pushed", "2100-01-01T00:00:00Z");
    let first = gh.plan();
    // (Its expiry is before a merge in 2100, too; not-reviewed is among the failures.)
    assert_eq!(rejected(&first).len(), 1, "{first:#}");
    assert!(first.to_string().contains("not-reviewed"), "{first:#}");
    assert_eq!(gh.fake.count(fake_github::COMMIT_PULLS), 2, "{:?}", gh.fake.log());
    gh.fake.reset_counts();
    gh.plan();
    // The old initial commit is cached; the young one is asked about again.
    assert_eq!(gh.fake.count(fake_github::COMMIT_PULLS), 1, "{:?}", gh.fake.log());
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored_and_rebuilt() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    let cold = gh.plan();
    let cache = std::fs::read_to_string(gh.cache_file()).expect("the cache file");
    assert!(cache.contains(REPOSITORY), "{cache}");

    // A cache that names another repository is not trusted, even if well-formed.
    std::fs::write(gh.cache_file(), cache.replace(REPOSITORY, "evil/other")).unwrap();
    gh.fake.reset_counts();
    assert_eq!(changes(&gh.plan()), changes(&cold));
    assert!(gh.fake.count(fake_github::REVIEWS) > 0, "a foreign cache is ignored");
    let rebuilt = std::fs::read_to_string(gh.cache_file()).unwrap();
    assert!(rebuilt.contains(REPOSITORY) && !rebuilt.contains("evil/other"), "{rebuilt}");

    // Garbage is ignored too.
    std::fs::write(gh.cache_file(), "{\"version\": 1, \"garbage\": [").unwrap();
    gh.fake.reset_counts();
    assert_eq!(changes(&gh.plan()), changes(&cold));
    assert!(gh.fake.count(fake_github::REVIEWS) > 0);

    // A cache that claims an approval the forge never saw, in a shape that fails validation
    // (a review state tenure never stores), is not believed.
    let pr2 = gh.merge_pr("bob", T2, write_request("requests/bob.yaml", simple("bob", BILLING)));
    gh.plan();
    let text = std::fs::read_to_string(gh.cache_file()).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let commit = gh.repo.head();
    let facts = &mut doc["commits"][&commit]["pull"];
    facts["reviews"] = serde_json::json!([{"reviewer": {"id": 1, "login": "dave", "kind": "User"}, "state": "approved", "commit_id": pr2.head}]);
    std::fs::write(gh.cache_file(), doc.to_string()).unwrap();
    let plan = gh.plan();
    assert_rejected(&plan, &[("requests/bob.yaml", "not-reviewed")]);
}

#[test]
fn every_page_is_fetched_with_the_token() {
    let gh = Gh::new();
    gh.fake.set_page_size(1);
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "dave", "COMMENTED", &pr.head);
    gh.fake.review(pr.number, "erin", "COMMENTED", &pr.head);
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_eq!(gh.fake.count(fake_github::REVIEWS), 3, "{:?}", gh.fake.log());
    assert_eq!(gh.fake.unauthenticated(), 0);
}

#[test]
fn without_credentials_the_run_stops_before_any_change() {
    let gh = Gh::new();
    let run =
        gh.repo.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("GITHUB_API_URL", gh.fake.url())]);
    run.expect_code(2);
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{}", run.stderr);
    // A wrong token is refused by GitHub, and the error does not echo it.
    let run = gh.repo.tenure_env(
        &["--now", NOW, "--format", "json", "plan"],
        &[("GITHUB_API_URL", gh.fake.url()), ("GITHUB_TOKEN", "ghp_wrongSecretValue")],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(!run.all_output().contains("ghp_wrongSecretValue"));
}

/// OpenAPI 3.0's `nullable` as JSON Schema: `{type: T, nullable: true}` → `{type: [T, "null"]}`,
/// and a nullable `$ref`/`allOf`/`oneOf`/`anyOf` gets `null` as an alternative.
fn json_schema_of(openapi: &Value) -> Value {
    match openapi {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, _)| {
                    k.as_str() != "nullable" && k.as_str() != "discriminator" && k.as_str() != "example"
                })
                .map(|(k, v)| (k.clone(), json_schema_of(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(kind)) = out.get("type").cloned() {
                    out.insert("type".into(), serde_json::json!([kind, "null"]));
                    if let Some(Value::Array(values)) = out.get_mut("enum") {
                        values.push(Value::Null);
                    }
                } else {
                    let inner = Value::Object(out);
                    return serde_json::json!({"anyOf": [inner, {"type": "null"}]});
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema_of).collect()),
        other => other.clone(),
    }
}

/// Validates a body against the published schema of `path`/`method`/`status`.
fn assert_matches_schema(path: &str, method: &str, status: &str, body: &Value) {
    let doc: Value = serde_json::from_str(fake_github::OPENAPI).unwrap();
    let schema = &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "no published schema for {method} {path} {status}");
    let mut root = json_schema_of(schema);
    root["components"] = json_schema_of(&doc["components"]);
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema of {path}: {e}"));
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {path}: the fake's answer breaks GitHub's schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_fakes_answers_match_githubs_published_schemas() {
    let fake = FakeGithub::start(REPOSITORY);
    let head = fake_sha(1);
    let merge = fake_sha(2);
    fake.add_pull(pull(1, "alice", &head, "main", Some(T1), Some(&merge), 2), &[&merge]);
    fake.review(1, "carol", "APPROVED", &head);
    fake.account("renovate", "Bot");
    fake.review(1, "renovate", "COMMENTED", &head);
    fake.set_content(&head, "requests/a b.yaml", &fake_sha(3));
    fake.team("acme", "leads", &[("carol", "maintainer", false), ("zed", "member", true)]);
    let auth = format!("Bearer {}", fake_github::TOKEN);
    let get = |path: &str| {
        let (status, _, body) = fake_github::http(fake.url(), "GET", path, &[("Authorization", &auth)], None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    };
    let cases = [
        (
            "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
            format!("/repos/acme/access/commits/{merge}/pulls"),
        ),
        ("/repos/{owner}/{repo}/pulls/{pull_number}", "/repos/acme/access/pulls/1".to_owned()),
        (
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            "/repos/acme/access/pulls/1/reviews".to_owned(),
        ),
        (
            "/repos/{owner}/{repo}/contents/{path}",
            format!("/repos/acme/access/contents/requests/a%20b.yaml?ref={head}"),
        ),
        ("/orgs/{org}/teams/{team_slug}/members", "/orgs/acme/teams/leads/members?role=all".to_owned()),
    ];
    for (template, path) in &cases {
        let body = get(path);
        assert!(body.as_array().is_none_or(|items| !items.is_empty()), "{path}: {body}");
        assert_matches_schema(template, "get", "200", &body);
    }
    crate::github_provider::check_access_schemas(&fake, assert_matches_schema);
    let members = get("/orgs/acme/teams/leads/members?role=all");
    assert_eq!(members[1]["inherited"], Value::Bool(true), "{members}");
    assert_eq!(members[0]["role"], "maintainer", "{members}");
    let reviews = get("/repos/acme/access/pulls/1/reviews");
    assert_eq!(reviews[1]["user"]["type"], "Bot");
    let (_, _, body) = fake_github::http(
        fake.url(),
        "GET",
        "/orgs/acme/installation",
        &[("Authorization", "Bearer a.b.c")],
        None,
    );
    assert_matches_schema("/orgs/{org}/installation", "get", "200", &serde_json::from_str(&body).unwrap());
    let (status, _, body) = fake_github::http(
        fake.url(),
        "POST",
        "/app/installations/1/access_tokens",
        &[("Authorization", "Bearer a.b.c")],
        Some("{}"),
    );
    assert_eq!(status, 201);
    assert_matches_schema(
        "/app/installations/{installation_id}/access_tokens",
        "post",
        "201",
        &serde_json::from_str(&body).unwrap(),
    );
}

#[test]
fn the_fake_paginates_with_absolute_links_answers_304_and_keeps_comments() {
    let fake = FakeGithub::start(REPOSITORY);
    for index in 0..5 {
        fake.comment(9, "carol", &format!("comment {index}"));
    }
    let auth = format!("Bearer {}", fake_github::TOKEN);
    let (status, headers, body) = fake_github::http(
        fake.url(),
        "GET",
        "/repos/acme/access/issues/9/comments?per_page=2",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(status, 200);
    let link =
        headers.iter().find(|(name, _)| name == "link").map(|(_, v)| v.clone()).expect("a Link header");
    assert!(
        link.contains(&format!(
            "<{}/repos/acme/access/issues/9/comments?per_page=2&page=2>; rel=\"next\"",
            fake.url()
        )),
        "{link}"
    );
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap().as_array().map(Vec::len), Some(2));
    let etag = headers.iter().find(|(name, _)| name == "etag").map(|(_, v)| v.clone()).expect("an ETag");
    let (status, _, body) = fake_github::http(
        fake.url(),
        "GET",
        "/repos/acme/access/issues/9/comments?per_page=2",
        &[("Authorization", &auth), ("If-None-Match", &etag)],
        None,
    );
    assert_eq!((status, body.as_str()), (304, ""));
    let (status, _, body) = fake_github::http(
        fake.url(),
        "POST",
        "/repos/acme/access/issues/9/comments",
        &[("Authorization", &auth)],
        Some(r#"{"body":"tenure plan"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_u64().unwrap();
    let (status, _, _) = fake_github::http(
        fake.url(),
        "PATCH",
        &format!("/repos/acme/access/issues/comments/{id}"),
        &[("Authorization", &auth)],
        Some(r#"{"body":"tenure plan, updated"}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(fake.comments(9).last().map(|c| c.2.clone()), Some("tenure plan, updated".to_owned()));
    let (status, _, _) =
        fake_github::http(fake.url(), "GET", "/repos/acme/access/issues/9/comments", &[], None);
    assert_eq!(status, 401);
    assert_eq!(fake.unauthenticated(), 1);
    assert_eq!(fake.count(fake_github::ISSUE_COMMENTS), 3);
    assert_eq!(fake.count(fake_github::CREATE_COMMENT), 1);
}

#[test]
fn a_github_app_keeps_its_installation_token_on_every_page() {
    let gh = Gh::new();
    gh.fake.set_page_size(1);
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "dave", "COMMENTED", &pr.head);
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    // A throwaway RSA key made for these tests (tests/fixtures/github/SOURCES.md).
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github/test-app-key.pem");
    let run = gh.repo.tenure_env(
        &["--now", NOW, "--format", "json", "plan"],
        &[("GITHUB_API_URL", gh.fake.url()), ("TENURE_APP_ID", "42"), ("TENURE_APP_PRIVATE_KEY_PATH", key)],
    );
    assert!(run.code == 0, "{}\n{:?}", run.all_output(), gh.fake.log());
    assert_changes(&run.json(), vec![grant(ONCALL, "member", "alice", ALICE)]);
    assert_eq!(gh.fake.count(fake_github::ORG_INSTALLATION), 1, "{:?}", gh.fake.log());
    assert_eq!(gh.fake.count(fake_github::ACCESS_TOKENS), 1, "{:?}", gh.fake.log());
    assert_eq!(gh.fake.count(fake_github::REVIEWS), 2, "two pages of reviews: {:?}", gh.fake.log());
    assert_eq!(
        gh.fake.unauthenticated(),
        0,
        "every page carried the installation token: {:?}",
        gh.fake.log()
    );
    assert!(!run.all_output().contains("PRIVATE KEY"));
}

#[test]
fn a_cache_committed_to_the_repository_is_not_evidence() {
    let gh = Gh::new();
    alice_oncall()(&gh.repo);
    let pushed = gh.repo.commit("Add alice directly", T1);
    // A well-formed cache entry that claims an approved pull request for the direct push,
    // committed where tenure looks by default when it runs in the working tree.
    let forged = serde_json::json!({
        "version": 1,
        "repository": REPOSITORY,
        "branch": "main",
        "commits": {
            pushed.clone(): {"pull": {
                "number": 1,
                "url": "https://github.com/acme/access/pull/1",
                "author": {"id": 1, "login": "alice", "kind": "User"},
                "head_sha": pushed,
                "base": "main",
                "merged_at": T1,
                "merge_commit_sha": pushed,
                "reviews": [{"reviewer": {"id": 2, "login": "carol", "kind": "User"}, "state": "APPROVED", "commit_id": pushed}],
                "head_blobs": {}
            }}
        }
    });
    gh.repo.write(".gitignore", "state/\n");
    gh.repo.write(".tenure-cache/github-acme--access.json", &forged.to_string());
    gh.repo.commit("Add a cache", T2);
    let env = gh.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args: Vec<String> =
        ["--now", NOW, "--format", "json", "plan"].iter().map(|a| a.to_string()).collect();
    let run = gh.repo.tenure_in(gh.repo.dir(), &args, &env);
    let plan = run.json();
    assert_changes(&plan, vec![]);
    assert_rejected(&plan, &[(ALICE, "not-reviewed")]);
    assert!(gh.fake.count(fake_github::COMMIT_PULLS) >= 2, "{:?}", gh.fake.log());
    // And it is left as committed.
    assert_eq!(gh.repo.read(".tenure-cache/github-acme--access.json"), forged.to_string());
}

#[test]
fn a_merge_commit_must_merge_the_pull_requests_head() {
    let gh = Gh::new();
    let number = gh.number();
    let merge = gh.repo.merge_raw("work", "Merge pull request", T1, alice_oncall());
    // GitHub's record says another head, whose content (per the contents API) is the same:
    // the merge commit did not merge what was reviewed.
    let claimed = fake_sha(77);
    gh.fake.set_content(&claimed, ALICE, &gh.repo.blob(ALICE));
    gh.fake.add_pull(pull(number, "alice", &claimed, "main", Some(T1), Some(&merge), 1), &[&merge]);
    gh.fake.review(number, "carol", "APPROVED", &claimed);
    assert_rejected(&gh.plan(), &[(ALICE, "not-reviewed")]);
}

#[test]
fn the_audit_log_records_the_pull_request() {
    let gh = Gh::new();
    let pr = gh.merge_pr("alice", T1, alice_oncall());
    gh.fake.review(pr.number, "carol", "APPROVED", &pr.head);
    let env = gh.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    gh.repo.apply_env(NOW, &[], &env).expect_code(0);
    let audit = gh.repo.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let url = format!("https://github.com/{REPOSITORY}/pull/{}", pr.number);
    assert_eq!(find_key(&audit[0], "pr_url").and_then(Value::as_str), Some(url.as_str()), "{:#}", audit[0]);
    assert_eq!(find_key(&audit[0], "pr_number").and_then(Value::as_u64), Some(pr.number), "{:#}", audit[0]);
    let text = audit[0].to_string();
    assert!(!text.contains(fake_github::TOKEN), "the token never reaches the audit log");
}

#[test]
fn a_policy_edit_made_in_the_merge_commit_is_not_trusted() {
    let gh = Gh::new();
    // The admin approved a harmless catalog change; the merge commit adds dave as an owner.
    let number = gh.number();
    gh.repo.git(&["checkout", "-q", "-b", "policy", "main"]);
    gh.repo.write("catalog/legacy.yaml", &CATALOG_LEGACY.replace("owners: [carol]", "owners: [carol, erin]"));
    let head = gh.repo.commit("reviewed policy change", T1);
    gh.repo.git(&["checkout", "-q", "main"]);
    gh.repo.git(&["merge", "-q", "--no-ff", "--no-commit", "policy"]);
    add_dave_as_oncall_owner(&gh.repo);
    let merge = gh.repo.commit("Merge the policy change", T1);
    gh.fake.add_pull(pull(number, "carol", &head, "main", Some(T1), Some(&merge), 1), &[&merge, &head]);
    gh.fake.review(number, "root-admin", "APPROVED", &head);
    let pr = gh.merge_pr("alice", T2, alice_oncall());
    gh.fake.review(pr.number, "dave", "APPROVED", &pr.head);
    let plan = gh.plan();
    assert_changes(&plan, vec![]);
    assert!(rejected(&plan).iter().any(|(_, code)| code == "unapproved-policy-change"), "{plan:#}");
}
