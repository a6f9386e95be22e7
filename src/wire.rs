//! The file formats of an access repository, exactly as users write them.
//!
//! These serde types are the boundary between YAML text and tenure's domain
//! model: `load` fills them, `policy` validates them into `model` values, and
//! `schema` turns them into the JSON Schemas under `schemas/`. They carry no
//! behaviour and no validation beyond their shape; every struct denies unknown
//! fields so that a typo is an error rather than a silently ignored setting.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `tenure.yaml`: where approvals come from, which systems are managed, and the
/// limits that apply to every request.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Format version. Only `1` exists.
    pub version: u32,
    /// Where approvals come from.
    pub forge: ForgeConfig,
    /// The branch whose first-parent history is the truth.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Who may approve changes to `tenure.yaml` and `catalog/`: logins, `group:<name>`, or
    /// `@org/team` on github.
    #[serde(default)]
    pub admins: Vec<String>,
    /// The target systems, by the name used as the prefix of resource ids.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Defaults for catalog entries that do not set their own limits.
    #[serde(default)]
    pub defaults: Defaults,
    /// Guards that stop a run which would revoke too much.
    #[serde(default)]
    pub safety: Safety,
    /// Reject subjects that are not a listed identity, a member of the GitHub org (github) or
    /// a member of a catalog group (git).
    #[serde(default)]
    pub require_known_subjects: bool,
}

fn default_branch() -> String {
    "main".to_owned()
}

/// Where approvals come from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ForgeConfig {
    /// Pull-request reviews on GitHub. The API URL comes from `GITHUB_API_URL`.
    Github {
        /// `owner/name` of the access repository on GitHub.
        repository: String,
    },
    /// `Proposed-by:` and `Approved-by:` trailers in the change commit's message. This mode
    /// trusts whoever can write the branch.
    Git {},
}

/// A target system.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ProviderConfig {
    /// GitHub teams, repository collaborators and organization membership.
    Github {
        /// The organization whose teams, repositories and members are managed.
        org: String,
        /// The least time between two writes (PUT or DELETE), such as `1s` (the default, as
        /// GitHub asks of integrations) or `0s`.
        #[serde(default)]
        write_interval: Option<String>,
    },
    /// PostgreSQL role membership.
    Postgres {
        /// The environment variable that holds the connection URL.
        url_env: String,
    },
    /// A JSON file is the target system.
    File {
        /// The state file, relative to the working-tree root.
        path: String,
    },
    /// An external program speaks JSON on stdin and stdout.
    Command {
        /// The program, relative to the working-tree root.
        program: String,
        /// Environment variables passed to the program, besides PATH and HOME.
        #[serde(default)]
        env: Vec<String>,
        /// How long one call may take, such as `30s`.
        #[serde(default)]
        timeout: Option<String>,
    },
}

/// Defaults for catalog entries.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Distinct owner approvals that a grant needs.
    #[serde(default = "default_approvals")]
    pub approvals: u32,
    /// The longest expiry allowed, counted from the merge, such as `90d`.
    #[serde(default = "default_max_duration")]
    pub max_duration: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { approvals: default_approvals(), max_duration: default_max_duration() }
    }
}

fn default_approvals() -> u32 {
    1
}

fn default_max_duration() -> String {
    "90d".to_owned()
}

/// Guards against runs that would revoke too much at once.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// The most counted revocations one run may make: a count such as `10`, or a percentage
    /// such as `25%` of the actual grants (checked per resource and overall).
    #[serde(default = "default_max_revocations")]
    pub max_revocations: CountOrPercent,
}

impl Default for Safety {
    fn default() -> Self {
        Safety { max_revocations: default_max_revocations() }
    }
}

fn default_max_revocations() -> CountOrPercent {
    CountOrPercent::Text("25%".to_owned())
}

/// A count (`10`) or a percentage (`"25%"`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CountOrPercent {
    /// An absolute number of revocations.
    Count(u64),
    /// A percentage such as `25%`, or a count written as text.
    Text(String),
}

/// One file under `catalog/`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// The resources that can be requested.
    #[serde(default)]
    pub resources: Vec<ResourceEntry>,
    /// Named sets of logins, usable as owners and admins as `group:<name>`.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Machine identities (service accounts, bots) and who owns them.
    #[serde(default)]
    pub identities: Vec<IdentityEntry>,
}

/// A resource that can be requested.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    /// `<provider>:<type>/<name>`, or `<provider>:org` for a whole GitHub organization.
    pub id: String,
    /// What the resource is, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Who may approve: logins, `group:<name>`, or `@org/team` on github.
    pub owners: Vec<String>,
    /// The roles that may be requested.
    pub roles: Vec<String>,
    /// Distinct owner approvals needed (default: `defaults.approvals`).
    #[serde(default)]
    pub approvals: Option<u32>,
    /// The longest expiry allowed, counted from the merge (default: `defaults.max_duration`).
    #[serde(default)]
    pub max_duration: Option<String>,
    /// `additive` revokes only what tenure granted; `exclusive` also revokes every other grant.
    #[serde(default)]
    pub manage: ManageMode,
    /// Accounts that are never revoked.
    #[serde(default)]
    pub keep: Vec<String>,
    /// Allow a run to leave this resource with no grants at all.
    #[serde(default)]
    pub allow_empty: bool,
    /// Emergency access without approvals, reviewed after the fact.
    #[serde(default)]
    pub break_glass: Option<BreakGlassEntry>,
}

/// How much of a resource's actual grants tenure owns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManageMode {
    /// Revoke only grants that an approved request once made.
    #[default]
    Additive,
    /// Revoke every grant that no live approved request backs, except `keep`.
    Exclusive,
}

/// Who may take emergency access, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassEntry {
    /// Logins, `group:<name>`, or `@org/team` on github.
    pub who: Vec<String>,
    /// The longest break-glass grant, counted from the merge, such as `4h`.
    pub max_duration: String,
}

/// A machine identity.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityEntry {
    /// The subject name of the identity.
    pub id: String,
    /// The kind of identity. Only `service` exists.
    pub kind: IdentityKind,
    /// Who must approve access for this identity.
    pub owners: Vec<String>,
    /// The longest grant this identity may hold, counted from the merge.
    #[serde(default)]
    pub max_duration: Option<String>,
    /// What the identity is, for people.
    #[serde(default)]
    pub description: Option<String>,
}

/// The kind of a machine identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// A service account or bot.
    Service,
}

/// One access request: a file under `requests/`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// Who asks. Must be the author of the change (the PR author, or `Proposed-by`).
    pub requester: String,
    /// Who gets the access: people or service accounts.
    pub subjects: Vec<String>,
    /// Why the access is needed. Must not be empty.
    pub justification: String,
    /// The resources and roles asked for.
    pub grants: Vec<GrantEntry>,
    /// When the access ends: a date (valid through that day, UTC) or an RFC 3339 time.
    #[serde(default)]
    pub expires: Option<String>,
    /// Instead of `expires`: how long the access lasts, counted from the merge, such as `8h`.
    #[serde(default)]
    pub duration: Option<String>,
    /// An optional external reference, such as a ticket id.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Emergency access without approvals (see the catalog's `break_glass`).
    #[serde(default)]
    pub break_glass: bool,
}

/// One resource and role asked for.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    /// The resource id, as listed in the catalog.
    pub resource: String,
    /// One of the resource's roles.
    pub role: String,
}
