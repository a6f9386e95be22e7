//! Fuzz target: one request file, loaded and judged against a fixed policy.
//!
//! The checks live in `harness.rs`, which the integration tests also run over the seed corpus
//! and `tests/corpus/`, so that what the fuzzer learns is replayed by every `cargo test`.

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::check_request(data);
});
