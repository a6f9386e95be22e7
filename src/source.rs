//! The git adapter, and the only module that knows git2: it opens the access repository,
//! resolves revisions, reads blobs, and turns the first-parent history of a commit into
//! [`CommitRecord`]s that list which watched paths each commit changed.
//!
//! It must not interpret what it reads: no YAML, no policy, no approvals, no clock. It never
//! guesses either. A shallow clone, a missing object or a malformed tree is an error, because
//! the core decides who holds access from this history, and a history that is silently
//! incomplete would make it trust the wrong commit (rule 1, docs/rules.md).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::{DateTime, Utc};
use git2::{Commit, ErrorCode, ObjectType, Oid, Repository, Tree};

use crate::model::{CommitRecord, EntryKind, ObjectId, PathChange, TreeEntry};

/// The five modes git writes; `normalize_mode` maps any other onto them as libgit2 does.
const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_COMMIT: i32 = 0o160000;

/// The walk recurses once per directory level, so a crafted tree must not be able to
/// exhaust the stack (even a 2 MiB thread stack, in a debug build). No access repository
/// nests directories anywhere near this deep; git's own limit (`core.maxTreeDepth`) is higher
/// only because it must carry any project.
const MAX_TREE_DEPTH: usize = 256;

/// What can go wrong while reading the repository.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No repository at or above the path.
    #[error("cannot open a git repository at or above {}: {}", path.display(), error.message())]
    Open {
        /// The path tenure was given.
        path: PathBuf,
        /// What libgit2 said.
        error: git2::Error,
    },
    /// The clone does not hold the whole history.
    #[error(
        "{} is a shallow clone: tenure needs the full history (fetch with fetch-depth: 0 / git fetch --unshallow)",
        path.display()
    )]
    Shallow {
        /// The repository.
        path: PathBuf,
    },
    /// A revision that names nothing.
    #[error("revision `{rev}` not found in the repository: {}", error.message())]
    RevisionNotFound {
        /// The revision as given.
        rev: String,
        /// What libgit2 said.
        error: git2::Error,
    },
    /// An object that is missing, or is not of the kind its reference promises.
    #[error(
        "git object {id} is missing or is not a {expected}: {detail} (is the clone complete? try `git fetch`)"
    )]
    Object {
        /// The object id, as given.
        id: String,
        /// The kind that was needed.
        expected: &'static str,
        /// Why it could not be used.
        detail: String,
    },
    /// An object that git would not write, such as a tree with entries out of order.
    #[error("git object {id} is malformed: {problem}; tenure will not guess what it means")]
    Malformed {
        /// The commit (or object) at fault.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Any other libgit2 failure, such as an unreadable object database.
    #[error("git: {}", .0.message())]
    Git(git2::Error),
}

impl From<git2::Error> for SourceError {
    fn from(error: git2::Error) -> Self {
        SourceError::Git(error)
    }
}

/// The paths tenure watches: exact files and whole directories (recursive), relative to the
/// repository root, with `/` separators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// Exact file paths, such as `tenure.yaml`.
    pub files: Vec<String>,
    /// Directories whose every descendant non-directory entry is watched, such as `requests`.
    pub dirs: Vec<String>,
}

/// An open access repository.
pub struct Source {
    repo: Repository,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("path", &self.repo.path()).finish()
    }
}

impl Source {
    /// Opens the repository at or above `path`. Bare repositories are accepted; their
    /// [`Source::workdir`] is `None`.
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        // libgit2 re-hashes every object it reads, which is most of the cost of a long
        // history; git itself trusts its object store on read, and so does tenure. These are
        // libgit2's process-wide settings, and this module is its only user.
        git2::opts::strict_hash_verification(false);
        // libgit2 would also keep every object it reads, up to 256 MiB, for the life of the
        // repository handle. The walk reads each tree once or twice and keeps what it needs
        // itself, so the cache only grows memory (docs/performance.md).
        git2::opts::enable_caching(false);
        Repository::discover(path)
            .map(|repo| Source { repo })
            .map_err(|error| SourceError::Open { path: path.to_path_buf(), error })
    }

    /// Another handle on the same repository, for another thread: one `Source` is never used
    /// from two threads at once.
    pub fn reopen(&self) -> Result<Source, SourceError> {
        let path = self.repo.path();
        Repository::open(path)
            .map(|repo| Source { repo })
            .map_err(|error| SourceError::Open { path: path.to_path_buf(), error })
    }

    /// The working-tree root, if any.
    pub fn workdir(&self) -> Option<PathBuf> {
        self.repo.workdir().map(Path::to_path_buf)
    }

    /// YAML files (`.yaml`, `.yml`, any case) at `commit` outside the top-level directories
    /// in `skip` and outside hidden directories, with their blob ids, in path order; at most
    /// `limit` of them. tenure reads nothing else, so these are only ever named, never judged:
    /// a request put in the wrong place must not pass in silence.
    pub fn yaml_files_outside(
        &self,
        commit: &ObjectId,
        skip: &[&str],
        limit: usize,
    ) -> Result<Vec<(String, ObjectId)>, SourceError> {
        let commit = self.find_commit(parse_oid(commit, "commit")?)?;
        let root = self.find_tree(commit.tree_id())?;
        let mut found = Vec::new();
        let mut pending: Vec<(String, Tree<'_>)> = vec![(String::new(), root)];
        while let Some((prefix, tree)) = pending.pop() {
            for entry in tree.iter() {
                let Ok(name) = std::str::from_utf8(entry.name_bytes()) else { continue };
                let path = format!("{prefix}{name}");
                if entry.filemode() == MODE_TREE {
                    let skipped = name.starts_with('.') || (prefix.is_empty() && skip.contains(&name));
                    if !skipped {
                        pending.push((format!("{path}/"), self.find_tree(entry.id())?));
                    }
                    continue;
                }
                let lower = name.to_ascii_lowercase();
                let is_yaml = lower.ends_with(".yaml") || lower.ends_with(".yml");
                if is_yaml
                    && entry.kind() == Some(ObjectType::Blob)
                    && !(prefix.is_empty() && skip.contains(&name))
                {
                    found.push((path, ObjectId(entry.id().to_string())));
                    if found.len() >= limit {
                        found.sort();
                        return Ok(found);
                    }
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// The blob id that a file on disk would have in git, to compare a working-tree file with
    /// a committed one. `Ok(None)` when the file does not exist.
    pub fn blob_id_of_file(&self, path: &Path) -> Result<Option<ObjectId>, SourceError> {
        if !path.exists() {
            return Ok(None);
        }
        git2::Oid::hash_file(git2::ObjectType::Blob, path)
            .map(|oid| Some(ObjectId(oid.to_string())))
            .map_err(SourceError::Git)
    }

    /// Whether the repository is a shallow clone.
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// Resolves any revision (branch, `origin/main`, sha, `HEAD~2`, tag) to a commit id,
    /// peeling tags.
    ///
    /// A short name is resolved as git does, and git prefers `refs/tags/<name>` to
    /// `refs/heads/<name>`: whoever can push a tag called `main` can shadow the branch. Pass
    /// `refs/heads/<branch>` or `refs/remotes/origin/<branch>` where only the branch will do.
    pub fn resolve_commit(&self, rev: &str) -> Result<ObjectId, SourceError> {
        let not_found = |error| SourceError::RevisionNotFound { rev: rev.to_owned(), error };
        if rev.contains('\0') {
            return Err(not_found(git2::Error::from_str("a revision cannot contain a NUL byte")));
        }
        let object = self.repo.revparse_single(rev).map_err(|error| match error.code() {
            ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Ambiguous => not_found(error),
            _ => SourceError::Git(error),
        })?;
        let commit = object.peel_to_commit().map_err(|error| object_error(object.id(), "commit", &error))?;
        Ok(object_id(commit.id()))
    }

    /// Whether `refs/heads/<name>` exists.
    pub fn has_local_branch(&self, name: &str) -> bool {
        !name.is_empty() && self.repo.find_reference(&format!("refs/heads/{name}")).is_ok()
    }

    /// The content of the blob at `path` in `commit`'s tree; `Ok(None)` if the path is absent
    /// or is not a blob (a directory or a submodule). A symlink is a blob: its content is the
    /// link's target.
    pub fn file_at(&self, commit: &ObjectId, path: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let commit = self.find_commit(parse_oid(commit, "commit")?)?;
        let mut tree = self.find_tree(commit.tree_id())?;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            // git2 panics on a NUL in a name, and `.`/`..`/empty can never name a tree entry.
            if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
                return Ok(None);
            }
            let Some(entry) = tree.get_name(part) else {
                return Ok(None);
            };
            let (id, mode, kind) = (entry.id(), entry.filemode(), entry.kind());
            drop(entry);
            if parts.peek().is_none() {
                return match kind {
                    Some(ObjectType::Blob) => self.blob_bytes(id).map(Some),
                    _ => Ok(None),
                };
            }
            if mode != MODE_TREE {
                return Ok(None);
            }
            tree = self.find_tree(id)?;
        }
        Ok(None)
    }

    /// The whole first-parent history ending at `tip`, oldest first, with the watched paths
    /// each commit changed against its first parent (the root commit: against nothing).
    ///
    /// Trees are compared by object id, so a subtree that did not change costs nothing; this
    /// keeps a history of thousands of commits over thousands of files close to
    /// `git log --first-parent --raw`. Renames are not detected: a rename is a loss at the
    /// old path and a gain at the new one, which is what rule 1 needs.
    pub fn history(&self, tip: &ObjectId, watch: &Watch) -> Result<Vec<CommitRecord>, SourceError> {
        self.history_reporting(tip, watch, |_| {})
    }

    /// [`Source::history`], handing each commit to `found` as soon as it is read, newest
    /// first, so that a caller can start on the blobs it names while the walk goes on.
    pub fn history_reporting(
        &self,
        tip: &ObjectId,
        watch: &Watch,
        mut found: impl FnMut(&CommitRecord),
    ) -> Result<Vec<CommitRecord>, SourceError> {
        if self.is_shallow() {
            let path = self.repo.workdir().unwrap_or_else(|| self.repo.path()).to_path_buf();
            return Err(SourceError::Shallow { path });
        }
        let root = WatchNode::new(watch);
        let odb = self.repo.odb()?;
        let mut walker = Walker {
            odb: &odb,
            previous: HashMap::new(),
            current: HashMap::new(),
            commit: Oid::ZERO_SHA1,
            path: String::new(),
        };
        let mut records = Vec::new();
        let mut commit = self.find_commit(parse_oid(tip, "commit")?)?;
        loop {
            let parent = match commit.parent_ids().next() {
                Some(id) => Some(self.find_commit(id)?),
                None => None,
            };
            walker.commit = commit.id();
            let mut changes = Vec::new();
            if parent.as_ref().map(Commit::tree_id) != Some(commit.tree_id()) {
                let new_root = walker.new_side(commit.tree_id())?;
                let old_root = parent.as_ref().map(|p| walker.old_side(p.tree_id())).transpose()?;
                let old_data = old_root.as_ref().map_or(&[][..], |tree| tree.data());
                walker.diff(&root, old_data, new_root.data(), 0, &mut changes)?;
                // With equal trees the parent's trees are this commit's, so the cache stays.
                walker.next_commit();
            }
            changes.sort_by(|a, b| a.path.cmp(&b.path));
            let record = record(&commit, parent.as_ref().map(Commit::id), changes)?;
            found(&record);
            records.push(record);
            match parent {
                Some(parent) => commit = parent,
                None => break,
            }
        }
        records.reverse();
        Ok(records)
    }

    /// The watched paths whose entry differs between the trees of two commits, sorted by
    /// path: what a pull request would change on the branch (`check --pr`). Like
    /// [`Source::history`], renames are not detected.
    pub fn tree_changes(
        &self,
        from: &ObjectId,
        to: &ObjectId,
        watch: &Watch,
    ) -> Result<Vec<PathChange>, SourceError> {
        let from = self.find_commit(parse_oid(from, "commit")?)?;
        let to = self.find_commit(parse_oid(to, "commit")?)?;
        let root = WatchNode::new(watch);
        let odb = self.repo.odb()?;
        let mut walker = Walker {
            odb: &odb,
            previous: HashMap::new(),
            current: HashMap::new(),
            commit: to.id(),
            path: String::new(),
        };
        let mut changes = Vec::new();
        if from.tree_id() != to.tree_id() {
            let new_root = walker.new_side(to.tree_id())?;
            let old_root = walker.old_side(from.tree_id())?;
            walker.diff(&root, old_root.data(), new_root.data(), 0, &mut changes)?;
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// The best common ancestor of two commits, if they have one.
    pub fn merge_base(&self, a: &ObjectId, b: &ObjectId) -> Result<Option<ObjectId>, SourceError> {
        match self.repo.merge_base(parse_oid(a, "commit")?, parse_oid(b, "commit")?) {
            Ok(id) => Ok(Some(object_id(id))),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(SourceError::Git(error)),
        }
    }

    /// Reads a blob by id.
    pub fn read_blob(&self, id: &ObjectId) -> Result<Vec<u8>, SourceError> {
        self.blob_bytes(parse_oid(id, "blob")?)
    }

    /// The parents of a commit, or `None` when the clone does not hold it (the github forge
    /// asks about pull-request heads, which a squash or rebase merge leaves out).
    pub fn commit_parents(&self, id: &ObjectId) -> Result<Option<Vec<ObjectId>>, SourceError> {
        let oid = parse_oid(id, "commit")?;
        match self.repo.find_commit(oid) {
            Ok(commit) => Ok(Some(commit.parent_ids().map(object_id).collect())),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(object_error(oid, "commit", &error)),
        }
    }

    /// The blob id at `path` in `commit`'s tree; `Ok(None)` when the path holds no blob.
    pub fn blob_id_at(&self, commit: &ObjectId, path: &str) -> Result<Option<ObjectId>, SourceError> {
        // git2 panics on a NUL in a name, and `.`/`..`/empty can never name a tree entry.
        if path.split('/').any(|part| part.is_empty() || part == "." || part == ".." || part.contains('\0')) {
            return Ok(None);
        }
        let commit = self.find_commit(parse_oid(commit, "commit")?)?;
        let tree = self.find_tree(commit.tree_id())?;
        match tree.get_path(Path::new(path)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(object_id(entry.id()))),
            Ok(_) => Ok(None),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(error) => Err(SourceError::Git(error)),
        }
    }

    fn blob_bytes(&self, id: Oid) -> Result<Vec<u8>, SourceError> {
        let blob = self.repo.find_blob(id).map_err(|error| object_error(id, "blob", &error))?;
        Ok(blob.content().to_vec())
    }

    fn find_commit(&self, id: Oid) -> Result<Commit<'_>, SourceError> {
        self.repo.find_commit(id).map_err(|error| object_error(id, "commit", &error))
    }

    fn find_tree(&self, id: Oid) -> Result<Tree<'_>, SourceError> {
        find_tree(&self.repo, id)
    }
}

fn find_tree(repo: &Repository, id: Oid) -> Result<Tree<'_>, SourceError> {
    repo.find_tree(id).map_err(|error| object_error(id, "tree", &error))
}

fn object_error(id: Oid, expected: &'static str, error: &git2::Error) -> SourceError {
    SourceError::Object { id: id.to_string(), expected, detail: error.message().to_owned() }
}

fn object_id(id: Oid) -> ObjectId {
    ObjectId(id.to_string())
}

/// Only a full id: libgit2 would read a short one as a zero-padded id, which names nothing.
fn parse_oid(id: &ObjectId, expected: &'static str) -> Result<Oid, SourceError> {
    let invalid = || SourceError::Object {
        id: id.0.clone(),
        expected,
        detail: "not a full hexadecimal object id".to_owned(),
    };
    if id.0.len() != 40 || !id.0.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Oid::from_str(&id.0).map_err(|_| invalid())
}

fn record(
    commit: &Commit<'_>,
    first_parent: Option<Oid>,
    changes: Vec<PathChange>,
) -> Result<CommitRecord, SourceError> {
    let seconds = commit.time().seconds();
    let committed_at = DateTime::<Utc>::from_timestamp(seconds, 0).ok_or_else(|| SourceError::Malformed {
        id: commit.id().to_string(),
        problem: format!("its committer time ({seconds} seconds since 1970) is out of range"),
    })?;
    let author = commit.author();
    Ok(CommitRecord {
        id: object_id(commit.id()),
        first_parent: first_parent.map(object_id),
        parent_count: commit.parent_count(),
        message: String::from_utf8_lossy(commit.message_raw_bytes()).into_owned(),
        committed_at,
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        changes,
    })
}

/// The watched paths as a tree of names, so that each level of the walk looks only at the
/// names that can matter there.
#[derive(Debug, Default)]
struct WatchNode {
    /// The non-directory entry at this path is watched.
    file: bool,
    /// Everything below this path is watched.
    all: bool,
    children: BTreeMap<String, WatchNode>,
}

/// What every name below a watched directory maps to.
static EVERYTHING: WatchNode = WatchNode { file: true, all: true, children: BTreeMap::new() };

impl WatchNode {
    fn new(watch: &Watch) -> WatchNode {
        let mut root = WatchNode::default();
        for file in &watch.files {
            if let Some(node) = root.insert(file) {
                node.file = true;
            }
        }
        for dir in &watch.dirs {
            if let Some(node) = root.insert(dir) {
                node.all = true;
            }
        }
        root
    }

    /// `None` for a path that no tree entry can have.
    fn insert(&mut self, path: &str) -> Option<&mut WatchNode> {
        let mut node = self;
        for part in path.split('/').filter(|part| !part.is_empty() && *part != ".") {
            if part == ".." || part.contains('\0') {
                return None;
            }
            node = node.children.entry(part.to_owned()).or_default();
        }
        Some(node)
    }

    fn child(&self, name: &str) -> Option<&WatchNode> {
        if self.all { Some(&EVERYTHING) } else { self.children.get(name) }
    }

    fn descends(&self) -> bool {
        self.all || !self.children.is_empty()
    }
}

/// The state of one history walk.
///
/// Trees are read as raw objects and parsed here rather than through `git2::Tree`: the walk
/// touches every entry of every changed directory in every commit, and a `requests/` of
/// thousands of entries makes per-entry FFI calls the whole cost of a run.
struct Walker<'o, 'repo> {
    odb: &'o git2::Odb<'repo>,
    /// Trees read as the old side of the previous commit. They are the new side of this one,
    /// so each tree on the chain is read and inflated once, not twice. Large trees are too
    /// big for libgit2's own object cache.
    previous: HashMap<Oid, Rc<git2::OdbObject<'o>>>,
    /// Trees read as the old side of this commit.
    current: HashMap<Oid, Rc<git2::OdbObject<'o>>>,
    /// The commit being compared, for error messages.
    commit: Oid,
    /// The directory being compared, reused to avoid an allocation per level.
    path: String,
}

impl<'o, 'repo> Walker<'o, 'repo> {
    fn new_side(&mut self, id: Oid) -> Result<Rc<git2::OdbObject<'o>>, SourceError> {
        if let Some(tree) = self.previous.get(&id) {
            return Ok(Rc::clone(tree));
        }
        let object = self.odb.read(id).map_err(|error| object_error(id, "tree", &error))?;
        if object.kind() != ObjectType::Tree {
            return Err(SourceError::Object {
                id: id.to_string(),
                expected: "tree",
                detail: format!("it is a {}", object.kind()),
            });
        }
        Ok(Rc::new(object))
    }

    fn old_side(&mut self, id: Oid) -> Result<Rc<git2::OdbObject<'o>>, SourceError> {
        let tree = self.new_side(id)?;
        self.current.insert(id, Rc::clone(&tree));
        Ok(tree)
    }

    fn next_commit(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }

    fn malformed(&self, problem: &str) -> SourceError {
        let place =
            if self.path.is_empty() { "the root directory".to_owned() } else { format!("`{}`", self.path) };
        SourceError::Malformed {
            id: self.commit.to_string(),
            problem: format!("the tree at {place} {problem}"),
        }
    }

    fn next_entry<'t>(&self, tree: &mut RawTree<'t>) -> Result<Option<RawEntry<'t>>, SourceError> {
        tree.next_within(usize::MAX).map_err(|problem| self.malformed(problem))
    }

    /// Merges the two sorted entry lists of one directory, as `git diff-tree` does.
    fn diff<'t>(
        &mut self,
        node: &WatchNode,
        old: &'t [u8],
        new: &'t [u8],
        depth: usize,
        out: &mut Vec<PathChange>,
    ) -> Result<(), SourceError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.malformed(&format!("is nested more than {MAX_TREE_DEPTH} directories deep")));
        }
        let (mut olds, mut news) = (RawTree { data: old, pos: 0 }, RawTree { data: new, pos: 0 });
        let mut a = self.next_entry(&mut olds)?;
        let mut b = self.next_entry(&mut news)?;
        loop {
            let identical = matches!((&a, &b), (Some(x), Some(y)) if x.raw == y.raw);
            let (take_old, take_new) = match (&a, &b) {
                (None, None) => return Ok(()),
                _ if identical => (true, true),
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, true),
                (Some(x), Some(y)) => match entry_order(x, y) {
                    Ordering::Less => (true, false),
                    Ordering::Greater => (false, true),
                    Ordering::Equal => (true, true),
                },
            };
            if identical {
                // Most of a changed directory did not change: skip the whole identical run on
                // one byte comparison. Its inner order was checked in the tree it came from;
                // its ends are checked below.
                if let Some(last) =
                    skip_identical(&mut olds, &mut news).map_err(|problem| self.malformed(problem))?
                {
                    (a, b) = (Some(last), Some(last));
                }
            } else {
                self.visit(
                    node,
                    a.as_ref().filter(|_| take_old),
                    b.as_ref().filter(|_| take_new),
                    depth,
                    out,
                )?;
            }
            if take_old {
                let next = self.next_entry(&mut olds)?;
                self.check_order(a.as_ref(), next.as_ref())?;
                a = next;
            }
            if take_new {
                let next = self.next_entry(&mut news)?;
                self.check_order(b.as_ref(), next.as_ref())?;
                b = next;
            }
        }
    }

    /// The merge is only right if both lists are in git's order. git writes them so, and
    /// `git fsck` rejects anything else; a crafted tree must not hide a change.
    fn check_order(
        &self,
        previous: Option<&RawEntry<'_>>,
        next: Option<&RawEntry<'_>>,
    ) -> Result<(), SourceError> {
        if let (Some(previous), Some(next)) = (previous, next)
            && entry_order(previous, next) != Ordering::Less
        {
            return Err(self.malformed("lists its entries out of git's order, or a name twice"));
        }
        Ok(())
    }

    /// One name of a directory: present on the old side, the new side, or both with the same
    /// kind (directory or not).
    fn visit(
        &mut self,
        node: &WatchNode,
        old: Option<&RawEntry<'_>>,
        new: Option<&RawEntry<'_>>,
        depth: usize,
        out: &mut Vec<PathChange>,
    ) -> Result<(), SourceError> {
        if let (Some(a), Some(b)) = (old, new)
            && a.id == b.id
            && a.mode == b.mode
        {
            return Ok(());
        }
        let Some(entry) = old.or(new) else {
            return Ok(());
        };
        // tenure names files with Rust strings, so a name that is not UTF-8 can never be
        // requested, read or approved; skipping it grants nothing.
        let Ok(name) = std::str::from_utf8(entry.name) else {
            return Ok(());
        };
        let Some(child) = node.child(name) else {
            return Ok(());
        };
        let mark = self.path.len();
        if mark > 0 {
            self.path.push('/');
        }
        self.path.push_str(name);
        let result = if name.contains('/') || name == "." || name == ".." {
            // Such a name would alias another path.
            Err(self.malformed("holds an entry whose name is not a single path component"))
        } else if entry.mode == MODE_TREE {
            if child.descends() { self.descend(child, old, new, depth, out) } else { Ok(()) }
        } else {
            if child.file {
                out.push(PathChange { path: self.path.clone(), before: old.map(leaf), after: new.map(leaf) });
            }
            Ok(())
        };
        self.path.truncate(mark);
        result
    }

    fn descend(
        &mut self,
        node: &WatchNode,
        old: Option<&RawEntry<'_>>,
        new: Option<&RawEntry<'_>>,
        depth: usize,
        out: &mut Vec<PathChange>,
    ) -> Result<(), SourceError> {
        let old_tree = old.map(|entry| self.old_side(entry.oid()?)).transpose()?;
        let new_tree = new.map(|entry| self.new_side(entry.oid()?)).transpose()?;
        let (old_data, new_data) = (
            old_tree.as_ref().map_or(&[][..], |t| t.data()),
            new_tree.as_ref().map_or(&[][..], |t| t.data()),
        );
        self.diff(node, old_data, new_data, depth + 1, out)
    }
}

/// The length of a SHA-1 object id: libgit2 is built here without SHA-256 support.
const RAW_ID_LEN: usize = 20;

/// The entries of a raw tree object, each `<octal mode> SP <name> NUL <20-byte id>`.
struct RawTree<'t> {
    data: &'t [u8],
    /// Where the next entry starts.
    pos: usize,
}

/// One entry of a raw tree object.
#[derive(Clone, Copy)]
struct RawEntry<'t> {
    /// The whole entry, for the fast equality check.
    raw: &'t [u8],
    /// Normalized as libgit2 does, to one of the five modes git writes.
    mode: i32,
    name: &'t [u8],
    id: &'t [u8],
}

impl RawEntry<'_> {
    fn oid(&self) -> Result<Oid, SourceError> {
        Ok(Oid::from_bytes(self.id)?)
    }
}

impl<'t> RawTree<'t> {
    /// The next entry, if it ends at or before `limit`.
    fn next_within(&mut self, limit: usize) -> Result<Option<RawEntry<'t>>, &'static str> {
        let data = self.data.get(self.pos..).unwrap_or_default();
        if data.is_empty() {
            return Ok(None);
        }
        let Some(space) = data.iter().take(8).position(|&b| b == b' ') else {
            return Err("is not a valid tree object: an entry has no mode");
        };
        let digits = &data[..space];
        if digits.is_empty() || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return Err("is not a valid tree object: an entry has a bad mode");
        }
        let mode = digits.iter().fold(0i32, |mode, &digit| mode * 8 + i32::from(digit - b'0'));
        let after_mode = &data[space + 1..];
        let Some(nul) = after_mode.iter().position(|&b| b == 0) else {
            return Err("is not a valid tree object: an entry name is not terminated");
        };
        if nul == 0 {
            return Err("is not a valid tree object: an entry has an empty name");
        }
        let end = space + 1 + nul + 1 + RAW_ID_LEN;
        if data.len() < end {
            return Err("is not a valid tree object: it is truncated");
        }
        if self.pos.saturating_add(end) > limit {
            return Ok(None);
        }
        self.pos += end;
        Ok(Some(RawEntry {
            raw: &data[..end],
            mode: normalize_mode(mode),
            name: &after_mode[..nul],
            id: &data[end - RAW_ID_LEN..end],
        }))
    }
}

/// Advances both trees past the longest run of whole entries that is byte-identical on both
/// sides, and returns the run's last entry.
fn skip_identical<'t>(
    old: &mut RawTree<'t>,
    new: &mut RawTree<'t>,
) -> Result<Option<RawEntry<'t>>, &'static str> {
    let (start_old, start_new) = (old.pos, new.pos);
    let run = common_prefix(
        old.data.get(start_old..).unwrap_or_default(),
        new.data.get(start_new..).unwrap_or_default(),
    );
    let mut last = None;
    while let Some(entry) = old.next_within(start_old + run)? {
        last = Some(entry);
    }
    new.pos = start_new + (old.pos - start_old);
    Ok(last)
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= len && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    while at < len && a[at] == b[at] {
        at += 1;
    }
    at
}

/// libgit2's `normalize_filemode`, so that kinds agree with what git2 reports elsewhere.
fn normalize_mode(mode: i32) -> i32 {
    const TYPE_MASK: i32 = 0o170000;
    match mode & TYPE_MASK {
        MODE_TREE => MODE_TREE,
        _ if mode & 0o111 != 0 => MODE_EXECUTABLE,
        MODE_COMMIT => MODE_COMMIT,
        MODE_SYMLINK => MODE_SYMLINK,
        _ => MODE_FILE,
    }
}

fn leaf(entry: &RawEntry<'_>) -> TreeEntry {
    let kind = match entry.mode {
        MODE_FILE => EntryKind::File,
        MODE_EXECUTABLE => EntryKind::Executable,
        MODE_SYMLINK => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    TreeEntry { id: ObjectId(hex(entry.id)), kind }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// git's tree order: a directory sorts as if its name ended in `/`, so `a` (file), `a.b` and
/// `a/` (directory) are three different names, in that order.
fn entry_order(a: &RawEntry<'_>, b: &RawEntry<'_>) -> Ordering {
    let (x, y) = (a.name, b.name);
    let (x_tree, y_tree) = (a.mode == MODE_TREE, b.mode == MODE_TREE);
    let common = x.len().min(y.len());
    let end = |name: &[u8], tree: bool| name.get(common).copied().unwrap_or(if tree { b'/' } else { 0 });
    x[..common]
        .cmp(&y[..common])
        .then_with(|| end(x, x_tree).cmp(&end(y, y_tree)))
        // Only names that git itself rejects (with a `/`) get this far; keep the order total.
        .then_with(|| x.len().cmp(&y.len()))
        .then_with(|| x_tree.cmp(&y_tree))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    const START: i64 = 1_700_000_000;

    /// A real repository built with the git CLI, isolated from any user or system config, with
    /// a clock that advances one minute per git command so that every date is known.
    struct TestRepo {
        dir: tempfile::TempDir,
        clock: Cell<i64>,
    }

    impl TestRepo {
        fn new() -> TestRepo {
            let repo = TestRepo { dir: tempfile::tempdir().unwrap(), clock: Cell::new(START) };
            repo.git(&["init", "-q", "-b", "main"]);
            repo
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn source(&self) -> Source {
            Source::open(self.path()).unwrap()
        }

        fn git(&self, args: &[&str]) -> String {
            git_in(self.path(), args, &self.clock)
        }

        fn write(&self, rel: &str, content: &str) {
            let path = self.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }

        fn remove(&self, rel: &str) {
            let path = self.path().join(rel);
            if path.is_dir() {
                fs::remove_dir_all(path).unwrap();
            } else {
                fs::remove_file(path).unwrap();
            }
        }

        fn chmod(&self, rel: &str, mode: u32) {
            fs::set_permissions(self.path().join(rel), fs::Permissions::from_mode(mode)).unwrap();
        }

        /// Commits everything in the working tree and returns the new commit.
        fn commit(&self, message: &str) -> ObjectId {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "--allow-empty", "--no-verify", "-m", message]);
            self.rev("HEAD")
        }

        fn rev(&self, rev: &str) -> ObjectId {
            ObjectId(self.git(&["rev-parse", rev]))
        }

        fn history(&self) -> Vec<CommitRecord> {
            let source = self.source();
            source.history(&self.rev("HEAD"), &watch()).unwrap()
        }
    }

    fn git_in(dir: &Path, args: &[&str], clock: &Cell<i64>) -> String {
        let tick = clock.get() + 60;
        clock.set(tick);
        let output = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=Ada Author", "-c", "user.email=ada@example.com"])
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "core.symlinks=true"])
            .args(["-c", "merge.ff=true", "-c", "protocol.file.allow=always"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            // The author clock runs 30 s behind, so that a mix-up with the committer shows.
            .env("GIT_AUTHOR_DATE", format!("@{} +0200", tick - 30))
            .env("GIT_COMMITTER_DATE", format!("@{tick} +0200"))
            .env("GIT_COMMITTER_NAME", "Carl Committer")
            .env("GIT_COMMITTER_EMAIL", "carl@example.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn watch() -> Watch {
        Watch { files: vec!["tenure.yaml".into()], dirs: vec!["catalog".into(), "requests".into()] }
    }

    fn entry(id: &ObjectId, kind: EntryKind) -> Option<TreeEntry> {
        Some(TreeEntry { id: id.clone(), kind })
    }

    fn file(id: &ObjectId) -> Option<TreeEntry> {
        entry(id, EntryKind::File)
    }

    fn change(path: &str, before: Option<TreeEntry>, after: Option<TreeEntry>) -> PathChange {
        PathChange { path: path.into(), before, after }
    }

    fn paths(record: &CommitRecord) -> Vec<&str> {
        record.changes.iter().map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn history_reports_adds_modifications_and_deletions_oldest_first() {
        let repo = TestRepo::new();
        repo.write("tenure.yaml", "version: 1\n");
        repo.write("requests/a.yaml", "one\n");
        let first = repo.commit("Add a\n\nProposed-by: ada\n");
        let a1 = repo.rev("HEAD:requests/a.yaml");
        let config = repo.rev("HEAD:tenure.yaml");
        repo.write("requests/a.yaml", "two\n");
        let second = repo.commit("Edit a");
        let a2 = repo.rev("HEAD:requests/a.yaml");
        repo.remove("requests/a.yaml");
        let third = repo.commit("Remove a");

        let history = repo.history();
        let ids: Vec<_> = history.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, [first.clone(), second.clone(), third]);
        assert_eq!(
            history[0].changes,
            [change("requests/a.yaml", None, file(&a1)), change("tenure.yaml", None, file(&config))]
        );
        assert_eq!(history[1].changes, [change("requests/a.yaml", file(&a1), file(&a2))]);
        assert_eq!(history[2].changes, [change("requests/a.yaml", file(&a2), None)]);

        assert_eq!(history[0].first_parent, None);
        assert_eq!(history[0].parent_count, 0);
        assert_eq!(history[1].first_parent, Some(first));
        assert_eq!(history[2].first_parent, Some(second));
        assert_eq!(history[1].parent_count, 1);
        assert_eq!(history[0].message, "Add a\n\nProposed-by: ada\n");
        assert_eq!(history[0].author_name, "Ada Author");
        assert_eq!(history[0].author_email, "ada@example.com");
        // git ran three commands (init, add, commit) before the first commit: the committer
        // time, not the author time, which runs 30 s behind.
        assert_eq!(history[0].committed_at, DateTime::<Utc>::from_timestamp(START + 3 * 60, 0).unwrap());
    }

    #[test]
    fn a_rename_is_a_loss_at_the_old_path_and_a_gain_at_the_new() {
        let repo = TestRepo::new();
        repo.write("requests/old.yaml", "same content\n");
        repo.commit("Add");
        let blob = repo.rev("HEAD:requests/old.yaml");
        repo.git(&["mv", "requests/old.yaml", "requests/new.yaml"]);
        repo.commit("Rename");

        let history = repo.history();
        assert_eq!(
            history[1].changes,
            [change("requests/new.yaml", None, file(&blob)), change("requests/old.yaml", file(&blob), None)]
        );
    }

    #[test]
    fn a_merge_counts_on_the_first_parent_and_hides_the_side_branch() {
        let repo = TestRepo::new();
        repo.write("requests/base.yaml", "base\n");
        let base = repo.commit("Base");
        repo.git(&["checkout", "-q", "-b", "feature"]);
        repo.write("requests/x.yaml", "draft\n");
        let side_one = repo.commit("Draft x");
        repo.write("requests/x.yaml", "final\n");
        repo.write("catalog/c.yaml", "c\n");
        let side_two = repo.commit("Finish x");
        repo.git(&["checkout", "-q", "main"]);
        repo.write("README.md", "hello\n");
        let main_two = repo.commit("Readme");
        repo.git(&["merge", "-q", "--no-ff", "--no-edit", "feature"]);
        let merge = repo.rev("HEAD");

        let history = repo.history();
        let ids: Vec<_> = history.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, [base, main_two.clone(), merge]);
        assert!(!ids.contains(&side_one) && !ids.contains(&side_two));
        let merged = &history[2];
        assert_eq!(merged.parent_count, 2);
        assert_eq!(merged.first_parent, Some(main_two));
        assert_eq!(
            merged.changes,
            [
                change("catalog/c.yaml", None, file(&repo.rev("HEAD:catalog/c.yaml"))),
                change("requests/x.yaml", None, file(&repo.rev("HEAD:requests/x.yaml"))),
            ]
        );
    }

    #[test]
    fn commits_touching_only_unwatched_paths_are_listed_without_changes() {
        let repo = TestRepo::new();
        repo.write("tenure.yaml", "version: 1\n");
        repo.commit("Config");
        repo.write("README.md", "x\n");
        repo.write("requests.yaml", "looks like requests\n");
        repo.write("requestsx/a.yaml", "prefix trick\n");
        repo.write("catalog.yaml", "prefix trick\n");
        repo.write("docs/tenure.yaml", "not at the root\n");
        repo.write("docs/requests/a.yaml", "not at the root\n");
        repo.write("tenure.yaml.orig", "suffix trick\n");
        let unwatched = repo.commit("Unwatched only");
        repo.commit("Empty");

        let history = repo.history();
        assert_eq!(history.len(), 3);
        assert_eq!(history[1].id, unwatched);
        assert_eq!(history[1].changes, []);
        assert_eq!(history[2].changes, []);
    }

    #[test]
    fn nested_directories_under_requests_and_catalog_are_watched() {
        let repo = TestRepo::new();
        repo.write("requests/team/payments/alice.yaml", "a\n");
        repo.write("requests/top.yaml", "t\n");
        repo.write("catalog/github/teams.yaml", "c\n");
        repo.write("other/requests/x.yaml", "x\n");
        repo.commit("Nested");
        repo.write("requests/team/payments/alice.yaml", "a2\n");
        repo.write("other/requests/x.yaml", "x2\n");
        repo.commit("Edit deep file");

        let history = repo.history();
        assert_eq!(
            paths(&history[0]),
            ["catalog/github/teams.yaml", "requests/team/payments/alice.yaml", "requests/top.yaml"]
        );
        assert_eq!(paths(&history[1]), ["requests/team/payments/alice.yaml"]);
    }

    #[test]
    fn a_file_that_becomes_a_directory_and_back_is_reported_at_every_path() {
        let repo = TestRepo::new();
        repo.write("requests/a", "plain file\n");
        repo.write("requests/a.yaml", "neighbour that sorts between a and a/\n");
        repo.commit("File");
        let as_file = repo.rev("HEAD:requests/a");
        repo.remove("requests/a");
        repo.write("requests/a/b.yaml", "b\n");
        repo.write("requests/a/c/d.yaml", "d\n");
        repo.commit("Directory");
        let b = repo.rev("HEAD:requests/a/b.yaml");
        let d = repo.rev("HEAD:requests/a/c/d.yaml");
        repo.remove("requests/a");
        repo.write("requests/a", "plain file\n");
        repo.commit("File again");

        let history = repo.history();
        assert_eq!(
            history[1].changes,
            [
                change("requests/a", file(&as_file), None),
                change("requests/a/b.yaml", None, file(&b)),
                change("requests/a/c/d.yaml", None, file(&d)),
            ]
        );
        assert_eq!(
            history[2].changes,
            [
                change("requests/a", None, file(&as_file)),
                change("requests/a/b.yaml", file(&b), None),
                change("requests/a/c/d.yaml", file(&d), None),
            ]
        );
    }

    #[test]
    fn symlinks_executables_and_submodules_keep_their_kinds() {
        let repo = TestRepo::new();
        repo.write("catalog/real.yaml", "real\n");
        fs::create_dir_all(repo.path().join("requests")).unwrap();
        std::os::unix::fs::symlink("../catalog/real.yaml", repo.path().join("requests/link.yaml")).unwrap();
        repo.write("requests/run.sh", "#!/bin/sh\n");
        repo.chmod("requests/run.sh", 0o755);
        repo.commit("Kinds");
        let sub = repo.rev("HEAD");
        let cacheinfo = format!("160000,{sub},requests/sub");
        repo.git(&["update-index", "--add", "--cacheinfo", &cacheinfo]);
        repo.git(&["commit", "-q", "-m", "Submodule"]);

        let history = repo.history();
        assert_eq!(
            history[0].changes,
            [
                change("catalog/real.yaml", None, file(&repo.rev("HEAD:catalog/real.yaml"))),
                change(
                    "requests/link.yaml",
                    None,
                    entry(&repo.rev("HEAD:requests/link.yaml"), EntryKind::Symlink)
                ),
                change(
                    "requests/run.sh",
                    None,
                    entry(&repo.rev("HEAD:requests/run.sh"), EntryKind::Executable)
                ),
            ]
        );
        assert_eq!(history[1].changes, [change("requests/sub", None, entry(&sub, EntryKind::Other))]);
        let source = repo.source();
        let head = repo.rev("HEAD");
        assert_eq!(source.file_at(&head, "requests/link.yaml").unwrap().unwrap(), b"../catalog/real.yaml");
        assert_eq!(source.file_at(&head, "requests/sub").unwrap(), None);
    }

    #[test]
    fn a_mode_only_change_is_a_change() {
        let repo = TestRepo::new();
        repo.write("requests/a.yaml", "same\n");
        repo.commit("Plain");
        let blob = repo.rev("HEAD:requests/a.yaml");
        repo.chmod("requests/a.yaml", 0o755);
        repo.commit("Executable");
        repo.chmod("requests/a.yaml", 0o644);
        repo.commit("Plain again");

        let history = repo.history();
        assert_eq!(
            history[1].changes,
            [change("requests/a.yaml", file(&blob), entry(&blob, EntryKind::Executable))]
        );
        assert_eq!(
            history[2].changes,
            [change("requests/a.yaml", entry(&blob, EntryKind::Executable), file(&blob))]
        );
    }

    #[test]
    fn watched_files_and_directories_can_be_nested_or_overlap() {
        let repo = TestRepo::new();
        repo.write("config/tenure.yaml", "x\n");
        repo.write("config/other.yaml", "x\n");
        repo.write("requests/a.yaml", "x\n");
        repo.commit("All");
        let source = repo.source();
        let custom = Watch {
            files: vec!["config/tenure.yaml".into(), "requests/a.yaml".into(), "../escape".into()],
            dirs: vec!["./requests/".into()],
        };
        let history = source.history(&repo.rev("HEAD"), &custom).unwrap();
        assert_eq!(paths(&history[0]), ["config/tenure.yaml", "requests/a.yaml"]);
        let nothing = source.history(&repo.rev("HEAD"), &Watch::default()).unwrap();
        assert_eq!(nothing[0].changes, []);
    }

    #[test]
    fn resolve_commit_accepts_branches_shas_tags_and_remote_refs() {
        let repo = TestRepo::new();
        repo.write("tenure.yaml", "1\n");
        let first = repo.commit("One");
        repo.write("tenure.yaml", "2\n");
        let second = repo.commit("Two");
        repo.git(&["tag", "-a", "-m", "annotated", "v1", first.0.as_str()]);
        repo.git(&["update-ref", "refs/remotes/origin/release", first.0.as_str()]);
        let source = repo.source();

        assert_eq!(source.resolve_commit("main").unwrap(), second);
        assert_eq!(source.resolve_commit("HEAD~1").unwrap(), first);
        assert_eq!(source.resolve_commit(&second.0).unwrap(), second);
        assert_eq!(source.resolve_commit(&second.0[..10]).unwrap(), second);
        assert_eq!(source.resolve_commit("v1").unwrap(), first, "annotated tags are peeled");
        assert_eq!(source.resolve_commit("origin/release").unwrap(), first);
        assert_eq!(source.resolve_commit("refs/remotes/origin/release").unwrap(), first);

        // A tag shadows a branch of the same short name; the full ref name does not.
        repo.git(&["tag", "main", first.0.as_str()]);
        assert_eq!(source.resolve_commit("main").unwrap(), first);
        assert_eq!(source.resolve_commit("refs/heads/main").unwrap(), second);

        for unknown in ["nope", "origin/nope", "HEAD~5", "", "main\0"] {
            match source.resolve_commit(unknown) {
                Err(SourceError::RevisionNotFound { rev, .. }) => assert_eq!(rev, unknown),
                other => panic!("{unknown:?}: {other:?}"),
            }
        }
        let message = source.resolve_commit("nope").unwrap_err().to_string();
        assert!(message.contains("`nope`"), "{message}");
        assert!(matches!(
            source.resolve_commit("HEAD:tenure.yaml"),
            Err(SourceError::Object { expected: "commit", .. })
        ));
    }

    #[test]
    fn yaml_files_outside_skips_watched_and_hidden_directories() {
        let repo = TestRepo::new();
        repo.write("tenure.yaml", "version: 1\n");
        repo.write("requests/a.yaml", "a\n");
        repo.write("catalog/c.yaml", "c\n");
        repo.write("request/typo.yaml", "t\n");
        repo.write("docs/deep/x.YML", "x\n");
        repo.write(".github/workflows/ci.yml", "w\n");
        repo.write("notes.txt", "n\n");
        let tip = repo.commit("One");
        let source = repo.source();
        let found = source.yaml_files_outside(&tip, &["tenure.yaml", "catalog", "requests"], 100).unwrap();
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["docs/deep/x.YML", "request/typo.yaml"]);
        assert_eq!(
            source.yaml_files_outside(&tip, &["tenure.yaml", "catalog", "requests"], 1).unwrap().len(),
            1
        );
    }

    #[test]
    fn blob_id_of_file_matches_what_git_stores() {
        let repo = TestRepo::new();
        repo.write("plugins/run", "#!/bin/sh\necho hi\n");
        repo.commit("One");
        let source = repo.source();
        let stored = repo.git(&["rev-parse", "HEAD:plugins/run"]);
        let on_disk = source.blob_id_of_file(&repo.path().join("plugins/run")).unwrap().unwrap();
        assert_eq!(on_disk.0, stored.trim());
        repo.write("plugins/run", "#!/bin/sh\necho changed\n");
        assert_ne!(source.blob_id_of_file(&repo.path().join("plugins/run")).unwrap().unwrap(), on_disk);
        assert_eq!(source.blob_id_of_file(&repo.path().join("plugins/missing")).unwrap(), None);
    }

    #[test]
    fn file_at_reads_blobs_and_nothing_else() {
        let repo = TestRepo::new();
        repo.write("tenure.yaml", "version: 1\n");
        repo.write("requests/team/a.yaml", "alice\n");
        let first = repo.commit("One");
        repo.write("requests/team/a.yaml", "changed\n");
        let second = repo.commit("Two");
        let source = repo.source();

        assert_eq!(source.file_at(&first, "requests/team/a.yaml").unwrap().unwrap(), b"alice\n");
        assert_eq!(source.file_at(&second, "requests/team/a.yaml").unwrap().unwrap(), b"changed\n");
        assert_eq!(source.file_at(&first, "tenure.yaml").unwrap().unwrap(), b"version: 1\n");
        for absent in [
            "missing.yaml",
            "requests",
            "requests/team",
            "requests/team/a.yaml/x",
            "tenure.yaml/x",
            "",
            "/tenure.yaml",
            "requests//team/a.yaml",
            "requests/../tenure.yaml",
            "tenure.yaml\0",
        ] {
            assert_eq!(source.file_at(&first, absent).unwrap(), None, "{absent:?}");
        }
        assert!(matches!(
            source.file_at(&ObjectId("zz".into()), "tenure.yaml"),
            Err(SourceError::Object { .. })
        ));
        let blob = repo.rev("HEAD:tenure.yaml");
        assert!(matches!(
            source.file_at(&blob, "tenure.yaml"),
            Err(SourceError::Object { expected: "commit", .. })
        ));
    }

    #[test]
    fn read_blob_reads_blobs_by_id_and_refuses_other_objects() {
        let repo = TestRepo::new();
        repo.write("requests/a.yaml", "content\n");
        let commit = repo.commit("One");
        let source = repo.source();
        assert_eq!(source.read_blob(&repo.rev("HEAD:requests/a.yaml")).unwrap(), b"content\n");
        for not_a_blob in [commit, repo.rev("HEAD:requests"), ObjectId("0".repeat(40))] {
            assert!(
                matches!(source.read_blob(&not_a_blob), Err(SourceError::Object { expected: "blob", .. })),
                "{not_a_blob}"
            );
        }
        let short = ObjectId(repo.rev("HEAD:requests/a.yaml").0[..12].to_owned());
        assert!(matches!(source.read_blob(&short), Err(SourceError::Object { .. })));
    }

    #[test]
    fn has_local_branch_only_sees_refs_heads() {
        let repo = TestRepo::new();
        let first = repo.commit("One");
        repo.git(&["update-ref", "refs/remotes/origin/release", first.0.as_str()]);
        repo.git(&["tag", "v1"]);
        let source = repo.source();
        assert!(source.has_local_branch("main"));
        assert!(!source.has_local_branch("release"));
        assert!(!source.has_local_branch("origin/release"));
        assert!(!source.has_local_branch("v1"));
        assert!(!source.has_local_branch(""));
        assert!(!source.has_local_branch("bad\0name"));
    }

    #[test]
    fn shallow_clones_are_detected_and_their_history_refused() {
        let repo = TestRepo::new();
        repo.write("requests/a.yaml", "1\n");
        repo.commit("One");
        repo.write("requests/a.yaml", "2\n");
        repo.commit("Two");
        let full = repo.source();
        assert!(!full.is_shallow());

        let clones = tempfile::tempdir().unwrap();
        let url = format!("file://{}", repo.path().display());
        git_in(clones.path(), &["clone", "-q", "--depth", "1", &url, "shallow"], &repo.clock);
        let shallow = Source::open(&clones.path().join("shallow")).unwrap();
        assert!(shallow.is_shallow());
        let tip = shallow.resolve_commit("HEAD").unwrap();
        let error = shallow.history(&tip, &watch()).unwrap_err();
        assert!(matches!(error, SourceError::Shallow { .. }), "{error:?}");
        assert!(error.to_string().contains("fetch-depth: 0"), "{error}");
    }

    #[test]
    fn open_discovers_from_subdirectories_and_accepts_bare_repositories() {
        let repo = TestRepo::new();
        repo.write("requests/deep/a.yaml", "a\n");
        repo.commit("One");
        let source = Source::open(&repo.path().join("requests/deep")).unwrap();
        assert_eq!(source.workdir().unwrap().canonicalize().unwrap(), repo.path().canonicalize().unwrap());

        let clones = tempfile::tempdir().unwrap();
        let url = format!("file://{}", repo.path().display());
        git_in(clones.path(), &["clone", "-q", "--bare", &url, "bare.git"], &repo.clock);
        let bare = Source::open(&clones.path().join("bare.git")).unwrap();
        assert_eq!(bare.workdir(), None);
        let tip = bare.resolve_commit("main").unwrap();
        assert_eq!(paths(&bare.history(&tip, &watch()).unwrap()[0]), ["requests/deep/a.yaml"]);

        let empty = tempfile::tempdir().unwrap();
        let error = Source::open(empty.path()).unwrap_err();
        assert!(matches!(&error, SourceError::Open { path, .. } if path == empty.path()), "{error:?}");
    }

    /// Writes a commit whose tree holds `requests/` made of raw `entries`, which the git CLI
    /// would refuse to build.
    fn commit_raw_requests(
        repo: &TestRepo,
        parent: Option<&ObjectId>,
        entries: &[(&str, &[u8], Oid)],
    ) -> ObjectId {
        let git = Repository::open(repo.path()).unwrap();
        let odb = git.odb().unwrap();
        let mut raw = Vec::new();
        for (mode, name, id) in entries {
            raw.extend_from_slice(mode.as_bytes());
            raw.push(b' ');
            raw.extend_from_slice(name);
            raw.push(0);
            raw.extend_from_slice(id.as_bytes());
        }
        let requests = odb.write(ObjectType::Tree, &raw).unwrap();
        let mut root = git.treebuilder(None).unwrap();
        root.insert("requests", requests, MODE_TREE).unwrap();
        let root = git.find_tree(root.write().unwrap()).unwrap();
        let signature = git2::Signature::new("Ada", "ada@example.com", &git2::Time::new(START, 0)).unwrap();
        let parents: Vec<Commit<'_>> =
            parent.map(|p| git.find_commit(Oid::from_str(&p.0).unwrap()).unwrap()).into_iter().collect();
        let parents: Vec<&Commit<'_>> = parents.iter().collect();
        let id = git.commit(None, &signature, &signature, "raw", &root, &parents).unwrap();
        ObjectId(id.to_string())
    }

    #[test]
    fn malformed_trees_are_refused_rather_than_misread() {
        let repo = TestRepo::new();
        repo.write("x", "x\n");
        repo.commit("Seed");
        let blob = Repository::open(repo.path()).unwrap().blob(b"content\n").unwrap();
        let source = repo.source();
        let cases: [&[(&str, &[u8], Oid)]; 4] = [
            &[("100644", b"b.yaml", blob), ("100644", b"a.yaml", blob)],
            &[("100644", b"a.yaml", blob), ("100644", b"a.yaml", blob)],
            &[("100644", b"a/b.yaml", blob)],
            &[("100644", b"..", blob)],
        ];
        for entries in cases {
            let tip = commit_raw_requests(&repo, None, entries);
            let result = source.history(&tip, &watch());
            assert!(
                matches!(result, Err(SourceError::Malformed { ref id, .. }) if *id == tip.0),
                "{result:?}"
            );
        }

        // Well-formed, with a name that is not UTF-8: it cannot be addressed, so it is skipped.
        let tip =
            commit_raw_requests(&repo, None, &[("100644", b"a.yaml", blob), ("100644", b"\xff.yaml", blob)]);
        let history = source.history(&tip, &watch()).unwrap();
        assert_eq!(paths(&history[0]), ["requests/a.yaml"]);
    }

    #[test]
    fn ids_that_differ_only_in_their_last_byte_are_a_change() {
        let repo = TestRepo::new();
        let id = |last: u8| {
            let mut bytes = [0x11; 20];
            bytes[19] = last;
            Oid::from_bytes(&bytes).unwrap()
        };
        let (same, before, after) = (id(0x01), id(0x02), id(0x03));
        let parent = commit_raw_requests(
            &repo,
            None,
            &[("100644", b"a.yaml", same), ("100644", b"b.yaml", before), ("100644", b"c.yaml", same)],
        );
        let tip = commit_raw_requests(
            &repo,
            Some(&parent),
            &[("100644", b"a.yaml", same), ("100644", b"b.yaml", after), ("100644", b"c.yaml", same)],
        );
        let history = repo.source().history(&tip, &watch()).unwrap();
        let hex = |oid: Oid| ObjectId(oid.to_string());
        assert_eq!(history[1].changes, [change("requests/b.yaml", file(&hex(before)), file(&hex(after)))]);
    }

    #[test]
    fn absurdly_deep_trees_are_refused_without_exhausting_the_stack() {
        let repo = TestRepo::new();
        let git = Repository::open(repo.path()).unwrap();
        let blob = git.blob(b"deep\n").unwrap();
        let mut tree = {
            let mut builder = git.treebuilder(None).unwrap();
            builder.insert("a.yaml", blob, MODE_FILE).unwrap();
            builder.write().unwrap()
        };
        for _ in 0..MAX_TREE_DEPTH + 10 {
            let mut builder = git.treebuilder(None).unwrap();
            builder.insert("d", tree, MODE_TREE).unwrap();
            tree = builder.write().unwrap();
        }
        let mut root = git.treebuilder(None).unwrap();
        root.insert("requests", tree, MODE_TREE).unwrap();
        let root = git.find_tree(root.write().unwrap()).unwrap();
        let signature = git2::Signature::new("Ada", "ada@example.com", &git2::Time::new(START, 0)).unwrap();
        let tip = git.commit(None, &signature, &signature, "deep", &root, &[]).unwrap();
        let result = repo.source().history(&ObjectId(tip.to_string()), &watch());
        assert!(
            matches!(&result, Err(SourceError::Malformed { problem, .. }) if problem.contains("nested")),
            "{result:?}"
        );
    }

    #[test]
    fn missing_objects_and_bad_ids_are_errors() {
        let repo = TestRepo::new();
        repo.write("requests/a.yaml", "a\n");
        repo.commit("One");
        let source = repo.source();
        for tip in [ObjectId("0".repeat(40)), ObjectId("HEAD".into()), repo.rev("HEAD:requests/a.yaml")] {
            assert!(matches!(source.history(&tip, &watch()), Err(SourceError::Object { .. })), "{tip}");
        }
    }

    /// A small deterministic generator, so that the history below needs no dependency.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    /// Parses `git log --raw` into (commit, changes of watched paths), newest first.
    fn git_log_oracle(repo: &TestRepo) -> Vec<(ObjectId, Vec<PathChange>)> {
        let log = repo.git(&[
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--root",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            "--format=commit %H",
            "main",
        ]);
        let side = |mode: &str, id: &str| {
            let kind = match mode {
                "000000" => return None,
                "100644" => EntryKind::File,
                "100755" => EntryKind::Executable,
                "120000" => EntryKind::Symlink,
                _ => EntryKind::Other,
            };
            Some(TreeEntry { id: ObjectId(id.to_owned()), kind })
        };
        let mut commits: Vec<(ObjectId, Vec<PathChange>)> = Vec::new();
        for line in log.lines() {
            if let Some(id) = line.strip_prefix("commit ") {
                commits.push((ObjectId(id.to_owned()), Vec::new()));
            } else if let Some(raw) = line.strip_prefix(':') {
                let (meta, path) = raw.split_once('\t').unwrap();
                let fields: Vec<&str> = meta.split(' ').collect();
                let watched =
                    path == "tenure.yaml" || path.starts_with("catalog/") || path.starts_with("requests/");
                if watched {
                    let (before, after) = (side(fields[0], fields[2]), side(fields[1], fields[3]));
                    commits.last_mut().unwrap().1.push(PathChange { path: path.to_owned(), before, after });
                }
            }
        }
        for (_, changes) in &mut commits {
            changes.sort_by(|a, b| a.path.cmp(&b.path));
        }
        commits
    }

    #[test]
    fn history_agrees_with_git_log_on_a_random_history() {
        const PATHS: [&str; 16] = [
            "tenure.yaml",
            "catalog/a.yaml",
            "catalog/deep/b.yaml",
            "requests/x.yaml",
            "requests/x.yaml-",
            "requests/team/y.yaml",
            "requests/team/deep/z.yaml",
            "requests/flip",
            "requests/flip/inner.yaml",
            "requests/flip/more/leaf.yaml",
            "README.md",
            "src/requests/fake.yaml",
            "catalog.yaml",
            "requestsx/a.yaml",
            "tenure.yaml.bak",
            "catalog/flip.yaml",
        ];
        let repo = TestRepo::new();
        let mut rng = Lcg(7);
        repo.write("tenure.yaml", "seed\n");
        // A wide directory, so that changes land inside long runs of unchanged entries.
        let bulk: Vec<String> = (0..60).map(|n| format!("requests/bulk/f{n:02}.yaml")).collect();
        for path in &bulk {
            repo.write(path, "bulk\n");
        }
        let pick = |rng: &mut Lcg| -> String {
            if rng.below(3) == 0 {
                bulk[rng.below(bulk.len())].clone()
            } else {
                PATHS[rng.below(PATHS.len())].to_owned()
            }
        };
        repo.commit("seed");
        for round in 0..70 {
            if round % 11 == 10 {
                repo.git(&["checkout", "-q", "-b", "side"]);
                repo.write(&format!("requests/side/{round}.yaml"), "side\n");
                repo.commit("side one");
                repo.write(&format!("requests/side/{round}.yaml"), "side two\n");
                repo.write("requests/side/common.yaml", &format!("{round}\n"));
                repo.commit("side two");
                repo.git(&["checkout", "-q", "main"]);
                repo.git(&["merge", "-q", "--no-ff", "--no-edit", "side"]);
                repo.git(&["branch", "-q", "-D", "side"]);
                continue;
            }
            for _ in 0..=rng.below(3) {
                let rel = pick(&mut rng);
                let rel = rel.as_str();
                let full = repo.path().join(rel);
                match rng.below(6) {
                    0 | 1 => {
                        // Clear whatever stands in the way: a file where a directory must be,
                        // or a directory where the file must be.
                        let mut ancestor = full.parent();
                        while let Some(dir) = ancestor.filter(|d| d.starts_with(repo.path())) {
                            if dir.is_file() || dir.is_symlink() {
                                fs::remove_file(dir).unwrap();
                            }
                            ancestor = dir.parent();
                        }
                        if full.is_dir() {
                            fs::remove_dir_all(&full).unwrap();
                        }
                        repo.write(rel, &format!("{round} {}\n", rng.below(3)));
                    }
                    2 if full.is_file() && !full.is_symlink() => {
                        let mode = fs::metadata(&full).unwrap().permissions().mode();
                        repo.chmod(rel, if mode & 0o100 == 0 { 0o755 } else { 0o644 });
                    }
                    3 if full.exists() || full.is_symlink() => repo.remove(rel),
                    4 if full.is_file() && !full.is_symlink() => {
                        let target = pick(&mut rng);
                        let to = repo.path().join(target);
                        if to.symlink_metadata().is_err() && to.parent().is_some_and(|p| p.is_dir()) {
                            fs::rename(&full, &to).unwrap();
                        }
                    }
                    5 if !full.exists()
                        && !full.is_symlink()
                        && full.parent().is_some_and(|p| p.is_dir()) =>
                    {
                        std::os::unix::fs::symlink(format!("target-{round}"), &full).unwrap();
                    }
                    _ => {}
                }
            }
            repo.commit(&format!("round {round}"));
        }

        let history = repo.history();
        let mut oracle = git_log_oracle(&repo);
        oracle.reverse();
        let ours: Vec<(ObjectId, Vec<PathChange>)> =
            history.into_iter().map(|record| (record.id, record.changes)).collect();
        assert_eq!(ours.len(), oracle.len());
        let changed = ours.iter().filter(|(_, changes)| !changes.is_empty()).count();
        assert!(changed > 30, "the generator should change watched paths often, got {changed}");
        let kinds_seen = ours.iter().flat_map(|(_, c)| c).filter_map(|c| c.after.as_ref()).map(|e| e.kind);
        assert!(kinds_seen.clone().any(|k| k == EntryKind::Symlink));
        assert!(kinds_seen.clone().any(|k| k == EntryKind::Executable));
        for (mine, theirs) in ours.iter().zip(&oracle) {
            assert_eq!(mine, theirs);
        }
    }
}
