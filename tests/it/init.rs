//! `tenure init`: the scaffold passes `tenure check` once committed, its example request is a
//! working one, and it never overwrites a file.

use std::path::Path;

use serde_json::json;

use crate::support::*;

const EXAMPLE: &str = "requests/alice-example.yaml";

/// Runs `tenure init ARGS` in the test's temporary directory.
fn init(r: &TestRepo, args: &[&str]) -> Run {
    let mut full = vec!["init".to_owned()];
    full.extend(args.iter().map(|a| (*a).to_owned()));
    r.tenure_in(r.root(), &full, &[])
}

fn dir(r: &TestRepo) -> String {
    r.dir().to_string_lossy().into_owned()
}

/// The YAML block of the scaffold's requests/README.md: the example request.
fn example_request(r: &TestRepo) -> String {
    let readme = r.read("requests/README.md");
    let start = readme.find("```yaml\n").expect("a yaml block in requests/README.md") + "```yaml\n".len();
    let end = start + readme[start..].find("```").expect("the end of the yaml block");
    readme[start..end].to_owned()
}

#[test]
fn the_scaffold_passes_check_once_committed() {
    let r = TestRepo::empty();
    init(&r, &[&dir(&r), "--admin", "dana", "--admin", "erin"]).expect_code(0);
    r.commit("Set up tenure", T0);

    let run = r.check(NOW);
    run.expect_code(0);
    let v = run.json();
    assert_eq!(v["rejected"], json!([]), "{v:#}");
    assert_eq!(v["approved"], json!([]), "{v:#}");

    let run = r.plan(NOW);
    run.expect_code(0);
    assert_eq!(run.json()["changes"], json!([]));
}

#[test]
fn the_example_request_is_granted_once_an_admin_approves_it() {
    let r = TestRepo::empty();
    init(&r, &[&dir(&r), "--admin", "dana"]).expect_code(0);
    r.commit("Set up tenure", T0);
    let example = example_request(&r);
    assert!(example.starts_with("# yaml-language-server: $schema=https://"), "{example}");

    r.merge("Request access", "alice", &["dana"], T1, |r| r.write(EXAMPLE, &example));
    let run = r.apply(NOW, &[]);
    run.expect_code(0);
    assert_changes(&run.json(), vec![grant("local:group/example", "member", "alice", EXAMPLE)]);
    assert_eq!(r.state(), triples(&[("group/example", "member", "alice")]));

    // Self-approval is still refused: the scaffold does not weaken the rules.
    r.merge("Request access", "erin", &["erin"], T2, |r| {
        r.write("requests/erin-example.yaml", &example.replace("alice", "erin"))
    });
    let run = r.check(NOW);
    run.expect_code(1);
    assert_eq!(run.json()["rejected"][0]["code"], "insufficient-approvals");
}

#[test]
fn init_never_overwrites_and_then_writes_nothing() {
    let r = TestRepo::empty();
    r.write("README.md", "my own readme\n");
    r.write("catalog/example.yaml", "mine\n");
    let run = init(&r, &[&dir(&r), "--admin", "dana"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("README.md") && run.stderr.contains("catalog/example.yaml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(r.read("README.md"), "my own readme\n");
    assert_eq!(r.read("catalog/example.yaml"), "mine\n");
    assert!(!r.path("tenure.yaml").exists(), "init wrote tenure.yaml next to existing files");
    assert!(!r.path(".github").exists(), "init wrote .github next to existing files");
}

#[test]
fn init_never_writes_through_a_dangling_symlink() {
    let r = TestRepo::empty();
    let outside = r.root().join("outside.yaml");
    std::os::unix::fs::symlink(&outside, r.path("tenure.yaml")).expect("symlink");
    let run = init(&r, &[&dir(&r), "--admin", "dana"]);
    run.expect_code(2);
    assert!(run.stderr.contains("tenure.yaml"), "{}", run.stderr);
    assert!(!outside.exists(), "init followed a symlink out of the repository");
}

#[test]
fn init_creates_a_missing_directory_and_says_how_to_commit() {
    let r = TestRepo::empty();
    let target = r.root().join("new-access");
    let run = init(&r, &[&target.to_string_lossy(), "--admin", "dana"]);
    run.expect_code(0);
    assert!(target.join("tenure.yaml").is_file());
    assert!(run.stdout.contains("git init -b main"), "{}", run.stdout);
}

#[test]
fn init_github_writes_a_config_that_tenure_parses() {
    let r = TestRepo::empty();
    let run = init(
        &r,
        &[
            &dir(&r),
            "--forge",
            "github",
            "--repository",
            "acme/access",
            "--admin",
            "@acme/security",
            "--branch",
            "trunk",
        ],
    );
    run.expect_code(0);
    let config = tenure::load::parse_config(r.read("tenure.yaml").as_bytes())
        .unwrap_or_else(|e| panic!("tenure.yaml does not parse: {}", e.message));
    assert_eq!(config.branch, "trunk");
    let text = r.read("tenure.yaml");
    assert!(text.contains("kind: github, repository: acme/access"), "{text}");
    assert!(text.contains("gh: { kind: github, org: acme }"), "{text}");
    tenure::load::parse_catalog(r.read("catalog/example.yaml").as_bytes())
        .unwrap_or_else(|e| panic!("the catalog does not parse: {}", e.message));
    assert!(r.read(".github/CODEOWNERS").contains("/catalog/     @acme/security\n"));
    // The workflows are the examples, on the chosen branch.
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/check.yml"))
            .expect("examples/workflows/check.yml");
    assert_eq!(
        r.read(".github/workflows/tenure-check.yml"),
        example.replace("branches: [main]", "branches: [trunk]")
    );
}

#[test]
fn init_refuses_options_that_would_make_a_broken_scaffold() {
    let r = TestRepo::empty();
    // No admin: the root of the policy's trust must be named.
    init(&r, &[&dir(&r)]).expect_code(2);
    // The github forge needs its repository.
    init(&r, &[&dir(&r), "--forge", "github", "--admin", "dana"]).expect_code(2);
    // Teams resolve only on github.
    let run = init(&r, &[&dir(&r), "--admin", "@acme/security"]);
    run.expect_code(2);
    assert!(run.stderr.contains("github"), "{}", run.stderr);
    assert!(!r.path("tenure.yaml").exists());
}

#[test]
fn every_generated_yaml_file_names_its_schema() {
    let r = TestRepo::empty();
    init(&r, &[&dir(&r), "--admin", "dana"]).expect_code(0);
    for path in [
        "tenure.yaml",
        "catalog/example.yaml",
        ".github/workflows/tenure-check.yml",
        ".github/workflows/tenure-reconcile.yml",
        ".github/workflows/tenure-notify.yml",
    ] {
        let text = r.read(path);
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with("# yaml-language-server: $schema=https://"), "{path}: {first}");
    }
    // The tenure schemas are the ones `tenure schema` prints, by their absolute $id.
    let schema = r.tenure_in(r.root(), &["schema".into(), "tenure".into()], &[]);
    schema.expect_code(0);
    let id = schema.json()["$id"].as_str().expect("$id").to_owned();
    assert!(r.read("tenure.yaml").starts_with(&format!("# yaml-language-server: $schema={id}\n")));
}
