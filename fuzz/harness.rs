//! The fuzzing harness for one request file: `load::parse_request`, then `approvals::judge`
//! against a fixed policy, with the invariants that must hold whatever the bytes are.
//!
//! It is shared, by `#[path]`, between the cargo-fuzz target (`fuzz_targets/request.rs`) and
//! the integration test that replays the seed corpus and `tests/corpus/` on every `cargo test`
//! (`tests/it/fuzz_replay.rs`), so a crash the fuzzer finds becomes a regression test by adding
//! its input to `fuzz/corpus/request/`. A panic here is a finding: either the code panicked on
//! user input, or an invariant below does not hold.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use tenure::approvals::{ChangeFacts, Context, Judgement, judge};
use tenure::forge::TeamMembers;
use tenure::forge::git::review_from_message;
use tenure::load;
use tenure::model::{Code, CommitRecord, ObjectId, Rejection};
use tenure::policy::{self, Policy};

/// The path the judged file has.
pub const PATH: &str = "requests/fuzz.yaml";

const CONFIG: &str = "version: 1
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  local: {kind: file, path: state/local.json}
  pg: {kind: postgres, url_env: TENURE_PG_URL}
  gh: {kind: github, org: acme}
defaults: {approvals: 1, max_duration: 90d}
require_known_subjects: false
";

const CATALOG: &str = "resources:
  - id: local:group/oncall
    owners: [carol, \"group:leads\"]
    roles: [member, admin]
    max_duration: 30d
  - id: local:group/db
    owners: [carol, dave, erin]
    roles: [member]
    approvals: 2
  - id: local:group/incident
    owners: [carol]
    roles: [member]
    break_glass: {who: [\"group:sre\"], max_duration: 4h}
  - id: pg:role/readers
    owners: [carol]
    roles: [member]
  - id: gh:team/web
    owners: [carol]
    roles: [member, maintainer]
groups:
  leads: [bob]
  sre: [alice, sam]
identities:
  - id: deploy-bot
    kind: service
    owners: [ivan]
    max_duration: 7d
";

/// What became of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approved with this many tuples.
    Approved(usize),
    /// Rejected with this code; and the earliest code, in check order, of every check that
    /// failed.
    Rejected(Code, Code),
}

fn fixed_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let config = load::parse_config(CONFIG.as_bytes()).expect("the harness's tenure.yaml");
        let catalog = load::parse_catalog(CATALOG.as_bytes()).expect("the harness's catalog");
        policy::build(&config, &[("catalog/main.yaml".to_owned(), catalog)]).expect("the harness's policy")
    })
}

fn merged_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).single().expect("a fixed time")
}

fn commit(message: &str) -> CommitRecord {
    CommitRecord {
        id: ObjectId("c0ffee0000000000000000000000000000000000".to_owned()),
        first_parent: Some(ObjectId("babe000000000000000000000000000000000000".to_owned())),
        parent_count: 2,
        message: message.to_owned(),
        committed_at: merged_at(),
        author_name: "Fuzz".to_owned(),
        author_email: "fuzz@example.com".to_owned(),
        changes: Vec::new(),
    }
}

/// Loads and judges `bytes` as a request file, checks every invariant, and returns the
/// verdict of the reviewed change. Panics when an invariant fails.
pub fn check_request(bytes: &[u8]) -> Verdict {
    let parsed = load::parse_request(bytes);
    let rejection = match &parsed {
        Ok(_) => None,
        Err(error) => {
            assert!(
                matches!(error.code, Code::InvalidYaml | Code::InvalidField),
                "load gives only invalid-yaml or invalid-field, not {}",
                error.code
            );
            assert!(!error.message.trim().is_empty(), "a load error says why");
            // Lines as YAML counts them: a lone CR is a line break too (found by fuzzing). The
            // parser may point just past the last line, at the end of the text, when the file
            // ends without a line break (found by fuzzing: `requester: a\nq`).
            let lines = yaml_lines(bytes);
            if let Some(line) = error.line {
                assert!((1..=lines + 1).contains(&line), "line {line} of a {lines}-line file");
            }
            assert!(error.column.is_none_or(|column| column >= 1), "columns are 1-based");
            if let Some(field) = &error.field {
                // `locate` runs on the same hostile text, for findings raised later.
                let _ = load::locate(bytes, field);
            }
            Some(Rejection {
                request: PATH.to_owned(),
                code: error.code,
                message: error.message.clone(),
                field: error.field.clone(),
                line: error.line,
                column: error.column,
            })
        }
    };
    let parsed = parsed.as_ref().map_err(|_| rejection.as_ref().expect("set on error"));

    let policy = fixed_policy();
    let teams = TeamMembers::new();
    let context =
        Context { base: Some(policy), base_commit: None, current: policy, teams: &teams, org_members: None };
    let blob = ObjectId("b10b".to_owned());

    // A change proposed by alice and approved by every owner in the catalog.
    let message = "Add a request\n\nProposed-by: alice\nApproved-by: carol\nApproved-by: dave\n\
                   Approved-by: erin\nApproved-by: bob\nApproved-by: ivan";
    let record = commit(message);
    let review = review_from_message(message);
    let facts = ChangeFacts { commit: &record, review: &review, only_break_glass: false };
    let reviewed = judge(PATH, &blob, parsed, facts, context);
    check_judgement(&reviewed, policy, false);

    // The same file landing with no approval at all: only a valid break-glass request passes.
    let bare = "Add a request\n\nProposed-by: alice";
    let record = commit(bare);
    let review = review_from_message(bare);
    let only_break_glass = parsed.is_ok_and(|request| request.break_glass);
    let facts = ChangeFacts { commit: &record, review: &review, only_break_glass };
    let unapproved = judge(PATH, &blob, parsed, facts, context);
    check_judgement(&unapproved, policy, true);

    match reviewed.outcome {
        Ok(approved) => Verdict::Approved(approved.tuples.len()),
        Err(rejection) => {
            let earliest =
                reviewed.failures.iter().map(|failure| failure.code).min().unwrap_or(rejection.code);
            Verdict::Rejected(rejection.code, earliest)
        }
    }
}

/// The number of lines of `bytes` as YAML parsers count them: CR LF, CR, LF, NEL, LS and PS
/// each end a line.
fn yaml_lines(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                lines += 1;
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => lines += 1,
            _ => {}
        }
    }
    lines
}

fn check_judgement(judgement: &Judgement, policy: &Policy, without_approvals: bool) {
    assert_eq!(judgement.path, PATH);
    assert_eq!(judgement.merged_at, merged_at());
    match &judgement.outcome {
        Err(rejection) => {
            assert_eq!(rejection.request, PATH, "a rejection names its file");
            assert!(!rejection.message.trim().is_empty(), "a rejection says why");
            let first = judgement.failures.first().expect("a rejection is the first failure");
            assert_eq!(first.code, rejection.code, "the rejection is the first failing check");
            // The contract (docs/cli-contract.md) wants the earliest check in the order of the
            // codes; `judge` reports the first failure it met, which differs when one grant fails
            // a later check before another grant fails an earlier one (found by fuzzing). The
            // verdict carries both, and `tests/it/fuzz_replay.rs` pins the gap.
            assert!(rejection.code != Code::UnapprovedPolicyChange, "only policy files get that code");
        }
        Ok(approved) => {
            assert!(judgement.failures.is_empty(), "approved, yet failing: {:?}", judgement.failures);
            assert!(!approved.tuples.is_empty(), "an approved request grants something");
            let evidence = &approved.evidence;
            assert_eq!(evidence.request, PATH);
            assert!(evidence.expires > evidence.merged_at, "access ends after the merge");
            assert!(!evidence.justification.trim().is_empty());
            if without_approvals {
                assert!(evidence.break_glass, "only break-glass lands without approvals");
            }
            if !evidence.break_glass {
                assert!(!evidence.approvers.is_empty(), "a normal grant has approvers");
            }
            for approver in &evidence.approvers {
                assert!(!approver.eq_ignore_ascii_case(&evidence.requester), "no self-approval");
            }
            for tuple in &approved.tuples {
                let resource =
                    policy.resources.get(&tuple.resource).expect("a granted resource is in the catalog");
                assert!(resource.roles.contains(&tuple.role), "a granted role is offered");
                assert!(
                    evidence.expires - evidence.merged_at <= resource.max_duration,
                    "{} ends after its max_duration",
                    tuple.resource
                );
                let kind = policy.provider_kind(&tuple.resource).expect("a configured provider");
                assert!(kind.is_valid_subject(&tuple.subject), "`{}` is a valid subject", tuple.subject);
                assert!(
                    !evidence.approvers.iter().any(|a| a.eq_ignore_ascii_case(&tuple.subject)),
                    "a subject never approves their own access"
                );
            }
        }
    }
}
