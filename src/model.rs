//! The domain vocabulary shared by every other module: logins, resource ids,
//! grant tuples, object ids, rejection codes and findings.
//!
//! Everything here is a plain value. Constructors that take user text validate
//! it and return `Option`/`Result` instead of panicking, because the core must
//! survive any input. Nothing here does I/O or reads the clock.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;

/// A GitHub-style login: 1–39 ASCII letters, digits or single inner hyphens.
///
/// Logins compare without regard to case (rule 3), but keep the spelling the
/// user wrote for display.
#[derive(Debug, Clone)]
pub struct Login(String);

impl Login {
    /// Validates `text` as a login.
    pub fn parse(text: &str) -> Option<Login> {
        is_valid_login(text).then(|| Login(text.to_owned()))
    }

    /// The login as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for every comparison.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether `other` names the same account.
    pub fn same(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Login {}

impl Hash for Login {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for Login {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Login {
    fn cmp(&self, other: &Self) -> Ordering {
        // Consistent with `Eq`: sets of logins must treat `Bob` and `bob` as one account.
        self.0.bytes().map(|b| b.to_ascii_lowercase()).cmp(other.0.bytes().map(|b| b.to_ascii_lowercase()))
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Login {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// GitHub's login syntax, applied in every forge mode.
pub fn is_valid_login(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 39 {
        return false;
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return false;
    }
    let mut previous_hyphen = false;
    for &byte in bytes {
        match byte {
            b'-' if previous_hyphen => return false,
            b'-' => previous_hyphen = true,
            b if b.is_ascii_alphanumeric() => previous_hyphen = false,
            _ => return false,
        }
    }
    true
}

/// A subject outside GitHub: printable ASCII without spaces, at most 128 characters.
pub fn is_valid_plain_subject(text: &str) -> bool {
    !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A PostgreSQL role name that tenure accepts as a subject or a role resource: an unquoted
/// identifier, so that it can never carry quoting tricks into SQL.
pub fn is_valid_postgres_role(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// An owner or approver reference in the catalog or in `admins`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// A login.
    User(Login),
    /// `group:<name>`: a catalog group.
    Group(String),
    /// `@org/slug`: a GitHub team, resolved only on the github forge.
    Team {
        /// The organization.
        org: String,
        /// The team slug.
        slug: String,
    },
}

impl Principal {
    /// Parses `alice`, `group:leads` or `@acme/leads`.
    pub fn parse(text: &str) -> Option<Principal> {
        if let Some(name) = text.strip_prefix("group:") {
            return is_valid_group_name(name).then(|| Principal::Group(name.to_owned()));
        }
        if let Some(rest) = text.strip_prefix('@') {
            let (org, slug) = rest.split_once('/')?;
            let slug_ok = !slug.is_empty()
                && slug.len() <= 100
                && slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            return (is_valid_login(org) && slug_ok)
                .then(|| Principal::Team { org: org.to_ascii_lowercase(), slug: slug.to_ascii_lowercase() });
        }
        Login::parse(text).map(Principal::User)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(login) => write!(f, "{login}"),
            Principal::Group(name) => write!(f, "group:{name}"),
            Principal::Team { org, slug } => write!(f, "@{org}/{slug}"),
        }
    }
}

/// Group names: lowercase-friendly identifiers.
pub fn is_valid_group_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A resource id: `<provider>:<type>/<name>` or `<provider>:org`.
///
/// Ids are cloned into every policy version, tuple and plan entry, so the text is shared
/// rather than copied. Ids order by provider, then by the rest, as the pair they are.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceId {
    /// The whole id, `provider:local`.
    text: Arc<str>,
    /// The position of the `:` in `text`.
    colon: usize,
}

impl ResourceId {
    /// Parses and validates a resource id. Names may not contain `..`, slashes, spaces or
    /// control characters, so that an id can never address something outside its provider.
    pub fn parse(text: &str) -> Option<ResourceId> {
        let (provider, local) = text.split_once(':')?;
        if !is_valid_provider_name(provider) {
            return None;
        }
        if local == "org" {
            return Some(ResourceId { text: text.into(), colon: provider.len() });
        }
        let (kind, name) = local.split_once('/')?;
        let kind_ok = !kind.is_empty()
            && kind.len() <= 64
            && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let name_ok = !name.is_empty()
            && name.len() <= 100
            && name != "."
            && !name.contains("..")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        (kind_ok && name_ok).then(|| ResourceId { text: text.into(), colon: provider.len() })
    }

    /// The provider name, the part before `:`.
    pub fn provider(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The id without its provider prefix: `team/payments`, or `org`.
    pub fn local(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    /// The resource type: `team`, `repo`, `role`, … or `org`.
    pub fn kind(&self) -> &str {
        let local = self.local();
        local.split_once('/').map_or(local, |(kind, _)| kind)
    }
}

impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> Ordering {
        // With providers of one length, the texts compare as the pairs do (the `:`s line up),
        // in one comparison: the common case, since most ids share their provider.
        if self.colon == other.colon {
            self.text.cmp(&other.text)
        } else {
            (self.provider(), self.local()).cmp(&(other.provider(), other.local()))
        }
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceId").field(&&*self.text).finish()
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Provider names: the prefix of resource ids.
pub fn is_valid_provider_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.as_bytes()[0].is_ascii_lowercase()
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The kind of a configured provider, which decides how subjects are spelled and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// GitHub: subjects are logins, compared without case; one role per subject.
    Github,
    /// PostgreSQL: subjects are role names.
    Postgres,
    /// A JSON state file.
    File,
    /// An external program.
    Command,
}

impl ProviderKind {
    /// Whether the target system compares subjects without regard to case.
    pub fn folds_subject_case(self) -> bool {
        matches!(self, ProviderKind::Github)
    }

    /// Whether a subject holds at most one role on a resource, so that a role change is an
    /// `update` rather than a revoke plus a grant.
    pub fn one_role_per_subject(self) -> bool {
        matches!(self, ProviderKind::Github)
    }

    /// Whether `subject` is spelled correctly for this kind of target.
    pub fn is_valid_subject(self, subject: &str) -> bool {
        match self {
            ProviderKind::Github => is_valid_login(subject),
            ProviderKind::Postgres => is_valid_postgres_role(subject),
            ProviderKind::File | ProviderKind::Command => is_valid_plain_subject(subject),
        }
    }

    /// The rank of `role` among a one-role-per-subject resource's roles: the highest wins
    /// when several live requests want different roles.
    pub fn role_rank(self, resource: &ResourceId, role: &str) -> u8 {
        if self != ProviderKind::Github {
            return 0;
        }
        let order: &[&str] = match resource.kind() {
            "repo" => &["pull", "triage", "push", "maintain", "admin"],
            "team" => &["member", "maintainer"],
            "org" => &["member", "admin"],
            _ => &[],
        };
        // Custom repository roles rank between the built-in ones they usually extend; tenure
        // cannot know their place, so they rank just above `pull`.
        order.iter().position(|known| *known == role).map_or(1, |index| index as u8 * 2)
    }
}

/// One grant: a subject holds a role on a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Tuple {
    /// The full resource id.
    pub resource: ResourceId,
    /// The role.
    pub role: String,
    /// Who holds it. Case-folded for providers that compare subjects without case.
    pub subject: String,
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.resource, self.role, self.subject)
    }
}

/// A git object id as lowercase hex. The core never parses it; it only compares and prints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ObjectId(pub String);

impl ObjectId {
    /// The first 12 hex digits, for people.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable rejection codes of docs/rejection-codes.md, in the order in which they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The file is not exactly one well-formed YAML document within the limits.
    InvalidYaml,
    /// Well-formed YAML that does not fit the schema.
    InvalidField,
    /// A grant names a resource that is not in the catalog.
    UnknownResource,
    /// A grant asks for a role that the resource does not offer.
    RoleNotAllowed,
    /// A subject is not a known identity or member, with `require_known_subjects`.
    UnknownSubject,
    /// The expiry is not after the merge.
    ExpiryBeforeMerge,
    /// The expiry is further from the merge than the longest duration allowed.
    ExpiryTooLong,
    /// The change has no pull request, or no approval trailers.
    NotReviewed,
    /// The requester is not the author of the change.
    RequesterMismatch,
    /// A break-glass request that the resource does not allow.
    BreakGlassNotAllowed,
    /// Not enough owners approved.
    InsufficientApprovals,
    /// A change to `tenure.yaml` or `catalog/` that no admin approved.
    UnapprovedPolicyChange,
}

impl Code {
    /// Every code, in check order.
    pub const ALL: [Code; 12] = [
        Code::InvalidYaml,
        Code::InvalidField,
        Code::UnknownResource,
        Code::RoleNotAllowed,
        Code::UnknownSubject,
        Code::ExpiryBeforeMerge,
        Code::ExpiryTooLong,
        Code::NotReviewed,
        Code::RequesterMismatch,
        Code::BreakGlassNotAllowed,
        Code::InsufficientApprovals,
        Code::UnapprovedPolicyChange,
    ];

    /// The kebab-case name used in output and in `docs/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidYaml => "invalid-yaml",
            Code::InvalidField => "invalid-field",
            Code::UnknownResource => "unknown-resource",
            Code::RoleNotAllowed => "role-not-allowed",
            Code::UnknownSubject => "unknown-subject",
            Code::ExpiryBeforeMerge => "expiry-before-merge",
            Code::ExpiryTooLong => "expiry-too-long",
            Code::NotReviewed => "not-reviewed",
            Code::RequesterMismatch => "requester-mismatch",
            Code::BreakGlassNotAllowed => "break-glass-not-allowed",
            Code::InsufficientApprovals => "insufficient-approvals",
            Code::UnapprovedPolicyChange => "unapproved-policy-change",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file that grants nothing, with the first failing check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The request (or policy) file.
    pub request: String,
    /// The first failing check.
    pub code: Code,
    /// What is wrong and what is allowed; may mention later failing checks.
    pub message: String,
    /// The field path, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The line, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The column, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// Something a person should know that grants or refuses nothing by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// A stable kebab-case name, such as `policy-trusted-on-first-use`.
    pub code: &'static str,
    /// The file it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What happened.
    pub message: String,
}

/// One commit of the first-parent history, with the watched paths it changed
/// against its first parent. Produced by `source`, consumed by the pure core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// The commit id.
    pub id: ObjectId,
    /// The first parent, if any.
    pub first_parent: Option<ObjectId>,
    /// How many parents the commit has (2 or more for a merge).
    pub parent_count: usize,
    /// The full commit message, trailers included.
    pub message: String,
    /// The committer time.
    pub committed_at: chrono::DateTime<chrono::Utc>,
    /// The author's name, as git recorded it.
    pub author_name: String,
    /// The author's email, as git recorded it.
    pub author_email: String,
    /// Watched paths whose entry differs from the first parent, sorted by path.
    pub changes: Vec<PathChange>,
}

/// A path whose entry changed in one commit. A rename appears as two changes: the old path
/// loses its entry and the new path gains one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    /// The path from the repository root, with `/` separators.
    pub path: String,
    /// The entry before the commit, if the path held a non-directory entry.
    pub before: Option<TreeEntry>,
    /// The entry after the commit, if the path holds a non-directory entry.
    pub after: Option<TreeEntry>,
}

/// A non-directory entry of a git tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The object id (a blob, or a commit for a submodule).
    pub id: ObjectId,
    /// What kind of entry it is.
    pub kind: EntryKind,
}

/// The kind of a tree entry, from its git file mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// An executable file.
    Executable,
    /// A symbolic link; its blob holds the target path, never file content.
    Symlink,
    /// A submodule or anything else that is not a blob.
    Other,
}

/// Where a grant came from: everything an auditor needs to answer "who approved this, and
/// was it allowed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The request file.
    pub request: String,
    /// The blob id of the approved version of the file.
    pub blob: ObjectId,
    /// The change commit (rule 1).
    pub change_commit: ObjectId,
    /// The trusted policy commit that judged it (rule 5).
    pub policy_commit: Option<ObjectId>,
    /// The pull request number (github forge).
    pub pr_number: Option<u64>,
    /// The pull request URL (github forge).
    pub pr_url: Option<String>,
    /// Who asked.
    pub requester: String,
    /// The approvals that counted.
    pub approvers: Vec<String>,
    /// Why.
    pub justification: String,
    /// An external reference, if given.
    pub ticket: Option<String>,
    /// When the change was merged (rule 7).
    pub merged_at: chrono::DateTime<chrono::Utc>,
    /// When the grant ends.
    pub expires: chrono::DateTime<chrono::Utc>,
    /// Whether this is emergency access, granted without approvals (rule 12).
    pub break_glass: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_follow_github_syntax() {
        for good in ["a", "alice", "Alice-Bob", "a1-b2-c3", &"x".repeat(39)] {
            assert!(is_valid_login(good), "{good} should be valid");
        }
        for bad in ["", "-a", "a-", "a--b", "a b", "a_b", "ålice", "a.b", &"x".repeat(40)] {
            assert!(!is_valid_login(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn logins_compare_without_case() {
        let lower = Login::parse("alice").unwrap();
        let mixed = Login::parse("ALIce").unwrap();
        assert_eq!(lower, mixed);
        assert_eq!(lower.key(), mixed.key());
        assert!(mixed.same("Alice"));
        assert_eq!(mixed.as_str(), "ALIce");
    }

    #[test]
    fn principals_parse_users_groups_and_teams() {
        assert_eq!(Principal::parse("carol"), Some(Principal::User(Login::parse("carol").unwrap())));
        assert_eq!(Principal::parse("group:leads"), Some(Principal::Group("leads".into())));
        assert_eq!(
            Principal::parse("@Acme/Payments-Leads"),
            Some(Principal::Team { org: "acme".into(), slug: "payments-leads".into() })
        );
        for bad in ["group:", "@acme", "@acme/", "@/x", "bad login", "group:a b"] {
            assert_eq!(Principal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn resource_ids_refuse_path_tricks() {
        let id = ResourceId::parse("gh:team/payments-oncall").unwrap();
        assert_eq!(id.provider(), "gh");
        assert_eq!(id.kind(), "team");
        assert_eq!(id.to_string(), "gh:team/payments-oncall");
        assert_eq!(ResourceId::parse("gh:org").unwrap().kind(), "org");
        for bad in [
            "gh",
            "gh:",
            "gh:team",
            "gh:team/",
            "gh:team/a/b",
            "gh:team/..",
            "gh:team/a..b",
            "gh:team/a b",
            "gh:team/a\u{7}",
            "GH:team/a",
            ":team/a",
            "gh:Team/a",
            "gh:team/.",
        ] {
            assert_eq!(ResourceId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resource_ids_order_by_provider_then_by_the_rest() {
        // As text, `gh2:…` sorts before `gh:…` (`2` < `:`); as a pair, provider `gh` comes first.
        let mut ids: Vec<ResourceId> =
            ["gh2:team/a", "gh:team/b", "gh:org", "g:team/z", "gh:team/a-b", "gh:team/a"]
                .into_iter()
                .map(|text| ResourceId::parse(text).unwrap())
                .collect();
        ids.sort();
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["g:team/z", "gh:org", "gh:team/a", "gh:team/a-b", "gh:team/b", "gh2:team/a"]);
        // Every pair orders as its (provider, rest) pair does.
        for a in &ids {
            for b in &ids {
                assert_eq!(a.cmp(b), (a.provider(), a.local()).cmp(&(b.provider(), b.local())), "{a} {b}");
            }
        }
        let id = ResourceId::parse("local:group/admins").unwrap();
        assert_eq!((id.provider(), id.local(), id.kind()), ("local", "group/admins", "group"));
        assert_eq!(id, ResourceId::parse("local:group/admins").unwrap());
    }
    #[test]
    fn subjects_are_checked_per_provider_kind() {
        assert!(ProviderKind::Github.is_valid_subject("alice"));
        assert!(!ProviderKind::Github.is_valid_subject("svc.deploy"));
        assert!(ProviderKind::Postgres.is_valid_subject("app_reader"));
        assert!(!ProviderKind::Postgres.is_valid_subject("alice\"; DROP ROLE admin; --"));
        assert!(ProviderKind::File.is_valid_subject("svc.deploy@example"));
        assert!(!ProviderKind::File.is_valid_subject("has space"));
        assert!(!ProviderKind::File.is_valid_subject(&"x".repeat(129)));
    }

    #[test]
    fn github_roles_rank_as_designed() {
        let repo = ResourceId::parse("gh:repo/api").unwrap();
        let rank = |role| ProviderKind::Github.role_rank(&repo, role);
        assert!(rank("pull") < rank("triage"));
        assert!(rank("triage") < rank("push"));
        assert!(rank("push") < rank("maintain"));
        assert!(rank("maintain") < rank("admin"));
        let team = ResourceId::parse("gh:team/x").unwrap();
        assert!(
            ProviderKind::Github.role_rank(&team, "member")
                < ProviderKind::Github.role_rank(&team, "maintainer")
        );
    }

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let names: std::collections::BTreeSet<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let mut sorted = Code::ALL;
        sorted.sort();
        assert_eq!(sorted, Code::ALL, "Ord must follow the check order");
    }
}
