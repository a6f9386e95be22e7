//! The GitHub workflows that run tenure (`examples/workflows/`, which `tenure init` copies, and
//! this repository's own `.github/workflows/`) against a hostile pull request, possibly from a
//! fork (docs/threat-model.md): nothing runs on `pull_request_target`, and a workflow that a
//! pull request triggers gets no secrets and no write permission beyond posting its comment.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn workflows() -> Vec<(PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["examples/workflows", ".github/workflows"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml") {
                let text = std::fs::read_to_string(&path).expect("read a workflow");
                let value: Value = serde_yaml::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
                out.push((path, value));
            }
        }
    }
    assert!(
        out.iter().any(|(path, _)| path.ends_with("examples/workflows/check.yml")),
        "the pull-request check workflow is there: {:?}",
        out.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    out
}

/// The events of a workflow's `on:` (a string, a list or a mapping).
fn events(workflow: &Value) -> Vec<String> {
    // YAML 1.1 reads a bare `on` key as the boolean true.
    let on = workflow.get("on").or_else(|| workflow.get(Value::Bool(true)));
    match on {
        Some(Value::String(event)) => vec![event.clone()],
        Some(Value::Sequence(list)) => list.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect(),
        Some(Value::Mapping(map)) => map.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Whether a job can never run for a pull request: its `if:` (or that of a job it needs)
/// limits it to tags, or to pushes.
fn never_on_pull_requests(jobs: &serde_yaml::Mapping, name: &str, depth: usize) -> bool {
    let Some(job) = jobs.get(name) else { return false };
    let gated = job.get("if").and_then(Value::as_str).is_some_and(|condition| {
        condition.contains("refs/tags/") || condition.replace(' ', "").contains("github.event_name=='push'")
    });
    let needs: Vec<&str> = match job.get("needs") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Sequence(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    gated || (depth < 16 && needs.iter().any(|need| never_on_pull_requests(jobs, need, depth + 1)))
}

/// Every `permissions` block that applies to a pull request (the workflow's, and that of each
/// job that can run for one), as `scope: level` pairs; `write-all` is one pair `*: write`.
fn permissions(workflow: &Value) -> Vec<(String, String)> {
    let mut blocks = vec![workflow.get("permissions")];
    if let Some(Value::Mapping(jobs)) = workflow.get("jobs") {
        for (name, job) in jobs {
            if !never_on_pull_requests(jobs, name.as_str().unwrap_or_default(), 0) {
                blocks.push(job.get("permissions"));
            }
        }
    }
    let mut out = Vec::new();
    for block in blocks.into_iter().flatten() {
        match block {
            Value::String(all) => out.push(("*".to_owned(), all.replace("-all", ""))),
            Value::Mapping(map) => {
                for (scope, level) in map {
                    out.push((
                        scope.as_str().unwrap_or_default().to_owned(),
                        level.as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn no_workflow_runs_on_pull_request_target() {
    for (path, workflow) in workflows() {
        let events = events(&workflow);
        assert!(!events.is_empty(), "{}: no `on:` events found", path.display());
        assert!(
            !events.iter().any(|e| e == "pull_request_target" || e == "workflow_run"),
            "{} runs with the base repository's write token on a pull request's behalf: {events:?}",
            path.display()
        );
    }
}

#[test]
fn the_pull_request_check_never_gets_a_write_token_or_secrets() {
    for (path, workflow) in workflows() {
        if !events(&workflow).iter().any(|e| e == "pull_request") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // Comment lines may explain secrets; only the workflow itself must not use them.
        let code: String =
            text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
        assert!(!code.contains("secrets."), "{} hands secrets to pull-request code", path.display());
        assert!(!code.contains("pull_request_target"), "{}", path.display());
        assert!(
            workflow.get("permissions").is_some(),
            "{} must set `permissions`, or it gets the repository's default token",
            path.display()
        );
        for (scope, level) in permissions(&workflow) {
            assert!(
                level != "write" || scope == "pull-requests",
                "{}: `{scope}: {level}`; a pull-request workflow may write only its comment",
                path.display()
            );
        }
        if path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")) {
            assert!(
                !code.contains("command: apply") && !code.contains("tenure apply"),
                "{} must never apply on a pull request",
                path.display()
            );
            assert!(
                code.contains("persist-credentials: false"),
                "{} must not leave the token in .git/config for later steps",
                path.display()
            );
        }
    }
}
