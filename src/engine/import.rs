//! `tenure import RESOURCE...`: writes request files under `requests/imported/` for the
//! grants that resources hold now, so that an organization can adopt tenure (even in
//! exclusive mode) without revoking anyone.
//!
//! Each file is one resource and one role, with every subject that holds it. It says that it
//! was imported, in a comment and in its `justification`, so that reviewers know that nobody
//! asked for this access through tenure; it still has to be approved like any request. An
//! existing file is never overwritten: importing twice writes only what is new.

use std::io::Write as _;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::{Exit, Output, State};
use crate::model::{ResourceId, Tuple, is_valid_login};
use crate::providers;
use crate::render::Format;

/// Where imported requests go, relative to the repository root.
const DIR: &str = "requests/imported";

/// Runs `tenure import`.
pub(super) fn import(
    state: &State,
    resources: &[String],
    requester: &str,
    expires: Option<&str>,
    for_: Option<&str>,
    format: Format,
) -> anyhow::Result<Output> {
    if !is_valid_login(requester) {
        bail!("--requester `{requester}` is not a GitHub-style login");
    }
    let expires = expiry(state.now, expires, for_)?;
    let mut ids = Vec::new();
    for text in resources {
        let id = ResourceId::parse(text)
            .ok_or_else(|| anyhow!("`{text}` is not a resource id such as gh:team/oncall"))?;
        if !state.current.resources.contains_key(&id) {
            bail!("{id} is not in the catalog at {}; add it there first", state.rev);
        }
        ids.push(id);
    }
    let mut by_provider: std::collections::BTreeMap<&str, Vec<ResourceId>> = Default::default();
    for id in &ids {
        by_provider.entry(id.provider()).or_default().push(id.clone());
    }
    let mut held: Vec<Tuple> = Vec::new();
    for (name, wanted) in by_provider {
        let (_, config) = state
            .current
            .providers
            .get(name)
            .ok_or_else(|| anyhow!("provider `{name}` is not in tenure.yaml"))?;
        let mut provider = providers::open(name, config, &state.root)
            .with_context(|| format!("cannot open provider `{name}`"))?;
        held.extend(provider.read(&wanted).with_context(|| format!("cannot read provider `{name}`"))?);
    }
    let mut groups: std::collections::BTreeMap<(ResourceId, String), Vec<String>> = Default::default();
    for tuple in held {
        groups.entry((tuple.resource, tuple.role)).or_default().push(tuple.subject);
    }
    let date = state.now.format("%Y-%m-%d").to_string();
    let dir = state.root.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    for ((resource, role), mut subjects) in groups {
        subjects.sort();
        subjects.dedup();
        if let Some(entry) = state.current.resources.get(&resource)
            && !entry.roles.contains(&role)
        {
            notes.push(format!(
                "{resource} role {role} is not among the catalog's roles; the file will be rejected"
            ));
        }
        let rel = format!("{DIR}/{}", file_name(&resource, &role));
        let text = request_text(&resource, &role, &subjects, requester, &expires, &date);
        let path = state.root.join(&rel);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).with_context(|| format!("cannot write {rel}"))?;
                written.push(rel);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => skipped.push(rel),
            Err(error) => return Err(error).with_context(|| format!("cannot create {rel}")),
        }
    }
    let stdout = match format {
        Format::Json => {
            let value = serde_json::json!({ "written": written, "skipped": skipped, "notes": notes });
            format!("{value}\n")
        }
        _ => {
            let mut out = String::new();
            for rel in &written {
                out.push_str(&format!("wrote {rel}\n"));
            }
            for rel in &skipped {
                out.push_str(&format!("kept {rel}: it exists, and import never overwrites\n"));
            }
            for note in &notes {
                out.push_str(&format!("note: {note}\n"));
            }
            if written.is_empty() && skipped.is_empty() {
                out.push_str("no grants held on these resources; nothing written\n");
            }
            out
        }
    };
    Ok(Output { stdout, exit: Exit::Ok })
}

/// `--expires DATE|TIME` as written, or `--for DURATION` from now as an RFC 3339 time.
fn expiry(now: DateTime<Utc>, expires: Option<&str>, for_: Option<&str>) -> anyhow::Result<String> {
    match (expires, for_) {
        (Some(text), None) => {
            let text = text.trim();
            let valid = NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
                || DateTime::parse_from_rfc3339(text).is_ok();
            if !valid {
                bail!("--expires `{text}` is not a date (2026-12-31) or an RFC 3339 time");
            }
            Ok(text.to_owned())
        }
        (None, Some(text)) => {
            let duration = crate::policy::parse_duration(text)
                .ok_or_else(|| anyhow!("--for `{text}` is not a duration such as 30d"))?;
            let end =
                now.checked_add_signed(duration).ok_or_else(|| anyhow!("--for `{text}` is too long"))?;
            Ok(end.to_rfc3339_opts(SecondsFormat::Secs, true))
        }
        _ => bail!("give exactly one of --expires DATE or --for DURATION"),
    }
}

/// `gh-team-oncall-member.yaml`: letters, digits and `-` only, so that no resource name can
/// place the file outside `requests/imported/`.
fn file_name(resource: &ResourceId, role: &str) -> String {
    let raw = format!("{}-{}-{role}", resource.provider(), resource.local());
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    name.truncate(200);
    format!("{name}.yaml")
}

/// The request file. Every value is a JSON string, which is valid YAML whatever it holds.
fn request_text(
    resource: &ResourceId,
    role: &str,
    subjects: &[String],
    requester: &str,
    expires: &str,
    date: &str,
) -> String {
    let quote = |text: &str| serde_json::Value::String(text.to_owned()).to_string();
    let subjects: Vec<String> = subjects.iter().map(|s| quote(s)).collect();
    let justification =
        format!("Imported from the live state on {date}; review and replace this justification");
    format!(
        "# Imported by `tenure import` from the grants {resource} held on {date}.\n\
         # Nobody asked for this access through tenure: review the subjects, replace the\n\
         # justification, and approve it like any other request.\n\
         requester: {requester}\n\
         subjects: [{}]\n\
         justification: {}\n\
         grants:\n  - {{resource: {}, role: {}}}\n\
         expires: {}\n",
        subjects.join(", "),
        quote(&justification),
        quote(&resource.to_string()),
        quote(role),
        quote(expires),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        let id = ResourceId::parse("gh:team/on.call").unwrap();
        assert_eq!(file_name(&id, "member"), "gh-team-on-call-member.yaml");
        let org = ResourceId::parse("gh:org").unwrap();
        assert_eq!(file_name(&org, "../admin"), "gh-org----admin.yaml");
    }

    #[test]
    fn odd_subjects_are_quoted() {
        let id = ResourceId::parse("local:group/a").unwrap();
        let text =
            request_text(&id, "member", &["a#b".into(), "c:d".into()], "alice", "2026-02-01", "2026-01-10");
        assert!(text.contains(r#"subjects: ["a#b", "c:d"]"#), "{text}");
        assert!(text.contains("requester: alice"));
    }

    #[test]
    fn exactly_one_expiry_flag() {
        let now = DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(expiry(now, None, Some("30d")).unwrap(), "2026-02-09T00:00:00Z");
        assert_eq!(expiry(now, Some("2026-02-01"), None).unwrap(), "2026-02-01");
        assert!(expiry(now, None, None).is_err());
        assert!(expiry(now, Some("soon"), None).is_err());
        assert!(expiry(now, Some("2026-02-01"), Some("30d")).is_err());
    }
}
