//! Replays the fuzz seed corpus (`fuzz/corpus/request/`) and the bad-input corpus
//! (`tests/corpus/`) through the fuzz target's own harness, so that every `cargo test` runs
//! what the fuzzer runs, without nightly: loading and judging any file must give a coded
//! answer, never a panic, and the harness's invariants must hold.

use std::path::Path;

use crate::corpus::{self, Expect};

#[path = "../../fuzz/harness.rs"]
mod harness;

/// Runs the harness on `bytes`, turning a panic into a message that names the input.
fn replay(name: &str, bytes: &[u8]) -> Result<harness::Verdict, String> {
    std::panic::catch_unwind(|| harness::check_request(bytes)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("{name}: {why}")
    })
}

#[test]
fn the_fuzz_seed_corpus_replays_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request");
    let mut failures = Vec::new();
    let mut approved = 0;
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/request") {
        let path = entry.expect("dir entry").path();
        let bytes = std::fs::read(&path).expect("read a seed");
        seen += 1;
        match replay(&path.display().to_string(), &bytes) {
            Ok(harness::Verdict::Approved(_)) => approved += 1,
            Ok(harness::Verdict::Rejected(..)) => {}
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "the harness failed on:\n{}", failures.join("\n"));
    assert!(seen >= 5, "the seed corpus is there: {seen} files");
    // Seeds that pass every check make the fuzzer reach the deepest checks; keep some.
    assert!(approved >= 3, "at least three seeds are valid, approved requests; {approved} are");
}

#[test]
fn the_bad_input_corpus_replays_with_the_same_load_codes() {
    let mut failures = Vec::new();
    for case in corpus::cases() {
        let bytes = case.bytes();
        match replay(&case.file, &bytes) {
            Err(failure) => failures.push(failure),
            // A symlink's text is its target, not the file; the harness only proves no panic.
            Ok(_) if case.symlink => {}
            Ok(verdict) => {
                // The harness's policy is not the corpus repository's, so only the codes that
                // the file alone decides must agree.
                if let Expect::Code(code) = &case.expect
                    && (code == "invalid-yaml" || code == "invalid-field")
                {
                    let got = match &verdict {
                        harness::Verdict::Rejected(got, _) => got.as_str(),
                        harness::Verdict::Approved(_) => "approved",
                    };
                    if got != code {
                        failures.push(format!("{}: the harness says {got}, the manifest {code}", case.file));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "the harness disagrees on:\n{}", failures.join("\n"));
}

#[test]
fn the_rejection_is_the_earliest_failing_check_in_code_order() {
    // Found by fuzzing: grants[0] fails role-not-allowed (check 4) before grants[1] fails
    // unknown-resource (check 3), and role-not-allowed is reported.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request");
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/request") {
        let path = entry.expect("dir entry").path();
        let bytes = std::fs::read(&path).expect("read a seed");
        if let Ok(harness::Verdict::Rejected(reported, earliest)) =
            replay(&path.display().to_string(), &bytes)
            && reported != earliest
        {
            wrong.push(format!("{}: reported {reported}, earliest {earliest}", path.display()));
        }
    }
    assert!(wrong.is_empty(), "rejections that are not the earliest check:\n{}", wrong.join("\n"));
}
