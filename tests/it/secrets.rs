//! Secrets never appear in output, logs or the audit log (docs/rules.md, "Secrets").
//!
//! Every command runs with a GitHub token, a GitHub App key and a database URL with a password,
//! set to recognizable values in the variables that tenure and its providers read. A command
//! provider is given all three and tries to leak them through its stderr, on failures and on
//! successes. Then no file that a run leaves behind (the audit log, the state files, a cache,
//! anything under the test's directory) and no byte of stdout or stderr may hold any of them.
//! Where a provider or forge is configured that needs a secret and cannot be reached (a closed
//! loopback port), the error path is checked the same way, whether or not this build has that
//! adapter.

use std::path::Path;

use crate::support::*;

const TOKEN: &str = "ghp_S3cretTokenValue0123456789abcdefXYZ";
const KEY_LINE: &str = "MIIEpAIBAAKCAQEAs3cr3tK3yM4t3r14lN0tF0rY0urEy3s";
const PG_PASSWORD: &str = "pg-Passw0rd-S3CRET";

fn app_key() -> String {
    format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_LINE}\n{KEY_LINE}xx\n-----END RSA PRIVATE KEY-----\n")
}

fn pg_url(port: &str) -> String {
    format!("postgres://tenure:{PG_PASSWORD}@127.0.0.1:{port}/access")
}

/// The recognizable parts of every secret: finding any of them is a leak.
fn needles() -> Vec<String> {
    vec![TOKEN.to_owned(), KEY_LINE.to_owned(), PG_PASSWORD.to_owned(), app_key(), pg_url("1")]
}

/// The secret environment of every run. `GITHUB_API_URL` points at a closed loopback port, so
/// that nothing that tries to use the token can leave the machine.
fn secret_env(state: &str, fail: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_TOKEN", TOKEN.to_owned()),
        ("GITHUB_API_URL", "http://127.0.0.1:1".to_owned()),
        ("TENURE_APP_ID", "12345".to_owned()),
        ("TENURE_APP_PRIVATE_KEY", app_key()),
        ("TENURE_PG_URL", pg_url("1")),
        ("EXT_STATE", state.to_owned()),
        ("EXT_FAIL", fail.to_owned()),
    ]
}

/// A provider program that holds every secret and prints them on stderr whenever it can.
const LEAKY_PROVIDER: &str = r##"#!/bin/sh
set -u
state="${EXT_STATE:?}"
touch "$state"
input=$(cat | tr -d '\n\r')
field() {
  printf '%s' "$input" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
leak() {
  printf 'connecting with token %s, url %s\nkey:\n%s\n' "$GITHUB_TOKEN" "$TENURE_PG_URL" "$TENURE_APP_PRIVATE_KEY" >&2
}
leak
case "${1:-}" in
list)
  if [ "${EXT_FAIL:-}" = list ]; then echo "cannot reach the backend" >&2; leak; exit 1; fi
  printf '{"grants":['
  sep=''
  while read -r res role subj; do
    [ -n "$res" ] || continue
    printf '%s{"resource":"%s","role":"%s","subject":"%s"}' "$sep" "$res" "$role" "$subj"
    sep=','
  done < "$state"
  printf ']}\n'
  ;;
grant|revoke)
  res=$(field resource); role=$(field role); subj=$(field subject)
  if [ "$subj" = bob ]; then echo "backend refused bob" >&2; leak; exit 1; fi
  grep -vxF "$res $role $subj" "$state" > "$state.tmp" || true
  if [ "$1" = grant ]; then echo "$res $role $subj" >> "$state.tmp"; fi
  mv "$state.tmp" "$state"
  ;;
*) leak; exit 2 ;;
esac
"##;

const ALICE: &str = "requests/alice.yaml";
const OPS: &str = "ext:group/ops";

/// A repository with the file provider, the leaky command provider (given every secret by
/// name), approved work for both, a request whose change fails, and a rejected request.
fn leaky_repo() -> TestRepo {
    let tenure = "version: 1
forge: {kind: git}
branch: main
admins: [root-admin]
providers:
  local: {kind: file, path: state/local.json}
  ext:
    kind: command
    program: plugins/leaky
    env: [EXT_STATE, EXT_FAIL, GITHUB_TOKEN, TENURE_APP_PRIVATE_KEY, TENURE_PG_URL]
    timeout: 30s
safety: {max_revocations: 1000}
";
    let catalog = "resources:
  - id: local:group/oncall
    owners: [carol]
    roles: [member]
    allow_empty: true
  - id: ext:group/ops
    owners: [carol]
    roles: [member]
    allow_empty: true
";
    let r = TestRepo::with_files(tenure, &[("catalog/main.yaml", catalog)], |r| {
        r.write_executable("plugins/leaky", LEAKY_PROVIDER)
    });
    r.merge("Access", "alice", &["carol"], T1, |r| {
        r.write(ALICE, &req("alice", &["alice", "bob"], &[(OPS, "member"), (ONCALL, "member")]).yaml())
    });
    r.write("requests/mallory.yaml", &simple("mallory", OPS));
    r.commit("Unreviewed", T2);
    r
}

/// Every file under `dir`, recursively, except git's own object store (compressed, and the
/// secrets never enter the repository anyway).
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if path.file_name().is_some_and(|name| name == "objects") {
                continue;
            }
            files_under(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

#[track_caller]
fn assert_no_secret_in(what: &str, text: &str) {
    for needle in needles() {
        assert!(!text.contains(&needle), "a secret ({needle:.12}…) leaked into {what}:\n{text}");
    }
}

#[track_caller]
fn assert_no_secret_left(r: &TestRepo) {
    let mut files = Vec::new();
    files_under(r.root(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("tenure.yaml")), "the scan sees the repository");
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert_no_secret_in(&file.display().to_string(), &text);
    }
}

/// Runs `args` with the secret environment, checks the exit code and that neither stream
/// holds a secret, and returns the run.
#[track_caller]
fn run(r: &TestRepo, args: &[&str], fail: &str, code: i32) -> Run {
    let state = r.root().join("ext-state.txt").to_string_lossy().into_owned();
    let env = secret_env(&state, fail);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = r.tenure_env(args, &env);
    run.expect_code(code);
    assert_no_secret_in(&format!("the output of {args:?}"), &run.all_output());
    run
}

#[test]
fn no_command_prints_or_stores_a_secret() {
    let r = leaky_repo();
    let audit = r.audit_path().to_string_lossy().into_owned();
    for format in ["text", "json", "markdown"] {
        run(&r, &["--now", NOW, "--format", format, "check"], "", 1);
        run(&r, &["--now", NOW, "--format", format, "plan"], "", 1);
        run(&r, &["--now", NOW, "--format", format, "report"], "", 0);
        run(&r, &["--now", NOW, "--format", format, "expiring", "--within", "60d"], "", 0);
        run(&r, &["--now", NOW, "--format", format, "explain", ALICE], "", 0);
        run(&r, &["--now", NOW, "--format", format, "explain", "requests/mallory.yaml"], "", 1);
    }
    run(&r, &["--now", NOW, "--format", "csv", "report"], "", 0);
    run(&r, &["schema"], "", 0);
    run(&r, &["--now", NOW, "plan", "--detailed-exitcode"], "", 1);

    // apply: bob's change fails and the program prints every secret on stderr; its error is
    // shown and audited, scrubbed.
    let applied = run(&r, &["--now", NOW, "--format", "json", "apply", "--audit", &audit], "", 1);
    assert!(
        applied.stdout.contains("backend refused bob"),
        "the program's error is shown:\n{}",
        applied.stdout
    );
    assert!(applied.stdout.contains("[redacted]"), "and scrubbed:\n{}", applied.stdout);
    let audit_text = std::fs::read_to_string(r.audit_path()).expect("an audit log");
    assert!(audit_text.contains("backend refused bob"), "the error is audited:\n{audit_text}");
    run(&r, &["--now", NOW, "apply", "--audit", &audit], "", 1);
    run(&r, &["--now", NOW, "apply", "--audit", &audit, "--force"], "", 1);
    // The default audit path, in the working directory.
    run(&r, &["--now", NOW, "apply"], "", 1);

    // Error paths: a bad revision, a bad argument, a missing file, an unreachable provider.
    run(&r, &["--now", NOW, "--rev", "no-such-branch", "plan"], "", 2);
    run(&r, &["--now", "not a time", "plan"], "", 2);
    run(&r, &["--now", NOW, "explain", "requests/nope.yaml"], "", 2);
    let unreachable = run(&r, &["--now", NOW, "plan"], "list", 2);
    assert!(
        unreachable.stderr.contains("cannot reach the backend"),
        "the error is shown:\n{}",
        unreachable.stderr
    );
    run(&r, &["--now", NOW, "apply", "--audit", &audit], "list", 2);

    assert_no_secret_left(&r);
}

/// A repository whose only provider is `provider` (YAML), with one approved request for it.
fn repo_with_provider(provider: &str, resource: &str) -> TestRepo {
    let tenure = format!(
        "version: 1\nforge: {{kind: git}}\nbranch: main\nadmins: [root-admin]\nproviders:\n  {provider}\n"
    );
    let catalog = format!(
        "resources:\n  - id: {resource}\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n"
    );
    let r = TestRepo::with_policy(&tenure, &[("catalog/main.yaml", &catalog)]);
    r.merge("Access", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", resource)));
    r
}

#[test]
fn an_unreachable_database_never_shows_its_password() {
    let r = repo_with_provider("pg: {kind: postgres, url_env: TENURE_PG_URL}", "pg:role/readers");
    let audit = r.audit_path().to_string_lossy().into_owned();
    run(&r, &["--now", NOW, "check"], "", 0);
    run(&r, &["--now", NOW, "report"], "", 0);
    run(&r, &["--now", NOW, "plan"], "", 2);
    run(&r, &["--now", NOW, "--format", "json", "plan"], "", 2);
    run(&r, &["--now", NOW, "apply", "--audit", &audit], "", 2);

    // A URL that cannot even be parsed must not be echoed either.
    let state = r.root().join("unused").to_string_lossy().into_owned();
    for broken in [
        format!("postgres://tenure:{PG_PASSWORD}@127.0.0.1:notaport/access"),
        format!("postgres://tenure:{PG_PASSWORD}@127.0.0.1:1/access?sslmode=bogus"),
        format!("tenure:{PG_PASSWORD}@127.0.0.1"),
    ] {
        let mut env = secret_env(&state, "");
        env.retain(|(key, _)| *key != "TENURE_PG_URL");
        env.push(("TENURE_PG_URL", broken.clone()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = r.tenure_env(&["--now", NOW, "plan"], &env);
        out.expect_code(2);
        assert!(
            !out.all_output().contains(PG_PASSWORD),
            "the password leaked for {broken}:\n{}",
            out.all_output()
        );
    }
    assert_no_secret_left(&r);
}

#[test]
fn an_unreachable_github_never_shows_the_token_or_the_app_key() {
    // The github provider, with the API on a closed loopback port.
    let r = repo_with_provider("gh: {kind: github, org: acme}", "gh:team/web");
    run(&r, &["--now", NOW, "check"], "", 0);
    run(&r, &["--now", NOW, "plan"], "", 2);
    let audit = r.audit_path().to_string_lossy().into_owned();
    run(&r, &["--now", NOW, "apply", "--audit", &audit], "", 2);
    assert_no_secret_left(&r);

    // The github forge: every command that judges requests needs it.
    let tenure = TENURE_YAML.replace("forge: {kind: git}", "forge: {kind: github, repository: acme/access}");
    let r = TestRepo::with_policy(&tenure, &[("catalog/main.yaml", CATALOG_MAIN)]);
    r.merge("Access", "alice", &["carol"], T1, |r| r.write(ALICE, &simple("alice", ONCALL)));
    for args in [
        &["--now", NOW, "check"][..],
        &["--now", NOW, "--format", "json", "plan"],
        &["--now", NOW, "report"],
        &["--now", NOW, "explain", ALICE],
        &["--now", NOW, "apply", "--audit", &audit],
    ] {
        run(&r, args, "", 2);
    }
    // With only the App's credentials (a key that is not a valid key, and holds the secret).
    let env = [
        ("GITHUB_API_URL", "http://127.0.0.1:1".to_owned()),
        ("TENURE_APP_ID", "12345".to_owned()),
        ("TENURE_APP_PRIVATE_KEY", app_key()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = r.tenure_env(&["--now", NOW, "check"], &env);
    out.expect_code(2);
    assert_no_secret_in("the output of check with an App key", &out.all_output());
    assert_no_secret_left(&r);
}
