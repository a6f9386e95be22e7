//! The `postgres` provider: role membership in a PostgreSQL cluster (docs/postgres-provider.md).
//!
//! A resource is `role/<name>` and its only role is `member`: a grant is
//! `GRANT "<name>" TO "<subject>"`, a revoke is `REVOKE`. This is the only module that knows
//! the PostgreSQL client library. Role names reach SQL only after two independent defences:
//! they must be plain identifiers (letters, digits, `_` and `$`), and they are then quoted as
//! identifiers anyway, so that neither check alone stands between a request file and the
//! database. The connection URL comes from the environment variable that `url_env` names and
//! holds a password: it never appears in an error, in `Debug`, or anywhere else tenure prints,
//! and errors from the client are scrubbed of it before they leave this module. Each change
//! runs in its own transaction and checks its own result before committing, so a change
//! reported as done is done, and a run that loses the server part-way leaves every change
//! either made or not made.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};

use super::{Provider, ProviderError, Wanted, ensure_own};
use crate::model::{ResourceId, Tuple, is_valid_postgres_role};

/// The only role a `role/<name>` resource has.
const MEMBER: &str = "member";
/// Without it, an unreachable host would hold a scheduled run until the OS gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A change or a read that waits longer than this on a lock is reported as failed rather than
/// left hanging; the next run tries again.
const STATEMENT_TIMEOUT: &str = "60s";
/// Passwords this short are too likely to occur by chance in an error to be worth scrubbing.
const MIN_SECRET_LEN: usize = 4;

/// The memberships of the managed roles, in one query: `(role, member)`.
const READ_MEMBERS: &str = "SELECT DISTINCT r.rolname::text, m.rolname::text \
     FROM pg_catalog.pg_auth_members am \
     JOIN pg_catalog.pg_roles r ON r.oid = am.roleid \
     JOIN pg_catalog.pg_roles m ON m.oid = am.member \
     WHERE r.rolname::text = ANY($1::text[])";

/// Whether `$2` is a member of `$1`, checked before a change commits.
const IS_MEMBER: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members am \
     JOIN pg_catalog.pg_roles r ON r.oid = am.roleid \
     JOIN pg_catalog.pg_roles m ON m.oid = am.member \
     WHERE r.rolname::text = $1::text AND m.rolname::text = $2::text)";

/// Role membership in one PostgreSQL cluster.
pub struct PostgresProvider {
    name: String,
    url_env: String,
    config: Config,
    tls: bool,
    /// Texts that must never leave this module: the password, decoded and as written.
    secrets: Vec<String>,
    client: Option<Client>,
}

impl fmt::Debug for PostgresProvider {
    // By hand: the config and the secrets hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProvider")
            .field("name", &self.name)
            .field("url_env", &self.url_env)
            .field("tls", &self.tls)
            .field("connected", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresProvider {
    /// The provider `name`, connecting with the URL in the environment variable `url_env`.
    /// Nothing is connected until the first read or change.
    pub fn open(name: &str, url_env: &str) -> Result<PostgresProvider, ProviderError> {
        let config = |detail: String| ProviderError::Config { name: name.to_owned(), detail };
        if !is_valid_env_name(url_env) {
            return Err(config(format!(
                "`url_env: {url_env}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            )));
        }
        match std::env::var(url_env) {
            Ok(url) if !url.trim().is_empty() => PostgresProvider::with_url(name, url_env, &url),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(config(format!(
                "the environment variable {url_env} that `url_env` names is not set; set it to the \
                 connection URL, such as postgresql://tenure@db.example.com/postgres?sslmode=require"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(config(format!("the environment variable {url_env} is not valid UTF-8")))
            }
        }
    }

    /// As [`PostgresProvider::open`], with the URL given directly; `url_env` only names it in
    /// messages.
    pub fn with_url(name: &str, url_env: &str, url: &str) -> Result<PostgresProvider, ProviderError> {
        let mut secrets = Vec::new();
        if let Some(raw) = raw_password(url) {
            secrets.push(raw.to_owned());
        }
        let mut config = Config::from_str(url).map_err(|error| {
            // The parser's messages name options, never values, but the URL is scrubbed anyway.
            let detail = scrub(&describe(&error), &secrets);
            ProviderError::Config {
                name: name.to_owned(),
                detail: format!(
                    "the URL in {url_env} cannot be used: {detail}; sslmode may be disable, prefer or require"
                ),
            }
        })?;
        if let Some(password) = config.get_password() {
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
        secrets.retain(|secret| secret.len() >= MIN_SECRET_LEN);
        // Longest first, so that a secret containing another is scrubbed whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        if config.get_application_name().is_none() {
            config.application_name("tenure");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = config.get_ssl_mode() == SslMode::Require;
        Ok(PostgresProvider {
            name: name.to_owned(),
            url_env: url_env.to_owned(),
            config,
            tls,
            secrets,
            client: None,
        })
    }

    /// The open connection, made on first use and made again when the last one broke, so
    /// that a server that restarts between two changes costs only the change it interrupted.
    fn client(&mut self, action: &str) -> Result<&mut Client, ProviderError> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                let connected = if self.tls {
                    let connector = tls_connector()
                        .map_err(|detail| self.error(action, format!("cannot connect: {detail}")))?;
                    self.config.connect(connector)
                } else {
                    self.config.connect(NoTls)
                };
                connected.map_err(|error| self.connect_error(action, &error))?
            }
        };
        Ok(self.client.insert(client))
    }

    fn change(&mut self, grant: bool, tuple: &Tuple) -> Result<(), ProviderError> {
        ensure_own(&self.name, &tuple.resource)?;
        let verb = if grant { "grant" } else { "revoke" };
        let role = self.role_name(&tuple.resource)?.to_owned();
        // A subject read from the database may hold anything, terminal escapes included.
        let preposition = if grant { "to" } else { "from" };
        let action = format!("{verb} {role} {preposition} {}", tuple.subject.escape_debug());
        if tuple.role != MEMBER {
            return Err(self.error(
                &action,
                format!(
                    "role `{}` is not supported; a PostgreSQL role resource has only `member`",
                    tuple.role
                ),
            ));
        }
        if !is_valid_postgres_role(&tuple.subject) {
            return Err(self.error(
                &action,
                "the subject is not a role name tenure manages (letters, digits, `_` and `$`, \
                 not starting with a digit, at most 63 bytes); nothing was sent to the database"
                    .to_owned(),
            ));
        }
        let statement = if grant {
            format!("GRANT {} TO {}", quote_ident(&role), quote_ident(&tuple.subject))
        } else {
            format!("REVOKE {} FROM {}", quote_ident(&role), quote_ident(&tuple.subject))
        };
        let outcome = {
            let client = self.client(&action)?;
            apply_change(client, &statement, &role, &tuple.subject, grant)
        };
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(detail)) => Err(self.error(&action, detail)),
            Err(error) => Err(self.db_error(&action, &error)),
        }
    }

    /// The role name of a `role/<name>` resource, checked to be one tenure may put in SQL.
    fn role_name<'a>(&self, resource: &'a ResourceId) -> Result<&'a str, ProviderError> {
        match resource.local().split_once('/') {
            Some(("role", name)) if is_valid_postgres_role(name) => Ok(name),
            _ => Err(ProviderError::Config {
                name: self.name.clone(),
                detail: format!(
                    "{resource} is not a PostgreSQL resource tenure manages: use `{}:role/<name>`, where \
                     the name is letters, digits, `_` and `$`, not starting with a digit, at most 63 bytes",
                    self.name
                ),
            }),
        }
    }

    fn error(&self, action: &str, detail: String) -> ProviderError {
        ProviderError::Database {
            name: self.name.clone(),
            action: action.to_owned(),
            detail: scrub(&detail, &self.secrets),
        }
    }

    fn connect_error(&self, action: &str, error: &postgres::Error) -> ProviderError {
        self.error(action, format!("cannot connect: {}", self.detail(error)))
    }

    fn db_error(&self, action: &str, error: &postgres::Error) -> ProviderError {
        self.error(action, self.detail(error))
    }

    fn detail(&self, error: &postgres::Error) -> String {
        let mut detail = describe(error);
        if self.tls && detail.contains("TLS") {
            detail.push_str(
                " (sslmode=require: the server must offer TLS with a certificate that the platform's \
                 roots or SSL_CERT_FILE trust, for the host in the URL)",
            );
        }
        detail
    }
}

impl Provider for PostgresProvider {
    fn read(&mut self, resources: &[ResourceId]) -> Result<Vec<Tuple>, ProviderError> {
        let name = self.name.clone();
        let wanted = Wanted::new(&name, resources)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut roles = Vec::new();
        for resource in resources {
            roles.push(self.role_name(resource)?.to_owned());
        }
        roles.sort();
        roles.dedup();
        let client = self.client("read role memberships")?;
        let rows = (|| {
            let mut transaction = client.build_transaction().read_only(true).start()?;
            transaction.batch_execute(&format!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))?;
            let rows = transaction.query(READ_MEMBERS, &[&roles])?;
            transaction.commit()?;
            Ok::<_, postgres::Error>(rows)
        })()
        .map_err(|error| self.db_error("read role memberships", &error))?;
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let (role, member): (String, String) = match (row.try_get(0), row.try_get(1)) {
                (Ok(role), Ok(member)) => (role, member),
                (Err(error), _) | (_, Err(error)) => {
                    return Err(self.db_error("read role memberships", &error));
                }
            };
            if let Some(tuple) = wanted.tuple(&format!("role/{role}"), MEMBER, &member) {
                tuples.push(tuple);
            }
        }
        tuples.sort();
        Ok(tuples)
    }

    fn grant(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(true, tuple)
    }

    fn revoke(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change(false, tuple)
    }
}

/// Runs one change in its own transaction and commits it only if the membership is then as
/// wanted. `Ok(Some(why))` is a change the server accepted without effect, rolled back.
fn apply_change(
    client: &mut Client,
    statement: &str,
    role: &str,
    subject: &str,
    grant: bool,
) -> Result<Option<String>, postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.batch_execute(&format!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))?;
    transaction.batch_execute(statement)?;
    let member: bool = transaction.query_one(IS_MEMBER, &[&role, &subject])?.try_get(0)?;
    if member != grant {
        // Dropping the transaction rolls it back.
        return Ok(Some(if grant {
            "the GRANT succeeded but the membership is not there; nothing was committed".to_owned()
        } else {
            "the membership is still there after REVOKE: on PostgreSQL 16 and later a role revokes \
             only the grants it made itself, so revoke it as the role that granted it"
                .to_owned()
        }));
    }
    transaction.commit()?;
    Ok(None)
}

/// A rustls connector with the ring provider that trusts the platform's roots (and
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, which rustls-native-certs honours) and checks the host
/// name: stricter than libpq's `require`, which checks nothing.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(|error| format!(": {error}")).unwrap_or_default();
        return Err(format!(
            "sslmode=require, but no trusted root certificates were found{why}; install the \
             ca-certificates package, or set SSL_CERT_FILE to the CA that signed the server's certificate"
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `"name"`, with any `"` doubled: safe for every identifier without a NUL byte, which the
/// callers' validation has already refused.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The error, its causes, and for a server error its SQLSTATE and message.
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    text
}

/// The password as written in a `postgres://user:password@host/db` URL (still percent-encoded),
/// so that it can be scrubbed in that form too.
fn raw_password(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password)
}

fn is_valid_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgresql://tenure:s3cr%40t-pass@127.0.0.1:1/postgres";

    fn id(text: &str) -> ResourceId {
        ResourceId::parse(text).unwrap()
    }

    fn tuple(resource: &str, role: &str, subject: &str) -> Tuple {
        Tuple { resource: id(resource), role: role.into(), subject: subject.into() }
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("app_reader"), "\"app_reader\"");
        assert_eq!(quote_ident("a\"; DROP ROLE admin; --"), "\"a\"\"; DROP ROLE admin; --\"");
    }

    #[test]
    fn the_password_is_never_in_debug_or_errors() {
        let pg = PostgresProvider::with_url("pg", "TENURE_PG_URL", URL).unwrap();
        let debug = format!("{pg:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        assert_eq!(pg.secrets, ["s3cr%40t-pass", "s3cr@t-pass"]);
        let error = pg.error("connect", "password s3cr@t-pass or s3cr%40t-pass rejected".into());
        let message = error.to_string();
        assert!(!message.contains("s3cr"), "{message}");
        assert!(message.contains("password [redacted] or [redacted] rejected"), "{message}");
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_url() {
        for url in [
            "postgresql://tenure:hunter2-secret@db/postgres?sslmode=verify-full",
            "postgresql://tenure:hunter2-secret@db/postgres?bogus=1",
            "host=db password=hunter2-secret sslmode=maybe",
        ] {
            let error = PostgresProvider::with_url("pg", "TENURE_PG_URL", url).unwrap_err();
            assert!(matches!(error, ProviderError::Config { .. }), "{error:?}");
            let message = error.to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("TENURE_PG_URL"), "{message}");
        }
    }

    #[test]
    fn tls_follows_sslmode() {
        let with = |query: &str| {
            PostgresProvider::with_url("pg", "U", &format!("postgresql://u@db/postgres{query}")).unwrap().tls
        };
        assert!(with("?sslmode=require"));
        assert!(!with(""));
        assert!(!with("?sslmode=disable"));
    }

    #[test]
    fn a_missing_variable_is_a_config_error_naming_it() {
        let error = PostgresProvider::open("pg", "TENURE_TEST_SURELY_UNSET_PG_URL").unwrap_err();
        assert!(matches!(error, ProviderError::Config { .. }), "{error:?}");
        assert!(error.to_string().contains("TENURE_TEST_SURELY_UNSET_PG_URL"), "{error}");
        assert!(matches!(PostgresProvider::open("pg", "BAD=NAME"), Err(ProviderError::Config { .. })));
    }

    #[test]
    fn bad_names_roles_and_resources_are_refused_before_any_connection() {
        // Port 1 on loopback: a connection attempt would fail with a connect error instead.
        let mut pg = PostgresProvider::with_url("pg", "U", URL).unwrap();
        let refused = |result: Result<(), ProviderError>| {
            let error = result.unwrap_err();
            assert!(!error.to_string().contains("connect"), "{error}");
            error
        };
        let error = refused(pg.grant(&tuple("pg:role/app", "member", "alice\"; DROP ROLE admin; --")));
        assert!(error.to_string().contains("nothing was sent"), "{error}");
        refused(pg.grant(&tuple("pg:role/app", "admin", "alice")));
        refused(pg.revoke(&tuple("pg:team/app", "member", "alice")));
        assert!(matches!(
            pg.grant(&tuple("other:role/app", "member", "alice")),
            Err(ProviderError::Foreign { .. })
        ));
        assert!(matches!(pg.read(&[id("pg:group/app")]), Err(ProviderError::Config { .. })));
        assert!(pg.client.is_none());
        assert_eq!(pg.read(&[]).unwrap(), vec![]);
    }

    #[test]
    fn raw_passwords_are_found() {
        assert_eq!(raw_password("postgres://u:p%3Aw@h/db"), Some("p%3Aw"));
        assert_eq!(raw_password("postgresql://u:p@w@h:5432"), Some("p@w"));
        assert_eq!(raw_password("postgresql://u@h/db?password=x"), None);
        assert_eq!(raw_password("host=h password=x"), None);
    }
}
