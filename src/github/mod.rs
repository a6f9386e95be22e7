//! The GitHub REST client: the only module besides the GitHub forge and provider that
//! knows octocrab, and the one place that decides how tenure talks to GitHub.
//!
//! octocrab is async and the rest of tenure is not, so a [`Client`] owns a current-thread
//! Tokio runtime and blocks on it; calls stay serial, which is also what GitHub asks of
//! integrations. Three of octocrab's defaults are wrong for tenure and are replaced here:
//! the retry policy (`Simple(3)` retries rate limits without waiting, so it is
//! `HandleRateLimits`), pagination (octocrab drops the installation token on pages whose
//! absolute `Link` URL is not api.github.com, so [`Client::all_pages`] follows links as
//! relative paths), and path building (octocrab encodes nothing, so every name that goes into
//! a path is validated or percent-encoded first). Credentials live in `SecretString`s and
//! never appear in `Debug`, `Display` or errors.

use std::time::Duration;

use octocrab::Octocrab;
use octocrab::secrecy::SecretString;
use octocrab::service::middleware::retry::{NoOpRateLimitMetrics, RetryConfig};
use serde::de::DeserializeOwned;

/// The API that tenure talks to when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// GitHub caps `per_page` at 100; fewer pages means fewer requests.
const PER_PAGE: &str = "100";

/// A bound on any one paginated list, so that a misbehaving server cannot keep tenure
/// looping: 1,000 pages of 100 is far beyond any team or review list.
const MAX_PAGES: usize = 1000;

/// What can go wrong talking to GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The environment does not say how to authenticate, or says it badly.
    #[error("GitHub credentials: {0}")]
    Credentials(String),
    /// `GITHUB_API_URL` is not a usable URL.
    #[error("GITHUB_API_URL `{url}` is not an http(s) URL: {detail}")]
    ApiUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        detail: String,
    },
    /// A login, team slug or repository name that must not go into a URL path.
    #[error("`{value}` is not a valid GitHub {what}")]
    InvalidName {
        /// What the name stands for.
        what: &'static str,
        /// The name.
        value: String,
    },
    /// GitHub answered with an error status.
    #[error("GitHub answered {status} to GET {route}: {message}")]
    Status {
        /// The route, without the host.
        route: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// GitHub answered a write (PUT or DELETE) with an error status.
    #[error("GitHub answered {status} to {method} {route}: {message}")]
    WriteStatus {
        /// `PUT` or `DELETE`.
        method: &'static str,
        /// The route, without the host.
        route: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The request did not get an answer, or the answer could not be read.
    #[error("GitHub request {route} failed: {detail}")]
    Request {
        /// The route, without the host.
        route: String,
        /// What went wrong.
        detail: String,
    },
    /// A `Link: rel="next"` that points away from the API host.
    #[error("GitHub pagination of {route} pointed to another host ({next}); refused")]
    CrossHostLink {
        /// The route being paged.
        route: String,
        /// The host of the refused link.
        next: String,
    },
    /// A list with more pages than any real one has.
    #[error("GitHub list {route} has more than {MAX_PAGES} pages; refused")]
    TooManyPages {
        /// The route being paged.
        route: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the GitHub client's runtime: {0}")]
    Runtime(String),
}

impl GithubError {
    /// The HTTP status, when GitHub answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Status { status, .. } | GithubError::WriteStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How to authenticate.
pub enum Auth {
    /// A personal or Actions token (`GITHUB_TOKEN`).
    Token(SecretString),
    /// A GitHub App, acting through its installation on the organization.
    App {
        /// `TENURE_APP_ID`.
        app_id: u64,
        /// The PEM private key.
        private_key: SecretString,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(<redacted>)"),
            Auth::App { app_id, .. } => {
                write!(f, "Auth::App {{ app_id: {app_id}, private_key: <redacted> }}")
            }
        }
    }
}

/// Where GitHub is and how to log in.
#[derive(Debug)]
pub struct Settings {
    /// The API base URL, such as `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// The credentials.
    pub auth: Auth,
}

impl Settings {
    /// Reads `GITHUB_API_URL`, then `GITHUB_TOKEN`, or `TENURE_APP_ID` with
    /// `TENURE_APP_PRIVATE_KEY` or `TENURE_APP_PRIVATE_KEY_PATH`.
    pub fn from_env() -> Result<Settings, GithubError> {
        Settings::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
    }

    /// [`Settings::from_env`] over any variable lookup.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, GithubError> {
        let api_url = var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        if let Some(token) = var("GITHUB_TOKEN") {
            return Ok(Settings { api_url, auth: Auth::Token(SecretString::from(token.trim().to_owned())) });
        }
        let Some(app_id) = var("TENURE_APP_ID") else {
            return Err(GithubError::Credentials(
                "set GITHUB_TOKEN, or TENURE_APP_ID with TENURE_APP_PRIVATE_KEY or TENURE_APP_PRIVATE_KEY_PATH"
                    .into(),
            ));
        };
        let app_id = app_id
            .trim()
            .parse::<u64>()
            .map_err(|_| GithubError::Credentials("TENURE_APP_ID is not a number".into()))?;
        let private_key = match (var("TENURE_APP_PRIVATE_KEY"), var("TENURE_APP_PRIVATE_KEY_PATH")) {
            (Some(key), _) => key,
            (None, Some(path)) => std::fs::read_to_string(&path).map_err(|error| {
                GithubError::Credentials(format!("cannot read TENURE_APP_PRIVATE_KEY_PATH {path}: {error}"))
            })?,
            (None, None) => {
                return Err(GithubError::Credentials(
                    "TENURE_APP_ID needs TENURE_APP_PRIVATE_KEY or TENURE_APP_PRIVATE_KEY_PATH".into(),
                ));
            }
        };
        Ok(Settings { api_url, auth: Auth::App { app_id, private_key: SecretString::from(private_key) } })
    }
}

/// A blocking GitHub REST client.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    crab: Octocrab,
    api_url: String,
    /// `host[:port]` of the API, to refuse pagination links elsewhere.
    authority: String,
    /// The path prefix of the API (`/api/v3` on GHES), stripped from pagination links
    /// because octocrab prepends it again.
    base_path: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to GitHub. With App credentials, `org` names the organization (or user)
    /// whose installation the client acts through.
    pub fn connect(settings: Settings, org: &str) -> Result<Client, GithubError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| GithubError::Runtime(error.to_string()))?;
        let (authority, base_path) = split_url(&settings.api_url)?;
        let api_url = settings.api_url.clone();
        let crab = runtime.block_on(async {
            let builder = Octocrab::builder()
                .base_uri(settings.api_url.as_str())
                .map_err(|error| GithubError::ApiUrl { url: api_url.clone(), detail: first_line(&error) })?
                .add_retry_config(RetryConfig::HandleRateLimits {
                    metrics: std::sync::Arc::new(NoOpRateLimitMetrics),
                    max_retries: 3,
                    // GitHub: "wait for at least one minute" when it gives no reset time.
                    min_wait_seconds: 60,
                    // A bare 403 is usually a real refusal, not a limit.
                    retry_on_forbidden: false,
                })
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(60)));
            match settings.auth {
                Auth::Token(token) => builder
                    .personal_token(token)
                    .build()
                    .map_err(|error| GithubError::Credentials(first_line(&error))),
                Auth::App { app_id, private_key } => {
                    use octocrab::secrecy::ExposeSecret as _;
                    if !crate::model::is_valid_login(org) {
                        return Err(GithubError::InvalidName { what: "organization", value: org.to_owned() });
                    }
                    let app = builder
                        .app_from_rsa_pem(
                            octocrab::models::AppId(app_id),
                            private_key.expose_secret().as_bytes(),
                        )
                        .map_err(|_| {
                            GithubError::Credentials(
                                "the GitHub App private key is not an RSA PEM key".into(),
                            )
                        })?
                        .build()
                        .map_err(|error| GithubError::Credentials(first_line(&error)))?;
                    let route = format!("/orgs/{org}/installation");
                    let installation: Installation =
                        app.get(&route, None::<&()>).await.map_err(|error| map_error(&route, error))?;
                    app.installation(octocrab::models::InstallationId(installation.id))
                        .map_err(|error| GithubError::Credentials(first_line(&error)))
                }
            }
        })?;
        Ok(Client { runtime, crab, api_url, authority, base_path })
    }

    /// The API base URL.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// `GET route?query`, decoded into `T`.
    pub fn get<T: DeserializeOwned>(&self, route: &str, query: &[(&str, &str)]) -> Result<T, GithubError> {
        self.runtime.block_on(async {
            let query = (!query.is_empty()).then_some(query);
            self.crab.get::<T, _, _>(route, query).await.map_err(|error| map_error(route, error))
        })
    }

    /// Like [`Client::get`], with 404 as `None`.
    pub fn get_optional<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, GithubError> {
        match self.get(route, query) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `POST route` with a JSON body, decoded into `T`.
    pub fn post<T: DeserializeOwned>(&self, route: &str, body: &serde_json::Value) -> Result<T, GithubError> {
        self.runtime.block_on(async {
            self.crab.post::<_, T>(route, Some(body)).await.map_err(|error| map_error(route, error))
        })
    }

    /// `PATCH route` with a JSON body, decoded into `T`.
    pub fn patch<T: DeserializeOwned>(
        &self,
        route: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        self.runtime.block_on(async {
            self.crab.patch::<T, _, _>(route, Some(body)).await.map_err(|error| map_error(route, error))
        })
    }

    /// Every item of a paginated list, 100 to a page, following `Link: rel="next"` as a
    /// relative path on this API so that the credentials go with every page.
    pub fn all_pages<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, GithubError> {
        let mut first: Vec<(&str, &str)> =
            query.iter().filter(|(key, _)| *key != "per_page").copied().collect();
        first.push(("per_page", PER_PAGE));
        self.runtime.block_on(async {
            let mut page: octocrab::Page<T> =
                self.crab.get(route, Some(&first)).await.map_err(|error| map_error(route, error))?;
            let mut items = page.take_items();
            for _ in 0..MAX_PAGES {
                let Some(next) = page.next.take() else { return Ok(items) };
                if let Some(authority) = next.authority()
                    && !authority.as_str().eq_ignore_ascii_case(&self.authority)
                {
                    return Err(GithubError::CrossHostLink {
                        route: route.to_owned(),
                        next: authority.to_string(),
                    });
                }
                let path_and_query = next.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
                let relative = path_and_query.strip_prefix(self.base_path.as_str()).unwrap_or(path_and_query);
                page = self.crab.get(relative, None::<&()>).await.map_err(|error| map_error(route, error))?;
                items.append(&mut page.take_items());
            }
            Err(GithubError::TooManyPages { route: route.to_owned() })
        })
    }
}

/// One page of a list as GitHub last served it: its `ETag`, its items, and the relative path
/// of the next page, kept so that a `304 Not Modified` can stand in for the page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredPage {
    /// The `ETag` header, sent back as `If-None-Match`.
    pub etag: String,
    /// The page's items, as GitHub sent them.
    pub items: Vec<serde_json::Value>,
    /// The next page, as a path relative to the API; `None` on the last page.
    pub next: Option<String>,
}

/// The pages of earlier runs, by request path, and the pages this run has read.
#[derive(Debug, Default)]
pub struct PageCache {
    /// What earlier runs saw; only ever a source of `If-None-Match` and of bodies on a 304.
    pub previous: std::collections::BTreeMap<String, StoredPage>,
    /// Every page read by this run, to be stored for the next.
    pub current: std::collections::BTreeMap<String, StoredPage>,
    /// Pages answered `304 Not Modified`.
    pub not_modified: usize,
    /// Pages answered with a body.
    pub fresh: usize,
}

/// Whether `path` may be used as a request path relative to the API: it must not name
/// another host (`//host`), and must not smuggle whitespace or control characters into the
/// request line.
pub fn is_relative_request_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && path.bytes().all(|b| b.is_ascii_graphic())
}

impl Client {
    /// Like [`Client::all_pages`], but each page is its own conditional request: a page seen
    /// before is asked for with `If-None-Match`, and on `304 Not Modified` its stored body
    /// stands in. A page that changed answers 200 and its fresh body is used, whatever the
    /// other pages answered, so the list is always as consistent as GitHub's own pages.
    pub fn get_pages<T: DeserializeOwned>(
        &self,
        route: &str,
        query: &[(&str, &str)],
        pages: &mut PageCache,
    ) -> Result<Vec<T>, GithubError> {
        let mut path = route.to_owned();
        for (index, (key, value)) in query
            .iter()
            .filter(|(key, _)| *key != "per_page")
            .chain(std::iter::once(&("per_page", PER_PAGE)))
            .enumerate()
        {
            path.push(if index == 0 { '?' } else { '&' });
            path.push_str(&encode_component(key));
            path.push('=');
            path.push_str(&encode_component(value));
        }
        let decode_failed = |detail: String| GithubError::Request { route: strip_query(route), detail };
        self.runtime.block_on(async {
            let mut items = Vec::new();
            for _ in 0..MAX_PAGES {
                let stored = pages.previous.get(&path);
                let mut headers = http::HeaderMap::new();
                if let Some(value) = stored.and_then(|page| http::HeaderValue::from_str(&page.etag).ok()) {
                    headers.insert(http::header::IF_NONE_MATCH, value);
                }
                let response = self
                    .crab
                    ._get_with_headers(path.as_str(), Some(headers))
                    .await
                    .map_err(|error| map_error(route, error))?;
                let status = response.status().as_u16();
                let page = match stored {
                    Some(stored) if status == 304 => {
                        pages.not_modified += 1;
                        stored.clone()
                    }
                    _ => {
                        let etag = response
                            .headers()
                            .get(http::header::ETAG)
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let next = self.next_link(route, response.headers())?;
                        let text = self.crab.body_to_string(response).await.map_err(|error| {
                            GithubError::Request { route: strip_query(route), detail: first_line(&error) }
                        })?;
                        if !(200..300).contains(&status) {
                            let message = serde_json::from_str::<serde_json::Value>(&text)
                                .ok()
                                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                                .unwrap_or_default()
                                .chars()
                                .take(300)
                                .collect();
                            return Err(GithubError::Status { route: strip_query(route), status, message });
                        }
                        let list =
                            serde_json::from_str::<Vec<serde_json::Value>>(&text).map_err(|error| {
                                decode_failed(format!("the answer is not a JSON list: {error}"))
                            })?;
                        pages.fresh += 1;
                        StoredPage { etag, items: list, next }
                    }
                };
                for item in &page.items {
                    items.push(
                        T::deserialize(item)
                            .map_err(|error| decode_failed(format!("an item of the list: {error}")))?,
                    );
                }
                let next = page.next.clone();
                // No ETag, nothing to ask with next time.
                if !page.etag.is_empty() {
                    pages.current.insert(path.clone(), page);
                }
                match next {
                    Some(next) => path = next,
                    None => return Ok(items),
                }
            }
            Err(GithubError::TooManyPages { route: route.to_owned() })
        })
    }

    /// The `rel="next"` link of a page as a path relative to the API, refusing other hosts.
    fn next_link(&self, route: &str, headers: &http::HeaderMap) -> Result<Option<String>, GithubError> {
        let Some(link) = headers.get(http::header::LINK).and_then(|value| value.to_str().ok()) else {
            return Ok(None);
        };
        let Some(target) = link.split(',').find_map(|part| {
            let mut fields = part.split(';');
            let target = fields.next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
            fields.any(|field| field.trim().eq_ignore_ascii_case("rel=\"next\"")).then_some(target)
        }) else {
            return Ok(None);
        };
        let refused = |next: String| GithubError::CrossHostLink { route: strip_query(route), next };
        let uri: http::Uri = target.parse().map_err(|_| refused(target.chars().take(100).collect()))?;
        if let Some(authority) = uri.authority()
            && !authority.as_str().eq_ignore_ascii_case(&self.authority)
        {
            return Err(refused(authority.to_string()));
        }
        let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        let relative = path_and_query.strip_prefix(self.base_path.as_str()).unwrap_or(path_and_query);
        if !is_relative_request_path(relative) {
            return Err(refused(relative.chars().take(100).collect()));
        }
        Ok(Some(relative.to_owned()))
    }
}

/// Percent-encodes a query key or value.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Client {
    /// `PUT route` with a JSON body; the status and the decoded answer, if it had one.
    /// Success statuses are returned, error statuses become [`GithubError::WriteStatus`].
    pub fn put(
        &self,
        route: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, Option<serde_json::Value>), GithubError> {
        self.write("PUT", route, Some(body))
    }

    /// `DELETE route`; the status (a 2xx), or [`GithubError::WriteStatus`].
    pub fn delete(&self, route: &str) -> Result<u16, GithubError> {
        self.write("DELETE", route, None).map(|(status, _)| status)
    }

    fn write(
        &self,
        method: &'static str,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Option<serde_json::Value>), GithubError> {
        let failed = |error: octocrab::Error| GithubError::Request {
            route: format!("{method} {}", strip_query(route)),
            detail: first_line(&error),
        };
        self.runtime.block_on(async {
            let response = match method {
                "PUT" => self.crab._put(route, body).await,
                _ => self.crab._delete(route, body).await,
            }
            .map_err(failed)?;
            let status = response.status().as_u16();
            let text = self.crab.body_to_string(response).await.map_err(failed)?;
            let value = serde_json::from_str::<serde_json::Value>(&text).ok();
            if (200..300).contains(&status) {
                return Ok((status, value));
            }
            let message = value
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            Err(GithubError::WriteStatus { method, route: strip_query(route), status, message })
        })
    }
}

/// The part of `GET /orgs/{org}/installation` that tenure reads.
#[derive(serde::Deserialize)]
struct Installation {
    id: u64,
}

/// `host[:port]` and the path prefix of an API URL.
fn split_url(url: &str) -> Result<(String, String), GithubError> {
    let refuse = |detail: &str| GithubError::ApiUrl { url: url.to_owned(), detail: detail.to_owned() };
    let (rest, plain) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (rest, false),
        (None, Some(rest)) => (rest, true),
        (None, None) => return Err(refuse("it must start with https://")),
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.is_empty() || authority.contains('@') {
        return Err(refuse("it needs a host, and no user or password in it"));
    }
    // The token goes with every request: never in clear text beyond this machine.
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    if plain && !matches!(host.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "[::1]") {
        return Err(refuse("plain http:// is only for a test server on this machine; use https://"));
    }
    let path = path.trim_end_matches('/');
    let base_path = if path.is_empty() { String::new() } else { format!("/{path}") };
    Ok((authority.to_ascii_lowercase(), base_path))
}

fn first_line(error: &impl std::fmt::Display) -> String {
    error.to_string().lines().next().unwrap_or("").to_owned()
}

/// octocrab's `Display` of an API error is only "GitHub"; keep the status and message.
fn map_error(route: &str, error: octocrab::Error) -> GithubError {
    match error {
        octocrab::Error::GitHub { source, .. } => GithubError::Status {
            route: strip_query(route),
            status: source.status_code.as_u16(),
            message: source.message.chars().take(300).collect(),
        },
        other => GithubError::Request { route: strip_query(route), detail: first_line(&other) },
    }
}

fn strip_query(route: &str) -> String {
    route.split('?').next().unwrap_or(route).to_owned()
}

/// Checks a login or organization name before it goes into a URL path.
pub fn login_segment<'a>(what: &'static str, value: &'a str) -> Result<&'a str, GithubError> {
    if crate::model::is_valid_login(value) {
        Ok(value)
    } else {
        Err(GithubError::InvalidName { what, value: value.to_owned() })
    }
}

/// Checks a team slug before it goes into a URL path: GitHub slugs are lower-case letters,
/// digits, `-` and `_`.
pub fn slug_segment(value: &str) -> Result<&str, GithubError> {
    let valid = !value.is_empty()
        && value.len() <= 100
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(value)
    } else {
        Err(GithubError::InvalidName { what: "team slug", value: value.to_owned() })
    }
}

/// Checks `owner/name` before it goes into a URL path.
pub fn repository_segments(value: &str) -> Result<(&str, &str), GithubError> {
    let invalid = || GithubError::InvalidName { what: "repository", value: value.to_owned() };
    let (owner, name) = value.split_once('/').ok_or_else(invalid)?;
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if crate::model::is_valid_login(owner) && name_ok { Ok((owner, name)) } else { Err(invalid()) }
}

/// Checks a commit sha (40 or 64 hex digits) before it goes into a URL path or a query.
pub fn sha_segment(value: &str) -> Result<&str, GithubError> {
    let valid = (value.len() == 40 || value.len() == 64) && value.bytes().all(|b| b.is_ascii_hexdigit());
    if valid {
        Ok(value)
    } else {
        Err(GithubError::InvalidName { what: "commit sha", value: value.to_owned() })
    }
}

/// A repository file path as URL path segments: each segment percent-encoded, `/` kept.
/// Empty, `.` and `..` segments are refused.
pub fn file_path_segments(path: &str) -> Result<String, GithubError> {
    let invalid = || GithubError::InvalidName { what: "file path", value: path.to_owned() };
    let mut out = String::with_capacity(path.len());
    for (index, segment) in path.split('/').enumerate() {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(invalid());
        }
        if index > 0 {
            out.push('/');
        }
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_change_the_path_are_refused() {
        assert!(login_segment("user", "octo-cat").is_ok());
        for bad in ["../x", "a/b", "a?b", "", "-a", "a--b", "a%2f"] {
            assert!(login_segment("user", bad).is_err(), "{bad}");
        }
        assert!(slug_segment("payments-leads").is_ok());
        assert!(slug_segment("a/../b").is_err());
        assert!(repository_segments("acme/access.repo").is_ok());
        assert!(repository_segments("acme/..").is_err());
        assert!(repository_segments("acme/a/b").is_err());
        assert!(sha_segment(&"a".repeat(40)).is_ok());
        assert!(sha_segment("HEAD").is_err());
    }

    #[test]
    fn file_paths_are_encoded_per_segment() {
        assert_eq!(file_path_segments("requests/a b#?.yaml").unwrap(), "requests/a%20b%23%3F.yaml");
        assert!(file_path_segments("requests/../tenure.yaml").is_err());
        assert!(file_path_segments("/abs").is_err());
    }

    #[test]
    fn api_urls_split_into_authority_and_prefix() {
        assert_eq!(split_url("https://api.github.com").unwrap(), ("api.github.com".into(), String::new()));
        assert_eq!(
            split_url("https://GHE.example.com/api/v3/").unwrap(),
            ("ghe.example.com".into(), "/api/v3".into())
        );
        assert!(split_url("ftp://x").is_err());
        assert!(split_url("http://127.0.0.1:8080").is_ok());
        assert!(split_url("http://api.github.com").is_err(), "no token in clear text");
        assert!(split_url("http://127.0.0.1.evil.example").is_err());
        assert!(split_url("https://user:pw@host").is_err());
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let settings =
            Settings::from_lookup(|name| (name == "GITHUB_TOKEN").then(|| "ghp_secret123".to_owned()))
                .expect("settings");
        assert!(!format!("{settings:?}").contains("ghp_secret123"));
        let app = Settings::from_lookup(|name| match name {
            "TENURE_APP_ID" => Some("7".into()),
            "TENURE_APP_PRIVATE_KEY" => Some("-----BEGIN RSA PRIVATE KEY-----secret".into()),
            _ => None,
        })
        .expect("settings");
        assert!(!format!("{app:?}").contains("secret"));
        assert!(Settings::from_lookup(|_| None).is_err());
    }
}
