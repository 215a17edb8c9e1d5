//! Closing periods: nothing can be dated in a closed month any more, and closing is final.

use crate::support::TestApp;
use serde_json::json;

async fn closed_months_refuse_everything_dated_in_them(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let funder = app.funder("F", "state").await;
    app.post(
        "/v1/commitments",
        &token,
        &json!({"funder_id": funder, "post_id": post, "basis": "share",
        "percent": "100", "start_month": "2026-01", "end_month": "2026-12", "reference": "R"}),
    )
    .await
    .expect(201);
    let cost = |month: &str| json!({"month": month, "category": "salary", "amount": "1000.00"});
    let january = app
        .post(&format!("/v1/posts/{post}/costs"), &token, &cost("2026-01"))
        .await
        .expect(201);
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .expect(200);

    let closed = app
        .post(
            "/v1/periods/close",
            &token,
            &json!({"employer_id": employer, "month": "2026-02"}),
        )
        .await
        .expect(200);
    assert_eq!(closed.body["closed_through"], "2026-02");
    let list = app.get("/v1/periods", &token).await.expect(200);
    let months: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, vec!["2026-01", "2026-02"]);

    let refused = app
        .post(&format!("/v1/posts/{post}/costs"), &token, &cost("2026-02"))
        .await
        .problem(409, "period_closed");
    assert!(refused.body["detail"].as_str().unwrap().contains("2026-02"));
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .problem(409, "period_closed");
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"employer_id": employer, "month": "2026-02"}),
    )
    .await
    .problem(409, "period_closed");
    let january_id = january.body["id"].as_str().unwrap();
    app.post(
        &format!("/v1/costs/{january_id}/reverse"),
        &token,
        &json!({"reason": "late"}),
    )
    .await
    .problem(409, "period_closed");
    // A budget change from a closed month would rewrite the closed months' budget.
    let budget = format!("/v1/posts/{post}/budget");
    for month in ["2026-01", "2026-02"] {
        let change = json!({"from_month": month, "monthly_amount": "1.00"}).to_string();
        app.send("PUT", &budget, Some(&token), Some(&change), &[])
            .await
            .problem(409, "period_closed");
    }
    let read = app
        .get(&format!("/v1/posts/{post}"), &token)
        .await
        .expect(200);
    assert_eq!(read.body["version"], 1, "nothing changed");
    // March is open.
    app.post(&format!("/v1/posts/{post}/costs"), &token, &cost("2026-03"))
        .await
        .expect(201);
    let change = json!({"from_month": "2026-03", "monthly_amount": "1.00"}).to_string();
    app.send("PUT", &budget, Some(&token), Some(&change), &[])
        .await
        .expect(200);
    // Closing an earlier month again changes nothing; the mission and funders may not close.
    let again = app
        .post(
            "/v1/periods/close",
            &token,
            &json!({"employer_id": employer, "month": "2026-01"}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["closed_through"], "2026-02");
    app.post(
        "/v1/periods/close",
        &app.mission(),
        &json!({"employer_id": employer, "month": "2026-03"}),
    )
    .await
    .problem(403, "forbidden");
    let other = app.employer("O").await;
    app.post(
        "/v1/periods/close",
        &app.token("employer", Some(&other)),
        &json!({"employer_id": employer, "month": "2026-03"}),
    )
    .await
    .problem(404, "not_found");
    app.get(
        &format!("/v1/periods?employer_id={employer}"),
        &app.token("employer", Some(&other)),
    )
    .await
    .problem(404, "not_found");
    app.get("/v1/periods", &app.mission())
        .await
        .problem(422, "validation_failed");
    let seen = app
        .get(
            &format!("/v1/periods?employer_id={employer}"),
            &app.mission(),
        )
        .await
        .expect(200);
    assert_eq!(seen.body["items"].as_array().unwrap().len(), 2);
    crate::books::check_ledger_invariants(app);
}

crate::on_both_databases!(closed_months_refuse_everything_dated_in_them);
