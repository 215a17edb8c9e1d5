//! Webhooks: subscribed per scope, delivered signed and in order to a real receiver on port 0,
//! retried on the schedule (with a set clock, not by sleeping), disabled on 410 or after five
//! days of failures.

use crate::books::worked_example;
use crate::money_in::call_body;
use crate::support::TestApp;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use portage_ledger::delivery::{Clock, Deliverer, DeliverySettings};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// A request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }
}

/// An answer a receiver is told to give: its status and `Retry-After`.
type Scripted = (u16, Option<String>);

/// A webhook receiver on 127.0.0.1: records what it gets and answers the statuses it is told
/// (204 when told nothing).
#[derive(Clone, Default)]
pub struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<Scripted>>>,
    always: Arc<Mutex<Option<u16>>>,
    hold: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let shared = receiver.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .default_service(web::to(answer))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        (receiver, base)
    }

    /// What came, each message checked against the document's `WebhookMessage`.
    pub fn got(&self) -> Vec<Received> {
        let got = self.got.lock().unwrap().clone();
        for r in &got {
            if let Err(difference) =
                crate::response_contract::check_component("WebhookMessage", &r.json())
            {
                panic!(
                    "a delivery differs from openapi.yaml's WebhookMessage: {difference}\n{}",
                    r.body
                );
            }
        }
        got
    }

    pub fn at(&self, path: &str) -> Vec<Received> {
        self.got().into_iter().filter(|r| r.path == path).collect()
    }

    /// The next answers, in order (status, `Retry-After`).
    pub fn answer(&self, status: u16, retry_after: Option<&str>) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, retry_after.map(str::to_owned)));
    }

    /// The next `n` requests get no answer for a minute (a receiver that hangs).
    pub fn hold(&self, n: usize) {
        self.hold.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The answer when none is queued.
    pub fn always(&self, status: u16) {
        *self.always.lock().unwrap() = Some(status);
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, me: web::Data<Receiver>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    me.got.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let held = me
        .hold
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok();
    if held {
        actix_rt::time::sleep(Duration::from_secs(60)).await;
    }
    let queued = me.answers.lock().unwrap().pop_front();
    let (status, retry_after) =
        queued.unwrap_or_else(|| (me.always.lock().unwrap().unwrap_or(204), None));
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(wait) = retry_after {
        response.insert_header(("Retry-After", wait));
    }
    response.finish()
}

/// Checks a signature header the way a receiver would, with nothing of the service's code.
pub fn verifies(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body
        )
        .as_bytes(),
    );
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.headers["webhook-signature"]
        .split(' ')
        .any(|s| s == expected)
}

/// A clock a test sets.
pub struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn deliverer(app: &TestApp, clock: Arc<TestClock>) -> Deliverer {
    Deliverer::new(
        app.write_pool.clone(),
        DeliverySettings {
            allow_http: true,
            allow_private: true,
            timeout: Duration::from_secs(5),
            poll: Duration::from_millis(100),
        },
        clock,
    )
}

/// Passes until one makes no attempt; answers the attempts made.
async fn drain(deliverer: &Deliverer) -> usize {
    let mut total = 0;
    for _ in 0..50 {
        let made = deliverer.tick().await.unwrap();
        if made == 0 {
            return total;
        }
        total += made;
    }
    panic!("the queues never emptied");
}

async fn subscribe(app: &TestApp, token: &str, url: &str, types: &[&str]) -> (String, String) {
    let made = app
        .post(
            "/v1/webhooks",
            token,
            &json!({"url": url, "types": types, "description": "test"}),
        )
        .await
        .expect(201);
    assert!(made
        .header("location")
        .unwrap()
        .ends_with(made.body["id"].as_str().unwrap()));
    (
        made.body["id"].as_str().unwrap().to_owned(),
        made.body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn each_party_receives_its_own_events_signed_and_in_order(app: &TestApp) {
    let (receiver, base) = Receiver::start().await;
    let (employer, post, funders) = worked_example(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
    let b = &funders["B"];
    let kinds = ["allocation.posted", "call.issued"];
    let (_, employer_secret) = subscribe(app, &token, &format!("{base}/employer"), &kinds).await;
    let (_, state_secret) = subscribe(
        app,
        &app.token("funder", Some(state)),
        &format!("{base}/state"),
        &kinds,
    )
    .await;
    let (b_hook, b_secret) = subscribe(
        app,
        &app.token("funder", Some(b)),
        &format!("{base}/b"),
        &kinds,
    )
    .await;
    let clock = TestClock::new();
    let deliverer = deliverer(app, clock.clone());
    // Nothing happened since they subscribed: nothing is sent.
    assert_eq!(drain(&deliverer).await, 0);
    for month in ["2026-01", "2026-02"] {
        app.post(
            &format!("/v1/posts/{post}/costs"),
            &token,
            &json!({"month": month, "category": "salary", "amount": "3127.45"}),
        )
        .await
        .expect(201);
        app.post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": month}),
        )
        .await
        .expect(200);
    }
    app.post(
        "/v1/calls",
        &token,
        &call_body(&employer, state, "2026-01", "2026-02", "2026-04-02"),
    )
    .await
    .expect(201);
    drain(&deliverer).await;
    // The employer: the two allocations then the call, with the cost.
    let mine = receiver.at("/employer");
    let types: Vec<Value> = mine.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            json!("allocation.posted"),
            json!("allocation.posted"),
            json!("call.issued")
        ]
    );
    assert_eq!(mine[0].json()["data"]["cost"], "3127.45");
    assert_eq!(mine[0].json()["data"]["month"], "2026-01");
    assert_eq!(mine[1].json()["data"]["month"], "2026-02");
    assert!(mine.iter().all(|r| verifies(&employer_secret, r)));
    assert!(
        !verifies(&state_secret, &mine[0]),
        "signed with its own secret"
    );
    // The webhook-ids are the events' ids, as the feed lists them.
    let feed = app
        .get("/v1/events?types=allocation.posted,call.issued", &token)
        .await
        .expect(200);
    let feed_ids: Vec<&str> = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(mine.iter().map(Received::id).collect::<Vec<_>>(), feed_ids);
    let first = &mine[0];
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(first.headers["webhook-timestamp"].parse::<i64>().is_ok());
    assert_eq!(
        first.json()["timestamp"],
        feed.body["items"][0]["occurred_at"]
    );
    // The State: its own lines only, no cost; its call.
    let theirs = receiver.at("/state");
    assert_eq!(theirs.len(), 3);
    assert!(theirs.iter().all(|r| verifies(&state_secret, r)));
    for allocation in &theirs[..2] {
        let data = allocation.json()["data"].clone();
        assert!(
            data.get("cost").is_none() && data.get("uncovered").is_none(),
            "{data}"
        );
        let lines = data["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["funder_id"], state.as_str());
    }
    assert_eq!(theirs[2].json()["type"], "call.issued");
    // B: its allocations, not the State's call; nothing of another funder in what it got.
    let bs = receiver.at("/b");
    assert_eq!(bs.len(), 2);
    assert!(bs.iter().all(|r| verifies(&b_secret, r)));
    for r in &bs {
        assert!(!r.body.contains(state.as_str()), "{}", r.body);
        assert!(!r.body.contains("3127.45"), "{}", r.body);
    }
    // An unchanged re-run records nothing and sends nothing.
    let before = receiver.got().len();
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .expect(200);
    drain(&deliverer).await;
    assert_eq!(receiver.got().len(), before);
    // The deliveries say what came of them.
    let deliveries = app
        .get(
            &format!("/v1/webhooks/{b_hook}/deliveries"),
            &app.token("funder", Some(b)),
        )
        .await
        .expect(200);
    let items = deliveries.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for d in items {
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["response_status"], 204);
        assert!(d["next_attempt_at"].is_null());
    }
}

async fn status_of(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    app.get(&format!("/v1/webhooks/{hook}/deliveries"), token)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn retries_follow_the_schedule(app: &TestApp) {
    let (receiver, base) = Receiver::start().await;
    receiver.always(500);
    let token = app.mission();
    let (hook, _) = subscribe(app, &token, &format!("{base}/m"), &["webhook.test"]).await;
    let first = app
        .post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    let second = app
        .post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    let clock = TestClock::new();
    clock.advance(Duration::from_secs(1));
    let deliverer = deliverer(app, clock.clone());
    let waits = [5u64, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
    assert_eq!(deliverer.tick().await.unwrap(), 1);
    for wait in waits {
        // One second early: nothing; on time: the next attempt.
        clock.advance(Duration::from_secs(wait - 1));
        assert_eq!(
            deliverer.tick().await.unwrap(),
            0,
            "early before the {wait} s retry"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            deliverer.tick().await.unwrap(),
            1,
            "the retry after {wait} s"
        );
    }
    // Eight attempts, all of the first message: the second waited behind it.
    let got = receiver.got();
    assert_eq!(got.len(), 8);
    let first_id = first.body["event_id"].as_str().unwrap();
    assert!(got.iter().all(|r| r.id() == first_id));
    let timestamps: Vec<i64> = got
        .iter()
        .map(|r| r.headers["webhook-timestamp"].parse().unwrap())
        .collect();
    let gaps: Vec<i64> = timestamps.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, waits.map(|w| w as i64));
    let deliveries = status_of(app, &token, &hook).await;
    let by_id = |id: &Value| deliveries.iter().find(|d| &d["id"] == id).unwrap().clone();
    let failed = by_id(&first.body["id"]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 8);
    assert_eq!(failed["response_status"], 500);
    // The webhook moves on to the second, which now succeeds.
    receiver.always(204);
    assert_eq!(drain(&deliverer).await, 1);
    assert_eq!(
        receiver.got().last().unwrap().id(),
        second.body["event_id"].as_str().unwrap()
    );
    // The failed one can be sent again, under the same webhook-id.
    let delivery_id = first.body["id"].as_str().unwrap();
    app.post(
        &format!("/v1/webhooks/{hook}/deliveries/{delivery_id}/retry"),
        &token,
        &json!({}),
    )
    .await
    .expect(202);
    assert_eq!(drain(&deliverer).await, 1);
    assert_eq!(receiver.got().last().unwrap().id(), first_id);
    // A delivered one cannot be retried.
    app.post(
        &format!("/v1/webhooks/{hook}/deliveries/{delivery_id}/retry"),
        &token,
        &json!({}),
    )
    .await
    .problem(409, "not_failed");
}

async fn retry_after_is_honoured_and_gone_disables(app: &TestApp) {
    let (receiver, base) = Receiver::start().await;
    let employer = app.employer("Médiation Sud").await;
    let token = app.token("employer", Some(&employer));
    let (hook, _) = subscribe(app, &token, &format!("{base}/e"), &["webhook.test"]).await;
    app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    let clock = TestClock::new();
    clock.advance(Duration::from_secs(1));
    let deliverer = deliverer(app, clock.clone());
    receiver.answer(503, Some("120"));
    assert_eq!(deliverer.tick().await.unwrap(), 1);
    clock.advance(Duration::from_secs(119));
    assert_eq!(deliverer.tick().await.unwrap(), 0);
    clock.advance(Duration::from_secs(1));
    receiver.answer(410, None);
    assert_eq!(deliverer.tick().await.unwrap(), 1);
    let webhook = app
        .get(&format!("/v1/webhooks/{hook}"), &token)
        .await
        .expect(200);
    assert_eq!(webhook.body["enabled"], false);
    assert_eq!(webhook.body["disabled_reason"], "gone");
    assert!(webhook.body.get("secret").is_none());
    // Disabled: nothing more is sent, and the owner is told by an event.
    app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(drain(&deliverer).await, 0);
    let events = app
        .get("/v1/events?types=webhook.disabled", &token)
        .await
        .expect(200);
    let items = events.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["data"]["webhook_id"], hook.as_str());
    assert_eq!(items[0]["data"]["reason"], "gone");
    assert_eq!(items[0]["employer_id"], employer.as_str());
    // Another employer does not see it.
    let other = app.employer("Autre").await;
    let theirs = app
        .get(
            "/v1/events?types=webhook.disabled",
            &app.token("employer", Some(&other)),
        )
        .await
        .expect(200);
    assert_eq!(theirs.body["items"], json!([]));
    // Enabled again by its owner, it sends what was queued.
    let enabled = app
        .send(
            "PATCH",
            &format!("/v1/webhooks/{hook}"),
            Some(&token),
            Some(r#"{"enabled": true}"#),
            &[],
        )
        .await
        .expect(200);
    assert_eq!(enabled.body["disabled_reason"], Value::Null);
    assert_eq!(drain(&deliverer).await, 1);
    assert_eq!(receiver.got().len(), 3);
}

async fn five_days_of_failures_disable(app: &TestApp) {
    let (receiver, base) = Receiver::start().await;
    receiver.always(500);
    let funder = app.funder("Bailleur", "social_landlord").await;
    let token = app.token("funder", Some(&funder));
    let (hook, _) = subscribe(app, &token, &format!("{base}/f"), &["webhook.test"]).await;
    for _ in 0..2 {
        app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
            .await
            .expect(202);
    }
    let clock = TestClock::new();
    clock.advance(Duration::from_secs(1));
    let deliverer = deliverer(app, clock.clone());
    // The first message's eight attempts span about 28 hours.
    for _ in 0..8 {
        deliverer.tick().await.unwrap();
        clock.advance(Duration::from_secs(36_000));
    }
    assert_eq!(receiver.got().len(), 8);
    let webhook = app
        .get(&format!("/v1/webhooks/{hook}"), &token)
        .await
        .expect(200);
    assert_eq!(webhook.body["enabled"], true);
    assert!(webhook.body["failing_since"].is_string());
    // Five days after the first failure, the next failure disables it.
    clock.advance(Duration::from_secs(5 * 86_400));
    assert_eq!(deliverer.tick().await.unwrap(), 1);
    let webhook = app
        .get(&format!("/v1/webhooks/{hook}"), &token)
        .await
        .expect(200);
    assert_eq!(webhook.body["enabled"], false);
    assert_eq!(webhook.body["disabled_reason"], "failing");
    let events = app
        .get("/v1/events?types=webhook.disabled", &token)
        .await
        .expect(200);
    assert_eq!(events.body["items"][0]["data"]["reason"], "failing");
    assert_eq!(events.body["items"][0]["employer_id"], Value::Null);
}

async fn a_rotated_secret_signs_beside_the_new_one(app: &TestApp) {
    let (receiver, base) = Receiver::start().await;
    let token = app.admin();
    let (hook, old) = subscribe(app, &token, &format!("{base}/a"), &["webhook.test"]).await;
    // A body that is not an object is refused, even for an operation that takes no fields
    // (serde would read an empty struct from `[]`); the secret did not change.
    for body in ["[]", "[1]", "null", "3"] {
        let refused = app
            .send(
                "POST",
                &format!("/v1/webhooks/{hook}/rotate-secret"),
                Some(&token),
                Some(body),
                &[],
            )
            .await
            .problem(422, "validation_failed");
        assert_eq!(refused.pointers(), vec!["/".to_owned()], "{body}");
    }
    let rotated = app
        .post(
            &format!("/v1/webhooks/{hook}/rotate-secret"),
            &token,
            &json!({}),
        )
        .await
        .expect(200);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    let clock = TestClock::new();
    clock.advance(Duration::from_secs(1));
    let deliverer = deliverer(app, clock.clone());
    assert_eq!(drain(&deliverer).await, 1);
    let got = &receiver.got()[0];
    assert!(verifies(&new, got) && verifies(&old, got));
    assert_eq!(got.headers["webhook-signature"].split(' ').count(), 2);
    // A day later the old secret no longer signs.
    app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    clock.advance(Duration::from_secs(86_401));
    assert_eq!(drain(&deliverer).await, 1);
    let later = &receiver.got()[1];
    assert!(verifies(&new, later) && !verifies(&old, later));
}

async fn webhooks_are_seen_by_their_scope_only(app: &TestApp) {
    let mine = app.employer("Mine").await;
    let other = app.employer("Other").await;
    let token = app.token("employer", Some(&mine));
    let stranger = app.token("employer", Some(&other));
    let (hook, _) = subscribe(
        app,
        &token,
        "https://hooks.example.org/portage",
        &["call.overdue"],
    )
    .await;
    let path = format!("/v1/webhooks/{hook}");
    for token in [&stranger, &app.mission(), &app.admin()] {
        app.get(&path, token).await.problem(404, "not_found");
        app.send("DELETE", &path, Some(token), None, &[])
            .await
            .problem(404, "not_found");
        app.post(&format!("{path}/test"), token, &json!({}))
            .await
            .problem(404, "not_found");
        let list = app.get("/v1/webhooks", token).await.expect(200);
        assert_eq!(list.body["items"], json!([]));
    }
    let list = app.get("/v1/webhooks", &token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(list.body["items"][0].get("secret").is_none());
    app.get(&path, &token).await.expect(200);
    // Bad input names its field.
    for (body, pointer) in [
        (
            json!({"url": "ftp://x.org/", "types": ["call.overdue"]}),
            "/url",
        ),
        (json!({"url": "https://x.org/", "types": []}), "/types"),
        (
            json!({"url": "https://x.org/", "types": ["call.overdue", "nope"]}),
            "/types/1",
        ),
    ] {
        let answer = app.post("/v1/webhooks", &token, &body).await.expect(422);
        assert_eq!(answer.pointers(), [pointer], "{body}");
    }
    app.post(
        "/v1/webhooks",
        &token,
        &json!({"url": "https://x.org/", "types": ["call.overdue"], "secret": "mine"}),
    )
    .await
    .expect(422);
    let changed = app
        .send(
            "PATCH",
            &path,
            Some(&token),
            Some(r#"{"types": ["post.risk_changed", "call.overdue"], "description": null}"#),
            &[("If-Match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(
        changed.body["types"],
        json!(["call.overdue", "post.risk_changed"])
    );
    assert_eq!(changed.body["description"], Value::Null);
    app.send(
        "PATCH",
        &path,
        Some(&token),
        Some(r#"{"enabled": false}"#),
        &[("If-Match", "\"1\"")],
    )
    .await
    .problem(412, "version_mismatch");
    app.send("PATCH", &path, Some(&token), Some("{}"), &[])
        .await
        .expect(422);
    app.send("DELETE", &path, Some(&token), None, &[])
        .await
        .expect(204);
    app.get(&path, &token).await.problem(404, "not_found");
    // A creation retried with its key after the webhook was deleted creates it again rather
    // than answering a webhook that no longer exists.
    let body = r#"{"url": "https://hooks.example.org/a", "types": ["call.overdue"]}"#;
    let keyed = [("Idempotency-Key", "hook-1")];
    let first = app
        .send("POST", "/v1/webhooks", Some(&token), Some(body), &keyed)
        .await
        .expect(201);
    let replay = app
        .send("POST", "/v1/webhooks", Some(&token), Some(body), &keyed)
        .await
        .expect(201);
    assert_eq!(replay.body["id"], first.body["id"]);
    let first_path = format!("/v1/webhooks/{}", first.body["id"].as_str().unwrap());
    app.send("DELETE", &first_path, Some(&token), None, &[])
        .await
        .expect(204);
    let again = app
        .send("POST", "/v1/webhooks", Some(&token), Some(body), &keyed)
        .await
        .expect(201);
    assert_ne!(again.body["id"], first.body["id"]);
    let again_path = format!("/v1/webhooks/{}", again.body["id"].as_str().unwrap());
    app.get(&again_path, &token).await.expect(200);
}

/// A name that resolves to a private address is refused at delivery, however public it looks:
/// the check is on the addresses it resolves to, made where the connection is made.
async fn a_name_resolving_to_a_private_address_is_refused_at_delivery(app: &TestApp) {
    // The machine's own name resolves to a loopback or private address on these machines.
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let private = !host.is_empty()
        && std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 80))
            .map(|mut a| a.all(|a| !portage_ledger::domain::webhooks::is_public(a.ip())))
            .unwrap_or(false);
    if !private {
        eprintln!("NOTICE: the host name {host:?} does not resolve to a private address; skipped");
        return;
    }
    let (receiver, base) = Receiver::start().await;
    let port = base.rsplit(':').next().unwrap();
    let token = app.mission();
    let (hook, _) = subscribe(
        app,
        &token,
        &format!("http://{host}:{port}/named"),
        &["webhook.test"],
    )
    .await;
    app.post(&format!("/v1/webhooks/{hook}/test"), &token, &json!({}))
        .await
        .expect(202);
    let clock = TestClock::new();
    clock.advance(Duration::from_secs(1));
    let strict = Deliverer::new(
        app.write_pool.clone(),
        DeliverySettings {
            allow_http: true,
            allow_private: false,
            timeout: Duration::from_secs(5),
            poll: Duration::from_millis(100),
        },
        clock.clone(),
    );
    assert_eq!(strict.tick().await.unwrap(), 1);
    assert!(
        receiver.got().is_empty(),
        "nothing reached the private address"
    );
    let deliveries = status_of(app, &token, &hook).await;
    let error = deliveries[0]["error"].as_str().unwrap();
    assert!(error.contains("private"), "{error}");
    assert_eq!(deliveries[0]["status"], "pending");
    // Where private targets are allowed, the retry goes through.
    clock.advance(Duration::from_secs(5));
    assert_eq!(drain(&deliverer(app, clock.clone())).await, 1);
    assert_eq!(receiver.at("/named").len(), 1);
}

crate::on_both_databases!(
    a_name_resolving_to_a_private_address_is_refused_at_delivery,
    each_party_receives_its_own_events_signed_and_in_order,
    retries_follow_the_schedule,
    retry_after_is_honoured_and_gone_disables,
    five_days_of_failures_disable,
    a_rotated_secret_signs_beside_the_new_one,
    webhooks_are_seen_by_their_scope_only,
);
