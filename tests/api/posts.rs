//! Posts: creation, scope, versions with `If-Match`, and budgets from a month on.

use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::schema::commitments;
use serde_json::json;

async fn posts_are_scoped_to_their_employer(app: &TestApp) {
    let mine = app.employer("Mine").await;
    let theirs = app.employer("Theirs").await;
    let my_post = app.post_of(&mine, "2026-01", "3127.45").await;
    let their_post = app.post_of(&theirs, "2026-01", "2000.00").await;
    let me = app.token("employer", Some(&mine));

    let read = app
        .get(&format!("/v1/posts/{my_post}"), &me)
        .await
        .expect(200);
    assert_eq!(read.body["monthly_budget"], "3127.45");
    assert_eq!(read.body["version"], 1);
    assert_eq!(read.header("etag").as_deref(), Some("\"1\""));
    app.get(&format!("/v1/posts/{their_post}"), &me)
        .await
        .problem(404, "not_found");

    // Lists are filtered to the scope, whatever the filter asks.
    let list = app.get("/v1/posts", &me).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let foreign = app
        .get(&format!("/v1/posts?employer_id={theirs}"), &me)
        .await
        .expect(200);
    assert_eq!(foreign.body["items"], json!([]));
    let mission = app
        .get(&format!("/v1/posts?employer_id={theirs}"), &app.mission())
        .await
        .expect(200);
    assert_eq!(mission.body["items"][0]["id"], their_post.as_str());
    app.get("/v1/posts?employer_id=nope", &me)
        .await
        .problem(422, "validation_failed");

    // A funder sees only the posts it funds, without budget or cost.
    let funder = app.funder("Bailleur", "social_landlord").await;
    let funder_token = app.token("funder", Some(&funder));
    assert_eq!(
        app.get("/v1/posts", &funder_token).await.expect(200).body["items"],
        json!([])
    );
    app.get(&format!("/v1/posts/{my_post}"), &funder_token)
        .await
        .problem(404, "not_found");
    let mut conn = app.pool.get().unwrap();
    diesel::insert_into(commitments::table)
        .values((
            commitments::id.eq(uuid::Uuid::now_v7().to_string()),
            commitments::employer_id.eq(&mine),
            commitments::post_id.eq(&my_post),
            commitments::funder_id.eq(&funder),
            commitments::basis.eq("share"),
            commitments::percent_ten_thousandths.eq(500_000i64),
            commitments::start_month.eq("2026-01"),
            commitments::end_month.eq("2026-12"),
            commitments::reference.eq("CONV-1"),
            commitments::created_at.eq(portage_ledger::db::now_timestamp()),
        ))
        .execute(&mut conn)
        .unwrap();
    let seen = app
        .get(&format!("/v1/posts/{my_post}"), &funder_token)
        .await
        .expect(200);
    assert_eq!(seen.body["title"], "Médiateur");
    assert!(seen.body.get("monthly_budget").is_none() && seen.body.get("budget").is_none());
    let list = app.get("/v1/posts", &funder_token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // The commitment runs to 2026-12: the post cannot end before it.
    app.send(
        "PATCH",
        &format!("/v1/posts/{my_post}"),
        Some(&me),
        Some(r#"{"end_month": "2026-11"}"#),
        &[],
    )
    .await
    .problem(409, "post_in_use_after_end");
    app.send(
        "PATCH",
        &format!("/v1/posts/{my_post}"),
        Some(&me),
        Some(r#"{"end_month": "2026-12"}"#),
        &[],
    )
    .await
    .expect(200);
    app.get(&format!("/v1/posts/{their_post}"), &funder_token)
        .await
        .problem(404, "not_found");
}

async fn patch_checks_the_version(app: &TestApp) {
    let employer = app.employer("E").await;
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let me = app.token("employer", Some(&employer));
    let path = format!("/v1/posts/{post}");
    let change = json!({"title": "Médiatrice de nuit", "fte": "0.80"}).to_string();

    let changed = app
        .send(
            "PATCH",
            &path,
            Some(&me),
            Some(&change),
            &[("If-Match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["title"], "Médiatrice de nuit");
    assert_eq!(changed.body["fte"], "0.80");
    // A change of nothing is refused rather than raising the version under everyone else.
    for empty in [Some("{}"), None] {
        app.send("PATCH", &path, Some(&me), empty, &[])
            .await
            .problem(422, "validation_failed");
    }
    let read = app.get(&path, &me).await.expect(200);
    assert_eq!(read.body["version"], 2);
    // The same If-Match again is stale now.
    app.send(
        "PATCH",
        &path,
        Some(&me),
        Some(&change),
        &[("If-Match", "\"1\"")],
    )
    .await
    .problem(412, "version_mismatch");
    // end_month can be set and cleared; before the start it is refused.
    let ended = app
        .send(
            "PATCH",
            &path,
            Some(&me),
            Some(r#"{"end_month": "2027-06"}"#),
            &[],
        )
        .await
        .expect(200);
    assert_eq!(ended.body["end_month"], "2027-06");
    let cleared = app
        .send(
            "PATCH",
            &path,
            Some(&me),
            Some(r#"{"end_month": null}"#),
            &[("If-Match", "\"3\"")],
        )
        .await
        .expect(200);
    assert!(cleared.body["end_month"].is_null());
    app.send(
        "PATCH",
        &path,
        Some(&me),
        Some(r#"{"end_month": "2025-01"}"#),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    app.send(
        "PATCH",
        &path,
        Some(&me),
        Some(r#"{"start_month": "2025-01"}"#),
        &[],
    )
    .await
    .problem(422, "validation_failed");
    // Another employer, the mission: 404 and 403.
    let other = app.employer("Other").await;
    app.send(
        "PATCH",
        &path,
        Some(&app.token("employer", Some(&other))),
        Some(&change),
        &[],
    )
    .await
    .problem(404, "not_found");
    app.send("PATCH", &path, Some(&app.mission()), Some(&change), &[])
        .await
        .problem(403, "forbidden");
}

async fn budgets_change_from_a_month_on(app: &TestApp) {
    let employer = app.employer("E").await;
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let me = app.token("employer", Some(&employer));
    let path = format!("/v1/posts/{post}/budget");
    let (path, me) = (&path, &me);
    let put = |body: serde_json::Value| {
        let body = body.to_string();
        async move { app.send("PUT", path, Some(me), Some(&body), &[]).await }
    };
    put(json!({"from_month": "2027-09", "monthly_amount": "1500.00"}))
        .await
        .expect(200);
    let answer = put(json!({"from_month": "2027-03", "monthly_amount": "1200.00"}))
        .await
        .expect(200);
    // The later change is replaced: the budget is 1,200.00 from 2027-03 on.
    assert_eq!(
        answer.body["budget"],
        json!([
            {"from_month": "2026-01", "monthly_amount": "1000.00"},
            {"from_month": "2027-03", "monthly_amount": "1200.00"}
        ])
    );
    assert_eq!(answer.body["version"], 3);
    // A list gives each post its own schedule.
    let other = app.post_of(&employer, "2026-06", "700.00").await;
    let list = app.get("/v1/posts", me).await.expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let expected = if item["id"] == post.as_str() {
            answer.body["budget"].clone()
        } else {
            assert_eq!(item["id"], other.as_str());
            json!([{"from_month": "2026-06", "monthly_amount": "700.00"}])
        };
        assert_eq!(item["budget"], expected);
    }
    put(json!({"from_month": "2025-12", "monthly_amount": "1.00"}))
        .await
        .problem(422, "validation_failed");
    put(json!({"from_month": "2026-02", "monthly_amount": 5}))
        .await
        .problem(422, "validation_failed");
}

crate::on_both_databases!(
    posts_are_scoped_to_their_employer,
    patch_checks_the_version,
    budgets_change_from_a_month_on,
);
