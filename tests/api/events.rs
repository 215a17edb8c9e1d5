//! Events: recorded with the changes they report, listed in commit order, each party seeing
//! its own copy.

use crate::money_in::{call_body, three_allocated_months};
use crate::support::TestApp;
use serde_json::{json, Value};

async fn all_events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("/v1/events?limit=2{query}{cursor}"), token)
            .await
            .expect(200);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return items,
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn every_party_sees_its_own_events(app: &TestApp) {
    let (employer, post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
    let state_token = app.token("funder", Some(state));
    // A run that changes nothing records nothing.
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/calls",
        &token,
        &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
    )
    .await
    .expect(201);
    app.post(
        "/v1/payments",
        &token,
        &json!({"employer_id": employer, "funder_id": state, "amount": "100.00",
                "received_on": "2026-04-20", "reference": "VIR-1"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/periods/close",
        &token,
        &json!({"employer_id": employer, "month": "2026-01"}),
    )
    .await
    .expect(200);
    // The employer: everything, in the order it happened.
    let mine = all_events(app, &token, "").await;
    assert_eq!(
        types(&mine),
        vec![
            "allocation.posted",
            "allocation.posted",
            "allocation.posted",
            "call.issued",
            "payment.received",
            "period.closed"
        ]
    );
    let january = &mine[0]["data"];
    assert_eq!(january["post_id"], post.as_str());
    assert_eq!(january["month"], "2026-01");
    assert_eq!(january["cost"], "3127.45");
    assert_eq!(january["lines"].as_array().unwrap().len(), 4);
    assert_eq!(mine[3]["data"]["number"], "AF-2026-0001");
    assert_eq!(
        mine[5]["data"],
        json!({"employer_id": employer, "month": "2026-01"})
    );
    // The State: its own lines of the allocations, its call and payment; no cost, no period.
    let theirs = all_events(app, &state_token, "").await;
    assert_eq!(
        types(&theirs),
        vec![
            "allocation.posted",
            "allocation.posted",
            "allocation.posted",
            "call.issued",
            "payment.received"
        ]
    );
    let own = &theirs[0]["data"];
    assert!(
        own.get("cost").is_none() && own.get("uncovered").is_none(),
        "{own}"
    );
    let lines = own["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["funder_id"], state.as_str());
    assert_eq!(lines[0]["amount"], "1778.33");
    // Another funder of the post sees its allocations only; a stranger, another employer
    // nothing.
    let b = all_events(app, &app.token("funder", Some(&funders["B"])), "").await;
    assert_eq!(types(&b), vec!["allocation.posted"; 3]);
    let stranger = app.funder("Stranger", "other").await;
    assert!(all_events(app, &app.token("funder", Some(&stranger)), "")
        .await
        .is_empty());
    let other = app.employer("Other").await;
    assert!(all_events(app, &app.token("employer", Some(&other)), "")
        .await
        .is_empty());
    // The mission: all of them; a filter by type.
    assert_eq!(all_events(app, &app.mission(), "").await.len(), 6);
    let calls = all_events(app, &token, "&types=call.issued,payment.received").await;
    assert_eq!(types(&calls), vec!["call.issued", "payment.received"]);
    app.get("/v1/events?types=nothing.happened", &token)
        .await
        .problem(422, "validation_failed");
    app.get("/v1/events?cursor=-1", &token)
        .await
        .problem(422, "validation_failed");
}

async fn a_refused_change_records_no_event(app: &TestApp) {
    let (employer, _post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let before = all_events(app, &token, "").await.len();
    // Nothing left to call in 2027: refused, and no event.
    app.post(
        "/v1/calls",
        &token,
        &call_body(
            &employer,
            &funders["state"],
            "2027-01",
            "2027-03",
            "2026-04-02",
        ),
    )
    .await
    .problem(422, "nothing_to_call");
    assert_eq!(all_events(app, &token, "").await.len(), before);
}

crate::on_both_databases!(
    every_party_sees_its_own_events,
    a_refused_change_records_no_event,
);
