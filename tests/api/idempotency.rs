//! `Idempotency-Key`: a replay answers the first response and creates nothing; another body
//! with the same key is refused; a key still in flight answers 409.

use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::schema::idempotency_keys;
use serde_json::json;

async fn replays_create_nothing(app: &TestApp) {
    let admin = app.admin();
    let body = json!({"name": "Ville de Roubaix", "kind": "municipality"}).to_string();
    let key = [("Idempotency-Key", "create-roubaix-1")];
    let first = app
        .send("POST", "/v1/funders", Some(&admin), Some(&body), &key)
        .await
        .expect(201);
    let again = app
        .send("POST", "/v1/funders", Some(&admin), Some(&body), &key)
        .await
        .expect(201);
    assert_eq!(first.body, again.body);
    assert_eq!(first.header("location"), again.header("location"));
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    // Same body, other whitespace and key order: the same request.
    let reordered = r#"{ "kind": "municipality",  "name": "Ville de Roubaix" }"#;
    let third = app
        .send("POST", "/v1/funders", Some(&admin), Some(reordered), &key)
        .await
        .expect(201);
    assert_eq!(third.body["id"], first.body["id"]);
    let list = app.get("/v1/funders", &admin).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // Another body under the same key: 422, nothing created.
    let other = json!({"name": "Ville de Tourcoing", "kind": "municipality"}).to_string();
    app.send("POST", "/v1/funders", Some(&admin), Some(&other), &key)
        .await
        .problem(422, "idempotency_key_reused");
    // Keys are scoped to the caller: the mission may use the same key for its own request.
    let mission = app.mission();
    app.send("POST", "/v1/funders", Some(&mission), Some(&other), &key)
        .await
        .expect(201);
    let list = app.get("/v1/funders", &admin).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);

    // A failed request releases its key: the corrected retry goes through.
    let bad = json!({"name": "Région", "kind": "galaxy"}).to_string();
    let retry_key = [("Idempotency-Key", "region-1")];
    app.send("POST", "/v1/funders", Some(&admin), Some(&bad), &retry_key)
        .await
        .problem(422, "validation_failed");
    let good = json!({"name": "Région", "kind": "region"}).to_string();
    app.send("POST", "/v1/funders", Some(&admin), Some(&good), &retry_key)
        .await
        .expect(201);

    // A malformed key is refused.
    app.send(
        "POST",
        "/v1/funders",
        Some(&admin),
        Some(&good),
        &[("Idempotency-Key", "")],
    )
    .await
    .problem(422, "validation_failed");
}

async fn a_key_in_flight_answers_409(app: &TestApp) {
    let admin = app.admin();
    let body = json!({"name": "Ilévia", "kind": "transport_operator"}).to_string();
    // A request with this key is running right now on another server: its row is in flight.
    let fingerprint = portage_ledger::http::extract::fingerprint(
        "POST",
        "/v1/funders",
        &serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .to_string(),
    );
    let mut conn = app.pool.get().unwrap();
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::caller.eq("admin:test-admin"),
            idempotency_keys::idempotency_key.eq("busy"),
            idempotency_keys::request_hash.eq(fingerprint),
            idempotency_keys::state.eq("in_flight"),
            idempotency_keys::created_at.eq(portage_ledger::db::now_timestamp()),
        ))
        .execute(&mut conn)
        .unwrap();
    app.send(
        "POST",
        "/v1/funders",
        Some(&admin),
        Some(&body),
        &[("Idempotency-Key", "busy")],
    )
    .await
    .problem(409, "idempotency_key_in_flight");
    let list = app.get("/v1/funders", &admin).await.expect(200);
    assert_eq!(list.body["items"], json!([]));
}

async fn concurrent_replays_create_one(app: &TestApp) {
    let admin = app.admin();
    let body = json!({"name": "Vilogia", "kind": "social_landlord"}).to_string();
    let key = [("Idempotency-Key", "race-1")];
    let sends = (0..6).map(|_| app.send("POST", "/v1/funders", Some(&admin), Some(&body), &key));
    let answers = futures_util::future::join_all(sends).await;
    for answer in &answers {
        assert!(
            answer.status == 201
                || (answer.status == 409 && answer.body["code"] == "idempotency_key_in_flight"),
            "a racing replay answers the creation or 409: {} {}",
            answer.status,
            answer.body
        );
    }
    assert!(answers.iter().any(|a| a.status == 201));
    let list = app.get("/v1/funders", &admin).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

/// Keys left in flight by a server killed mid-request, retried at once by several clients
/// after they count as abandoned: exactly one request takes each over and creates.
async fn abandoned_keys_are_taken_over_once(app: &TestApp) {
    let admin = app.admin();
    let abandoned = portage_ledger::db::format_timestamp(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(600),
    );
    let keys: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                format!("abandoned-{i}"),
                json!({"name": format!("Bailleur {i}"), "kind": "social_landlord"}).to_string(),
            )
        })
        .collect();
    {
        let mut conn = app.pool.get().unwrap();
        for (key, body) in &keys {
            let fingerprint = portage_ledger::http::extract::fingerprint(
                "POST",
                "/v1/funders",
                &serde_json::from_str::<serde_json::Value>(body)
                    .unwrap()
                    .to_string(),
            );
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::caller.eq("admin:test-admin"),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_hash.eq(fingerprint),
                    idempotency_keys::state.eq("in_flight"),
                    idempotency_keys::created_at.eq(&abandoned),
                ))
                .execute(&mut conn)
                .unwrap();
        }
    }
    let admin_ref = admin.as_str();
    let headers: Vec<[(&str, &str); 1]> = keys
        .iter()
        .map(|(key, _)| [("Idempotency-Key", key.as_str())])
        .collect();
    let mut sends = Vec::new();
    for ((_, body), header) in keys.iter().zip(&headers) {
        for _ in 0..10 {
            sends.push(app.send(
                "POST",
                "/v1/funders",
                Some(admin_ref),
                Some(body.as_str()),
                header,
            ));
        }
    }
    let answers = futures_util::future::join_all(sends).await;
    let fresh = answers
        .iter()
        .filter(|a| a.status == 201 && a.header("idempotent-replayed").is_none())
        .count();
    for answer in &answers {
        assert!(
            answer.status == 201
                || (answer.status == 409 && answer.body["code"] == "idempotency_key_in_flight"),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(fresh, 8, "exactly one creation per key");
    let list = app.get("/v1/funders", &admin).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 8);
}

async fn expired_keys_are_forgotten(app: &TestApp) {
    let mut conn = app.pool.get().unwrap();
    let old = portage_ledger::db::format_timestamp(
        time::OffsetDateTime::now_utc()
            - time::Duration::hours(portage_ledger::db::idempotency::RETENTION_HOURS + 1),
    );
    for (key, created_at) in [("old", old), ("new", portage_ledger::db::now_timestamp())] {
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::caller.eq("admin:test"),
                idempotency_keys::idempotency_key.eq(key),
                idempotency_keys::request_hash.eq("h"),
                idempotency_keys::state.eq("done"),
                idempotency_keys::created_at.eq(created_at),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    let purged = portage_ledger::db::idempotency::purge_expired(&mut conn).unwrap();
    assert_eq!(purged, 1);
    let left: Vec<String> = idempotency_keys::table
        .select(idempotency_keys::idempotency_key)
        .load(&mut conn)
        .unwrap();
    assert_eq!(left, vec!["new".to_owned()]);
}

crate::on_both_databases!(
    expired_keys_are_forgotten,
    replays_create_nothing,
    a_key_in_flight_answers_409,
    concurrent_replays_create_one,
    abandoned_keys_are_taken_over_once,
);

/// A keyed request whose connection PostgreSQL drops mid-transaction answers 503 and leaves
/// its key free: retried at once with the same key, it is recorded (not 409 in flight), once.
#[actix_rt::test]
async fn a_request_that_lost_its_connection_releases_its_key() {
    use diesel::connection::SimpleConnection;
    let Some(app) = crate::support::spawn(crate::support::Backend::Postgres).await else {
        return;
    };
    let employer = app.employer("Perdu").await;
    let post = app.post_of(&employer, "2026-01", "3000.00").await;
    let token = app.token("employer", Some(&employer));
    let path = format!("/v1/posts/{post}/costs");
    let body = r#"{"month": "2026-01", "category": "salary", "amount": "10.00"}"#;
    let keyed = [("Idempotency-Key", "lost-1")];
    // Hold the employer's row, so that the cost's transaction waits on it with its key claimed.
    let mut holder = app.pool.get().unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM employers WHERE id = '{employer}' FOR UPDATE"
        ))
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let holder_pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut holder)
        .unwrap()
        .pid;
    let request = app.send("POST", &path, Some(&token), Some(body), &keyed);
    let cut = async {
        actix_rt::time::sleep(std::time::Duration::from_millis(700)).await;
        // Every other connection of the server is cut: the waiting request's among them.
        let mut killer = app.pool.get().unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> {holder_pid}"
        ))
        .execute(&mut killer)
        .ok();
    };
    let (answer, ()) = futures_util::future::join(request, cut).await;
    holder.batch_execute("ROLLBACK").unwrap();
    drop(holder);
    answer.problem(503, "unavailable");
    // Retried at once: recorded, not refused as in flight (the dead pooled connections may
    // cost a few 503s first, never a 409).
    let mut tries = 0;
    let created = loop {
        let answer = app
            .send("POST", &path, Some(&token), Some(body), &keyed)
            .await;
        if answer.status == 201 {
            break answer;
        }
        answer.problem(503, "unavailable");
        tries += 1;
        assert!(tries <= 8, "the key stayed unusable");
    };
    let replay = app
        .send("POST", &path, Some(&token), Some(body), &keyed)
        .await
        .expect(201);
    assert_eq!(replay.body["id"], created.body["id"]);
    let costs = app.get(&path, &token).await.expect(200);
    assert_eq!(costs.body["items"].as_array().unwrap().len(), 1);
}
