//! The `postgres` provider against a real, throwaway PostgreSQL server (see `pg_server`), through
//! the real binary with `TENURE_PG_URL` set, and through the library where a test needs to hand
//! the provider what no request file can carry.
//!
//! Roles are global to a PostgreSQL cluster, so each test names its roles with its own prefix.
//! tenure connects as a role with CREATEROLE and a password, not as a superuser, to prove the
//! privileges that docs/postgres-provider.md asks for; the password must never appear in any
//! output or in the audit log.

use std::process::Stdio;
use std::time::Duration;

use tenure::model::{ResourceId, Tuple};
use tenure::providers::{PostgresProvider, Provider};

use crate::pg_server::{PgServer, wait_until};
use crate::support::*;

const PASSWORD: &str = "Tenure-pw-7f3a9c";

/// A repository whose provider `pg` is PostgreSQL, with one additive resource `pg:role/<p>_app`
/// and one exclusive resource `pg:role/<p>_ops` that keeps `<p>_keeper`.
fn pg_repo(p: &str) -> TestRepo {
    let tenure = "version: 1\nforge: {kind: git}\nbranch: main\nadmins: [root-admin]\nproviders:\n  pg: {kind: postgres, url_env: TENURE_PG_URL}\ndefaults: {approvals: 1, max_duration: 90d}\nsafety: {max_revocations: 1000}\n";
    let catalog = format!(
        "resources:\n  - id: pg:role/{p}_app\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n  \
         - id: pg:role/{p}_ops\n    owners: [carol]\n    roles: [member]\n    manage: exclusive\n    keep: [{p}_keeper]\n    allow_empty: true\n  \
         - id: pg:role/{p}_rep\n    owners: [carol]\n    roles: [member]\n    allow_empty: true\n"
    );
    TestRepo::with_policy(tenure, &[("catalog/pg.yaml", &catalog)])
}

/// Creates tenure's login role (`<p>_tenure`, CREATEROLE, not a superuser) and the given
/// roles; returns the URL tenure connects with.
fn setup(server: &PgServer, p: &str, roles: &[&str]) -> String {
    let mut sql = format!("CREATE ROLE {p}_tenure LOGIN CREATEROLE PASSWORD '{PASSWORD}';");
    for role in roles {
        sql.push_str(&format!("CREATE ROLE {p}_{role};"));
    }
    server.sql(&sql);
    server.url(&format!("{p}_tenure"), PASSWORD)
}

fn env(url: &str) -> [(&str, &str); 1] {
    [("TENURE_PG_URL", url)]
}

fn plan_env(r: &TestRepo, now: &str, url: &str) -> Run {
    r.tenure_env(&["--now", now, "--format", "json", "plan"], &env(url))
}

/// Nothing tenure printed or logged holds the password.
#[track_caller]
fn assert_no_password(r: &TestRepo, runs: &[&Run]) {
    for run in runs {
        assert!(!run.all_output().contains(PASSWORD), "the password leaked:\n{}", run.all_output());
        assert!(!run.all_output().contains("panicked"), "tenure panicked:\n{}", run.all_output());
    }
    let audit = std::fs::read_to_string(r.audit_path()).unwrap_or_default();
    assert!(!audit.contains(PASSWORD), "the password leaked into the audit log:\n{audit}");
}

fn outcome_of<'a>(v: &'a serde_json::Value, subject: &str) -> &'a serde_json::Value {
    v["changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["subject"] == subject))
        .unwrap_or_else(|| panic!("no change for {subject}:\n{v:#}"))
}

#[test]
fn apply_grants_then_plan_is_empty_and_expiry_revokes() {
    let server = PgServer::shared();
    let p = "pa";
    let url = setup(server, p, &["app", "alice", "bob"]);
    let r = pg_repo(p);
    let app = format!("pg:role/{p}_app");
    let (alice, bob) = (format!("{p}_alice"), format!("{p}_bob"));
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &[&alice], &[(&app, "member")]).yaml());
        r.write(
            "requests/bob.yaml",
            &req("alice", &[&bob], &[(&app, "member")]).expires("2026-01-20").yaml(),
        );
    });

    let plan = plan_env(&r, NOW, &url);
    plan.expect_code(0);
    assert_changes(
        &plan.json(),
        vec![
            grant(&app, "member", &alice, "requests/alice.yaml"),
            grant(&app, "member", &bob, "requests/bob.yaml"),
        ],
    );
    assert_eq!(server.members(&format!("{p}_app")), Vec::<String>::new(), "plan changes nothing");

    let apply = r.apply_env(NOW, &[], &env(&url));
    apply.expect_code(0);
    assert_eq!(server.members(&format!("{p}_app")), [alice.clone(), bob.clone()]);
    let again = plan_env(&r, NOW, &url);
    again.expect_code(0);
    assert_changes(&again.json(), vec![]);

    // Past bob's expiry: his membership, and only his, is revoked.
    let later = "2026-01-25T00:00:00Z";
    let expiry = r.apply_env(later, &[], &env(&url));
    expiry.expect_code(0);
    assert_changes(&expiry.json(), vec![revoke(&app, "member", &bob, "expired", "requests/bob.yaml")]);
    assert_eq!(server.members(&format!("{p}_app")), [alice.as_str()]);
    let settled = plan_env(&r, later, &url);
    settled.expect_code(0);
    assert_changes(&settled.json(), vec![]);

    let audit = r.audit();
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert!(audit.iter().all(|line| line["outcome"] == "ok"), "{audit:#?}");
    assert_no_password(&r, &[&plan, &apply, &again, &expiry, &settled]);
}

#[test]
fn exclusive_mode_revokes_drift_but_keeps_keep() {
    let server = PgServer::shared();
    let p = "pd";
    let url = setup(server, p, &["ops", "alice", "mallory", "keeper"]);
    let r = pg_repo(p);
    let ops = format!("pg:role/{p}_ops");
    let alice = format!("{p}_alice");
    // Granted behind tenure's back, directly in the database.
    server.sql(&format!("GRANT {p}_ops TO {p}_mallory; GRANT {p}_ops TO {p}_keeper;"));
    r.merge("Ops access", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &[&alice], &[(&ops, "member")]).yaml());
    });

    let plan = plan_env(&r, NOW, &url);
    plan.expect_code(0);
    assert_changes(
        &plan.json(),
        vec![
            grant(&ops, "member", &alice, "requests/alice.yaml"),
            revoke_drift(&ops, "member", &format!("{p}_mallory")),
        ],
    );
    let apply = r.apply_env(NOW, &[], &env(&url));
    apply.expect_code(0);
    assert_eq!(server.members(&format!("{p}_ops")), [alice, format!("{p}_keeper")]);
    let again = plan_env(&r, NOW, &url);
    again.expect_code(0);
    let v = again.json();
    assert_changes(&v, vec![]);
    assert_drift(&v, &[(&ops, "member", &format!("{p}_keeper"))]);
    assert_no_password(&r, &[&plan, &apply, &again]);
}

#[test]
fn sql_injection_in_role_names_is_refused_and_harmless() {
    let server = PgServer::shared();
    let p = "pi";
    let url = setup(server, p, &["app", "admin", "alice"]);
    server.sql(&format!("GRANT {p}_app TO {p}_admin;"));
    let app = format!("pg:role/{p}_app");
    let evil = format!("{p}_alice\"; DROP ROLE {p}_admin; --");

    // Through a request file: the subject is not a role name, so the file grants nothing.
    let r = pg_repo(p);
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/evil.yaml", &req("alice", &[&evil], &[(&app, "member")]).yaml());
    });
    let apply = r.apply_env(NOW, &[], &env(&url));
    apply.expect_code(1);
    let v = apply.json();
    assert_rejected(&v, &[("requests/evil.yaml", "invalid-field")]);
    assert_changes(&v, vec![]);

    // Straight to the provider, past the request checks: refused before any SQL is sent.
    let mut pg = PostgresProvider::with_url("pg", "TENURE_PG_URL", &url).unwrap();
    let resource = ResourceId::parse(&app).unwrap();
    for subject in [evil.as_str(), "x\" WITH ADMIN OPTION; --", "a b", "", "Robert'); DROP TABLE x;--"] {
        let tuple = Tuple { resource: resource.clone(), role: "member".into(), subject: subject.into() };
        let error = pg.grant(&tuple).unwrap_err().to_string();
        assert!(error.contains("nothing was sent"), "{subject:?}: {error}");
        assert!(pg.revoke(&tuple).is_err(), "{subject:?}");
    }
    assert!(server.role_exists(&format!("{p}_admin")), "the injection dropped a role");
    assert_eq!(server.members(&format!("{p}_app")), [format!("{p}_admin")]);

    // A member that the database holds under a name tenure would never write (made by hand
    // with a quote in it) is read, shown as drift in exclusive mode, and its revoke fails
    // cleanly instead of being spliced into SQL.
    let weird = format!("{p}_we\"ird; DROP ROLE {p}_admin");
    server.sql(&format!(
        "CREATE ROLE \"{}\"; GRANT {p}_app TO \"{}\";",
        weird.replace('"', "\"\""),
        weird.replace('"', "\"\"")
    ));
    let read = pg.read(std::slice::from_ref(&resource)).unwrap();
    assert!(read.iter().any(|t| t.subject == weird), "{read:?}");
    let tuple = Tuple { resource, role: "member".into(), subject: weird.clone() };
    assert!(pg.revoke(&tuple).unwrap_err().to_string().contains("nothing was sent"));
    assert!(server.role_exists(&format!("{p}_admin")));
    assert!(server.role_exists(&weird));
    assert_no_password(&r, &[&apply]);
}

#[test]
fn grants_and_revokes_are_idempotent_and_read_only_managed_roles() {
    let server = PgServer::shared();
    let p = "pl";
    let url = setup(server, p, &["app", "other", "alice", "bob"]);
    server.sql(&format!("GRANT {p}_other TO {p}_bob;"));
    let mut pg = PostgresProvider::with_url("pg", "TENURE_PG_URL", &url).unwrap();
    let app = ResourceId::parse(&format!("pg:role/{p}_app")).unwrap();
    let missing = ResourceId::parse(&format!("pg:role/{p}_nosuchrole")).unwrap();
    let alice = Tuple { resource: app.clone(), role: "member".into(), subject: format!("{p}_alice") };
    pg.grant(&alice).unwrap();
    pg.grant(&alice).unwrap();
    assert_eq!(pg.read(&[app.clone(), missing.clone()]).unwrap(), vec![alice.clone()]);
    pg.revoke(&alice).unwrap();
    pg.revoke(&alice).unwrap();
    assert_eq!(pg.read(&[app.clone(), missing.clone()]).unwrap(), vec![]);
    assert_eq!(server.members(&format!("{p}_other")), [format!("{p}_bob")], "an unmanaged role is untouched");
    // A role that does not exist is a failed change, with the server's reason.
    let ghost = Tuple { resource: missing, role: "member".into(), subject: format!("{p}_alice") };
    let error = pg.grant(&ghost).unwrap_err().to_string();
    assert!(error.contains("does not exist"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(!format!("{pg:?}").contains(PASSWORD));
}

#[test]
fn a_missing_subject_role_fails_alone_and_the_rest_apply() {
    let server = PgServer::shared();
    let p = "pm";
    let url = setup(server, p, &["app", "alice", "carl"]);
    let r = pg_repo(p);
    let app = format!("pg:role/{p}_app");
    let (alice, carl, ghost) = (format!("{p}_alice"), format!("{p}_carl"), format!("{p}_ghost"));
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/team.yaml", &req("alice", &[&alice, &ghost, &carl], &[(&app, "member")]).yaml());
    });
    let apply = r.apply_env(NOW, &[], &env(&url));
    apply.expect_code(1);
    let v = apply.json();
    assert_eq!(outcome_of(&v, &alice)["outcome"], "ok", "{v:#}");
    assert_eq!(outcome_of(&v, &carl)["outcome"], "ok", "{v:#}");
    let failed = outcome_of(&v, &ghost);
    assert_eq!(failed["outcome"], "error", "{v:#}");
    let message = failed["error"].as_str().unwrap_or_default();
    assert!(message.contains(&ghost) && message.contains("does not exist"), "{message}");
    assert_eq!(server.members(&format!("{p}_app")), [alice.clone(), carl.clone()]);
    let audit = r.audit();
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert_eq!(audit.iter().filter(|line| line["outcome"] == "error").count(), 1, "{audit:#?}");

    // Once the role exists, the next run grants it and nothing else.
    server.sql(&format!("CREATE ROLE {ghost};"));
    let rerun = r.apply_env(NOW, &[], &env(&url));
    rerun.expect_code(0);
    assert_changes(&rerun.json(), vec![grant(&app, "member", &ghost, "requests/team.yaml")]);
    assert_eq!(server.members(&format!("{p}_app")), [alice, carl, ghost]);
    assert_no_password(&r, &[&apply, &rerun]);
}

/// The server dies between two changes of one `apply`. The second change is held on a lock
/// that an open transaction of the test owns (it inserted the same membership and has not
/// committed), so the server is stopped exactly when the first change has committed and the
/// second is in flight. The run reports the lost changes, and the rerun converges: nothing
/// lost, nothing done twice.
#[test]
fn the_server_going_away_mid_apply_is_repaired_by_the_next_run() {
    let server = PgServer::start();
    let p = "px";
    let url = setup(&server, p, &["app", "ops", "rep", "alice", "bob", "carl"]);
    let r = pg_repo(p);
    let (app, ops, rep) =
        (format!("pg:role/{p}_app"), format!("pg:role/{p}_ops"), format!("pg:role/{p}_rep"));
    let (alice, bob, carl) = (format!("{p}_alice"), format!("{p}_bob"), format!("{p}_carl"));
    r.merge("Access", "alice", &["carol"], T1, |r| {
        r.write("requests/a.yaml", &req("alice", &[&alice], &[(&app, "member")]).yaml());
        r.write("requests/b.yaml", &req("alice", &[&bob], &[(&ops, "member")]).yaml());
        r.write("requests/c.yaml", &req("alice", &[&carl], &[(&rep, "member")]).yaml());
    });
    // Plan order is by resource: app, ops, rep.
    let want = vec![
        grant(&app, "member", &alice, "requests/a.yaml"),
        grant(&ops, "member", &bob, "requests/b.yaml"),
        grant(&rep, "member", &carl, "requests/c.yaml"),
    ];

    let mut blocker = server.admin();
    let mut hold = blocker.transaction().unwrap();
    hold.batch_execute(&format!("GRANT {p}_ops TO {p}_bob")).unwrap();

    let audit = r.audit_path().to_string_lossy().into_owned();
    let mut tenure = std::process::Command::new(assert_cmd::cargo::cargo_bin("tenure"))
        .current_dir(r.root())
        .args([
            "--repo",
            &r.dir().to_string_lossy(),
            "--now",
            NOW,
            "--format",
            "json",
            "apply",
            "--audit",
            &audit,
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("TENURE_PG_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tenure apply");

    let mut watcher = server.admin();
    let blocked = wait_until(Duration::from_secs(60), || {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenure' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap();
        row.get::<_, i64>(0) == 1
    });
    if !blocked {
        let _ = tenure.kill();
    }
    assert!(blocked, "tenure never reached the second change");
    assert_eq!(server.members(&format!("{p}_app")), [alice.as_str()], "the first change has committed");
    server.stop();
    drop(hold);
    drop(blocker);
    drop(watcher);

    let out = tenure.wait_with_output().expect("wait for tenure");
    let first = Run {
        args: vec!["apply".into()],
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    first.expect_code(1);
    let v = first.json();
    assert_changes(&v, want.clone());
    assert_eq!(outcome_of(&v, &alice)["outcome"], "ok", "{v:#}");
    assert_eq!(outcome_of(&v, &bob)["outcome"], "error", "{v:#}");
    assert_eq!(outcome_of(&v, &carl)["outcome"], "error", "{v:#}");
    let lost = outcome_of(&v, &carl)["error"].as_str().unwrap_or_default().to_owned();
    assert!(lost.contains(&format!("cannot grant {p}_rep to {carl}: cannot connect")), "{lost}");

    server.restart();
    assert_eq!(
        server.members(&format!("{p}_ops")),
        Vec::<String>::new(),
        "the held grant died with the server"
    );
    let rerun = r.apply_env(NOW, &[], &env(&url));
    rerun.expect_code(0);
    assert_changes(
        &rerun.json(),
        vec![grant(&ops, "member", &bob, "requests/b.yaml"), grant(&rep, "member", &carl, "requests/c.yaml")],
    );
    assert_eq!(server.members(&format!("{p}_app")), [alice.as_str()]);
    assert_eq!(server.members(&format!("{p}_ops")), [bob.as_str()]);
    assert_eq!(server.members(&format!("{p}_rep")), [carl.as_str()]);
    plan_env(&r, NOW, &url).expect_code(0);

    // Every attempt is one valid JSON line; each grant succeeded exactly once.
    let lines = r.audit();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for subject in [&alice, &bob, &carl] {
        let ok = lines.iter().filter(|l| l["subject"] == subject.as_str() && l["outcome"] == "ok").count();
        assert_eq!(ok, 1, "{subject}: {lines:#?}");
    }
    assert_no_password(&r, &[&first, &rerun]);
}

#[test]
fn sslmode_require_refuses_a_server_without_tls() {
    let server = PgServer::shared();
    let p = "pt";
    let url = setup(server, p, &["app", "alice"]);
    let r = pg_repo(p);
    let app = format!("pg:role/{p}_app");
    let alice = format!("{p}_alice");
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &[&alice], &[(&app, "member")]).yaml());
    });
    let tls_url = format!("{url}?sslmode=require");
    for run in [plan_env(&r, NOW, &tls_url), r.apply_env(NOW, &[], &env(&tls_url))] {
        run.expect_code(2);
        let output = run.all_output();
        assert!(output.contains("TLS"), "{output}");
        assert!(output.contains("sslmode=require"), "{output}");
        assert_no_password(&r, &[&run]);
    }
    assert_eq!(server.members(&format!("{p}_app")), Vec::<String>::new());
    // The same server without the TLS demand works, so the refusal was TLS's.
    r.apply_env(NOW, &[], &env(&url)).expect_code(0);
    assert_eq!(server.members(&format!("{p}_app")), [alice]);
}

#[test]
fn a_wrong_password_or_missing_url_stops_the_run_before_any_change() {
    let server = PgServer::shared();
    let p = "pw";
    let url = setup(server, p, &["app", "alice"]);
    let r = pg_repo(p);
    let app = format!("pg:role/{p}_app");
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &[&format!("{p}_alice")], &[(&app, "member")]).yaml());
    });
    let wrong = url.replace(PASSWORD, "Wrong-pw-12345");
    let run = r.apply_env(NOW, &[], &env(&wrong));
    run.expect_code(2);
    assert!(run.all_output().contains("password authentication failed"), "{}", run.all_output());
    assert!(!run.all_output().contains("Wrong-pw-12345"), "{}", run.all_output());

    let run = r.apply(NOW, &[]);
    run.expect_code(2);
    assert!(run.all_output().contains("TENURE_PG_URL"), "{}", run.all_output());
    assert_eq!(server.members(&format!("{p}_app")), Vec::<String>::new());
    assert_no_password(&r, &[&run]);
}

/// A private CA, and a certificate it signed for 127.0.0.1: `(ca_pem, cert_pem, key_pem)`.
fn private_ca() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "tenure test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// `sslmode=require` really uses TLS, and verifies the server: with the private CA in
/// `SSL_CERT_FILE` the run works on a server that refuses tenure's role without TLS; without
/// the CA, the certificate is not trusted and nothing changes.
#[test]
fn sslmode_require_uses_tls_and_verifies_the_certificate() {
    let (ca, cert, key) = private_ca();
    let p = "ps";
    let server = PgServer::start_tls(&cert, &key, &format!("{p}_tenure"));
    let url = setup(&server, p, &["app", "alice"]);
    let r = pg_repo(p);
    let app = format!("pg:role/{p}_app");
    let alice = format!("{p}_alice");
    r.merge("App access", "alice", &["carol"], T1, |r| {
        r.write("requests/alice.yaml", &req("alice", &[&alice], &[(&app, "member")]).yaml());
    });
    let ca_file = r.root().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let ca_env = ca_file.to_string_lossy().into_owned();
    let tls_url = format!("{url}?sslmode=require");

    // Without TLS the server turns tenure's role away, so a success below went through TLS.
    let plain = r.apply_env(NOW, &[], &env(&url));
    plain.expect_code(2);
    assert!(plain.all_output().contains("pg_hba.conf"), "{}", plain.all_output());

    // The CA is not among the platform's roots: the certificate is refused.
    let untrusted = r.apply_env(NOW, &[], &env(&tls_url));
    untrusted.expect_code(2);
    assert!(untrusted.all_output().contains("certificate"), "{}", untrusted.all_output());
    assert_eq!(server.members(&format!("{p}_app")), Vec::<String>::new());

    let trusted =
        r.apply_env(NOW, &[], &[("TENURE_PG_URL", tls_url.as_str()), ("SSL_CERT_FILE", ca_env.as_str())]);
    trusted.expect_code(0);
    assert_eq!(server.members(&format!("{p}_app")), [alice.as_str()]);
    assert_no_password(&r, &[&plain, &untrusted, &trusted]);
}
