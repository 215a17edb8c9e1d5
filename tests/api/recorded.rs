//! Who did what: every recorded resource and journal entry reads back the token's `sub` and
//! role and when, and each request's id is answered in `X-Request-Id` and stored with what
//! it recorded.

use crate::money_in::{call_body, three_allocated_months};
use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::auth::{now_seconds, Claims};
use portage_ledger::db::schema::{calls, costs, journal_entries};
use serde_json::{json, Value};

/// An employer's token for a named person (`sub`).
pub fn person(app: &TestApp, sub: &str, employer: &str) -> String {
    app.sign(&Claims {
        sub: sub.into(),
        role: "employer".into(),
        employer_id: Some(employer.into()),
        funder_id: None,
        exp: now_seconds() + 600,
        iat: Some(now_seconds()),
        nbf: None,
    })
}

fn assert_recorded(value: &Value, sub: &str, role: &str) {
    assert_eq!(
        value["recorded_by"],
        json!({"sub": sub, "role": role}),
        "{value}"
    );
    assert!(
        value["recorded_at"].as_str().is_some_and(|t| t.len() >= 20),
        "{value}"
    );
}

async fn every_record_says_who_made_it(app: &TestApp) {
    let (employer, post, funders) = three_allocated_months(app).await;
    let marie = person(app, "marie.dupont", &employer);
    let employers_seen = app
        .get(&format!("/v1/employers/{employer}"), &app.admin())
        .await
        .expect(200);
    assert_recorded(&employers_seen.body, "test-admin", "admin");
    let post_seen = app
        .get(&format!("/v1/posts/{post}"), &marie)
        .await
        .expect(200);
    assert_recorded(&post_seen.body, "test-employer", "employer");

    // A call issued by Marie, under a request id of the client's.
    let body = call_body(
        &employer,
        &funders["state"],
        "2026-01",
        "2026-03",
        "2026-04-02",
    );
    let issued = app
        .send(
            "POST",
            "/v1/calls",
            Some(&marie),
            Some(&body.to_string()),
            &[("X-Request-Id", "req-call-0001")],
        )
        .await
        .expect(201);
    assert_eq!(
        issued.header("x-request-id").as_deref(),
        Some("req-call-0001")
    );
    assert_recorded(&issued.body, "marie.dupont", "employer");
    let call_id = issued.body["id"].as_str().unwrap().to_owned();

    // Its credit note, issued by the operator, says so; the call still says Marie.
    let cancelled = app
        .post(
            &format!("/v1/calls/{call_id}/cancel"),
            &app.admin(),
            &json!({}),
        )
        .await
        .expect(200);
    assert_recorded(&cancelled.body, "marie.dupont", "employer");
    assert_recorded(&cancelled.body["credit_note"], "test-admin", "admin");

    let payment = app
        .post(
            "/v1/payments",
            &marie,
            &json!({"employer_id": employer, "funder_id": funders["state"], "amount": "10.00",
                    "received_on": "2026-04-20", "reference": "VIR-1"}),
        )
        .await
        .expect(201);
    assert_recorded(&payment.body, "marie.dupont", "employer");
    let cost = app
        .post(
            &format!("/v1/posts/{post}/costs"),
            &marie,
            &json!({"month": "2026-04", "category": "training", "amount": "80.00"}),
        )
        .await
        .expect(201);
    assert_recorded(&cost.body, "marie.dupont", "employer");
    let cost_id = cost.body["id"].as_str().unwrap().to_owned();
    let reversal = app
        .post(
            &format!("/v1/costs/{cost_id}/reverse"),
            &app.admin(),
            &json!({"reason": "doublon"}),
        )
        .await
        .expect(201);
    assert_recorded(&reversal.body, "test-admin", "admin");
    let commitments = app
        .get(&format!("/v1/commitments?post_id={post}"), &marie)
        .await
        .expect(200);
    for commitment in commitments.body["items"].as_array().unwrap() {
        assert_recorded(commitment, "test-employer", "employer");
    }

    // Every journal entry says who posted it: the call's is Marie's, its credit note the
    // operator's, the first costs and allocations the test employer's.
    let journal = app
        .get(
            "/v1/ledger/entries?limit=1000",
            &app.token("employer", Some(&employer)),
        )
        .await
        .expect(200);
    let entries = journal.body["items"].as_array().unwrap();
    let by_kind = |kind: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| &e["recorded_by"])
            .collect()
    };
    assert_eq!(
        by_kind("call"),
        vec![&json!({"sub": "marie.dupont", "role": "employer"})]
    );
    assert_eq!(
        by_kind("credit_note"),
        vec![&json!({"sub": "test-admin", "role": "admin"})]
    );
    assert!(by_kind("allocation")
        .iter()
        .all(|r| **r == json!({"sub": "test-employer", "role": "employer"})));
    assert!(entries.iter().all(|e| e["recorded_at"].is_string()));

    // The request id is stored with the call and its entry; a request without one is given one.
    let mut conn = app.pool.get().unwrap();
    let stored: Option<String> = calls::table
        .find(&call_id)
        .select(calls::request_id)
        .first(&mut *conn)
        .unwrap();
    assert_eq!(stored.as_deref(), Some("req-call-0001"));
    let entry_ids: Vec<Option<String>> = journal_entries::table
        .filter(journal_entries::kind.eq("call"))
        .select(journal_entries::request_id)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(entry_ids, vec![Some("req-call-0001".to_owned())]);
    let generated = cost.header("x-request-id").unwrap();
    let cost_request: Option<String> = costs::table
        .find(&cost_id)
        .select(costs::request_id)
        .first(&mut *conn)
        .unwrap();
    assert_eq!(cost_request.as_deref(), Some(generated.as_str()));
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    // A client's id that is not a plain short token is replaced, not stored or echoed.
    let long = "x".repeat(65);
    let answer = app
        .send("GET", "/healthz", None, None, &[("X-Request-Id", &long)])
        .await
        .expect(200);
    assert_ne!(answer.header("x-request-id"), Some(long));
}

crate::on_both_databases!(every_record_says_who_made_it);
