//! Atomic file replacement, for every file tenure rewrites: the file provider's state, the
//! evidence and ETag caches, the reminder state, and a renewed request file.
//!
//! A temporary file beside the target, flushed to disk, then a rename: a reader, or a run after
//! a crash, sees the old content or the new, never a mix. The only module that does this, so
//! that every such file gets the same care (permissions kept, temporary file cleaned up).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A step of the replacement failed; the target is unchanged.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {error}", path.display())]
pub struct WriteError {
    /// What tenure was doing, such as `write` or `replace`.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying error. Not a `#[source]`: the message already carries it.
    pub error: io::Error,
}

/// Replaces `path` with `content` so that readers see the old file or the new one, never a
/// mix, even across a crash.
pub fn write(path: &Path, content: &[u8]) -> Result<(), WriteError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(failed("create the directory", &dir))?;
    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.tenure-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(failed("create the temporary file", &temp))?;
        // Keep whatever access the operator gave the state file; a fresh file would get the
        // default mode instead.
        if let Ok(metadata) = fs::metadata(path) {
            file.set_permissions(metadata.permissions()).map_err(failed("set permissions on", &temp))?;
        }
        file.write_all(content).map_err(failed("write", &temp))?;
        file.sync_all().map_err(failed("flush to disk", &temp))?;
        drop(file);
        fs::rename(&temp, path).map_err(failed("replace", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    // The rename is durable only once the directory entry is; some systems cannot open a
    // directory for this, and the new content is in place either way, so this is best effort.
    if let Ok(handle) = fs::File::open(&dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn failed(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError + use<> {
    let path = path.to_owned();
    move |error| WriteError { action, path, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_keeps_permissions_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("state.json");
        write(&path, b"one").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> =
            fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_failed_write_names_the_step_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename must fail, and the temporary go.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        let error = write(&path, b"x").unwrap_err();
        assert_eq!(error.action, "replace");
        assert!(error.to_string().contains("taken"), "{error}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["taken"]);
    }
}
