//! The github forge: approvals are the reviews of the merged pull request that landed a
//! change commit on the branch (rule 2, docs/rules.md; docs/github-forge.md).
//!
//! For each change commit it asks GitHub which pull requests contain the commit, keeps the
//! one merged into the branch whose merge really produced this commit (merge, squash or
//! rebase), and reads its reviews: per reviewer (by numeric id, never by login) the latest
//! APPROVED, CHANGES_REQUESTED or DISMISSED review stands, and it counts only if it approves
//! the pull request's final head, comes from a `User` and not from the author. The content
//! that landed must be the content at that head, or the path is unreviewed.
//!
//! Facts about merged pull requests never change, so they are kept in an evidence cache
//! keyed by commit: a repeat run makes no pull-request or review calls for commits already
//! judged. "No pull request" is cached only for commits over an hour old, since GitHub links
//! commits to pull requests with some delay. The cache file names its format version,
//! repository and branch and is validated on every read; a file that fails is ignored and
//! rebuilt, never trusted. The local clone is read through [`LocalRepo`], so that `source`
//! stays the only git2 user and this stays the only forge that talks to a network.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChangeReview, Forge, ForgeError, PullRequestRef, ReviewStatus};
use crate::github::{self, Client, GithubError};
use crate::model::{CommitRecord, Login, ObjectId};

/// The cache file format; a file of another version is ignored and rebuilt.
const CACHE_VERSION: u32 = 1;

/// How old a commit must be before "no pull request" about it may be cached.
const NO_PULL_CACHE_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// What the forge needs from the local clone.
pub trait LocalRepo {
    /// The parents of a commit, or `None` when the clone does not hold it.
    fn parents(&self, commit: &ObjectId) -> Result<Option<Vec<ObjectId>>, String>;
    /// The blob id at `path` in a commit the clone holds; `None` when there is none.
    fn blob_at(&self, commit: &ObjectId, path: &str) -> Result<Option<ObjectId>, String>;
}

/// A GitHub account as tenure records it: the id decides, the login is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    id: u64,
    login: String,
    /// GitHub's `type`: `User`, `Bot`, `Organization`, …
    kind: String,
}

/// A reviewer's standing review: the latest APPROVED, CHANGES_REQUESTED or DISMISSED one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    reviewer: Account,
    state: String,
    commit_id: Option<String>,
}

/// The facts about a merged pull request that decide a change commit's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullFacts {
    number: u64,
    url: String,
    author: Account,
    head_sha: String,
    base: String,
    merged_at: DateTime<Utc>,
    /// When the pull request was opened; absent in caches written before it was recorded.
    #[serde(default)]
    opened_at: Option<DateTime<Utc>>,
    merge_commit_sha: Option<String>,
    /// The deciding review of each reviewer.
    reviews: Vec<Verdict>,
    /// Blob ids at the head, from the contents API (the clone lacked the head commit);
    /// `None` where the head has no file at the path.
    head_blobs: BTreeMap<String, Option<String>>,
}

/// What is known about one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Judged {
    // Boxed: most cached commits are pull requests, but a `NoPull` need not pay for one.
    Pull(Box<PullFacts>),
    NoPull { reason: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    version: u32,
    repository: String,
    branch: String,
    commits: BTreeMap<String, Judged>,
}

/// The evidence cache of one repository and branch.
#[derive(Debug)]
struct Cache {
    path: Option<PathBuf>,
    file: CacheFile,
    dirty: bool,
}

impl Cache {
    fn open(dir: Option<&Path>, repository: &str, branch: &str, owner: &str, name: &str) -> Cache {
        let empty = CacheFile {
            version: CACHE_VERSION,
            repository: repository.to_owned(),
            branch: branch.to_owned(),
            commits: BTreeMap::new(),
        };
        let Some(dir) = dir else { return Cache { path: None, file: empty, dirty: false } };
        let path = dir.join(cache_file_name(owner, name));
        let (file, dirty) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(file) if valid_cache(&file, repository, branch) => (file, false),
                // Corrupt, foreign or tampered: ignored and rebuilt, never trusted.
                _ => (empty, true),
            },
            Err(_) => (empty, false),
        };
        Cache { path: Some(path), file, dirty }
    }

    fn get(&self, commit: &str) -> Option<&Judged> {
        self.file.commits.get(commit)
    }

    fn put(&mut self, commit: &str, judged: Judged) {
        if self.file.commits.get(commit) != Some(&judged) {
            self.file.commits.insert(commit.to_owned(), judged);
            self.dirty = true;
        }
    }

    /// Writes the cache atomically.
    fn save(&mut self) -> Result<(), ForgeError> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let fail = |detail: String| ForgeError::Cache { path: path.clone(), detail };
        let bytes = serde_json::to_vec_pretty(&self.file).map_err(|error| fail(error.to_string()))?;
        crate::atomic::write(path, &bytes).map_err(|error| fail(error.to_string()))?;
        self.dirty = false;
        Ok(())
    }
}

/// The cache file of a repository, inside the cache directory.
pub fn cache_file_name(owner: &str, name: &str) -> String {
    format!("github-{}--{}.json", owner.to_ascii_lowercase(), name.to_ascii_lowercase())
}

fn is_sha(text: &str) -> bool {
    github::sha_segment(text).is_ok()
}

/// Every field that the judgement or a URL uses must have its expected shape.
fn valid_cache(file: &CacheFile, repository: &str, branch: &str) -> bool {
    let account = |a: &Account| crate::model::is_valid_login(&a.login) && !a.kind.is_empty();
    file.version == CACHE_VERSION
        && file.repository.eq_ignore_ascii_case(repository)
        && file.branch == branch
        && file.commits.iter().all(|(commit, judged)| {
            is_sha(commit)
                && match judged {
                    Judged::NoPull { .. } => true,
                    Judged::Pull(facts) => {
                        account(&facts.author)
                            && is_sha(&facts.head_sha)
                            && facts.base == branch
                            && facts.merge_commit_sha.as_deref().is_none_or(is_sha)
                            && facts.reviews.iter().all(|verdict| {
                                account(&verdict.reviewer)
                                    && matches!(
                                        verdict.state.as_str(),
                                        "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
                                    )
                                    && verdict.commit_id.as_deref().is_none_or(is_sha)
                            })
                            && facts.head_blobs.iter().all(|(path, blob)| {
                                github::file_path_segments(path).is_ok() && blob.as_deref().is_none_or(is_sha)
                            })
                    }
                }
        })
}

/// GitHub's user object, as far as tenure reads it.
#[derive(Debug, Deserialize)]
struct ApiUser {
    login: String,
    id: u64,
    #[serde(rename = "type")]
    kind: String,
}

impl ApiUser {
    fn account(self) -> Account {
        Account { id: self.id, login: self.login, kind: self.kind }
    }
}

#[derive(Debug, Deserialize)]
struct ApiRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

#[derive(Debug, Deserialize)]
struct ApiPull {
    number: u64,
    html_url: String,
    user: Option<ApiUser>,
    head: ApiRef,
    base: ApiRef,
    merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    merge_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiPullDetail {
    commits: u64,
}

#[derive(Debug, Deserialize)]
struct ApiReview {
    user: Option<ApiUser>,
    state: String,
    commit_id: Option<String>,
}

/// The GitHub forge of one repository.
pub struct GithubForge<'a> {
    client: Client,
    owner: String,
    name: String,
    branch: String,
    local: &'a dyn LocalRepo,
    /// Positions of the branch's first-parent commits, oldest first.
    positions: HashMap<String, usize>,
    cache: Cache,
    wall_clock: DateTime<Utc>,
    verdicts: HashMap<u64, Vec<Verdict>>,
    /// `commits` of pull requests merged by a rebase, once per run.
    pull_commits: HashMap<u64, u64>,
    teams: BTreeMap<(String, String), BTreeSet<Login>>,
}

impl std::fmt::Debug for GithubForge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubForge")
            .field("repository", &format_args!("{}/{}", self.owner, self.name))
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

/// How to build a [`GithubForge`].
pub struct Options<'a> {
    /// `owner/name`.
    pub repository: &'a str,
    /// The branch whose history is the truth.
    pub branch: &'a str,
    /// The branch's first-parent history, oldest first.
    pub history: &'a [CommitRecord],
    /// The local clone.
    pub local: &'a dyn LocalRepo,
    /// The evidence cache directory; `None` for no cache.
    pub cache_dir: Option<PathBuf>,
    /// The real time, to decide whether a commit is old enough to cache "no pull request".
    pub wall_clock: DateTime<Utc>,
}

impl<'a> GithubForge<'a> {
    /// A forge over an already connected client.
    pub fn new(client: Client, options: Options<'a>) -> Result<GithubForge<'a>, ForgeError> {
        let (owner, name) = github::repository_segments(options.repository)?;
        Ok(GithubForge {
            client,
            owner: owner.to_owned(),
            name: name.to_owned(),
            branch: options.branch.to_owned(),
            local: options.local,
            positions: options
                .history
                .iter()
                .enumerate()
                .map(|(index, record)| (record.id.0.clone(), index))
                .collect(),
            cache: Cache::open(options.cache_dir.as_deref(), options.repository, options.branch, owner, name),
            wall_clock: options.wall_clock,
            verdicts: HashMap::new(),
            pull_commits: HashMap::new(),
            teams: BTreeMap::new(),
        })
    }

    fn repo_route(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }

    /// The merged pull request that landed `commit`, or why there is none.
    fn find_pull(&mut self, commit: &CommitRecord) -> Result<Result<PullFacts, String>, ForgeError> {
        let sha = github::sha_segment(&commit.id.0)?;
        let pulls: Vec<ApiPull> =
            self.client.all_pages(&format!("{}/commits/{sha}/pulls", self.repo_route()), &[])?;
        if pulls.is_empty() {
            return Ok(Err(format!(
                "no pull request contains commit {} (a direct push?)",
                commit.id.short()
            )));
        }
        let mut landed = Vec::new();
        let mut why_not = Vec::new();
        for pull in pulls {
            if pull.merged_at.is_none() {
                why_not.push(format!("#{} is not merged", pull.number));
            } else if pull.base.name != self.branch {
                why_not.push(format!(
                    "#{} was merged into `{}`, not `{}`",
                    pull.number, pull.base.name, self.branch
                ));
            } else if !is_sha(&pull.head.sha) {
                why_not.push(format!("#{} has no valid head sha", pull.number));
            } else {
                match self.landing_check(commit, &pull)? {
                    Ok(()) => landed.push(pull),
                    Err(why) => why_not.push(why),
                }
            }
        }
        if landed.len() > 1 {
            let numbers: Vec<String> = landed.iter().map(|pull| format!("#{}", pull.number)).collect();
            return Ok(Err(format!(
                "several merged pull requests ({}) claim commit {}; tenure will not choose",
                numbers.join(", "),
                commit.id.short()
            )));
        }
        let Some(pull) = landed.pop() else {
            return Ok(Err(format!(
                "commit {} was not landed by a pull request merged into `{}`: {}",
                commit.id.short(),
                self.branch,
                why_not.join("; ")
            )));
        };
        let Some(author) = pull.user else {
            return Ok(Err(format!("pull request #{} has no author", pull.number)));
        };
        let reviews = self.verdicts(pull.number)?;
        Ok(Ok(PullFacts {
            number: pull.number,
            url: pull.html_url,
            author: author.account(),
            head_sha: pull.head.sha.to_ascii_lowercase(),
            base: pull.base.name,
            merged_at: pull.merged_at.unwrap_or(commit.committed_at),
            opened_at: pull.created_at,
            merge_commit_sha: pull.merge_commit_sha,
            reviews,
            head_blobs: BTreeMap::new(),
        }))
    }

    /// Whether `commit` is what merging `pull` put on the branch (docs/github-forge.md).
    fn landing_check(
        &mut self,
        commit: &CommitRecord,
        pull: &ApiPull,
    ) -> Result<Result<(), String>, ForgeError> {
        let number = pull.number;
        let merge_sha = pull.merge_commit_sha.as_deref().map(str::to_ascii_lowercase);
        let is_this = merge_sha.as_deref() == Some(commit.id.0.as_str());
        if commit.parent_count >= 2 {
            if !is_this {
                return Ok(Err(format!("#{number} did not produce this merge commit")));
            }
            let parents = self.local.parents(&commit.id).map_err(ForgeError::Local)?.unwrap_or_default();
            if parents.get(1).map(|parent| parent.0.as_str())
                != Some(pull.head.sha.to_ascii_lowercase().as_str())
            {
                return Ok(Err(format!("the merge commit's second parent is not #{number}'s head")));
            }
            return Ok(Ok(()));
        }
        if is_this {
            // A squash, or a rebase of a single commit.
            return Ok(Ok(()));
        }
        // A rebase of several commits: the commit must lie within the pull request's commits,
        // counted back along the branch from where the rebase left it.
        let (Some(merge_sha), Some(&here)) = (merge_sha, self.positions.get(&commit.id.0)) else {
            return Ok(Err(format!("#{number} was not merged by this commit")));
        };
        let Some(&tip) = self.positions.get(&merge_sha) else {
            return Ok(Err(format!("#{number}'s merge commit is not on `{}`", self.branch)));
        };
        if tip < here {
            return Ok(Err(format!("#{number} was merged before this commit")));
        }
        let commits = match self.pull_commits.get(&number) {
            Some(&commits) => commits,
            None => {
                let detail: ApiPullDetail =
                    self.client.get(&format!("{}/pulls/{number}", self.repo_route()), &[])?;
                self.pull_commits.insert(number, detail.commits);
                detail.commits
            }
        };
        if (tip - here) as u64 >= commits {
            return Ok(Err(format!("this commit is not one of #{number}'s {commits} rebased commits")));
        }
        Ok(Ok(()))
    }

    /// The deciding review of each reviewer of a pull request, once per run.
    fn verdicts(&mut self, number: u64) -> Result<Vec<Verdict>, ForgeError> {
        if let Some(verdicts) = self.verdicts.get(&number) {
            return Ok(verdicts.clone());
        }
        let reviews: Vec<ApiReview> =
            self.client.all_pages(&format!("{}/pulls/{number}/reviews", self.repo_route()), &[])?;
        let verdicts = deciding_reviews(reviews);
        self.verdicts.insert(number, verdicts.clone());
        Ok(verdicts)
    }

    /// The blob id of `path` at `head` from the contents API; `None` if the head has no file
    /// there.
    fn content_blob(&self, path: &str, head: &str) -> Result<Option<String>, ForgeError> {
        let Ok(encoded) = github::file_path_segments(path) else { return Ok(None) };
        let route = format!("{}/contents/{encoded}", self.repo_route());
        let value: Option<serde_json::Value> = self.client.get_optional(&route, &[("ref", head)])?;
        // A directory answers with an array, a submodule with type `submodule`: no file.
        let blob = value.and_then(|value| {
            let kind = value.get("type")?.as_str()?;
            let sha = value.get("sha")?.as_str()?;
            (matches!(kind, "file" | "symlink") && is_sha(sha)).then(|| sha.to_ascii_lowercase())
        });
        Ok(blob)
    }

    /// Paths of `commit` whose landed content is not the content at the pull request's head.
    fn unreviewed_paths(
        &self,
        commit: &CommitRecord,
        facts: &mut PullFacts,
    ) -> Result<BTreeSet<String>, ForgeError> {
        let head = ObjectId(facts.head_sha.clone());
        let local_head = self.local.parents(&head).map_err(ForgeError::Local)?.is_some();
        let mut unreviewed = BTreeSet::new();
        for change in &commit.changes {
            let landed = change.after.as_ref().map(|entry| entry.id.0.to_ascii_lowercase());
            let at_head = if local_head {
                self.local.blob_at(&head, &change.path).map_err(ForgeError::Local)?.map(|id| id.0)
            } else if let Some(cached) = facts.head_blobs.get(&change.path) {
                cached.clone()
            } else {
                let blob = self.content_blob(&change.path, &facts.head_sha)?;
                facts.head_blobs.insert(change.path.clone(), blob.clone());
                blob
            };
            if at_head != landed {
                unreviewed.insert(change.path.clone());
            }
        }
        Ok(unreviewed)
    }
}

/// Per reviewer, keyed by numeric id, the latest review that takes a position; COMMENTED and
/// PENDING reviews take none. GitHub lists reviews in chronological order.
fn deciding_reviews(reviews: Vec<ApiReview>) -> Vec<Verdict> {
    let mut latest: BTreeMap<u64, Verdict> = BTreeMap::new();
    for review in reviews {
        let Some(user) = review.user else { continue };
        let state = review.state.to_ascii_uppercase();
        if !matches!(state.as_str(), "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            continue;
        }
        let commit_id = review.commit_id.map(|sha| sha.to_ascii_lowercase()).filter(|sha| is_sha(sha));
        latest.insert(user.id, Verdict { reviewer: user.account(), state, commit_id });
    }
    latest.into_values().collect()
}

/// The review that a pull request's facts give a change.
fn judge(facts: &PullFacts, unreviewed_paths: BTreeSet<String>) -> ChangeReview {
    let pull_request = Some(PullRequestRef { number: facts.number, url: facts.url.clone() });
    let Some(proposer) = Login::parse(&facts.author.login) else {
        let mut review = ChangeReview::not_reviewed(format!(
            "pull request #{}'s author `{}` is not a valid login",
            facts.number, facts.author.login
        ));
        review.pull_request = pull_request;
        return review;
    };
    let mut approvers: Vec<Login> = Vec::new();
    for verdict in &facts.reviews {
        let counts = verdict.state == "APPROVED"
            && verdict.commit_id.as_deref() == Some(facts.head_sha.as_str())
            && verdict.reviewer.id != facts.author.id
            && verdict.reviewer.kind == "User";
        if let (true, Some(login)) = (counts, Login::parse(&verdict.reviewer.login))
            && !approvers.contains(&login)
        {
            approvers.push(login);
        }
    }
    let status = if approvers.is_empty() {
        ReviewStatus::NoApprovals(format!(
            "pull request #{} has no standing approval of its final head {}",
            facts.number,
            &facts.head_sha[..facts.head_sha.len().min(12)]
        ))
    } else {
        ReviewStatus::Reviewed
    };
    ChangeReview {
        status,
        proposer: Some(proposer),
        approvers,
        merged_at: Some(facts.merged_at),
        opened_at: facts.opened_at,
        pull_request,
        unreviewed_paths,
    }
}

impl Forge for GithubForge<'_> {
    fn review(&mut self, commit: &CommitRecord) -> Result<ChangeReview, ForgeError> {
        let sha = commit.id.0.clone();
        let mut facts = match self.cache.get(&sha) {
            Some(Judged::Pull(facts)) => (**facts).clone(),
            Some(Judged::NoPull { reason }) => return Ok(ChangeReview::not_reviewed(reason.clone())),
            None => match self.find_pull(commit)? {
                Ok(facts) => facts,
                Err(reason) => {
                    if self.wall_clock.signed_duration_since(commit.committed_at) > NO_PULL_CACHE_AGE {
                        self.cache.put(&sha, Judged::NoPull { reason: reason.clone() });
                    }
                    return Ok(ChangeReview::not_reviewed(reason));
                }
            },
        };
        let unreviewed = self.unreviewed_paths(commit, &mut facts)?;
        let review = judge(&facts, unreviewed);
        self.cache.put(&sha, Judged::Pull(Box::new(facts)));
        Ok(review)
    }

    fn team_members(&mut self, org: &str, slug: &str) -> Result<Option<BTreeSet<Login>>, ForgeError> {
        let key = (org.to_ascii_lowercase(), slug.to_ascii_lowercase());
        if let Some(members) = self.teams.get(&key) {
            return Ok(Some(members.clone()));
        }
        let org = github::login_segment("organization", &key.0)?;
        let slug = github::slug_segment(&key.1)?;
        // Members of child teams are members too (`inherited`), and so are maintainers.
        let route = format!("/orgs/{org}/teams/{slug}/members");
        let members: Vec<ApiUser> = match self.client.all_pages(&route, &[("role", "all")]) {
            Ok(members) => members,
            // No such team, or one the token cannot see: it has no members tenure can vouch for.
            Err(error) if error.status() == Some(404) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        let members: BTreeSet<Login> = members
            .into_iter()
            .filter(|member| member.kind == "User")
            .filter_map(|member| Login::parse(&member.login))
            .collect();
        self.teams.insert(key, members.clone());
        Ok(Some(members))
    }

    fn finish(&mut self) -> Result<(), ForgeError> {
        self.cache.save()
    }
}

/// An open pull request, judged as if it were merged now (`check --pr`).
#[derive(Debug, Clone)]
pub struct OpenPull {
    /// The number.
    pub number: u64,
    /// The web address.
    pub url: String,
    /// The author's login.
    pub author: String,
    /// The head commit.
    pub head: ObjectId,
    /// The branch it would merge into.
    pub base: String,
    /// `open`, or `closed` (merged or not).
    pub state: String,
    /// The review that merging it now would carry: its standing approvals of its head.
    pub review: ChangeReview,
}

/// Reads pull request `number` and its reviews, and builds the review that a merge at `now`
/// would carry. The rules are those of a merged pull request: per reviewer the latest
/// position stands, and only approvals of the current head by other users count.
pub fn open_pull(
    client: &Client,
    repository: &str,
    number: u64,
    now: DateTime<Utc>,
) -> Result<OpenPull, ForgeError> {
    let (owner, name) = github::repository_segments(repository)?;
    let route = format!("/repos/{owner}/{name}/pulls/{number}");
    let pull: ApiOpenPull = client.get(&route, &[])?;
    let invalid = |what: &str| {
        ForgeError::Github(GithubError::Request {
            route: route.clone(),
            detail: format!("the answer has {what}"),
        })
    };
    if !is_sha(&pull.head.sha) {
        return Err(invalid("no valid head sha"));
    }
    let author = pull.user.ok_or_else(|| invalid("no author"))?;
    let reviews: Vec<ApiReview> = client.all_pages(&format!("{route}/reviews"), &[])?;
    let facts = PullFacts {
        number: pull.number,
        url: pull.html_url.clone(),
        author: author.account(),
        head_sha: pull.head.sha.to_ascii_lowercase(),
        base: pull.base.name.clone(),
        merged_at: now,
        opened_at: None,
        merge_commit_sha: None,
        reviews: deciding_reviews(reviews),
        head_blobs: BTreeMap::new(),
    };
    let review = judge(&facts, BTreeSet::new());
    Ok(OpenPull {
        number: pull.number,
        url: pull.html_url,
        author: facts.author.login.clone(),
        head: ObjectId(facts.head_sha.clone()),
        base: facts.base.clone(),
        state: pull.state,
        review,
    })
}

#[derive(Debug, Deserialize)]
struct ApiOpenPull {
    number: u64,
    html_url: String,
    state: String,
    user: Option<ApiUser>,
    head: ApiRef,
    base: ApiRef,
}

#[derive(Debug, Deserialize)]
struct ApiComment {
    id: u64,
    body: Option<String>,
    user: Option<ApiUser>,
}

/// What became of the sticky comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sticky {
    /// A new comment was posted.
    Created(u64),
    /// The existing comment was rewritten.
    Updated(u64),
}

/// Creates or updates the one comment on pull request `number` whose body starts with
/// `marker`. Only a comment by a bot account (Actions' `GITHUB_TOKEN` or a GitHub App, which
/// is how tenure comments) is taken as tenure's: anyone can write the marker into a comment
/// of their own, and tenure must neither rewrite theirs nor let it pass for its report.
pub fn sticky_comment(
    client: &Client,
    repository: &str,
    number: u64,
    marker: &str,
    body: &str,
) -> Result<Sticky, ForgeError> {
    let (owner, name) = github::repository_segments(repository)?;
    let route = format!("/repos/{owner}/{name}/issues/{number}/comments");
    let comments: Vec<ApiComment> = client.all_pages(&route, &[])?;
    let ours = comments.into_iter().find(|comment| {
        comment.body.as_deref().is_some_and(|text| text.starts_with(marker))
            && comment.user.as_ref().is_some_and(|user| user.kind == "Bot")
    });
    let payload = serde_json::json!({ "body": body });
    match ours {
        Some(comment) => {
            let _: serde_json::Value =
                client.patch(&format!("/repos/{owner}/{name}/issues/comments/{}", comment.id), &payload)?;
            Ok(Sticky::Updated(comment.id))
        }
        None => {
            let created: ApiComment = client.post(&route, &payload)?;
            Ok(Sticky::Created(created.id))
        }
    }
}

impl From<GithubError> for ForgeError {
    fn from(error: GithubError) -> Self {
        ForgeError::Github(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u64, login: &str, kind: &str) -> Account {
        Account { id, login: login.into(), kind: kind.into() }
    }

    fn review(id: u64, login: &str, kind: &str, state: &str, commit: &str) -> ApiReview {
        ApiReview {
            user: Some(ApiUser { login: login.into(), id, kind: kind.into() }),
            state: state.into(),
            commit_id: Some(commit.into()),
        }
    }

    const HEAD: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";

    fn facts(reviews: Vec<ApiReview>) -> PullFacts {
        PullFacts {
            number: 7,
            url: "https://github.com/acme/access/pull/7".into(),
            author: account(1, "alice", "User"),
            head_sha: HEAD.into(),
            base: "main".into(),
            merged_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
            opened_at: None,
            merge_commit_sha: None,
            reviews: deciding_reviews(reviews),
            head_blobs: BTreeMap::new(),
        }
    }

    fn approvers(review: &ChangeReview) -> Vec<&str> {
        review.approvers.iter().map(Login::as_str).collect()
    }

    #[test]
    fn the_latest_opinion_of_each_reviewer_stands() {
        let judged = judge(
            &facts(vec![
                review(2, "carol", "User", "APPROVED", HEAD),
                review(2, "carol", "User", "CHANGES_REQUESTED", HEAD),
                review(3, "bob", "User", "CHANGES_REQUESTED", HEAD),
                review(3, "bob", "User", "approved", HEAD),
                review(3, "bob", "User", "COMMENTED", HEAD),
                review(4, "dave", "User", "APPROVED", HEAD),
                review(4, "dave", "User", "DISMISSED", HEAD),
                review(5, "erin", "User", "APPROVED", HEAD),
                review(5, "erin", "User", "PENDING", HEAD),
            ]),
            BTreeSet::new(),
        );
        assert_eq!(approvers(&judged), ["bob", "erin"]);
        assert_eq!(judged.status, ReviewStatus::Reviewed);
        assert_eq!(judged.proposer.as_ref().map(Login::as_str), Some("alice"));
    }

    #[test]
    fn stale_self_and_bot_approvals_do_not_count() {
        let judged = judge(
            &facts(vec![
                review(2, "carol", "User", "APPROVED", OLD),
                review(1, "alice", "User", "APPROVED", HEAD),
                review(9, "deploy-bot", "Bot", "APPROVED", HEAD),
            ]),
            BTreeSet::new(),
        );
        assert!(judged.approvers.is_empty(), "{judged:?}");
        assert!(matches!(judged.status, ReviewStatus::NoApprovals(_)));
    }

    #[test]
    fn a_renamed_login_is_the_same_reviewer() {
        // Keyed by id: the approval under the old login is withdrawn by the new one.
        let judged = judge(
            &facts(vec![
                review(2, "carol", "User", "APPROVED", HEAD),
                review(2, "carol-new", "User", "CHANGES_REQUESTED", HEAD),
            ]),
            BTreeSet::new(),
        );
        assert!(judged.approvers.is_empty());
    }

    fn sample_cache() -> CacheFile {
        let mut commits = BTreeMap::new();
        commits.insert(
            HEAD.to_owned(),
            Judged::Pull(Box::new(facts(vec![review(2, "carol", "User", "APPROVED", HEAD)]))),
        );
        CacheFile { version: CACHE_VERSION, repository: "acme/access".into(), branch: "main".into(), commits }
    }

    #[test]
    fn the_cache_is_validated_on_read() {
        let good = sample_cache();
        assert!(valid_cache(&good, "ACME/access", "main"));
        assert!(!valid_cache(&good, "acme/other", "main"));
        assert!(!valid_cache(&good, "acme/access", "release"));
        let mut old = sample_cache();
        old.version = 0;
        assert!(!valid_cache(&old, "acme/access", "main"));
        let mut bad_login = sample_cache();
        if let Some(Judged::Pull(facts)) = bad_login.commits.values_mut().next() {
            facts.reviews[0].reviewer.login = "../../x".into();
        }
        assert!(!valid_cache(&bad_login, "acme/access", "main"));
        let mut bad_state = sample_cache();
        if let Some(Judged::Pull(facts)) = bad_state.commits.values_mut().next() {
            facts.reviews[0].state = "COMMENTED".into();
        }
        assert!(!valid_cache(&bad_state, "acme/access", "main"));
    }

    #[test]
    fn the_cache_round_trips_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(Some(dir.path()), "acme/access", "main", "acme", "access");
        assert!(cache.get(HEAD).is_none());
        cache.put(HEAD, Judged::NoPull { reason: "direct push".into() });
        cache.save().unwrap();
        let again = Cache::open(Some(dir.path()), "acme/access", "main", "acme", "access");
        assert_eq!(again.get(HEAD), Some(&Judged::NoPull { reason: "direct push".into() }));
        let path = again.path.clone().unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let rebuilt = Cache::open(Some(dir.path()), "acme/access", "main", "acme", "access");
        assert!(rebuilt.get(HEAD).is_none());
        assert!(rebuilt.dirty, "a corrupt cache is rewritten");
    }
}
