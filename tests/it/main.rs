//! Integration tests: real git histories in temporary directories, and the real binary.
//!
//! Each module proves one group of rules of docs/rules.md (or the command line) on histories built
//! with the `git` CLI, and asserts on the JSON that `tenure` prints and on its exit codes.

mod support;

mod approvals;
mod audit_chain;
mod breakglass;
mod cli;
mod command_programs;
mod command_provider;
mod corpus;
mod expiry;
mod fake_github;
mod faults;
mod fuzz_replay;
mod github_forge;
mod github_provider;
mod guards;
mod history;
mod identities;
mod init;
mod lifecycle;
mod lock;
mod pg_server;
mod policy_trust;
mod postgres;
mod pr_check;
mod properties;
mod revocation;
mod secrets;
mod sharding;
mod terminal;
mod validation;
mod workflows;
