//! The `file` provider: the target system is a JSON file
//! `{"grants":[{"resource":"group/admins","role":"member","subject":"alice"}]}`.
//!
//! The file may be shared with people and other tools, so tenure treats it as someone else's
//! data: a missing file is an empty system, a file it cannot parse is never overwritten, and
//! entries it does not manage (other resources, ids it cannot parse, extra fields) are written
//! back as they were. Each change re-reads the file rather than trusting a cache, because
//! another process may have changed it since, and replaces it atomically (temp file, fsync,
//! rename) so that a crash leaves either the old or the new content, never half of one.

use std::fs;
use std::io;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Provider, ProviderError, Wanted, WireGrant, ensure_own};
use crate::model::{ResourceId, Tuple};

/// A JSON file that holds grants.
#[derive(Debug)]
pub struct FileProvider {
    name: String,
    path: PathBuf,
}

/// The file as tenure understands it. Unknown keys are carried through untouched.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    grants: Vec<Entry>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    resource: String,
    role: String,
    subject: String,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Entry {
    fn is(&self, grant: &WireGrant) -> bool {
        self.resource == grant.resource && self.role == grant.role && self.subject == grant.subject
    }

    /// The order of the written file: by grant, then by any extra fields, so that the output
    /// does not depend on the order in which entries arrived.
    fn sort_key(&self) -> (&str, &str, &str, String) {
        let extra = serde_json::to_string(&self.extra).unwrap_or_default();
        (&self.resource, &self.role, &self.subject, extra)
    }
}

impl FileProvider {
    /// The provider `name`, whose state file is `path`, relative to `root` unless absolute.
    pub fn open(name: &str, path: &str, root: &Path) -> Result<FileProvider, ProviderError> {
        if path.trim().is_empty() {
            return Err(ProviderError::Config {
                name: name.to_owned(),
                detail: "`path` is empty; name the JSON state file, such as state/local.json".to_owned(),
            });
        }
        Ok(FileProvider { name: name.to_owned(), path: root.join(path) })
    }

    /// The state file this provider reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<StateFile, ProviderError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(StateFile { grants: Vec::new(), extra: serde_json::Map::new() });
            }
            Err(source) => return Err(ProviderError::Io { action: "read", path: self.path.clone(), source }),
        };
        serde_json::from_slice(&bytes).map_err(|error| ProviderError::Corrupt {
            path: self.path.clone(),
            detail: format!("expected {{\"grants\":[{{\"resource\",\"role\",\"subject\"}},…]}}: {error}"),
        })
    }

    fn store(&self, mut state: StateFile) -> Result<(), ProviderError> {
        state.grants.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        state.grants.dedup();
        let mut text = serde_json::to_string_pretty(&state).map_err(|error| ProviderError::Corrupt {
            path: self.path.clone(),
            detail: format!("cannot serialize the new content: {error}"),
        })?;
        text.push('\n');
        crate::atomic::write(&self.path, text.as_bytes()).map_err(|failure| ProviderError::Io {
            action: failure.action,
            path: failure.path,
            source: failure.error,
        })
    }

    fn change(&mut self, tuple: &Tuple, grant: bool) -> Result<(), ProviderError> {
        ensure_own(&self.name, &tuple.resource)?;
        let wanted = WireGrant::of(tuple);
        let mut state = self.load()?;
        let held = state.grants.iter().any(|entry| entry.is(&wanted));
        if grant == held {
            // Already in the wanted state: leave the file, and its mtime, alone.
            return Ok(());
        }
        if grant {
            state.grants.push(Entry {
                resource: wanted.resource,
                role: wanted.role,
                subject: wanted.subject,
                extra: serde_json::Map::new(),
            });
        } else {
            state.grants.retain(|entry| !entry.is(&wanted));
        }
        self.store(state)
    }
}

impl Provider for FileProvider {
    fn read(&mut self, resources: &[ResourceId]) -> Result<Vec<Tuple>, ProviderError> {
        let wanted = Wanted::new(&self.name, resources)?;
        let state = self.load()?;
        let mut tuples: Vec<Tuple> = state
            .grants
            .iter()
            .filter_map(|entry| wanted.tuple(&entry.resource, &entry.role, &entry.subject))
            .collect();
        tuples.sort();
        tuples.dedup();
        Ok(tuples)
    }

    fn grant(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(tuple, true)
    }

    fn revoke(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(tuple, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ResourceId {
        ResourceId::parse(text).unwrap()
    }

    fn tuple(resource: &str, role: &str, subject: &str) -> Tuple {
        Tuple { resource: id(resource), role: role.into(), subject: subject.into() }
    }

    fn provider(dir: &Path) -> FileProvider {
        FileProvider::open("local", "state/local.json", dir).unwrap()
    }

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        let value: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        value["grants"].as_array().unwrap().clone()
    }

    #[test]
    fn missing_file_is_an_empty_system_and_is_not_created_by_reading() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        assert_eq!(provider.read(&[id("local:group/a")]).unwrap(), vec![]);
        assert!(!provider.path().exists());
    }

    #[test]
    fn grant_creates_the_file_and_read_returns_full_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        let alice = tuple("local:group/admins", "member", "alice");
        provider.grant(&alice).unwrap();
        assert_eq!(provider.read(&[id("local:group/admins")]).unwrap(), vec![alice]);
        let text = fs::read_to_string(provider.path()).unwrap();
        assert_eq!(
            text,
            "{\n  \"grants\": [\n    {\n      \"resource\": \"group/admins\",\n      \"role\": \"member\",\n      \
             \"subject\": \"alice\"\n    }\n  ]\n}\n"
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path().join("state")).unwrap().count(), 1);
    }

    #[test]
    fn grant_twice_keeps_one_entry_and_revoke_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        let alice = tuple("local:group/admins", "member", "alice");
        provider.grant(&alice).unwrap();
        provider.grant(&alice).unwrap();
        assert_eq!(entries(provider.path()).len(), 1);
        provider.revoke(&alice).unwrap();
        provider.revoke(&alice).unwrap();
        assert_eq!(entries(provider.path()).len(), 0);
        assert_eq!(provider.read(&[id("local:group/admins")]).unwrap(), vec![]);
    }

    #[test]
    fn revoke_on_a_missing_file_succeeds_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        provider.revoke(&tuple("local:group/admins", "member", "alice")).unwrap();
        assert!(!provider.path().exists());
    }

    #[test]
    fn entries_tenure_does_not_manage_survive_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        fs::create_dir_all(provider.path().parent().unwrap()).unwrap();
        let original = r#"{"owner": "ops",
          "grants": [
            {"resource": "group/zeta", "role": "member", "subject": "z\u00e9ta\"q", "note": {"since": 2019}},
            {"resource": "Not A Valid/Id", "role": "x", "subject": "y"},
            {"resource": "group/admins", "role": "member", "subject": "carol"}
          ]}"#;
        fs::write(provider.path(), original).unwrap();
        let before = entries(provider.path());

        provider.grant(&tuple("local:group/admins", "member", "alice")).unwrap();
        provider.revoke(&tuple("local:group/admins", "member", "carol")).unwrap();

        let after = entries(provider.path());
        assert!(after.contains(&before[0]), "{after:?}");
        assert!(after.contains(&before[1]), "{after:?}");
        assert!(!after.contains(&before[2]), "{after:?}");
        assert_eq!(after.len(), 3);
        let text = fs::read_to_string(provider.path()).unwrap();
        let top: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(top["owner"], "ops");
        assert!(text.ends_with("}\n"));
        // Sorted by resource: `Not A Valid/Id` < `group/admins` < `group/zeta`.
        let order: Vec<_> = after.iter().map(|entry| entry["resource"].as_str().unwrap()).collect();
        assert_eq!(order, ["Not A Valid/Id", "group/admins", "group/zeta"]);
        // Unparseable ids are never reported as grants.
        let read = provider.read(&[id("local:group/admins"), id("local:group/zeta")]).unwrap();
        assert_eq!(
            read,
            vec![
                tuple("local:group/admins", "member", "alice"),
                tuple("local:group/zeta", "member", "zéta\"q")
            ]
        );
    }

    #[test]
    fn corrupt_files_are_errors_and_are_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        fs::create_dir_all(provider.path().parent().unwrap()).unwrap();
        for corrupt in ["", "{\"grants\": [", "[]", "{\"grant\": []}", "{\"grants\": [{\"resource\": 1}]}"] {
            fs::write(provider.path(), corrupt).unwrap();
            let alice = tuple("local:group/admins", "member", "alice");
            assert!(matches!(provider.read(&[id("local:group/admins")]), Err(ProviderError::Corrupt { .. })));
            assert!(matches!(provider.grant(&alice), Err(ProviderError::Corrupt { .. })), "{corrupt}");
            assert!(matches!(provider.revoke(&alice), Err(ProviderError::Corrupt { .. })), "{corrupt}");
            assert_eq!(fs::read_to_string(provider.path()).unwrap(), corrupt);
        }
    }

    #[test]
    fn read_returns_only_the_requested_resources() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        let a = tuple("local:group/a", "member", "alice");
        let b = tuple("local:group/b", "admin", "bob");
        provider.grant(&a).unwrap();
        provider.grant(&b).unwrap();
        assert_eq!(provider.read(&[id("local:group/b")]).unwrap(), vec![b.clone()]);
        assert_eq!(provider.read(&[]).unwrap(), vec![]);
        assert_eq!(provider.read(&[id("local:group/a"), id("local:group/b")]).unwrap(), vec![a, b]);
    }

    #[test]
    fn subjects_and_roles_are_kept_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        let upper = tuple("local:group/a", "member", "Alice");
        let lower = tuple("local:group/a", "member", "alice");
        let odd = tuple("local:group/a", "Member", "svc.deploy@example\\x");
        for t in [&upper, &lower, &odd] {
            provider.grant(t).unwrap();
        }
        let mut expected = vec![upper.clone(), lower, odd];
        expected.sort();
        assert_eq!(provider.read(&[id("local:group/a")]).unwrap(), expected);
        provider.revoke(&upper).unwrap();
        assert_eq!(provider.read(&[id("local:group/a")]).unwrap().len(), 2);
    }

    #[test]
    fn changes_see_edits_made_by_others_between_calls() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        provider.grant(&tuple("local:group/a", "member", "alice")).unwrap();
        fs::write(
            provider.path(),
            r#"{"grants":[{"resource":"group/a","role":"member","subject":"mallory"}]}"#,
        )
        .unwrap();
        provider.grant(&tuple("local:group/a", "member", "bob")).unwrap();
        let subjects: Vec<_> = entries(provider.path())
            .iter()
            .map(|entry| entry["subject"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(subjects, ["bob", "mallory"]);
    }

    #[test]
    fn foreign_tuples_are_refused_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        let foreign = tuple("other:group/a", "member", "alice");
        assert!(matches!(provider.grant(&foreign), Err(ProviderError::Foreign { .. })));
        assert!(matches!(provider.read(&[id("other:group/a")]), Err(ProviderError::Foreign { .. })));
        assert!(!provider.path().exists());
    }

    #[test]
    fn duplicates_already_in_the_file_are_merged_on_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut provider = provider(dir.path());
        fs::create_dir_all(provider.path().parent().unwrap()).unwrap();
        let entry = r#"{"resource":"group/a","role":"member","subject":"carol"}"#;
        fs::write(provider.path(), format!(r#"{{"grants":[{entry},{entry}]}}"#)).unwrap();
        provider.grant(&tuple("local:group/a", "member", "alice")).unwrap();
        assert_eq!(entries(provider.path()).len(), 2);
    }
}
