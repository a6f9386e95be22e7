//! A throwaway PostgreSQL server for the tests, started from the installed binaries on a free
//! loopback port in a temporary directory.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user, in a
//! directory that user owns. The tests share one server per run of the test binary
//! ([`PgServer::shared`]), each with its own role names; a test that stops the server starts
//! its own ([`PgServer::start`]). A static is never dropped, and a panic may skip `Drop`, so
//! every server also has a watchdog: a shell that waits for its standard input to close, which
//! happens when this process ends however it ends, and then stops the server and removes its
//! directory. Missing binaries fail the tests with the command that installs them; they never
//! pass silently.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

/// The superuser that `initdb` creates.
pub const ADMIN: &str = "tenure_admin";
const ADMIN_PASSWORD: &str = "admin-pw-not-secret";

/// One PostgreSQL server.
pub struct PgServer {
    tmp: TempDir,
    bin: PathBuf,
    /// `Some("postgres")` when the tests run as root.
    user: Option<&'static str>,
    pub port: u16,
    watchdog: Mutex<Option<Child>>,
}

impl PgServer {
    /// The server shared by every test of this run, started on first use.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// A server of its own, for a test that stops or restarts it.
    pub fn start() -> PgServer {
        PgServer::start_with(None)
    }

    /// A server of its own that offers TLS with `cert` and `key` (PEM), and refuses any
    /// connection of the role `tls_only` that does not use it.
    pub fn start_tls(cert: &str, key: &str, tls_only: &str) -> PgServer {
        PgServer::start_with(Some((cert, key, tls_only)))
    }

    fn start_with(tls: Option<(&str, &str, &str)>) -> PgServer {
        let bin = find_binaries();
        let user = running_as_root().then_some("postgres");
        let tmp = tempfile::Builder::new().prefix("tenure-pg-").tempdir().expect("tempdir");
        if let Some(user) = user {
            let (uid, gid) = (id(&["-u", user]), id(&["-g", user]));
            std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)).expect("chown the server's directory");
        }
        let pwfile = tmp.path().join("pwfile");
        fs::write(&pwfile, format!("{ADMIN_PASSWORD}\n")).expect("write pwfile");
        let data = tmp.path().join("data");
        let owner = user.map(|user| (id(&["-u", user]), id(&["-g", user])));
        let mut server = PgServer { tmp, bin, user, port: 0, watchdog: Mutex::new(None) };
        server.run_ok(
            "initdb",
            &[
                "-D",
                &path_str(&data),
                "-U",
                ADMIN,
                &format!("--pwfile={}", path_str(&pwfile)),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let mut ssl = "ssl = off\n".to_owned();
        if let Some((cert, key, tls_only)) = tls {
            let (cert_path, key_path) =
                (server.tmp.path().join("server.crt"), server.tmp.path().join("server.key"));
            fs::write(&cert_path, cert).expect("write the certificate");
            fs::write(&key_path, key).expect("write the key");
            // PostgreSQL refuses a key that others can read.
            fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).expect("chmod the key");
            if let Some((uid, gid)) = owner {
                for path in [&cert_path, &key_path] {
                    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown the TLS files");
                }
            }
            ssl = format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                path_str(&cert_path),
                path_str(&key_path)
            );
            let hba = data.join("pg_hba.conf");
            let rules = fs::read_to_string(&hba).expect("read pg_hba.conf");
            fs::write(&hba, format!("hostnossl all {tls_only} 127.0.0.1/32 reject\n{rules}"))
                .expect("write pg_hba.conf");
        }
        // Several tries, because another process may take the free port before the server does.
        for attempt in 1..=3 {
            server.port = free_port();
            let conf = format!(
                "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n\
                 max_connections = 50\n{ssl}",
                server.port,
                path_str(server.tmp.path())
            );
            fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .and_then(|mut file| file.write_all(conf.as_bytes()))
                .expect("write postgresql.conf");
            if server.pg_ctl_start() {
                break;
            }
            assert!(attempt < 3, "PostgreSQL did not start:\n{}", server.log());
        }
        server.start_watchdog();
        server
    }

    fn data(&self) -> String {
        path_str(&self.tmp.path().join("data"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }

    /// `program args`, as the server's user.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        command.args(args).current_dir(self.tmp.path()).env("LC_ALL", "C");
        command
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let out = self.command(program, args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) -> bool {
        let log = path_str(&self.tmp.path().join("server.log"));
        let data = self.data();
        let out = self
            .command("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        out.status.success()
    }

    /// Stops the server at once, as a crash would: open connections are cut.
    pub fn stop(&self) {
        let data = self.data();
        self.run_ok("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts a stopped server again on the same port and data.
    pub fn restart(&self) {
        assert!(self.pg_ctl_start(), "PostgreSQL did not restart:\n{}", self.log());
    }

    fn start_watchdog(&self) {
        let pg_ctl = path_str(&self.bin.join("pg_ctl"));
        // The shared server's directory is never dropped either, so the watchdog removes it.
        let script =
            r#"cat >/dev/null; "$0" -D "$1" -m immediate -w stop >/dev/null 2>&1; rm -rf "$2"; exit 0"#;
        let mut command = match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--", "sh"]);
                command
            }
            None => Command::new("sh"),
        };
        let child = command
            .args(["-c", script, &pg_ctl, &self.data(), &path_str(self.tmp.path())])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server's watchdog");
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    }

    /// A connection URL for `user` with `password` (`postgresql://user:password@127.0.0.1:port/postgres`).
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("postgresql://{user}:{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// A superuser connection.
    pub fn admin(&self) -> postgres::Client {
        let params = format!(
            "host=127.0.0.1 port={} user={ADMIN} password={ADMIN_PASSWORD} dbname=postgres application_name=tests",
            self.port
        );
        postgres::Client::connect(&params, postgres::NoTls).expect("connect as the test superuser")
    }

    /// Runs SQL as the superuser.
    pub fn sql(&self, sql: &str) {
        self.admin().batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// The members of `role`, sorted.
    pub fn members(&self, role: &str) -> Vec<String> {
        let rows = self
            .admin()
            .query(
                "SELECT m.rolname::text FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid \
                 JOIN pg_roles m ON m.oid = am.member WHERE r.rolname::text = $1 ORDER BY 1",
                &[&role],
            )
            .expect("read members");
        rows.iter().map(|row| row.get(0)).collect()
    }

    /// Whether a role named exactly `role` exists.
    pub fn role_exists(&self, role: &str) -> bool {
        self.admin()
            .query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname::text = $1)", &[&role])
            .expect("read roles")
            .get(0)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]).output();
        if let Some(mut child) = self.watchdog.lock().unwrap_or_else(|e| e.into_inner()).take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}

/// The directory that holds `initdb` and `pg_ctl`: Debian's versioned directory (newest
/// first), or else `PATH`.
fn find_binaries() -> PathBuf {
    let mut candidates: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.filter_map(|entry| entry.ok()).map(|entry| entry.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort_by_key(|path| {
        let version = path.parent().and_then(|p| p.file_name()).and_then(|v| v.to_str()).unwrap_or("");
        std::cmp::Reverse(version.parse::<u32>().unwrap_or(0))
    });
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| {
            dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() && dir.join("postgres").is_file()
        })
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests need the server binaries (initdb, pg_ctl, postgres), found neither in \
                 /usr/lib/postgresql/*/bin nor on PATH; install them with `apt-get install postgresql` \
                 (.ci/run does this)"
            )
        })
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    assert!(out.status.success(), "id {args:?}: the `postgres` user is needed to run PostgreSQL as root");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Polls `ready` until it holds, for at most `limit`; false if it never did. Waiting is bounded,
/// and no test asserts on how long anything took.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if ready() {
            return true;
        }
        thread::sleep(step);
        waited += step;
    }
    ready()
}
