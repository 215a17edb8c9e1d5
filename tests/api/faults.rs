//! The fault test: a server killed with SIGKILL under concurrent writes, on each backend, then
//! restarted. Every acknowledged write is there exactly once, every write in flight at the kill
//! retried concurrently with its key creates at most one cost (exactly one once its key is
//! taken over), and the ledger still balances.

use crate::processes::{self, free_port, token, url_text, Server};
use crate::support::{Backend, TestDb};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Writers racing while the server is killed.
const WRITERS: usize = 8;

/// A keyed write: its key, the number its body was made from, and its answer (`None`: the
/// server died under it).
type Write = (String, usize, Option<(u16, Value)>);

async fn start(database: &str, port: u16) -> Server {
    processes::start(
        database,
        port,
        &[("PORTAGE_IDEMPOTENCY_ABANDON_SECONDS", "2")],
    )
    .await
}

/// Sends a request; `None` when no answer came (the server died under it).
async fn send(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Option<(u16, Value)> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let mut request = client
        .request(
            actix_web::http::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(key) = key {
        request = request.insert_header(("Idempotency-Key", key));
    }
    let mut response = match body {
        Some(body) => request.send_json(body).await.ok()?,
        None => request.send().await.ok()?,
    };
    let bytes = response.body().limit(16 * 1024 * 1024).await.ok()?;
    Some((
        response.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn cost_body(n: usize) -> Value {
    json!({"month": "2026-01", "category": "salary", "amount": format!("{}.{:02}", 10 + n % 90, n % 100)})
}

async fn killed_under_writes(backend: Backend) {
    let Some((_db, url)) = TestDb::create(backend) else {
        return;
    };
    let database = url_text(&url);
    let port = free_port();
    let mut server = start(&database, port).await;
    let base = server.base.clone();
    let admin = token("admin", None);
    let (_, employer) = send(
        &base,
        &admin,
        "POST",
        "/v1/employers",
        Some(&json!({"name": "Fault", "kind": "association"})),
        None,
    )
    .await
    .unwrap();
    let employer = employer["id"].as_str().unwrap().to_owned();
    let writer = token("employer", Some(&employer));
    let (status, post) = send(
        &base,
        &writer,
        "POST",
        "/v1/posts",
        Some(
            &json!({"employer_id": employer, "title": "Médiateur", "territory": "QP059034",
                     "activity": "housing", "fte": "1.00", "start_month": "2026-01",
                     "monthly_budget": "3000.00"}),
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{post}");
    let post = post["id"].as_str().unwrap().to_owned();
    let costs_path = format!("/v1/posts/{post}/costs");

    // Writers: each key once, its answer kept (None: the server died under it).
    let answers: Rc<RefCell<Vec<Write>>> = Rc::default();
    let stop = Rc::new(std::cell::Cell::new(false));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (answers, stop, base, writer, path) = (
            answers.clone(),
            stop.clone(),
            base.clone(),
            writer.clone(),
            costs_path.clone(),
        );
        tasks.push(actix_rt::spawn(async move {
            let mut i = 0;
            while !stop.get() {
                let n = w * 100_000 + i;
                let key = format!("fault-{n}");
                let answer = send(
                    &base,
                    &writer,
                    "POST",
                    &path,
                    Some(&cost_body(n)),
                    Some(&key),
                )
                .await;
                let died = answer.is_none();
                answers.borrow_mut().push((key, n, answer));
                if died {
                    return;
                }
                i += 1;
            }
        }));
    }
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.set(true);
    for task in tasks {
        task.await.unwrap();
    }
    let answers = answers.borrow().clone();
    let acknowledged: HashMap<String, String> = answers
        .iter()
        .filter_map(|(key, _, a)| match a {
            Some((201, body)) => Some((key.clone(), body["id"].as_str().unwrap().to_owned())),
            _ => None,
        })
        .collect();
    let in_flight: Vec<(String, usize)> = answers
        .iter()
        .filter(|(_, _, a)| a.is_none())
        .map(|(k, n, _)| (k.clone(), *n))
        .collect();
    eprintln!(
        "{backend:?}: {} writes acknowledged before the kill, {} in flight",
        acknowledged.len(),
        in_flight.len()
    );
    assert!(acknowledged.len() > 10, "the writers wrote before the kill");
    assert!(
        answers
            .iter()
            .all(|(_, _, a)| a.as_ref().is_none_or(|(s, _)| *s == 201)),
        "before the kill every write succeeded"
    );

    // Restart; retry every write in flight, three times at once each, until it is decided.
    let server = start(&database, port).await;
    let mut created_by_retry: HashMap<String, HashSet<String>> = HashMap::new();
    for (key, n) in &in_flight {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = cost_body(*n);
            let tries = (0..3).map(|_| {
                send(
                    &server.base,
                    &writer,
                    "POST",
                    &costs_path,
                    Some(&body),
                    Some(key),
                )
            });
            let results = futures_util::future::join_all(tries).await;
            let mut decided = false;
            for (status, body) in results.into_iter().flatten() {
                match status {
                    201 => {
                        created_by_retry
                            .entry(key.clone())
                            .or_default()
                            .insert(body["id"].as_str().unwrap().to_owned());
                        decided = true;
                    }
                    409 => assert_eq!(body["code"], "idempotency_key_in_flight"),
                    other => panic!("retry of {key} answered {other}: {body}"),
                }
            }
            if decided {
                break;
            }
            assert!(Instant::now() < deadline, "{key} stayed in flight");
            actix_rt::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for (key, ids) in &created_by_retry {
        assert_eq!(ids.len(), 1, "{key}: concurrent retries created {ids:?}");
    }

    // What is stored: every acknowledged cost once, one per decided key, nothing else.
    let mut stored: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = send(
            &server.base,
            &writer,
            "GET",
            &format!("{costs_path}?limit=1000{cursor}"),
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{page}");
        stored.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let stored_ids: Vec<&str> = stored.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = stored_ids.iter().copied().collect();
    assert_eq!(unique.len(), stored_ids.len(), "a cost stored twice");
    for id in acknowledged.values() {
        assert!(unique.contains(id.as_str()), "acknowledged cost {id} lost");
    }
    for ids in created_by_retry.values() {
        assert!(ids.iter().all(|id| unique.contains(id.as_str())));
    }
    assert_eq!(
        stored_ids.len(),
        acknowledged.len() + created_by_retry.len(),
        "one cost per decided key and no other"
    );
    // The ledger balances: every entry's debits are its credits.
    let (status, balances) = send(
        &server.base,
        &writer,
        "GET",
        &format!("/v1/ledger/balances?employer_id={employer}"),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{balances}");
    let cents = |v: &Value| -> i64 {
        let text = v.as_str().unwrap();
        let negative = text.starts_with('-');
        let (units, hundredths) = text.trim_start_matches('-').split_once('.').unwrap();
        let value = units.parse::<i64>().unwrap() * 100 + hundredths.parse::<i64>().unwrap();
        if negative {
            -value
        } else {
            value
        }
    };
    let rows = balances["items"].as_array().unwrap();
    let total: i64 = rows.iter().map(|r| cents(&r["balance"])).sum();
    assert_eq!(total, 0, "the balances do not sum to zero: {balances}");
    let costs_total: i64 = stored.iter().map(|c| cents(&c["amount"])).sum();
    let debit_6: i64 = rows
        .iter()
        .filter(|r| r["account"].as_str().is_some_and(|a| a.starts_with('6')))
        .map(|r| cents(&r["balance"]))
        .sum();
    assert_eq!(
        debit_6, costs_total,
        "the cost accounts hold every stored cost"
    );
}

#[actix_rt::test]
async fn a_server_killed_under_writes_loses_and_doubles_nothing_on_sqlite() {
    killed_under_writes(Backend::Sqlite).await;
}

#[actix_rt::test]
async fn a_server_killed_under_writes_loses_and_doubles_nothing_on_postgres() {
    killed_under_writes(Backend::Postgres).await;
}
