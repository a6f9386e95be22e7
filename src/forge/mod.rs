//! Forges: where the approvals of a change come from (rule 2, docs/rules.md).
//!
//! A forge turns a change commit into a [`ChangeReview`]: who proposed it, who
//! approved it, when it was merged, and whether it was reviewed at all. The
//! core judges requests from these values alone, so it never knows whether they
//! came from commit trailers or from pull-request reviews. The git forge reads
//! trailers and does no I/O beyond what `source` already read; the github forge
//! is the only forge that talks to a network.

pub mod git;
pub mod github;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{CommitRecord, Login};

/// A pull request that carried a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestRef {
    /// The PR number.
    pub number: u64,
    /// The PR's web address.
    pub url: String,
}

/// Whether a change went through review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewStatus {
    /// Reviewed: `approvers` are the approvals that the forge vouches for.
    Reviewed,
    /// Proposed through review, but nobody approved it. Only break-glass requests may land
    /// this way (rule 12); for anything else this is `not-reviewed`.
    NoApprovals(String),
    /// Not reviewed at all: a direct push, or a change with no pull request.
    NotReviewed(String),
}

/// What the forge says about one change commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReview {
    /// Whether the change was reviewed.
    pub status: ReviewStatus,
    /// The author of the change: the PR author, or `Proposed-by`.
    pub proposer: Option<Login>,
    /// Distinct approvers whose approval stands on the final content. The core still decides
    /// which of them count for which grant (rule 3).
    pub approvers: Vec<Login>,
    /// When the change was merged; `None` falls back to the committer time.
    pub merged_at: Option<DateTime<Utc>>,
    /// When its pull request was opened, where the forge knows it (for metrics).
    pub opened_at: Option<DateTime<Utc>>,
    /// The pull request, where there is one.
    pub pull_request: Option<PullRequestRef>,
    /// Paths whose content at the PR's head differs from the content that landed: the
    /// approvals do not cover them.
    pub unreviewed_paths: BTreeSet<String>,
}

impl ChangeReview {
    /// A change that nobody reviewed, for the given reason.
    pub fn not_reviewed(reason: impl Into<String>) -> ChangeReview {
        ChangeReview {
            status: ReviewStatus::NotReviewed(reason.into()),
            proposer: None,
            approvers: Vec::new(),
            merged_at: None,
            opened_at: None,
            pull_request: None,
            unreviewed_paths: BTreeSet::new(),
        }
    }
}

/// Members of forge teams (`@org/slug`), resolved once per run. A team missing from the map
/// has no members.
pub type TeamMembers = BTreeMap<(String, String), BTreeSet<Login>>;

/// A source of reviews. Implementations may do I/O; the core only sees their answers.
pub trait Forge {
    /// The review facts of one change commit on the branch.
    fn review(&mut self, commit: &CommitRecord) -> Result<ChangeReview, ForgeError>;

    /// The members of a team, direct and inherited. `None` where the forge has no teams.
    fn team_members(&mut self, org: &str, slug: &str) -> Result<Option<BTreeSet<Login>>, ForgeError>;

    /// Called once after the last question of a run, to keep what is worth keeping (the
    /// github forge's evidence cache).
    fn finish(&mut self) -> Result<(), ForgeError> {
        Ok(())
    }
}

/// A forge that could not answer. Stops the run before any change (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// GitHub could not answer.
    #[error(transparent)]
    Github(crate::github::GithubError),
    /// The local clone could not answer a question about a commit.
    #[error("reading the local clone: {0}")]
    Local(String),
    /// The evidence cache could not be written.
    #[error("cannot write the evidence cache {}: {detail}", path.display())]
    Cache {
        /// The cache file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
}
