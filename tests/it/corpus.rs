//! The bad-input corpus of `tests/corpus/`: hostile and broken request files, each with the
//! outcome it must have, committed together in one approved merge beside a good request.
//!
//! Rule 10 (fail closed, keep going) is what this proves at scale: every bad file is rejected
//! once, with its own stable code and its own path, and grants nothing; the good request in the
//! same change is still granted; and the plan touches no grant that the corpus has nothing to do
//! with. The cases are data: adding one is adding a file under `tests/corpus/requests/` and a
//! line to `tests/corpus/manifest.txt`, whose header documents the format.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// What a corpus file must lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Rejected with this code.
    Code(String),
    /// A valid request: its grant is in the plan.
    Granted,
    /// Under `requests/` but not a request: a `file-ignored` notice names it.
    FileIgnored,
    /// Outside `requests/`: never judged, but a `request-outside-requests` notice names it.
    Outside,
}

/// One line of the manifest.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// The file under `tests/corpus/requests/`.
    pub(crate) file: String,
    pub(crate) expect: Expect,
    /// Where the file lands in the access repository.
    pub(crate) at: String,
    /// Committed as a symbolic link to the file's text.
    pub(crate) symlink: bool,
    /// Padded with comment lines to this many bytes.
    pub(crate) pad: Option<usize>,
}

impl Case {
    /// The bytes that land in the repository (for a symlink: its target).
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let path = corpus_dir().join("requests").join(&self.file);
        let mut bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Some(pad) = self.pad {
            let line = format!("# {}\n", "x".repeat(77));
            while bytes.len() < pad {
                bytes.extend_from_slice(line.as_bytes());
            }
        }
        bytes
    }
}

/// `tests/corpus/`.
pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

const CODES: [&str; 12] = [
    "invalid-yaml",
    "invalid-field",
    "unknown-resource",
    "role-not-allowed",
    "unknown-subject",
    "expiry-before-merge",
    "expiry-too-long",
    "not-reviewed",
    "requester-mismatch",
    "break-glass-not-allowed",
    "insufficient-approvals",
    "unapproved-policy-change",
];

/// The manifest, parsed. A malformed line fails the test that reads it, naming the line.
pub(crate) fn cases() -> Vec<Case> {
    let manifest = corpus_dir().join("manifest.txt");
    let text = fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
    let mut cases = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let file = words.next().expect("a file").to_owned();
        let expect = match words.next() {
            Some("granted") => Expect::Granted,
            Some("file-ignored") => Expect::FileIgnored,
            Some("outside") => Expect::Outside,
            Some(code) if CODES.contains(&code) => Expect::Code(code.to_owned()),
            other => panic!("manifest.txt:{}: unknown expectation {other:?}", number + 1),
        };
        let mut case =
            Case { at: format!("requests/corpus/{file}"), file, expect, symlink: false, pad: None };
        for option in words {
            if option == "symlink" {
                case.symlink = true;
            } else if let Some(path) = option.strip_prefix("at=") {
                case.at = path.to_owned();
            } else if let Some(bytes) = option.strip_prefix("pad=") {
                case.pad = Some(bytes.parse().unwrap_or_else(|_| panic!("manifest.txt:{}: pad", number + 1)));
            } else {
                panic!("manifest.txt:{}: unknown option {option}", number + 1);
            }
        }
        cases.push(case);
    }
    cases
}

#[test]
fn the_manifest_lists_every_corpus_file_once() {
    let listed: Vec<String> = cases().into_iter().map(|case| case.file).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice: {listed:?}");
    let on_disk: BTreeSet<String> = fs::read_dir(corpus_dir().join("requests"))
        .expect("tests/corpus/requests")
        .map(|entry| entry.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), on_disk);
    // The corpus covers every kind of outcome, so a broken parser of the manifest cannot pass
    // silently with, say, every case read as `ignored`.
    let all = cases();
    for kind in ["invalid-yaml", "invalid-field", "granted", "file-ignored", "outside"] {
        assert!(
            all.iter().any(|case| match &case.expect {
                Expect::Code(code) => code == kind,
                Expect::Granted => kind == "granted",
                Expect::FileIgnored => kind == "file-ignored",
                Expect::Outside => kind == "outside",
            }),
            "no case expects {kind}"
        );
    }
}

const GOOD: &str = "requests/good.yaml";
const KIM: &str = "requests/kim.yaml";

/// A repository with an older approved grant that is still live (kim), drift that no request
/// explains (zoe), a kept account on the exclusive resource (ops-bot), and then one approved
/// merge holding the good request (gina) and every corpus case.
fn corpus_repo(cases: &[Case]) -> TestRepo {
    let r = TestRepo::standard();
    r.merge("Kim's access", "kim", &["carol"], T1, |r| {
        r.write(KIM, &req("kim", &["kim"], &[(ONCALL, "member")]).yaml())
    });
    r.seed_state(&[
        (local(ONCALL), "member", "kim"),
        (local(BILLING), "member", "zoe"),
        (local(PROD), "member", "ops-bot"),
    ]);
    r.merge("A batch of requests", "alice", &["carol"], T2, |r| {
        r.write(GOOD, &req("alice", &["gina"], &[(ONCALL, "member")]).yaml());
        for case in cases {
            let path = r.path(&case.at);
            fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            let bytes = case.bytes();
            if case.symlink {
                let target = String::from_utf8(bytes).expect("a symlink target is text");
                std::os::unix::fs::symlink(target.trim_end(), &path).expect("symlink");
            } else {
                fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", case.at));
            }
        }
    });
    r
}

fn notices(v: &Value) -> Vec<(String, Option<String>)> {
    v.get("notices")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|n| {
                    (
                        n["code"].as_str().unwrap_or_default().to_owned(),
                        n.get("file").and_then(Value::as_str).map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_corpus_case_fails_closed_with_its_code_and_the_run_keeps_going() {
    let cases = cases();
    let r = corpus_repo(&cases);
    let before = r.state();

    let mut want_rejected: Vec<(String, String)> = cases
        .iter()
        .filter_map(|case| match &case.expect {
            Expect::Code(code) => Some((case.at.clone(), code.clone())),
            _ => None,
        })
        .collect();
    want_rejected.sort();
    let mut want_granting: BTreeSet<String> =
        cases.iter().filter(|case| case.expect == Expect::Granted).map(|case| case.at.clone()).collect();
    want_granting.insert(GOOD.to_owned());
    let want_ignored: BTreeSet<String> =
        cases.iter().filter(|case| case.expect == Expect::FileIgnored).map(|case| case.at.clone()).collect();
    let want_outside: BTreeSet<String> =
        cases.iter().filter(|case| case.expect == Expect::Outside).map(|case| case.at.clone()).collect();

    for command in ["check", "plan"] {
        let run = r.tenure(&["--now", NOW, "--format", "json", command]);
        run.expect_code(1);
        let v = run.json();
        let got = rejected(&v);
        let missing: Vec<_> = want_rejected.iter().filter(|w| !got.contains(w)).collect();
        let extra: Vec<_> = got.iter().filter(|g| !want_rejected.contains(g)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{command}: rejections differ from tests/corpus/manifest.txt\nmissing: {missing:#?}\nunexpected: \
             {extra:#?}\nwhole output:\n{v:#}"
        );
        let once: BTreeSet<&String> = got.iter().map(|(path, _)| path).collect();
        assert_eq!(once.len(), got.len(), "{command}: each rejected file is listed once: {got:#?}");
        for entry in v["rejected"].as_array().expect("rejected") {
            let message = entry["message"].as_str().unwrap_or_default();
            assert!(!message.trim().is_empty(), "{command}: every rejection says why: {entry:#}");
        }
        let ignored: BTreeSet<String> = notices(&v)
            .into_iter()
            .filter(|(code, _)| code == "file-ignored")
            .filter_map(|(_, file)| file)
            .collect();
        assert_eq!(ignored, want_ignored, "{command}: file-ignored notices; whole output:\n{v:#}");
        let outside: BTreeSet<String> = notices(&v)
            .into_iter()
            .filter(|(code, _)| code == "request-outside-requests")
            .filter_map(|(_, file)| file)
            .collect();
        assert_eq!(outside, want_outside, "{command}: misplaced requests are named; whole output:\n{v:#}");
        for rejection in v["rejected"].as_array().expect("rejected") {
            let file = rejection["request"].as_str().unwrap_or_default();
            assert!(!want_outside.contains(file), "{command}: {file} is outside requests/ and never judged");
        }
    }

    // Only the good request and the valid corpus files grant; nothing is revoked, and the
    // unrelated grants (kim's live grant, zoe's drift, the kept ops-bot) are left alone.
    let v = r.plan(NOW).json();
    let changes = changes(&v);
    let granting: BTreeSet<String> = changes.iter().filter_map(|c| c.request.clone()).collect();
    assert_eq!(granting, want_granting, "the requests that grant; whole output:\n{v:#}");
    for change in &changes {
        assert_eq!(
            (change.action.as_str(), change.resource.as_str(), change.reason.as_str()),
            ("grant", ONCALL, "approved"),
            "only grants of valid requests: {change:?}"
        );
    }
    assert!(changes.contains(&grant(ONCALL, "member", "gina", GOOD)), "the good request is granted: {v:#}");
    assert_no_guards(&v);

    // The text output names every rejected file with its code, one per line.
    let text = r.tenure(&["--now", NOW, "plan"]);
    text.expect_code(1);
    for (path, code) in &want_rejected {
        assert!(
            text.stdout.lines().any(|line| line.contains(path.as_str()) && line.contains(code.as_str())),
            "the text plan names {path} with {code}:\n{}",
            text.stdout
        );
    }

    assert_no_raw_control("the text plan", &text.stdout);

    // Apply makes exactly those grants, then the plan is empty and stays rejected.
    let run = r.apply(NOW, &[]);
    run.expect_code(1);
    let mut want_state = before.clone();
    want_state
        .extend(changes.iter().map(|c| (local(&c.resource).to_owned(), c.role.clone(), c.subject.clone())));
    want_state.sort();
    assert_eq!(r.state(), want_state);
    let run = r.plan(NOW);
    run.expect_code(1);
    let v = run.json();
    assert_changes(&v, vec![]);
    assert_eq!(rejected(&v), want_rejected);
}

#[test]
fn free_text_from_a_request_never_reaches_a_terminal_raw() {
    // An approved request whose justification and ticket hold terminal escapes (clear the
    // screen, set the title, reverse the text): printed raw, they let a request rewrite what an
    // auditor sees in `tenure report`.
    let case = cases()
        .into_iter()
        .find(|case| case.file == "justification-terminal-escapes.yaml")
        .expect("the corpus case");
    let r = TestRepo::standard();
    r.merge("Escapes", "alice", &["carol"], T1, |r| {
        r.write(&case.at, &String::from_utf8(case.bytes()).expect("text"))
    });
    for command in [&["plan"][..], &["check"], &["report"], &["expiring", "--within", "60d"]] {
        for format in ["text", "markdown"] {
            let mut args = vec!["--now", NOW, "--format", format];
            args.extend_from_slice(command);
            let run = r.tenure(&args);
            assert!(matches!(run.code, 0 | 1), "{args:?}: {}", run.all_output());
            assert_no_raw_control(&format!("{args:?}"), &run.stdout);
        }
    }
}

/// Terminal escapes and other control characters in output let a request file rewrite what a
/// reviewer sees; only line breaks and tabs may appear raw.
#[track_caller]
fn assert_no_raw_control(what: &str, text: &str) {
    let bad: Vec<char> =
        text.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')).collect();
    assert!(bad.is_empty(), "{what} prints raw control characters {bad:?}:\n{text:?}");
}

#[test]
fn explain_answers_for_every_corpus_file() {
    // `explain` renders a judgement of hostile text for a person; it must answer, with the code,
    // and never fail or panic, for every file that tenure reads.
    let cases: Vec<Case> =
        cases().into_iter().filter(|case| matches!(case.expect, Expect::Code(_) | Expect::Granted)).collect();
    let r = corpus_repo(&cases);
    for case in &cases {
        let run = r.tenure(&["--now", NOW, "explain", &case.at]);
        match &case.expect {
            Expect::Code(code) => {
                run.expect_code(1);
                assert!(
                    run.stdout.contains(code.as_str()),
                    "explain {} names {code}:\n{}",
                    case.at,
                    run.stdout
                );
            }
            _ => {
                run.expect_code(0);
            }
        }
        assert_no_raw_control(&format!("explain {}", case.at), &run.stdout);
    }
}
