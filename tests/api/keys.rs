//! Dated rates and activity keys through the API: every case of `keys-vectors.json` (rates and
//! values registered, commitments, hours recorded, runs, allocations read back to the cent;
//! the continuity cases through the continuity endpoint), a late revision posting only the
//! differences, and who may see whose hours.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const VECTORS: &str = include_str!("../data/keys-vectors.json");

/// What a case's set-up made: the post, and each commitment key's commitment id.
struct Built {
    employer: String,
    post: String,
    commitments: BTreeMap<String, String>,
}

/// Registers a case's rates (codes made unique per case), its post and commitments, and
/// records its hours.
async fn build(app: &TestApp, case: &Value, index: usize, post_start: &str, budget: &str) -> Built {
    let name = case["name"].as_str().unwrap();
    let employer = app.employer(name).await;
    let token = app.token("employer", Some(&employer));
    let mission = app.mission();
    let mut codes = BTreeMap::new();
    for (code, values) in case["rates"].as_object().unwrap() {
        let unique = format!("{code}-{index}");
        app.post(
            "/v1/rates",
            &mission,
            &json!({"code": unique, "label": format!("{name}: {code}"), "values": values}),
        )
        .await
        .expect(201);
        codes.insert(code.clone(), unique);
    }
    let post = app.post_of(&employer, post_start, budget).await;
    let mut ordered: Vec<&Value> = case["commitments"].as_array().unwrap().iter().collect();
    ordered.sort_by_key(|c| c["created_order"].as_i64().unwrap());
    let mut commitments = BTreeMap::new();
    for c in ordered {
        let key = c["key"].as_str().unwrap();
        let funder = app.funder(key, "other").await;
        let mut body = json!({
            "funder_id": funder, "post_id": post, "basis": c["basis"],
            "start_month": c["start_month"], "end_month": c["end_month"], "reference": key
        });
        for field in ["monthly_amount", "percent", "cap", "fte"] {
            if c.get(field).is_some_and(|v| !v.is_null()) {
                body[field] = c[field].clone();
            }
        }
        if let Some(rate) = c["rate"].as_str() {
            body["rate"] = json!(codes[rate]);
        }
        let created = app.post("/v1/commitments", &token, &body).await.expect(201);
        commitments.insert(
            key.to_owned(),
            created.body["id"].as_str().unwrap().to_owned(),
        );
    }
    for (month, record) in case["activity"].as_object().unwrap() {
        let hours: Vec<Value> = record["hours"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, h)| json!({"commitment_id": commitments[key], "hours": h}))
            .collect();
        let body = json!({"hours": hours, "other_hours": record["other_hours"]});
        let put = app
            .send(
                "PUT",
                &format!("/v1/posts/{post}/activity/{month}"),
                Some(&token),
                Some(&body.to_string()),
                &[],
            )
            .await
            .expect(200);
        assert_eq!(put.body["month"], month.as_str());
        assert_eq!(put.body["other_hours"], record["other_hours"]);
    }
    Built {
        employer,
        post,
        commitments,
    }
}

fn key_of(built: &Built, commitment_id: &Value) -> String {
    built
        .commitments
        .iter()
        .find(|(_, id)| commitment_id == id.as_str())
        .map(|(k, _)| k.clone())
        .unwrap()
}

async fn every_keys_allocation_vector_through_the_api(app: &TestApp) {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = vectors["allocation"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let months: Vec<&String> = case["costs"].as_object().unwrap().keys().collect();
        let first = case["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["start_month"].as_str().unwrap())
            .chain(months.iter().map(|m| m.as_str()))
            .min()
            .unwrap()
            .to_owned();
        let built = build(app, case, index, &first, "0.00").await;
        let token = app.token("employer", Some(&built.employer));
        let post = &built.post;
        for (month, amount) in case["costs"].as_object().unwrap() {
            let cost = json!({"month": month, "category": "salary", "amount": amount});
            app.post(&format!("/v1/posts/{post}/costs"), &token, &cost)
                .await
                .expect(201);
        }
        for month in &months {
            app.post(
                "/v1/allocations/run",
                &token,
                &json!({"post_id": post, "month": month}),
            )
            .await
            .expect(200);
        }
        let view = app
            .get(&format!("/v1/posts/{post}/allocations"), &token)
            .await
            .expect(200);
        let items = view.body["items"].as_array().unwrap();
        assert_eq!(items.len(), months.len(), "{name}");
        for item in items {
            let month = item["month"].as_str().unwrap();
            let want = &case["expected"][month];
            let got: BTreeMap<String, String> = item["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        key_of(&built, &l["commitment_id"]),
                        l["amount"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let want_lines: BTreeMap<String, String> = want["lines"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .filter(|(_, v)| v != "0.00")
                .collect();
            let got: BTreeMap<String, String> =
                got.into_iter().filter(|(_, v)| v != "0.00").collect();
            assert_eq!(got, want_lines, "{name} {month}");
            assert_eq!(item["uncovered"], want["uncovered"], "{name} {month}");
        }
    }
    crate::books::check_ledger_invariants(app);
}

async fn every_keys_continuity_vector_through_the_api(app: &TestApp) {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = vectors["continuity"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let params = &case["params"];
        assert_eq!(params["allocated_before"], json!({}), "{name}");
        let as_of = params["as_of"].as_str().unwrap();
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
        let built = build(app, case, 100 + index, &start, initial).await;
        let token = app.token("employer", Some(&built.employer));
        if let Some(end) = params["post_end_month"].as_str() {
            app.send(
                "PATCH",
                &format!("/v1/posts/{}", built.post),
                Some(&token),
                Some(&json!({"end_month": end}).to_string()),
                &[],
            )
            .await
            .expect(200);
        }
        let path = format!(
            "/v1/posts/{}/continuity?as_of={as_of}&horizon={}&threshold={}",
            built.post,
            params["horizon"],
            params["threshold"].as_str().unwrap()
        );
        let answer = app.get(&path, &token).await.expect(200);
        let expected = &case["expected"];
        for field in ["funded_until", "runway_months", "gaps", "risk"] {
            assert_eq!(answer.body[field], expected[field], "{name}: {field}");
        }
        let expiring: Vec<Value> = answer.body["expiring"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!(key_of(&built, &e["commitment_id"])))
            .collect();
        assert_eq!(Value::Array(expiring), expected["expiring"], "{name}");
        for month in answer.body["months"].as_array().unwrap() {
            let m = month["month"].as_str().unwrap();
            let want = &expected["months"][m];
            let got: BTreeMap<String, Value> = month["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["amount"] != "0.00")
                .map(|l| (key_of(&built, &l["commitment_id"]), l["amount"].clone()))
                .collect();
            let want_lines: BTreeMap<String, Value> = want["lines"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want_lines, "{name} {m}");
            assert_eq!(month["uncovered"], want["uncovered"], "{name} {m}");
        }
    }
}

async fn a_late_revision_posts_only_the_differences(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let mission = app.mission();
    let rate = app
        .post(
            "/v1/rates",
            &mission,
            &json!({"code": "adultes-relais", "label": "Aide adultes-relais",
                    "values": [{"from_month": "2026-01", "annual_amount": "21000.00"}]}),
        )
        .await
        .expect(201);
    assert_eq!(rate.body["values"][0]["superseded"], false);
    assert_eq!(rate.body["recorded_by"]["role"], "mission");
    let post = app.post_of(&employer, "2026-01", "2000.00").await;
    let state = app.funder("État", "state").await;
    let aid = app
        .post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": state, "post_id": post, "basis": "rate", "rate": "adultes-relais",
                    "fte": "0.50", "start_month": "2026-01", "end_month": "2026-12", "reference": "AR"}),
        )
        .await
        .expect(201);
    assert_eq!(aid.body["rate"], "adultes-relais");
    assert_eq!(aid.body["fte"], "0.50");
    assert_eq!(aid.body["monthly_amount"], Value::Null);
    for month in ["2026-01", "2026-02", "2026-03"] {
        let cost = json!({"month": month, "category": "salary", "amount": "2000.00"});
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
    let read = |path: String| {
        let token = token.clone();
        async move { app.get(&path, &token).await.expect(200) }
    };
    let aid_id = aid.body["id"].as_str().unwrap().to_owned();
    let before = read(format!("/v1/commitments/{aid_id}")).await;
    assert_eq!(before.body["allocated_to_date"], "2625.00", "875.00 × 3");
    // The decree is published late: from February, 21,630.00. Nothing moves until a run.
    let revised = app
        .post(
            "/v1/rates/adultes-relais/values",
            &mission,
            &json!({"from_month": "2026-02", "annual_amount": "21630.00"}),
        )
        .await
        .expect(201);
    assert_eq!(revised.body["values"].as_array().unwrap().len(), 2);
    let still = read(format!("/v1/commitments/{aid_id}")).await;
    assert_eq!(still.body["allocated_to_date"], "2625.00");
    // A mistyped value is corrected by another for the same month: both kept, the later wins.
    let corrected = app
        .post(
            "/v1/rates/adultes-relais/values",
            &mission,
            &json!({"from_month": "2026-02", "annual_amount": "21600.00"}),
        )
        .await
        .expect(201);
    let values = corrected.body["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[1]["superseded"], true);
    assert_eq!(values[2]["superseded"], false);
    assert_eq!(values[2]["annual_amount"], "21600.00");
    let entries_before = read("/v1/ledger/entries?limit=1000".to_owned()).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    let run = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": "2026-02"}),
        )
        .await
        .expect(200);
    // February and March move by 900.00 − 875.00 = 25.00 each; January does not.
    let results = run.body["results"].as_array().unwrap();
    assert_eq!(results[0]["entries_posted"], 2, "{}", run.body);
    let after = read(format!("/v1/commitments/{aid_id}")).await;
    assert_eq!(after.body["allocated_to_date"], "2675.00");
    let entries_after = read("/v1/ledger/entries?limit=1000".to_owned()).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(entries_after, entries_before + 2);
    // What a commitment asks this month: a rate's value in force × fte / 12 (21,600.00 since
    // February 2026); nothing outside its months.
    let long = app
        .post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": state, "post_id": post, "basis": "rate", "rate": "adultes-relais",
                    "fte": "1.00", "start_month": "2026-01", "end_month": "2099-12", "reference": "AR2"}),
        )
        .await
        .expect(201);
    assert_eq!(long.body["current_monthly_ask"], "1800.00");
    let past = app
        .post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": state, "post_id": post, "basis": "fixed", "monthly_amount": "10.00",
                    "start_month": "2026-01", "end_month": "2026-01", "reference": "F"}),
        )
        .await
        .expect(201);
    assert_eq!(past.body["current_monthly_ask"], Value::Null);
    // Rates are public parameters: every role reads them; only the mission and the operator
    // register them.
    let funder_token = app.token("funder", Some(&state));
    let listed = app.get("/v1/rates", &funder_token).await.expect(200);
    assert_eq!(listed.body["items"][0]["code"], "adultes-relais");
    app.get("/v1/rates/adultes-relais", &token)
        .await
        .expect(200);
    app.get("/v1/rates/nothing", &token)
        .await
        .problem(404, "not_found");
    let body = json!({"code": "x", "label": "X"});
    app.post("/v1/rates", &token, &body)
        .await
        .problem(403, "forbidden");
    app.post("/v1/rates", &funder_token, &body)
        .await
        .problem(403, "forbidden");
    app.post(
        "/v1/rates",
        &mission,
        &json!({"code": "adultes-relais", "label": "again"}),
    )
    .await
    .problem(409, "already_exists");
    app.post(
        "/v1/rates",
        &mission,
        &json!({"code": "bad code", "label": "X"}),
    )
    .await
    .problem(422, "validation_failed");
    // A rate commitment names a rate that exists, with an fte and no amount.
    for (body, pointer) in [
        (json!({"rate": "nothing", "fte": "1.00"}), "/rate"),
        (json!({"rate": "adultes-relais"}), "/fte"),
        (
            json!({"rate": "adultes-relais", "fte": "1.00", "monthly_amount": "1.00"}),
            "/monthly_amount",
        ),
        (json!({"rate": "adultes-relais", "fte": "1.50"}), "/fte"),
    ] {
        let mut full = json!({"funder_id": state, "post_id": post, "basis": "rate",
                              "start_month": "2026-01", "end_month": "2026-12", "reference": "X"});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let refused = app
            .post("/v1/commitments", &token, &full)
            .await
            .problem(422, "validation_failed");
        assert_eq!(refused.pointers(), vec![pointer.to_owned()], "{full}");
    }
}

async fn hours_are_checked_and_scoped(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let landlords: Vec<String> = {
        let mut ids = Vec::new();
        for name in ["LMH", "Vilogia", "Partenord"] {
            ids.push(app.funder(name, "social_landlord").await);
        }
        ids
    };
    let mut commitments = Vec::new();
    for (i, landlord) in landlords.iter().enumerate() {
        let end = if i == 2 { "2026-01" } else { "2026-12" };
        let created = app
            .post(
                "/v1/commitments",
                &token,
                &json!({"funder_id": landlord, "post_id": post, "basis": "activity",
                        "start_month": "2026-01", "end_month": end, "reference": format!("H{i}")}),
            )
            .await
            .expect(201);
        assert_eq!(created.body["current_monthly_ask"], Value::Null);
        commitments.push(created.body["id"].as_str().unwrap().to_owned());
    }
    let state = app.funder("État", "state").await;
    let fixed = app
        .post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": state, "post_id": post, "basis": "fixed", "monthly_amount": "100.00",
                    "start_month": "2026-01", "end_month": "2026-12", "reference": "F"}),
        )
        .await
        .expect(201);
    let fixed_id = fixed.body["id"].as_str().unwrap().to_owned();
    let put = |month: &str, body: Value| {
        let path = format!("/v1/posts/{post}/activity/{month}");
        let token = token.clone();
        async move {
            app.send("PUT", &path, Some(&token), Some(&body.to_string()), &[])
                .await
        }
    };
    let line = |i: usize, h: &str| json!({"commitment_id": commitments[i], "hours": h});
    // Refused: a fixed commitment, one not in force that month, a commitment twice, too many
    // hours, hours with three decimals.
    for (month, body, pointer) in [
        (
            "2026-02",
            json!({"hours": [{"commitment_id": fixed_id, "hours": "1.00"}]}),
            "/hours/0/commitment_id",
        ),
        (
            "2026-02",
            json!({"hours": [line(0, "1.00"), line(2, "1.00")]}),
            "/hours/1/commitment_id",
        ),
        (
            "2026-02",
            json!({"hours": [line(0, "1.00"), line(0, "2.00")]}),
            "/hours/1/commitment_id",
        ),
        (
            "2026-02",
            json!({"hours": [line(0, "500.00"), line(1, "300.00")]}),
            "/hours",
        ),
        (
            "2026-02",
            json!({"hours": [line(0, "1.005")]}),
            "/hours/0/hours",
        ),
    ] {
        let refused = put(month, body.clone())
            .await
            .problem(422, "validation_failed");
        assert_eq!(refused.pointers(), vec![pointer.to_owned()], "{body}");
    }
    put("2026-13", json!({"hours": []}))
        .await
        .problem(422, "validation_failed");
    // Recorded twice: the second is in force, the first kept.
    put(
        "2026-01",
        json!({"hours": [line(0, "10.00"), line(2, "5.00")], "other_hours": "1.00"}),
    )
    .await
    .expect(200);
    let second = put(
        "2026-01",
        json!({"hours": [line(0, "60.00"), line(1, "30.00"), line(2, "10.00")], "other_hours": "0.50"}),
    )
    .await
    .expect(200);
    assert_eq!(second.body["hours"].as_array().unwrap().len(), 3);
    assert_eq!(second.body["other_hours"], "0.50");
    assert_eq!(second.body["recorded_by"]["role"], "employer");
    let mut conn = app.pool.get().unwrap();
    use diesel::prelude::*;
    use portage_ledger::db::schema::activity_records;
    let kept: i64 = activity_records::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(kept, 2, "every version is kept");
    drop(conn);
    // Scope: another employer cannot write or read it; a funder reads its own hours only.
    let other = app.employer("O").await;
    let other_token = app.token("employer", Some(&other));
    app.send(
        "PUT",
        &format!("/v1/posts/{post}/activity/2026-03"),
        Some(&other_token),
        Some(&json!({"hours": []}).to_string()),
        &[],
    )
    .await
    .problem(404, "not_found");
    let path = format!("/v1/posts/{post}/activity");
    app.get(&path, &other_token).await.problem(404, "not_found");
    app.send(
        "PUT",
        &format!("/v1/posts/{post}/activity/2026-03"),
        Some(&app.mission()),
        Some(&json!({"hours": []}).to_string()),
        &[],
    )
    .await
    .problem(403, "forbidden");
    let seen = app.get(&path, &app.mission()).await.expect(200);
    assert_eq!(seen.body["items"][0]["other_hours"], "0.50");
    let lmh = app
        .get(&path, &app.token("funder", Some(&landlords[0])))
        .await
        .expect(200);
    let item = &lmh.body["items"][0];
    assert_eq!(
        item["hours"],
        json!([{"commitment_id": commitments[0], "hours": "60.00"}])
    );
    assert!(item.get("other_hours").is_none(), "{item}");
    let stranger = app.funder("Stranger", "other").await;
    app.get(&path, &app.token("funder", Some(&stranger)))
        .await
        .problem(404, "not_found");
    // Closed months are frozen.
    app.post(
        "/v1/periods/close",
        &token,
        &json!({"employer_id": employer, "month": "2026-01"}),
    )
    .await
    .expect(200);
    put("2026-01", json!({"hours": [line(0, "1.00")]}))
        .await
        .problem(409, "period_closed");
}

crate::on_both_databases!(
    every_keys_allocation_vector_through_the_api,
    every_keys_continuity_vector_through_the_api,
    a_late_revision_posts_only_the_differences,
    hours_are_checked_and_scoped,
);
