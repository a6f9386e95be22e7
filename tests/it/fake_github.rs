//! A stateful fake of GitHub's REST API on 127.0.0.1, for the github forge's tests.
//!
//! It holds pull requests, reviews, the commit → pull request links, file blobs at refs, team
//! members (with `role` and `inherited`) and issue comments, and answers as GitHub does:
//! bodies built from the examples of GitHub's published OpenAPI description
//! (`tests/fixtures/github/openapi-subset.json`), `Link` pagination with absolute URLs, ETags
//! with `304 Not Modified`, `401` without the token, and `404` for anything else. It counts
//! every request it serves by route, so that tests can assert how many calls a run made.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{Value, json};

/// The token that the fake accepts; tests pass it as `GITHUB_TOKEN`.
pub const TOKEN: &str = "ghp_fakeTokenForTenureTests0123456789";
/// The installation token that the fake mints for GitHub App auth.
pub const INSTALLATION_TOKEN: &str = "ghs_fakeInstallationToken0123456789";

/// GitHub's published schemas and examples for the routes the fake serves.
pub const OPENAPI: &str = include_str!("../fixtures/github/openapi-subset.json");

/// Route names, as counted.
pub const COMMIT_PULLS: &str = "GET /repos/{owner}/{repo}/commits/{sha}/pulls";
pub const PULL: &str = "GET /repos/{owner}/{repo}/pulls/{number}";
pub const REVIEWS: &str = "GET /repos/{owner}/{repo}/pulls/{number}/reviews";
pub const CONTENTS: &str = "GET /repos/{owner}/{repo}/contents/{path}";
pub const TEAM_MEMBERS: &str = "GET /orgs/{org}/teams/{slug}/members";
pub const ISSUE_COMMENTS: &str = "GET /repos/{owner}/{repo}/issues/{number}/comments";
pub const CREATE_COMMENT: &str = "POST /repos/{owner}/{repo}/issues/{number}/comments";
pub const UPDATE_COMMENT: &str = "PATCH /repos/{owner}/{repo}/issues/comments/{id}";
pub const ORG_INSTALLATION: &str = "GET /orgs/{org}/installation";
pub const ACCESS_TOKENS: &str = "POST /app/installations/{id}/access_tokens";

/// A pull request.
#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub author: String,
    pub head_sha: String,
    pub base: String,
    /// RFC 3339, or `None` when not merged.
    pub merged_at: Option<String>,
    pub merge_commit_sha: Option<String>,
    /// How many commits the pull request has.
    pub commits: u64,
}

#[derive(Debug, Clone)]
struct Review {
    id: u64,
    login: String,
    state: String,
    commit_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Member {
    login: String,
    role: String,
    inherited: bool,
}

#[derive(Debug, Clone)]
struct Comment {
    id: u64,
    login: String,
    body: String,
}

#[derive(Debug, Clone)]
struct User {
    id: u64,
    login: String,
    kind: String,
}

/// The fake's state.
#[derive(Debug, Default)]
pub struct World {
    base_url: String,
    repository: String,
    users: BTreeMap<String, User>,
    pulls: BTreeMap<u64, Pull>,
    commit_pulls: BTreeMap<String, Vec<u64>>,
    reviews: BTreeMap<u64, Vec<Review>>,
    contents: BTreeMap<(String, String), String>,
    teams: BTreeMap<(String, String), Vec<Member>>,
    comments: BTreeMap<u64, Vec<Comment>>,
    next_id: u64,
    counts: BTreeMap<String, usize>,
    unauthenticated: usize,
    /// GET answers that were `304 Not Modified`.
    not_modified: usize,
    page_size: Option<usize>,
    log: Vec<String>,
    /// Repository collaborators, org members, invitations and faults: see "Access routes".
    access: Access,
    /// Issues, refs, written files and opened pull requests: see "Lifecycle routes".
    lifecycle: Lifecycle,
}

/// A running fake; stops when dropped.
pub struct FakeGithub {
    url: String,
    world: Arc<Mutex<World>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeGithub {
    /// Starts a fake for `owner/name` on a free loopback port.
    pub fn start(repository: &str) -> FakeGithub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the fake GitHub"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let url = format!("http://127.0.0.1:{port}");
        let world = Arc::new(Mutex::new(World {
            base_url: url.clone(),
            repository: repository.to_owned(),
            next_id: 1000,
            ..World::default()
        }));
        let thread = {
            let server = Arc::clone(&server);
            let world = Arc::clone(&world);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    serve(&world, request);
                }
            })
        };
        FakeGithub { url, world, server, thread: Some(thread) }
    }

    /// The base URL, for `GITHUB_API_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The environment that points tenure at the fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("GITHUB_API_URL", self.url.clone()), ("GITHUB_TOKEN", TOKEN.to_owned())]
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers an account of a kind (`User`, `Bot`, `Organization`). Accounts named
    /// elsewhere are registered as users on first use; the login is matched without case,
    /// as GitHub does, so `Carol` and `carol` are one account unless both are registered here.
    pub fn account(&self, login: &str, kind: &str) {
        let mut world = self.world();
        let id = world.fresh_id();
        world.users.insert(login.to_owned(), User { id, login: login.to_owned(), kind: kind.to_owned() });
    }

    /// Adds a pull request, linked to `commits` (GitHub's commit → pull request index).
    pub fn add_pull(&self, pull: Pull, commits: &[&str]) {
        let mut world = self.world();
        world.user(&pull.author);
        for commit in commits {
            world.commit_pulls.entry(commit.to_string()).or_default().push(pull.number);
        }
        world.pulls.insert(pull.number, pull);
    }

    /// Adds a review by `login` of `commit_id`, after the earlier ones.
    pub fn review(&self, number: u64, login: &str, state: &str, commit_id: &str) {
        let mut world = self.world();
        world.user(login);
        let id = world.fresh_id();
        world.reviews.entry(number).or_default().push(Review {
            id,
            login: login.to_owned(),
            state: state.to_owned(),
            commit_id: Some(commit_id.to_owned()),
        });
    }

    /// Sets the blob of `path` at `git_ref`, for the contents API.
    pub fn set_content(&self, git_ref: &str, path: &str, blob: &str) {
        self.world().contents.insert((git_ref.to_owned(), path.to_owned()), blob.to_owned());
    }

    /// Sets a team's members: `(login, role, inherited)`.
    pub fn team(&self, org: &str, slug: &str, members: &[(&str, &str, bool)]) {
        let mut world = self.world();
        let members = members
            .iter()
            .map(|(login, role, inherited)| {
                world.user(login);
                Member { login: login.to_string(), role: role.to_string(), inherited: *inherited }
            })
            .collect();
        world.teams.insert((org.to_owned(), slug.to_owned()), members);
    }

    /// Adds an issue comment.
    pub fn comment(&self, number: u64, login: &str, body: &str) -> u64 {
        let mut world = self.world();
        world.user(login);
        let id = world.fresh_id();
        world.comments.entry(number).or_default().push(Comment {
            id,
            login: login.into(),
            body: body.into(),
        });
        id
    }

    /// The comments on an issue or pull request, as `(id, login, body)`.
    pub fn comments(&self, number: u64) -> Vec<(u64, String, String)> {
        self.world()
            .comments
            .get(&number)
            .map(|list| list.iter().map(|c| (c.id, c.login.clone(), c.body.clone())).collect())
            .unwrap_or_default()
    }

    /// Serves at most `size` items per page, whatever `per_page` asks, to force pagination.
    pub fn set_page_size(&self, size: usize) {
        self.world().page_size = Some(size);
    }

    /// How many requests a route served.
    pub fn count(&self, route: &str) -> usize {
        self.world().counts.get(route).copied().unwrap_or(0)
    }

    /// Every route's count.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.world().counts.clone()
    }

    /// Requests refused for want of the token.
    pub fn unauthenticated(&self) -> usize {
        self.world().unauthenticated
    }

    /// How many GETs were answered `304 Not Modified` (GitHub does not count these against
    /// the primary rate limit).
    pub fn not_modified(&self) -> usize {
        self.world().not_modified
    }

    /// Forgets the counts.
    pub fn reset_counts(&self) {
        let mut world = self.world();
        world.counts.clear();
        world.unauthenticated = 0;
        world.not_modified = 0;
        world.log.clear();
    }

    /// Every request line served, for failure messages.
    pub fn log(&self) -> Vec<String> {
        self.world().log.clone()
    }
}

impl World {
    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The account of a login, matched without case; registered as a user if new.
    fn user(&mut self, login: &str) -> User {
        if let Some(user) = self.users.get(login) {
            return user.clone();
        }
        if let Some(user) = self.users.values().find(|user| user.login.eq_ignore_ascii_case(login)) {
            return user.clone();
        }
        let id = self.fresh_id();
        let user = User { id, login: login.to_owned(), kind: "User".into() };
        self.users.insert(login.to_owned(), user.clone());
        user
    }

    fn user_json(&mut self, login: &str) -> Value {
        let user = self.user(login);
        let mut value = example("pull-request-simple-items")[0]["user"].clone();
        let api = format!("https://api.github.com/users/{}", user.login);
        value["login"] = json!(user.login);
        value["id"] = json!(user.id);
        value["type"] = json!(user.kind);
        value["node_id"] = json!(format!("U_{}", user.id));
        value["url"] = json!(api);
        value["html_url"] = json!(format!("https://github.com/{}", user.login));
        value
    }

    fn pull_json(&mut self, number: u64, full: bool) -> Value {
        let pull = self.pulls[&number].clone();
        let mut value =
            if full { example("pull-request") } else { example("pull-request-simple-items")[0].clone() };
        let html = format!("https://github.com/{}/pull/{number}", self.repository);
        value["number"] = json!(number);
        value["id"] = json!(number + 5_000_000);
        value["html_url"] = json!(html);
        value["url"] = json!(format!("https://api.github.com/repos/{}/pulls/{number}", self.repository));
        value["user"] = self.user_json(&pull.author);
        value["head"]["sha"] = json!(pull.head_sha);
        value["head"]["ref"] = json!(format!("topic-{number}"));
        value["base"]["ref"] = json!(pull.base);
        value["state"] = json!(if pull.merged_at.is_some() { "closed" } else { "open" });
        value["merged_at"] = json!(pull.merged_at);
        // Every merged pull request was opened three hours before its merge, so that metrics
        // have a known figure to find.
        if let Some(opened) = pull
            .merged_at
            .as_deref()
            .and_then(|merged| chrono::DateTime::parse_from_rfc3339(merged).ok())
            .map(|merged| merged - chrono::TimeDelta::hours(3))
        {
            value["created_at"] = json!(opened.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        value["closed_at"] = json!(pull.merged_at);
        value["merge_commit_sha"] = json!(pull.merge_commit_sha);
        value["locked"] = json!(self.lifecycle.locked.contains(&number));
        // The published example predates the required team `type`; tenure never reads these.
        value["requested_teams"] = json!([]);
        value["requested_reviewers"] = json!([]);
        if full {
            value["merged"] = json!(pull.merged_at.is_some());
            value["commits"] = json!(pull.commits);
        }
        value
    }

    fn review_json(&mut self, number: u64, review: &Review) -> Value {
        let mut value = example("pull-request-review-items")[0].clone();
        value["id"] = json!(review.id);
        value["node_id"] = json!(format!("PRR_{}", review.id));
        value["user"] = self.user_json(&review.login);
        value["state"] = json!(review.state);
        value["commit_id"] = json!(review.commit_id);
        value["html_url"] = json!(format!(
            "https://github.com/{}/pull/{number}#pullrequestreview-{}",
            self.repository, review.id
        ));
        value["pull_request_url"] =
            json!(format!("https://api.github.com/repos/{}/pulls/{number}", self.repository));
        value
    }

    fn comment_json(&mut self, number: u64, comment: &Comment) -> Value {
        let url = format!("https://api.github.com/repos/{}/issues/comments/{}", self.repository, comment.id);
        json!({
            "id": comment.id,
            "node_id": format!("IC_{}", comment.id),
            "url": url,
            "html_url": format!("https://github.com/{}/pull/{number}#issuecomment-{}", self.repository, comment.id),
            "body": comment.body,
            "user": self.user_json(&comment.login),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "issue_url": format!("https://api.github.com/repos/{}/issues/{number}", self.repository),
            "author_association": "MEMBER",
        })
    }
}

/// An example value from the OpenAPI description.
pub fn example(name: &str) -> Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| serde_json::from_str(OPENAPI).expect("the OpenAPI fixture is JSON"));
    doc["components"]["examples"][name]["value"].clone()
}

/// An answer: status, extra headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, headers: Vec::new(), body: Some(body) }
}

fn not_found() -> Answer {
    answer(
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn serve(world: &Mutex<World>, mut request: tiny_http::Request) {
    let method = request.method().as_str().to_owned();
    let url = request.url().to_owned();
    let header = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    let authorization = header("authorization").unwrap_or_default();
    let if_none_match = header("if-none-match");
    let mut body = String::new();
    let _ = request.as_reader().take(1 << 20).read_to_string(&mut body);
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    let mut world = world.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    world.log.push(format!("{method} {url}"));
    let (route, app_route) = route_of(&method, &parts);
    *world.counts.entry(route.clone()).or_default() += 1;
    if let Some(fault) = world.take_fault(&method) {
        drop(world);
        serve_fault(request, fault);
        return;
    }

    let token_ok =
        [format!("Bearer {TOKEN}"), format!("token {TOKEN}"), format!("Bearer {INSTALLATION_TOKEN}")]
            .contains(&authorization);
    // App routes take the app's JWT: three base64url parts.
    let jwt_ok = authorization.strip_prefix("Bearer ").is_some_and(|jwt| jwt.split('.').count() == 3);
    let answer = if (app_route && !jwt_ok) || (!app_route && !token_ok) {
        world.unauthenticated += 1;
        answer(
            401,
            json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"}),
        )
    } else {
        handle(&mut world, &method, &parts, &query, &body)
    };
    let Answer { status, mut headers, body } = answer;
    let mut status = status;
    let mut text = body.map(|value| value.to_string()).unwrap_or_default();
    if status == 200 && method == "GET" {
        let etag = format!("W/\"{:016x}\"", fnv(text.as_bytes()));
        if if_none_match.as_deref() == Some(etag.as_str()) {
            status = 304;
            text.clear();
            world.not_modified += 1;
        }
        headers.push(("ETag".into(), etag));
    }
    drop(world);
    let mut response = tiny_http::Response::from_string(text).with_status_code(status);
    response.add_header(header_of("Content-Type", "application/json; charset=utf-8"));
    for (name, value) in headers {
        response.add_header(header_of(&name, &value));
    }
    let _ = request.respond(response);
}

fn header_of(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3))
}

/// The counted route name of a request, and whether it takes the app's JWT.
fn route_of(method: &str, parts: &[&str]) -> (String, bool) {
    let name = match (method, parts) {
        ("GET", ["repos", _, _, "commits", _, "pulls"]) => COMMIT_PULLS,
        ("GET", ["repos", _, _, "pulls", _]) => PULL,
        ("GET", ["repos", _, _, "pulls", _, "reviews"]) => REVIEWS,
        ("GET", ["repos", _, _, "contents", ..]) => CONTENTS,
        ("GET", ["orgs", _, "teams", _, "members"]) => TEAM_MEMBERS,
        ("GET", ["repos", _, _, "issues", _, "comments"]) => ISSUE_COMMENTS,
        ("POST", ["repos", _, _, "issues", _, "comments"]) => CREATE_COMMENT,
        ("PATCH", ["repos", _, _, "issues", "comments", _]) => UPDATE_COMMENT,
        ("GET", ["orgs", _, "installation"]) => return (ORG_INSTALLATION.into(), true),
        ("POST", ["app", "installations", _, "access_tokens"]) => return (ACCESS_TOKENS.into(), true),
        _ => match access_route(method, parts) {
            Some(name) => name,
            None => match lifecycle_route(method, parts) {
                Some(name) => name,
                None => return (format!("unmatched {method} /{}", parts.join("/")), false),
            },
        },
    };
    (name.to_owned(), false)
}

fn handle(
    world: &mut World,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &str,
) -> Answer {
    let repo_ok = |owner: &str, name: &str| format!("{owner}/{name}").eq_ignore_ascii_case(&world.repository);
    match (method, parts) {
        ("GET", ["repos", owner, name, "commits", sha, "pulls"]) if repo_ok(owner, name) => {
            let numbers = world.commit_pulls.get(*sha).cloned().unwrap_or_default();
            let items: Vec<Value> = numbers.into_iter().map(|n| world.pull_json(n, false)).collect();
            page(world, parts, query, items)
        }
        ("GET", ["repos", owner, name, "pulls", number]) if repo_ok(owner, name) => {
            match number.parse::<u64>().ok().filter(|n| world.pulls.contains_key(n)) {
                Some(number) => answer(200, world.pull_json(number, true)),
                None => not_found(),
            }
        }
        ("GET", ["repos", owner, name, "pulls", number, "reviews"]) if repo_ok(owner, name) => {
            let Some(number) = number.parse::<u64>().ok().filter(|n| world.pulls.contains_key(n)) else {
                return not_found();
            };
            let reviews = world.reviews.get(&number).cloned().unwrap_or_default();
            let items: Vec<Value> = reviews.iter().map(|review| world.review_json(number, review)).collect();
            page(world, parts, query, items)
        }
        ("GET", ["repos", owner, name, "contents", rest @ ..]) if repo_ok(owner, name) => {
            let path = rest.iter().map(|part| percent_decode(part)).collect::<Vec<_>>().join("/");
            let git_ref = query.get("ref").cloned().unwrap_or_else(|| "main".into());
            let Some(blob) = world.contents.get(&(git_ref.clone(), path.clone())).cloned() else {
                return not_found();
            };
            let mut value = example("content-file-response-if-content-is-a-file");
            let file_name = path.rsplit('/').next().unwrap_or(&path).to_owned();
            value["name"] = json!(file_name);
            value["path"] = json!(path);
            value["sha"] = json!(blob);
            answer(200, value)
        }
        ("GET", ["orgs", org, "teams", slug, "members"]) => {
            let Some(members) = world.teams.get(&(org.to_string(), slug.to_string())).cloned() else {
                return not_found();
            };
            let role = query.get("role").map(String::as_str).unwrap_or("all");
            let items: Vec<Value> = members
                .iter()
                .filter(|member| role == "all" || member.role == role)
                .map(|member| {
                    let mut value = world.user_json(&member.login);
                    value["role"] = json!(member.role);
                    value["inherited"] = json!(member.inherited);
                    value
                })
                .collect();
            page(world, parts, query, items)
        }
        ("GET", ["repos", owner, name, "issues", number, "comments"]) if repo_ok(owner, name) => {
            let Ok(number) = number.parse::<u64>() else { return not_found() };
            let comments = world.comments.get(&number).cloned().unwrap_or_default();
            let items: Vec<Value> =
                comments.iter().map(|comment| world.comment_json(number, comment)).collect();
            page(world, parts, query, items)
        }
        ("POST", ["repos", owner, name, "issues", number, "comments"]) if repo_ok(owner, name) => {
            let (Ok(number), Ok(input)) = (number.parse::<u64>(), serde_json::from_str::<Value>(body)) else {
                return answer(422, json!({"message": "Validation Failed"}));
            };
            let Some(text) = input.get("body").and_then(Value::as_str) else {
                return answer(422, json!({"message": "Validation Failed"}));
            };
            let id = world.fresh_id();
            let comment = Comment { id, login: "tenure-bot".into(), body: text.to_owned() };
            world.comments.entry(number).or_default().push(comment.clone());
            answer(201, world.comment_json(number, &comment))
        }
        ("PATCH", ["repos", owner, name, "issues", "comments", id]) if repo_ok(owner, name) => {
            let (Ok(id), Ok(input)) = (id.parse::<u64>(), serde_json::from_str::<Value>(body)) else {
                return answer(422, json!({"message": "Validation Failed"}));
            };
            let Some(text) = input.get("body").and_then(Value::as_str) else {
                return answer(422, json!({"message": "Validation Failed"}));
            };
            let found = world.comments.iter_mut().find_map(|(number, list)| {
                list.iter_mut().find(|c| c.id == id).map(|c| {
                    c.body = text.to_owned();
                    (*number, c.clone())
                })
            });
            match found {
                Some((number, comment)) => answer(200, world.comment_json(number, &comment)),
                None => not_found(),
            }
        }
        ("GET", ["orgs", _, "installation"]) => answer(200, example("installation")),
        ("POST", ["app", "installations", _, "access_tokens"]) => {
            let mut value = example("installation-token");
            value["token"] = json!(INSTALLATION_TOKEN);
            value["expires_at"] = json!("2100-01-01T00:00:00Z");
            answer(201, value)
        }
        _ => handle_access(world, method, parts, query, body)
            .or_else(|| handle_lifecycle(world, method, parts, query, body))
            .unwrap_or_else(not_found),
    }
}

/// One page of a list, with GitHub's `Link` header of absolute URLs.
fn page(world: &World, parts: &[&str], query: &BTreeMap<String, String>, items: Vec<Value>) -> Answer {
    let per_page = query.get("per_page").and_then(|v| v.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let per_page = world.page_size.map_or(per_page, |cap| per_page.min(cap));
    let number = query.get("page").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items.into_iter().skip((number - 1) * per_page).take(per_page).collect();
    let mut headers = Vec::new();
    let link_to = |page: usize| {
        let mut params: Vec<String> = query
            .iter()
            .filter(|(key, _)| key.as_str() != "page" && key.as_str() != "per_page")
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        params.push(format!("per_page={per_page}"));
        params.push(format!("page={page}"));
        format!("<{}/{}?{}>", world.base_url, parts.join("/"), params.join("&"))
    };
    let mut links = Vec::new();
    if number < pages {
        links.push(format!("{}; rel=\"next\"", link_to(number + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(pages)));
    }
    if number > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(number - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if !links.is_empty() {
        headers.push(("Link".to_owned(), links.join(", ")));
    }
    Answer { status: 200, headers, body: Some(Value::Array(chunk)) }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[index + 1..index + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A raw HTTP/1.1 request to the fake, for tests of the fake itself: `(status, headers, body)`.
pub fn http(
    base_url: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let authority = base_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).expect("connect to the fake");
    let mut request =
        format!("{method} {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status =
        lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked =
        headers.iter().any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    (status, headers, body)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Access routes, for the github provider: the acting user, team memberships and invitations,
// repository collaborators and invitations, organization members, memberships and
// invitations, and faults a test can switch on. Kept apart from the forge's routes above.
// ---------------------------------------------------------------------------------------------

pub const USER: &str = "GET /user";
pub const TEAM_INVITATIONS: &str = "GET /orgs/{org}/teams/{slug}/invitations";
pub const PUT_TEAM_MEMBERSHIP: &str = "PUT /orgs/{org}/teams/{slug}/memberships/{username}";
pub const DELETE_TEAM_MEMBERSHIP: &str = "DELETE /orgs/{org}/teams/{slug}/memberships/{username}";
pub const COLLABORATORS: &str = "GET /repos/{owner}/{repo}/collaborators";
pub const PUT_COLLABORATOR: &str = "PUT /repos/{owner}/{repo}/collaborators/{username}";
pub const DELETE_COLLABORATOR: &str = "DELETE /repos/{owner}/{repo}/collaborators/{username}";
pub const REPO_INVITATIONS: &str = "GET /repos/{owner}/{repo}/invitations";
pub const DELETE_REPO_INVITATION: &str = "DELETE /repos/{owner}/{repo}/invitations/{id}";
pub const ORG_MEMBERS: &str = "GET /orgs/{org}/members";
pub const PUT_ORG_MEMBERSHIP: &str = "PUT /orgs/{org}/memberships/{username}";
pub const DELETE_ORG_MEMBERSHIP: &str = "DELETE /orgs/{org}/memberships/{username}";
pub const ORG_INVITATIONS: &str = "GET /orgs/{org}/invitations";

/// A failure the fake serves instead of the next answers to some method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `502 Bad Gateway`.
    ServerError,
    /// `429` with `retry-after: 0`.
    TooMany,
    /// GitHub's secondary rate limit: `403` with `retry-after: 0` and its message.
    SecondaryLimit,
    /// `504 Gateway Timeout`, after this many milliseconds (bounded to one second).
    Slow(u64),
    /// A broken connection: bytes that are no HTTP answer, then nothing more.
    Drop,
}

#[derive(Debug, Clone)]
struct RepoInvite {
    id: u64,
    login: String,
    /// In the read vocabulary: read, triage, write, maintain, admin.
    permission: String,
    expired: bool,
}

#[derive(Debug, Default)]
struct Access {
    me: Option<String>,
    /// repo name → (login, role_name in the read vocabulary).
    collaborators: BTreeMap<String, Vec<(String, String)>>,
    repo_invites: BTreeMap<String, Vec<RepoInvite>>,
    /// login → admin | member.
    org_members: BTreeMap<String, String>,
    /// (id, login, direct_member | admin).
    org_invites: Vec<(u64, String, String)>,
    /// team slug → invited logins.
    team_invites: BTreeMap<String, Vec<String>>,
    idp_teams: Vec<String>,
    invite_new: bool,
    /// (method, fault, how many more times).
    faults: Vec<(String, Fault, usize)>,
}

impl FakeGithub {
    /// The account the token belongs to (`GET /user`); `tenure-bot` unless set.
    pub fn set_me(&self, login: &str) {
        self.world().access.me = Some(login.to_owned());
    }

    /// Sets a repository's direct collaborators: `(login, role_name)`, role names as GitHub
    /// reads them (read, triage, write, maintain, admin, or a custom name).
    pub fn collaborators(&self, repo: &str, list: &[(&str, &str)]) {
        let list = list.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
        self.world().access.collaborators.insert(repo.to_owned(), list);
    }

    /// A repository's direct collaborators, `(login, role_name)`, sorted.
    pub fn collaborator_list(&self, repo: &str) -> Vec<(String, String)> {
        let mut list = self.world().access.collaborators.get(repo).cloned().unwrap_or_default();
        list.sort();
        list
    }

    /// A repository's invitations: `(login, permission, expired)`.
    pub fn repo_invitations(&self, repo: &str) -> Vec<(String, String, bool)> {
        let world = self.world();
        let list = world.access.repo_invites.get(repo).cloned().unwrap_or_default();
        list.into_iter().map(|i| (i.login, i.permission, i.expired)).collect()
    }

    /// Marks every invitation to a repository as expired.
    pub fn expire_repo_invitations(&self, repo: &str) {
        for invite in self.world().access.repo_invites.entry(repo.to_owned()).or_default() {
            invite.expired = true;
        }
    }

    /// Sets the organization's members: `(login, admin | member)`.
    pub fn org_members(&self, list: &[(&str, &str)]) {
        self.world().access.org_members = list.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
    }

    /// The organization's members, `(login, role)`, sorted.
    pub fn org_member_list(&self) -> Vec<(String, String)> {
        self.world().access.org_members.clone().into_iter().collect()
    }

    /// The organization's pending invitations, `(login, role)`.
    pub fn org_invitations(&self) -> Vec<(String, String)> {
        self.world().access.org_invites.iter().map(|(_, l, r)| (l.clone(), r.clone())).collect()
    }

    /// A team's members, `(login, role, inherited)`, sorted.
    pub fn team_members(&self, org: &str, slug: &str) -> Vec<(String, String, bool)> {
        let world = self.world();
        let mut list: Vec<(String, String, bool)> = world
            .teams
            .get(&(org.to_owned(), slug.to_owned()))
            .map(|m| m.iter().map(|m| (m.login.clone(), m.role.clone(), m.inherited)).collect())
            .unwrap_or_default();
        list.sort();
        list
    }

    /// A team's pending invitations.
    pub fn team_invitations(&self, slug: &str) -> Vec<String> {
        self.world().access.team_invites.get(slug).cloned().unwrap_or_default()
    }

    /// Makes a team synced from an identity provider: membership writes get 403.
    pub fn idp_team(&self, slug: &str) {
        self.world().access.idp_teams.push(slug.to_owned());
    }

    /// When on, adding someone who is not an org member sends an invitation instead.
    pub fn invite_new_users(&self, on: bool) {
        self.world().access.invite_new = on;
    }

    /// Serves `fault` instead of the next `times` requests of `method` (`PUT`, `GET`, …).
    pub fn fault(&self, method: &str, fault: Fault, times: usize) {
        self.world().access.faults.push((method.to_owned(), fault, times));
    }
}

impl World {
    fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let slot = self.access.faults.iter_mut().find(|(m, _, left)| m == method && *left > 0)?;
        slot.2 -= 1;
        Some(slot.1)
    }

    fn is_org_member(&self, login: &str) -> bool {
        self.access.org_members.keys().any(|m| m.eq_ignore_ascii_case(login))
    }

    fn invitation_json(&mut self, id: u64, login: &str, role: &str) -> Value {
        let mut value = example("organization-invitation-items")[0].clone();
        value["id"] = json!(id);
        value["login"] = json!(login);
        value["role"] = json!(role);
        value["node_id"] = json!(format!("OI_{id}"));
        value
    }
}

fn serve_fault(request: tiny_http::Request, fault: Fault) {
    if fault == Fault::Drop {
        let mut writer = request.into_writer();
        let _ = writer.write_all(b"\x00\x01 connection lost\r\n\r\n");
        let _ = writer.flush();
        return;
    }
    let (status, message) = match fault {
        Fault::Drop => unreachable!("answered above"),
        Fault::ServerError => (502, "Server Error"),
        Fault::TooMany => (429, "API rate limit exceeded"),
        Fault::SecondaryLimit => {
            (403, "You have exceeded a secondary rate limit. Please wait a few minutes.")
        }
        Fault::Slow(ms) => {
            std::thread::sleep(std::time::Duration::from_millis(ms.min(1000)));
            (504, "Gateway Timeout")
        }
    };
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest"}).to_string();
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    response.add_header(header_of("Content-Type", "application/json; charset=utf-8"));
    if matches!(fault, Fault::TooMany | Fault::SecondaryLimit) {
        response.add_header(header_of("retry-after", "0"));
    }
    let _ = request.respond(response);
}

fn access_route(method: &str, parts: &[&str]) -> Option<&'static str> {
    Some(match (method, parts) {
        ("GET", ["user"]) => USER,
        ("GET", ["orgs", _, "teams", _, "invitations"]) => TEAM_INVITATIONS,
        ("PUT", ["orgs", _, "teams", _, "memberships", _]) => PUT_TEAM_MEMBERSHIP,
        ("DELETE", ["orgs", _, "teams", _, "memberships", _]) => DELETE_TEAM_MEMBERSHIP,
        ("GET", ["repos", _, _, "collaborators"]) => COLLABORATORS,
        ("PUT", ["repos", _, _, "collaborators", _]) => PUT_COLLABORATOR,
        ("DELETE", ["repos", _, _, "collaborators", _]) => DELETE_COLLABORATOR,
        ("GET", ["repos", _, _, "invitations"]) => REPO_INVITATIONS,
        ("DELETE", ["repos", _, _, "invitations", _]) => DELETE_REPO_INVITATION,
        ("GET", ["orgs", _, "members"]) => ORG_MEMBERS,
        ("PUT", ["orgs", _, "memberships", _]) => PUT_ORG_MEMBERSHIP,
        ("DELETE", ["orgs", _, "memberships", _]) => DELETE_ORG_MEMBERSHIP,
        ("GET", ["orgs", _, "invitations"]) => ORG_INVITATIONS,
        _ => return None,
    })
}

fn no_content() -> Answer {
    Answer { status: 204, headers: Vec::new(), body: None }
}

fn read_role(permission: &str) -> &str {
    match permission {
        "pull" => "read",
        "push" => "write",
        other => other,
    }
}

fn handle_access(
    world: &mut World,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &str,
) -> Option<Answer> {
    let input: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    Some(match (method, parts) {
        ("GET", ["user"]) => {
            let me = world.access.me.clone().unwrap_or_else(|| "tenure-bot".into());
            answer(200, world.user_json(&me))
        }
        ("GET", ["orgs", _, "teams", slug, "invitations"]) => {
            let logins = world.access.team_invites.get(*slug).cloned().unwrap_or_default();
            let items = logins
                .iter()
                .map(|login| {
                    let id = world.fresh_id();
                    world.invitation_json(id, login, "direct_member")
                })
                .collect();
            page(world, parts, query, items)
        }
        ("PUT", ["orgs", org, "teams", slug, "memberships", login]) => {
            if world.access.idp_teams.iter().any(|t| t == slug) {
                return Some(answer(
                    403,
                    json!({"message": "This team is synchronized with an identity provider", "documentation_url": "https://docs.github.com/rest"}),
                ));
            }
            let role = input.get("role").and_then(Value::as_str).unwrap_or("member").to_owned();
            let key = (org.to_string(), slug.to_string());
            if world.access.invite_new && !world.is_org_member(login) {
                let invites = world.access.team_invites.entry(slug.to_string()).or_default();
                if !invites.iter().any(|l| same(l, login)) {
                    invites.push(login.to_string());
                }
                let mut value =
                    example("team-membership-response-if-users-membership-with-team-is-now-pending");
                value["role"] = json!(role);
                return Some(answer(200, value));
            }
            let members = world.teams.entry(key).or_default();
            match members.iter_mut().find(|m| same(&m.login, login) && !m.inherited) {
                Some(member) => member.role = role.clone(),
                None => {
                    members.push(Member { login: login.to_string(), role: role.clone(), inherited: false })
                }
            }
            world.user(login);
            let mut value = example("team-membership-response-if-user-is-a-team-maintainer");
            value["role"] = json!(role);
            value["state"] = json!("active");
            answer(200, value)
        }
        ("DELETE", ["orgs", org, "teams", slug, "memberships", login]) => {
            if world.access.idp_teams.iter().any(|t| t == slug) {
                return Some(answer(
                    403,
                    json!({"message": "This team is synchronized with an identity provider"}),
                ));
            }
            let mut found = false;
            if let Some(members) = world.teams.get_mut(&(org.to_string(), slug.to_string())) {
                let before = members.len();
                members.retain(|m| m.inherited || !same(&m.login, login));
                found = members.len() != before;
            }
            if let Some(invites) = world.access.team_invites.get_mut(*slug) {
                let before = invites.len();
                invites.retain(|l| !same(l, login));
                found |= invites.len() != before;
            }
            if found { no_content() } else { not_found() }
        }
        ("GET", ["repos", _, repo, "collaborators"]) => {
            let list = world.access.collaborators.get(*repo).cloned().unwrap_or_default();
            let items = list
                .iter()
                .map(|(login, role)| {
                    let mut value = example("collaborator-items")[0].clone();
                    let user = world.user_json(login);
                    for key in ["login", "id", "node_id", "url", "html_url", "type"] {
                        value[key] = user[key].clone();
                    }
                    value["role_name"] = json!(role);
                    let rank = ["read", "triage", "write", "maintain", "admin"].iter().position(|r| r == role);
                    let rank = rank.unwrap_or(0);
                    value["permissions"] = json!({
                        "pull": true, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3, "admin": rank >= 4
                    });
                    value
                })
                .collect();
            page(world, parts, query, items)
        }
        ("PUT", ["repos", _, repo, "collaborators", login]) => {
            let permission = input.get("permission").and_then(Value::as_str).unwrap_or("push");
            let role = read_role(permission).to_owned();
            let direct = world.access.collaborators.entry(repo.to_string()).or_default();
            if let Some(existing) = direct.iter_mut().find(|(l, _)| same(l, login)) {
                existing.1 = role;
                return Some(no_content());
            }
            let invite_new = world.access.invite_new && !world.is_org_member(login);
            if invite_new {
                let invites = world.access.repo_invites.entry(repo.to_string()).or_default();
                if let Some(invite) = invites.iter_mut().find(|i| same(&i.login, login) && !i.expired) {
                    invite.permission = role;
                    return Some(no_content());
                }
                if invites.iter().any(|i| same(&i.login, login)) {
                    return Some(answer(
                        422,
                        json!({"message": "Validation Failed: an invitation is already pending"}),
                    ));
                }
                let id = world.fresh_id();
                let invite = RepoInvite { id, login: login.to_string(), permission: role, expired: false };
                world.access.repo_invites.entry(repo.to_string()).or_default().push(invite.clone());
                return Some(answer(201, repo_invitation_json(world, repo, &invite)));
            }
            world.access.collaborators.entry(repo.to_string()).or_default().push((login.to_string(), role));
            world.user(login);
            no_content()
        }
        ("DELETE", ["repos", _, repo, "collaborators", login]) => {
            let direct = world.access.collaborators.entry(repo.to_string()).or_default();
            direct.retain(|(l, _)| !same(l, login));
            no_content()
        }
        ("GET", ["repos", _, repo, "invitations"]) => {
            let invites = world.access.repo_invites.get(*repo).cloned().unwrap_or_default();
            let items = invites.iter().map(|invite| repo_invitation_json(world, repo, invite)).collect();
            page(world, parts, query, items)
        }
        ("DELETE", ["repos", _, repo, "invitations", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let invites = world.access.repo_invites.entry(repo.to_string()).or_default();
            let before = invites.len();
            invites.retain(|i| i.id != id);
            if invites.len() != before { no_content() } else { not_found() }
        }
        ("GET", ["orgs", _, "members"]) => {
            let role = query.get("role").map(String::as_str).unwrap_or("all");
            let logins: Vec<String> = world
                .access
                .org_members
                .iter()
                .filter(|(_, r)| role == "all" || r.as_str() == role)
                .map(|(l, _)| l.clone())
                .collect();
            let items = logins.iter().map(|l| world.user_json(l)).collect();
            page(world, parts, query, items)
        }
        ("PUT", ["orgs", _, "memberships", login]) => {
            let role = input.get("role").and_then(Value::as_str).unwrap_or("member").to_owned();
            let mut value =
                example("org-membership-response-if-user-has-an-active-admin-membership-with-organization");
            value["role"] = json!(role);
            value["user"] = world.user_json(login);
            let existing = world.access.org_members.keys().find(|m| same(m, login)).cloned();
            if existing.is_none() && world.access.invite_new {
                let wire_role = if role == "admin" { "admin" } else { "direct_member" };
                match world.access.org_invites.iter_mut().find(|(_, l, _)| same(l, login)) {
                    Some(invite) => invite.2 = wire_role.into(),
                    None => {
                        let id = world.fresh_id();
                        world.access.org_invites.push((id, login.to_string(), wire_role.into()));
                    }
                }
                value["state"] = json!("pending");
                return Some(answer(200, value));
            }
            let key = existing.unwrap_or_else(|| login.to_string());
            world.access.org_members.insert(key, role);
            value["state"] = json!("active");
            answer(200, value)
        }
        ("DELETE", ["orgs", _, "memberships", login]) => {
            let before = world.access.org_members.len() + world.access.org_invites.len();
            world.access.org_members.retain(|m, _| !same(m, login));
            world.access.org_invites.retain(|(_, l, _)| !same(l, login));
            if world.access.org_members.len() + world.access.org_invites.len() != before {
                no_content()
            } else {
                not_found()
            }
        }
        ("GET", ["orgs", _, "invitations"]) => {
            let invites = world.access.org_invites.clone();
            let items =
                invites.iter().map(|(id, login, role)| world.invitation_json(*id, login, role)).collect();
            page(world, parts, query, items)
        }
        _ => return None,
    })
}

fn repo_invitation_json(world: &mut World, repo: &str, invite: &RepoInvite) -> Value {
    let mut value = example("repository-invitation-items")[0].clone();
    value["id"] = json!(invite.id);
    value["node_id"] = json!(format!("RI_{}", invite.id));
    value["invitee"] = world.user_json(&invite.login);
    value["permissions"] = json!(invite.permission);
    value["expired"] = json!(invite.expired);
    value["repository"]["name"] = json!(repo);
    value
}

// ---------------------------------------------------------------------------------------------
// Lifecycle routes, for `notify` and `renew --open-pr`: issues (list, create), locked pull
// requests, git refs (read, create), file writes through the contents API, and pull-request
// creation. Kept apart from the forge's and the provider's routes above.

pub const LIST_ISSUES: &str = "GET /repos/{owner}/{repo}/issues";
pub const CREATE_ISSUE: &str = "POST /repos/{owner}/{repo}/issues";
pub const GET_REF: &str = "GET /repos/{owner}/{repo}/git/ref/{ref}";
pub const CREATE_REF: &str = "POST /repos/{owner}/{repo}/git/refs";
pub const PUT_CONTENTS: &str = "PUT /repos/{owner}/{repo}/contents/{path}";
pub const CREATE_PULL: &str = "POST /repos/{owner}/{repo}/pulls";

/// An issue that tenure opened.
#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub labels: Vec<String>,
    pub body: String,
}

/// A file written through `PUT contents`.
#[derive(Debug, Clone)]
pub struct PutFile {
    pub branch: String,
    pub path: String,
    pub message: String,
    /// The blob sha the writer said it replaces.
    pub replaces: Option<String>,
    /// The decoded content.
    pub content: String,
}

/// A pull request opened through the API.
#[derive(Debug, Clone)]
pub struct OpenedPull {
    pub number: u64,
    pub title: String,
    pub head: String,
    pub base: String,
    pub body: String,
}

#[derive(Debug, Default)]
struct Lifecycle {
    locked: std::collections::BTreeSet<u64>,
    issues: Vec<FakeIssue>,
    refs: BTreeMap<String, String>,
    files: Vec<PutFile>,
    opened: Vec<OpenedPull>,
}

impl FakeGithub {
    /// Locks the conversation of pull request `number`.
    pub fn lock(&self, number: u64) {
        self.world().lifecycle.locked.insert(number);
    }

    /// The issues opened through the API.
    pub fn issues(&self) -> Vec<FakeIssue> {
        self.world().lifecycle.issues.clone()
    }

    /// Sets branch `name` to `sha`.
    pub fn set_ref(&self, name: &str, sha: &str) {
        self.world().lifecycle.refs.insert(name.to_owned(), sha.to_owned());
    }

    /// Every branch and its sha.
    pub fn refs(&self) -> BTreeMap<String, String> {
        self.world().lifecycle.refs.clone()
    }

    /// The files written through the contents API.
    pub fn put_files(&self) -> Vec<PutFile> {
        self.world().lifecycle.files.clone()
    }

    /// The pull requests opened through the API.
    pub fn opened_pulls(&self) -> Vec<OpenedPull> {
        self.world().lifecycle.opened.clone()
    }
}

fn lifecycle_route(method: &str, parts: &[&str]) -> Option<&'static str> {
    Some(match (method, parts) {
        ("GET", ["repos", _, _, "issues"]) => LIST_ISSUES,
        ("POST", ["repos", _, _, "issues"]) => CREATE_ISSUE,
        ("GET", ["repos", _, _, "git", "ref", ..]) => GET_REF,
        ("POST", ["repos", _, _, "git", "refs"]) => CREATE_REF,
        ("PUT", ["repos", _, _, "contents", ..]) => PUT_CONTENTS,
        ("POST", ["repos", _, _, "pulls"]) => CREATE_PULL,
        _ => return None,
    })
}

fn issue_json(world: &World, issue: &FakeIssue) -> Value {
    json!({
        "id": issue.number + 7_000_000,
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": "open",
        "locked": false,
        "labels": issue.labels.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
        "html_url": format!("https://github.com/{}/issues/{}", world.repository, issue.number),
    })
}

fn unprocessable() -> Answer {
    answer(422, json!({"message": "Validation Failed"}))
}

fn handle_lifecycle(
    world: &mut World,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: &str,
) -> Option<Answer> {
    let ["repos", owner, name, rest @ ..] = parts else { return None };
    if !format!("{owner}/{name}").eq_ignore_ascii_case(&world.repository) {
        return None;
    }
    let input = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(match (method, rest) {
        ("GET", ["issues"]) => {
            let label = query.get("labels").cloned();
            let items: Vec<Value> = world
                .lifecycle
                .issues
                .iter()
                .filter(|issue| label.as_ref().is_none_or(|label| issue.labels.contains(label)))
                .map(|issue| issue_json(world, issue))
                .collect();
            page(world, parts, query, items)
        }
        ("POST", ["issues"]) => {
            let Some(title) = text("title") else { return Some(unprocessable()) };
            let labels = input
                .get("labels")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let number = 9_000 + world.lifecycle.issues.len() as u64 + 1;
            let issue = FakeIssue { number, title, labels, body: text("body").unwrap_or_default() };
            world.lifecycle.issues.push(issue.clone());
            answer(201, issue_json(world, &issue))
        }
        ("GET", ["git", "ref", "heads", branch @ ..]) => {
            let branch = branch.join("/");
            match world.lifecycle.refs.get(&branch) {
                Some(sha) => answer(
                    200,
                    json!({"ref": format!("refs/heads/{branch}"), "object": {"type": "commit", "sha": sha}}),
                ),
                None => not_found(),
            }
        }
        ("POST", ["git", "refs"]) => {
            let (Some(full), Some(sha)) = (text("ref"), text("sha")) else { return Some(unprocessable()) };
            let Some(branch) = full.strip_prefix("refs/heads/").map(str::to_owned) else {
                return Some(unprocessable());
            };
            if world.lifecycle.refs.contains_key(&branch) {
                return Some(answer(422, json!({"message": "Reference already exists"})));
            }
            // The new branch starts with the files of every branch at that commit.
            let sources: Vec<String> = world
                .lifecycle
                .refs
                .iter()
                .filter(|(_, at)| **at == sha)
                .map(|(name, _)| name.clone())
                .collect();
            let copied: Vec<((String, String), String)> = world
                .contents
                .iter()
                .filter(|((git_ref, _), _)| sources.contains(git_ref))
                .map(|((_, path), blob)| ((branch.clone(), path.clone()), blob.clone()))
                .collect();
            world.contents.extend(copied);
            world.lifecycle.refs.insert(branch, sha.clone());
            answer(201, json!({"ref": full, "object": {"type": "commit", "sha": sha}}))
        }
        ("PUT", ["contents", path @ ..]) => {
            let path = path.iter().map(|part| percent_decode(part)).collect::<Vec<_>>().join("/");
            let (Some(message), Some(content), Some(branch)) =
                (text("message"), text("content"), text("branch"))
            else {
                return Some(unprocessable());
            };
            if !world.lifecycle.refs.contains_key(&branch) {
                return Some(not_found());
            }
            let replaces = text("sha");
            // GitHub refuses a write whose sha is not the file's current blob on the branch.
            let current = world.contents.get(&(branch.clone(), path.clone())).cloned();
            if replaces != current {
                return Some(answer(409, json!({"message": "sha does not match"})));
            }
            let Some(content) = decode_base64(&content) else { return Some(unprocessable()) };
            let new_sha = format!("{:040x}", fnv(content.as_bytes()));
            world.contents.insert((branch.clone(), path.clone()), new_sha.clone());
            world.lifecycle.files.push(PutFile { branch, path: path.clone(), message, replaces, content });
            answer(200, json!({"content": {"path": path, "sha": new_sha}, "commit": {"sha": new_sha}}))
        }
        ("POST", ["pulls"]) => {
            let (Some(title), Some(head), Some(base)) = (text("title"), text("head"), text("base")) else {
                return Some(unprocessable());
            };
            if !world.lifecycle.refs.contains_key(&head) {
                return Some(unprocessable());
            }
            let number = 8_000 + world.lifecycle.opened.len() as u64 + 1;
            let body = text("body").unwrap_or_default();
            world.lifecycle.opened.push(OpenedPull { number, title: title.clone(), head, base, body });
            answer(
                201,
                json!({
                    "number": number,
                    "title": title,
                    "html_url": format!("https://github.com/{}/pull/{number}", world.repository),
                    "state": "open",
                }),
            )
        }
        _ => return None,
    })
}

fn decode_base64(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
        let value = ALPHABET.iter().position(|&c| c == byte)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}
