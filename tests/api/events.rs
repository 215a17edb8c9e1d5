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

/// The events a change records at once (the swept ones depend on the day the test runs).
const CHANGES: &str =
    "&types=allocation.posted,call.issued,call.cancelled,payment.received,period.closed";

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
    let mine = all_events(app, &token, CHANGES).await;
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
    let theirs = all_events(app, &state_token, CHANGES).await;
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
    let b = all_events(app, &app.token("funder", Some(&funders["B"])), CHANGES).await;
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
    assert_eq!(all_events(app, &app.mission(), CHANGES).await.len(), 6);
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

/// What time brings, relative to today: a call overdue, a convention ending soon, a cap spent;
/// each recorded once however often the sweep runs.
async fn time_brings_its_events_once(app: &TestApp) {
    use portage_ledger::domain::{clock, Month};
    let this_month = clock::today().month();
    let start = this_month.plus(-3).unwrap();
    let soon = this_month.plus(2).unwrap();
    let far = this_month.plus(24).unwrap();
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, &start.to_string(), "1000.00").await;
    let state = app.funder("État", "state").await;
    let landlord = app.funder("Bailleur", "social_landlord").await;
    app.post(
        "/v1/commitments",
        &token,
        &json!({"funder_id": state, "post_id": post, "basis": "fixed",
        "monthly_amount": "600.00", "start_month": start, "end_month": soon, "reference": "AR"}),
    )
    .await
    .expect(201);
    app.post("/v1/commitments", &token, &json!({"funder_id": landlord, "post_id": post, "basis": "share",
        "percent": "100", "cap": "1000.00", "start_month": start, "end_month": far, "reference": "L"}))
        .await
        .expect(201);
    for m in start.through(start.plus(2).unwrap()) {
        app.post(
            &format!("/v1/posts/{post}/costs"),
            &token,
            &json!({"month": m, "category": "salary", "amount": "1000.00"}),
        )
        .await
        .expect(201);
        app.post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": m}),
        )
        .await
        .expect(200);
    }
    // The landlord's 400.00 a month reach 80 % of its cap in the second month, 100 % in the third.
    let issued_on = start.plus(2).unwrap().first_day();
    let due_on = Month::last_day(this_month.plus(-1).unwrap());
    app.post(
        "/v1/calls",
        &token,
        &json!({"employer_id": employer, "funder_id": state,
        "from_month": start, "to_month": start, "issued_on": issued_on, "due_on": due_on}),
    )
    .await
    .expect(201);
    let swept = "&types=call.overdue,commitment.expiring,commitment.cap_used,post.risk_changed";
    let events = all_events(app, &token, swept).await;
    let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(count("call.overdue"), 1, "{events:?}");
    assert_eq!(count("commitment.expiring"), 1, "{events:?}");
    assert_eq!(count("commitment.cap_used"), 2, "{events:?}");
    let overdue = events.iter().find(|e| e["type"] == "call.overdue").unwrap();
    assert_eq!(overdue["data"]["outstanding"], "600.00");
    // Another write sweeps again: nothing is recorded twice.
    app.post(
        "/v1/payments",
        &token,
        &json!({"employer_id": employer, "funder_id": state,
        "amount": "1.00", "received_on": issued_on, "reference": "V"}),
    )
    .await
    .expect(201);
    let again = all_events(app, &token, swept).await;
    let count_again = |kind: &str| again.iter().filter(|e| e["type"] == kind).count();
    for kind in ["call.overdue", "commitment.expiring", "commitment.cap_used"] {
        assert_eq!(count_again(kind), count(kind), "{kind} recorded twice");
    }
    // The funders see their own: the State its call and its convention, not the landlord's cap.
    let state_sees = all_events(app, &app.token("funder", Some(&state)), swept).await;
    assert!(state_sees
        .iter()
        .all(|e| e["type"] != "commitment.cap_used"));
    assert!(state_sees.iter().any(|e| e["type"] == "call.overdue"));
}

crate::on_both_databases!(
    every_party_sees_its_own_events,
    time_brings_its_events_once,
    a_refused_change_records_no_event,
);
