//! The history walk against git's own: `Source::history` over 20,000 first-parent commits
//! and 10,000 request files, timed beside `git log --first-parent --raw` on the same
//! repository in the same run. git's command reads the same history in C, so it is the floor.
//!
//! Run with `cargo bench --bench history`. It prints both times and their ratio.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use tenure::source::{Source, Watch};

/// 10,000 request files in one flat directory (the worst case for a tree merge) and
/// 20,000 first-parent commits, each editing one request or one unwatched file. Run with
/// `cargo bench --bench history`.
fn main() {
    const FILES: usize = 10_000;
    const COMMITS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(dir.path())
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    assert!(git(&["init", "-q", "-b", "main"]).wait().unwrap().success());
    let mut import = git(&["fast-import", "--quiet"]);
    {
        let mut stream = std::io::BufWriter::new(import.stdin.take().unwrap());
        let mut seed = 1u64;
        for n in 0..COMMITS {
            writeln!(stream, "commit refs/heads/main").unwrap();
            writeln!(stream, "committer A <a@example.com> {} +0000", 1_600_000_000 + n).unwrap();
            writeln!(stream, "data 6\nc{:04}\n", n % 10_000).unwrap();
            if n == 0 {
                writeln!(stream, "M 644 inline tenure.yaml\ndata 11\nversion: 1\n").unwrap();
                for f in 0..FILES {
                    let body = format!("request {f}\n");
                    writeln!(stream, "M 644 inline requests/r{f:05}.yaml\ndata {}\n{body}", body.len())
                        .unwrap();
                }
            } else {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let pick = (seed >> 33) as usize % (FILES + FILES / 4);
                let body = format!("edit {n}\n");
                let path =
                    if pick < FILES { format!("requests/r{pick:05}.yaml") } else { "README.md".to_owned() };
                writeln!(stream, "M 644 inline {path}\ndata {}\n{body}", body.len()).unwrap();
            }
        }
    }
    assert!(import.wait().unwrap().success());

    let started = Instant::now();
    let log = git(&["log", "--first-parent", "--raw", "--no-abbrev", "--format=%H", "main"])
        .wait_with_output()
        .unwrap();
    let git_time = started.elapsed();
    assert!(log.status.success());

    let source = Source::open(dir.path()).unwrap();
    let tip = source.resolve_commit("main").unwrap();
    let watch = Watch { files: vec!["tenure.yaml".into()], dirs: vec!["catalog".into(), "requests".into()] };
    let started = Instant::now();
    let history = source.history(&tip, &watch).unwrap();
    let ours = started.elapsed();
    println!(
        "git log --first-parent --raw: {git_time:?}; Source::history: {ours:?}; ratio {:.2}",
        ours.as_secs_f64() / git_time.as_secs_f64()
    );

    assert_eq!(history.len(), COMMITS);
    assert_eq!(history[0].changes.len(), FILES + 1);
    let edits = history.iter().skip(1).filter(|r| !r.changes.is_empty()).count();
    let raw_lines = String::from_utf8_lossy(&log.stdout).lines().filter(|l| l.starts_with(':')).count();
    let readme_edits = raw_lines - (FILES + 1) - edits;
    assert!(edits > COMMITS / 2 && readme_edits > 0, "{edits} {readme_edits}");
}
