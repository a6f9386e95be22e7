//! Target systems: the adapters that read the grants a system actually holds and apply one
//! change at a time.
//!
//! Every provider speaks in full resource ids (`local:group/admins`), while the file and
//! command providers' JSON carries ids without the provider prefix (`group/admins`). This
//! module owns that translation, so that an entry the target holds for a resource tenure does
//! not manage, or one whose id tenure cannot parse, is never mistaken for a managed grant.
//! Errors name the file or program and what to do about it, and never carry the value of an
//! environment variable, because those hold tokens.

mod command;
mod file;
mod github;
mod postgres;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{ResourceId, Tuple};
use crate::wire::ProviderConfig;

pub use command::CommandProvider;
pub use file::FileProvider;
pub use github::GithubProvider;
/// The github provider's ETag file name, for the engine's committed-cache check.
pub(crate) use github::etag_file_name as github_etag_file_name;
pub use postgres::PostgresProvider;

/// Why a provider could not read or change its target system.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider kind exists in the config format but has no adapter yet.
    #[error(
        "provider {name:?} is of kind {kind}, which this build of tenure cannot manage yet; \
         use a file or command provider instead"
    )]
    Unsupported {
        /// The provider's name in `tenure.yaml`.
        name: String,
        /// The configured kind.
        kind: &'static str,
    },
    /// The provider's settings in `tenure.yaml` cannot work.
    #[error("provider {name:?} in tenure.yaml is misconfigured: {detail}")]
    Config {
        /// The provider's name in `tenure.yaml`.
        name: String,
        /// What is wrong and what is allowed.
        detail: String,
    },
    /// A resource of another provider was handed to this one.
    #[error("resource {resource} does not belong to provider {provider:?}; nothing was read or changed")]
    Foreign {
        /// The provider that was asked.
        provider: String,
        /// The resource it was asked about.
        resource: String,
    },
    /// The file system refused an operation.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What tenure was doing, such as `read` or `replace`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state file does not hold `{"grants":[…]}`.
    #[error(
        "{} is not a valid state file ({detail}); tenure will not overwrite it, so fix or remove it by hand",
        path.display()
    )]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// Where the content went wrong.
        detail: String,
    },
    /// The PostgreSQL server could not be reached, or refused a read or a change. The detail
    /// never holds the connection URL or its password.
    #[error("provider {name:?}: cannot {action}: {detail}")]
    Database {
        /// The provider's name in `tenure.yaml`.
        name: String,
        /// What tenure was doing, such as `connect` or `grant app to alice`.
        action: String,
        /// The server's or the client's message.
        detail: String,
    },
    /// A change that tenure will not make, or that the target will never accept; retrying
    /// does not help.
    #[error("provider {name:?}: {detail}")]
    Refused {
        /// The provider's name in `tenure.yaml`.
        name: String,
        /// What was refused, why, and what to do instead.
        detail: String,
    },
    /// GitHub refused a read or a change, or could not be reached.
    #[error("provider {name:?}: cannot {action}: {detail}")]
    Github {
        /// The provider's name in `tenure.yaml`.
        name: String,
        /// What tenure was doing, such as `list /orgs/acme/members`.
        action: String,
        /// GitHub's HTTP status, when it answered with one.
        status: Option<u16>,
        /// GitHub's or the client's message; never a credential.
        detail: String,
    },
    /// The plugin could not be started.
    #[error("cannot run {program} {action}: {detail}")]
    Spawn {
        /// The program, as configured.
        program: String,
        /// `list`, `grant` or `revoke`.
        action: &'static str,
        /// Why, with a hint where one helps.
        detail: String,
    },
    /// The plugin ran and reported a failure.
    #[error("`{program} {action}` failed with {status}{}", stderr_note(.stderr))]
    Command {
        /// The program, as configured.
        program: String,
        /// `list`, `grant` or `revoke`.
        action: &'static str,
        /// How it ended: an exit code or a signal.
        status: String,
        /// Its standard error, trimmed, capped and with secrets removed.
        stderr: String,
    },
    /// The plugin did not finish in time and was killed.
    #[error(
        "`{program} {action}` did not finish within {timeout} and was killed; \
         raise `timeout` in tenure.yaml if the system is just slow"
    )]
    Timeout {
        /// The program, as configured.
        program: String,
        /// `list`, `grant` or `revoke`.
        action: &'static str,
        /// The configured limit, as text.
        timeout: String,
    },
    /// The plugin exited with 0 but printed something tenure cannot use.
    #[error("`{program} {action}` printed output that tenure cannot use: {detail}{}", stderr_note(.stderr))]
    BadOutput {
        /// The program, as configured.
        program: String,
        /// `list`, `grant` or `revoke`.
        action: &'static str,
        /// What was expected and what came.
        detail: String,
        /// Its standard error, trimmed, capped and with secrets removed.
        stderr: String,
    },
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!("; stderr: {stderr}") }
}

/// A target system that tenure reads and changes.
pub trait Provider {
    /// Actual grants on exactly these resources (full ids). Tuples for other resources are
    /// never returned.
    fn read(&mut self, resources: &[ResourceId]) -> Result<Vec<Tuple>, ProviderError>;
    /// Idempotent: already granted is success.
    fn grant(&mut self, tuple: &Tuple) -> Result<(), ProviderError>;
    /// Idempotent: already gone is success.
    fn revoke(&mut self, tuple: &Tuple) -> Result<(), ProviderError>;
}

/// Builds the provider named `name` from its config. `root` is the working-tree root
/// (relative paths resolve against it).
pub fn open(name: &str, config: &ProviderConfig, root: &Path) -> Result<Box<dyn Provider>, ProviderError> {
    open_with_cache(name, config, root, None)
}

/// [`open`], with a trusted cache directory where a provider may keep what saves calls
/// between runs (the github provider's ETags).
pub fn open_with_cache(
    name: &str,
    config: &ProviderConfig,
    root: &Path,
    cache_dir: Option<&Path>,
) -> Result<Box<dyn Provider>, ProviderError> {
    if !crate::model::is_valid_provider_name(name) {
        return Err(ProviderError::Config {
            name: name.to_owned(),
            detail: "a provider name must be lowercase letters, digits, `-` or `_`, starting with a letter"
                .to_owned(),
        });
    }
    match config {
        ProviderConfig::Github { org, write_interval } => {
            Ok(Box::new(GithubProvider::open(name, org, write_interval.as_deref(), cache_dir)?))
        }
        ProviderConfig::Postgres { url_env } => Ok(Box::new(PostgresProvider::open(name, url_env)?)),
        ProviderConfig::File { path } => Ok(Box::new(FileProvider::open(name, path, root)?)),
        ProviderConfig::Command { program, env, timeout } => {
            Ok(Box::new(CommandProvider::open(name, program, env, timeout.as_deref(), root)?))
        }
    }
}

/// One grant as the file and command providers' JSON spells it: no provider prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct WireGrant {
    pub(crate) resource: String,
    pub(crate) role: String,
    pub(crate) subject: String,
}

impl WireGrant {
    pub(crate) fn of(tuple: &Tuple) -> WireGrant {
        WireGrant {
            resource: tuple.resource.local().to_owned(),
            role: tuple.role.clone(),
            subject: tuple.subject.clone(),
        }
    }
}

/// The resources one `read` asked for, checked to belong to provider `name`.
pub(crate) struct Wanted<'a> {
    name: &'a str,
    resources: BTreeSet<&'a ResourceId>,
}

impl<'a> Wanted<'a> {
    pub(crate) fn new(name: &'a str, resources: &'a [ResourceId]) -> Result<Wanted<'a>, ProviderError> {
        for resource in resources {
            ensure_own(name, resource)?;
        }
        Ok(Wanted { name, resources: resources.iter().collect() })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The requested ids without their prefix, sorted and without repeats.
    pub(crate) fn locals(&self) -> Vec<&'a str> {
        self.resources.iter().map(|id| id.local()).collect()
    }

    /// The tuple for an entry of the target, if its resource parses and was asked for.
    /// Entries that fail either test belong to someone else and are left alone.
    pub(crate) fn tuple(&self, resource: &str, role: &str, subject: &str) -> Option<Tuple> {
        let id = ResourceId::parse(&format!("{}:{resource}", self.name))?;
        self.resources.contains(&id).then(|| Tuple {
            resource: id,
            role: role.to_owned(),
            subject: subject.to_owned(),
        })
    }
}

/// Refuses a resource of another provider: acting on it here would report a change as made
/// on a system that never saw it.
pub(crate) fn ensure_own(name: &str, resource: &ResourceId) -> Result<(), ProviderError> {
    if resource.provider() == name {
        Ok(())
    } else {
        Err(ProviderError::Foreign { provider: name.to_owned(), resource: resource.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ResourceId {
        ResourceId::parse(text).unwrap()
    }

    #[test]
    fn github_settings_are_checked_before_any_call() {
        let root = Path::new("/nonexistent");
        for (org, interval) in [("../x", None), ("acme", Some("soon")), ("acme", Some("2h"))] {
            let config = ProviderConfig::Github { org: org.into(), write_interval: interval.map(Into::into) };
            assert!(
                matches!(open("x", &config, root), Err(ProviderError::Config { .. })),
                "{org} {interval:?}"
            );
        }
    }

    #[test]
    fn bad_provider_names_are_config_errors() {
        let config = ProviderConfig::File { path: "state.json".into() };
        assert!(matches!(open("Bad Name", &config, Path::new("/tmp")), Err(ProviderError::Config { .. })));
    }

    #[test]
    fn wanted_adds_the_prefix_and_filters() {
        let resources = [id("local:group/a"), id("local:group/b"), id("local:group/a")];
        let wanted = Wanted::new("local", &resources).unwrap();
        assert_eq!(wanted.locals(), ["group/a", "group/b"]);
        let tuple = wanted.tuple("group/a", "member", "Alice").unwrap();
        assert_eq!(tuple.resource, id("local:group/a"));
        assert_eq!(tuple.subject, "Alice");
        assert!(wanted.tuple("group/c", "member", "alice").is_none());
        assert!(wanted.tuple("group/../a", "member", "alice").is_none());
        assert!(wanted.tuple("local:group/a", "member", "alice").is_none());
    }

    #[test]
    fn foreign_resources_are_refused() {
        let resources = [id("other:group/a")];
        assert!(matches!(Wanted::new("local", &resources), Err(ProviderError::Foreign { .. })));
    }

    #[test]
    fn wire_grants_drop_the_prefix() {
        let tuple = Tuple { resource: id("local:group/a"), role: "member".into(), subject: "bob".into() };
        let wire = WireGrant::of(&tuple);
        assert_eq!(wire.resource, "group/a");
        assert_eq!(
            serde_json::to_string(&wire).unwrap(),
            r#"{"resource":"group/a","role":"member","subject":"bob"}"#
        );
    }
}
