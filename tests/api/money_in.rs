//! Calls for funds, credit notes, payments and lettrage, through the API.

use crate::books::{check_ledger_invariants, worked_example};
use crate::support::TestApp;
use serde_json::{json, Value};

/// The worked example, with costs recorded and allocated for January to March 2026.
pub async fn three_allocated_months(
    app: &TestApp,
) -> (
    String,
    String,
    std::collections::BTreeMap<&'static str, String>,
) {
    let (employer, post, funders) = worked_example(app).await;
    let token = app.token("employer", Some(&employer));
    for month in ["2026-01", "2026-02", "2026-03"] {
        let cost = json!({"month": month, "category": "salary", "amount": "3127.45"});
        app.post(&format!("/v1/posts/{post}/costs"), &token, &cost)
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
    (employer, post, funders)
}

pub fn call_body(employer: &str, funder: &str, from: &str, to: &str, issued: &str) -> Value {
    json!({"employer_id": employer, "funder_id": funder, "from_month": from, "to_month": to,
           "issued_on": issued, "due_on": "2026-05-31"})
}

async fn calls_are_numbered_and_paid(app: &TestApp) {
    let (employer, post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
    let first = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
        )
        .await
        .expect(201);
    assert_eq!(first.body["number"], "AF-2026-0001");
    assert_eq!(first.body["amount"], "5334.99");
    assert_eq!(first.body["status"], "issued");
    assert_eq!(first.body["lines"].as_array().unwrap().len(), 3);
    assert_eq!(
        first.body["lines"][0],
        json!({"post_id": post, "month": "2026-01", "amount": "1778.33"})
    );
    let call_id = first.body["id"].as_str().unwrap().to_owned();
    // Nothing left to call for the State over these months.
    app.post(
        "/v1/calls",
        &token,
        &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
    )
    .await
    .problem(422, "nothing_to_call");
    let second = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, &funders["A"], "2026-01", "2026-02", "2026-04-02"),
        )
        .await
        .expect(201);
    assert_eq!(second.body["number"], "AF-2026-0002");
    assert_eq!(second.body["amount"], "1349.12");

    // A partial payment, applied automatically to the oldest call due.
    let paid = app
        .post(
            "/v1/payments",
            &token,
            &json!({"employer_id": employer, "funder_id": state, "amount": "2000.00",
            "received_on": "2026-04-20", "reference": "VIR-1"}),
        )
        .await
        .expect(201);
    assert_eq!(
        paid.body["applications"],
        json!([{"call_id": call_id, "number": "AF-2026-0001", "amount": "2000.00"}])
    );
    assert_eq!(paid.body["unapplied"], "0.00");
    let read = app
        .get(&format!("/v1/calls/{call_id}"), &token)
        .await
        .expect(200);
    assert_eq!(
        (
            read.body["status"].as_str(),
            read.body["paid"].as_str(),
            read.body["outstanding"].as_str()
        ),
        (Some("partially_paid"), Some("2000.00"), Some("3334.99"))
    );
    // An overpayment: the rest stays a credit, applied to the next call.
    let over = app
        .post(
            "/v1/payments",
            &token,
            &json!({"employer_id": employer, "funder_id": state, "amount": "4000.00",
            "received_on": "2026-04-25", "reference": "VIR-2"}),
        )
        .await
        .expect(201);
    assert_eq!(over.body["unapplied"], "665.01");
    let read = app
        .get(&format!("/v1/calls/{call_id}"), &token)
        .await
        .expect(200);
    assert_eq!(read.body["status"], "paid");
    // A paid call cannot be cancelled.
    app.post(&format!("/v1/calls/{call_id}/cancel"), &token, &json!({}))
        .await
        .problem(409, "call_paid");
    let cost = json!({"month": "2026-04", "category": "salary", "amount": "3127.45"});
    app.post(&format!("/v1/posts/{post}/costs"), &token, &cost)
        .await
        .expect(201);
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-04"}),
    )
    .await
    .expect(200);
    let april = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, state, "2026-04", "2026-04", "2026-05-02"),
        )
        .await
        .expect(201);
    assert_eq!(april.body["number"], "AF-2026-0003");
    assert_eq!(april.body["paid"], "665.01");
    assert_eq!(april.body["outstanding"], "1113.32");
    assert_eq!(april.body["status"], "partially_paid");

    // Cancelling A's call: a credit note, and January–February become callable again.
    let second_id = second.body["id"].as_str().unwrap();
    let cancelled = app
        .post(&format!("/v1/calls/{second_id}/cancel"), &token, &json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["credit_note_number"]
        .as_str()
        .unwrap()
        .starts_with("AV-"));
    assert!(cancelled.body["credit_note_number"]
        .as_str()
        .unwrap()
        .ends_with("-0001"));
    assert_eq!(
        cancelled.body["number"], "AF-2026-0002",
        "the cancelled call keeps its number"
    );
    app.post(&format!("/v1/calls/{second_id}/cancel"), &token, &json!({}))
        .await
        .problem(409, "already_cancelled");
    let again = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, &funders["A"], "2026-01", "2026-03", "2026-05-02"),
        )
        .await
        .expect(201);
    assert_eq!(again.body["number"], "AF-2026-0004");
    assert_eq!(again.body["amount"], "2023.68");

    // Another employer numbers from 1.
    let other = app.employer("Other").await;
    let other_post = app.post_of(&other, "2026-01", "100.00").await;
    let other_token = app.token("employer", Some(&other));
    app.post(
        "/v1/commitments",
        &other_token,
        &json!({"funder_id": state, "post_id": other_post, "basis": "share",
        "percent": "100", "start_month": "2026-01", "end_month": "2026-12", "reference": "X"}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/v1/posts/{other_post}/costs"),
        &other_token,
        &json!({"month": "2026-01", "category": "salary", "amount": "100.00"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/allocations/run",
        &other_token,
        &json!({"post_id": other_post, "month": "2026-01"}),
    )
    .await
    .expect(200);
    let theirs = app
        .post(
            "/v1/calls",
            &other_token,
            &call_body(&other, state, "2026-01", "2026-01", "2026-02-01"),
        )
        .await
        .expect(201);
    assert_eq!(theirs.body["number"], "AF-2026-0001");

    // Scope: the State sees its calls (of both employers), not A's; the mission sees all.
    let state_token = app.token("funder", Some(state));
    let seen = app.get("/v1/calls", &state_token).await.expect(200);
    assert_eq!(seen.body["items"].as_array().unwrap().len(), 3);
    app.get(&format!("/v1/calls/{second_id}"), &state_token)
        .await
        .problem(404, "not_found");
    app.get(&format!("/v1/calls/{call_id}"), &other_token)
        .await
        .problem(404, "not_found");
    app.post(
        "/v1/calls",
        &state_token,
        &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
    )
    .await
    .problem(403, "forbidden");
    let payments = app.get("/v1/payments", &state_token).await.expect(200);
    assert_eq!(payments.body["items"].as_array().unwrap().len(), 2);
    let none = app
        .get("/v1/payments", &app.token("funder", Some(&funders["B"])))
        .await
        .expect(200);
    assert_eq!(none.body["items"], json!([]));
    let all = app.get("/v1/calls", &app.mission()).await.expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 5);
    check_ledger_invariants(app);
}

async fn payments_and_reallocations_are_checked(app: &TestApp) {
    let (employer, post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
    let call = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, state, "2026-01", "2026-01", "2026-02-02"),
        )
        .await
        .expect(201);
    let call_id = call.body["id"].as_str().unwrap().to_owned();
    // `Null` leaves the applications out: the service applies the money itself.
    let pay = |amount: &str, applications: Value| {
        let mut body = json!({"employer_id": employer, "funder_id": state, "amount": amount,
                              "received_on": "2026-03-01", "reference": "V"});
        if !applications.is_null() {
            body["applications"] = applications;
        }
        body
    };
    let over = app
        .post(
            "/v1/payments",
            &token,
            &pay(
                "5000.00",
                json!([{"call_id": call_id, "amount": "1778.34"}]),
            ),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(over.pointers(), vec!["/applications/0/amount".to_owned()]);
    let too_much = app
        .post(
            "/v1/payments",
            &token,
            &pay("10.00", json!([{"call_id": call_id, "amount": "20.00"}])),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(too_much.pointers(), vec!["/applications".to_owned()]);
    let a_call = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, &funders["A"], "2026-01", "2026-01", "2026-02-02"),
        )
        .await
        .expect(201);
    let wrong_funder = app
        .post(
            "/v1/payments",
            &token,
            &pay(
                "10.00",
                json!([{"call_id": a_call.body["id"], "amount": "10.00"}]),
            ),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        wrong_funder.pointers(),
        vec!["/applications/0/call_id".to_owned()]
    );
    app.post(
        "/v1/payments",
        &token,
        &pay(
            "10.00",
            json!([{"call_id": uuid::Uuid::now_v7(), "amount": "10.00"}]),
        ),
    )
    .await
    .problem(404, "not_found");
    app.post("/v1/payments", &token, &pay("0.00", json!([])))
        .await
        .problem(422, "validation_failed");
    app.post("/v1/payments", &token, &pay(r#"12.345"#, json!([])))
        .await
        .problem(422, "validation_failed");
    // A named application of part of a payment: the rest is credit.
    let named = app
        .post(
            "/v1/payments",
            &token,
            &pay("1000.00", json!([{"call_id": call_id, "amount": "700.00"}])),
        )
        .await
        .expect(201);
    assert_eq!(named.body["unapplied"], "300.00");

    // January's cost reversed: the State's January allocation would fall below what is called.
    let costs = app
        .get(
            &format!("/v1/posts/{post}/costs?from=2026-01&to=2026-01"),
            &token,
        )
        .await
        .expect(200);
    let january = costs.body["items"][0]["id"].as_str().unwrap();
    app.post(
        &format!("/v1/costs/{january}/reverse"),
        &token,
        &json!({"reason": "wrong month"}),
    )
    .await
    .expect(201);
    let refused = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": "2026-01"}),
        )
        .await
        .problem(409, "below_called");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("AF-2026-0001") && detail.contains("AF-2026-0002"),
        "{detail}"
    );
    // Nothing changed: the allocation still reads as before.
    let view = app
        .get(
            &format!("/v1/posts/{post}/allocations?from=2026-01&to=2026-01"),
            &token,
        )
        .await
        .expect(200);
    assert_eq!(view.body["items"][0]["cost"], "3127.45");

    // Closed periods: no call issued and no payment received in them.
    app.post(
        "/v1/periods/close",
        &token,
        &json!({"employer_id": employer, "month": "2026-03"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/calls",
        &token,
        &call_body(&employer, &funders["B"], "2026-01", "2026-03", "2026-03-31"),
    )
    .await
    .problem(409, "period_closed");
    app.post("/v1/payments", &token, &pay("1.00", Value::Null))
        .await
        .problem(409, "period_closed");
    // A call issued in an open month may still call allocations of closed months.
    let later = app
        .post(
            "/v1/calls",
            &token,
            &json!({"employer_id": employer, "funder_id": funders["B"], "from_month": "2026-01",
            "to_month": "2026-03", "issued_on": "2026-04-01", "due_on": "2026-04-30"}),
        )
        .await
        .expect(201);
    assert_eq!(later.body["amount"], "1214.22");
    check_ledger_invariants(app);
}

async fn racing_calls_and_payments_never_double_count(app: &TestApp) {
    let (employer, _post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let body = call_body(
        &employer,
        &funders["state"],
        "2026-01",
        "2026-03",
        "2026-04-02",
    )
    .to_string();
    let sends = (0..4).map(|_| app.send("POST", "/v1/calls", Some(&token), Some(&body), &[]));
    let answers = futures_util::future::join_all(sends).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| &a.body)
        .collect();
    assert_eq!(created.len(), 1, "one call takes everything");
    for answer in answers.iter().filter(|a| a.status != 201) {
        assert!(
            answer.status == 422 || answer.status == 409,
            "{} {}",
            answer.status,
            answer.body
        );
    }
    let call_id = created[0]["id"].as_str().unwrap().to_owned();
    let pay = json!({"employer_id": employer, "funder_id": funders["state"], "amount": "5334.99",
        "received_on": "2026-04-10", "reference": "V",
        "applications": [{"call_id": call_id, "amount": "5334.99"}]})
    .to_string();
    let sends = (0..4).map(|_| app.send("POST", "/v1/payments", Some(&token), Some(&pay), &[]));
    let answers = futures_util::future::join_all(sends).await;
    assert_eq!(
        answers.iter().filter(|a| a.status == 201).count(),
        1,
        "one payment settles the call"
    );
    let read = app
        .get(&format!("/v1/calls/{call_id}"), &token)
        .await
        .expect(200);
    assert_eq!(read.body["paid"], "5334.99");
    assert_eq!(read.body["status"], "paid");
    check_ledger_invariants(app);
}

async fn the_statement_matches_the_ledger(app: &TestApp) {
    let (employer, _post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
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
        &json!({"employer_id": employer, "funder_id": state, "amount": "2000.00",
        "received_on": "2026-04-20", "reference": "VIR-1"}),
    )
    .await
    .expect(201);
    let state_token = app.token("funder", Some(state));
    let path = format!("/v1/funders/{state}/statement");
    let statement = app.get(&path, &state_token).await.expect(200);
    assert_eq!(
        statement.body["totals"],
        json!({"allocated": "5334.99", "called": "5334.99", "paid": "2000.00", "outstanding": "3334.99", "credit": "0.00"})
    );
    assert_eq!(statement.body["by_call"][0]["number"], "AF-2026-0001");
    assert_eq!(statement.body["by_call"][0]["status"], "partially_paid");
    // Due 2026-05-31: far more than 90 days past due by now.
    assert_eq!(statement.body["aging"]["over_90"], "3334.99");
    assert_eq!(
        statement.body["commitments"][0]["allocated_to_date"],
        "5334.99"
    );
    // Money settles the oldest month first: January is paid, February partly.
    let january = app
        .get(&format!("{path}?from=2026-01&to=2026-01"), &state_token)
        .await
        .expect(200);
    assert_eq!(january.body["totals"]["paid"], "1778.33");
    assert_eq!(january.body["totals"]["outstanding"], "0.00");
    let later = app
        .get(&format!("{path}?from=2026-02&to=2026-03"), &state_token)
        .await
        .expect(200);
    assert_eq!(later.body["totals"]["paid"], "221.67");

    // The totals are the ledger's: 4687 = allocated − called, 441 = called − received.
    let balances = app
        .get("/v1/ledger/balances?group_by=funder", &token)
        .await
        .expect(200);
    let balance = |account: &str| {
        balances.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account"] == account && r["funder_id"] == state.as_str())
            .map(|r| r["balance"].as_str().unwrap().to_owned())
    };
    assert_eq!(balance("4687"), Some("0.00".to_owned()));
    assert_eq!(
        balance("441").as_deref(),
        statement.body["totals"]["outstanding"].as_str()
    );

    // Scope: another funder may not read it; an employer reads its own part; the mission all.
    app.get(&path, &app.token("funder", Some(&funders["B"])))
        .await
        .problem(404, "not_found");
    // The statement for a spreadsheet: one row per post and month, figures equal to the JSON's.
    let csv = app
        .get(&format!("{path}?format=csv"), &state_token)
        .await
        .expect(200);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv.text.starts_with(
        "\u{feff}employer;post_reference;post_title;month;allocated;called;paid;outstanding\r\n"
    ));
    let rows: Vec<Vec<&str>> = csv
        .text
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{}", csv.text);
    assert_eq!(rows[0][3], "2026-01");
    assert_eq!(rows[0][6], "1778,33");
    let column = |i: usize| -> i64 {
        rows.iter()
            .map(|r| r[i].replace(',', "").parse::<i64>().unwrap())
            .sum()
    };
    let json_cents = |v: &Value| v.as_str().unwrap().replace('.', "").parse::<i64>().unwrap();
    assert_eq!(
        column(4),
        json_cents(&statement.body["totals"]["allocated"])
    );
    assert_eq!(column(5), json_cents(&statement.body["totals"]["called"]));
    assert_eq!(column(6), json_cents(&statement.body["totals"]["paid"]));
    assert_eq!(
        column(7),
        json_cents(&statement.body["totals"]["outstanding"])
    );
    app.get(&format!("{path}?format=xml"), &state_token)
        .await
        .problem(422, "validation_failed");
    // The calls likewise, in the caller's scope.
    let calls_csv = app
        .get("/v1/calls?format=csv", &state_token)
        .await
        .expect(200);
    let lines: Vec<&str> = calls_csv.text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "\u{feff}number;employer;funder;issued_on;due_on;status;amount;paid;outstanding"
    );
    assert!(lines[1].starts_with("AF-2026-0001;"), "{}", calls_csv.text);
    assert!(
        lines[1].ends_with(";partially_paid;5334,99;2000,00;3334,99"),
        "{}",
        calls_csv.text
    );
    let other_funder = app.token("funder", Some(&funders["B"]));
    let theirs = app
        .get("/v1/calls?format=csv", &other_funder)
        .await
        .expect(200);
    assert_eq!(
        theirs.text.split("\r\n").filter(|l| !l.is_empty()).count(),
        1
    );
    app.get("/v1/calls?colour=red", &token)
        .await
        .problem(422, "validation_failed");
    // An employer that never dealt with this funder does not learn it exists.
    let other = app.employer("Other").await;
    app.get(&path, &app.token("employer", Some(&other)))
        .await
        .problem(404, "not_found");
    let own = app.get(&path, &token).await.expect(200);
    assert_eq!(own.body["totals"], statement.body["totals"]);
    app.get(
        &format!("{path}?employer_id={employer}"),
        &app.token("employer", Some(&other)),
    )
    .await
    .problem(404, "not_found");
    let mission = app.get(&path, &app.mission()).await.expect(200);
    assert_eq!(mission.body["totals"], statement.body["totals"]);
    app.get(&format!("{path}?from=2026-13"), &app.mission())
        .await
        .problem(422, "validation_failed");
    check_ledger_invariants(app);
}

crate::on_both_databases!(
    the_statement_matches_the_ledger,
    calls_are_numbered_and_paid,
    payments_and_reallocations_are_checked,
    racing_calls_and_payments_never_double_count,
);
