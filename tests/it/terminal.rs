//! The command line's conventions: an example in every command's help, shell completions,
//! `-q`/`-v` that never change standard output, `RUST_LOG` on stderr, and rustc-style errors
//! that are plain unless colour is asked for and `NO_COLOR` is unset.

use clap::CommandFactory as _;

use crate::support::*;

fn tenure(r: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    r.tenure_in(r.root(), &args, env)
}

#[test]
fn every_command_has_an_example_in_its_help() {
    // Every command and every subcommand of a group, as the words that name it.
    fn paths(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            paths(sub, &path, out);
            out.push(path);
        }
    }
    let r = TestRepo::empty();
    let mut commands = Vec::new();
    paths(&tenure::cli::Cli::command(), &[], &mut commands);
    assert!(commands.len() >= 9, "{commands:?}");
    for path in commands {
        let name = path.join(" ");
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = tenure(&r, &args, &[]);
        run.expect_code(0);
        assert!(run.stdout.contains("Example"), "`tenure {name} --help` has no example:\n{}", run.stdout);
        assert!(
            run.stdout.contains(&format!("tenure {name}")),
            "`tenure {name} --help`'s example does not run it"
        );
    }
}

#[test]
fn completions_cover_every_command() {
    let r = TestRepo::empty();
    for shell in ["bash", "zsh", "fish"] {
        let run = tenure(&r, &["completions", shell], &[]);
        run.expect_code(0);
        for word in ["tenure", "check", "apply", "init", "completions", "format"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    tenure(&r, &["completions", "tcsh"], &[]).expect_code(2);
}

#[test]
fn quiet_and_verbose_change_stderr_only() {
    let r = TestRepo::standard();
    r.merge("Add alice", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &["alice"], &[(ONCALL, "member")]).yaml())
    });
    let plain = r.tenure(&["--now", NOW, "--format", "json", "plan"]);
    plain.expect_code(0);
    assert_eq!(plain.stderr, "", "no progress or logs when stderr is not a terminal");

    let quiet = r.tenure(&["-q", "--now", NOW, "--format", "json", "plan"]);
    quiet.expect_code(0);
    assert_eq!(quiet.stdout, plain.stdout);
    assert_eq!(quiet.stderr, "");

    let verbose = r.tenure(&["--now", NOW, "--format", "json", "plan", "-v"]);
    verbose.expect_code(0);
    assert_eq!(verbose.stdout, plain.stdout);
    assert!(verbose.stderr.contains("reading the history of main"), "{}", verbose.stderr);
    assert!(verbose.stderr.contains("reading provider `local`"), "{}", verbose.stderr);
    assert!(!verbose.stderr.contains("reading the review of "), "-v stays short: {}", verbose.stderr);

    let debug = r.tenure(&["--now", NOW, "--format", "json", "plan", "-vv"]);
    debug.expect_code(0);
    assert_eq!(debug.stdout, plain.stdout);
    assert!(debug.stderr.contains("reading the review of "), "{}", debug.stderr);

    let traced = r.tenure_env(&["--now", NOW, "--format", "json", "plan"], &[("RUST_LOG", "tenure=debug")]);
    traced.expect_code(0);
    assert_eq!(traced.stdout, plain.stdout);
    assert!(traced.stderr.contains("reading the history"), "{}", traced.stderr);

    r.tenure(&["-q", "-v", "plan"]).expect_code(2);
}

#[test]
fn errors_read_like_rustc_and_are_plain_off_a_terminal() {
    let r = TestRepo::empty();
    let missing = r.root().join("nowhere").to_string_lossy().into_owned();
    let run = tenure(&r, &["--repo", &missing, "check"], &[]);
    run.expect_code(2);
    assert!(run.stderr.starts_with("error: cannot open a git repository"), "{}", run.stderr);
    assert!(run.stderr.contains("\n  = help: "), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "colour off a terminal: {:?}", run.stderr);

    let forced = tenure(&r, &["--repo", &missing, "check"], &[("CLICOLOR_FORCE", "1")]);
    forced.expect_code(2);
    assert!(forced.stderr.contains("\x1b["), "CLICOLOR_FORCE asks for colour: {:?}", forced.stderr);
    assert_eq!(strip_ansi(&forced.stderr), run.stderr);

    let no_color = tenure(&r, &["--repo", &missing, "check"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    no_color.expect_code(2);
    assert_eq!(no_color.stderr, run.stderr, "NO_COLOR wins");
}

#[test]
fn an_empty_repository_gets_a_hint_to_commit() {
    let r = TestRepo::empty();
    let run = r.tenure(&["check"]);
    run.expect_code(2);
    assert!(run.stderr.contains("error: the repository has no commits at HEAD"), "{}", run.stderr);
    assert!(run.stderr.contains("= help: commit the access repository first"), "{}", run.stderr);
}

/// Removes SGR escape sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
