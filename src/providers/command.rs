//! The `command` provider: an external program manages a system that tenure does not build in
//! (docs/command-provider.md).
//!
//! `PROGRAM list` reads `{"resources":["group/a",…]}` on stdin and prints `{"grants":[…]}`;
//! `PROGRAM grant` and `PROGRAM revoke` read one `{"resource","role","subject"}`. Exit 0 is
//! success. The program is someone else's code, so tenure bounds what it can do to a run: it
//! gets a cleared environment (PATH, HOME and the variables named in `env`), the repository
//! root as its working directory, a deadline after which it and everything it started are
//! killed, and caps on how much output tenure keeps. Its stderr reaches the operator and the
//! audit log, so the values of the `env` variables, which are usually tokens, are scrubbed from
//! it first.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Provider, ProviderError, Wanted, WireGrant, ensure_own};
use crate::model::{ResourceId, Tuple};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A longer limit is almost certainly a typo, and would keep a scheduled run hanging.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
const STDOUT_CAP: usize = 4 * 1024 * 1024;
const STDERR_CAP: usize = 64 * 1024;
/// How much of stderr goes into an error message, in characters.
const MESSAGE_CAP: usize = 2000;
/// Values this short are too likely to occur by chance to be worth scrubbing, and are not
/// credentials anyone would use.
const MIN_SECRET_LEN: usize = 4;

/// An external program that speaks tenure's provider protocol.
pub struct CommandProvider {
    name: String,
    /// The program as configured, for messages.
    display: String,
    program: PathBuf,
    root: PathBuf,
    env: Vec<(String, OsString)>,
    secrets: Vec<String>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct ListOutput {
    grants: Vec<WireGrant>,
}

/// What a finished program left behind.
struct Outcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stdout_overflow: bool,
    stderr: Vec<u8>,
}

enum Stream {
    Stdout,
    Stderr,
}

type Captured = io::Result<(Vec<u8>, bool)>;

impl CommandProvider {
    /// The provider `name`, running `program` (relative to `root` unless absolute) with the
    /// variables named in `env` taken from tenure's own environment.
    pub fn open(
        name: &str,
        program: &str,
        env: &[String],
        timeout: Option<&str>,
        root: &Path,
    ) -> Result<CommandProvider, ProviderError> {
        CommandProvider::with_env(name, program, env, timeout, root, |key| std::env::var_os(key))
    }

    /// As [`CommandProvider::open`], reading variables through `lookup`, so that callers (and
    /// tests) can supply the environment without changing the process's own.
    pub fn with_env(
        name: &str,
        program: &str,
        env: &[String],
        timeout: Option<&str>,
        root: &Path,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<CommandProvider, ProviderError> {
        let config = |detail: String| ProviderError::Config { name: name.to_owned(), detail };
        if program.trim().is_empty() {
            return Err(config(
                "`program` is empty; name the plugin, relative to the repository root".into(),
            ));
        }
        let timeout = match timeout {
            None => DEFAULT_TIMEOUT,
            Some(text) => match humantime::parse_duration(text) {
                Ok(duration) if duration.is_zero() => {
                    return Err(config(format!("`timeout: {text}` must be longer than zero")));
                }
                Ok(duration) if duration > MAX_TIMEOUT => {
                    return Err(config(format!("`timeout: {text}` is longer than the limit of one day")));
                }
                Ok(duration) => duration,
                Err(error) => {
                    return Err(config(format!(
                        "`timeout: {text}` is not a duration such as 30s or 2m: {error}"
                    )));
                }
            },
        };
        // An absolute root keeps the program path from depending on how the platform resolves
        // a relative program against a changed working directory, and from a PATH search.
        let root = std::path::absolute(root).map_err(|error| {
            config(format!("cannot resolve the repository root {}: {error}", root.display()))
        })?;
        let mut names: Vec<&str> = vec!["PATH", "HOME"];
        for variable in env {
            if !is_valid_env_name(variable) {
                return Err(config(format!(
                    "`env` entry {variable:?} is not a variable name (letters, digits and `_`, not starting \
                     with a digit)"
                )));
            }
            if !names.contains(&variable.as_str()) {
                names.push(variable);
            }
        }
        let mut pairs = Vec::new();
        let mut secrets = Vec::new();
        for variable in names {
            if let Some(value) = lookup(variable) {
                let text = value.to_string_lossy().into_owned();
                if variable != "PATH" && variable != "HOME" && text.len() >= MIN_SECRET_LEN {
                    secrets.push(text);
                }
                pairs.push((variable.to_owned(), value));
            }
        }
        // Longest first, so that a secret containing another is scrubbed whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        Ok(CommandProvider {
            name: name.to_owned(),
            display: program.to_owned(),
            program: root.join(program),
            root,
            env: pairs,
            secrets,
            timeout,
        })
    }

    fn call(&self, action: &'static str, input: Vec<u8>) -> Result<Outcome, ProviderError> {
        let mut command = Command::new(&self.program);
        command
            .arg(action)
            .current_dir(&self.root)
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group, so that a timeout can kill whatever the program started
            // too, not only the program itself.
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = self.spawn(&mut command, action)?;
        let deadline = Instant::now().checked_add(self.timeout);

        let (sender, receiver) = mpsc::channel::<(Stream, Captured)>();
        let started = self.start_io(&mut child, input, sender);
        if let Err(error) = started {
            kill_tree(&mut child);
            return Err(self.spawn_error(action, format!("cannot start a thread to talk to it: {error}")));
        }

        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(error) => {
                    kill_tree(&mut child);
                    return Err(self.spawn_error(action, format!("cannot wait for it: {error}")));
                }
            }
            let Some(remaining) = remaining(deadline) else {
                kill_tree(&mut child);
                return Err(self.timeout_error(action));
            };
            thread::sleep(remaining.min(Duration::from_millis(10)));
        };

        // The program has exited, but something it started may still hold its output open;
        // the deadline covers that wait too, and the group is killed if it runs out.
        let (mut stdout, mut stderr) = (None, None);
        while stdout.is_none() || stderr.is_none() {
            let received = match remaining(deadline) {
                Some(left) => receiver.recv_timeout(left).ok(),
                None => None,
            };
            let Some((stream, captured)) = received else {
                kill_group(child.id());
                return Err(self.timeout_error(action));
            };
            let captured = captured.map_err(|error| ProviderError::BadOutput {
                program: self.display.clone(),
                action,
                detail: format!("cannot read its output: {error}"),
                stderr: String::new(),
            })?;
            match stream {
                Stream::Stdout => stdout = Some(captured),
                Stream::Stderr => stderr = Some(captured),
            }
        }
        let (stdout, stdout_overflow) = stdout.unwrap_or_default();
        let (stderr, _) = stderr.unwrap_or_default();
        Ok(Outcome { status, stdout, stdout_overflow, stderr })
    }

    fn spawn(&self, command: &mut Command, action: &'static str) -> Result<Child, ProviderError> {
        let mut attempts = 0;
        loop {
            match command.spawn() {
                Ok(child) => return Ok(child),
                // Another thread or process may briefly hold the file open for writing (it was
                // just written, or a fork inherited the descriptor); that clears up quickly.
                Err(error) if error.kind() == io::ErrorKind::ExecutableFileBusy && attempts < 20 => {
                    attempts += 1;
                    thread::sleep(Duration::from_millis(5 * attempts));
                }
                Err(error) => {
                    let hint = match error.kind() {
                        io::ErrorKind::NotFound => format!(
                            "{} or its interpreter does not exist; `program` is relative to the repository root",
                            self.program.display()
                        ),
                        io::ErrorKind::PermissionDenied => {
                            format!("{} is not executable (chmod +x it): {error}", self.program.display())
                        }
                        _ => format!("{}: {error}", self.program.display()),
                    };
                    return Err(self.spawn_error(action, hint));
                }
            }
        }
    }

    /// Feeds stdin and drains stdout and stderr on their own threads, so that a program that
    /// writes a lot before it reads, or reads nothing, cannot deadlock the run.
    fn start_io(
        &self,
        child: &mut Child,
        input: Vec<u8>,
        sender: mpsc::Sender<(Stream, Captured)>,
    ) -> io::Result<()> {
        if let Some(stdin) = child.stdin.take() {
            thread::Builder::new().name("tenure-plugin-stdin".into()).spawn(move || feed(stdin, &input))?;
        }
        if let Some(stdout) = child.stdout.take() {
            let sender = sender.clone();
            thread::Builder::new().name("tenure-plugin-stdout".into()).spawn(move || {
                let _ = sender.send((Stream::Stdout, read_capped(stdout, STDOUT_CAP)));
            })?;
        } else {
            let _ = sender.send((Stream::Stdout, Ok((Vec::new(), false))));
        }
        if let Some(stderr) = child.stderr.take() {
            thread::Builder::new().name("tenure-plugin-stderr".into()).spawn(move || {
                let _ = sender.send((Stream::Stderr, read_capped(stderr, STDERR_CAP)));
            })?;
        } else {
            let _ = sender.send((Stream::Stderr, Ok((Vec::new(), false))));
        }
        Ok(())
    }

    /// Runs `action` and turns a non-zero exit into an error.
    fn run(&self, action: &'static str, input: Vec<u8>) -> Result<Outcome, ProviderError> {
        let outcome = self.call(action, input)?;
        if outcome.status.success() {
            Ok(outcome)
        } else {
            Err(ProviderError::Command {
                program: self.display.clone(),
                action,
                status: describe(outcome.status),
                stderr: self.clean(&outcome.stderr, MESSAGE_CAP),
            })
        }
    }

    fn change(&mut self, action: &'static str, tuple: &Tuple) -> Result<(), ProviderError> {
        ensure_own(&self.name, &tuple.resource)?;
        let input = encode(&WireGrant::of(tuple)).map_err(|detail| self.spawn_error(action, detail))?;
        self.run(action, input).map(|_| ())
    }

    /// Program output made safe to show: lossy UTF-8, secrets scrubbed, control characters
    /// (terminal escapes) neutralised, trimmed and capped.
    fn clean(&self, bytes: &[u8], cap: usize) -> String {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        let text = text.trim();
        let mut out: String = text
            .chars()
            .take(cap)
            .map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{fffd}' } else { c })
            .collect();
        if text.chars().nth(cap).is_some() {
            out.push_str("… (truncated)");
        }
        out
    }

    fn spawn_error(&self, action: &'static str, detail: String) -> ProviderError {
        ProviderError::Spawn { program: self.display.clone(), action, detail }
    }

    fn timeout_error(&self, action: &'static str) -> ProviderError {
        ProviderError::Timeout {
            program: self.display.clone(),
            action,
            timeout: humantime::format_duration(self.timeout).to_string(),
        }
    }
}

impl Provider for CommandProvider {
    fn read(&mut self, resources: &[ResourceId]) -> Result<Vec<Tuple>, ProviderError> {
        let wanted = Wanted::new(&self.name, resources)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let request = serde_json::json!({ "resources": wanted.locals() });
        let input = encode(&request).map_err(|detail| self.spawn_error("list", detail))?;
        let outcome = self.run("list", input)?;
        let bad_output = |detail: String| ProviderError::BadOutput {
            program: self.display.clone(),
            action: "list",
            detail,
            stderr: self.clean(&outcome.stderr, MESSAGE_CAP),
        };
        if outcome.stdout_overflow {
            return Err(bad_output(format!("it printed more than {} MiB", STDOUT_CAP / (1024 * 1024))));
        }
        let parsed: ListOutput = serde_json::from_slice(&outcome.stdout).map_err(|error| {
            let start = self.clean(&outcome.stdout, 120);
            let shown = if start.is_empty() { "nothing".to_owned() } else { format!("{start:?}") };
            bad_output(format!(
                "expected {{\"grants\":[{{\"resource\",\"role\",\"subject\"}},…]}} ({error}); it printed {shown}"
            ))
        })?;
        let mut tuples: Vec<Tuple> = parsed
            .grants
            .iter()
            .filter_map(|grant| wanted.tuple(&grant.resource, &grant.role, &grant.subject))
            .collect();
        tuples.sort();
        tuples.dedup();
        Ok(tuples)
    }

    fn grant(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change("grant", tuple)
    }

    fn revoke(&mut self, tuple: &Tuple) -> Result<(), ProviderError> {
        self.change("revoke", tuple)
    }
}

fn encode(value: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    let mut bytes =
        serde_json::to_vec(value).map_err(|error| format!("cannot encode the request: {error}"))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn feed(mut stdin: ChildStdin, input: &[u8]) {
    // A program that exits without reading its input closes the pipe; whether that is a
    // failure is for its exit status to say, not for the write.
    let _ = stdin.write_all(input);
}

/// Reads to the end, keeping at most `cap` bytes; the rest is drained and dropped so that the
/// program never blocks on a full pipe. The flag says whether anything was dropped.
fn read_capped(mut reader: impl Read, cap: usize) -> Captured {
    let mut kept = Vec::new();
    let mut overflow = false;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => return Ok((kept, overflow)),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let room = cap.saturating_sub(kept.len());
        let take = read.min(room);
        kept.extend_from_slice(&chunk[..take]);
        overflow |= take < read;
    }
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        // Past the end of the clock: no deadline can be expressed, so none applies.
        None => Some(Duration::from_secs(3600)),
        Some(deadline) => deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()),
    }
}

/// Kills the program and its process group, then reaps it. The group goes first, while the
/// unreaped program still pins its id, so the signal cannot reach an unrelated process.
fn kill_tree(child: &mut Child) {
    kill_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// Best effort: std cannot signal a process group, and `unsafe` is forbidden here, so this
/// uses the system's `kill`. Where there is none, only the program itself is killed.
fn kill_group(pid: u32) {
    #[cfg(unix)]
    for kill in ["/bin/kill", "/usr/bin/kill"] {
        if Path::new(kill).exists() {
            let _ = Command::new(kill)
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            return;
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}");
        }
    }
    status.to_string()
}

fn is_valid_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn id(text: &str) -> ResourceId {
        ResourceId::parse(text).unwrap()
    }

    fn tuple(resource: &str, role: &str, subject: &str) -> Tuple {
        Tuple { resource: id(resource), role: role.into(), subject: subject.into() }
    }

    /// Writes an executable `#!/bin/sh` plugin under `root`.
    fn plugin(root: &Path, name: &str, body: &str) {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn provider(root: &Path, program: &str, env: &[&str], timeout: Option<&str>) -> CommandProvider {
        let env: Vec<String> = env.iter().map(|name| name.to_string()).collect();
        CommandProvider::open("ext", program, &env, timeout, root).unwrap()
    }

    /// A plugin that keeps grants one per line, exactly as tenure sent them, in its working
    /// directory, and records the last `list` request.
    const LINE_STORE: &str = r#"
store=grants.lines
input=$(cat)
touch "$store"
case "$1" in
list) printf '%s' "$input" > last-list; printf '{"grants":[%s]}\n' "$(paste -sd, "$store")" ;;
grant) grep -qxF -e "$input" "$store" || printf '%s\n' "$input" >> "$store" ;;
revoke) grep -vxF -e "$input" "$store" > "$store.new"; mv "$store.new" "$store" ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac"#;

    #[test]
    fn list_grant_revoke_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "plugins/store", LINE_STORE);
        let mut ext = provider(dir.path(), "plugins/store", &[], None);
        let alice = tuple("ext:group/a", "member", "alice");
        let bob = tuple("ext:group/b", "admin", "Bob");
        let other = tuple("ext:group/c", "member", "carol");
        for t in [&alice, &alice, &bob, &other] {
            ext.grant(t).unwrap();
        }
        let lines = fs::read_to_string(dir.path().join("grants.lines")).unwrap();
        assert_eq!(
            lines,
            "{\"resource\":\"group/a\",\"role\":\"member\",\"subject\":\"alice\"}\n\
             {\"resource\":\"group/b\",\"role\":\"admin\",\"subject\":\"Bob\"}\n\
             {\"resource\":\"group/c\",\"role\":\"member\",\"subject\":\"carol\"}\n"
        );
        let read = ext.read(&[id("ext:group/b"), id("ext:group/a")]).unwrap();
        assert_eq!(read, vec![alice.clone(), bob.clone()]);
        assert_eq!(
            fs::read_to_string(dir.path().join("last-list")).unwrap(),
            r#"{"resources":["group/a","group/b"]}"#
        );
        ext.revoke(&alice).unwrap();
        ext.revoke(&alice).unwrap();
        assert_eq!(ext.read(&[id("ext:group/a"), id("ext:group/b")]).unwrap(), vec![bob]);
    }

    #[test]
    fn read_of_nothing_does_not_run_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let mut ext = provider(dir.path(), "plugins/missing", &[], None);
        assert_eq!(ext.read(&[]).unwrap(), vec![]);
        assert!(matches!(ext.read(&[id("ext:group/a")]), Err(ProviderError::Spawn { .. })));
    }

    #[test]
    fn failures_carry_stderr() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "fail", "cat >/dev/null; echo 'group not found: group/a' >&2; exit 1");
        let mut ext = provider(dir.path(), "fail", &[], None);
        let error = ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap_err();
        assert!(matches!(error, ProviderError::Command { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("group not found: group/a"), "{message}");
        assert!(message.contains("exit code 1"), "{message}");
        assert!(ext.read(&[id("ext:group/a")]).unwrap_err().to_string().contains("group not found"));
    }

    #[test]
    fn garbage_from_list_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("text", "echo 'Traceback (most recent call last):'"),
            ("empty", "true"),
            ("wrong-shape", r#"echo '{"grants":[{"resource":"group/a","role":"member"}]}'"#),
            ("array", "echo '[]'"),
        ] {
            plugin(dir.path(), name, body);
            let mut ext = provider(dir.path(), name, &[], None);
            let error = ext.read(&[id("ext:group/a")]).unwrap_err();
            assert!(matches!(error, ProviderError::BadOutput { .. }), "{name}: {error:?}");
        }
    }

    #[test]
    fn list_entries_for_other_or_invalid_resources_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        plugin(
            dir.path(),
            "list",
            r#"echo '{"grants":[{"resource":"group/a","role":"member","subject":"alice","extra":1},
            {"resource":"group/../a","role":"member","subject":"x"},
            {"resource":"ext:group/a","role":"member","subject":"y"},
            {"resource":"group/z","role":"member","subject":"z"}]}'"#,
        );
        let mut ext = provider(dir.path(), "list", &[], None);
        assert_eq!(ext.read(&[id("ext:group/a")]).unwrap(), vec![tuple("ext:group/a", "member", "alice")]);
    }

    #[test]
    fn a_hanging_program_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "hang", "sleep 30 & echo $! > sleep.pid; wait");
        let mut ext = provider(dir.path(), "hang", &[], Some("1s"));
        let started = Instant::now();
        let error = ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap_err();
        assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(error.to_string().contains("1s"), "{error}");
        // What the program started dies with it (checked where /proc shows it).
        let pid = fs::read_to_string(dir.path().join("sleep.pid")).unwrap();
        let stat = Path::new("/proc").join(pid.trim()).join("stat");
        if Path::new("/proc/self/stat").exists() {
            let gone = || fs::read_to_string(&stat).map_or(true, |text| text.contains(") Z "));
            let waited = Instant::now();
            while !gone() && waited.elapsed() < Duration::from_secs(1) {
                thread::sleep(Duration::from_millis(10));
            }
            assert!(gone(), "the plugin's child survived the timeout");
        }
    }

    #[test]
    fn a_background_child_holding_the_output_does_not_hang_the_run() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "daemon", "cat >/dev/null; sleep 30 & exit 0");
        let mut ext = provider(dir.path(), "daemon", &[], Some("1s"));
        let started = Instant::now();
        let error = ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap_err();
        assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn output_is_capped_without_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        // 5 MiB of stdout and 1 MiB of stderr, written before reading stdin.
        plugin(
            dir.path(),
            "chatty",
            "head -c 1048576 /dev/zero | tr '\\0' e >&2; head -c 5242880 /dev/zero | tr '\\0' o; cat >/dev/null",
        );
        let mut ext = provider(dir.path(), "chatty", &[], Some("10s"));
        let error = ext.read(&[id("ext:group/a")]).unwrap_err();
        assert!(matches!(error, ProviderError::BadOutput { .. }), "{error:?}");
        assert!(error.to_string().contains("more than 4 MiB"), "{error}");
        assert!(error.to_string().len() < MESSAGE_CAP + 500, "{}", error.to_string().len());
    }

    #[test]
    fn the_environment_holds_only_path_home_and_named_variables() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "env", "cat >/dev/null; env > seen-env");
        let parent = |key: &str| match key {
            "PATH" => Some(OsString::from("/usr/bin:/bin")),
            "HOME" => Some(OsString::from("/home/tenure")),
            "OKTA_TOKEN" => Some(OsString::from("okta-secret-value")),
            "AWS_SECRET" => Some(OsString::from("aws-secret-value")),
            _ => None,
        };
        let env = ["OKTA_TOKEN".to_owned(), "UNSET_VAR".to_owned()];
        let mut ext = CommandProvider::with_env("ext", "env", &env, None, dir.path(), parent).unwrap();
        ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap();
        let seen = fs::read_to_string(dir.path().join("seen-env")).unwrap();
        let mut names: Vec<&str> =
            seen.lines().filter_map(|line| line.split_once('=').map(|(name, _)| name)).collect();
        names.sort();
        // `PWD` is set by the shell itself, not passed by tenure.
        names.retain(|name| *name != "PWD");
        assert_eq!(names, ["HOME", "OKTA_TOKEN", "PATH"], "{seen}");
        assert!(seen.contains("OKTA_TOKEN=okta-secret-value"));
        assert!(!seen.contains("aws-secret-value"));
    }

    #[test]
    fn the_real_environment_is_not_inherited() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "env", "cat >/dev/null; env > seen-env");
        let mut ext = provider(dir.path(), "env", &[], None);
        ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap();
        let seen = fs::read_to_string(dir.path().join("seen-env")).unwrap();
        let inherited: Vec<String> = std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| !["PATH", "HOME", "PWD", "SHLVL", "_", "OLDPWD"].contains(&name.as_str()))
            .filter(|name| seen.lines().any(|line| line.starts_with(&format!("{name}="))))
            .collect();
        assert!(inherited.is_empty(), "leaked: {inherited:?}");
        if std::env::var_os("PATH").is_some() {
            assert!(seen.lines().any(|line| line.starts_with("PATH=")), "{seen}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "leak", "cat >/dev/null; echo \"auth failed for token $OKTA_TOKEN\" >&2; exit 4");
        let parent = |key: &str| (key == "OKTA_TOKEN").then(|| OsString::from("s3cr3t-t0ken"));
        let env = ["OKTA_TOKEN".to_owned()];
        let mut ext = CommandProvider::with_env("ext", "leak", &env, None, dir.path(), parent).unwrap();
        let message = ext.revoke(&tuple("ext:group/a", "member", "alice")).unwrap_err().to_string();
        assert!(!message.contains("s3cr3t-t0ken"), "{message}");
        assert!(message.contains("auth failed for token [redacted]"), "{message}");
        assert!(message.contains("exit code 4"), "{message}");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let root = Path::new("/tmp");
        for (env, timeout) in [
            (vec![], Some("soon")),
            (vec![], Some("0s")),
            (vec![], Some("400d")),
            (vec!["BAD=NAME".to_owned()], None),
            (vec!["1ST".to_owned()], None),
            (vec!["".to_owned()], None),
        ] {
            let result = CommandProvider::open("ext", "plugin", &env, timeout, root);
            assert!(matches!(result, Err(ProviderError::Config { .. })), "{env:?} {timeout:?}");
        }
        assert!(matches!(
            CommandProvider::open("ext", " ", &[], None, root),
            Err(ProviderError::Config { .. })
        ));
    }

    #[test]
    fn a_program_that_is_not_executable_gets_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("plain"), "#!/bin/sh\n").unwrap();
        let mut ext = provider(dir.path(), "plain", &[], None);
        let message = ext.grant(&tuple("ext:group/a", "member", "alice")).unwrap_err().to_string();
        assert!(message.contains("chmod +x"), "{message}");
    }

    #[test]
    fn foreign_tuples_are_refused_without_running() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "store", LINE_STORE);
        let mut ext = provider(dir.path(), "store", &[], None);
        assert!(matches!(
            ext.grant(&tuple("local:group/a", "member", "alice")),
            Err(ProviderError::Foreign { .. })
        ));
        assert!(!dir.path().join("grants.lines").exists());
    }

    #[test]
    fn the_shipped_example_plugin_speaks_the_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/ldap-groups.sh");
        let state = dir.path().join("ldap.json");
        let state_value = OsString::from(state.as_os_str());
        let parent = |key: &str| match key {
            "LDAP_GROUPS_FILE" => Some(state_value.clone()),
            _ => std::env::var_os(key).filter(|_| key == "PATH"),
        };
        let env = ["LDAP_GROUPS_FILE".to_owned()];
        let program = example.to_str().unwrap();
        let mut ldap =
            CommandProvider::with_env("ldap", program, &env, Some("10s"), dir.path(), parent).unwrap();

        let alice = tuple("ldap:group/admins", "member", "alice");
        let odd = tuple("ldap:group/ops", "member", "b\"o,b}");
        ldap.grant(&alice).unwrap();
        ldap.grant(&alice).unwrap();
        ldap.grant(&odd).unwrap();
        let file: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
        assert_eq!(file["grants"].as_array().unwrap().len(), 2, "{file}");
        assert_eq!(
            ldap.read(&[id("ldap:group/admins"), id("ldap:group/ops")]).unwrap(),
            vec![alice.clone(), odd.clone()]
        );
        assert_eq!(ldap.read(&[id("ldap:group/ops")]).unwrap(), vec![odd.clone()]);
        ldap.revoke(&alice).unwrap();
        ldap.revoke(&alice).unwrap();
        assert_eq!(ldap.read(&[id("ldap:group/admins"), id("ldap:group/ops")]).unwrap(), vec![odd]);

        let error = ldap.grant(&tuple("ldap:role/x", "member", "alice")).unwrap_err().to_string();
        assert!(error.contains("not a group"), "{error}");
        assert!(error.contains("exit code 3"), "{error}");
    }
}
