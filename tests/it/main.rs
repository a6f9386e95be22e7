//! Integration tests: real git histories in temporary directories, and the real binary.
//!
//! Each module proves one group of rules of docs/rules.md (or the command line) on histories built
//! with the `git` CLI, and asserts on the JSON that `tenure` prints and on its exit codes.

mod support;

mod approvals;
mod breakglass;
mod cli;
mod command_programs;
mod expiry;
mod guards;
mod history;
mod identities;
mod policy_trust;
mod revocation;
mod validation;
