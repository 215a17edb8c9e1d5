//! Webhook delivery across server processes: a server killed with SIGKILL during a delivery
//! delivers it after a restart under the same `webhook-id`, and two servers on one PostgreSQL
//! deliver each message once.

use crate::processes::{self, url_text, Server};
use crate::support::{Backend, TestDb};
use crate::webhooks::Receiver;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const DELIVERY: &[(&str, &str)] = &[
    ("PORTAGE_WEBHOOK_ALLOW_HTTP", "1"),
    ("PORTAGE_WEBHOOK_ALLOW_PRIVATE", "1"),
    ("PORTAGE_WEBHOOK_TIMEOUT_MS", "2000"),
    ("PORTAGE_WEBHOOK_POLL_MS", "100"),
];

async fn start(database: &str) -> Server {
    processes::start(database, processes::free_port(), DELIVERY).await
}

fn mission_token() -> String {
    processes::token("mission", None)
}

async fn call(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let request = client
        .request(
            actix_web::http::Method::from_bytes(method.as_bytes()).unwrap(),
            url,
        )
        .insert_header(("Authorization", format!("Bearer {}", mission_token())));
    let mut response = match body {
        Some(body) => request.send_json(&body).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let bytes = response.body().await.unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn subscribe(server: &Server, receiver_base: &str) -> String {
    let (status, body) = call(
        "POST",
        format!("{}/v1/webhooks", server.base),
        Some(json!({"url": format!("{receiver_base}/hook"), "types": ["webhook.test"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn send_test(server: &Server, hook: &str) -> String {
    let (status, body) = call(
        "POST",
        format!("{}/v1/webhooks/{hook}/test", server.base),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["event_id"].as_str().unwrap().to_owned()
}

async fn until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_server_killed_during_a_delivery_delivers_it_after_restart() {
    let (_db, url) = TestDb::create(Backend::Sqlite).unwrap();
    let database = url_text(&url);
    let (receiver, receiver_base) = Receiver::start().await;
    receiver.hold(1);
    let mut first = start(&database).await;
    let hook = subscribe(&first, &receiver_base).await;
    let message = send_test(&first, &hook).await;
    until("the first attempt", Duration::from_secs(20), || {
        !receiver.got().is_empty()
    })
    .await;
    // SIGKILL while the receiver holds the request: nothing of the attempt is recorded.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = start(&database).await;
    // The dead server's lease runs out (its time-out and a margin) and the restart sends it.
    until("the attempt after restart", Duration::from_secs(30), || {
        receiver.got().len() >= 2
    })
    .await;
    let got = receiver.got();
    assert_eq!(got[0].id(), message);
    assert_eq!(
        got[1].id(),
        message,
        "the same webhook-id after the restart"
    );
    assert_eq!(got[0].body, got[1].body, "the same body");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, deliveries) = call(
            "GET",
            format!("{}/v1/webhooks/{hook}/deliveries", second.base),
            None,
        )
        .await;
        if deliveries["items"][0]["status"] == "delivered" {
            assert_eq!(deliveries["items"][0]["event_id"], message.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "{deliveries}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn two_servers_on_one_postgres_deliver_each_message_once() {
    let Some((_db, url)) = TestDb::create(Backend::Postgres) else {
        return;
    };
    let database = url_text(&url);
    let (receiver, receiver_base) = Receiver::start().await;
    let one = start(&database).await;
    let two = start(&database).await;
    let hook = subscribe(&one, &receiver_base).await;
    let mut sent = Vec::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &one } else { &two };
        sent.push(send_test(server, &hook).await);
    }
    until("every message", Duration::from_secs(30), || {
        receiver.got().len() >= sent.len()
    })
    .await;
    // Time for a duplicate to arrive, were there one.
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let got = receiver.got();
    for r in &got {
        *seen.entry(r.id().to_owned()).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "duplicates: {seen:?}");
    assert_eq!(seen.len(), sent.len());
    // In order: one in flight per webhook, oldest first.
    let order: Vec<&str> = got.iter().map(|r| r.id()).collect();
    assert_eq!(order, sent.iter().map(String::as_str).collect::<Vec<_>>());
}
