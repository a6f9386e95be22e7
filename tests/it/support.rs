//! Shared helpers for the integration tests: real git histories in temporary directories,
//! and the real `tenure` binary run against them.
//!
//! Every git call pins the committer identity and the author and committer dates, and ignores
//! the global and system git configuration, so that a history is the same on every machine and
//! never depends on the real clock. Every `tenure` run passes `--now` explicitly.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The first commit of every standard repository: `tenure.yaml` and the catalog, trusted on
/// first use.
pub const T0: &str = "2026-01-01T00:00:00Z";
/// The usual merge time of a request.
pub const T1: &str = "2026-01-05T10:00:00Z";
/// Later merge times, in order.
pub const T2: &str = "2026-01-06T10:00:00Z";
pub const T3: &str = "2026-01-07T10:00:00Z";
pub const T4: &str = "2026-01-08T10:00:00Z";
/// The usual "now" of a run.
pub const NOW: &str = "2026-01-10T00:00:00Z";
/// The usual `expires` of a request: within every resource's max_duration from [`T1`].
pub const EXPIRES: &str = "2026-02-01";
/// [`EXPIRES`] as an instant: the end of that day, UTC.
pub const EXPIRES_AT: &str = "2026-02-02T00:00:00";

/// The standard `tenure.yaml`: the offline git forge, one file provider, and a guard so loose
/// that it never trips (the guard tests use their own).
pub const TENURE_YAML: &str = r#"version: 1
# forge kind git: approvals are commit trailers, so this mode trusts whoever can write the branch.
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  local: {kind: file, path: state/local.json}
defaults: {approvals: 1, max_duration: 90d}
safety: {max_revocations: 1000}
"#;

/// The standard catalog: direct owners, a `group:` owner, an N-of-M resource, an exclusive
/// resource with `keep`, a break-glass resource, and a machine identity.
pub const CATALOG_MAIN: &str = r#"resources:
  - id: local:group/oncall
    description: Pager rotation
    owners: [carol, "group:leads"]
    roles: [member, admin]
    max_duration: 30d
    allow_empty: true
  - id: local:group/billing
    owners: [dave]
    roles: [member]
    allow_empty: true
  - id: local:group/db
    owners: [carol, dave, erin]
    roles: [member]
    approvals: 2
    allow_empty: true
  - id: local:group/prod
    owners: [carol]
    roles: [member]
    manage: exclusive
    keep: [ops-bot]
    allow_empty: true
  - id: local:group/incident
    owners: [carol]
    roles: [member]
    max_duration: 30d
    allow_empty: true
    break_glass: {who: ["group:sre"], max_duration: 4h}
groups:
  leads: [bob, frank]
  sre: [sam, tom]
identities:
  - id: deploy-bot
    kind: service
    owners: [ivan]
    max_duration: 7d
"#;

/// A second catalog file, so that a resource can be removed by deleting one file.
pub const CATALOG_LEGACY: &str = r#"resources:
  - id: local:group/legacy
    owners: [carol]
    roles: [member]
    allow_empty: true
"#;

/// Files outside the history: the file provider's state and tenure's cache.
pub const GITIGNORE: &str = "state/\n.tenure-cache/\n";

/// Converts an RFC 3339 time into git's raw date format, keeping its UTC offset.
pub fn git_date(rfc3339: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("bad test time {rfc3339}: {e}"));
    let offset = t.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.abs() / 60;
    format!("@{} {sign}{:02}{:02}", t.timestamp(), minutes / 60, minutes % 60)
}

/// `rfc3339` shifted by `seconds`, as RFC 3339.
pub fn shift(rfc3339: &str, seconds: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("bad test time {rfc3339}: {e}"))
        .with_timezone(&chrono::Utc);
    (t + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The trailer paragraph of a reviewed change.
pub fn trailers(proposer: &str, approvers: &[&str]) -> String {
    let mut text = format!("Proposed-by: {proposer}");
    for approver in approvers {
        text.push_str(&format!("\nApproved-by: {approver}"));
    }
    text
}

/// A git repository in a temporary directory, with the `tenure` binary to run against it.
///
/// The repository lives in `<tmp>/repo`; the audit log and other run artefacts live beside it
/// in `<tmp>`, which is also the working directory of every `tenure` run, so that relative
/// paths in `tenure.yaml` must resolve against the repository, not the working directory.
pub struct TestRepo {
    tmp: TempDir,
    dir: PathBuf,
    branches: Cell<u32>,
}

impl TestRepo {
    /// An empty repository on branch `main`, without commits.
    pub fn empty() -> TestRepo {
        let tmp = tempfile::Builder::new().prefix("tenure-it-").tempdir().expect("tempdir");
        let dir = tmp.path().join("repo");
        fs::create_dir_all(&dir).expect("mkdir repo");
        let repo = TestRepo { tmp, dir, branches: Cell::new(0) };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// The standard policy ([`TENURE_YAML`], [`CATALOG_MAIN`], [`CATALOG_LEGACY`]) committed
    /// directly at [`T0`], and an empty state file.
    pub fn standard() -> TestRepo {
        TestRepo::with_policy(
            TENURE_YAML,
            &[("catalog/main.yaml", CATALOG_MAIN), ("catalog/legacy.yaml", CATALOG_LEGACY)],
        )
    }

    /// A repository whose first commit (at [`T0`], a direct push, so trusted on first use) holds
    /// `tenure` as `tenure.yaml` and the given catalog files; the state file starts empty.
    pub fn with_policy(tenure: &str, catalog: &[(&str, &str)]) -> TestRepo {
        TestRepo::with_files(tenure, catalog, |_| {})
    }

    /// Like [`TestRepo::with_policy`], with `extra` writing more files before the first commit.
    pub fn with_files(tenure: &str, catalog: &[(&str, &str)], extra: impl FnOnce(&TestRepo)) -> TestRepo {
        let repo = TestRepo::empty();
        repo.write(".gitignore", GITIGNORE);
        repo.write("tenure.yaml", tenure);
        for (path, text) in catalog {
            repo.write(path, text);
        }
        extra(&repo);
        repo.commit("Initial access policy", T0);
        repo.seed_state(&[]);
        repo
    }

    /// The repository's working-tree root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The temporary directory that holds the repository and the run artefacts.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// A path inside the working tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes a file in the working tree, creating its directories.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    /// Writes an executable file in the working tree.
    pub fn write_executable(&self, rel: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, text);
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Reads a file from the working tree.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Removes a file from the working tree and the index.
    pub fn remove(&self, rel: &str) {
        self.git(&["rm", "-q", "--", rel]);
    }

    /// `git mv`.
    pub fn rename(&self, from: &str, to: &str) {
        if let Some(parent) = self.path(to).parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        self.git(&["mv", "--", from, to]);
    }

    /// Runs git with a pinned identity, no global or system configuration, and `date` (RFC
    /// 3339) as both author and committer date. Returns stdout, trimmed.
    pub fn git_at(&self, args: &[&str], author_date: &str, committer_date: &str) -> String {
        let out = StdCommand::new("git")
            .current_dir(&self.dir)
            .args([
                "-c",
                "user.name=Test Robot",
                "-c",
                "user.email=robot@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.autocrlf=false",
                "-c",
                "merge.ff=false",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", self.tmp.path())
            .env("GIT_AUTHOR_DATE", git_date(author_date))
            .env("GIT_COMMITTER_DATE", git_date(committer_date))
            .env("GIT_AUTHOR_NAME", "Test Robot")
            .env("GIT_AUTHOR_EMAIL", "robot@example.com")
            .env("GIT_COMMITTER_NAME", "Test Robot")
            .env("GIT_COMMITTER_EMAIL", "robot@example.com")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
    }

    /// Runs git (dates pinned to [`T0`]; they only matter for commits).
    pub fn git(&self, args: &[&str]) -> String {
        self.git_at(args, T0, T0)
    }

    /// The commit id of `rev`.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", rev])
    }

    /// The commit id of `HEAD`.
    pub fn head(&self) -> String {
        self.rev("HEAD")
    }

    /// The blob id of `path` at `HEAD`.
    pub fn blob(&self, path: &str) -> String {
        self.rev(&format!("HEAD:{path}"))
    }

    /// Stages everything and commits on the current branch with `message`, at `date`. On
    /// `main` this is a direct push (or a squash merge, when the message ends in trailers).
    /// Returns the new commit id.
    pub fn commit(&self, message: &str, date: &str) -> String {
        self.commit_dated(message, date, date)
    }

    /// Like [`TestRepo::commit`] with distinct author and committer dates.
    pub fn commit_dated(&self, message: &str, author_date: &str, committer_date: &str) -> String {
        self.git(&["add", "-A"]);
        self.git_at(&["commit", "-q", "--allow-empty", "-m", message], author_date, committer_date);
        self.head()
    }

    /// A squash-style merge: one commit on `main` whose message ends with the trailers.
    pub fn squash(&self, title: &str, proposer: &str, approvers: &[&str], date: &str) -> String {
        self.commit(&format!("{title}\n\n{}", trailers(proposer, approvers)), date)
    }

    /// A reviewed merge: `edit` runs on a fresh side branch off `main`, which is committed
    /// (with a message that carries no trailers) one hour before `date`, then merged with
    /// `git merge --no-ff` at `date`, with the trailers in the last paragraph of the merge
    /// commit's message. Returns the merge commit id.
    pub fn merge(
        &self,
        title: &str,
        proposer: &str,
        approvers: &[&str],
        date: &str,
        edit: impl FnOnce(&TestRepo),
    ) -> String {
        self.merge_raw(
            "work in progress",
            &format!("{title}\n\n{}", trailers(proposer, approvers)),
            date,
            edit,
        )
    }

    /// A `--no-ff` merge with full control of both messages: `edit` runs on a side branch
    /// committed with `branch_message` one hour before `date`; the merge commit at `date` has
    /// `merge_message`.
    pub fn merge_raw(
        &self,
        branch_message: &str,
        merge_message: &str,
        date: &str,
        edit: impl FnOnce(&TestRepo),
    ) -> String {
        let n = self.branches.get() + 1;
        self.branches.set(n);
        let branch = format!("topic-{n}");
        self.git(&["checkout", "-q", "-b", &branch, "main"]);
        edit(self);
        let before = shift(date, -3600);
        self.commit(branch_message, &before);
        self.git(&["checkout", "-q", "main"]);
        self.git_at(&["merge", "-q", "--no-ff", "--no-edit", "-m", merge_message, &branch], date, date);
        self.head()
    }

    /// Writes the file provider's state (`state/local.json`); resource ids carry no provider
    /// prefix.
    pub fn seed_state(&self, grants: &[(&str, &str, &str)]) {
        self.write("state/local.json", &state_json(grants));
    }

    /// The file provider's grants, sorted.
    pub fn state(&self) -> Vec<(String, String, String)> {
        parse_state(&self.read("state/local.json"))
    }

    /// The raw bytes of the state file, to prove that a run did not touch it.
    pub fn state_bytes(&self) -> Vec<u8> {
        fs::read(self.path("state/local.json")).expect("read state")
    }

    /// The audit log written by [`TestRepo::apply`].
    pub fn audit_path(&self) -> PathBuf {
        self.root().join("audit.jsonl")
    }

    /// The audit log's lines, parsed.
    pub fn audit(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.audit_path()).unwrap_or_default();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// Runs `tenure --repo <dir> ARGS` from the temporary directory (not the repository).
    pub fn tenure(&self, args: &[&str]) -> Run {
        self.tenure_env(args, &[])
    }

    /// Like [`TestRepo::tenure`] with extra environment variables.
    pub fn tenure_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut full = vec!["--repo".to_owned(), self.dir.to_string_lossy().into_owned()];
        full.extend(args.iter().map(|a| a.to_string()));
        self.tenure_in(self.root(), &full, env)
    }

    /// Runs `tenure ARGS` (no `--repo` added) in `cwd`.
    pub fn tenure_in(&self, cwd: &Path, args: &[String], env: &[(&str, &str)]) -> Run {
        let mut cmd = assert_cmd::Command::cargo_bin("tenure").expect("the tenure binary");
        cmd.current_dir(cwd)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_API_URL")
            // A run inside GitHub Actions must not turn every `check` into a PR check.
            .env_remove("GITHUB_EVENT_PATH")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .timeout(Duration::from_secs(60));
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().expect("run tenure");
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `tenure --now NOW --format json plan`.
    pub fn plan(&self, now: &str) -> Run {
        self.tenure(&["--now", now, "--format", "json", "plan"])
    }

    /// `tenure --now NOW --rev REV --format json plan`.
    pub fn plan_at(&self, rev: &str, now: &str) -> Run {
        self.tenure(&["--now", now, "--rev", rev, "--format", "json", "plan"])
    }

    /// `tenure --now NOW --format json check`.
    pub fn check(&self, now: &str) -> Run {
        self.tenure(&["--now", now, "--format", "json", "check"])
    }

    /// `tenure --now NOW --format json apply --audit <tmp>/audit.jsonl EXTRA`.
    pub fn apply(&self, now: &str, extra: &[&str]) -> Run {
        self.apply_env(now, extra, &[])
    }

    /// Like [`TestRepo::apply`] with extra environment variables.
    pub fn apply_env(&self, now: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let audit = self.audit_path().to_string_lossy().into_owned();
        let mut args = vec!["--now", now, "--format", "json", "apply", "--audit", audit.as_str()];
        args.extend_from_slice(extra);
        self.tenure_env(&args, env)
    }
}

/// `{"grants":[…]}` in the file provider's format.
pub fn state_json(grants: &[(&str, &str, &str)]) -> String {
    let grants: Vec<Value> = grants
        .iter()
        .map(|(resource, role, subject)| serde_json::json!({"resource": resource, "role": role, "subject": subject}))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "grants": grants })).expect("json") + "\n"
}

/// Parses a file provider state, sorted.
pub fn parse_state(text: &str) -> Vec<(String, String, String)> {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("state is not JSON ({e}): {text}"));
    let mut grants: Vec<_> = value["grants"]
        .as_array()
        .unwrap_or_else(|| panic!("state has no grants array: {text}"))
        .iter()
        .map(|g| (s(&g["resource"]), s(&g["role"]), s(&g["subject"])))
        .collect();
    grants.sort();
    grants
}

/// Owned `(resource, role, subject)` triples, sorted.
pub fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> =
        list.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    out.sort();
    out
}

fn s(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}")).to_owned()
}

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "tenure {:?} did not print JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                self.args, self.code, self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "tenure {:?}: exit {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout and stderr together, for text checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// One entry of `changes`, reduced to the fields docs/cli-contract.md fixes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub action: String,
    pub resource: String,
    pub role: String,
    pub subject: String,
    pub reason: String,
    pub request: Option<String>,
}

/// A grant for `request`, reason `approved`.
pub fn grant(resource: &str, role: &str, subject: &str, request: &str) -> Change {
    change("grant", resource, role, subject, "approved", Some(request))
}

/// A break-glass grant for `request`.
pub fn grant_bg(resource: &str, role: &str, subject: &str, request: &str) -> Change {
    change("grant", resource, role, subject, "break-glass", Some(request))
}

/// A revocation that `request` explains.
pub fn revoke(resource: &str, role: &str, subject: &str, reason: &str, request: &str) -> Change {
    change("revoke", resource, role, subject, reason, Some(request))
}

/// A revocation of drift, which no request explains.
pub fn revoke_drift(resource: &str, role: &str, subject: &str) -> Change {
    change("revoke", resource, role, subject, "drift", None)
}

fn change(
    action: &str,
    resource: &str,
    role: &str,
    subject: &str,
    reason: &str,
    request: Option<&str>,
) -> Change {
    Change {
        action: action.into(),
        resource: resource.into(),
        role: role.into(),
        subject: subject.into(),
        reason: reason.into(),
        request: request.map(Into::into),
    }
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v.get(key).and_then(Value::as_array).unwrap_or_else(|| panic!("output has no `{key}` array:\n{v:#}"))
}

/// The `changes` of a plan or apply, sorted.
pub fn changes(v: &Value) -> Vec<Change> {
    let mut out: Vec<Change> = list(v, "changes")
        .iter()
        .map(|c| Change {
            action: s(&c["action"]),
            resource: s(&c["resource"]),
            role: s(&c["role"]),
            subject: s(&c["subject"]),
            reason: s(&c["reason"]),
            request: c.get("request").and_then(Value::as_str).map(str::to_owned),
        })
        .collect();
    out.sort();
    out
}

/// The `rejected` entries as `(request, code)`, sorted.
pub fn rejected(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<_> = list(v, "rejected").iter().map(|r| (s(&r["request"]), s(&r["code"]))).collect();
    out.sort();
    out
}

/// The `drift` entries, sorted.
pub fn drift(v: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> =
        list(v, "drift").iter().map(|d| (s(&d["resource"]), s(&d["role"]), s(&d["subject"]))).collect();
    out.sort();
    out
}

/// The `guards` entries as `(guard, resource)`, sorted; a missing `guards` is empty.
pub fn guards(v: &Value) -> Vec<(String, Option<String>)> {
    let mut out: Vec<_> = v
        .get("guards")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|g| (s(&g["guard"]), g.get("resource").and_then(Value::as_str).map(str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Asserts the whole `changes` list, order aside.
#[track_caller]
pub fn assert_changes(v: &Value, mut want: Vec<Change>) {
    want.sort();
    assert_eq!(changes(v), want, "changes differ; whole output:\n{v:#}");
}

/// Asserts the whole `rejected` list as `(request, code)`, order aside.
#[track_caller]
pub fn assert_rejected(v: &Value, want: &[(&str, &str)]) {
    let mut want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    want.sort();
    assert_eq!(rejected(v), want, "rejected differs; whole output:\n{v:#}");
}

/// Asserts the whole `drift` list, order aside.
#[track_caller]
pub fn assert_drift(v: &Value, want: &[(&str, &str, &str)]) {
    assert_eq!(drift(v), triples(want), "drift differs; whole output:\n{v:#}");
}

/// Asserts that no guard trips.
#[track_caller]
pub fn assert_no_guards(v: &Value) {
    assert_eq!(guards(v), vec![], "unexpected guards; whole output:\n{v:#}");
}

/// Finds the first value under `key` anywhere in `v` (depth first), for records whose nesting
/// the contract leaves open, such as audit lines.
pub fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => {
            if let Some(found) = map.get(key) {
                return Some(found);
            }
            map.values().find_map(|child| find_key(child, key))
        }
        Value::Array(items) => items.iter().find_map(|child| find_key(child, key)),
        _ => None,
    }
}

/// A request file, built field by field.
#[derive(Debug, Clone)]
pub struct Req {
    requester: String,
    subjects: Vec<String>,
    justification: String,
    grants: Vec<(String, String)>,
    expires: Option<String>,
    duration: Option<String>,
    ticket: Option<String>,
    break_glass: bool,
}

/// A request by `requester` for `subjects`, expiring on [`EXPIRES`].
pub fn req(requester: &str, subjects: &[&str], grants: &[(&str, &str)]) -> Req {
    Req {
        requester: requester.into(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        justification: format!("Access for {} (OPS-1234)", subjects.join(", ")),
        grants: grants.iter().map(|(r, role)| (r.to_string(), role.to_string())).collect(),
        expires: Some(EXPIRES.into()),
        duration: None,
        ticket: None,
        break_glass: false,
    }
}

/// A request by `subject` for `subject` alone, for `member` on `resource`.
pub fn simple(subject: &str, resource: &str) -> String {
    req(subject, &[subject], &[(resource, "member")]).yaml()
}

impl Req {
    /// Sets `expires` (a bare date or an RFC 3339 time) instead of anything else.
    pub fn expires(mut self, expires: &str) -> Req {
        self.expires = Some(expires.into());
        self.duration = None;
        self
    }

    /// Sets `duration` instead of `expires`.
    pub fn duration(mut self, duration: &str) -> Req {
        self.duration = Some(duration.into());
        self.expires = None;
        self
    }

    /// Sets the justification.
    pub fn justification(mut self, text: &str) -> Req {
        self.justification = text.into();
        self
    }

    /// Sets the ticket.
    pub fn ticket(mut self, ticket: &str) -> Req {
        self.ticket = Some(ticket.into());
        self
    }

    /// Marks the request as break-glass.
    pub fn break_glass(mut self) -> Req {
        self.break_glass = true;
        self
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let q = |text: &str| serde_json::to_string(text).expect("json string");
        let mut out = format!("requester: {}\n", self.requester);
        out.push_str("subjects:\n");
        for subject in &self.subjects {
            out.push_str(&format!("  - {subject}\n"));
        }
        out.push_str(&format!("justification: {}\n", q(&self.justification)));
        out.push_str("grants:\n");
        for (resource, role) in &self.grants {
            out.push_str(&format!("  - resource: {resource}\n    role: {role}\n"));
        }
        if let Some(expires) = &self.expires {
            out.push_str(&format!("expires: {expires}\n"));
        }
        if let Some(duration) = &self.duration {
            out.push_str(&format!("duration: {duration}\n"));
        }
        if let Some(ticket) = &self.ticket {
            out.push_str(&format!("ticket: {}\n", q(ticket)));
        }
        if self.break_glass {
            out.push_str("break_glass: true\n");
        }
        out
    }
}

/// The standard resources, by their full ids.
pub const ONCALL: &str = "local:group/oncall";
pub const BILLING: &str = "local:group/billing";
pub const DB: &str = "local:group/db";
pub const PROD: &str = "local:group/prod";
pub const INCIDENT: &str = "local:group/incident";
pub const LEGACY: &str = "local:group/legacy";

/// The same resources as the file provider names them (no provider prefix).
pub fn local(id: &str) -> &str {
    id.strip_prefix("local:").unwrap_or(id)
}
