//! The binary itself: a bad configuration stops it with a message and a non-zero exit, and the
//! `token` command signs tokens the server accepts.

use crate::support::{Backend, TestApp, TestDb, SECRET};
use std::process::Command;

/// A secret long enough for HS256.
const LONG_SECRET: &str = "a-secret-for-the-cli-tests-0123456789";

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portage-ledger"));
    for name in ["PORTAGE_DATABASE_URL", "PORTAGE_JWT_SECRET", "PORTAGE_BIND"] {
        command.env_remove(name);
    }
    command
}

#[test]
fn serve_refuses_a_bad_configuration() {
    let run = |envs: &[(&str, &str)]| {
        let output = binary()
            .arg("serve")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stderr) = run(&[
        ("PORTAGE_DATABASE_URL", "mysql://db/portage"),
        ("PORTAGE_JWT_SECRET", LONG_SECRET),
    ]);
    assert!(
        !ok && stderr.contains("unsupported database URL"),
        "{stderr}"
    );
    let (ok, stderr) = run(&[("PORTAGE_DATABASE_URL", "sqlite:///nonexistent-dir/x.db")]);
    assert!(!ok && stderr.contains("PORTAGE_JWT_SECRET"), "{stderr}");
    let (ok, stderr) = run(&[
        ("PORTAGE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("PORTAGE_JWT_SECRET", LONG_SECRET),
        ("PORTAGE_DB_TIMEOUT_MS", "500"),
    ]);
    assert!(
        !ok && stderr.contains("cannot reach the database"),
        "{stderr}"
    );
    let (ok, stderr) = run(&[
        ("PORTAGE_DB_POOL_SIZE", "0"),
        ("PORTAGE_JWT_SECRET", LONG_SECRET),
    ]);
    assert!(!ok && stderr.contains("PORTAGE_DB_POOL_SIZE"), "{stderr}");
    let (ok, stderr) = run(&[
        ("PORTAGE_DATABASE_URL", "sqlite:///nonexistent-dir/x.db"),
        ("PORTAGE_JWT_SECRET", "hunter2"),
    ]);
    assert!(!ok && stderr.contains("at least 32"), "{stderr}");
}

/// A database that answers but cannot be written stops `serve` with a message saying so, rather
/// than a server that starts healthy and refuses every write (PostgreSQL: a read-only database
/// stands for a standby server; as root, a file's permissions cannot make SQLite read-only).
#[test]
fn serve_refuses_a_database_it_cannot_write() {
    let Some((db, _)) = TestDb::create(Backend::Postgres) else {
        return;
    };
    db.make_read_only();
    let mut child = binary()
        .arg("serve")
        .env("PORTAGE_DATABASE_URL", db.url_text())
        .env("PORTAGE_JWT_SECRET", LONG_SECRET)
        .env("PORTAGE_BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that started anyway would run on: it is stopped after a while and fails the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status =
        status.unwrap_or_else(|| panic!("serve started on a read-only database: {stderr}"));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("read-only"), "{stderr}");
}

#[test]
fn token_refuses_a_role_without_its_id() {
    let output = binary()
        .args(["token", "--role", "employer"])
        .env("PORTAGE_JWT_SECRET", LONG_SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let output = binary()
        .args(["token", "--role", "admin"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "no secret, no token");
}

async fn tokens_from_the_command_are_accepted(app: &TestApp) {
    let employer = app.employer("E").await;
    let output = binary()
        .args([
            "token",
            "--role",
            "employer",
            "--employer-id",
            &employer,
            "--ttl",
            "60",
        ])
        .env("PORTAGE_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    let read = app
        .get(&format!("/v1/employers/{employer}"), token.trim())
        .await
        .expect(200);
    assert_eq!(read.body["id"], employer.as_str());
    // A sign-in link to the page carries the same kind of token in its fragment.
    let output = binary()
        .args(["token", "--role", "employer", "--employer-id", &employer])
        .args(["--link", &format!("{}/", app.base)])
        .env("PORTAGE_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success());
    let link = String::from_utf8(output.stdout).unwrap();
    let (page, token) = link.trim().split_once("#token=").unwrap();
    assert_eq!(page, format!("{}/app/", app.base));
    app.get(&format!("/v1/employers/{employer}"), token)
        .await
        .expect(200);
}

crate::on_both_databases!(tokens_from_the_command_are_accepted);
