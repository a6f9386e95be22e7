//! The append-only audit log (docs/audit-log.md): one JSON object per line for every change that
//! `apply` makes, whether it succeeded or not.
//!
//! The log is evidence, so a crash must never make it unreadable: each record goes out in a
//! single write followed by `sync_data`, and if the file ends in the middle of a line (a crash
//! during an earlier write), the next record starts on a fresh line so that every later line is
//! still valid JSON on its own. Records hold what the plan and the providers report, which by
//! construction never carries secrets.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::model::{Evidence, ObjectId};

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

    /// Appends `record` as one line and makes it durable before returning.
    pub fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)
            .map_err(|source| AuditError::Encode { path: self.path.clone(), source })?;
        line.push(b'\n');
        // Checked on every append rather than once at open, so that a failed write earlier in
        // this run, or another writer, cannot glue two records together.
        let torn = self.ends_mid_line().map_err(|source| self.io_error("read", source))?;
        let buffer = if torn { [b"\n".as_slice(), &line].concat() } else { line };
        self.file.write_all(&buffer).map_err(|source| self.io_error("append to", source))?;
        self.file.flush().map_err(|source| self.io_error("flush", source))?;
        self.file.sync_data().map_err(|source| self.io_error("sync", source))
    }

    fn ends_mid_line(&mut self) -> io::Result<bool> {
        let length = self.file.metadata()?.len();
        if length == 0 {
            return Ok(false);
        }
        // Appends ignore the cursor, so moving it to read the last byte is harmless.
        self.file.seek(SeekFrom::Start(length - 1))?;
        let mut last = [0u8; 1];
        self.file.read_exact(&mut last)?;
        Ok(last[0] != b'\n')
    }

    fn io_error(&self, action: &'static str, source: io::Error) -> AuditError {
        AuditError::Io { action, path: self.path.clone(), source }
    }
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
