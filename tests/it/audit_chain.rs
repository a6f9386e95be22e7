//! The audit log is a hash chain: `tenure audit verify` passes on the log that `apply` writes,
//! and finds an edited, deleted or reordered line, while a line torn by a crash is reported as
//! such and later appends still verify.

use std::fs;

use serde_json::Value;

use crate::faults::verify;
use crate::support::*;

/// A repository and an audit log of three grants, written by a real `apply`.
fn logged() -> TestRepo {
    let r = TestRepo::standard();
    r.merge("On-call", "alice", &["carol"], T1, |r| r.write("requests/alice.yaml", &simple("alice", ONCALL)));
    r.merge("Billing", "erin", &["dave"], T2, |r| r.write("requests/erin.yaml", &simple("erin", BILLING)));
    r.merge("On-call too", "gina", &["carol"], T3, |r| {
        r.write("requests/gina.yaml", &simple("gina", ONCALL))
    });
    r.apply(NOW, &[]).expect_code(0);
    assert_eq!(r.audit().len(), 3);
    r
}

fn lines(r: &TestRepo) -> Vec<String> {
    fs::read_to_string(r.audit_path()).unwrap().lines().map(str::to_owned).collect()
}

fn write_lines(r: &TestRepo, lines: &[String]) {
    fs::write(r.audit_path(), lines.join("\n") + "\n").unwrap();
}

#[track_caller]
fn assert_broken_at(r: &TestRepo, line: u64, why: &str) -> Value {
    let (code, report) = verify(r);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["broken"]["line"], line, "{report:#}");
    let reason = report["broken"]["reason"].as_str().unwrap();
    assert!(reason.contains(why), "{reason}");
    report
}

#[test]
fn the_log_that_apply_writes_is_a_valid_chain() {
    let r = logged();
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["lines"], 3);
    assert_eq!(report["records"], 3);
    assert!(report["broken"].is_null());

    let audit = r.audit();
    assert_eq!(audit[0]["prev"], "0".repeat(64), "the first line starts the chain");
    for pair in audit.windows(2) {
        assert_ne!(pair[0]["prev"], pair[1]["prev"]);
    }
    assert_eq!(report["head"].as_str().unwrap().len(), 64);

    let text = r.tenure(&["audit", "verify", "--audit", r.audit_path().to_str().unwrap()]);
    text.expect_code(0);
    assert!(text.stdout.contains("3 line(s) verified"), "{}", text.stdout);
    assert!(text.stdout.contains(report["head"].as_str().unwrap()), "{}", text.stdout);

    // A later run continues the same chain.
    r.merge("Billing too", "hank", &["dave"], T4, |r| {
        r.write("requests/hank.yaml", &simple("hank", BILLING))
    });
    r.apply(NOW, &[]).expect_code(0);
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["lines"], 4);
}

#[test]
fn an_edited_line_breaks_the_chain() {
    let r = logged();
    let mut all = lines(&r);
    let subject = serde_json::from_str::<Value>(&all[0]).unwrap()["subject"].as_str().unwrap().to_owned();
    let field = format!("\"subject\":\"{subject}\"");
    assert!(all[0].contains(&field), "{}", all[0]);
    all[0] = all[0].replace(&field, "\"subject\":\"mallory\"");
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "line 1 was edited");
    assert_eq!(verify(&r).1["lines"], 1, "the line before the break verified");
}

#[test]
fn an_edited_prev_breaks_the_chain_at_that_line() {
    let r = logged();
    let mut all = lines(&r);
    let value: Value = serde_json::from_str(&all[1]).unwrap();
    let prev = value["prev"].as_str().unwrap();
    all[1] = all[1].replace(prev, &"f".repeat(64));
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "the hash of line 1");
}

#[test]
fn a_deleted_line_breaks_the_chain() {
    let r = logged();
    let mut all = lines(&r);
    all.remove(1);
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "the hash of line 1");

    // Dropping the first line is caught too: the new first line does not start a chain.
    let r = logged();
    let all = lines(&r);
    write_lines(&r, &all[1..]);
    assert_broken_at(&r, 1, "genesis");
}

#[test]
fn reordered_lines_break_the_chain() {
    let r = logged();
    let mut all = lines(&r);
    all.swap(1, 2);
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "the hash of line 1");
}

#[test]
fn a_line_that_is_not_a_record_breaks_the_chain() {
    let r = logged();
    let mut all = lines(&r);
    all.insert(1, r#"{"note":"hello"}"#.to_owned());
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "no `prev`");

    // Garbage swapped for a line does not pass as torn: the next line still chains to the
    // original.
    let r = logged();
    let mut all = lines(&r);
    all[1] = r#"{"prev":"garbage"#.to_owned();
    write_lines(&r, &all);
    assert_broken_at(&r, 3, "the hash of line 2");

    // Nor does a cut-short copy of another line: its own `prev` does not chain.
    let r = logged();
    let mut all = lines(&r);
    all[1] = all[0][..all[0].len() / 2].to_owned();
    write_lines(&r, &all);
    assert_broken_at(&r, 2, "cut short");
}

#[test]
fn a_torn_last_line_is_reported_and_later_appends_still_verify() {
    let r = logged();
    let all = lines(&r);
    // A crash in the middle of writing a fourth record, which chains to the third.
    let prev = hex_sha256(all[2].as_bytes());
    let torn = &format!(r#"{{"prev":"{prev}","time":"2026-01-10T00:00:01Z","decided_at":"2026-01-1"#);
    let mut text = fs::read_to_string(r.audit_path()).unwrap();
    text.push_str(torn);
    fs::write(r.audit_path(), &text).unwrap();

    let (code, report) = verify(&r);
    assert_eq!(code, 0, "a torn end is a crash artefact, not a break: {report:#}");
    assert_eq!(report["lines"], 4);
    assert_eq!(report["records"], 3);
    assert_eq!(report["torn"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["torn"][0]["line"], 4);
    assert_eq!(report["torn"][0]["at_end"], true);
    assert_eq!(report["torn"][0]["bytes"], torn.len());
    let text_report = r.tenure(&["audit", "verify", "--audit", r.audit_path().to_str().unwrap()]);
    text_report.expect_code(0);
    assert!(text_report.stdout.contains("line 4: a torn record left by a crash"), "{}", text_report.stdout);

    // The next apply starts a fresh line and chains over the torn one.
    r.merge("Billing too", "hank", &["dave"], T4, |r| {
        r.write("requests/hank.yaml", &simple("hank", BILLING))
    });
    r.apply(NOW, &[]).expect_code(0);
    let after = lines(&r);
    assert_eq!(after.len(), 5);
    assert_eq!(&after[3], torn, "the torn bytes are kept as they were");
    let appended: Value = serde_json::from_str(&after[4]).unwrap();
    assert_eq!(appended["subject"], "hank");
    let (code, report) = verify(&r);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["lines"], 5);
    assert_eq!(report["records"], 4);
    assert_eq!(report["torn"][0]["line"], 4);
    assert_eq!(report["torn"][0]["at_end"], false);

    // Editing the torn line now breaks the chain, like any other line.
    let mut edited = after.clone();
    edited[3].push('0');
    write_lines(&r, &edited);
    assert_broken_at(&r, 5, "the hash of line 4");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn an_unreadable_log_exits_2() {
    let r = TestRepo::standard();
    let missing = r.root().join("missing.jsonl");
    let run = r.tenure(&["audit", "verify", "--audit", missing.to_str().unwrap()]);
    run.expect_code(2);
    assert!(run.stderr.contains("missing.jsonl"), "{}", run.stderr);
}

#[test]
fn verify_needs_no_repository() {
    let r = logged();
    let audit = r.audit_path().to_string_lossy().into_owned();
    let run = r.tenure_in(r.root(), &["audit".into(), "verify".into(), "--audit".into(), audit], &[]);
    run.expect_code(0);
}
