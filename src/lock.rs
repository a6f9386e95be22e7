//! One `apply` at a time: an OS advisory lock on a lock file next to the audit log and next to
//! each file-provider state file that a run writes (docs/audit-log.md#one-apply-at-a-time).
//!
//! Two runs that interleave their read-modify-write cycles lose each other's changes and
//! interleave their audit chains, so the second run waits, for a bounded time, and then refuses
//! and names the holder. The lock is the kernel's (`flock` through `File::try_lock`), not the
//! file's existence: the kernel drops it when the holder exits, even on SIGKILL, so a lock file
//! left behind by a crash never blocks anyone. For the same reason lock files are never deleted:
//! deleting one while another process waits on it would let two runs hold "the" lock at once.
//! The holder writes who it is into the file, only so that a waiting run can say so; that text
//! is never trusted for the decision.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How often a waiting run retries. Lock waits are rare and short, so polling is simpler and
/// more portable than a blocking lock with a timer thread.
const POLL: Duration = Duration::from_millis(50);

/// Who holds a lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's process id.
    pub pid: u32,
    /// The machine it runs on.
    pub host: String,
    /// When it took the lock.
    pub started: DateTime<Utc>,
    /// Its run id, as in its audit lines.
    pub run_id: String,
}

impl Holder {
    /// This process, starting now.
    pub fn this_process(started: DateTime<Utc>, run_id: &str) -> Holder {
        Holder { pid: std::process::id(), host: host_name(), started, run_id: run_id.to_owned() }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {}, since {} (run {})",
            self.pid,
            self.host,
            self.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.run_id
        )
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it, and did not release it in time.
    #[error(
        "another tenure apply holds the lock {}: {}; gave up after waiting {}. \
         Run again when it has finished, or wait longer with --lock-timeout",
        path.display(),
        holder.as_ref().map_or_else(|| "its holder has not recorded itself yet".to_owned(), ToString::to_string),
        humantime::format_duration(*waited)
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, if it said so.
        holder: Option<Holder>,
        /// How long this run waited.
        waited: Duration,
    },
    /// The file system refused an operation, or cannot lock files.
    #[error("cannot {action} the lock file {}: {source}", path.display())]
    Io {
        /// What tenure was doing.
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Locks held by this run; dropping it (or the process ending in any way) releases them.
#[derive(Debug)]
pub struct RunLock {
    held: Vec<(PathBuf, File)>,
}

impl RunLock {
    /// The lock files held, in the order they were taken.
    pub fn paths(&self) -> Vec<&Path> {
        self.held.iter().map(|(path, _)| path.as_path()).collect()
    }
}

/// The lock file that guards `target`: the same path with `.lock` appended.
pub fn lock_file_for(target: &Path) -> PathBuf {
    let mut name = target.file_name().map(|name| name.to_os_string()).unwrap_or_else(|| "tenure".into());
    name.push(".lock");
    target.with_file_name(name)
}

/// Takes the lock files that guard every path in `targets`, waiting up to `timeout` for all of
/// them together (zero: refuse at once). `on_wait` is called once per lock that is busy on the first try, so
/// that the operator learns why the run is not moving. Locks are taken in a fixed order, and a
/// target reached by two paths is locked once, since a second lock on the same file from the
/// same process would wait on itself.
pub fn acquire(
    targets: &[PathBuf],
    holder: &Holder,
    timeout: Duration,
    mut on_wait: impl FnMut(&Path, Option<&Holder>),
) -> Result<RunLock, LockError> {
    let mut paths = Vec::with_capacity(targets.len());
    for target in targets {
        paths.push(resolve(&lock_file_for(target))?);
    }
    paths.sort();
    paths.dedup();
    let start = Instant::now();
    let mut held = Vec::with_capacity(paths.len());
    for path in paths {
        let file = lock_one(&path, holder, start, timeout, &mut on_wait)?;
        held.push((path, file));
    }
    Ok(RunLock { held })
}

/// The lock file's directory is created and resolved, so that two spellings of one directory
/// (a symlink, `./`) give the same lock.
fn resolve(path: &Path) -> Result<PathBuf, LockError> {
    let io = |action| move |source| LockError::Io { action, path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io("create the directory of"))?;
    let dir = fs::canonicalize(&dir).map_err(io("resolve the directory of"))?;
    Ok(dir.join(path.file_name().unwrap_or_default()))
}

fn lock_one(
    path: &Path,
    holder: &Holder,
    start: Instant,
    timeout: Duration,
    on_wait: &mut impl FnMut(&Path, Option<&Holder>),
) -> Result<File, LockError> {
    let io = |action| move |source| LockError::Io { action, path: path.to_owned(), source };
    // A state file's lock sits in the working tree, where a merged change could have put a
    // symbolic link in its place; following it would let this run overwrite any file it can.
    refuse_links(path, None)?;
    // Never truncate on open: until this run holds the lock, the text is the holder's.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("open"))?;
    // Checked again on the open file, in case the path was swapped between the two.
    refuse_links(path, Some(&file))?;
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                // Announced whenever this run is willing to wait at all, however soon it gives up.
                if !announced && !timeout.is_zero() {
                    on_wait(path, read_holder(path).as_ref());
                    announced = true;
                }
                let waited = start.elapsed();
                if waited >= timeout {
                    // Milliseconds are precise enough for people, and print shorter.
                    let waited = Duration::from_millis(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
                    return Err(LockError::Busy { path: path.to_owned(), holder: read_holder(path), waited });
                }
                std::thread::sleep(POLL.min(timeout - waited));
            }
            Err(TryLockError::Error(source)) => return Err(io("lock")(source)),
        }
    }
    let mut text = serde_json::to_string(holder).unwrap_or_default();
    text.push('\n');
    file.set_len(0).map_err(io("truncate"))?;
    file.seek(SeekFrom::Start(0)).map_err(io("write"))?;
    file.write_all(text.as_bytes()).map_err(io("write"))?;
    file.flush().map_err(io("write"))?;
    Ok(file)
}

/// Refuses a lock path that is not a plain file, or (given the opened file) that no longer is
/// the file that was opened.
fn refuse_links(path: &Path, opened: Option<&File>) -> Result<(), LockError> {
    let not_plain = || LockError::Io {
        action: "use",
        path: path.to_owned(),
        source: io::Error::other("it is not a regular file (a symbolic link?); remove it"),
    };
    let found = match fs::symlink_metadata(path) {
        Ok(found) => found,
        Err(error) if error.kind() == io::ErrorKind::NotFound && opened.is_none() => return Ok(()),
        Err(source) => return Err(LockError::Io { action: "inspect", path: path.to_owned(), source }),
    };
    if !found.file_type().is_file() {
        return Err(not_plain());
    }
    #[cfg(unix)]
    if let Some(file) = opened {
        use std::os::unix::fs::MetadataExt as _;
        let opened = file.metadata().map_err(|source| LockError::Io {
            action: "inspect",
            path: path.to_owned(),
            source,
        })?;
        if (opened.dev(), opened.ino()) != (found.dev(), found.ino()) {
            return Err(not_plain());
        }
    }
    #[cfg(not(unix))]
    let _ = opened;
    Ok(())
}

/// The holder that a lock file names, if its text is one. A lock file left by a crash names a
/// process that is gone; it is only ever read while the lock is actually held.
fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.take(4096).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// This machine's name, for telling which machine holds a lock. Best effort: a lock held on
/// another machine through a network file system still blocks, whatever its holder is called.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn holder(run: &str) -> Holder {
        Holder::this_process(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(), run)
    }

    fn never_waits(path: &Path, _: Option<&Holder>) {
        panic!("unexpected wait on {}", path.display());
    }

    #[test]
    fn lock_files_sit_next_to_their_target() {
        assert_eq!(lock_file_for(Path::new("/var/log/audit.jsonl")), Path::new("/var/log/audit.jsonl.lock"));
        assert_eq!(lock_file_for(Path::new("state.json")), Path::new("state.json.lock"));
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("audit.jsonl");
        let first =
            acquire(std::slice::from_ref(&target), &holder("run-1"), Duration::ZERO, never_waits).unwrap();
        let text = fs::read_to_string(dir.path().join("audit.jsonl.lock")).unwrap();
        assert!(text.contains("\"run-1\""), "{text}");

        let mut waits = Vec::new();
        let error = acquire(std::slice::from_ref(&target), &holder("run-2"), Duration::ZERO, |path, who| {
            waits.push((path.to_owned(), who.cloned()))
        })
        .unwrap_err();
        assert!(waits.is_empty(), "a zero timeout refuses without waiting");
        match &error {
            LockError::Busy { path, holder: Some(who), .. } => {
                assert!(path.ends_with("audit.jsonl.lock"));
                assert_eq!(who.run_id, "run-1");
                assert_eq!(who.pid, std::process::id());
            }
            other => panic!("expected Busy with a holder, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("audit.jsonl.lock") && message.contains("run-1"), "{message}");
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        // The refused run did not overwrite the holder's record.
        assert_eq!(fs::read_to_string(dir.path().join("audit.jsonl.lock")).unwrap(), text);

        drop(first);
        let again = acquire(&[target], &holder("run-3"), Duration::ZERO, never_waits).unwrap();
        assert_eq!(again.paths().len(), 1);
    }

    #[test]
    fn a_waiting_run_says_why_and_gives_up_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        let _first =
            acquire(std::slice::from_ref(&target), &holder("run-1"), Duration::ZERO, never_waits).unwrap();
        let mut waits = Vec::new();
        let error = acquire(&[target], &holder("run-2"), Duration::from_millis(1), |path, who| {
            waits.push((path.to_owned(), who.map(|who| who.run_id.clone())))
        })
        .unwrap_err();
        assert!(matches!(error, LockError::Busy { .. }), "{error:?}");
        assert_eq!(waits.len(), 1, "{waits:?}");
        assert_eq!(waits[0].1.as_deref(), Some("run-1"));
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("audit.jsonl");
        let stale = r#"{"pid":4000000,"host":"gone","started":"2020-01-01T00:00:00Z","run_id":"old"}"#;
        fs::write(lock_file_for(&target), stale).unwrap();
        acquire(std::slice::from_ref(&target), &holder("run-1"), Duration::ZERO, never_waits).unwrap();
        fs::write(lock_file_for(&target), "not json at all").unwrap();
        acquire(&[target], &holder("run-2"), Duration::ZERO, never_waits).unwrap();
    }

    #[test]
    fn two_spellings_of_one_target_are_locked_once() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("state")).unwrap();
        let plain = dir.path().join("state/local.json");
        let dotted = dir.path().join("state/./../state/local.json");
        let lock = acquire(&[plain, dotted], &holder("run-1"), Duration::ZERO, never_waits).unwrap();
        assert_eq!(lock.paths().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_in_place_of_a_lock_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, lock_file_for(&target)).unwrap();
        let error = acquire(&[target], &holder("run-1"), Duration::ZERO, never_waits).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn missing_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("logs/nested/audit.jsonl");
        acquire(&[target], &holder("run-1"), Duration::ZERO, never_waits).unwrap();
        assert!(dir.path().join("logs/nested/audit.jsonl.lock").exists());
    }
}
