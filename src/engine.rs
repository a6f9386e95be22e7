//! Glue: runs a command from end to end by feeding the adapters' output into
//! the pure core and the core's values into the renderers and `apply`.
//!
//! This is the only module besides `main` that uses `anyhow`. An `Err` from here
//! means tenure could not answer (exit 2); a "no" is an [`Exit::No`] with
//! everything reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::approvals::Judgement;
use crate::cli::{AuditCommand, Cli, Command, FormatArg};
use crate::desired::{self, Evaluation, Inputs, Parsed};
use crate::forge::git::GitForge;
use crate::forge::github::{GithubForge, LocalRepo};
use crate::forge::{ChangeReview, Forge, ReviewStatus, TeamMembers};
use crate::history::{HistoryIndex, blob_ids};
use crate::load::{self, LoadError};
use crate::model::{CommitRecord, EntryKind, ObjectId, Rejection, ResourceId, Tuple};
use crate::plan::{self, Managed, Plan, PlanInputs};
use crate::policy::{
    self, CONFIG_PATH, CatalogPart, Policy, PolicyProblem, PolicyVersion, Settings, is_catalog_file,
    is_request_file,
};
use crate::providers::{self, Provider};
use crate::render::{self, ApprovedFile, Format, GrantRow, Header, PlanView};
use crate::shard::Shard;
use crate::source::{Source, Watch};
use crate::wire::{CatalogFile, ConfigFile, ManageMode};
use crate::{apply, schema};

const POLICY_REFUSED: &str = "the policy at this revision is not the last trusted one (unapproved-policy-change); \
     tenure changes nothing, not even expiries, until an admin-approved change repairs it";

/// How a command ended, when it could answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing wrong.
    Ok,
    /// tenure answered "no".
    No,
    /// `plan --detailed-exitcode` with a non-empty plan.
    Changes,
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// The exit.
    pub exit: Exit,
}

/// Runs one command. `wall_clock` is the real time, used when `--now` is absent and for
/// audit timestamps.
pub fn run(cli: &Cli, wall_clock: DateTime<Utc>) -> anyhow::Result<Output> {
    let format = match cli.global.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Csv => Format::Csv,
    };
    if let Command::Schema { name } = &cli.command {
        return schema_command(name.as_deref());
    }
    if let Command::Init(args) = &cli.command {
        return init_command(args);
    }
    if let Command::Completions { shell } = &cli.command {
        return Ok(completions_command(*shell));
    }
    if let Command::Audit(AuditCommand::Verify { audit }) = &cli.command {
        return audit_verify(audit, format);
    }
    if format == Format::Csv
        && !matches!(cli.command, Command::Report { metrics: false, .. } | Command::Expiring { .. })
    {
        bail!("--format csv is only for `report` and `expiring`");
    }
    let now = match &cli.global.now {
        Some(text) => parse_now(text)?,
        None => wall_clock,
    };
    let repo = cli.global.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let shard = Shard::new(&cli.global.only)?;
    let pull = match &cli.command {
        Command::Check { pr, .. } => pr::requested(*pr)?,
        _ => None,
    };
    let forge_run = ForgeRun { cache_dir: &cli.global.cache, wall_clock, pull };
    let state = State::load(&repo, cli.global.rev.as_deref(), now, shard, forge_run)?;
    let output = state.check_shard().and_then(|()| run_command(cli, &state, format, wall_clock));
    free_in_background(state);
    output
}

/// A large history's values take a noticeable share of a run to free, and the process ends as
/// soon as the output is written: they are freed on a thread that the exit does not wait for.
/// Where the thread cannot start, they are freed here.
fn free_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new().name("free".into()).spawn(move || drop(value));
}

/// Runs a command that needs the repository's state.
fn run_command(
    cli: &Cli,
    state: &State,
    format: Format,
    wall_clock: DateTime<Utc>,
) -> anyhow::Result<Output> {
    match &cli.command {
        Command::Check { comment, .. } => pr::check_command(state, format, *comment),
        Command::Plan { detailed_exitcode } => {
            let (plan, actual, _) = state.plan()?;
            let refused = state.evaluation.policy_refused.then_some(POLICY_REFUSED);
            let view = state.view(&plan, &actual, None, refused);
            let exit = if !state.evaluation.rejected.is_empty() || !plan.guards.is_empty() {
                Exit::No
            } else if *detailed_exitcode && !plan.is_empty() {
                Exit::Changes
            } else {
                Exit::Ok
            };
            Ok(Output { stdout: render::plan(view, format), exit })
        }
        Command::Apply { audit, force, lock_timeout } => {
            let run_id = crate::audit::new_run_id(wall_clock);
            // Taken before the providers are read, so that the plan is made from state that no
            // other run is changing, and held until this run's last audit line is written.
            let _lock = apply_lock(state, audit, lock_timeout, &run_id, wall_clock)?;
            let (plan, actual, mut providers) = state.plan()?;
            let refused = if state.evaluation.policy_refused {
                Some(POLICY_REFUSED.to_owned())
            } else if !plan.guards.is_empty() && !force {
                Some(format!(
                    "{} safety guard(s) tripped; review the plan, or rerun with --force",
                    plan.guards.len()
                ))
            } else {
                None
            };
            if let Some(refused) = refused {
                let view = state.view(&plan, &actual, Some(None), Some(&refused));
                return Ok(Output { stdout: render::plan(view, format), exit: Exit::No });
            }
            let mut log = crate::audit::AuditLog::open(audit)
                .with_context(|| format!("cannot open the audit log {}", audit.display()))?;
            let run = apply::Run {
                commit: &state.commit,
                decided_at: state.now,
                run_id,
                forced: *force && !plan.guards.is_empty(),
            };
            let outcomes = apply::execute(&plan, &mut providers, &mut log, &run, Utc::now)?;
            let failed = outcomes.iter().any(|outcome| outcome.error.is_some());
            let view = state.view(&plan, &actual, Some(Some(&outcomes)), None);
            let exit = if failed || !state.evaluation.rejected.is_empty() { Exit::No } else { Exit::Ok };
            Ok(Output { stdout: render::plan(view, format), exit })
        }
        Command::Report { metrics: true, since, audit } => {
            lifecycle::metrics(state, since.as_deref(), audit, format)
        }
        Command::Notify { within, state: path, dry_run } => {
            lifecycle::notify(state, within, path, *dry_run, format)
        }
        Command::Renew { file, until, for_, open_pr } => {
            lifecycle::renew(state, file, until.as_deref(), for_.as_deref(), *open_pr, format)
        }
        Command::Report { .. } => {
            let rows = state.live_grants(|_| true);
            Ok(Output {
                stdout: render::grants(state.header(), &rows, "tenure report", format),
                exit: Exit::Ok,
            })
        }
        Command::Expiring { within } => {
            let window = policy::parse_duration(within)
                .ok_or_else(|| anyhow!("--within `{within}` is not a duration such as `7d` or `36h`"))?;
            let horizon = state.now.checked_add_signed(window).unwrap_or(DateTime::<Utc>::MAX_UTC);
            let rows = state.live_grants(|expires| expires <= horizon);
            let title = format!("grants ending within {within}");
            Ok(Output { stdout: render::grants(state.header(), &rows, &title, format), exit: Exit::Ok })
        }
        Command::Explain { file } => explain(state, file, format),
        Command::Import { resources, requester, expires, for_ } => {
            import::import(state, resources, requester, expires.as_deref(), for_.as_deref(), format)
        }
        Command::Schema { .. } | Command::Init(_) | Command::Completions { .. } => {
            unreachable!("handled above")
        }
        Command::Audit(_) => unreachable!("handled above"),
    }
}

/// `--now`: RFC 3339, or a bare date meaning the start of that day in UTC.
pub fn parse_now(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|naive| naive.and_utc()).ok_or_else(|| anyhow!("bad date"));
    }
    DateTime::parse_from_rfc3339(text.trim()).map(|time| time.with_timezone(&Utc)).map_err(|_| {
        anyhow!("--now `{text}` is neither an RFC 3339 time (2026-12-01T09:00:00Z) nor a date (2026-12-01)")
    })
}

fn schema_command(name: Option<&str>) -> anyhow::Result<Output> {
    let all = schema::schemas();
    let stdout = match name {
        None => {
            let object: serde_json::Map<String, serde_json::Value> =
                all.into_iter().map(|(file, schema)| (file.to_owned(), schema)).collect();
            render::to_json(&object)
        }
        Some(name) => {
            let wanted = format!("{name}.schema.json");
            let (_, schema) = all.into_iter().find(|(file, _)| *file == wanted).ok_or_else(|| {
                anyhow!("there is no schema named `{name}`; choose tenure, catalog or request")
            })?;
            schema::render(&schema)
        }
    };
    Ok(Output { stdout, exit: Exit::Ok })
}

/// `audit verify`: 0 when the chain holds, 1 at a break, an `Err` (2) when unreadable.
fn audit_verify(audit: &Path, format: Format) -> anyhow::Result<Output> {
    // The error's text already ends with its cause; as a chain it would print twice.
    let report = crate::audit::verify(audit).map_err(|error| anyhow!("{error}"))?;
    let stdout = match format {
        Format::Text => report.text(),
        Format::Json => render::to_json(&report),
        _ => bail!("`audit verify` prints text or json"),
    };
    Ok(Output { stdout, exit: if report.ok { Exit::Ok } else { Exit::No } })
}

/// The locks of one apply: the audit log's, and the state file's of every file provider that
/// the run may write (docs/audit-log.md#one-apply-at-a-time).
fn apply_lock(
    state: &State,
    audit: &Path,
    timeout: &str,
    run_id: &str,
    started: DateTime<Utc>,
) -> anyhow::Result<crate::lock::RunLock> {
    let timeout = humantime::parse_duration(timeout.trim())
        .ok()
        .filter(|timeout| *timeout <= std::time::Duration::from_secs(24 * 60 * 60))
        .ok_or_else(|| {
            anyhow!("--lock-timeout `{timeout}` is not a duration of at most 24h, such as `30s`")
        })?;
    let used: BTreeSet<String> = state.managed().keys().map(|id| id.provider().to_owned()).collect();
    let mut targets = vec![audit.to_owned()];
    for (name, (_, config)) in &state.current.providers {
        if let crate::wire::ProviderConfig::File { path } = config
            && used.contains(name)
            && let Ok(provider) = providers::FileProvider::open(name, path, &state.root)
        {
            targets.push(provider.path().to_owned());
        }
    }
    let holder = crate::lock::Holder::this_process(started, run_id);
    crate::lock::acquire(&targets, &holder, timeout, |path, holder| {
        let who = holder
            .map_or_else(|| "a holder that has not recorded itself yet".to_owned(), ToString::to_string);
        tracing::warn!("waiting for the lock {} held by {who}", path.display());
    })
    .map_err(|error| anyhow!("{error}"))
}

/// Actual grants, by resource, for the text diff.
type ActualByResource = BTreeMap<ResourceId, Vec<Tuple>>;
/// Open providers, by name.
type Providers = BTreeMap<String, Box<dyn Provider>>;

/// Everything a command knows after reading the repository and judging every request.
struct State {
    /// `check --pr`: what the pull request would change, merged now.
    pull: Option<crate::prcheck::Report>,
    rev: String,
    commit: ObjectId,
    root: PathBuf,
    now: DateTime<Utc>,
    commits: Vec<CommitRecord>,
    index: HistoryIndex,
    reviews: BTreeMap<ObjectId, ChangeReview>,
    current: Policy,
    evaluation: Evaluation,
    policy_versions: Vec<PolicyVersion>,
    trust: policy::TrustChain,
    /// Command-provider programs in the working tree that differ from the copy at `--rev`,
    /// with why; such a provider is never run.
    untrusted_programs: BTreeMap<String, String>,
    /// `--only`: the resources this run reads, plans, applies and guards.
    only: Shard,
    /// Where providers keep what saves calls between runs (the github provider's ETags);
    /// `None` when such a file is committed to the repository.
    provider_cache_dir: Option<PathBuf>,
}

impl State {
    fn load(
        repo: &Path,
        rev: Option<&str>,
        now: DateTime<Utc>,
        only: Shard,
        forge_run: ForgeRun<'_>,
    ) -> anyhow::Result<State> {
        let source = Source::open(repo)?;
        let root = source.workdir().unwrap_or_else(|| repo.to_path_buf());
        // The default names the branch by its full ref, so that a tag called `main` cannot stand
        // in for the branch; the short name is what people read.
        let (rev, full_ref) = match rev {
            // git would take a tag of the same name first; a branch name means the branch.
            Some(rev) if source.has_local_branch(rev) => (rev.to_owned(), format!("refs/heads/{rev}")),
            Some(rev) => (rev.to_owned(), rev.to_owned()),
            None => default_rev(&source)?,
        };
        let commit = source.resolve_commit(&full_ref)?;
        let config_at_rev = source.file_at(&commit, CONFIG_PATH)?.ok_or_else(|| {
            anyhow!(
                "{CONFIG_PATH} does not exist at {rev} ({}); is this an access repository?",
                commit.short()
            )
        })?;
        let programs = match load::parse_config(&config_at_rev) {
            Ok(config) => repository_programs(&config),
            // The full policy check below reports the problem with its context.
            Err(_) => BTreeSet::new(),
        };
        let watch = Watch {
            files: std::iter::once(CONFIG_PATH.to_owned()).chain(programs.iter().cloned()).collect(),
            dirs: vec![
                policy::CATALOG_DIR.trim_end_matches('/').to_owned(),
                policy::REQUESTS_DIR.trim_end_matches('/').to_owned(),
            ],
        };
        crate::ui::step(format!("reading the history of {rev}"));
        // The walk keeps one core busy; the blobs it names are read and parsed on the others
        // as they are found, so that little is left to parse once it ends.
        let catalog_reader = BlobReader::start(source.reopen().ok(), load::parse_catalog);
        let request_reader = BlobReader::start(source.reopen().ok(), load::parse_request);
        let mut commits = source.history_reporting(&commit, &watch, |record| {
            for change in &record.changes {
                let Some(entry) = change.after.as_ref().filter(|entry| is_regular(entry)) else { continue };
                if is_request_file(&change.path) {
                    request_reader.want(&entry.id);
                } else if is_catalog_file(&change.path) {
                    catalog_reader.want(&entry.id);
                }
            }
        })?;
        let mut index = HistoryIndex::build_with(&commits, &programs);
        let untrusted_programs = untrusted_programs(&source, &root, &programs, &index)?;

        let mut policy_cache =
            PolicyCache { parsed_catalogs: catalog_reader.finish(), ..PolicyCache::default() };
        let tip_files = index.policy_at_tip();
        if !tip_files.contains_key(CONFIG_PATH) {
            bail!(
                "{CONFIG_PATH} does not exist at {rev} ({}); is this an access repository?",
                commit.short()
            );
        }
        let mut current =
            policy_cache.policy(&source, &tip_files).map_err(|problems| policy_error(&rev, &problems))?;
        // `check --pr`: the pull request's files as one more change on the branch, merged now.
        let pending = pr::pending_change(&source, &current, &commit, &watch, forge_run.pull, now)?;
        let mut unmerged = None;
        let mut pull_policy_problems = Vec::new();
        if let Some(pending) = &pending {
            let base_len = commits.len();
            // A pull request that changes no watched path adds no change (its head may even be
            // on the branch already, and one commit must not stand at two positions).
            if !pending.record.changes.is_empty() {
                commits.push(pending.record.clone());
            }
            let base_index = std::mem::replace(&mut index, HistoryIndex::build_with(&commits, &programs));
            let base_current = match policy_cache.policy(&source, &index.policy_at_tip()) {
                Ok(policy) => std::mem::replace(&mut current, policy),
                // The pull request breaks the policy: that is its finding; the branch's stands.
                Err(problems) => {
                    pull_policy_problems = problems;
                    current.clone()
                }
            };
            unmerged = Some((base_len, base_index, base_current));
        }

        let local = SourceCommits(&source);
        let mut forge: Box<dyn Forge + '_> = match &current.forge {
            policy::ForgeKind::Git => Box::new(GitForge),
            policy::ForgeKind::Github { repository } => {
                let cache_dir = trusted_cache_dir(&source, &root, &commit, forge_run.cache_dir, repository)?;
                Box::new(github_forge(repository, &current.branch, &commits, &local, forge_run, cache_dir)?)
            }
        };
        let mut reviews = BTreeMap::new();
        let changes = commits.iter().filter(|record| !record.changes.is_empty()).count();
        crate::ui::step(format!("reading the reviews of {changes} change commit(s)"));
        for (done, record) in commits.iter().filter(|record| !record.changes.is_empty()).enumerate() {
            let commit = record.id.short();
            crate::ui::detail(format!("reading the review of {commit} ({}/{changes})", done + 1));
            let review = match &pending {
                // Never asked of the forge: an open pull request has no merged facts to cache.
                Some(pending) if pending.record.id == record.id => pending.review.clone(),
                _ => forge.review(record)?,
            };
            reviews.insert(record.id.clone(), review);
        }

        let mut policy_versions = Vec::with_capacity(index.policy_snapshots.len());
        for snapshot in &index.policy_snapshots {
            let record = &commits[snapshot.position];
            let policy = if snapshot.files.contains_key(CONFIG_PATH) {
                policy_cache.policy(&source, &snapshot.files)
            } else {
                Err(vec![PolicyProblem { file: CONFIG_PATH.into(), field: None, message: "missing".into() }])
            };
            policy_versions.push(PolicyVersion {
                position: snapshot.position,
                commit: record.id.clone(),
                files: blob_ids(&snapshot.files),
                policy,
                review: reviews
                    .get(&record.id)
                    .cloned()
                    .unwrap_or_else(|| ChangeReview::not_reviewed("no review")),
            });
        }
        // Only the `check --pr` comparison below reads policies after this, from what it kept.
        drop(policy_cache);
        let mut teams = TeamMembers::new();
        let wanted_teams: BTreeSet<(String, String)> = policy_versions
            .iter()
            .filter_map(|version| version.policy.as_ref().ok())
            .flat_map(Policy::teams)
            .collect();
        for (org, slug) in wanted_teams {
            if let Some(members) = forge.team_members(&org, &slug)? {
                teams.insert((org, slug), members);
            }
        }
        // The cache only saves calls; a run that cannot write it still answers.
        if let Err(error) = forge.finish() {
            tracing::warn!("{error}");
        }
        drop(forge);
        let trust = policy::trust_chain(&policy_versions, &teams);

        // Blobs are read one by one (git2 is not shared between threads), then parsed on every core.
        let mut wanted = BTreeSet::new();
        for versions in index.request_versions.values() {
            for entry in versions.iter().filter_map(|version| version.entry.as_ref()) {
                if matches!(entry.kind, EntryKind::File | EntryKind::Executable) {
                    wanted.insert(&entry.id);
                }
            }
        }
        let mut early = request_reader.finish();
        let mut parsed: BTreeMap<ObjectId, Parsed> = BTreeMap::new();
        wanted.retain(|id| match early.remove(*id) {
            Some(result) => {
                parsed.insert((*id).clone(), result.map_err(Rejection::from));
                false
            }
            None => true,
        });
        drop(early);
        // Whatever the readers could not read is read here, so that its error stops the run.
        let blobs = wanted.iter().map(|id| source.read_blob(id)).collect::<Result<Vec<_>, _>>()?;
        parsed.extend(
            wanted
                .into_iter()
                .cloned()
                .zip(load::parse_requests(&blobs))
                .map(|(id, result)| (id, result.map_err(Rejection::from))),
        );
        drop(blobs);
        let inputs = Inputs {
            commits: &commits,
            index: &index,
            reviews: &reviews,
            parsed: &parsed,
            policy_versions: &policy_versions,
            trust: &trust,
            current: &current,
            teams: &teams,
            org_members: None,
            now,
        };
        let mut evaluation = desired::evaluate(inputs);
        evaluation.rejected.extend(pr::policy_rejections(&pull_policy_problems));
        evaluation.notices.extend(misplaced_requests(&source, &commit)?);
        // Findings raised after parsing know their field; find its line in the file.
        for rejection in &mut evaluation.rejected {
            if rejection.line.is_some() {
                continue;
            }
            let (Some(field), Some(entry)) =
                (&rejection.field, index.requests_at_tip.get(&rejection.request))
            else {
                continue;
            };
            if let Ok(bytes) = source.read_blob(&entry.id)
                && let Some((line, column)) = load::locate(&bytes, field)
            {
                rejection.line = Some(line);
                rejection.column = Some(column);
            }
        }
        if !only.is_whole() {
            evaluation.rejected.retain(|rejection| {
                let grants = index
                    .requests_at_tip
                    .get(&rejection.request)
                    .and_then(|entry| parsed.get(&entry.id))
                    .and_then(|parsed| parsed.as_ref().ok())
                    .map(|request| request.grants.as_slice());
                only.reports_rejection(grants)
            });
        }
        let pull = match (pending, unmerged) {
            (Some(pending), Some((base_len, base_index, base_current))) => {
                let versions = policy_versions.iter().take_while(|v| v.position < base_len).count();
                let base_trust = policy::trust_chain(&policy_versions[..versions], &teams);
                let without = desired::evaluate(Inputs {
                    commits: &commits[..base_len],
                    index: &base_index,
                    policy_versions: &policy_versions[..versions],
                    trust: &base_trust,
                    current: &base_current,
                    ..inputs
                });
                let judged_by = base_len
                    .checked_sub(1)
                    .and_then(|tip| trust.trusted_at(&policy_versions, tip))
                    .and_then(|at| policy_versions[at].policy.as_ref().ok());
                Some(pr::report(&pending, &without, &evaluation, judged_by, &index, &parsed))
            }
            _ => None,
        };
        let provider_cache_dir =
            trusted_provider_cache_dir(&source, &root, &commit, forge_run.cache_dir, &current)?;
        Ok(State {
            provider_cache_dir,
            pull,
            only,
            untrusted_programs,
            rev,
            commit,
            root,
            now,
            commits,
            index,
            reviews,
            current,
            evaluation,
            policy_versions,
            trust,
        })
    }

    /// A shard pattern that matches no managed resource is a typo that would make a CI shard
    /// silently do nothing; refuse it.
    fn check_shard(&self) -> anyhow::Result<()> {
        if self.only.is_whole() {
            return Ok(());
        }
        let managed: Vec<String> = self.managed().keys().map(ToString::to_string).collect();
        for pattern in self.only.patterns() {
            if !managed.iter().any(|id| crate::shard::matches(pattern, id)) {
                bail!("--only `{pattern}` matches no resource that tenure manages at {}", self.rev);
            }
        }
        Ok(())
    }

    fn header(&self) -> Header<'_> {
        Header { commit: &self.commit, rev: &self.rev, now: self.now }
    }

    /// The resources tenure manages: the current catalog's, and any resource that an approved
    /// request once granted, as long as its provider is still configured.
    fn managed(&self) -> BTreeMap<ResourceId, Managed> {
        let mut managed = BTreeMap::new();
        for resource in self.current.resources.values() {
            if !self.only.contains(&resource.id.to_string()) {
                continue;
            }
            let Some(kind) = self.current.provider_kind(&resource.id) else { continue };
            managed.insert(
                resource.id.clone(),
                Managed {
                    kind,
                    manage: resource.manage,
                    keep: resource.keep.clone(),
                    allow_empty: resource.allow_empty,
                },
            );
        }
        for tuple in self.evaluation.inventory.keys() {
            if managed.contains_key(&tuple.resource) || !self.only.contains(&tuple.resource.to_string()) {
                continue;
            }
            if let Some(kind) = self.current.provider_kind(&tuple.resource) {
                managed.insert(
                    tuple.resource.clone(),
                    Managed { kind, manage: ManageMode::Additive, keep: Vec::new(), allow_empty: false },
                );
            }
        }
        managed
    }

    /// Reads the actual grants and computes the plan. A provider that cannot be read stops
    /// the run before any change.
    fn plan(&self) -> anyhow::Result<(Plan, ActualByResource, Providers)> {
        let managed = self.managed();
        let mut by_provider: BTreeMap<&str, Vec<ResourceId>> = BTreeMap::new();
        for resource in managed.keys() {
            by_provider.entry(resource.provider()).or_default().push(resource.clone());
        }
        let mut providers = BTreeMap::new();
        let mut actual = BTreeSet::new();
        for (name, resources) in by_provider {
            let Some((kind, config)) = self.current.providers.get(name) else { continue };
            if let crate::wire::ProviderConfig::Command { program, .. } = config
                && let Some(why) =
                    normalize_repo_path(program).and_then(|path| self.untrusted_programs.get(&path))
            {
                bail!("provider `{name}` is not run: {why}");
            }
            crate::ui::step(format!("reading provider `{name}`"));
            let mut provider =
                providers::open_with_cache(name, config, &self.root, self.provider_cache_dir.as_deref())
                    .with_context(|| format!("cannot open provider `{name}`"))?;
            let tuples =
                provider.read(&resources).with_context(|| format!("cannot read provider `{name}`"))?;
            for mut tuple in tuples {
                if kind.folds_subject_case() {
                    tuple.subject = tuple.subject.to_ascii_lowercase();
                }
                if managed.contains_key(&tuple.resource) {
                    actual.insert(tuple);
                }
            }
            providers.insert(name.to_owned(), provider);
        }
        let plan = if self.evaluation.policy_refused {
            Plan::default()
        } else {
            plan::compute(PlanInputs {
                desired: &self.evaluation.desired,
                actual: &actual,
                managed: &managed,
                inventory: &self.evaluation.inventory,
                path_status: &self.evaluation.path_status,
                max_revocations: self.current.max_revocations,
            })
        };
        let mut by_resource: BTreeMap<ResourceId, Vec<Tuple>> = BTreeMap::new();
        for tuple in actual {
            by_resource.entry(tuple.resource.clone()).or_default().push(tuple);
        }
        Ok((plan, by_resource, providers))
    }

    fn view<'a>(
        &'a self,
        plan: &'a Plan,
        actual: &'a BTreeMap<ResourceId, Vec<Tuple>>,
        outcomes: Option<Option<&'a [render::Outcome]>>,
        refused: Option<&'a str>,
    ) -> PlanView<'a> {
        PlanView {
            header: self.header(),
            plan,
            rejected: &self.evaluation.rejected,
            notices: &self.evaluation.notices,
            outcomes,
            actual,
            refused,
        }
    }

    /// Live grants with their evidence, one row per tuple (the evidence of the request that
    /// lasts longest), filtered by expiry.
    fn live_grants(&self, keep: impl Fn(DateTime<Utc>) -> bool) -> Vec<GrantRow<'_>> {
        self.evaluation
            .desired
            .iter()
            .filter(|(tuple, _)| self.only.contains(&tuple.resource.to_string()))
            .filter_map(|(tuple, evidence)| {
                let evidence = evidence.iter().max_by_key(|e| e.expires)?;
                keep(evidence.expires).then_some(GrantRow { tuple, evidence })
            })
            .collect()
    }
}

fn check(state: &State, format: Format) -> Output {
    let approved: Vec<ApprovedFile> = state
        .evaluation
        .live
        .values()
        .filter_map(|judgement| {
            let approved = judgement.outcome.as_ref().ok()?;
            let grants: Vec<Tuple> = approved
                .tuples
                .iter()
                .filter(|tuple| state.only.contains(&tuple.resource.to_string()))
                .cloned()
                .collect();
            if grants.is_empty() && !state.only.is_whole() {
                return None;
            }
            Some(ApprovedFile {
                request: judgement.path.clone(),
                expires: approved.evidence.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                break_glass: approved.evidence.break_glass,
                expired: state.now >= approved.evidence.expires,
                grants,
            })
        })
        .collect();
    let exit = if state.evaluation.rejected.is_empty() { Exit::Ok } else { Exit::No };
    let stdout = render::check(
        state.header(),
        &approved,
        &state.evaluation.rejected,
        &state.evaluation.notices,
        format,
    );
    Output { stdout, exit }
}

fn explain(state: &State, file: &str, format: Format) -> anyhow::Result<Output> {
    let path = file.trim_start_matches("./");
    let judgement: &Judgement = match state.evaluation.live.get(path) {
        Some(judgement) => judgement,
        None if state.index.request_versions.contains_key(path) => {
            bail!("{path} no longer exists at {}; it grants nothing", state.rev)
        }
        None => bail!("{path} is not a request file at {} (request files are requests/**/*.yaml)", state.rev),
    };
    let position = state.index.change_of(path).ok_or_else(|| anyhow!("{path} has no change commit"))?;
    let record = &state.commits[position];
    let review = state.reviews.get(&record.id);
    let base = position
        .checked_sub(1)
        .and_then(|parent| state.trust.trusted_at(&state.policy_versions, parent))
        .map(|index| state.policy_versions[index].commit.clone());
    let change = render::ExplainChange {
        commit: record.id.clone(),
        subject: record.message.lines().next().unwrap_or("").to_owned(),
        review: match review.map(|review| &review.status) {
            Some(ReviewStatus::Reviewed) => "reviewed".to_owned(),
            Some(ReviewStatus::NoApprovals(_))
                if judgement.outcome.as_ref().is_ok_and(|a| a.evidence.break_glass) =>
            {
                "break-glass: granted without approvals; its owners review it after the fact".to_owned()
            }
            Some(ReviewStatus::NoApprovals(why)) | Some(ReviewStatus::NotReviewed(why)) => {
                format!("not reviewed: {why}")
            }
            None => "unknown".to_owned(),
        },
        proposer: review.and_then(|review| review.proposer.as_ref()).map(ToString::to_string),
        approvers: review
            .map(|review| review.approvers.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        pull_request: review
            .and_then(|review| review.pull_request.as_ref())
            .map(|pr| format!("#{} {}", pr.number, pr.url)),
        policy_commit: base,
    };
    let stdout = render::explain(judgement, &change, state.now, format);
    let exit = if judgement.outcome.is_ok() { Exit::Ok } else { Exit::No };
    Ok(Output { stdout, exit })
}

/// `--rev` by default: the branch that tenure.yaml names at HEAD, or `origin/<branch>`.
/// `--rev` by default: the branch that tenure.yaml names at HEAD, or `origin/<branch>` where
/// there is no local branch. Returns the name to show and the full ref to resolve.
fn default_rev(source: &Source) -> anyhow::Result<(String, String)> {
    let head = source.resolve_commit("HEAD").map_err(|error| {
        crate::ui::hint(
            anyhow::Error::new(error).context("the repository has no commits at HEAD; pass --rev"),
            "commit the access repository first: git add -A && git commit -m 'Set up tenure'",
        )
    })?;
    let bytes = source.file_at(&head, CONFIG_PATH)?.ok_or_else(|| {
        crate::ui::hint(
            anyhow!("{CONFIG_PATH} does not exist at HEAD; is this an access repository?"),
            "`tenure init` scaffolds an access repository; or pass --repo PATH",
        )
    })?;
    let config = load::parse_config(&bytes).map_err(|error| load_error(CONFIG_PATH, &error))?;
    let branch = config.branch;
    Ok(if source.has_local_branch(&branch) {
        (branch.clone(), format!("refs/heads/{branch}"))
    } else {
        (format!("origin/{branch}"), format!("refs/remotes/origin/{branch}"))
    })
}

fn load_error(file: &str, error: &LoadError) -> anyhow::Error {
    let mut location = file.to_owned();
    if let Some(line) = error.line {
        location.push_str(&format!(":{line}"));
        if let Some(column) = error.column {
            location.push_str(&format!(":{column}"));
        }
    }
    let field = error.field.as_deref().map(|field| format!(" ({field})")).unwrap_or_default();
    anyhow!("{location}{field}: {}: {}", error.code, error.message)
}

fn policy_error(rev: &str, problems: &[PolicyProblem]) -> anyhow::Error {
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| {
            let field = problem.field.as_deref().map(|field| format!(" ({field})")).unwrap_or_default();
            format!("  {}{field}: {}", problem.file, problem.message)
        })
        .collect();
    anyhow!("the policy at {rev} cannot be used, so nothing was changed:\n{}", lines.join("\n"))
}

/// Reads each policy blob once, however many versions share it, and each catalog file once
/// per configuration it is read against: a history's policy versions differ by a file or two,
/// and share the rest (`policy::CatalogPart`, `policy::assemble_after`).
#[derive(Default)]
struct PolicyCache {
    configs: BTreeMap<ObjectId, Result<Arc<Settings>, LoadError>>,
    /// By configuration blob, catalog path and catalog blob: a resource names its file, and its
    /// defaults come from the configuration.
    catalogs: BTreeMap<(ObjectId, String, ObjectId), Result<Arc<CatalogPart>, LoadError>>,
    /// Catalog blobs read without a usable configuration, for their own problems only.
    unusable_catalogs: BTreeMap<ObjectId, Option<LoadError>>,
    /// Catalog blobs already parsed while the history was read.
    parsed_catalogs: BTreeMap<ObjectId, Result<CatalogFile, LoadError>>,
    /// The last policy built: the next is built from it, keeping what they share.
    previous: Option<Policy>,
}

impl PolicyCache {
    /// The policy that a set of policy files makes. Files that are policy only for trust (a
    /// command provider's program) are not read.
    fn policy(
        &mut self,
        source: &Source,
        files: &BTreeMap<String, crate::model::TreeEntry>,
    ) -> Result<Policy, Vec<PolicyProblem>> {
        let config = files.get(CONFIG_PATH).map(|entry| {
            let settings = if is_regular(entry) {
                self.configs
                    .entry(entry.id.clone())
                    .or_insert_with(|| {
                        read_and(source, &entry.id, load::parse_config)
                            .map(|config| Arc::new(policy::read_config(&config)))
                    })
                    .clone()
            } else {
                Err(unreadable(NOT_A_REGULAR_FILE))
            };
            (&entry.id, settings)
        });
        let usable = match &config {
            Some((id, Ok(settings))) => Some((*id, settings)),
            _ => None,
        };
        // Problems are listed in path order, whichever file they are in.
        let mut problems = Vec::new();
        let mut parts = Vec::new();
        for (path, entry) in files {
            let error = if path == CONFIG_PATH {
                config.as_ref().and_then(|(_, settings)| settings.as_ref().err().cloned())
            } else if !is_catalog_file(path) {
                continue;
            } else if !is_regular(entry) {
                Some(unreadable(NOT_A_REGULAR_FILE))
            } else if let Some((config_id, settings)) = usable {
                let part = self
                    .catalogs
                    .entry((config_id.clone(), path.clone(), entry.id.clone()))
                    .or_insert_with(|| {
                        let part =
                            |catalog: &CatalogFile| Arc::new(policy::read_catalog(settings, path, catalog));
                        match self.parsed_catalogs.get(&entry.id) {
                            Some(parsed) => parsed.as_ref().map(part).map_err(Clone::clone),
                            None => {
                                read_and(source, &entry.id, load::parse_catalog).map(|catalog| part(&catalog))
                            }
                        }
                    });
                match part {
                    Ok(part) => {
                        parts.push(Arc::clone(part));
                        None
                    }
                    Err(error) => Some(error.clone()),
                }
            } else {
                self.unusable_catalogs
                    .entry(entry.id.clone())
                    .or_insert_with(|| match self.parsed_catalogs.get(&entry.id) {
                        Some(parsed) => parsed.as_ref().err().cloned(),
                        None => read_and(source, &entry.id, load::parse_catalog).err(),
                    })
                    .clone()
            };
            if let Some(error) = error {
                problems.push(PolicyProblem {
                    file: path.clone(),
                    field: error.field.clone(),
                    message: match error.line {
                        Some(line) => format!("line {line}: {}: {}", error.code, error.message),
                        None => format!("{}: {}", error.code, error.message),
                    },
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let Some((_, settings)) = usable else {
            return Err(vec![PolicyProblem {
                file: CONFIG_PATH.into(),
                field: None,
                message: "missing".into(),
            }]);
        };
        let policy = match &self.previous {
            Some(previous) => policy::assemble_after(previous, settings, &parts),
            None => policy::assemble(settings, &parts),
        };
        if let Ok(policy) = &policy {
            self.previous = Some(policy.clone());
        }
        policy
    }
}

/// Reads and parses blobs on its own thread, with its own handle on the repository, as their
/// ids arrive. A blob it cannot read is left out, for the caller to read again and report; so is
/// everything, when there is no second handle or no thread.
struct BlobReader<T> {
    ids: std::sync::mpsc::Sender<ObjectId>,
    worker: Option<std::thread::JoinHandle<BTreeMap<ObjectId, Result<T, LoadError>>>>,
}

impl<T: Send + 'static> BlobReader<T> {
    fn start(source: Option<Source>, parse: fn(&[u8]) -> Result<T, LoadError>) -> BlobReader<T> {
        let (ids, wanted) = std::sync::mpsc::channel::<ObjectId>();
        let read = move |source: Source| {
            let mut parsed = BTreeMap::new();
            for id in wanted {
                if let std::collections::btree_map::Entry::Vacant(slot) = parsed.entry(id)
                    && let Ok(bytes) = source.read_blob(slot.key())
                {
                    slot.insert(parse(&bytes));
                }
            }
            parsed
        };
        let worker = source.and_then(|source| {
            std::thread::Builder::new().name("blob-reader".into()).spawn(move || read(source)).ok()
        });
        BlobReader { ids, worker }
    }

    fn want(&self, id: &ObjectId) {
        // A worker that is gone has left its blobs for the caller to read.
        let _ = self.ids.send(id.clone());
    }

    /// Everything parsed, once the worker has caught up; nothing if it died or never started.
    fn finish(self) -> BTreeMap<ObjectId, Result<T, LoadError>> {
        drop(self.ids);
        self.worker.and_then(|worker| worker.join().ok()).unwrap_or_default()
    }
}

/// Why a policy path that holds a link or a submodule is unreadable.
const NOT_A_REGULAR_FILE: &str = "a policy file must be a regular file, not a link or a submodule";

fn is_regular(entry: &crate::model::TreeEntry) -> bool {
    matches!(entry.kind, EntryKind::File | EntryKind::Executable)
}

fn unreadable(message: &str) -> LoadError {
    LoadError {
        code: crate::model::Code::InvalidYaml,
        message: message.to_owned(),
        field: None,
        line: None,
        column: None,
    }
}

fn read_and<T>(
    source: &Source,
    id: &ObjectId,
    parse: fn(&[u8]) -> Result<T, LoadError>,
) -> Result<T, LoadError> {
    match source.read_blob(id) {
        Ok(bytes) => parse(&bytes),
        Err(error) => Err(unreadable(&error.to_string())),
    }
}

/// The programs of command providers that live in the repository. They run with the
/// provider's credentials, so they are policy: changing one needs an admin's approval.
fn repository_programs(config: &ConfigFile) -> BTreeSet<String> {
    config
        .providers
        .values()
        .filter_map(|provider| match provider {
            crate::wire::ProviderConfig::Command { program, .. } => normalize_repo_path(program),
            _ => None,
        })
        .collect()
}

/// YAML files outside `requests/` that look like access requests. tenure never judges them,
/// but their authors must hear that they grant nothing.
fn misplaced_requests(source: &Source, commit: &ObjectId) -> anyhow::Result<Vec<crate::model::Notice>> {
    // Bounded, so a huge repository costs one capped tree walk at most.
    const MOST: usize = 1_000;
    let skip =
        [CONFIG_PATH, policy::CATALOG_DIR.trim_end_matches('/'), policy::REQUESTS_DIR.trim_end_matches('/')];
    let mut notices = Vec::new();
    for (path, blob) in source.yaml_files_outside(commit, &skip, MOST)? {
        let bytes = source.read_blob(&blob)?;
        let names_a_requester = bytes.split(|b| *b == b'\n').any(|line| line.starts_with(b"requester:"));
        if names_a_requester || load::parse_request(&bytes).is_ok() {
            notices.push(crate::model::Notice {
                code: "request-outside-requests",
                file: Some(path),
                message: "this file looks like an access request, but only files under requests/ are read; \
                          it grants nothing until it is moved there"
                    .into(),
            });
        }
    }
    Ok(notices)
}

/// Programs whose working-tree copy is not the one committed at `--rev`. Only the committed
/// copy went through the policy trust chain, so only it may run with the provider's secrets.
fn untrusted_programs(
    source: &Source,
    root: &Path,
    programs: &BTreeSet<String>,
    index: &HistoryIndex,
) -> anyhow::Result<BTreeMap<String, String>> {
    let committed = index.policy_at_tip();
    let mut untrusted = BTreeMap::new();
    for path in programs {
        let on_disk = source.blob_id_of_file(&root.join(path))?;
        let why = match (committed.get(path), on_disk) {
            (None, _) => format!("its program {path} is not committed, so no admin approved it"),
            (Some(_), None) => format!("its program {path} is missing from the working tree"),
            (Some(entry), Some(id)) if entry.id != id => format!(
                "its program {path} in the working tree differs from the approved copy at this revision; \
                 restore it with `git checkout -- {path}`"
            ),
            (Some(_), Some(_)) => continue,
        };
        untrusted.insert(path.clone(), why);
    }
    Ok(untrusted)
}

/// `./plugins/okta` → `plugins/okta`; absolute paths and paths that leave the repository are
/// not repository files.
fn normalize_repo_path(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `tenure init`: the scaffold, written, and what to do next.
fn init_command(args: &crate::cli::InitArgs) -> anyhow::Result<Output> {
    let options = crate::init::Options::from_args(args)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let files = crate::init::files(&options);
    let written = crate::init::write(&dir, &files).map_err(|error| match error {
        crate::init::InitError::Exists { .. } => crate::ui::hint(
            error.into(),
            "run tenure init in an empty directory, or move those files away first",
        ),
        error => error.into(),
    })?;
    let is_repo = dir.join(".git").exists();
    Ok(Output { stdout: crate::init::summary(&dir, &written, is_repo, &options), exit: Exit::Ok })
}

/// `tenure completions SHELL`.
fn completions_command(shell: clap_complete::Shell) -> Output {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "tenure", &mut script);
    Output { stdout: String::from_utf8_lossy(&script).into_owned(), exit: Exit::Ok }
}

/// What the github forge needs from the command line: where its cache lives, and the real
/// time (a "no pull request" answer is cached only for commits over an hour old).
#[derive(Clone, Copy)]
struct ForgeRun<'a> {
    cache_dir: &'a Path,
    wall_clock: DateTime<Utc>,
    /// `check --pr`: the pull request to judge as if merged.
    pull: Option<pr::Requested>,
}

/// Connects to GitHub (GITHUB_API_URL, GITHUB_TOKEN or a GitHub App) for the github forge.
fn github_forge<'a>(
    repository: &'a str,
    branch: &'a str,
    history: &'a [CommitRecord],
    local: &'a SourceCommits<'a>,
    run: ForgeRun<'a>,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<GithubForge<'a>> {
    let owner = repository.split_once('/').map_or(repository, |(owner, _)| owner);
    let client = crate::github::Settings::from_env()
        .and_then(|settings| crate::github::Client::connect(settings, owner))
        .context("cannot connect to GitHub for the github forge")?;
    let options = crate::forge::github::Options {
        repository,
        branch,
        history,
        local,
        cache_dir,
        wall_clock: run.wall_clock,
    };
    Ok(GithubForge::new(client, options)?)
}

/// The evidence cache directory, unless the forge's cache file in it is committed to the
/// repository (at `--rev` or at HEAD): a committed file is content that a change wrote, and
/// would stand in for GitHub's answers.
fn trusted_cache_dir(
    source: &Source,
    root: &Path,
    rev: &ObjectId,
    dir: &Path,
    repository: &str,
) -> anyhow::Result<Option<PathBuf>> {
    let Some((owner, name)) = repository.split_once('/') else { return Ok(Some(dir.to_owned())) };
    let file_name = crate::forge::github::cache_file_name(owner, name);
    Ok(match committed_cache_file(source, root, rev, dir, &[file_name])? {
        Some(path) => {
            tracing::warn!("the evidence cache {path} is committed to the repository; it is not used");
            None
        }
        None => Some(dir.to_owned()),
    })
}

/// The cache directory for the github providers' ETag files, unless one of those files is
/// committed to the repository: its stored bodies would stand in for GitHub's answers.
fn trusted_provider_cache_dir(
    source: &Source,
    root: &Path,
    rev: &ObjectId,
    dir: &Path,
    policy: &Policy,
) -> anyhow::Result<Option<PathBuf>> {
    let file_names: Vec<String> = policy
        .providers
        .iter()
        .filter_map(|(name, (_, config))| match config {
            crate::wire::ProviderConfig::Github { org, .. } => {
                Some(crate::providers::github_etag_file_name(name, org))
            }
            _ => None,
        })
        .collect();
    Ok(match committed_cache_file(source, root, rev, dir, &file_names)? {
        Some(path) => {
            tracing::warn!("the ETag cache {path} is committed to the repository; no provider cache is used");
            None
        }
        None => Some(dir.to_owned()),
    })
}

/// The first of `file_names` in the cache directory `dir` that is committed to the repository
/// at `rev` or at HEAD, as a repository path. A directory outside the working tree, or one that
/// does not exist yet, holds nothing committed.
fn committed_cache_file(
    source: &Source,
    root: &Path,
    rev: &ObjectId,
    dir: &Path,
    file_names: &[String],
) -> anyhow::Result<Option<String>> {
    let (Ok(root), Ok(dir_on_disk)) = (root.canonicalize(), dir.canonicalize()) else { return Ok(None) };
    let Ok(inside) = dir_on_disk.strip_prefix(&root) else { return Ok(None) };
    let prefix: Vec<String> =
        inside.components().map(|part| part.as_os_str().to_string_lossy().into_owned()).collect();
    let head = source.resolve_commit("HEAD").ok();
    for file_name in file_names {
        let mut path = prefix.clone();
        path.push(file_name.clone());
        let path = path.join("/");
        for commit in std::iter::once(rev).chain(head.as_ref()) {
            if source.file_at(commit, &path)?.is_some() {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// The local clone as the github forge sees it: commits and blob ids, read through `source`.
struct SourceCommits<'a>(&'a Source);

impl LocalRepo for SourceCommits<'_> {
    fn parents(&self, commit: &ObjectId) -> Result<Option<Vec<ObjectId>>, String> {
        self.0.commit_parents(commit).map_err(|error| error.to_string())
    }

    fn blob_at(&self, commit: &ObjectId, path: &str) -> Result<Option<ObjectId>, String> {
        self.0.blob_id_at(commit, path).map_err(|error| error.to_string())
    }
}

// ---- lifecycle: notify, renew, report --metrics (docs/lifecycle.md) ----
mod lifecycle;

// ---- the PR check: check --pr, the sticky comment, annotations (docs/github-forge.md#pr-check) ----
mod pr;

// ---- tenure import: request files for the grants held now (docs/github-provider.md#import) ----
mod import;

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn a_blob_reader_parses_what_the_main_thread_would_and_leaves_out_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let texts = [
            "requester: alice\nsubjects: [alice]\njustification: on call\ngrants:\n  - {resource: local:group/a, role: member}\nexpires: 2026-12-31\n",
            "requester: alice\nrequester: bob\n",
            "not: [closed\n",
        ];
        for (index, text) in texts.iter().enumerate() {
            std::fs::write(dir.path().join(format!("{index}.yaml")), text).unwrap();
        }
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "files"]);
        let source = Source::open(dir.path()).unwrap();
        let ids: Vec<ObjectId> = (0..texts.len())
            .map(|index| ObjectId(git(dir.path(), &["rev-parse", &format!("HEAD:{index}.yaml")])))
            .collect();
        let missing = ObjectId("0".repeat(40));

        let reader = BlobReader::start(source.reopen().ok(), load::parse_request);
        for id in ids.iter().chain(&ids).chain([&missing]) {
            reader.want(id);
        }
        let parsed = reader.finish();
        assert_eq!(parsed.len(), ids.len(), "each blob once, and none for a blob that is not there");
        for id in &ids {
            let expected = load::parse_request(&source.read_blob(id).unwrap());
            // Request files have no equality of their own; their debug form shows every field.
            assert_eq!(format!("{:?}", parsed.get(id)), format!("{:?}", Some(&expected)));
        }
        assert!(parsed[&ids[0]].is_ok() && parsed[&ids[1]].is_err() && parsed[&ids[2]].is_err());

        // Without a handle of its own, a reader reads nothing and leaves every blob to the caller.
        let idle = BlobReader::start(None, load::parse_request);
        idle.want(&ids[0]);
        assert!(idle.finish().is_empty());
    }
}
