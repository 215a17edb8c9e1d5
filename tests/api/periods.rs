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

/// Balances as of a day are read from the stored balances of closed months and the running
/// balances, and equal, on every day tried, the sum of the lines dated up to it.
async fn balances_as_of_any_day_equal_the_sum_of_the_lines(app: &TestApp) {
    use portage_ledger::db::{ledger, month_balances};
    use portage_ledger::domain::ids::EmployerId;
    use portage_ledger::domain::{Date, Month};
    let mut employers = Vec::new();
    for name in ["E1", "E2"] {
        let employer = app.employer(name).await;
        let token = app.token("employer", Some(&employer));
        let post = app.post_of(&employer, "2026-01", "1000.00").await;
        let funder = app.funder(&format!("F-{name}"), "state").await;
        app.post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": funder, "post_id": post, "basis": "share",
            "percent": "70", "start_month": "2026-01", "end_month": "2026-12", "reference": "R"}),
        )
        .await
        .expect(201);
        for (n, month) in ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
            .iter()
            .enumerate()
        {
            let amount = format!("{}.{:02}", 900 + 37 * n, 13 * n % 100);
            app.post(
                &format!("/v1/posts/{post}/costs"),
                &token,
                &json!({"month": month, "category": "salary", "amount": amount}),
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
            &json!({"employer_id": employer, "funder_id": funder, "from_month": "2026-01",
            "to_month": "2026-02", "issued_on": "2026-03-05", "due_on": "2026-04-05"}),
        )
        .await
        .expect(201);
        app.post(
            "/v1/payments",
            &token,
            &json!({"employer_id": employer, "funder_id": funder, "amount": "500.00",
            "received_on": "2026-03-20", "reference": "VIR-1"}),
        )
        .await
        .expect(201);
        employers.push((employer, token));
    }
    // The first employer closes through March, then through April; the second never closes.
    let (first, first_token) = &employers[0];
    for month in ["2026-03", "2026-04"] {
        app.post(
            "/v1/periods/close",
            first_token,
            &json!({"employer_id": first, "month": month}),
        )
        .await
        .expect(200);
    }
    let mut conn = app.pool.get().unwrap();
    let sorted = |mut rows: Vec<ledger::BalanceRow>| {
        rows.sort();
        rows
    };
    let mut days = vec![
        Date::parse("2025-12-31").unwrap(),
        portage_ledger::domain::clock::today(),
    ];
    for month in Month::parse("2026-01")
        .unwrap()
        .through(Month::parse("2026-07").unwrap())
    {
        for day in [1, 15] {
            days.push(Date::parse(&format!("{month}-{day:02}")).unwrap());
        }
        days.push(month.last_day());
    }
    let ids: Vec<EmployerId> = employers.iter().map(|(e, _)| e.parse().unwrap()).collect();
    for day in &days {
        for scope in [Some(ids[0]), Some(ids[1]), None] {
            let read = sorted(ledger::balances(&mut conn, scope, Some(*day)).unwrap());
            let summed = sorted(month_balances::summed_from_lines(&mut conn, scope, *day).unwrap());
            assert_eq!(read, summed, "as of {day} for {scope:?}");
        }
    }
    // The stored month-end balances are the sums at those month ends, and the API reads them.
    let march = Date::parse("2026-03-31").unwrap();
    assert!(
        !month_balances::summed_from_lines(&mut conn, Some(ids[0]), march)
            .unwrap()
            .is_empty()
    );
    let answer = app
        .get(
            &format!("/v1/ledger/balances?employer_id={first}&as_of=2026-04-10"),
            first_token,
        )
        .await
        .expect(200);
    let summed = month_balances::summed_from_lines(
        &mut conn,
        Some(ids[0]),
        Date::parse("2026-04-10").unwrap(),
    )
    .unwrap();
    let debit: i64 = summed.iter().map(|r| r.3).sum();
    let shown: i64 = answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let text = b["debit"].as_str().unwrap();
            portage_ledger::domain::Money::parse(text).unwrap().cents()
        })
        .sum();
    assert_eq!(shown, debit);
    crate::books::check_ledger_invariants(app);
}

/// Costs of one post recorded at once, while their month is closed: costs no longer wait for
/// each other (share lock), yet each lands either before the close, in the stored month-end
/// balances, or is refused; none lands in the closed month afterwards, and the running
/// balances move by exactly the costs that landed.
async fn closing_races_the_costs_of_its_month(app: &TestApp) {
    use diesel::prelude::*;
    use portage_ledger::db::{ledger, month_balances, schema::costs};
    use portage_ledger::domain::{ids::EmployerId, Date};

    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let path = format!("/v1/posts/{post}/costs");
    let february = json!({"month": "2026-02", "category": "salary", "amount": "10.01"}).to_string();
    let march = json!({"month": "2026-03", "category": "salary", "amount": "20.02"}).to_string();
    let close = json!({"employer_id": employer, "month": "2026-02"}).to_string();
    let sends = (0..41).map(|i| match i {
        20 => app.send("POST", "/v1/periods/close", Some(&token), Some(&close), &[]),
        i if i % 2 == 0 => app.send("POST", &path, Some(&token), Some(&february), &[]),
        _ => app.send("POST", &path, Some(&token), Some(&march), &[]),
    });
    let answers = futures_util::future::join_all(sends).await;
    let (mut february_recorded, mut march_recorded) = (0, 0);
    for (i, answer) in answers.iter().enumerate() {
        match (i, answer.status) {
            (20, 200) => {}
            (i, 201) if i % 2 == 0 => february_recorded += 1,
            (_, 201) => march_recorded += 1,
            (i, 409) if i % 2 == 0 => assert_eq!(answer.body["code"], "period_closed"),
            _ => panic!("answer {i}: {} {}", answer.status, answer.body),
        }
    }
    assert_eq!(
        march_recorded, 20,
        "an open month's costs are never refused"
    );
    let mut conn = app.pool.get().unwrap();
    let stored: i64 = costs::table
        .filter(costs::month.eq(portage_ledger::domain::Month::parse("2026-02").unwrap()))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        stored, february_recorded,
        "every cost answered 201 is stored, no other"
    );
    let id: EmployerId = employer.parse().unwrap();
    for day in ["2026-02-28", "2026-03-31"] {
        let day = Date::parse(day).unwrap();
        let mut read = ledger::balances(&mut conn, Some(id), Some(day)).unwrap();
        let mut summed = month_balances::summed_from_lines(&mut conn, Some(id), day).unwrap();
        read.sort();
        summed.sort();
        assert_eq!(read, summed, "as of {day}");
    }
    app.post(&path, &token, &serde_json::from_str(&february).unwrap())
        .await
        .problem(409, "period_closed");
    crate::books::check_ledger_invariants(app);
}

crate::on_both_databases!(
    closed_months_refuse_everything_dated_in_them,
    balances_as_of_any_day_equal_the_sum_of_the_lines,
    closing_races_the_costs_of_its_month
);
