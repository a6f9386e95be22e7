//! Policy: `tenure.yaml` and the catalog, validated into one value, and the
//! chain of trust that decides which policy versions have any power (rules 5
//! and 6).
//!
//! `build` turns parsed wire files into a [`Policy`] and collects every problem
//! instead of stopping at the first. `trust_chain` walks the policy versions of
//! the history in order and keeps only those that an admin of the previous
//! trusted version approved. Pure: values in, values out.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::TimeDelta;

use crate::forge::{ChangeReview, ReviewStatus, TeamMembers};
use crate::model::{Login, ObjectId, Principal, ProviderKind, ResourceId, is_valid_group_name};
use crate::wire::{
    CatalogFile, ConfigFile, CountOrPercent, ForgeConfig, IdentityKind, ManageMode, ProviderConfig,
};

/// The path of the configuration file.
pub const CONFIG_PATH: &str = "tenure.yaml";
/// The directory of catalog files.
pub const CATALOG_DIR: &str = "catalog/";
/// The directory of request files.
pub const REQUESTS_DIR: &str = "requests/";

/// Whether `path` is a policy file: `tenure.yaml`, or anything under `catalog/`.
pub fn is_policy_path(path: &str) -> bool {
    path == CONFIG_PATH || path.starts_with(CATALOG_DIR)
}

/// Whether `path` is a catalog file that tenure reads.
pub fn is_catalog_file(path: &str) -> bool {
    path.starts_with(CATALOG_DIR) && has_yaml_extension(path)
}

/// Whether `path` is a request file that tenure reads.
pub fn is_request_file(path: &str) -> bool {
    path.starts_with(REQUESTS_DIR) && has_yaml_extension(path)
}

fn has_yaml_extension(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Where approvals come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeKind {
    /// Commit trailers.
    Git,
    /// Pull-request reviews on GitHub.
    Github {
        /// `owner/name`.
        repository: String,
    },
}

/// The revocation limit of `safety.max_revocations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationLimit {
    /// At most this many counted revocations overall.
    Count(u64),
    /// At most this percentage of the actual grants, per resource and overall.
    Percent(u32),
}

/// A validated catalog resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The id.
    pub id: ResourceId,
    /// The catalog file that defines it.
    pub file: String,
    /// Who may approve.
    pub owners: Vec<Principal>,
    /// The roles that may be requested.
    pub roles: Vec<String>,
    /// Distinct owner approvals needed.
    pub approvals: u32,
    /// The longest expiry, from the merge.
    pub max_duration: TimeDelta,
    /// Additive or exclusive.
    pub manage: ManageMode,
    /// Accounts never revoked.
    pub keep: Vec<String>,
    /// Whether a run may leave the resource empty.
    pub allow_empty: bool,
    /// Emergency access.
    pub break_glass: Option<BreakGlass>,
}

/// Who may take emergency access on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    /// Who may.
    pub who: Vec<Principal>,
    /// For how long, from the merge.
    pub max_duration: TimeDelta,
}

/// A machine identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its subject name.
    pub id: String,
    /// Who must approve access for it.
    pub owners: Vec<Principal>,
    /// Its own longest grant, if set.
    pub max_duration: Option<TimeDelta>,
}

/// One validated policy version: configuration plus catalog.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The branch whose history is the truth.
    pub branch: String,
    /// Where approvals come from.
    pub forge: ForgeKind,
    /// Who may approve policy changes.
    pub admins: Vec<Principal>,
    /// Configured providers, by name, with their raw configuration.
    pub providers: BTreeMap<String, (ProviderKind, ProviderConfig)>,
    /// `safety.max_revocations`.
    pub max_revocations: RevocationLimit,
    /// `require_known_subjects`.
    pub require_known_subjects: bool,
    /// Catalog resources. The versions of a history share the entries that they have in
    /// common (`assemble_after`).
    pub resources: ResourceMap,
    /// Catalog groups.
    pub groups: BTreeMap<String, Arc<BTreeSet<Login>>>,
    /// Machine identities, by subject.
    pub identities: BTreeMap<String, Identity>,
    /// What it was assembled from.
    basis: Basis,
}

/// A policy's resources by id: a persistent map, so that two versions share what they have in
/// common instead of each holding the whole catalog.
pub type ResourceMap = rpds::RedBlackTreeMapSync<ResourceId, Arc<Resource>>;

/// The configuration and catalog files a policy was assembled from, in path order.
#[derive(Debug, Clone)]
struct Basis {
    settings: Arc<Settings>,
    parts: Vec<Arc<CatalogPart>>,
}

/// Two policies are equal when they say the same, however they were assembled.
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.branch == other.branch
            && self.forge == other.forge
            && self.admins == other.admins
            && self.providers == other.providers
            && self.max_revocations == other.max_revocations
            && self.require_known_subjects == other.require_known_subjects
            && self.resources == other.resources
            && self.groups == other.groups
            && self.identities == other.identities
    }
}

impl Eq for Policy {}

/// A problem with a policy file. Any problem makes the policy version unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The file.
    pub file: String,
    /// The field path, where known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Parses a duration such as `90d`, `8h` or `1w 2d`.
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    let duration = humantime::parse_duration(text.trim()).ok()?;
    TimeDelta::from_std(duration).ok().filter(|delta| *delta > TimeDelta::zero())
}

struct Problems<'a> {
    file: &'a str,
    list: &'a mut Vec<PolicyProblem>,
}

impl Problems<'_> {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(PolicyProblem {
            file: self.file.to_owned(),
            field: Some(field.into()),
            message: message.into(),
        });
    }

    fn principals(&mut self, field: &str, texts: &[String]) -> Vec<Principal> {
        let mut principals = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            match Principal::parse(text) {
                Some(principal) => principals.push(principal),
                None => self.add(
                    format!("{field}[{index}]"),
                    format!("`{text}` is not a login, `group:<name>` or `@org/team`"),
                ),
            }
        }
        principals
    }

    fn duration(&mut self, field: &str, text: &str) -> Option<TimeDelta> {
        let parsed = parse_duration(text);
        if parsed.is_none() {
            self.add(field, format!("`{text}` is not a positive duration such as `8h`, `30d` or `2w`"));
        }
        parsed
    }
}

/// What `tenure.yaml` holds, validated: everything a policy takes from it, and what each
/// catalog file is read against. Problems are kept, not returned, so that one version's
/// configuration is read once however many catalog files it is combined with.
#[derive(Debug, Clone)]
pub struct Settings {
    branch: String,
    forge: ForgeKind,
    admins: Vec<Principal>,
    providers: BTreeMap<String, (ProviderKind, ProviderConfig)>,
    max_revocations: RevocationLimit,
    require_known_subjects: bool,
    default_approvals: u32,
    default_max_duration: TimeDelta,
    problems: Vec<PolicyProblem>,
}

/// Validates a configuration, noting every problem in it.
pub fn read_config(config: &ConfigFile) -> Settings {
    let mut problems = Vec::new();
    let mut config_problems = Problems { file: CONFIG_PATH, list: &mut problems };
    if config.version != 1 {
        config_problems.add("version", format!("version {} is not supported; use 1", config.version));
    }
    let forge = match &config.forge {
        ForgeConfig::Git {} => ForgeKind::Git,
        ForgeConfig::Github { repository } => {
            let valid = repository.split_once('/').is_some_and(|(owner, name)| {
                crate::model::is_valid_login(owner)
                    && !name.is_empty()
                    && name.len() <= 100
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && name != "."
                    && name != ".."
            });
            if !valid {
                config_problems
                    .add("forge.repository", format!("`{repository}` is not an `owner/name` repository"));
            }
            ForgeKind::Github { repository: repository.clone() }
        }
    };
    if config.branch.trim().is_empty() || config.branch.contains("..") || config.branch.contains(' ') {
        config_problems.add("branch", format!("`{}` is not a branch name", config.branch));
    }
    let admins = config_problems.principals("admins", &config.admins);
    let mut providers = BTreeMap::new();
    for (name, provider) in &config.providers {
        if !crate::model::is_valid_provider_name(name) {
            config_problems.add(
                format!("providers.{name}"),
                "provider names are lowercase letters, digits, `-` and `_`, starting with a letter",
            );
            continue;
        }
        let kind = match provider {
            ProviderConfig::Github { .. } => ProviderKind::Github,
            ProviderConfig::Postgres { .. } => ProviderKind::Postgres,
            ProviderConfig::File { .. } => ProviderKind::File,
            ProviderConfig::Command { timeout, .. } => {
                if let Some(timeout) = timeout {
                    config_problems.duration(&format!("providers.{name}.timeout"), timeout);
                }
                ProviderKind::Command
            }
        };
        providers.insert(name.clone(), (kind, provider.clone()));
    }
    let default_approvals = config.defaults.approvals;
    // Zero approvals would let any trailer, even the requester's own, stand for a review.
    if default_approvals == 0 {
        config_problems.add(
            "defaults.approvals",
            "at least 1 approval is required; use break_glass for access without approvals",
        );
    }
    let default_max_duration = config_problems
        .duration("defaults.max_duration", &config.defaults.max_duration)
        .unwrap_or(TimeDelta::zero());
    let max_revocations = match &config.safety.max_revocations {
        CountOrPercent::Count(count) => RevocationLimit::Count(*count),
        CountOrPercent::Text(text) => match parse_limit(text) {
            Some(limit) => limit,
            None => {
                config_problems.add(
                    "safety.max_revocations",
                    format!("`{text}` is neither a count such as `10` nor a percentage such as `25%`"),
                );
                RevocationLimit::Count(0)
            }
        },
    };
    Settings {
        branch: config.branch.clone(),
        forge,
        admins,
        providers,
        max_revocations,
        require_known_subjects: config.require_known_subjects,
        default_approvals,
        default_max_duration,
        problems,
    }
}

/// One catalog file read against one configuration: its definitions in file order, each with
/// the problems found in it alone.
///
/// A catalog file changes far less often than the policy around it, so a history's policy
/// versions share the parts of the files they did not change (and the [`Resource`]s in them)
/// instead of rebuilding the whole catalog at every version. Whether a name is defined twice,
/// and whether a named group exists, depend on the other files: [`assemble`] decides those.
#[derive(Debug, Clone)]
pub struct CatalogPart {
    file: String,
    entries: Vec<CatalogEntry>,
    /// What the file defines, when it has no problem of its own.
    clean: Option<CleanPart>,
}

/// The definitions of a catalog file without problems of its own, by name, for assembling a
/// policy version from the one before it.
#[derive(Debug, Clone)]
struct CleanPart {
    resources: BTreeMap<ResourceId, Arc<Resource>>,
    groups: Vec<(String, Arc<BTreeSet<Login>>)>,
    identities: Vec<Identity>,
    /// The groups its resources name as owners or for break-glass.
    named_groups: BTreeSet<String>,
    /// The forge teams it names anywhere.
    teams: BTreeSet<(String, String)>,
}

impl CleanPart {
    /// The definitions of `entries`, if none of them has a problem and no name is defined twice.
    fn of(entries: &[CatalogEntry]) -> Option<CleanPart> {
        let mut clean = CleanPart {
            resources: BTreeMap::new(),
            groups: Vec::new(),
            identities: Vec::new(),
            named_groups: BTreeSet::new(),
            teams: BTreeSet::new(),
        };
        let mut identity_ids = BTreeSet::new();
        for entry in entries {
            match entry {
                CatalogEntry::Broken(_) => return None,
                CatalogEntry::Group { problems, .. }
                | CatalogEntry::Resource { problems, .. }
                | CatalogEntry::Identity { problems, .. }
                    if !problems.is_empty() =>
                {
                    return None;
                }
                CatalogEntry::Group { name, members, .. } => {
                    clean.groups.push((name.clone(), Arc::clone(members)))
                }
                CatalogEntry::Resource { resource, .. } => {
                    let glass = resource.break_glass.iter().flat_map(|glass| &glass.who);
                    for principal in resource.owners.iter().chain(glass) {
                        clean.note(principal);
                    }
                    if clean.resources.insert(resource.id.clone(), Arc::clone(resource)).is_some() {
                        return None;
                    }
                }
                CatalogEntry::Identity { identity, .. } => {
                    for principal in &identity.owners {
                        clean.note(principal);
                    }
                    if !identity_ids.insert(identity.id.clone()) {
                        return None;
                    }
                    clean.identities.push(identity.clone());
                }
            }
        }
        Some(clean)
    }

    fn note(&mut self, principal: &Principal) {
        match principal {
            Principal::Group(name) => {
                self.named_groups.insert(name.clone());
            }
            Principal::Team { org, slug } => {
                self.teams.insert((org.clone(), slug.clone()));
            }
            Principal::User(_) => {}
        }
    }
}

#[derive(Debug, Clone)]
enum CatalogEntry {
    /// An entry too broken to define anything.
    Broken(PolicyProblem),
    Group {
        name: String,
        members: Arc<BTreeSet<Login>>,
        problems: Vec<PolicyProblem>,
    },
    Resource {
        field: String,
        resource: Arc<Resource>,
        problems: Vec<PolicyProblem>,
    },
    Identity {
        field: String,
        identity: Identity,
        problems: Vec<PolicyProblem>,
    },
}

/// Validates one catalog file against a configuration.
pub fn read_catalog(settings: &Settings, file: &str, catalog: &CatalogFile) -> CatalogPart {
    let mut entries = Vec::new();
    let broken = |field: String, message: String| {
        CatalogEntry::Broken(PolicyProblem { file: file.to_owned(), field: Some(field), message })
    };
    for (name, members) in &catalog.groups {
        if !is_valid_group_name(name) {
            entries.push(broken(
                format!("groups.{name}"),
                "group names are letters, digits, `-`, `_`, `.`".to_owned(),
            ));
            continue;
        }
        let mut problems = Vec::new();
        let mut group_problems = Problems { file, list: &mut problems };
        let mut logins = BTreeSet::new();
        for (index, member) in members.iter().enumerate() {
            match Login::parse(member) {
                Some(login) => {
                    logins.insert(login);
                }
                None => group_problems
                    .add(format!("groups.{name}[{index}]"), format!("`{member}` is not a login")),
            }
        }
        entries.push(CatalogEntry::Group { name: name.clone(), members: Arc::new(logins), problems });
    }
    for (index, entry) in catalog.resources.iter().enumerate() {
        let field = |rest: &str| format!("resources[{index}].{rest}");
        let Some(id) = ResourceId::parse(&entry.id) else {
            entries.push(broken(
                field("id"),
                format!("`{}` is not a resource id such as `gh:team/payments` or `gh:org`", entry.id),
            ));
            continue;
        };
        let Some((kind, _)) = settings.providers.get(id.provider()) else {
            entries.push(broken(
                field("id"),
                format!(
                    "`{}` names provider `{}`, which tenure.yaml does not configure",
                    entry.id,
                    id.provider()
                ),
            ));
            continue;
        };
        let mut problems = Vec::new();
        let mut resource_problems = Problems { file, list: &mut problems };
        if entry.roles.is_empty() {
            resource_problems.add(field("roles"), "a resource needs at least one role");
        }
        for (role_index, role) in entry.roles.iter().enumerate() {
            if role.is_empty() || role.len() > 100 || !role.bytes().all(|b| b.is_ascii_graphic()) {
                resource_problems
                    .add(field(&format!("roles[{role_index}]")), format!("`{role}` is not a role name"));
            }
        }
        if entry.owners.is_empty() {
            resource_problems.add(field("owners"), "a resource needs at least one owner");
        }
        if entry.approvals == Some(0) {
            resource_problems.add(
                field("approvals"),
                "at least 1 approval is required; use break_glass for access without approvals",
            );
        }
        let owners = resource_problems.principals(&field("owners"), &entry.owners);
        let max_duration = match &entry.max_duration {
            Some(text) => {
                resource_problems.duration(&field("max_duration"), text).unwrap_or(TimeDelta::zero())
            }
            None => settings.default_max_duration,
        };
        for (keep_index, account) in entry.keep.iter().enumerate() {
            if !kind.is_valid_subject(account) {
                resource_problems.add(
                    field(&format!("keep[{keep_index}]")),
                    format!("`{account}` is not a valid subject"),
                );
            }
        }
        let break_glass = entry.break_glass.as_ref().map(|glass| BreakGlass {
            who: resource_problems.principals(&field("break_glass.who"), &glass.who),
            max_duration: resource_problems
                .duration(&field("break_glass.max_duration"), &glass.max_duration)
                .unwrap_or(TimeDelta::zero()),
        });
        let resource = Resource {
            id,
            file: file.to_owned(),
            owners,
            roles: entry.roles.clone(),
            approvals: entry.approvals.unwrap_or(settings.default_approvals),
            max_duration,
            manage: entry.manage,
            keep: entry.keep.clone(),
            allow_empty: entry.allow_empty,
            break_glass,
        };
        entries.push(CatalogEntry::Resource { field: field("id"), resource: Arc::new(resource), problems });
    }
    for (index, entry) in catalog.identities.iter().enumerate() {
        let field = |rest: &str| format!("identities[{index}].{rest}");
        if !crate::model::is_valid_plain_subject(&entry.id) {
            entries.push(broken(field("id"), format!("`{}` is not a valid subject", entry.id)));
            continue;
        }
        let mut problems = Vec::new();
        let mut identity_problems = Problems { file, list: &mut problems };
        if entry.owners.is_empty() {
            identity_problems.add(field("owners"), "an identity needs at least one owner");
        }
        let IdentityKind::Service = entry.kind;
        let owners = identity_problems.principals(&field("owners"), &entry.owners);
        let max_duration = entry
            .max_duration
            .as_ref()
            .and_then(|text| identity_problems.duration(&field("max_duration"), text));
        entries.push(CatalogEntry::Identity {
            field: field("id"),
            identity: Identity { id: entry.id.clone(), owners, max_duration },
            problems,
        });
    }
    let clean = CleanPart::of(&entries);
    CatalogPart { file: file.to_owned(), entries, clean }
}

/// Puts a configuration and its catalog files, in path order, together into a policy, or
/// lists every problem: each part's own, then names defined twice and groups named but never
/// defined.
pub fn assemble(settings: &Arc<Settings>, parts: &[Arc<CatalogPart>]) -> Result<Policy, Vec<PolicyProblem>> {
    let mut problems = settings.problems.clone();
    let mut resources = ResourceMap::new_sync();
    let mut groups: BTreeMap<String, Arc<BTreeSet<Login>>> = BTreeMap::new();
    let mut identities = BTreeMap::new();
    for part in parts {
        let file = part.file.as_str();
        let twice = |field: String, message: String| PolicyProblem {
            file: file.to_owned(),
            field: Some(field),
            message,
        };
        for entry in &part.entries {
            match entry {
                CatalogEntry::Broken(problem) => problems.push(problem.clone()),
                CatalogEntry::Group { name, members, problems: own } => match groups.entry(name.clone()) {
                    Entry::Occupied(_) => problems.push(twice(
                        format!("groups.{name}"),
                        "this group is defined in another catalog file too".to_owned(),
                    )),
                    Entry::Vacant(slot) => {
                        problems.extend(own.iter().cloned());
                        slot.insert(Arc::clone(members));
                    }
                },
                CatalogEntry::Resource { field, resource, problems: own } => {
                    if resources.contains_key(&resource.id) {
                        problems.push(twice(
                            field.clone(),
                            format!("`{}` is listed twice in the catalog", resource.id),
                        ));
                    } else {
                        problems.extend(own.iter().cloned());
                        resources.insert_mut(resource.id.clone(), Arc::clone(resource));
                    }
                }
                CatalogEntry::Identity { field, identity, problems: own } => {
                    match identities.entry(identity.id.clone()) {
                        Entry::Occupied(_) => {
                            problems.push(twice(
                                field.clone(),
                                format!("identity `{}` is listed twice", identity.id),
                            ));
                        }
                        Entry::Vacant(slot) => {
                            problems.extend(own.iter().cloned());
                            slot.insert(identity.clone());
                        }
                    }
                }
            }
        }
    }
    // Groups may be defined in any catalog file, so references are checked once all are read.
    let mut check_groups = |file: &str, field: &dyn Fn() -> String, principals: &[Principal]| {
        for principal in principals {
            if let Principal::Group(name) = principal
                && !groups.contains_key(name)
            {
                problems.push(PolicyProblem {
                    file: file.to_owned(),
                    field: Some(field()),
                    message: format!("group `{name}` is not defined in the catalog"),
                });
            }
        }
    };
    check_groups(CONFIG_PATH, &|| "admins".to_owned(), &settings.admins);
    for resource in resources.values() {
        check_groups(&resource.file, &|| format!("resources[{}].owners", resource.id), &resource.owners);
        if let Some(glass) = &resource.break_glass {
            check_groups(
                &resource.file,
                &|| format!("resources[{}].break_glass.who", resource.id),
                &glass.who,
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Policy::new(settings, parts, resources, groups, identities))
}

/// [`assemble`], starting from `previous`, a version of the same history: a version differs
/// from the one before it by a catalog file or two, so it keeps the previous version's
/// resources and changes only those of the files that changed, sharing the rest. The result
/// is what [`assemble`] gives, which it falls back to whenever a changed file, or the files
/// together, have any problem, and when the configuration is not the same.
pub fn assemble_after(
    previous: &Policy,
    settings: &Arc<Settings>,
    parts: &[Arc<CatalogPart>],
) -> Result<Policy, Vec<PolicyProblem>> {
    assemble_incrementally(previous, settings, parts).map_or_else(|| assemble(settings, parts), Ok)
}

/// The policy of `parts`, built from `previous`, or `None` when that cannot be done without
/// the full check of [`assemble`].
fn assemble_incrementally(
    previous: &Policy,
    settings: &Arc<Settings>,
    parts: &[Arc<CatalogPart>],
) -> Option<Policy> {
    if !Arc::ptr_eq(&previous.basis.settings, settings) {
        return None;
    }
    let before: BTreeMap<&str, &Arc<CatalogPart>> =
        previous.basis.parts.iter().map(|part| (part.file.as_str(), part)).collect();
    let after: BTreeMap<&str, &Arc<CatalogPart>> =
        parts.iter().map(|part| (part.file.as_str(), part)).collect();
    if after.len() != parts.len() {
        return None;
    }
    // A file is unchanged when both versions hold the very same part for it.
    let unchanged = |file: &str| match (before.get(file), after.get(file)) {
        (Some(old), Some(new)) => Arc::ptr_eq(old, new),
        _ => false,
    };
    let mut resources = previous.resources.clone();
    // Every removal first, so that a resource that moves between files is not taken for a
    // duplicate.
    for (file, old) in &before {
        if unchanged(file) {
            continue;
        }
        let old = old.clean.as_ref()?;
        let new = match after.get(file) {
            Some(part) => Some(part.clean.as_ref()?),
            None => None,
        };
        for (id, resource) in &old.resources {
            if new.and_then(|new| new.resources.get(id)) != Some(resource) {
                resources.remove_mut(id);
            }
        }
    }
    for (file, new) in &after {
        if unchanged(file) {
            continue;
        }
        let new = new.clean.as_ref()?;
        let old = before.get(file).and_then(|part| part.clean.as_ref());
        for (id, resource) in &new.resources {
            if old.and_then(|old| old.resources.get(id)) == Some(resource) {
                continue;
            }
            if resources.contains_key(id) {
                return None;
            }
            resources.insert_mut(id.clone(), Arc::clone(resource));
        }
    }
    // Groups and identities are few: they are gathered afresh from every file.
    let mut groups = BTreeMap::new();
    let mut identities = BTreeMap::new();
    for part in parts {
        let clean = part.clean.as_ref()?;
        for (name, members) in &clean.groups {
            if groups.insert(name.clone(), Arc::clone(members)).is_some() {
                return None;
            }
        }
        for identity in &clean.identities {
            if identities.insert(identity.id.clone(), identity.clone()).is_some() {
                return None;
            }
        }
    }
    let admin_groups = settings.admins.iter().filter_map(|admin| match admin {
        Principal::Group(name) => Some(name),
        _ => None,
    });
    let named = parts.iter().filter_map(|part| part.clean.as_ref()).flat_map(|clean| &clean.named_groups);
    if !settings.problems.is_empty() || admin_groups.chain(named).any(|name| !groups.contains_key(name)) {
        return None;
    }
    Some(Policy::new(settings, parts, resources, groups, identities))
}

/// Validates a configuration and its catalog files into a policy, or lists every problem.
pub fn build(config: &ConfigFile, catalogs: &[(String, CatalogFile)]) -> Result<Policy, Vec<PolicyProblem>> {
    let settings = Arc::new(read_config(config));
    let parts: Vec<Arc<CatalogPart>> =
        catalogs.iter().map(|(file, catalog)| Arc::new(read_catalog(&settings, file, catalog))).collect();
    assemble(&settings, &parts)
}

fn parse_limit(text: &str) -> Option<RevocationLimit> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix('%') {
        let percent: u32 = number.trim().parse().ok()?;
        return (percent <= 100).then_some(RevocationLimit::Percent(percent));
    }
    text.parse().ok().map(RevocationLimit::Count)
}

impl Policy {
    /// Whether `login` is one of `principals`, directly, through a catalog group, or through a
    /// forge team.
    pub fn is_member(&self, principals: &[Principal], login: &Login, teams: &TeamMembers) -> bool {
        principals.iter().any(|principal| match principal {
            Principal::User(user) => user == login,
            Principal::Group(name) => self.groups.get(name).is_some_and(|members| members.contains(login)),
            Principal::Team { org, slug } => {
                teams.get(&(org.clone(), slug.clone())).is_some_and(|members| members.contains(login))
            }
        })
    }

    /// The provider kind that serves a resource, if the provider is configured.
    pub fn provider_kind(&self, resource: &ResourceId) -> Option<ProviderKind> {
        self.providers.get(resource.provider()).map(|(kind, _)| *kind)
    }

    /// Every team that the policy names, for resolving once per run.
    pub fn teams(&self) -> BTreeSet<(String, String)> {
        let mut teams = BTreeSet::new();
        for admin in &self.admins {
            if let Principal::Team { org, slug } = admin {
                teams.insert((org.clone(), slug.clone()));
            }
        }
        // A policy is only ever built from files without problems, so each of its parts is
        // clean and knows its teams: no walk over every resource of every version.
        for clean in self.basis.parts.iter().filter_map(|part| part.clean.as_ref()) {
            teams.extend(clean.teams.iter().cloned());
        }
        teams
    }

    fn new(
        settings: &Arc<Settings>,
        parts: &[Arc<CatalogPart>],
        resources: ResourceMap,
        groups: BTreeMap<String, Arc<BTreeSet<Login>>>,
        identities: BTreeMap<String, Identity>,
    ) -> Policy {
        Policy {
            branch: settings.branch.clone(),
            forge: settings.forge.clone(),
            admins: settings.admins.clone(),
            providers: settings.providers.clone(),
            max_revocations: settings.max_revocations,
            require_known_subjects: settings.require_known_subjects,
            resources,
            groups,
            identities,
            basis: Basis { settings: Arc::clone(settings), parts: parts.to_vec() },
        }
    }
}

/// One version of the policy files in the history: the commit that made it, and what it
/// holds.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    /// Position of the commit in the first-parent history (0 = root).
    pub position: usize,
    /// The commit.
    pub commit: ObjectId,
    /// The policy files at that commit, path to blob id; compared to spot reverts.
    pub files: BTreeMap<String, ObjectId>,
    /// The validated policy, or why it is unusable.
    pub policy: Result<Policy, Vec<PolicyProblem>>,
    /// The review of the commit.
    pub review: ChangeReview,
}

/// How a policy version came to be trusted, or why it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The first commit that created `tenure.yaml`.
    FirstUse,
    /// An admin of the previous trusted version approved it.
    ApprovedBy(Vec<Login>),
    /// Not trusted: it gives nobody any power.
    Untrusted(String),
}

/// The trust decision for every policy version, in history order.
#[derive(Debug, Clone)]
pub struct TrustChain {
    /// `(index into the versions, trust)`, one per version.
    pub decisions: Vec<Trust>,
}

impl TrustChain {
    /// The index of the last trusted version at or before `position`. `versions` are in history
    /// order, as [`trust_chain`] takes them, so the versions at or before `position` are found by
    /// binary search: this is asked for every request version of the history.
    pub fn trusted_at(&self, versions: &[PolicyVersion], position: usize) -> Option<usize> {
        let upto = versions.partition_point(|version| version.position <= position).min(self.decisions.len());
        (0..upto).rev().find(|&index| !matches!(self.decisions[index], Trust::Untrusted(_)))
    }
}

/// Decides which policy versions are trusted (rule 6).
///
/// `versions` are the commits that changed a policy file, oldest first. A version counts
/// only once `tenure.yaml` exists; the first version with a `tenure.yaml` is trusted on first
/// use. Each later version is trusted if an admin of the last trusted, readable version
/// approved it, other than its proposer. An unreadable version may be trusted, but it gives
/// requests judged by it nothing, since nobody can be shown to own anything in it.
pub fn trust_chain(versions: &[PolicyVersion], teams: &TeamMembers) -> TrustChain {
    let mut decisions = Vec::with_capacity(versions.len());
    let mut authority: Option<&Policy> = None;
    let mut seen_config = false;
    for version in versions {
        let has_config = version.files.contains_key(CONFIG_PATH);
        let decision = if !seen_config {
            if has_config {
                seen_config = true;
                Trust::FirstUse
            } else {
                Trust::Untrusted("no tenure.yaml exists yet".into())
            }
        } else {
            match authority {
                None => Trust::Untrusted("no readable trusted policy precedes this change".into()),
                Some(authority) => admin_approval(authority, &version.review, teams),
            }
        };
        if !matches!(decision, Trust::Untrusted(_))
            && let Ok(policy) = &version.policy
        {
            authority = Some(policy);
        }
        decisions.push(decision);
    }
    TrustChain { decisions }
}

fn admin_approval(authority: &Policy, review: &ChangeReview, teams: &TeamMembers) -> Trust {
    match &review.status {
        ReviewStatus::NotReviewed(reason) | ReviewStatus::NoApprovals(reason) => {
            return Trust::Untrusted(reason.clone());
        }
        ReviewStatus::Reviewed => {}
    }
    // The approvals cover what was reviewed; a policy file that landed with other content (an
    // edit in the merge commit, a squash that is not the reviewed head) was approved by nobody.
    if let Some(path) = review.unreviewed_paths.iter().find(|path| !path.starts_with(REQUESTS_DIR)) {
        return Trust::Untrusted(format!("the {path} that landed is not the content that was reviewed"));
    }
    let Some(proposer) = &review.proposer else {
        return Trust::Untrusted("the change has no proposer".into());
    };
    let admins: Vec<Login> = review
        .approvers
        .iter()
        .filter(|approver| *approver != proposer && authority.is_member(&authority.admins, approver, teams))
        .cloned()
        .collect();
    if admins.is_empty() {
        let others: Vec<String> = review.approvers.iter().map(ToString::to_string).collect();
        Trust::Untrusted(format!(
            "no admin other than the proposer ({proposer}) approved it (approvals: {}; admins: {})",
            if others.is_empty() { "none".to_owned() } else { others.join(", ") },
            authority.admins.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ))
    } else {
        Trust::ApprovedBy(admins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::git::review_from_message;

    fn config() -> ConfigFile {
        serde_json::from_value(serde_json::json!({
            "version": 1,
            "forge": {"kind": "git"},
            "admins": ["root-admin", "group:security"],
            "providers": {"local": {"kind": "file", "path": "state/local.json"}},
            "defaults": {"approvals": 1, "max_duration": "90d"},
        }))
        .unwrap()
    }

    fn catalog() -> CatalogFile {
        serde_json::from_value(serde_json::json!({
            "resources": [{"id": "local:group/oncall", "owners": ["group:leads", "Carol"], "roles": ["member"],
                           "max_duration": "30d"}],
            "groups": {"leads": ["bob"], "security": ["sam"]},
        }))
        .unwrap()
    }

    #[test]
    fn builds_a_policy_and_resolves_members() {
        let policy = build(&config(), &[("catalog/a.yaml".into(), catalog())]).unwrap();
        let resource = policy.resources.values().next().unwrap();
        assert_eq!(resource.max_duration, TimeDelta::days(30));
        assert_eq!(resource.approvals, 1);
        assert_eq!(policy.max_revocations, RevocationLimit::Percent(25));
        let teams = TeamMembers::new();
        let login = |text| Login::parse(text).unwrap();
        assert!(policy.is_member(&resource.owners, &login("BOB"), &teams));
        assert!(policy.is_member(&resource.owners, &login("carol"), &teams));
        assert!(!policy.is_member(&resource.owners, &login("mallory"), &teams));
        assert!(policy.is_member(&policy.admins, &login("sam"), &teams));
    }

    #[test]
    fn collects_every_problem() {
        let mut config = config();
        config.version = 2;
        config.admins.push("group:missing".into());
        let mut catalog = catalog();
        catalog.resources[0].roles.clear();
        catalog.resources[0].approvals = Some(0);
        catalog.resources[0].max_duration = Some("soon".into());
        let mut twice = catalog.resources[0].clone();
        twice.id = "nope:group/x".into();
        catalog.resources.push(twice);
        let problems = build(&config, &[("catalog/a.yaml".into(), catalog)]).unwrap_err();
        let fields: Vec<_> = problems.iter().filter_map(|p| p.field.as_deref()).collect();
        assert!(fields.contains(&"version"), "{fields:?}");
        assert!(fields.contains(&"resources[0].roles"), "{fields:?}");
        assert!(fields.contains(&"resources[0].approvals"), "{fields:?}");
        assert!(fields.contains(&"resources[0].max_duration"), "{fields:?}");
        assert!(fields.contains(&"resources[1].id"), "{fields:?}");
        assert!(problems.iter().any(|p| p.message.contains("group `missing`")), "{problems:?}");
    }

    #[test]
    fn teams_parse_in_every_mode_but_resolve_only_through_the_forge() {
        let mut catalog = catalog();
        catalog.resources[0].owners.push("@acme/leads".into());
        let policy = build(&config(), &[("catalog/a.yaml".into(), catalog)]).unwrap();
        assert_eq!(policy.teams().len(), 1);
        let dave = Login::parse("dave").unwrap();
        let owners = &policy.resources.values().next().unwrap().owners;
        assert!(!policy.is_member(owners, &dave, &TeamMembers::new()));
        let mut teams = TeamMembers::new();
        teams.insert(("acme".into(), "leads".into()), [dave.clone()].into());
        assert!(policy.is_member(owners, &dave, &teams));
    }

    #[test]
    fn versions_share_the_resources_of_the_catalog_files_they_did_not_change() {
        let settings = Arc::new(read_config(&config()));
        let unchanged = Arc::new(read_catalog(&settings, "catalog/a.yaml", &catalog()));
        let other = |id: &str| -> CatalogFile {
            serde_json::from_value(serde_json::json!({
                "resources": [{"id": id, "owners": ["bob"], "roles": ["member"]}],
            }))
            .unwrap()
        };
        let before = Arc::new(read_catalog(&settings, "catalog/b.yaml", &other("local:group/one")));
        let after = Arc::new(read_catalog(&settings, "catalog/b.yaml", &other("local:group/two")));
        let first = assemble(&settings, &[Arc::clone(&unchanged), before]).unwrap();
        let parts = [unchanged, after];
        let second = assemble_after(&first, &settings, &parts).unwrap();
        assert!(assemble_incrementally(&first, &settings, &parts).is_some());
        let oncall = ResourceId::parse("local:group/oncall").unwrap();
        assert!(Arc::ptr_eq(&first.resources[&oncall], &second.resources[&oncall]));
        assert!(first.resources.contains_key(&ResourceId::parse("local:group/one").unwrap()));
        assert!(!second.resources.contains_key(&ResourceId::parse("local:group/one").unwrap()));
        assert!(second.resources.contains_key(&ResourceId::parse("local:group/two").unwrap()));
        // Assembling afresh, as `build` does, says the same.
        let built = build(
            &config(),
            &[("catalog/a.yaml".into(), catalog()), ("catalog/b.yaml".into(), other("local:group/two"))],
        );
        assert_eq!(built, Ok(second));
    }

    #[test]
    fn a_name_defined_in_two_files_is_a_problem_of_the_later_file_whatever_was_read_first() {
        let settings = Arc::new(read_config(&config()));
        let again = Arc::new(read_catalog(&settings, "catalog/b.yaml", &catalog()));
        let first = Arc::new(read_catalog(&settings, "catalog/a.yaml", &catalog()));
        let alone = assemble(&settings, &[Arc::clone(&first)]).unwrap();
        // From a version without the second file, as from nothing.
        let problems = assemble_after(&alone, &settings, &[first, again]).unwrap_err();
        let found: Vec<(&str, Option<&str>)> =
            problems.iter().map(|problem| (problem.file.as_str(), problem.field.as_deref())).collect();
        assert_eq!(
            found,
            [
                ("catalog/b.yaml", Some("groups.leads")),
                ("catalog/b.yaml", Some("groups.security")),
                ("catalog/b.yaml", Some("resources[0].id")),
            ]
        );
        assert!(problems[2].message.contains("listed twice"), "{problems:?}");
    }

    /// A tiny deterministic generator, so that each case can be replayed from its seed.
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).unwrap() % n
        }
    }

    /// A random catalog file: resources from a small pool of ids (so that files collide),
    /// owners that may name undefined groups or teams, now and then a broken entry.
    fn random_catalog(dice: &mut Dice) -> CatalogFile {
        let mut resources = Vec::new();
        for _ in 0..dice.below(5) {
            let id = match dice.below(60) {
                0 => "not an id".to_owned(),
                1 => "nope:group/x".to_owned(),
                _ => format!("local:group/g{}", dice.below(40)),
            };
            let owner = match dice.below(30) {
                0..=2 => "group:leads".to_owned(),
                3 => "group:ghosts".to_owned(),
                4..=6 => "@acme/ops".to_owned(),
                _ => ["bob", "carol", "dave"][dice.below(3)].to_owned(),
            };
            let roles = match dice.below(30) {
                0 => vec![],
                1 => vec!["member".to_owned(), "admin".to_owned()],
                _ => vec!["member".to_owned()],
            };
            resources.push(serde_json::json!({"id": id, "owners": [owner], "roles": roles}));
        }
        let mut groups = serde_json::Map::new();
        if dice.below(3) == 0 {
            groups.insert("leads".into(), serde_json::json!(["bob"]));
        }
        if dice.below(8) == 0 {
            groups.insert("security".into(), serde_json::json!(["sam"]));
        }
        let identities: Vec<_> = (0..dice.below(2) * dice.below(2))
            .map(|_| serde_json::json!({"id": format!("bot{}", dice.below(3)), "kind": "service", "owners": ["bob"]}))
            .collect();
        serde_json::from_value(
            serde_json::json!({"resources": resources, "groups": groups, "identities": identities}),
        )
        .unwrap()
    }

    #[test]
    fn assembling_from_the_previous_version_gives_what_assembling_afresh_gives() {
        let (mut incremental_steps, mut refused_steps) = (0, 0);
        for seed in 0..500 {
            let mut dice = Dice(seed);
            // Half the cases name a group among the admins, which some file must define.
            let with_admin_group = seed % 2 == 0;
            let config = || {
                let mut config = config();
                if !with_admin_group {
                    config.admins.retain(|admin| !admin.starts_with("group:"));
                }
                config
            };
            let mut settings = Arc::new(read_config(&config()));
            let mut files: BTreeMap<String, (CatalogFile, Arc<CatalogPart>)> = BTreeMap::new();
            let mut previous: Option<Policy> = None;
            for step in 0..25 {
                // Most versions change one file, as a reviewed catalog change does.
                match dice.below(12) {
                    0 if !files.is_empty() => {
                        let gone = files.keys().nth(dice.below(files.len())).unwrap().clone();
                        files.remove(&gone);
                    }
                    1 => {
                        // A new configuration: every file is read against it again.
                        let mut changed = config();
                        changed.defaults.approvals = 1 + u32::try_from(dice.below(2)).unwrap();
                        settings = Arc::new(read_config(&changed));
                        for (file, (catalog, part)) in &mut files {
                            *part = Arc::new(read_catalog(&settings, file, catalog));
                        }
                    }
                    _ => {
                        let file = format!("catalog/f{}.yaml", dice.below(4));
                        let catalog = random_catalog(&mut dice);
                        let part = Arc::new(read_catalog(&settings, &file, &catalog));
                        files.insert(file, (catalog, part));
                    }
                }
                let parts: Vec<Arc<CatalogPart>> = files.values().map(|(_, part)| Arc::clone(part)).collect();
                let afresh = assemble(&settings, &parts);
                if let Some(previous) = &previous {
                    let after = assemble_after(previous, &settings, &parts);
                    assert_eq!(after, afresh, "seed {seed}, step {step}");
                    // Equality is of what a policy says; its teams come from the parts it keeps.
                    assert_eq!(
                        after.as_ref().ok().map(Policy::teams),
                        afresh.as_ref().ok().map(Policy::teams),
                        "seed {seed}, step {step}"
                    );
                    refused_steps += usize::from(afresh.is_err());
                    if afresh.is_ok() && assemble_incrementally(previous, &settings, &parts).is_some() {
                        incremental_steps += 1;
                    }
                }
                if let Ok(policy) = afresh {
                    previous = Some(policy);
                }
            }
        }
        // The comparison means something only if both paths, and refusals, came up often.
        assert!(incremental_steps > 1000, "only {incremental_steps} incremental steps");
        assert!(refused_steps > 1000, "only {refused_steps} versions with problems");
    }

    #[test]
    fn limits_parse() {
        assert_eq!(parse_limit("25%"), Some(RevocationLimit::Percent(25)));
        assert_eq!(parse_limit("10"), Some(RevocationLimit::Count(10)));
        assert_eq!(parse_limit("101%"), None);
        assert_eq!(parse_limit("many"), None);
        assert_eq!(parse_duration("90d"), Some(TimeDelta::days(90)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("-1d"), None);
    }

    fn version(position: usize, config: bool, message: &str) -> PolicyVersion {
        let mut files = BTreeMap::new();
        if config {
            files.insert(CONFIG_PATH.to_owned(), ObjectId(format!("blob{position}")));
        }
        PolicyVersion {
            position,
            commit: ObjectId(format!("commit{position}")),
            files,
            policy: build(&self::config(), &[("catalog/a.yaml".into(), catalog())]),
            review: review_from_message(message),
        }
    }

    #[test]
    fn trust_is_a_chain_from_first_use() {
        let versions = [
            version(0, false, "catalog before config"),
            version(1, true, "first config, no trailers"),
            version(3, true, "x\n\nProposed-by: mallory\nApproved-by: mallory\n"),
            version(5, true, "x\n\nProposed-by: mallory\nApproved-by: bob\n"),
            version(7, true, "x\n\nProposed-by: bob\nApproved-by: ROOT-ADMIN\n"),
            version(9, true, "x\n\nProposed-by: sam\nApproved-by: sam\nApproved-by: root-admin\n"),
        ];
        let chain = trust_chain(&versions, &TeamMembers::new());
        assert!(matches!(chain.decisions[0], Trust::Untrusted(_)));
        assert_eq!(chain.decisions[1], Trust::FirstUse);
        assert!(matches!(chain.decisions[2], Trust::Untrusted(ref why) if why.contains("mallory")));
        assert!(matches!(chain.decisions[3], Trust::Untrusted(_)), "bob is not an admin");
        assert!(matches!(chain.decisions[4], Trust::ApprovedBy(ref who) if who[0].as_str() == "ROOT-ADMIN"));
        assert!(matches!(chain.decisions[5], Trust::ApprovedBy(ref who) if who.len() == 1));
        assert_eq!(chain.trusted_at(&versions, 0), None);
        assert_eq!(chain.trusted_at(&versions, 2), Some(1));
        assert_eq!(chain.trusted_at(&versions, 6), Some(1), "untrusted versions give no power");
        assert_eq!(chain.trusted_at(&versions, 8), Some(4));
        // At every position, the last trusted version at or before it, as a scan finds it.
        for position in 0..12 {
            let scanned = (0..versions.len()).rev().find(|&index| {
                versions[index].position <= position && !matches!(chain.decisions[index], Trust::Untrusted(_))
            });
            assert_eq!(chain.trusted_at(&versions, position), scanned, "at {position}");
        }
    }
}
