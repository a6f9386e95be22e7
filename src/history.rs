//! The history index: one pass over the first-parent history that finds, for
//! every watched path, each version it has held (rule 1), and the policy files
//! as they stood at every commit that changed them (rules 5 and 6).
//!
//! Pure: it replays the [`CommitRecord`]s that `source` produced and reads no
//! blobs itself.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{CommitRecord, ObjectId, TreeEntry};
use crate::policy::{is_policy_path, is_request_file};

/// One version of a request path: the commit that changed it, and the entry it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Position of the change commit in the history (0 = root).
    pub position: usize,
    /// The entry after the change; `None` when the change deleted the path.
    pub entry: Option<TreeEntry>,
}

/// A policy snapshot: the policy files at a commit that changed one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySnapshot {
    /// Position of the commit.
    pub position: usize,
    /// Every policy path at that commit, with its entry.
    pub files: BTreeMap<String, TreeEntry>,
}

/// What one pass over the history found.
#[derive(Debug, Clone, Default)]
pub struct HistoryIndex {
    /// Every version of every request path, oldest first. The last one is the path's change
    /// commit at the tip (rule 1).
    pub request_versions: BTreeMap<String, Vec<Version>>,
    /// The policy files after each commit that changed them, oldest first.
    pub policy_snapshots: Vec<PolicySnapshot>,
    /// The request files present at the tip.
    pub requests_at_tip: BTreeMap<String, TreeEntry>,
    /// Every other watched path at the tip under `requests/` that tenure does not read.
    pub ignored_at_tip: Vec<String>,
}

impl HistoryIndex {
    /// Builds the index from the first-parent history, oldest first.
    pub fn build(commits: &[CommitRecord]) -> HistoryIndex {
        HistoryIndex::build_with(commits, &BTreeSet::new())
    }

    /// Builds the index, counting `extra_policy_paths` (such as the programs of command
    /// providers) as policy files: changing them needs an admin, like changing the catalog.
    pub fn build_with(commits: &[CommitRecord], extra_policy_paths: &BTreeSet<String>) -> HistoryIndex {
        let mut index = HistoryIndex::default();
        let mut policy_files: BTreeMap<String, TreeEntry> = BTreeMap::new();
        let mut other_request_paths: BTreeMap<String, ()> = BTreeMap::new();
        for (position, commit) in commits.iter().enumerate() {
            let mut policy_changed = false;
            for change in &commit.changes {
                if is_policy_path(&change.path) || extra_policy_paths.contains(&change.path) {
                    policy_changed = true;
                    match &change.after {
                        Some(entry) => policy_files.insert(change.path.clone(), entry.clone()),
                        None => policy_files.remove(&change.path),
                    };
                } else if is_request_file(&change.path) {
                    index
                        .request_versions
                        .entry(change.path.clone())
                        .or_default()
                        .push(Version { position, entry: change.after.clone() });
                    match &change.after {
                        Some(entry) => index.requests_at_tip.insert(change.path.clone(), entry.clone()),
                        None => index.requests_at_tip.remove(&change.path),
                    };
                } else if change.after.is_some() {
                    other_request_paths.insert(change.path.clone(), ());
                } else {
                    other_request_paths.remove(&change.path);
                }
            }
            if policy_changed {
                index.policy_snapshots.push(PolicySnapshot { position, files: policy_files.clone() });
            }
        }
        index.ignored_at_tip = other_request_paths.into_keys().collect();
        index
    }

    /// The policy files at the tip.
    pub fn policy_at_tip(&self) -> BTreeMap<String, TreeEntry> {
        self.policy_snapshots.last().map(|snapshot| snapshot.files.clone()).unwrap_or_default()
    }

    /// The change commit position of a request path at the tip (rule 1).
    pub fn change_of(&self, path: &str) -> Option<usize> {
        self.request_versions.get(path).and_then(|versions| versions.last()).map(|version| version.position)
    }
}

/// Blob ids of a set of entries, for comparing policy versions by content.
pub fn blob_ids(files: &BTreeMap<String, TreeEntry>) -> BTreeMap<String, ObjectId> {
    files.iter().map(|(path, entry)| (path.clone(), entry.id.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntryKind, PathChange};

    fn entry(id: &str) -> TreeEntry {
        TreeEntry { id: ObjectId(id.into()), kind: EntryKind::File }
    }

    fn commit(n: usize, changes: Vec<(&str, Option<&str>, Option<&str>)>) -> CommitRecord {
        CommitRecord {
            id: ObjectId(format!("c{n}")),
            first_parent: n.checked_sub(1).map(|p| ObjectId(format!("c{p}"))),
            parent_count: usize::from(n > 0),
            message: String::new(),
            committed_at: chrono::DateTime::UNIX_EPOCH,
            author_name: String::new(),
            author_email: String::new(),
            changes: changes
                .into_iter()
                .map(|(path, before, after)| PathChange {
                    path: path.into(),
                    before: before.map(entry),
                    after: after.map(entry),
                })
                .collect(),
        }
    }

    #[test]
    fn finds_every_version_and_the_last_change() {
        let commits = [
            commit(0, vec![("tenure.yaml", None, Some("p1")), ("catalog/a.yaml", None, Some("k1"))]),
            commit(1, vec![("requests/a.yaml", None, Some("a1"))]),
            commit(2, vec![("requests/a.yaml", Some("a1"), None), ("requests/b.yaml", None, Some("a1"))]),
            commit(
                3,
                vec![("catalog/a.yaml", Some("k1"), Some("k2")), ("requests/notes.txt", None, Some("n"))],
            ),
            commit(4, vec![]),
        ];
        let index = HistoryIndex::build(&commits);
        assert_eq!(index.change_of("requests/b.yaml"), Some(2), "a rename is a change at the new path");
        assert_eq!(index.request_versions["requests/a.yaml"].len(), 2);
        assert_eq!(index.request_versions["requests/a.yaml"][1].entry, None);
        assert_eq!(index.requests_at_tip.keys().collect::<Vec<_>>(), ["requests/b.yaml"]);
        assert_eq!(index.policy_snapshots.len(), 2);
        assert_eq!(index.policy_snapshots[1].position, 3);
        assert_eq!(index.policy_at_tip()["catalog/a.yaml"], entry("k2"));
        assert_eq!(index.ignored_at_tip, ["requests/notes.txt"]);
    }

    #[test]
    fn extra_policy_paths_are_policy() {
        let commits = [
            commit(0, vec![("tenure.yaml", None, Some("p1"))]),
            commit(1, vec![("plugins/okta", None, Some("x1"))]),
            commit(2, vec![("plugins/other", None, Some("y1"))]),
        ];
        let index = HistoryIndex::build_with(&commits, &["plugins/okta".to_owned()].into());
        let positions: Vec<usize> = index.policy_snapshots.iter().map(|s| s.position).collect();
        assert_eq!(positions, [0, 1]);
        assert!(index.policy_at_tip().contains_key("plugins/okta"));
    }
}
