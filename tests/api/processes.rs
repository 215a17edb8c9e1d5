//! `serve` as a separate process, for the tests that kill it: started on a database of the
//! test's own, waited for until healthy, killed when dropped.

use crate::support::SECRET;
use portage_ledger::auth::{now_seconds, Claims, TokenKeys};
use portage_ledger::db::DatabaseUrl;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `serve` process.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL a database was created under, as `PORTAGE_DATABASE_URL` takes it.
pub fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
        DatabaseUrl::Postgres(url) => url.clone(),
    }
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` on `database` and `port` with the test secret and `envs`, and waits until
/// `/healthz` answers.
pub async fn start(database: &str, port: u16, envs: &[(&str, &str)]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_portage-ledger"))
        .arg("serve")
        .env("PORTAGE_DATABASE_URL", database)
        .env("PORTAGE_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("PORTAGE_BIND", format!("127.0.0.1:{port}"))
        .env("PORTAGE_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = awc::Client::default()
            .get(format!("{}/healthz", server.base))
            .send()
            .await
        {
            if response.status().is_success() {
                return server;
            }
        }
        assert!(Instant::now() < deadline, "the server did not start");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token signed with the test secret.
pub fn token(role: &str, employer_id: Option<&str>) -> String {
    let now = now_seconds();
    TokenKeys::from_secret(SECRET)
        .unwrap()
        .sign(&Claims {
            sub: format!("process-{role}"),
            role: role.into(),
            employer_id: employer_id.map(str::to_owned),
            funder_id: None,
            exp: now + 900,
            iat: Some(now),
            nbf: None,
        })
        .unwrap()
}
