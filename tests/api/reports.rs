//! Solvency of a post, the overview and the at-risk list, against figures computed by hand.

use crate::support::TestApp;
use serde_json::json;

async fn solvency_by_month(app: &TestApp) {
    let (employer, post, funders) = crate::books::worked_example(app).await;
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
    // April has a cost but is not allocated yet: all of it is uncovered.
    app.post(
        &format!("/v1/posts/{post}/costs"),
        &token,
        &json!({"month": "2026-04", "category": "salary", "amount": "100.00"}),
    )
    .await
    .expect(201);
    let state = &funders["state"];
    app.post(
        "/v1/calls",
        &token,
        &json!({"employer_id": employer, "funder_id": state, "from_month": "2026-01",
        "to_month": "2026-03", "issued_on": "2026-04-02", "due_on": "2026-05-31"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/payments",
        &token,
        &json!({"employer_id": employer, "funder_id": state, "amount": "2000.00",
        "received_on": "2026-04-20", "reference": "V"}),
    )
    .await
    .expect(201);
    let solvency = app
        .get(&format!("/v1/posts/{post}/solvency"), &token)
        .await
        .expect(200);
    let items = solvency.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(
        (
            items[0]["cost"].as_str(),
            items[0]["allocated"].as_str(),
            items[0]["uncovered"].as_str(),
            items[0]["coverage"].as_str()
        ),
        (
            Some("3127.45"),
            Some("3127.45"),
            Some("0.00"),
            Some("100.00")
        )
    );
    assert_eq!(
        (items[0]["called"].as_str(), items[0]["paid"].as_str()),
        (Some("1778.33"), Some("1778.33"))
    );
    assert_eq!(
        (items[1]["paid"].as_str(), items[1]["outstanding"].as_str()),
        (Some("221.67"), Some("1556.66"))
    );
    assert_eq!(items[1]["outstanding_by_age"]["over_90"], "1556.66");
    assert_eq!(items[1]["by_funder"].as_array().unwrap().len(), 4);
    assert_eq!(
        (
            items[3]["uncovered"].as_str(),
            items[3]["coverage"].as_str()
        ),
        (Some("100.00"), Some("0.00"))
    );
    // A funder of the post: its own figures only.
    let b = app.token("funder", Some(&funders["B"]));
    let seen = app
        .get(
            &format!("/v1/posts/{post}/solvency?from=2026-01&to=2026-01"),
            &b,
        )
        .await
        .expect(200);
    let item = &seen.body["items"][0];
    assert_eq!(item["allocated"], "404.74");
    assert_eq!(item["by_funder"].as_array().unwrap().len(), 1);
    assert!(
        item.get("cost").is_none()
            && item.get("uncovered").is_none()
            && item.get("coverage").is_none()
    );
    let other = app.employer("Other").await;
    app.get(
        &format!("/v1/posts/{post}/solvency"),
        &app.token("employer", Some(&other)),
    )
    .await
    .problem(404, "not_found");
    app.get(&format!("/v1/posts/{post}/solvency?from=x"), &token)
        .await
        .problem(422, "validation_failed");
}

async fn overview_and_at_risk(app: &TestApp) {
    let first = app.employer("GEIQ").await;
    let second = app.employer("Association").await;
    let landlord = app.funder("Bailleur", "social_landlord").await;
    let state = app.funder("Préfecture", "state").await;
    // A post fully carried by a landlord, and one the State covers at 25 % until 2027-03.
    let covered = app.post_of(&first, "2027-01", "1000.00").await;
    app.post("/v1/commitments", &app.token("employer", Some(&first)), &json!({"funder_id": landlord, "post_id": covered,
        "basis": "share", "percent": "100", "start_month": "2027-01", "end_month": "2029-12", "reference": "L"}))
        .await
        .expect(201);
    let short = app.post_of(&second, "2027-01", "2000.00").await;
    app.post("/v1/commitments", &app.token("employer", Some(&second)), &json!({"funder_id": state, "post_id": short,
        "basis": "fixed", "monthly_amount": "500.00", "start_month": "2027-01", "end_month": "2027-03", "reference": "AR"}))
        .await
        .expect(201);
    // A post that has ended before as_of does not count.
    let ended = app.post_of(&first, "2026-01", "999.00").await;
    app.send(
        "PATCH",
        &format!("/v1/posts/{ended}"),
        Some(&app.token("employer", Some(&first))),
        Some(r#"{"end_month": "2026-06"}"#),
        &[],
    )
    .await
    .expect(200);

    let overview = app
        .get("/v1/reports/overview?as_of=2027-01", &app.mission())
        .await
        .expect(200);
    assert_eq!(
        overview.body["totals"],
        json!({"posts": 2, "fte": "2.00", "monthly_cost": "3000.00", "allocated": "1500.00", "uncovered": "1500.00",
               "coverage": "50.00", "runway": {"0": 1, "1_2": 0, "3_5": 0, "6_11": 0, "12_23": 0, "24_plus": 1},
               "risk": {"red": 1, "amber": 0, "green": 1}})
    );
    assert_eq!(
        overview.body["target"],
        json!({"posts_target": 3000, "posts": 2, "percent_of_target": "0.06"})
    );
    assert_eq!(
        overview.body["by_funder_kind"],
        json!([{"kind": "social_landlord", "posts": 1, "allocated": "1000.00"}, {"kind": "state", "posts": 1, "allocated": "500.00"}])
    );
    assert_eq!(overview.body["by_employer"].as_array().unwrap().len(), 2);
    assert_eq!(overview.body["by_activity"][0]["activity"], "housing");
    // An employer sees itself; another employer's id is 404; funders use the at-risk list.
    let mine = app
        .get(
            "/v1/reports/overview?as_of=2027-01",
            &app.token("employer", Some(&first)),
        )
        .await
        .expect(200);
    assert_eq!(mine.body["totals"]["posts"], 1);
    app.get(
        &format!("/v1/reports/overview?as_of=2027-01&employer_id={second}"),
        &app.token("employer", Some(&first)),
    )
    .await
    .problem(404, "not_found");
    app.get("/v1/reports/overview", &app.token("funder", Some(&state)))
        .await
        .problem(403, "forbidden");
    app.get("/v1/reports/overview?as_of=2027-13", &app.mission())
        .await
        .problem(422, "validation_failed");

    let at_risk = app
        .get("/v1/reports/at-risk?as_of=2027-01&within=6", &app.mission())
        .await
        .expect(200);
    let items = at_risk.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["post_id"], short.as_str());
    assert_eq!(items[0]["risk"], "red");
    assert_eq!(items[0]["expiring"][0]["funder_id"], state.as_str());
    // The State sees its post with its own expiring commitment; the landlord sees nothing.
    let seen = app
        .get(
            "/v1/reports/at-risk?as_of=2027-01",
            &app.token("funder", Some(&state)),
        )
        .await
        .expect(200);
    assert_eq!(seen.body["items"][0]["post_id"], short.as_str());
    let none = app
        .get(
            "/v1/reports/at-risk?as_of=2027-01",
            &app.token("funder", Some(&landlord)),
        )
        .await
        .expect(200);
    assert_eq!(none.body["items"], json!([]));
    // The first employer's posts are all fine.
    let fine = app
        .get(
            "/v1/reports/at-risk?as_of=2027-01",
            &app.token("employer", Some(&first)),
        )
        .await
        .expect(200);
    assert_eq!(fine.body["items"], json!([]));
    app.get("/v1/reports/at-risk?within=0", &app.mission())
        .await
        .problem(422, "validation_failed");
}

crate::on_both_databases!(solvency_by_month, overview_and_at_risk);
