//! `tenure init`: scaffolds a working access repository, so that adopting tenure starts from
//! files that already pass `tenure check`.
//!
//! [`files`] is pure: it turns the options into the file set. [`write`] is the only I/O, and it
//! never overwrites: when any target exists it writes nothing and names them all, so that a
//! half-merged scaffold can never end up in the first commit, which is trusted on first use.
//! tenure does not make that commit itself: it is the root of the policy's trust, and belongs
//! to an admin, with their own identity, signing and hooks.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::{InitArgs, InitForge};
use crate::model::{Principal, is_valid_login};

/// The editor schema line of generated GitHub workflows (SchemaStore's).
const WORKFLOW_SCHEMA: &str = "https://json.schemastore.org/github-workflow.json";

/// The workflow templates, shared with `examples/workflows/`, so that both never drift.
const CHECK_WORKFLOW: &str = include_str!("../examples/workflows/check.yml");
const RECONCILE_WORKFLOW: &str = include_str!("../examples/workflows/reconcile.yml");
const NOTIFY_WORKFLOW: &str = include_str!("../examples/workflows/notify.yml");

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// An option that would make a scaffold that tenure rejects.
    #[error("{0}")]
    Invalid(String),
    /// Files that would be overwritten.
    #[error("{} already exist{} in {}: {}; tenure init never overwrites, so nothing was written",
        if .files.len() == 1 { "a file" } else { "files" },
        if .files.len() == 1 { "s" } else { "" },
        .dir.display(),
        .files.join(", "))]
    Exists {
        /// The directory.
        dir: PathBuf,
        /// The files, relative to it.
        files: Vec<String>,
    },
    /// The file system said no.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The validated options of a scaffold.
#[derive(Debug, Clone)]
pub struct Options {
    /// `Some(owner/name)` for the github forge.
    pub github: Option<String>,
    /// The branch whose history is the truth.
    pub branch: String,
    /// The admins, as written in tenure.yaml.
    pub admins: Vec<String>,
}

impl Options {
    /// Validates the command line: what tenure would reject later is refused now.
    pub fn from_args(args: &InitArgs) -> Result<Options, InitError> {
        let github = match args.forge {
            InitForge::Git => None,
            InitForge::Github => {
                let repository = args.repository.as_deref().unwrap_or_default();
                let valid = repository.split_once('/').is_some_and(|(owner, name)| {
                    is_valid_login(owner)
                        && !name.is_empty()
                        && name.len() <= 100
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                });
                if !valid {
                    return Err(InitError::Invalid(format!(
                        "--repository `{repository}` is not OWNER/NAME, such as acme/access"
                    )));
                }
                Some(repository.to_owned())
            }
        };
        if args.forge == InitForge::Git && args.repository.is_some() {
            return Err(InitError::Invalid("--repository is only for --forge github".into()));
        }
        let branch = args.branch.trim();
        let branch_ok = !branch.is_empty()
            && !branch.contains("..")
            && !branch.starts_with(['/', '-', '.'])
            && !branch.ends_with(['/', '.'])
            && branch.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if !branch_ok {
            return Err(InitError::Invalid(format!("--branch `{branch}` is not a usable branch name")));
        }
        let mut admins = Vec::new();
        for admin in &args.admins {
            let admin = admin.trim();
            match Principal::parse(admin) {
                Some(Principal::User(_)) => {}
                Some(Principal::Team { .. }) if github.is_some() => {}
                Some(Principal::Team { .. }) => {
                    return Err(InitError::Invalid(format!(
                        "--admin `{admin}`: teams resolve only on the github forge; name logins, or use --forge github"
                    )));
                }
                Some(Principal::Group(_)) | None => {
                    return Err(InitError::Invalid(format!(
                        "--admin `{admin}` is not a login (1–39 letters, digits or inner hyphens) or an @org/team"
                    )));
                }
            }
            if !admins.iter().any(|known: &String| known.eq_ignore_ascii_case(admin)) {
                admins.push(admin.to_owned());
            }
        }
        if admins.is_empty() {
            return Err(InitError::Invalid("name at least one --admin".into()));
        }
        Ok(Options { github, branch: branch.to_owned(), admins })
    }
}

/// The scaffold: each file's path, relative to the new repository, and its text.
pub fn files(options: &Options) -> Vec<(String, String)> {
    let schemas = crate::schema::schemas();
    let schema_url = |file: &str| {
        schemas
            .iter()
            .find(|(name, _)| *name == file)
            .and_then(|(_, schema)| schema["$id"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let workflow = |text: &str| {
        // The templates name `main`; the scaffold follows --branch.
        let text = text.replace("branches: [main]", &format!("branches: [{}]", options.branch));
        debug_assert!(text.starts_with(&format!("# yaml-language-server: $schema={WORKFLOW_SCHEMA}")));
        text
    };
    vec![
        ("tenure.yaml".into(), tenure_yaml(options, &schema_url("tenure.schema.json"))),
        ("catalog/example.yaml".into(), catalog(options, &schema_url("catalog.schema.json"))),
        ("requests/README.md".into(), requests_readme(options, &schema_url("request.schema.json"))),
        (".github/workflows/tenure-check.yml".into(), workflow(CHECK_WORKFLOW)),
        (".github/workflows/tenure-reconcile.yml".into(), workflow(RECONCILE_WORKFLOW)),
        (".github/workflows/tenure-notify.yml".into(), workflow(NOTIFY_WORKFLOW)),
        (".github/CODEOWNERS".into(), codeowners(options)),
        (".gitignore".into(), GITIGNORE.into()),
        ("README.md".into(), readme(options)),
    ]
}

/// Writes the scaffold into `dir`, creating it if needed. Writes nothing when any file exists.
/// Returns the paths written.
pub fn write(dir: &Path, files: &[(String, String)]) -> Result<Vec<String>, InitError> {
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| dir.join(path).symlink_metadata().is_ok())
        .map(|(path, _)| path.clone())
        .collect();
    if !existing.is_empty() {
        return Err(InitError::Exists { dir: dir.to_path_buf(), files: existing });
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|source| InitError::Io { path: parent.to_path_buf(), source })?;
        }
        // create_new: a file that appeared since the check above is still never overwritten.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|source| InitError::Io { path: target.clone(), source })?;
        file.write_all(text.as_bytes()).map_err(|source| InitError::Io { path: target.clone(), source })?;
        written.push(path.clone());
    }
    Ok(written)
}

/// What `init` prints: the files, and the next steps.
pub fn summary(dir: &Path, written: &[String], is_repo: bool, options: &Options) -> String {
    let mut out = format!("Created an access repository in {}:\n", dir.display());
    for path in written {
        out.push_str(&format!("  {path}\n"));
    }
    let cd = format!("cd {}", shell_word(&dir.display().to_string()));
    let git_init = if is_repo { String::new() } else { format!("git init -b {} && ", options.branch) };
    out.push_str(&format!(
        "\nNext:\n\
         \x20 1. Read tenure.yaml, catalog/example.yaml and .github/CODEOWNERS. The first commit of\n\
         \x20    tenure.yaml is trusted on first use: every later policy change needs an admin.\n\
         \x20 2. {cd} && {git_init}git add -A && git commit -m 'Set up tenure'\n\
         \x20 3. tenure check     (then: tenure plan, tenure apply)\n\
         \x20 4. On GitHub: turn on the branch protection that README.md lists, and create the\n\
         \x20    GitHub App (https://github.com/tenure-dev/tenure/blob/main/docs/guide.md).\n"
    ));
    out
}

/// Quotes a path for the "next steps" only when it needs it.
fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

const GITIGNORE: &str = "\
# The file provider's target system, tenure's cache of pull-request facts, and the audit log:
# run artefacts, not policy.
state/
.tenure-cache/
tenure-audit.jsonl*
";

fn yaml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn tenure_yaml(options: &Options, schema: &str) -> String {
    let forge = match &options.github {
        Some(repository) => format!(
            "# Approvals are the pull requests' reviews, read through the GitHub API (GITHUB_TOKEN, or a\n\
             # GitHub App). Only the latest review of each reviewer counts, on the PR's final commit.\n\
             forge: {{ kind: github, repository: {repository} }}\n"
        ),
        None => "# Approvals are the `Proposed-by:` and `Approved-by:` trailers of the commit that merged\n\
                 # each request. This needs no token and no network, and it trusts whoever can write the\n\
                 # branch: anybody who can push to it can also write the trailers. Protect the branch, or\n\
                 # on GitHub switch to `forge: { kind: github, repository: OWNER/NAME }`.\n\
                 forge: { kind: git }\n"
            .to_owned(),
    };
    let github_provider = match &options.github {
        Some(repository) => {
            let org = repository.split_once('/').map(|(owner, _)| owner).unwrap_or(repository);
            format!(
                "  # GitHub teams, repository collaborators and organization membership (a GitHub App's\n\
                 \x20 # token: the built-in GITHUB_TOKEN cannot change memberships).\n\
                 \x20 gh: {{ kind: github, org: {org} }}\n"
            )
        }
        None => "  # gh: { kind: github, org: acme }          # GitHub teams, repositories, org membership\n"
            .into(),
    };
    format!(
        "# yaml-language-server: $schema={schema}\n\
         #\n\
         # tenure's configuration. tenure reads it (and catalog/) at the branch below, and trusts it\n\
         # through a chain: the first commit that creates this file is trusted on first use; every\n\
         # later change to it or to catalog/ needs the approval of an admin of the last trusted one.\n\
         version: 1\n\
         \n\
         {forge}\
         \n\
         # The branch whose first-parent history is the truth.\n\
         branch: {branch}\n\
         \n\
         # May approve changes to tenure.yaml and catalog/ (logins; @org/team on the github forge).\n\
         admins: {admins}\n\
         \n\
         # The systems tenure manages. Relative paths resolve against this repository's root.\n\
         providers:\n\
         \x20 # A JSON file stands in for a real system, to try tenure out: state/local.json.\n\
         \x20 local: {{ kind: file, path: state/local.json }}\n\
         {github_provider}\
         \x20 # pg: {{ kind: postgres, url_env: TENURE_PG_URL }}  # role membership; the URL stays in the env\n\
         \x20 # okta: {{ kind: command, program: plugins/okta, env: [OKTA_TOKEN], timeout: 30s }}\n\
         \n\
         defaults:\n\
         \x20 approvals: 1        # distinct owner approvals per grant\n\
         \x20 max_duration: 90d   # the longest expiry, counted from the merge\n\
         \n\
         safety:\n\
         \x20 # apply refuses a run that would revoke more than this (not-approved and drift only;\n\
         \x20 # expiries and removed requests are not counted), per resource and overall.\n\
         \x20 max_revocations: 25%\n",
        branch = options.branch,
        admins = yaml_list(&options.admins),
    )
}

fn catalog(options: &Options, schema: &str) -> String {
    let github_example = match &options.github {
        Some(repository) => {
            let org = repository.split_once('/').map(|(owner, _)| owner).unwrap_or(repository);
            format!(
                "\n\
                 \x20 # A GitHub team, managed through the `gh` provider of tenure.yaml:\n\
                 \x20 # - id: gh:team/payments-oncall\n\
                 \x20 #   description: Pager rotation for payments\n\
                 \x20 #   owners: [\"@{org}/payments-leads\"]\n\
                 \x20 #   roles: [member, maintainer]\n\
                 \x20 #   max_duration: 30d\n"
            )
        }
        None => String::new(),
    };
    format!(
        "# yaml-language-server: $schema={schema}\n\
         #\n\
         # The catalog: what can be requested, and who may approve it. Every file in catalog/ is\n\
         # read; changing one needs an admin's approval, like tenure.yaml.\n\
         resources:\n\
         \x20 # <provider>:<type>/<name>; `local` is the file provider of tenure.yaml.\n\
         \x20 - id: local:group/example\n\
         \x20   description: An example group in state/local.json; replace it with your own resources\n\
         \x20   owners: {owners}   # who may approve: logins, group:<name>, or @org/team on github\n\
         \x20   roles: [member]\n\
         \x20   approvals: 1               # distinct owner approvals needed\n\
         \x20   max_duration: 30d          # the longest expiry, counted from the merge\n\
         \x20   # manage: additive         # the default: revoke only what tenure granted;\n\
         \x20   #                          # `exclusive` also revokes everything else, except `keep`\n\
         \x20   # break_glass: {{ who: [group:oncall], max_duration: 4h }}   # emergency self-service\n\
         {github_example}\
         \n\
         # Named sets of logins, usable as owners and admins as group:<name>.\n\
         # groups:\n\
         #   oncall: [alice, bob]\n\
         \n\
         # Machine identities: a request for one also needs an approval from its owners.\n\
         # identities:\n\
         #   - id: deploy-bot\n\
         #     kind: service\n\
         #     owners: [alice]\n\
         #     max_duration: 30d\n",
        owners = yaml_list(&options.admins),
    )
}

fn requests_readme(options: &Options, schema: &str) -> String {
    let review = match &options.github {
        Some(_) => "Open a pull request that adds the file. The `tenure check` workflow comments with the grants it\n\
                    would make and the owners who must approve; once an owner approves and the PR is merged,\n\
                    the next `tenure reconcile` run grants the access, and revokes it when it expires."
            .to_owned(),
        None => format!(
            "Propose the file on a branch. Once an owner approves, merge it into `{}` with the review in the\n\
             merge commit's last paragraph:\n\
             \n\
             ```\n\
             Request access: requests/alice-example.yaml\n\
             \n\
             Proposed-by: alice\n\
             Approved-by: {}\n\
             ```\n\
             \n\
             The next `tenure apply` grants the access, and revokes it when it expires.",
            options.branch,
            options.admins.first().map(String::as_str).unwrap_or("an-owner"),
        ),
    };
    format!(
        "# Access requests\n\
         \n\
         One request per file, `requests/<who>-<what>.yaml`. Deleting the file revokes the access at once.\n\
         \n\
         ```yaml\n\
         # yaml-language-server: $schema={schema}\n\
         requester: alice                  # who asks: the pull request's author\n\
         subjects: [alice]                 # who gets the access: people or service accounts\n\
         justification: \"Trying tenure out\"   # why; never empty\n\
         grants:\n\
         \x20 - {{ resource: local:group/example, role: member }}   # from catalog/\n\
         duration: 7d                      # counted from the merge; or expires: 2026-12-31 (through that day, UTC)\n\
         ticket: OPS-1                     # optional external reference\n\
         ```\n\
         \n\
         {review}\n\
         \n\
         `tenure explain requests/<file>.yaml` says why a request is or is not granted.\n"
    )
}

fn codeowners(options: &Options) -> String {
    let owners: Vec<String> = options
        .admins
        .iter()
        .map(|admin| if admin.starts_with('@') { admin.clone() } else { format!("@{admin}") })
        .collect();
    let owners = owners.join(" ");
    format!(
        "# The policy is tenure.yaml, catalog/ and the workflows that run tenure: changes to them need\n\
         # an admin's review. Turn on \"Require review from Code Owners\" in branch protection.\n\
         # Requests (requests/) are approved by the resources' owners, as tenure checks; add\n\
         # per-directory owners here if you want GitHub to request their reviews too.\n\
         /tenure.yaml  {owners}\n\
         /catalog/     {owners}\n\
         /.github/     {owners}\n"
    )
}

fn readme(options: &Options) -> String {
    let branch = &options.branch;
    let forge_note = match &options.github {
        Some(repository) => {
            format!("Approvals come from pull-request reviews on `{repository}` (`forge: github`).")
        }
        None => {
            "Approvals come from `Proposed-by:`/`Approved-by:` trailers in merge commits (`forge: git`).\n\
                 That mode trusts whoever can write the branch, so the protection below matters even more."
                .to_owned()
        }
    };
    format!(
        "# Access requests\n\
         \n\
         This repository holds who may have access to what, as code. [tenure](https://github.com/tenure-dev/tenure)\n\
         proves that every request was approved by people allowed to approve it, grants it, and revokes it\n\
         when it expires. {forge_note}\n\
         \n\
         - `tenure.yaml`: the configuration (forge, admins, providers, limits).\n\
         - `catalog/`: what can be requested, and who owns it.\n\
         - `requests/`: one access request per file; see [requests/README.md](requests/README.md).\n\
         - `.github/workflows/`: `tenure-check` comments on pull requests, `tenure-reconcile` applies\n\
         \x20 hourly, `tenure-notify` reminds of access that ends soon.\n\
         \n\
         ## Branch protection\n\
         \n\
         tenure trusts the history of `{branch}`, so the organisation must protect it. Turn on, for\n\
         `{branch}` (Settings → Rules → Rulesets, or Branches → Branch protection rules):\n\
         \n\
         1. **Require a pull request before merging**, with at least one **required approval**.\n\
         2. **Dismiss stale pull request approvals when new commits are pushed**.\n\
         3. **Require review from Code Owners**, so that `tenure.yaml`, `catalog/` and `.github/` need\n\
         \x20  an admin (see `.github/CODEOWNERS`).\n\
         4. **No direct pushes**: do not allow bypassing the rules, not even for administrators.\n\
         5. **No force pushes**, and no deletion of the branch: tenure's evidence is the history.\n\
         6. **Restrict tag creation** for tags matching `{branch}`, so that no tag can pose as the branch.\n\
         7. **Require status checks to pass**: the `tenure check` workflow.\n\
         \n\
         ## Commands\n\
         \n\
         ```sh\n\
         tenure check                  # every file, the policy, the approvals; changes nothing\n\
         tenure plan                   # what apply would change\n\
         tenure apply                  # make the changes; one audit line per change\n\
         tenure report --format csv    # every live grant with its evidence, for an auditor\n\
         tenure explain requests/x.yaml\n\
         ```\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(forge: InitForge, repository: Option<&str>, admins: &[&str]) -> InitArgs {
        InitArgs {
            dir: None,
            forge,
            repository: repository.map(str::to_owned),
            branch: "main".into(),
            admins: admins.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn options_refuse_what_tenure_would_reject() {
        assert!(Options::from_args(&args(InitForge::Git, None, &["dana"])).is_ok());
        assert!(Options::from_args(&args(InitForge::Git, None, &["not a login"])).is_err());
        assert!(Options::from_args(&args(InitForge::Git, None, &["group:admins"])).is_err());
        assert!(Options::from_args(&args(InitForge::Git, None, &["@acme/security"])).is_err());
        assert!(Options::from_args(&args(InitForge::Git, Some("acme/access"), &["dana"])).is_err());
        assert!(Options::from_args(&args(InitForge::Github, Some("acme"), &["dana"])).is_err());
        assert!(Options::from_args(&args(InitForge::Github, Some("acme/a b"), &["dana"])).is_err());
        let github = Options::from_args(&args(InitForge::Github, Some("acme/access"), &["@acme/security"]));
        assert_eq!(github.map(|o| o.github).ok().flatten().as_deref(), Some("acme/access"));
        let mut bad_branch = args(InitForge::Git, None, &["dana"]);
        bad_branch.branch = "../x".into();
        assert!(Options::from_args(&bad_branch).is_err());
    }

    #[test]
    fn every_yaml_file_starts_with_its_schema_line() {
        let options = Options::from_args(&args(InitForge::Git, None, &["dana"])).expect("options");
        for (path, text) in files(&options) {
            if path.ends_with(".yaml") || path.ends_with(".yml") {
                let first = text.lines().next().unwrap_or_default();
                assert!(first.starts_with("# yaml-language-server: $schema=https://"), "{path}: {first}");
            }
        }
    }

    #[test]
    fn codeowners_names_admins_and_teams_once_each() {
        let options = Options::from_args(&args(
            InitForge::Github,
            Some("acme/access"),
            &["dana", "@acme/security", "Dana"],
        ))
        .expect("options");
        let text = codeowners(&options);
        assert!(text.contains("/catalog/     @dana @acme/security\n"), "{text}");
        assert!(text.contains("/tenure.yaml  @dana @acme/security\n"), "{text}");
        assert!(text.contains("/.github/     @dana @acme/security\n"), "{text}");
    }
}
