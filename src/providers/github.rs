//! The `github` provider: team membership (`team/<slug>`: member, maintainer), repository
//! collaborators (`repo/<name>`: pull, triage, push, maintain, admin or a custom role) and
//! organization membership (`org`: member, admin), through the shared [`crate::github`] client.
//!
//! Reads take one paginated list per resource plus its pending invitations, because a
//! pending invitation is a grant on its way: counting it as missing would re-invite the
//! person on every run. Only direct grants count (`inherited` team members and collaborators
//! through teams or the org base role are someone else's business). Writes are idempotent
//! PUTs and DELETEs, serial and spaced by `write_interval` (GitHub asks integrations to pause
//! between mutating requests); rate limits, 5xx and dropped connections are retried with
//! back-off by the client. A 403 on a team write means the team is synced from an identity
//! provider, which no retry can change, so it is reported as not manageable. The account
//! tenure acts as is never removed from, or demoted below, org admin: that would lock tenure
//! out of the org halfway through a run.
//!
//! Every list page is a conditional request: its `ETag` and body are kept between runs in a
//! small file under the trusted cache directory, and a `304 Not Modified`, which does not count
//! against GitHub's primary rate limit, stands in for a page that did not change. The file only
//! saves calls: a corrupt, foreign or other-version file is ignored and rebuilt, and a write
//! needs no invalidation because GitHub's ETag of the changed list changes with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::{Provider, ProviderError, Wanted, ensure_own};
use crate::github::{
    Auth, Client, GithubError, PageCache, Settings, StoredPage, is_relative_request_path, login_segment,
    slug_segment,
};
use crate::model::{ResourceId, Tuple};

/// GitHub asks for at least one second between mutating requests.
const DEFAULT_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// The ETag file format; a file of another version is ignored and rebuilt.
const ETAG_VERSION: u32 = 1;

/// The list pages of one provider's organization as GitHub last served them.
#[derive(serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EtagFile {
    version: u32,
    /// The API the pages came from: pages of another GitHub are foreign.
    api_url: String,
    org: String,
    pages: BTreeMap<String, StoredPage>,
}

/// The ETag file of provider `provider` for organization `org`, inside the cache directory.
pub fn etag_file_name(provider: &str, org: &str) -> String {
    format!("github-etags-{provider}--{}.json", org.to_ascii_lowercase())
}

/// Every field that goes into a request must have a shape that cannot redirect it.
fn valid_etag_file(file: &EtagFile, api_url: &str, org: &str) -> bool {
    file.version == ETAG_VERSION
        && file.api_url == api_url
        && file.org.eq_ignore_ascii_case(org)
        && file.pages.iter().all(|(path, page)| {
            is_relative_request_path(path)
                && !page.etag.is_empty()
                && page.etag.len() <= 256
                && page.etag.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                && page.next.as_deref().is_none_or(is_relative_request_path)
        })
}

/// The stored pages, or none when the file is missing, corrupt, foreign or of another version.
fn load_pages(path: &Path, api_url: &str, org: &str) -> BTreeMap<String, StoredPage> {
    let Ok(bytes) = std::fs::read(path) else { return BTreeMap::new() };
    match serde_json::from_slice::<EtagFile>(&bytes) {
        Ok(file) if valid_etag_file(&file, api_url, org) => file.pages,
        _ => {
            tracing::warn!("the ETag cache {} is not usable; it is ignored and rebuilt", path.display());
            BTreeMap::new()
        }
    }
}

/// Writes the file atomically.
fn save_pages(path: &Path, file: &EtagFile) -> Result<(), String> {
    let bytes = serde_json::to_vec(file).map_err(|error| error.to_string())?;
    crate::atomic::write(path, &bytes).map_err(|error| error.to_string())
}

/// A GitHub organization's teams, repositories and members.
pub struct GithubProvider {
    name: String,
    org: String,
    client: Client,
    write_interval: Duration,
    last_write: Option<Instant>,
    /// The login tenure acts as, for a token; `None` for a GitHub App, which is no member.
    acting: Option<String>,
    /// Repository invitations seen by the last read: `(repo, login lower-case)` → (id, expired).
    repo_invitations: BTreeMap<(String, String), (u64, bool)>,
    calls: usize,
    /// List pages by request path: those of earlier runs and those read now.
    pages: PageCache,
    /// Where the pages are kept between runs; `None` for no cache.
    etag_path: Option<PathBuf>,
}

impl std::fmt::Debug for GithubProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubProvider").field("name", &self.name).field("org", &self.org).finish()
    }
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

#[derive(Deserialize)]
struct TeamMember {
    login: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    inherited: bool,
}

#[derive(Deserialize)]
struct Collaborator {
    login: String,
    #[serde(default)]
    role_name: Option<String>,
}

#[derive(Deserialize)]
struct RepoInvitation {
    id: u64,
    invitee: Option<Account>,
    permissions: String,
    #[serde(default)]
    expired: bool,
}

#[derive(Deserialize)]
struct OrgInvitation {
    login: Option<String>,
    #[serde(default)]
    role: String,
}

impl GithubProvider {
    /// The provider `name` for organization `org`, with credentials from the environment.
    /// List pages are kept between runs in `cache_dir`, a directory the caller trusts.
    pub fn open(
        name: &str,
        org: &str,
        write_interval: Option<&str>,
        cache_dir: Option<&Path>,
    ) -> Result<GithubProvider, ProviderError> {
        let config = |detail: String| ProviderError::Config { name: name.to_owned(), detail };
        if !crate::model::is_valid_login(org) {
            return Err(config(format!("`org: {org}` is not a valid GitHub organization name")));
        }
        let write_interval = match write_interval {
            None => DEFAULT_WRITE_INTERVAL,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(duration) if duration <= Duration::from_secs(60) => duration,
                Ok(_) => return Err(config(format!("`write_interval: {text}` is longer than a minute"))),
                Err(error) => {
                    return Err(config(format!(
                        "`write_interval: {text}` is not a duration such as 1s: {error}"
                    )));
                }
            },
        };
        let settings = Settings::from_env().map_err(|error| github_error(name, "connect", error))?;
        let token = matches!(settings.auth, Auth::Token(_));
        let client = Client::connect(settings, org).map_err(|error| github_error(name, "connect", error))?;
        let etag_path = cache_dir.map(|dir| dir.join(etag_file_name(name, org)));
        let previous =
            etag_path.as_deref().map(|path| load_pages(path, client.api_url(), org)).unwrap_or_default();
        let mut provider = GithubProvider {
            name: name.to_owned(),
            org: org.to_owned(),
            client,
            write_interval,
            last_write: None,
            acting: None,
            repo_invitations: BTreeMap::new(),
            calls: 0,
            pages: PageCache { previous, ..PageCache::default() },
            etag_path,
        };
        if token {
            provider.calls += 1;
            let me: Account =
                provider.client.get("/user", &[]).map_err(|error| github_error(name, "read /user", error))?;
            provider.acting = Some(me.login);
        }
        Ok(provider)
    }

    fn fail(&self, action: impl Into<String>, error: GithubError) -> ProviderError {
        github_error(&self.name, action, error)
    }

    fn list<T: serde::de::DeserializeOwned>(
        &mut self,
        route: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, ProviderError> {
        self.calls += 1;
        self.client
            .get_pages(route, query, &mut self.pages)
            .map_err(|error| github_error(&self.name, format!("list {route}"), error))
    }

    /// Keeps the pages read so far for the next run; pages no longer read are dropped, so the
    /// file tracks the resources being managed. A failure only costs calls next time.
    fn save_pages(&self) {
        let Some(path) = &self.etag_path else { return };
        let file = EtagFile {
            version: ETAG_VERSION,
            api_url: self.client.api_url().to_owned(),
            org: self.org.clone(),
            pages: self.pages.current.clone(),
        };
        if let Err(error) = save_pages(path, &file) {
            tracing::warn!("cannot write the ETag cache {}: {error}", path.display());
        }
    }

    fn read_one(
        &mut self,
        local: &str,
        out: &mut Vec<(String, String, String)>,
    ) -> Result<(), ProviderError> {
        let org = self.org.clone();
        match split(local) {
            Some(("team", slug)) => {
                let slug = slug_segment(slug).map_err(|error| self.fail("read", error))?.to_owned();
                let members: Vec<TeamMember> =
                    self.list(&format!("/orgs/{org}/teams/{slug}/members"), &[("role", "all")])?;
                for member in members.into_iter().filter(|member| !member.inherited) {
                    let role = member.role.unwrap_or_else(|| "member".into());
                    out.push((local.to_owned(), role, member.login));
                }
                let invitations: Vec<OrgInvitation> =
                    self.list(&format!("/orgs/{org}/teams/{slug}/invitations"), &[])?;
                for login in invitations.into_iter().filter_map(|invitation| invitation.login) {
                    // The invitation does not carry the team role; a new member starts as one.
                    out.push((local.to_owned(), "member".into(), login));
                }
            }
            Some(("repo", name)) => {
                let name = repo_segment(name).map_err(|error| self.fail("read", error))?.to_owned();
                let collaborators: Vec<Collaborator> =
                    self.list(&format!("/repos/{org}/{name}/collaborators"), &[("affiliation", "direct")])?;
                for collaborator in collaborators {
                    let role = write_role(collaborator.role_name.as_deref().unwrap_or("read"));
                    out.push((local.to_owned(), role, collaborator.login));
                }
                let invitations: Vec<RepoInvitation> =
                    self.list(&format!("/repos/{org}/{name}/invitations"), &[])?;
                self.repo_invitations.retain(|(repo, _), _| repo != &name);
                for invitation in invitations {
                    let Some(invitee) = invitation.invitee else { continue };
                    self.repo_invitations.insert(
                        (name.clone(), invitee.login.to_ascii_lowercase()),
                        (invitation.id, invitation.expired),
                    );
                    if !invitation.expired {
                        out.push((local.to_owned(), write_role(&invitation.permissions), invitee.login));
                    }
                }
            }
            None if local == "org" => {
                let admins: Vec<Account> =
                    self.list(&format!("/orgs/{org}/members"), &[("role", "admin")])?;
                if admins.is_empty() {
                    // An organization always has an owner: an empty list is a broken answer
                    // (or a token that cannot see members), and trusting it would re-invite or
                    // revoke everyone.
                    return Err(ProviderError::Github {
                        name: self.name.clone(),
                        action: format!("read the members of {org}"),
                        status: None,
                        detail: "GitHub listed no admins for the organization, which always has one; \
                                 refusing to trust the list (does the token have `members: read`?)"
                            .into(),
                    });
                }
                let members: Vec<Account> =
                    self.list(&format!("/orgs/{org}/members"), &[("role", "member")])?;
                for (role, accounts) in [("admin", admins), ("member", members)] {
                    out.extend(accounts.into_iter().map(|a| (local.to_owned(), role.to_owned(), a.login)));
                }
                let invitations: Vec<OrgInvitation> = self.list(&format!("/orgs/{org}/invitations"), &[])?;
                for invitation in invitations {
                    let role = match invitation.role.as_str() {
                        "admin" => "admin",
                        "direct_member" => "member",
                        _ => continue,
                    };
                    if let Some(login) = invitation.login {
                        out.push((local.to_owned(), role.to_owned(), login));
                    }
                }
            }
            _ => {
                return Err(ProviderError::Config {
                    name: self.name.clone(),
                    detail: format!(
                        "resource `{local}` is not a github resource; use team/<slug>, repo/<name> or org"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Waits until `write_interval` has passed since the last write.
    fn pace(&mut self) {
        if let Some(last) = self.last_write {
            let since = last.elapsed();
            if since < self.write_interval {
                std::thread::sleep(self.write_interval - since);
            }
        }
        self.last_write = Some(Instant::now());
    }

    fn put(&mut self, action: &str, route: &str, body: serde_json::Value) -> Result<(), ProviderError> {
        self.pace();
        self.calls += 1;
        self.client.put(route, &body).map(|_| ()).map_err(|error| self.fail(action.to_owned(), error))
    }

    fn delete(&mut self, action: &str, route: &str) -> Result<(), ProviderError> {
        self.pace();
        self.calls += 1;
        match self.client.delete(route) {
            Ok(_) => Ok(()),
            // Already gone is what a revocation wants.
            Err(error) if error.status() == Some(404) => Ok(()),
            Err(error) => Err(self.fail(action.to_owned(), error)),
        }
    }

    fn change(&mut self, tuple: &Tuple, grant: bool) -> Result<(), ProviderError> {
        ensure_own(&self.name, &tuple.resource)?;
        let org = self.org.clone();
        let login =
            login_segment("login", &tuple.subject).map_err(|error| self.fail("change", error))?.to_owned();
        let verb = if grant { "grant" } else { "revoke" };
        let action = format!("{verb} {} {} to {login}", tuple.resource, tuple.role);
        let local = tuple.resource.local();
        match split(local) {
            Some(("team", slug)) => {
                let slug = slug_segment(slug).map_err(|error| self.fail(action.clone(), error))?.to_owned();
                let route = format!("/orgs/{org}/teams/{slug}/memberships/{login}");
                let result = if grant {
                    self.put(&action, &route, json!({ "role": tuple.role }))
                } else {
                    self.delete(&action, &route)
                };
                result.map_err(|error| match error {
                    ProviderError::Github { status: Some(403), ref detail, .. }
                        if !detail.to_ascii_lowercase().contains("rate limit") =>
                    {
                        ProviderError::Refused {
                        name: self.name.clone(),
                        detail: format!(
                            "team {slug} is not manageable through the API (it is synced from an identity \
                             provider, or tenure may not write it); {action} was not retried"
                            ),
                        }
                    }
                    other => other,
                })
            }
            Some(("repo", name)) => {
                let name = repo_segment(name).map_err(|error| self.fail(action.clone(), error))?.to_owned();
                let invitation =
                    self.repo_invitations.get(&(name.clone(), login.to_ascii_lowercase())).copied();
                if let Some((id, expired)) = invitation
                    && (expired || !grant)
                {
                    // An expired invitation blocks a new one; a pending one is cancelled on revoke.
                    self.delete(&action, &format!("/repos/{org}/{name}/invitations/{id}"))?;
                    self.repo_invitations.remove(&(name.clone(), login.to_ascii_lowercase()));
                }
                let route = format!("/repos/{org}/{name}/collaborators/{login}");
                if grant {
                    self.put(&action, &route, json!({ "permission": tuple.role }))
                } else {
                    self.delete(&action, &route)
                }
            }
            None if local == "org" => {
                let is_me = self.acting.as_deref().is_some_and(|me| me.eq_ignore_ascii_case(&login));
                if is_me && !(grant && tuple.role == "admin") {
                    return Err(ProviderError::Refused {
                        name: self.name.clone(),
                        detail: format!(
                            "refused to {verb} {} {} for {login}: it is the account tenure acts as, and \
                             removing it from org admin would lock tenure out; change it by hand",
                            tuple.resource, tuple.role
                        ),
                    });
                }
                let route = format!("/orgs/{org}/memberships/{login}");
                if grant {
                    self.put(&action, &route, json!({ "role": tuple.role }))
                } else {
                    self.delete(&action, &route)
                }
            }
            _ => Err(ProviderError::Config {
                name: self.name.clone(),
                detail: format!(
                    "resource `{local}` is not a github resource; use team/<slug>, repo/<name> or org"
                ),
            }),
        }
    }
}

impl Drop for GithubProvider {
    fn drop(&mut self) {
        tracing::debug!(
            provider = %self.name,
            calls = self.calls,
            pages_not_modified = self.pages.not_modified,
            pages_fresh = self.pages.fresh,
            "github provider API calls"
        );
    }
}

impl Provider for GithubProvider {
    fn read(&mut self, resources: &[ResourceId]) -> Result<Vec<Tuple>, ProviderError> {
        let name = self.name.clone();
        let wanted = Wanted::new(&name, resources)?;
        let mut found = Vec::new();
        for local in wanted.locals() {
            self.read_one(local, &mut found)?;
        }
        self.save_pages();
        let mut tuples: Vec<Tuple> = found
            .iter()
            .filter_map(|(resource, role, subject)| wanted.tuple(resource, role, subject))
            .collect();
        tuples.sort();
        tuples.dedup();
        Ok(tuples)
    }

    fn grant(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(tuple, true)
    }

    fn revoke(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(tuple, false)
    }
}

fn split(local: &str) -> Option<(&str, &str)> {
    local.split_once('/')
}

/// A repository name of the org, checked before it goes into a path.
fn repo_segment(name: &str) -> Result<&str, GithubError> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(name)
    } else {
        Err(GithubError::InvalidName { what: "repository", value: name.to_owned() })
    }
}

/// The write vocabulary of a repository role: reads say `read`/`write`, writes say
/// `pull`/`push`; the other names, custom roles included, are the same in both.
fn write_role(role_name: &str) -> String {
    match role_name {
        "read" => "pull".into(),
        "write" => "push".into(),
        other => other.to_owned(),
    }
}

fn github_error(name: &str, action: impl Into<String>, error: GithubError) -> ProviderError {
    ProviderError::Github {
        name: name.to_owned(),
        action: action.into(),
        status: error.status(),
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etag_file() -> EtagFile {
        let page = StoredPage {
            etag: "W/\"abc\"".into(),
            items: vec![serde_json::json!({"login": "a1"})],
            next: Some("/orgs/acme/members?page=2&per_page=100".into()),
        };
        EtagFile {
            version: ETAG_VERSION,
            api_url: "https://api.github.com".into(),
            org: "acme".into(),
            pages: BTreeMap::from([("/orgs/acme/members?role=admin&per_page=100".to_owned(), page)]),
        }
    }

    #[test]
    fn the_etag_file_is_validated_on_read() {
        assert!(valid_etag_file(&etag_file(), "https://api.github.com", "ACME"));
        assert!(!valid_etag_file(&etag_file(), "https://ghe.example.com/api/v3", "acme"), "foreign API");
        assert!(!valid_etag_file(&etag_file(), "https://api.github.com", "other"), "foreign org");
        let mut old = etag_file();
        old.version = 0;
        assert!(!valid_etag_file(&old, "https://api.github.com", "acme"));
        for next in ["//evil.example/x", "https://evil.example/x", "/a b", "/a\r\nX-Evil: 1"] {
            let mut bad = etag_file();
            bad.pages.values_mut().for_each(|page| page.next = Some(next.into()));
            assert!(!valid_etag_file(&bad, "https://api.github.com", "acme"), "{next:?}");
        }
        let mut bad_etag = etag_file();
        bad_etag.pages.values_mut().for_each(|page| page.etag = "\"a\"\r\nX-Evil: 1".into());
        assert!(!valid_etag_file(&bad_etag, "https://api.github.com", "acme"));
        let mut bad_key = etag_file();
        let page = bad_key.pages.pop_first().unwrap().1;
        bad_key.pages.insert("//evil.example/orgs".into(), page);
        assert!(!valid_etag_file(&bad_key, "https://api.github.com", "acme"));
    }

    #[test]
    fn the_etag_file_round_trips_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(etag_file_name("gh", "ACME"));
        assert!(path.ends_with("github-etags-gh--acme.json"));
        assert!(load_pages(&path, "https://api.github.com", "acme").is_empty(), "missing");
        save_pages(&path, &etag_file()).unwrap();
        assert_eq!(load_pages(&path, "https://api.github.com", "acme"), etag_file().pages);
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(load_pages(&path, "https://api.github.com", "acme").is_empty());
    }

    #[test]
    fn repository_roles_read_in_the_write_vocabulary() {
        assert_eq!(write_role("read"), "pull");
        assert_eq!(write_role("write"), "push");
        assert_eq!(write_role("triage"), "triage");
        assert_eq!(write_role("security-reviewer"), "security-reviewer");
    }

    #[test]
    fn repository_names_that_could_change_the_path_are_refused() {
        assert!(repo_segment("payments.api").is_ok());
        for bad in ["..", "a/b", "a?b", "", "a b", "a%2f"] {
            assert!(repo_segment(bad).is_err(), "{bad}");
        }
    }
}
