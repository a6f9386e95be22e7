//! The append-only audit log (docs/audit-log.md): one JSON object per line for every change that
//! `apply` makes, whether it succeeded or not, each line chained to the one before it.
//!
//! The log is evidence, so a crash must never make it unreadable: each record goes out in a
//! single write followed by `sync_data`, and if the file ends in the middle of a line (a crash
//! during an earlier write), the next record starts on a fresh line so that every later line is
//! still valid JSON on its own. Records hold what the plan and the providers report, which by
//! construction never carries secrets.
//!
//! Every line starts with `prev`, the hex SHA-256 of the bytes of the line before it (a torn
//! line included, so the chain runs unbroken over a crash), or [`GENESIS`] on the first line.
//! Editing, deleting, inserting or reordering any line but the last then breaks the chain, which
//! [`verify`] finds. A chain cannot tell a log cut short, or rewritten whole, from an honest one;
//! the head hash that `verify` prints is what to keep elsewhere for that.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Evidence, ObjectId};

/// The `prev` of a log's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far back [`AuditLog::append`] reads at a time to find the start of the last line.
const TAIL_BLOCK: u64 = 8 * 1024;

/// One line of the audit log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    /// When the change was attempted.
    pub time: DateTime<Utc>,
    /// The time the run's decisions were made at: `--now`, or the wall clock. It differs from
    /// `time` only when `--now` was given.
    pub decided_at: DateTime<Utc>,
    /// The run that made it, from [`new_run_id`].
    pub run_id: String,
    /// The repository commit that the run judged.
    pub commit: ObjectId,
    /// `grant`, `revoke` or `update`.
    pub action: String,
    /// The full resource id.
    pub resource: String,
    /// The role.
    pub role: String,
    /// Who holds it.
    pub subject: String,
    /// The role before an `update`.
    pub from: Option<String>,
    /// Why: `approved`, `break-glass`, `expired`, `request-removed`, `not-approved` or `drift`.
    pub reason: String,
    /// The request file that explains the change, if any (for revocations too).
    pub request: Option<String>,
    /// `ok` or `error`.
    pub outcome: String,
    /// What went wrong, when the outcome is `error`.
    pub error: Option<String>,
    /// Whether `--force` overrode a guard for this run.
    pub forced: bool,
    /// For grants: where the grant came from.
    pub evidence: Option<Evidence>,
}

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file system refused an operation.
    #[error("cannot {action} the audit log {}: {source}", path.display())]
    Io {
        /// What tenure was doing.
        action: &'static str,
        /// The audit log, or its directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record could not be turned into JSON.
    #[error("cannot encode an audit record for {path}: {source}", path = path.display())]
    Encode {
        /// The audit log.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// An open audit log. Records are only ever appended.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
}

impl AuditLog {
    /// Opens the log at `path` for appending, creating it and its directory if needed.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| AuditError::Io {
                action: "create the directory for",
                path: path.to_owned(),
                source,
            })?;
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|source| AuditError::Io { action: "open", path: path.to_owned(), source })?;
        if !existed {
            // A new file's name is durable only once its directory is; without it, a crash
            // could lose the whole log along with the records synced into it.
            let dir = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if let Ok(handle) = File::open(dir) {
                let _ = handle.sync_all();
            }
        }
        Ok(AuditLog { path: path.to_owned(), file })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line, chained to the line before it, and makes it durable
    /// before returning.
    pub fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        // Read on every append rather than kept from the last one, so that a failed write earlier
        // in this run cannot glue two records together or fork the chain.
        let (prev, torn) = self.tail().map_err(|source| self.io_error("read", source))?;
        let mut line = serde_json::to_vec(&Chained { prev: &prev, record })
            .map_err(|source| AuditError::Encode { path: self.path.clone(), source })?;
        line.push(b'\n');
        let buffer = if torn { [b"\n".as_slice(), &line].concat() } else { line };
        self.file.write_all(&buffer).map_err(|source| self.io_error("append to", source))?;
        self.file.flush().map_err(|source| self.io_error("flush", source))?;
        self.file.sync_data().map_err(|source| self.io_error("sync", source))
    }

    /// The hash of the last line, complete or torn ([`GENESIS`] for an empty log), and whether
    /// the file ends in the middle of that line.
    fn tail(&mut self) -> io::Result<(String, bool)> {
        let length = self.file.metadata()?.len();
        if length == 0 {
            return Ok((GENESIS.to_owned(), false));
        }
        // Appends ignore the cursor, so moving it to read is harmless.
        let mut last = [0u8; 1];
        self.file.seek(SeekFrom::Start(length - 1))?;
        self.file.read_exact(&mut last)?;
        let torn = last[0] != b'\n';
        let end = if torn { length } else { length - 1 };
        // Only the last line is needed, so read backwards to its start rather than reading the
        // whole log, which grows for as long as tenure runs.
        let mut line: Vec<u8> = Vec::new();
        let mut position = end;
        while position > 0 {
            let size = TAIL_BLOCK.min(position);
            position -= size;
            let mut block = vec![0u8; size as usize];
            self.file.seek(SeekFrom::Start(position))?;
            self.file.read_exact(&mut block)?;
            let newline = block.iter().rposition(|&b| b == b'\n');
            block.extend_from_slice(&line);
            line = block;
            if let Some(newline) = newline {
                line.drain(..=newline);
                break;
            }
        }
        Ok((line_hash(&line), torn))
    }

    fn io_error(&self, action: &'static str, source: io::Error) -> AuditError {
        AuditError::Io { action, path: self.path.clone(), source }
    }
}

/// A record as it is written: its link to the line before, then its fields.
#[derive(serde::Serialize)]
struct Chained<'a> {
    prev: &'a str,
    #[serde(flatten)]
    record: &'a AuditRecord,
}

/// The hex SHA-256 of one line's bytes, without its newline: what the next line's `prev` holds.
pub fn line_hash(line: &[u8]) -> String {
    Sha256::digest(line).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// The log, as given (lossily, where it is not UTF-8).
    pub path: String,
    /// Whether the chain holds from the first line to the last.
    pub ok: bool,
    /// Lines read and found sound (torn lines included), up to the first broken one.
    pub lines: usize,
    /// Of those, the complete records.
    pub records: usize,
    /// Lines that a crash cut short, which the chain covers like any other.
    pub torn: Vec<TornLine>,
    /// The first line that breaks the chain, if any.
    pub broken: Option<BrokenLine>,
    /// The hash of the last sound line ([`GENESIS`] for an empty log): the `prev` of the next
    /// record. Kept elsewhere, it shows later whether the log was cut short or rewritten.
    pub head: String,
}

/// A line that a crash cut short.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TornLine {
    /// Its number, from 1.
    pub line: usize,
    /// Its length in bytes.
    pub bytes: usize,
    /// Whether it is the file's unterminated end, which the next `apply` closes.
    pub at_end: bool,
    /// Why it is not a record.
    pub detail: String,
}

/// The first line that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLine {
    /// Its number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl Verification {
    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for torn in &self.torn {
            let place = if torn.at_end {
                "the unterminated end of the file; the next apply starts a fresh line after it"
            } else {
                "the next line chains to it, so nothing was lost after it"
            };
            out.push_str(&format!(
                "line {}: a torn record left by a crash mid-write ({} bytes, {}); {place}\n",
                torn.line, torn.bytes, torn.detail
            ));
        }
        match &self.broken {
            Some(broken) => out.push_str(&format!(
                "{}: the chain is BROKEN at line {}: {}\n{} line(s) before it verified\n",
                self.path, broken.line, broken.reason, self.lines
            )),
            None => out.push_str(&format!(
                "{}: {} line(s) verified ({} record(s), {} torn); the chain is intact\nhead: {}\n",
                self.path,
                self.lines,
                self.records,
                self.torn.len(),
                self.head
            )),
        }
        out
    }
}

/// Checks the chain of the log at `path` and that every complete line is a record: a JSON
/// object with a `prev`, a `time` and a `run_id`. Stops at the first broken line. A line that
/// is not JSON at all is what a crash mid-write leaves; it is reported as torn, and passes as
/// long as the chain runs over it. An `Err` means the file could not be read.
pub fn verify(path: &Path) -> Result<Verification, AuditError> {
    let io = |source| AuditError::Io { action: "read", path: path.to_owned(), source };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut report = Verification {
        path: path.to_string_lossy().into_owned(),
        ok: true,
        lines: 0,
        records: 0,
        torn: Vec::new(),
        broken: None,
        head: GENESIS.to_owned(),
    };
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer).map_err(io)? == 0 {
            break;
        }
        let terminated = buffer.last() == Some(&b'\n');
        if terminated {
            buffer.pop();
        }
        let number = report.lines + 1;
        match check_line(&buffer, &report.head, number) {
            Ok(None) => report.records += 1,
            Ok(Some(detail)) => {
                report.torn.push(TornLine { line: number, bytes: buffer.len(), at_end: !terminated, detail })
            }
            Err(reason) => {
                report.ok = false;
                report.broken = Some(BrokenLine { line: number, reason });
                break;
            }
        }
        report.lines = number;
        report.head = line_hash(&buffer);
    }
    Ok(report)
}

/// `Ok(None)` for a sound record, `Ok(Some(why))` for a torn line, `Err(why)` for a break.
fn check_line(line: &[u8], expected: &str, number: usize) -> Result<Option<String>, String> {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(error) => {
            // A torn line long enough to hold its own `prev` must still chain: otherwise any
            // line could be swapped for garbage that passes as torn.
            if let Some(prev) = line.strip_prefix(b"{\"prev\":\"").and_then(|rest| rest.get(..64))
                && prev != expected.as_bytes()
            {
                return Err(format!(
                    "it is cut short, and its `prev` {} is not the hash of line {} ({expected})",
                    String::from_utf8_lossy(prev),
                    number - 1
                ));
            }
            return Ok(Some(format!("not valid JSON: {error}")));
        }
    };
    let Some(object) = value.as_object() else {
        return Err("it is JSON, but not an object".to_owned());
    };
    let Some(prev) = object.get("prev").and_then(serde_json::Value::as_str) else {
        return Err("it has no `prev` string, so it is not part of the chain".to_owned());
    };
    if prev != expected {
        return Err(if number == 1 {
            format!(
                "the first line's `prev` should be the genesis value {GENESIS}, but is {prev}: \
                 lines were removed from the start of the log"
            )
        } else if prev == GENESIS {
            format!(
                "its `prev` is the genesis value of a first line, but it is line {number}: \
                 lines before it were removed, or two logs were joined"
            )
        } else {
            let before = number - 1;
            format!(
                "its `prev` is {prev}, but the hash of line {before} is {expected}: line {before} \
                 was edited, or lines were deleted, inserted or moved here"
            )
        });
    }
    let time = object.get("time").and_then(serde_json::Value::as_str);
    if time.is_none_or(|time| DateTime::parse_from_rfc3339(time).is_err()) {
        return Err("it has no RFC 3339 `time`".to_owned());
    }
    if !object.get("run_id").is_some_and(serde_json::Value::is_string) {
        return Err("it has no `run_id`".to_owned());
    }
    Ok(None)
}

/// A run id that is unique without a random number generator: the time in microseconds, the
/// process id, and a counter for runs within one process, all in hex.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let micros = now.timestamp_micros() as u64;
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{:x}-{sequence:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn record(subject: &str, outcome: &str) -> AuditRecord {
        let time = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        AuditRecord {
            time,
            decided_at: time,
            run_id: new_run_id(time),
            commit: ObjectId("a".repeat(40)),
            action: "grant".into(),
            resource: "local:group/admins".into(),
            role: "member".into(),
            subject: subject.into(),
            from: None,
            reason: "approved".into(),
            request: Some("requests/alice.yaml".into()),
            outcome: outcome.into(),
            error: (outcome == "error").then(|| "boom".to_owned()),
            forced: false,
            evidence: Some(Evidence {
                request: "requests/alice.yaml".into(),
                blob: ObjectId("b".repeat(40)),
                change_commit: ObjectId("c".repeat(40)),
                policy_commit: None,
                pr_number: Some(7),
                pr_url: Some("https://github.com/acme/access/pull/7".into()),
                requester: "alice".into(),
                approvers: vec!["carol".into()],
                justification: "on-call \"Q4\"\nsecond line".into(),
                ticket: None,
                merged_at: time,
                expires: time + chrono::Duration::days(30),
                break_glass: false,
            }),
        }
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}")))
            .collect()
    }

    #[test]
    fn appends_one_json_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/nested/tenure-audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&record("alice", "ok")).unwrap();
        log.append(&record("bob", "error")).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let records = lines(&path);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["subject"], "alice");
        assert_eq!(records[0]["time"], "2026-03-01T12:00:00Z");
        assert_eq!(records[0]["commit"], "a".repeat(40));
        assert_eq!(records[0]["evidence"]["approvers"][0], "carol");
        assert_eq!(records[0]["evidence"]["justification"], "on-call \"Q4\"\nsecond line");
        assert_eq!(records[1]["outcome"], "error");
        assert_eq!(records[1]["error"], "boom");
        assert!(records[1]["from"].is_null());
    }

    #[test]
    fn reopening_appends_instead_of_truncating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap().append(&record("alice", "ok")).unwrap();
        AuditLog::open(&path).unwrap().append(&record("bob", "ok")).unwrap();
        let subjects: Vec<_> =
            lines(&path).iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect();
        assert_eq!(subjects, ["alice", "bob"]);
    }

    #[test]
    fn a_torn_last_line_does_not_corrupt_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap().append(&record("alice", "ok")).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"time":"2026-03-01T12:"#).unwrap();
        drop(file);

        let mut log = AuditLog::open(&path).unwrap();
        log.append(&record("bob", "ok")).unwrap();
        log.append(&record("carol", "ok")).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all.len(), 4, "{text}");
        assert_eq!(all[1], r#"{"time":"2026-03-01T12:"#);
        for index in [0, 2, 3] {
            serde_json::from_str::<serde_json::Value>(all[index]).unwrap();
        }
        assert!(all[2].contains("\"bob\"") && all[3].contains("\"carol\""));
    }

    fn raw_lines(path: &Path) -> Vec<Vec<u8>> {
        fs::read(path).unwrap().split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn each_line_chains_to_the_bytes_of_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        // Longer than one tail block, so that finding the last line must read back more than once.
        let mut long = record("alice", "ok");
        if let Some(evidence) = long.evidence.as_mut() {
            evidence.justification = "x".repeat(3 * TAIL_BLOCK as usize);
        }
        log.append(&long).unwrap();
        log.append(&record("bob", "ok")).unwrap();
        AuditLog::open(&path).unwrap().append(&record("carol", "error")).unwrap();
        let raw = raw_lines(&path);
        let parsed = lines(&path);
        assert_eq!(parsed[0]["prev"], GENESIS);
        assert_eq!(parsed[1]["prev"], line_hash(&raw[0]));
        assert_eq!(parsed[2]["prev"], line_hash(&raw[1]));
        assert!(String::from_utf8_lossy(&raw[0]).starts_with("{\"prev\":"), "prev comes first");

        let report = verify(&path).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!((report.lines, report.records), (3, 3));
        assert_eq!(report.head, line_hash(&raw[2]));
        assert!(report.text().contains("3 line(s) verified"), "{}", report.text());
    }

    #[test]
    fn line_hash_is_sha256_in_lowercase_hex() {
        assert_eq!(line_hash(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(line_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn verify_reports_the_first_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for subject in ["alice", "bob", "carol", "dan"] {
            log.append(&record(subject, "ok")).unwrap();
        }
        let original = fs::read_to_string(&path).unwrap();
        let all: Vec<&str> = original.lines().collect();
        let cases: Vec<(String, usize)> = vec![
            ([all[0].replace("alice", "mallory").as_str(), all[1], all[2], all[3]].join("\n"), 2),
            ([all[0], all[2], all[3]].join("\n"), 2),
            ([all[0], all[2], all[1], all[3]].join("\n"), 2),
            ([all[0], all[1], all[2], all[1], all[3]].join("\n"), 4),
            ([all[1], all[2], all[3]].join("\n"), 1),
            ([all[0], "[1,2]", all[1]].join("\n"), 2),
            (original.replacen("\"time\":\"2026-03-01T12:00:00Z\"", "\"time\":\"noon\"", 1), 1),
        ];
        for (text, line) in cases {
            fs::write(&path, format!("{}\n", text.trim_end())).unwrap();
            let report = verify(&path).unwrap();
            assert!(!report.ok, "{text}");
            assert_eq!(report.broken.as_ref().map(|broken| broken.line), Some(line), "{report:?}");
            assert_eq!(report.lines, line - 1);
            assert!(report.text().contains("BROKEN"), "{}", report.text());
        }
    }

    #[test]
    fn a_torn_line_is_chained_over_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap().append(&record("alice", "ok")).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        // Cut inside a multi-byte character, as a crash may.
        file.write_all("{\"prev\":\"0".as_bytes()).unwrap();
        file.write_all(&"é".as_bytes()[..1]).unwrap();
        drop(file);

        let report = verify(&path).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.torn.len(), 1);
        assert_eq!((report.torn[0].line, report.torn[0].at_end), (2, true));

        AuditLog::open(&path).unwrap().append(&record("bob", "ok")).unwrap();
        let raw = raw_lines(&path);
        let parsed: serde_json::Value = serde_json::from_slice(&raw[2]).unwrap();
        assert_eq!(parsed["prev"], line_hash(&raw[1]));
        let report = verify(&path).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!((report.lines, report.records), (3, 2));
        assert_eq!((report.torn[0].line, report.torn[0].at_end), (2, false));
        assert!(report.text().contains("line 2: a torn record"), "{}", report.text());
    }

    #[test]
    fn an_empty_log_verifies_with_the_genesis_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap();
        let report = verify(&path).unwrap();
        assert!(report.ok);
        assert_eq!((report.lines, report.head.as_str()), (0, GENESIS));
        assert!(matches!(verify(&dir.path().join("missing")), Err(AuditError::Io { .. })));
    }

    #[test]
    fn run_ids_differ_even_at_the_same_instant() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let first = new_run_id(now);
        let second = new_run_id(now);
        assert_ne!(first, second);
        let pid = format!("{:x}", std::process::id());
        assert!(first.split('-').nth(1) == Some(pid.as_str()), "{first}");
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{first}");
        // Times before 1970 must not panic.
        let _ = new_run_id(Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap());
    }
}
