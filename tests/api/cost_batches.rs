//! Costs sent at once: on PostgreSQL they are written in batches (`db/cost_writer.rs`), on
//! SQLite in the group commit. Each request must still be answered as if it had come alone:
//! its own refusal, its own `recorded_by` and request id, and nothing recorded that was refused.

use crate::recorded::person;
use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::{month_balances, schema::costs, DbConnection};
use portage_ledger::domain::ids::EmployerId;
use portage_ledger::domain::Date;
use serde_json::json;
use std::time::Instant;

/// What one of the concurrent requests is, and what it must get.
#[derive(Clone, Copy, Debug)]
enum Sent {
    /// Recorded, by this `sub` and role.
    Recorded(&'static str, &'static str),
    /// Refused with this status and problem code.
    Refused(u16, &'static str),
}

async fn concurrent_costs_are_answered_each_their_own_way(app: &TestApp) {
    let employer = app.employer("E").await;
    let other = app.employer("F").await;
    let post = app.post_of(&employer, "2026-01", "5000.00").await;
    app.post(
        "/v1/periods/close",
        &app.admin(),
        &json!({"employer_id": employer, "month": "2026-01"}),
    )
    .await
    .expect(200);
    let marie = person(app, "marie", &employer);
    let paul = person(app, "paul", &employer);
    let stranger = person(app, "zoe", &other);
    let admin = app.admin();
    let path = format!("/v1/posts/{post}/costs");
    let plan: Vec<(&str, String, Sent)> = (0..48)
        .map(|i| {
            let amount = format!("{}.{:02}", 10 + i, i);
            let cost = |month: &str| {
                json!({"month": month, "category": "salary", "amount": amount}).to_string()
            };
            match i % 6 {
                0 => (
                    marie.as_str(),
                    cost("2026-03"),
                    Sent::Recorded("marie", "employer"),
                ),
                1 => (
                    paul.as_str(),
                    cost("2026-04"),
                    Sent::Recorded("paul", "employer"),
                ),
                2 => (
                    admin.as_str(),
                    cost("2026-05"),
                    Sent::Recorded("test-admin", "admin"),
                ),
                3 => (
                    stranger.as_str(),
                    cost("2026-03"),
                    Sent::Refused(404, "not_found"),
                ),
                4 => (
                    marie.as_str(),
                    cost("2026-01"),
                    Sent::Refused(409, "period_closed"),
                ),
                _ => (
                    paul.as_str(),
                    cost("2025-12"),
                    Sent::Refused(409, "outside_post_months"),
                ),
            }
        })
        .collect();
    let answers = futures_util::future::join_all(
        plan.iter()
            .map(|(token, body, _)| app.send("POST", &path, Some(token), Some(body), &[])),
    )
    .await;

    let mut conn = app.pool.get().unwrap();
    let mut recorded_cents = 0;
    let mut recorded = 0;
    for (i, ((_, body, sent), answer)) in plan.iter().zip(answers).enumerate() {
        match *sent {
            Sent::Recorded(sub, role) => {
                assert_eq!(answer.status, 201, "request {i}: {}", answer.text);
                assert_eq!(
                    answer.body["recorded_by"],
                    json!({"sub": sub, "role": role}),
                    "request {i}"
                );
                let sent: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(answer.body["amount"], sent["amount"], "request {i}");
                assert_eq!(answer.body["month"], sent["month"], "request {i}");
                let id = answer.body["id"].as_str().unwrap().to_owned();
                let (request_id, stored_sub, cents): (Option<String>, String, i64) = costs::table
                    .filter(
                        costs::id.eq(id.parse::<portage_ledger::domain::ids::CostId>().unwrap()),
                    )
                    .select((
                        costs::request_id,
                        costs::recorded_by_sub,
                        costs::amount_cents,
                    ))
                    .first(&mut conn)
                    .unwrap();
                let answered_id = answer
                    .headers
                    .get("X-Request-Id")
                    .unwrap()
                    .to_str()
                    .unwrap();
                assert_eq!(request_id.as_deref(), Some(answered_id), "request {i}");
                assert_eq!(stored_sub, sub, "request {i}");
                recorded_cents += cents;
                recorded += 1;
            }
            Sent::Refused(status, code) => {
                answer.problem(status, code);
            }
        }
    }
    let stored: Vec<i64> = costs::table
        .select(costs::amount_cents)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        stored.len(),
        recorded,
        "every 201 is stored, nothing refused is"
    );
    assert_eq!(stored.iter().sum::<i64>(), recorded_cents);
    let id: EmployerId = employer.parse().unwrap();
    let day = Date::parse("2026-12-31").unwrap();
    let mut read = portage_ledger::db::ledger::balances(&mut conn, Some(id), Some(day)).unwrap();
    let mut summed = month_balances::summed_from_lines(&mut conn, Some(id), day).unwrap();
    read.sort();
    summed.sort();
    assert_eq!(
        read, summed,
        "the running balances are the sum of the lines"
    );
    crate::books::check_ledger_invariants(app);
}

/// An employer locked by a run or a close (here, its row held from outside) makes its own costs
/// wait for the lock, and nobody else's: on PostgreSQL the batch never waits for a lock.
async fn a_locked_employer_holds_up_only_its_own_costs(app: &TestApp) {
    let locked = app.employer("E").await;
    let free = app.employer("F").await;
    let locked_post = app.post_of(&locked, "2026-01", "5000.00").await;
    let free_post = app.post_of(&free, "2026-01", "5000.00").await;
    let mut holder = app.pool.get().unwrap();
    if !matches!(*holder, DbConnection::Postgresql(_)) {
        // SQLite's write transaction holds the whole database: there is no one employer's lock.
        return;
    }
    let (held, is_held) = tokio::sync::oneshot::channel();
    let employer_id: EmployerId = locked.parse().unwrap();
    let holding = std::thread::spawn(move || {
        holder
            .transaction(|conn| {
                diesel::sql_query("SELECT id FROM employers WHERE id = $1 FOR UPDATE")
                    .bind::<diesel::sql_types::Text, _>(employer_id.to_string())
                    .execute(conn)?;
                held.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1500));
                Ok::<_, diesel::result::Error>(Instant::now())
            })
            .unwrap()
    });
    is_held.await.unwrap();
    let body = json!({"month": "2026-03", "category": "salary", "amount": "12.34"}).to_string();
    let locked_token = app.token("employer", Some(&locked));
    let free_token = app.token("employer", Some(&free));
    let timed = |token: String, post: String| {
        let body = body.clone();
        async move {
            let answer = app
                .send(
                    "POST",
                    &format!("/v1/posts/{post}/costs"),
                    Some(&token),
                    Some(&body),
                    &[],
                )
                .await;
            (answer, Instant::now())
        }
    };
    let ((locked_answer, locked_at), (free_answer, free_at)) = futures_util::future::join(
        timed(locked_token, locked_post),
        timed(free_token, free_post),
    )
    .await;
    let released = holding.join().unwrap();
    locked_answer.expect(201);
    free_answer.expect(201);
    assert!(
        free_at < released,
        "another employer's cost was answered while the lock was held"
    );
    assert!(
        locked_at >= released,
        "the locked employer's cost waited for the lock"
    );
    crate::books::check_ledger_invariants(app);
}

crate::on_both_databases!(
    concurrent_costs_are_answered_each_their_own_way,
    a_locked_employer_holds_up_only_its_own_costs
);
