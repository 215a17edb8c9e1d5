//! Continuity through the API: every shared continuity vector, hand-computed projections, and
//! what each role may see.

use crate::support::TestApp;
use portage_ledger::domain::Month;
use serde_json::{json, Value};
use std::collections::BTreeMap;

async fn every_shared_continuity_vector(app: &TestApp) {
    let vectors: Value =
        serde_json::from_str(include_str!("../data/allocation-vectors.json")).unwrap();
    for case in vectors["continuity"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let params = &case["params"];
        let as_of = params["as_of"].as_str().unwrap();
        let employer = app.employer(name).await;
        let token = app.token("employer", Some(&employer));
        let start = case["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["start_month"].as_str().unwrap())
            .chain([as_of])
            .min()
            .unwrap()
            .to_owned();
        let initial = case["budget"]["initial"].as_str().unwrap();
        let post = app.post_of(&employer, &start, initial).await;
        if let Some(end) = params["post_end_month"].as_str() {
            app.send(
                "PATCH",
                &format!("/v1/posts/{post}"),
                Some(&token),
                Some(&json!({"end_month": end}).to_string()),
                &[],
            )
            .await
            .expect(200);
        }
        for change in case["budget"]["changes"].as_array().unwrap() {
            app.send(
                "PUT",
                &format!("/v1/posts/{post}/budget"),
                Some(&token),
                Some(&change.to_string()),
                &[],
            )
            .await
            .expect(200);
        }
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut ordered: Vec<&Value> = case["commitments"].as_array().unwrap().iter().collect();
        ordered.sort_by_key(|c| c["created_order"].as_i64().unwrap());
        for c in ordered {
            let key = c["key"].as_str().unwrap();
            let funder = app.funder(key, "other").await;
            let mut body = json!({
                "funder_id": funder, "post_id": post, "basis": c["basis"],
                "start_month": c["start_month"], "end_month": c["end_month"], "reference": key
            });
            for field in ["monthly_amount", "percent", "cap"] {
                if c.get(field).is_some_and(|v| !v.is_null()) {
                    body[field] = c[field].clone();
                }
            }
            let created = app.post("/v1/commitments", &token, &body).await.expect(201);
            keys.insert(
                created.body["id"].as_str().unwrap().to_owned(),
                key.to_owned(),
            );
        }
        // The actuals before as_of: each month costs its budget and is allocated.
        let as_of_month = Month::parse(as_of).unwrap();
        let mut month = Month::parse(&start).unwrap();
        while month < as_of_month {
            let cost = json!({"month": month, "category": "salary", "amount": initial});
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
            month = month.next();
        }
        for (id, key) in &keys {
            let read = app
                .get(&format!("/v1/commitments/{id}"), &token)
                .await
                .expect(200);
            let expected = params["allocated_before"][key].as_str().unwrap_or("0.00");
            assert_eq!(
                read.body["allocated_to_date"], expected,
                "{name}: the actuals before as_of"
            );
        }
        let path = format!(
            "/v1/posts/{post}/continuity?as_of={as_of}&horizon={}&threshold={}",
            params["horizon"],
            params["threshold"].as_str().unwrap()
        );
        let answer = app.get(&path, &token).await.expect(200);
        let expected = &case["expected"];
        assert_eq!(
            answer.body["funded_until"], expected["funded_until"],
            "{name}"
        );
        assert_eq!(
            answer.body["runway_months"], expected["runway_months"],
            "{name}"
        );
        assert_eq!(answer.body["gaps"], expected["gaps"], "{name}");
        assert_eq!(answer.body["risk"], expected["risk"], "{name}");
        let expiring: Vec<Value> = answer.body["expiring"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!(keys[e["commitment_id"].as_str().unwrap()]))
            .collect();
        assert_eq!(Value::Array(expiring), expected["expiring"], "{name}");
    }
}

async fn a_projection_computed_by_hand(app: &TestApp) {
    // Budget 2,000.00, then 2,400.00 from 2027-04. The State pays 1,000.00 a month to 2027-06;
    // a landlord takes 100 % of the rest with a 3,000.00 cap. Months:
    //   2027-01..03: 1,000 + 1,000 (landlord cap left 3,000 → 1,000 → 2,000 used by 02, 3,000 by 03)
    //   2027-04: 1,000 + 0 (cap spent) → 1,000 of 2,400 covered: a gap.
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2027-01", "2000.00").await;
    app.send(
        "PUT",
        &format!("/v1/posts/{post}/budget"),
        Some(&token),
        Some(r#"{"from_month": "2027-04", "monthly_amount": "2400.00"}"#),
        &[],
    )
    .await
    .expect(200);
    let state = app.funder("State", "state").await;
    let landlord = app.funder("Landlord", "social_landlord").await;
    app.post("/v1/commitments", &token, &json!({"funder_id": state, "post_id": post, "basis": "fixed",
        "monthly_amount": "1000.00", "start_month": "2027-01", "end_month": "2027-06", "reference": "AR"}))
        .await
        .expect(201);
    app.post("/v1/commitments", &token, &json!({"funder_id": landlord, "post_id": post, "basis": "share",
        "percent": "100", "cap": "3000.00", "start_month": "2027-01", "end_month": "2028-12", "reference": "L"}))
        .await
        .expect(201);
    let path = format!("/v1/posts/{post}/continuity?as_of=2027-01&horizon=8");
    let answer = app.get(&path, &token).await.expect(200);
    assert_eq!(answer.body["funded_until"], "2027-03");
    assert_eq!(answer.body["runway_months"], 3);
    assert_eq!(answer.body["risk"], "amber");
    assert_eq!(
        answer.body["gaps"],
        json!(["2027-04", "2027-05", "2027-06", "2027-07", "2027-08"])
    );
    let months = answer.body["months"].as_array().unwrap();
    assert_eq!(months.len(), 8);
    assert_eq!(months[3]["budget"], "2400.00");
    assert_eq!(months[3]["allocated"], "1000.00");
    assert_eq!(months[3]["uncovered"], "1400.00");
    assert_eq!(months[3]["coverage"], "41.66");
    assert_eq!(months[6]["allocated"], "0.00");
    // The State's aid ends within as_of + 5: expiring.
    assert_eq!(answer.body["expiring"][0]["funder_id"], state.as_str());
    // At 40 % the threshold is met up to 2027-06.
    let lenient = app
        .get(&format!("{path}&threshold=40"), &token)
        .await
        .expect(200);
    assert_eq!(lenient.body["funded_until"], "2027-06");

    // The landlord sees its own lines and commitments only: no budget, no State.
    let seen = app
        .get(&path, &app.token("funder", Some(&landlord)))
        .await
        .expect(200);
    assert_eq!(seen.body["runway_months"], 3);
    assert_eq!(seen.body["expiring"], json!([]));
    let first = &seen.body["months"][0];
    assert!(
        first.get("budget").is_none()
            && first.get("coverage").is_none()
            && first.get("uncovered").is_none()
    );
    assert_eq!(first["lines"].as_array().unwrap().len(), 1);
    assert_eq!(first["lines"][0]["funder_id"], landlord.as_str());
    assert!(
        !seen.body.to_string().contains(&state),
        "the State is never named to the landlord"
    );
    // A funder's continuity is always at the default threshold: bisecting it with thresholds
    // would reveal the post's coverage, hence what the other funders pay (DOMAIN.md, round 2).
    for threshold in ["87.0584", "100", "0"] {
        app.get(
            &format!("/v1/posts/{post}/continuity?as_of=2026-12&threshold={threshold}"),
            &app.token("funder", Some(&landlord)),
        )
        .await
        .problem(403, "forbidden");
    }

    // Bad parameters and scope.
    for bad in [
        "horizon=0",
        "horizon=121",
        "horizon=x",
        "threshold=101",
        "threshold=-1",
        "as_of=2026-12",
        "as_of=2027-13",
        "colour=red",
    ] {
        app.get(&format!("/v1/posts/{post}/continuity?{bad}"), &token)
            .await
            .problem(422, "validation_failed");
    }
    let other = app.employer("Other").await;
    app.get(&path, &app.token("employer", Some(&other)))
        .await
        .problem(404, "not_found");
    let stranger = app.funder("Stranger", "company").await;
    app.get(&path, &app.token("funder", Some(&stranger)))
        .await
        .problem(404, "not_found");
    app.get(&path, &app.mission()).await.expect(200);
}

crate::on_both_databases!(
    every_shared_continuity_vector,
    a_projection_computed_by_hand
);
