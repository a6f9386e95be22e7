//! tenure: a GitOps access-as-code reconciler.
//!
//! Access requests are YAML files in a Git repository, merged through reviewed
//! changes. tenure proves that every request was approved by people allowed to
//! approve it, diffs the grants that approved, unexpired requests want against
//! what the target systems hold, applies the difference, and revokes whatever
//! has expired. See `ARCHITECTURE.md` for the code map and its invariants.

pub mod apply;
pub mod approvals;
pub mod atomic;
pub mod audit;
pub mod cli;
pub mod desired;
pub mod engine;
pub mod forge;
pub mod github;
pub mod history;
pub mod init;
pub mod load;
pub mod lock;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod prcheck;
pub mod providers;
pub mod render;
pub mod renew;
pub mod schema;
pub mod shard;
pub mod source;
pub mod ui;
pub mod wire;
