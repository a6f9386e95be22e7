//! The git forge: approvals written into history as commit trailers.
//!
//! The change commit's message ends with a trailer paragraph holding one
//! `Proposed-by: <login>` and one `Approved-by: <login>` per approver. Only the
//! last paragraph counts, so a quoted trailer in the body of a squashed message
//! cannot pose as an approval. This mode trusts whoever can write the branch:
//! anyone with push access can write any trailer. It is for offline use and for
//! forges that write reviews into history themselves.

use std::collections::BTreeSet;

use crate::model::{CommitRecord, Login};

use super::{ChangeReview, Forge, ForgeError, ReviewStatus};

/// The trailer-reading forge. It has no teams.
#[derive(Debug, Default)]
pub struct GitForge;

impl Forge for GitForge {
    fn review(&mut self, commit: &CommitRecord) -> Result<ChangeReview, ForgeError> {
        Ok(review_from_message(&commit.message))
    }

    fn team_members(&mut self, _org: &str, _slug: &str) -> Result<Option<BTreeSet<Login>>, ForgeError> {
        Ok(None)
    }
}

/// The trailers of a commit message: `(key, value)` pairs from its last paragraph, if every
/// line of that paragraph is a trailer.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let trimmed = message.trim_end();
    let last_paragraph = trimmed.rsplit("\n\n").next().unwrap_or("");
    // The subject line alone is never a trailer block.
    if last_paragraph.len() == trimmed.len() {
        return Vec::new();
    }
    let mut pairs = Vec::new();
    for line in last_paragraph.lines() {
        let Some((key, value)) = line.split_once(':') else { return Vec::new() };
        let key = key.trim();
        let is_token = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !is_token {
            return Vec::new();
        }
        pairs.push((key.to_ascii_lowercase(), value.trim().to_owned()));
    }
    pairs
}

/// Reads `Proposed-by` and `Approved-by` from a change commit's message.
pub fn review_from_message(message: &str) -> ChangeReview {
    let pairs = trailers(message);
    let proposers: Vec<&str> =
        pairs.iter().filter(|(key, _)| key == "proposed-by").map(|(_, value)| value.as_str()).collect();
    let mut approvers: Vec<Login> = Vec::new();
    let mut malformed = Vec::new();
    for (_, value) in pairs.iter().filter(|(key, _)| key == "approved-by") {
        match Login::parse(value) {
            Some(login) if !approvers.contains(&login) => approvers.push(login),
            Some(_) => {}
            None => malformed.push(value.clone()),
        }
    }
    if proposers.len() != 1 {
        return ChangeReview::not_reviewed(format!(
            "the change commit has {} Proposed-by trailers; exactly one is required",
            proposers.len()
        ));
    }
    let Some(proposer) = Login::parse(proposers[0]) else {
        return ChangeReview::not_reviewed(format!(
            "the Proposed-by trailer `{}` is not a valid login",
            proposers[0]
        ));
    };
    let status = if approvers.is_empty() {
        let mut reason = "the change commit has no Approved-by trailer".to_owned();
        if !malformed.is_empty() {
            reason.push_str(&format!(" with a valid login (ignored: {})", malformed.join(", ")));
        }
        ReviewStatus::NoApprovals(reason)
    } else {
        ReviewStatus::Reviewed
    };
    ChangeReview {
        status,
        proposer: Some(proposer),
        approvers,
        merged_at: None,
        opened_at: None,
        pull_request: None,
        unreviewed_paths: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(review: &ChangeReview) -> Vec<&str> {
        review.approvers.iter().map(Login::as_str).collect()
    }

    #[test]
    fn reads_the_trailer_paragraph() {
        let review = review_from_message(
            "Grant alice on-call\n\nBody text.\n\nProposed-by: alice\nApproved-by: carol\napproved-BY: bob\n",
        );
        assert_eq!(review.status, ReviewStatus::Reviewed);
        assert_eq!(review.proposer.as_ref().map(Login::as_str), Some("alice"));
        assert_eq!(logins(&review), ["carol", "bob"]);
    }

    #[test]
    fn trailers_outside_the_last_paragraph_do_not_count() {
        let review =
            review_from_message("Squash\n\nProposed-by: alice\nApproved-by: carol\n\nSigned-off-by: alice\n");
        assert!(matches!(review.status, ReviewStatus::NotReviewed(_)), "{review:?}");
    }

    #[test]
    fn a_paragraph_with_prose_is_not_a_trailer_block() {
        let review = review_from_message("Grant\n\nApproved-by: carol\nand also bob said yes\n");
        assert!(matches!(review.status, ReviewStatus::NotReviewed(_)));
    }

    #[test]
    fn a_subject_line_alone_is_not_a_trailer() {
        let review = review_from_message("Proposed-by: alice");
        assert!(matches!(review.status, ReviewStatus::NotReviewed(_)));
    }

    #[test]
    fn needs_exactly_one_proposer() {
        let none = review_from_message("x\n\nApproved-by: carol\n");
        assert!(matches!(none.status, ReviewStatus::NotReviewed(_)));
        let two = review_from_message("x\n\nProposed-by: alice\nProposed-by: bob\nApproved-by: carol\n");
        assert!(matches!(two.status, ReviewStatus::NotReviewed(_)));
    }

    #[test]
    fn a_proposal_without_approvals_is_distinguished() {
        let review = review_from_message("x\n\nProposed-by: alice\n");
        assert!(matches!(review.status, ReviewStatus::NoApprovals(_)));
        assert_eq!(review.proposer.as_ref().map(Login::as_str), Some("alice"));
    }

    #[test]
    fn approvers_are_distinct_without_case_and_must_be_logins() {
        let review = review_from_message(
            "x\n\nProposed-by: alice\nApproved-by: Carol\nApproved-by: CAROL\nApproved-by: not a login\n",
        );
        assert_eq!(logins(&review), ["Carol"]);
        let only_bad = review_from_message("x\n\nProposed-by: alice\nApproved-by: carol smith\n");
        assert!(matches!(only_bad.status, ReviewStatus::NoApprovals(ref why) if why.contains("carol smith")));
    }
}
