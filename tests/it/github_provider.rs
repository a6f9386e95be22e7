//! The `github` provider end to end: approved requests in a git-forge repository, the real
//! binary, and the stateful fake GitHub as the target system. Each test checks what the fake
//! holds after `apply`, that a second `plan` is empty, and, where it matters, how many calls
//! a run made.

use serde_json::Value;

use crate::fake_github::{self, FakeGithub, Fault};
use crate::support::*;

const TENURE_GH: &str = r#"version: 1
# forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  gh: {kind: github, org: acme, write_interval: 0s}
defaults: {approvals: 1, max_duration: 90d}
safety: {max_revocations: 1000}
"#;

const CATALOG_GH: &str = r#"resources:
  - id: gh:team/oncall
    owners: [carol]
    roles: [member, maintainer]
    allow_empty: true
  - id: gh:team/strict
    owners: [carol]
    roles: [member, maintainer]
    manage: exclusive
    keep: [ops-bot]
  - id: gh:repo/api
    owners: [carol]
    roles: [pull, triage, push, maintain, admin]
    allow_empty: true
  - id: gh:org
    owners: [carol]
    roles: [member, admin]
    manage: exclusive
    keep: [tenure-bot]
    allow_empty: true
"#;

fn repo() -> TestRepo {
    TestRepo::with_policy(TENURE_GH, &[("catalog/gh.yaml", CATALOG_GH)])
}

/// Merges a request `requests/<name>.yaml` proposed by `alice` and approved by `carol`.
fn request(
    repo: &TestRepo,
    name: &str,
    subjects: &[&str],
    grants: &[(&str, &str)],
    expires: &str,
    date: &str,
) {
    let grants: Vec<String> = grants
        .iter()
        .map(|(resource, role)| format!("  - {{resource: {resource}, role: {role}}}\n"))
        .collect();
    let text = format!(
        "requester: alice\nsubjects: [{}]\njustification: test\ngrants:\n{}expires: {expires}\n",
        subjects.join(", "),
        grants.concat()
    );
    repo.merge(&format!("Request {name}"), "alice", &["carol"], date, |r| {
        r.write(&format!("requests/{name}.yaml"), &text)
    });
}

fn env(fake: &FakeGithub) -> Vec<(&'static str, String)> {
    fake.env()
}

fn run(repo: &TestRepo, fake: &FakeGithub, args: &[&str]) -> Run {
    let env = env(fake);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    repo.tenure_env(args, &env)
}

fn plan(repo: &TestRepo, fake: &FakeGithub, now: &str) -> Value {
    let out = run(repo, fake, &["--now", now, "--format", "json", "plan"]);
    assert!(out.code == 0 || out.code == 1, "{}", out.all_output());
    out.json()
}

fn apply(repo: &TestRepo, fake: &FakeGithub, now: &str, extra: &[&str]) -> Run {
    let audit = repo.audit_path().to_string_lossy().into_owned();
    let mut args = vec!["--now", now, "--format", "json", "apply", "--audit", audit.as_str()];
    args.extend_from_slice(extra);
    run(repo, fake, &args)
}

fn changes(plan: &Value) -> Vec<(String, String, String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
            (text("action"), text("resource"), text("role"), text("subject"))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    list.sort();
    list
}

fn team(list: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    let mut list: Vec<_> = list.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), *c)).collect();
    list.sort();
    list
}

fn fake() -> FakeGithub {
    let fake = FakeGithub::start("acme/access");
    fake.team("acme", "oncall", &[]);
    fake.team("acme", "strict", &[("ops-bot", "member", false)]);
    fake.collaborators("api", &[]);
    fake.org_members(&[("tenure-bot", "admin")]);
    fake
}

#[test]
fn approved_requests_are_applied_and_the_next_plan_is_empty() {
    let repo = repo();
    let fake = fake();
    fake.team("acme", "oncall", &[("zed", "member", true)]);
    request(&repo, "a", &["bob", "dan"], &[("gh:team/oncall", "member")], EXPIRES, T1);
    request(&repo, "b", &["bob"], &[("gh:repo/api", "triage"), ("gh:org", "member")], EXPIRES, T2);
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(
        fake.team_members("acme", "oncall"),
        team(&[("bob", "member", false), ("dan", "member", false), ("zed", "member", true)]),
        "inherited members are left alone"
    );
    assert_eq!(fake.collaborator_list("api"), pairs(&[("bob", "triage")]));
    assert!(fake.org_member_list().contains(&("bob".into(), "member".into())));
    assert_eq!(changes(&plan(&repo, &fake, NOW)), vec![], "converged");
}

#[test]
fn a_role_change_is_one_update_and_one_put() {
    let repo = repo();
    let fake = fake();
    fake.team("acme", "oncall", &[("bob", "member", false)]);
    fake.collaborators("api", &[("bob", "read")]);
    request(&repo, "a", &["bob"], &[("gh:team/oncall", "maintainer"), ("gh:repo/api", "push")], EXPIRES, T1);
    let planned = changes(&plan(&repo, &fake, NOW));
    assert_eq!(
        planned,
        vec![
            ("update".into(), "gh:repo/api".into(), "push".into(), "bob".into()),
            ("update".into(), "gh:team/oncall".into(), "maintainer".into(), "bob".into()),
        ]
    );
    fake.reset_counts();
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    assert_eq!(fake.count(fake_github::PUT_TEAM_MEMBERSHIP), 1);
    assert_eq!(fake.count(fake_github::PUT_COLLABORATOR), 1);
    assert_eq!(
        fake.count(fake_github::DELETE_TEAM_MEMBERSHIP) + fake.count(fake_github::DELETE_COLLABORATOR),
        0
    );
    assert_eq!(fake.team_members("acme", "oncall"), team(&[("bob", "maintainer", false)]));
    assert_eq!(fake.collaborator_list("api"), pairs(&[("bob", "write")]));
    assert_eq!(changes(&plan(&repo, &fake, NOW)), vec![]);
}

#[test]
fn an_expired_grant_is_revoked() {
    let repo = repo();
    let fake = fake();
    request(
        &repo,
        "a",
        &["bob"],
        &[("gh:team/oncall", "member"), ("gh:repo/api", "maintain")],
        "2026-01-20",
        T1,
    );
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    assert_eq!(fake.team_members("acme", "oncall"), team(&[("bob", "member", false)]));
    let later = "2026-01-25T00:00:00Z";
    let out = apply(&repo, &fake, later, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    let json = out.json();
    let reasons: Vec<&str> =
        json["changes"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["expired", "expired"]);
    assert_eq!(fake.team_members("acme", "oncall"), vec![]);
    assert_eq!(fake.collaborator_list("api"), vec![]);
    assert_eq!(changes(&plan(&repo, &fake, later)), vec![]);
}

#[test]
fn drift_is_revoked_in_exclusive_mode_and_reported_in_additive_mode() {
    let repo = repo();
    let fake = fake();
    fake.team("acme", "oncall", &[("mallory", "maintainer", false)]);
    fake.team(
        "acme",
        "strict",
        &[("ops-bot", "member", false), ("mallory", "member", false), ("bob", "member", false)],
    );
    request(&repo, "a", &["bob"], &[("gh:team/strict", "member")], EXPIRES, T1);
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(
        fake.team_members("acme", "strict"),
        team(&[("bob", "member", false), ("ops-bot", "member", false)]),
        "mallory is drift on the exclusive team; ops-bot is kept"
    );
    assert_eq!(fake.team_members("acme", "oncall"), team(&[("mallory", "maintainer", false)]));
    let drift = plan(&repo, &fake, NOW)["drift"].to_string();
    assert!(drift.contains("mallory") && drift.contains("gh:team/oncall"), "{drift}");
}

#[test]
fn faults_in_the_middle_of_apply_are_retried_and_the_rerun_converges() {
    let repo = repo();
    let fake = fake();
    request(&repo, "a", &["bob", "dan", "eve"], &[("gh:team/oncall", "member")], EXPIRES, T1);
    request(&repo, "b", &["bob"], &[("gh:repo/api", "push")], EXPIRES, T2);
    // Each is retried by the client within one apply.
    fake.fault("PUT", Fault::ServerError, 1);
    fake.fault("PUT", Fault::TooMany, 1);
    fake.fault("PUT", Fault::SecondaryLimit, 1);
    fake.fault("GET", Fault::Slow(50), 1);
    fake.fault("DELETE", Fault::Drop, 1);
    fake.team("acme", "strict", &[("ops-bot", "member", false), ("mallory", "member", false)]);
    fake.reset_counts();
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(fake.team_members("acme", "strict"), team(&[("ops-bot", "member", false)]));
    assert_eq!(fake.count(fake_github::DELETE_TEAM_MEMBERSHIP), 2, "the dropped DELETE was sent again");
    assert_eq!(fake.team_members("acme", "oncall").len(), 3);
    assert_eq!(fake.collaborator_list("api"), pairs(&[("bob", "write")]));
    assert_eq!(
        fake.count(fake_github::PUT_TEAM_MEMBERSHIP) + fake.count(fake_github::PUT_COLLABORATOR),
        4 + 3
    );

    // A change that keeps failing is recorded, the others go on, and the rerun converges.
    request(&repo, "c", &["fay", "gus"], &[("gh:team/oncall", "maintainer")], EXPIRES, T3);
    fake.fault("PUT", Fault::ServerError, 4);
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert_eq!(fake.team_members("acme", "oncall").len(), 4, "one failed, the other was made");
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(
        fake.team_members("acme", "oncall"),
        team(&[
            ("bob", "member", false),
            ("dan", "member", false),
            ("eve", "member", false),
            ("fay", "maintainer", false),
            ("gus", "maintainer", false)
        ]),
        "nothing lost, nothing doubled"
    );
    assert_eq!(changes(&plan(&repo, &fake, NOW)), vec![]);
    assert!(!out.all_output().contains(fake_github::TOKEN), "the token never shows");
}

#[test]
fn drift_that_would_empty_a_team_trips_the_guard() {
    let repo = TestRepo::with_policy(
        &TENURE_GH.replace("max_revocations: 1000", "max_revocations: 1"),
        &[("catalog/gh.yaml", CATALOG_GH)],
    );
    let fake = fake();
    fake.team("acme", "strict", &[("x1", "member", false), ("x2", "member", false)]);
    fake.reset_counts();
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(!out.json()["guards"].as_array().unwrap().is_empty(), "{}", out.stdout);
    assert_eq!(fake.count(fake_github::DELETE_TEAM_MEMBERSHIP), 0, "the guard stopped every revocation");
    assert_eq!(fake.team_members("acme", "strict").len(), 2);
}

#[test]
fn an_org_listed_without_admins_is_not_trusted() {
    let repo = repo();
    let fake = fake();
    request(&repo, "a", &["bob"], &[("gh:org", "member")], EXPIRES, T1);
    fake.org_members(&[("bob", "member"), ("x1", "member")]);
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(out.all_output().contains("no admins"), "{}", out.all_output());
    let writes: usize = fake.counts().iter().filter(|(r, _)| !r.starts_with("GET ")).map(|(_, n)| *n).sum();
    assert_eq!(writes, 0, "nothing was changed on a list tenure cannot trust");
}

#[test]
fn the_acting_account_is_never_removed_from_org_admin() {
    let repo = repo();
    let fake = fake();
    fake.set_me("tenure-bot");
    fake.org_members(&[("tenure-bot", "admin"), ("carol", "admin")]);
    // Not kept here: the catalog's exclusive org would revoke it as drift.
    let catalog = CATALOG_GH.replace("keep: [tenure-bot]", "keep: []");
    repo.merge("Policy: no keep", "carol", &["root-admin"], T1, |r| r.write("catalog/gh.yaml", &catalog));
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        fake.org_member_list().contains(&("tenure-bot".into(), "admin".into())),
        "{:?}",
        fake.org_member_list()
    );
    assert!(out.all_output().contains("tenure acts as"), "{}", out.all_output());
    assert!(!fake.org_member_list().iter().any(|(l, _)| l == "carol"), "the other drift still went");
}

#[test]
fn an_idp_synced_team_is_reported_and_not_retried() {
    let repo = repo();
    let fake = fake();
    fake.idp_team("oncall");
    request(&repo, "a", &["bob"], &[("gh:team/oncall", "member"), ("gh:repo/api", "pull")], EXPIRES, T1);
    fake.reset_counts();
    let out = apply(&repo, &fake, NOW, &[]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert_eq!(fake.count(fake_github::PUT_TEAM_MEMBERSHIP), 1, "a 403 on a synced team is not retried");
    assert!(out.all_output().contains("not manageable"), "{}", out.all_output());
    assert_eq!(fake.collaborator_list("api"), pairs(&[("bob", "read")]), "the other change went on");
}

#[test]
fn pending_invitations_count_as_granted_and_expired_ones_are_sent_again() {
    let repo = repo();
    let fake = fake();
    fake.invite_new_users(true);
    request(&repo, "a", &["newbie"], &[("gh:team/oncall", "member"), ("gh:repo/api", "push")], EXPIRES, T1);
    request(&repo, "b", &["newbie"], &[("gh:org", "member")], EXPIRES, T2);
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    assert_eq!(fake.team_invitations("oncall"), ["newbie"]);
    assert_eq!(fake.repo_invitations("api"), [("newbie".to_owned(), "write".to_owned(), false)]);
    assert_eq!(fake.org_invitations(), [("newbie".to_owned(), "direct_member".to_owned())]);
    fake.reset_counts();
    assert_eq!(changes(&plan(&repo, &fake, NOW)), vec![], "pending invitations are not sent again");
    fake.expire_repo_invitations("api");
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    assert_eq!(fake.count(fake_github::DELETE_REPO_INVITATION), 1, "the expired invitation was cleaned up");
    assert_eq!(fake.repo_invitations("api"), [("newbie".to_owned(), "write".to_owned(), false)]);
}

#[test]
fn a_no_change_run_makes_one_list_call_per_resource_and_no_writes() {
    let repo = repo();
    let fake = fake();
    fake.set_page_size(100);
    request(&repo, "a", &["bob"], &[("gh:team/oncall", "member"), ("gh:repo/api", "push")], EXPIRES, T1);
    request(&repo, "b", &["bob"], &[("gh:org", "member")], EXPIRES, T2);
    fake.team("acme", "strict", &[("ops-bot", "member", false)]);
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    fake.reset_counts();
    apply(&repo, &fake, NOW, &[]).expect_code(0);
    let counts = fake.counts();
    let writes: usize = counts.iter().filter(|(route, _)| !route.starts_with("GET ")).map(|(_, n)| *n).sum();
    assert_eq!(writes, 0, "{counts:?}");
    // 2 teams: members + invitations; 1 repo: collaborators + invitations; org: admins,
    // members, invitations; and GET /user once.
    assert_eq!(fake.count(fake_github::TEAM_MEMBERS), 2, "{counts:?}");
    assert_eq!(fake.count(fake_github::TEAM_INVITATIONS), 2, "{counts:?}");
    assert_eq!(fake.count(fake_github::COLLABORATORS), 1, "{counts:?}");
    assert_eq!(fake.count(fake_github::REPO_INVITATIONS), 1, "{counts:?}");
    assert_eq!(fake.count(fake_github::ORG_MEMBERS), 2, "{counts:?}");
    assert_eq!(fake.count(fake_github::ORG_INVITATIONS), 1, "{counts:?}");
    assert_eq!(fake.count(fake_github::USER), 1, "{counts:?}");
    let total: usize = counts.values().sum();
    assert_eq!(total, 10, "{counts:?}");
}

#[test]
fn import_writes_requests_that_adopt_the_live_state_without_revocations() {
    let repo = repo();
    let fake = fake();
    fake.team(
        "acme",
        "strict",
        &[
            ("ops-bot", "member", false),
            ("x1", "member", false),
            ("x2", "maintainer", false),
            ("z", "member", true),
        ],
    );
    fake.org_members(&[("tenure-bot", "admin"), ("bob", "member")]);
    let before = changes(&plan(&repo, &fake, NOW));
    assert!(before.iter().any(|c| c.0 == "revoke" && c.3 == "x1"), "{before:?}");

    let args = ["--now", NOW, "import", "gh:team/strict", "gh:org", "--requester", "alice", "--for", "30d"];
    let out = run(&repo, &fake, &args);
    assert_eq!(out.code, 0, "{}", out.all_output());
    let member = repo.read("requests/imported/gh-team-strict-member.yaml");
    assert!(member.contains("# Imported by `tenure import`"), "{member}");
    assert!(member.contains("Imported from the live state on 2026-01-10; review and replace"), "{member}");
    assert!(
        member.contains(r#"subjects: ["ops-bot", "x1"]"#),
        "inherited members are not imported: {member}"
    );
    assert!(member.contains("requester: alice"), "{member}");
    assert!(member.contains("2026-02-09T00:00:00Z"), "{member}");
    assert!(repo.read("requests/imported/gh-team-strict-maintainer.yaml").contains(r#"["x2"]"#));
    assert!(repo.read("requests/imported/gh-org-member.yaml").contains(r#"["bob"]"#));

    // Never overwrites: a reviewer's edit survives a second import.
    let edited = member.replace("review and replace this justification", "on-call roster, reviewed");
    repo.write("requests/imported/gh-team-strict-member.yaml", &edited);
    let out = run(&repo, &fake, &args);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert!(out.stdout.contains("kept requests/imported/gh-team-strict-member.yaml"), "{}", out.stdout);
    assert_eq!(repo.read("requests/imported/gh-team-strict-member.yaml"), edited);

    repo.squash("Import the live access", "alice", &["carol"], T1);
    let after = plan(&repo, &fake, NOW);
    assert_eq!(after["rejected"], serde_json::json!([]), "{after}");
    assert_eq!(changes(&after), vec![], "nothing is revoked once the import is approved");

    let out =
        run(&repo, &fake, &["--now", NOW, "import", "gh:team/nope", "--requester", "alice", "--for", "30d"]);
    assert_eq!(out.code, 2, "{}", out.all_output());
}

/// The fake's access routes, checked against GitHub's published schemas by
/// `github_forge::the_fakes_answers_match_githubs_published_schemas` (which owns the checker).
pub fn check_access_schemas(fake: &FakeGithub, check: fn(&str, &str, &str, &Value)) {
    fake.team("acme", "oncall", &[("bob", "member", false)]);
    fake.collaborators("api", &[("bob", "write")]);
    fake.org_members(&[("tenure-bot", "admin"), ("bob", "member")]);
    fake.invite_new_users(true);
    let auth = format!("Bearer {}", fake_github::TOKEN);
    let send = |method: &str, path: &str, body: Option<&str>, status: u16| -> Value {
        let (got, _, text) = fake_github::http(fake.url(), method, path, &[("Authorization", &auth)], body);
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    };
    let put = [
        (
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            "/orgs/acme/teams/oncall/memberships/newbie",
            r#"{"role":"member"}"#,
            200,
        ),
        (
            "/repos/{owner}/{repo}/collaborators/{username}",
            "/repos/acme/api/collaborators/newbie",
            r#"{"permission":"push"}"#,
            201,
        ),
        ("/orgs/{org}/memberships/{username}", "/orgs/acme/memberships/newbie", r#"{"role":"member"}"#, 200),
    ];
    for (template, path, body, status) in put {
        check(template, "put", &status.to_string(), &send("PUT", path, Some(body), status));
    }
    let get = [
        ("/orgs/{org}/teams/{team_slug}/invitations", "/orgs/acme/teams/oncall/invitations"),
        ("/repos/{owner}/{repo}/collaborators", "/repos/acme/api/collaborators?affiliation=direct"),
        ("/repos/{owner}/{repo}/invitations", "/repos/acme/api/invitations"),
        ("/orgs/{org}/members", "/orgs/acme/members?role=admin"),
        ("/orgs/{org}/invitations", "/orgs/acme/invitations"),
    ];
    for (template, path) in get {
        let body = send("GET", path, None, 200);
        assert!(body.as_array().is_some_and(|items| !items.is_empty()), "{path}: {body}");
        check(template, "get", "200", &body);
    }
}

#[test]
fn every_page_of_a_list_is_read_and_counted() {
    let repo = repo();
    let fake = fake();
    fake.set_page_size(2);
    fake.team(
        "acme",
        "oncall",
        &[("a1", "member", false), ("a2", "member", false), ("a3", "maintainer", false)],
    );
    request(&repo, "a", &["a1", "a2"], &[("gh:team/oncall", "member")], EXPIRES, T1);
    request(&repo, "b", &["a3"], &[("gh:team/oncall", "maintainer")], EXPIRES, T2);
    fake.reset_counts();
    assert_eq!(changes(&plan(&repo, &fake, NOW)), vec![], "the third member is on page 2");
    assert_eq!(fake.count(fake_github::TEAM_MEMBERS), 2 + 1, "two pages for oncall, one for strict");
    assert_eq!(fake.unauthenticated(), 0, "the token went with every page");
}

// ---- ETags: conditional list requests, kept between runs (docs/github-provider.md#etags) ----

const ETAG_FILE: &str = "github-etags-gh--acme.json";

/// A fake with drift that only the stored bodies can explain: `a3` sits on page 2 of
/// oncall, and `mallory` is in the exclusive team `strict`.
fn etag_setup() -> (TestRepo, FakeGithub) {
    let repo = repo();
    let fake = fake();
    fake.set_page_size(2);
    fake.team("acme", "oncall", &[("a1", "member", false), ("a2", "member", false), ("a3", "member", false)]);
    fake.team("acme", "strict", &[("ops-bot", "member", false), ("mallory", "member", false)]);
    request(&repo, "a", &["a1", "a2", "a3", "bob"], &[("gh:team/oncall", "member")], EXPIRES, T1);
    (repo, fake)
}

/// A plan with the cache directory `cache` inside the repository's working tree.
fn plan_cached(repo: &TestRepo, fake: &FakeGithub, cache: &str) -> Value {
    let cache = repo.path(cache).to_string_lossy().into_owned();
    let out = run(repo, fake, &["--now", NOW, "--cache", cache.as_str(), "--format", "json", "plan"]);
    assert!(out.code == 0 || out.code == 1, "{}", out.all_output());
    out.json()
}

/// GETs of list pages: every request but `GET /user`.
fn list_requests(fake: &FakeGithub) -> usize {
    let counts = fake.counts();
    counts.iter().filter(|(route, _)| route.starts_with("GET ")).map(|(_, n)| *n).sum::<usize>()
        - fake.count(fake_github::USER)
}

fn expected_etag_changes() -> Vec<(String, String, String, String)> {
    let mut expected = vec![
        ("grant".to_owned(), "gh:team/oncall".to_owned(), "member".to_owned(), "bob".to_owned()),
        ("revoke".to_owned(), "gh:team/strict".to_owned(), "member".to_owned(), "mallory".to_owned()),
    ];
    expected.sort();
    expected
}

fn sorted(mut list: Vec<(String, String, String, String)>) -> Vec<(String, String, String, String)> {
    list.sort();
    list
}

#[test]
fn a_second_no_change_run_gets_304_for_every_list_page_and_plans_the_same() {
    let (repo, fake) = etag_setup();
    fake.reset_counts();
    let first = plan_cached(&repo, &fake, ".tenure-cache");
    assert_eq!(sorted(changes(&first)), expected_etag_changes());
    assert_eq!(fake.not_modified(), 0, "a cold cache sends no If-None-Match");
    let pages = list_requests(&fake);
    assert!(pages >= 9, "two pages for oncall at least: {:?}", fake.counts());
    assert!(repo.path(&format!(".tenure-cache/{ETAG_FILE}")).is_file());

    fake.reset_counts();
    let second = plan_cached(&repo, &fake, ".tenure-cache");
    assert_eq!(list_requests(&fake), pages, "the same pages are asked for: {:?}", fake.log());
    assert_eq!(fake.not_modified(), pages, "every list page is a 304: {:?}", fake.log());
    // The stored bodies stand in: page 2 of oncall (a3), mallory, and the org's admin.
    assert_eq!(second["changes"], first["changes"]);
    assert_eq!(fake.unauthenticated(), 0);

    let text = std::fs::read_to_string(repo.path(&format!(".tenure-cache/{ETAG_FILE}"))).unwrap();
    assert!(!text.contains(fake_github::TOKEN), "no token in the ETag cache");
}

#[test]
fn a_change_on_a_later_page_is_read_even_when_page_one_is_not_modified() {
    let (repo, fake) = etag_setup();
    plan_cached(&repo, &fake, ".tenure-cache");
    // Page 1 (a1, a2) stays the same; page 2 changes from a3 to a4.
    fake.team("acme", "oncall", &[("a1", "member", false), ("a2", "member", false), ("a4", "member", false)]);
    fake.reset_counts();
    let plan = plan_cached(&repo, &fake, ".tenure-cache");
    let pages = list_requests(&fake);
    assert_eq!(fake.not_modified(), pages - 1, "only page 2 of oncall is a 200: {:?}", fake.log());
    let mut expected = expected_etag_changes();
    expected.push(("grant".to_owned(), "gh:team/oncall".to_owned(), "member".to_owned(), "a3".to_owned()));
    expected.sort();
    assert_eq!(sorted(changes(&plan)), expected, "a3 is gone on GitHub");

    // A write on GitHub changes the list's ETag: the next read sees it without invalidation.
    fake.team("acme", "strict", &[("ops-bot", "member", false)]);
    fake.reset_counts();
    let plan = plan_cached(&repo, &fake, ".tenure-cache");
    assert_eq!(fake.not_modified(), list_requests(&fake) - 1, "{:?}", fake.log());
    assert!(!changes(&plan).iter().any(|change| change.3 == "mallory"), "{plan}");
}

#[test]
fn a_corrupt_or_foreign_etag_cache_is_ignored_and_rebuilt() {
    let (repo, fake) = etag_setup();
    plan_cached(&repo, &fake, ".tenure-cache");
    let path = repo.path(&format!(".tenure-cache/{ETAG_FILE}"));
    let good = std::fs::read_to_string(&path).unwrap();
    let mut file: Value = serde_json::from_str(&good).unwrap();

    let mut foreign = file.clone();
    foreign["api_url"] = Value::from("https://ghe.example.com/api/v3");
    let mut other_version = file.clone();
    other_version["version"] = Value::from(999);
    // A stored `next` that would send the token to another host.
    let mut redirected = file.clone();
    for page in file["pages"].as_object_mut().unwrap().values_mut() {
        page["items"] = Value::Array(Vec::new());
    }
    let emptied_but_valid = file;
    for page in redirected["pages"].as_object_mut().unwrap().values_mut() {
        page["next"] = Value::from("//evil.example/steal");
    }
    for bad in
        ["{ not json".to_owned(), foreign.to_string(), other_version.to_string(), redirected.to_string()]
    {
        std::fs::write(&path, &bad).unwrap();
        fake.reset_counts();
        let plan = plan_cached(&repo, &fake, ".tenure-cache");
        assert_eq!(fake.not_modified(), 0, "{bad:.80}: {:?}", fake.log());
        assert_eq!(sorted(changes(&plan)), expected_etag_changes(), "{bad:.80}");
        assert!(fake.log().iter().all(|line| !line.contains("evil")), "{:?}", fake.log());
        let rebuilt: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(rebuilt["version"], 1, "the file is rebuilt");
    }
    // The check is on shape, not content: a well-formed file is what 304 answers stand on,
    // which is why a committed one is never read (next test). This shows the bodies are used.
    std::fs::write(&path, emptied_but_valid.to_string()).unwrap();
    let cache = repo.path(".tenure-cache").to_string_lossy().into_owned();
    let out = run(&repo, &fake, &["--now", NOW, "--cache", cache.as_str(), "--format", "json", "plan"]);
    assert!(out.all_output().contains("no admins"), "{}", out.all_output());
}

#[test]
fn an_etag_cache_committed_to_the_repository_is_not_used() {
    let (repo, fake) = etag_setup();
    plan_cached(&repo, &fake, "etags");
    let path = repo.path(&format!("etags/{ETAG_FILE}"));
    assert!(path.is_file());
    repo.commit("Commit the cache", T2);
    let committed = std::fs::read_to_string(&path).unwrap();
    fake.reset_counts();
    let plan = plan_cached(&repo, &fake, "etags");
    assert_eq!(fake.not_modified(), 0, "no If-None-Match from a committed file: {:?}", fake.log());
    assert_eq!(sorted(changes(&plan)), expected_etag_changes());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), committed, "nor is it written");
}
