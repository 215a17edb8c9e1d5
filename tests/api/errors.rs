//! Bad input of every kind answers a problem document, never a 500.

use crate::support::{TestApp, BODY_LIMIT};
use serde_json::json;

async fn bad_bodies_are_named(app: &TestApp) {
    let admin = app.admin();
    let cases = [
        (r#"{"name": "A", "kind": "charity"}"#, "/kind"),
        (
            r#"{"name": "A", "kind": "association", "siren": "123456789"}"#,
            "/siren",
        ),
        (
            r#"{"name": "A", "kind": "association", "colour": "red"}"#,
            "/colour",
        ),
        (r#"{"kind": "association"}"#, "/name"),
        (r#"{"name": "   ", "kind": "association"}"#, "/name"),
        (r#"{"name": 12, "kind": "association"}"#, "/name"),
    ];
    for (body, pointer) in cases {
        let answer = app
            .send("POST", "/v1/employers", Some(&admin), Some(body), &[])
            .await
            .problem(422, "validation_failed");
        assert_eq!(answer.pointers(), vec![pointer.to_owned()], "{body}");
    }
    // A field the schema does not let be null is refused as null, not read as absent.
    let refused = app
        .send(
            "POST",
            "/v1/employers",
            Some(&admin),
            Some(r#"{"name": "A", "kind": "association", "siren": null}"#),
            &[],
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.pointers(), vec!["/siren".to_owned()]);
    for body in ["{", "[]", "null", "\"text\""] {
        app.send("POST", "/v1/employers", Some(&admin), Some(body), &[])
            .await
            .problem(422, "validation_failed");
    }
    // Nothing was created by any of them.
    let list = app.get("/v1/employers", &admin).await.expect(200);
    assert_eq!(list.body["items"], json!([]));
}

async fn money_and_months_are_strict(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let base = json!({
        "employer_id": employer, "title": "T", "territory": "QP", "activity": "housing",
        "fte": "0.50", "start_month": "2026-01", "monthly_budget": "1234.50"
    });
    let with = |field: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("monthly_budget", json!(1234.5)), "/monthly_budget"),
        (with("monthly_budget", json!("1234.505")), "/monthly_budget"),
        (with("monthly_budget", json!("")), "/monthly_budget"),
        (with("monthly_budget", json!("-5.00")), "/monthly_budget"),
        (with("monthly_budget", json!("1e3")), "/monthly_budget"),
        (
            with("monthly_budget", json!("12345678901234")),
            "/monthly_budget",
        ),
        (with("fte", json!("1.50")), "/fte"),
        (with("fte", json!("0")), "/fte"),
        (with("fte", json!(0.5)), "/fte"),
        (with("start_month", json!("2026-13")), "/start_month"),
        (with("start_month", json!("2026-1")), "/start_month"),
        (with("end_month", json!("2025-12")), "/end_month"),
        (with("activity", json!("sports")), "/activity"),
        (with("employer_id", json!("not-a-uuid")), "/employer_id"),
    ];
    for (body, pointer) in cases {
        let answer = app
            .post("/v1/posts", &token, &body)
            .await
            .problem(422, "validation_failed");
        assert_eq!(answer.pointers(), vec![pointer.to_owned()], "{body}");
    }
    let created = app.post("/v1/posts", &token, &base).await.expect(201);
    assert_eq!(created.body["monthly_budget"], "1234.50");
    assert_eq!(created.body["fte"], "0.50");
}

async fn transport_errors_are_problems(app: &TestApp) {
    let admin = app.admin();
    let big = format!(
        r#"{{"name": "{}", "kind": "association"}}"#,
        "x".repeat(BODY_LIMIT + 10)
    );
    app.send("POST", "/v1/employers", Some(&admin), Some(&big), &[])
        .await
        .problem(413, "payload_too_large");
    app.get("/v1/nothing-here", &admin)
        .await
        .problem(404, "no_route");
    let refused = app
        .send("DELETE", "/v1/employers", Some(&admin), None, &[])
        .await
        .problem(405, "method_not_allowed");
    assert_eq!(refused.header("allow").as_deref(), Some("GET, POST"));
    let refused = app
        .send("PUT", "/v1/posts/x/costs", Some(&admin), None, &[])
        .await
        .problem(405, "method_not_allowed");
    assert_eq!(refused.header("allow").as_deref(), Some("GET, POST"));
    app.get("/v1/employers/not-a-uuid", &admin)
        .await
        .problem(404, "not_found");
    app.get(&format!("/v1/employers/{}", uuid::Uuid::now_v7()), &admin)
        .await
        .problem(404, "not_found");
}

async fn bodies_are_read_as_what_they_say(app: &TestApp) {
    let employer = app.employer("E").await;
    let post = app.post_of(&employer, "2026-01", "3000.00").await;
    let token = app.token("employer", Some(&employer));
    let path = format!("/v1/posts/{post}/costs");
    let twice = r#"{"month":"2026-12","category":"salary","amount":"10.00","amount":"99999.00"}"#;
    let refused = app
        .send("POST", &path, Some(&token), Some(twice), &[])
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.pointers(), vec!["/amount".to_owned()]);
    let body = r#"{"month":"2026-12","category":"salary","amount":"10.00"}"#;
    for headers in [
        &[("Content-Type", "text/plain")][..],
        &[("Content-Type", "application/x-www-form-urlencoded")][..],
        &[][..],
    ] {
        app.send_as("POST", &path, Some(&token), Some(body), headers)
            .await
            .problem(415, "unsupported_media_type");
    }
    // Nothing was recorded by any of them.
    let costs = app.get(&path, &token).await.expect(200);
    assert_eq!(costs.body["items"], json!([]));
    // Parameters of the media type are fine.
    let json_utf8 = [("Content-Type", "application/json; charset=utf-8")];
    let cost = app
        .send_as("POST", &path, Some(&token), Some(body), &json_utf8)
        .await
        .expect(201);
    // An empty body needs no media type: it is read as `{}` (here, lacking its reason).
    let id = cost.body["id"].as_str().unwrap();
    let refused = app
        .send_as(
            "POST",
            &format!("/v1/costs/{id}/reverse"),
            Some(&token),
            None,
            &[],
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.pointers(), vec!["/reason".to_owned()]);
}

async fn slow_bodies_are_timed_out(app: &TestApp) {
    use std::io::{Read, Write};
    // A client that announces a body, sends a few bytes of it, then a byte now and then.
    let address = app.base.trim_start_matches("http://").to_owned();
    let token = app.admin();
    let started = std::time::Instant::now();
    let answer = actix_rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let body = r#"{"name": "Association du bout du monde", "kind": "association"}"#;
        let head = format!(
            "POST /v1/employers HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        for byte in body.bytes().take(8) {
            stream.write_all(&[byte]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Nothing was registered, and the server answers the next request.
    let list = app.get("/v1/employers", &app.admin()).await.expect(200);
    assert_eq!(list.body["items"], json!([]));
}

async fn the_page_is_served_under_a_strict_policy(app: &TestApp) {
    for (path, kind) in [
        ("/app/", "text/html"),
        ("/app/app.js", "text/javascript"),
        ("/app/app.css", "text/css"),
        ("/app/vendor/chart.umd.min.js", "text/javascript"),
    ] {
        let answer = app.send("GET", path, None, None, &[]).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(answer.header("content-type").unwrap().starts_with(kind));
        let policy = answer.header("content-security-policy").unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"));
    }
    let page = app.send("GET", "/app/", None, None, &[]).await;
    assert!(page.text.contains(r#"<html lang="fr">"#));
    assert!(!page.text.contains("<script>"), "no inline script");
}

async fn a_database_that_cannot_write_is_seen(app: &TestApp) {
    use diesel::connection::SimpleConnection;
    use portage_ledger::db::{self, DbConnection};
    let mut conn = app.pool.get().unwrap();
    db::can_write(&mut conn).unwrap();
    // The same connection made read-only, as a read-only file or a standby server would be.
    let (read_only, writable) = match &mut *conn {
        DbConnection::Sqlite(_) => ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
        DbConnection::Postgresql(_) => (
            "SET default_transaction_read_only = on",
            "SET default_transaction_read_only = off",
        ),
    };
    conn.batch_execute(read_only).unwrap();
    let refused = db::can_write(&mut conn);
    conn.batch_execute(writable).unwrap();
    let error = portage_ledger::error::ApiError::from(refused.unwrap_err());
    assert_eq!(
        actix_web::ResponseError::status_code(&error).as_u16(),
        503,
        "{error}"
    );
    assert!(error.to_string().contains("accepts no writes"), "{error}");
    db::can_write(&mut conn).unwrap();
    // And the server reports a healthy, writable database.
    let health = app
        .send("GET", "/healthz", None, None, &[])
        .await
        .expect(200);
    assert_eq!(health.body["database"], "ok");
}

async fn pages_are_bounded(app: &TestApp) {
    let admin = app.admin();
    for name in ["A", "B", "C"] {
        app.funder(name, "company").await;
    }
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=zzz",
        "colour=red",
        "limit=1&limit=2",
    ] {
        app.get(&format!("/v1/funders?{bad}"), &admin)
            .await
            .problem(422, "validation_failed");
    }
    let first = app.get("/v1/funders?limit=2", &admin).await.expect(200);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/v1/funders?limit=2&cursor={cursor}"), &admin)
        .await
        .expect(200);
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert!(second.body["next_cursor"].is_null());
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["A", "B", "C"]);
}

async fn operations_endpoints(app: &TestApp) {
    let health = app
        .send("GET", "/healthz", None, None, &[])
        .await
        .expect(200);
    assert_eq!(health.body["database"], "ok");
    let openapi = app
        .send("GET", "/openapi.json", None, None, &[])
        .await
        .expect(200);
    assert_eq!(openapi.body["openapi"], "3.1.0");
    app.get("/v1/funders", &app.admin()).await.expect(200);
    let metrics = app.client_text("/metrics").await;
    assert!(
        metrics.contains(
            r#"portage_http_requests_total{method="GET",route="/v1/funders",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "portage_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 1"
    ));
}

crate::on_both_databases!(
    bad_bodies_are_named,
    money_and_months_are_strict,
    transport_errors_are_problems,
    bodies_are_read_as_what_they_say,
    slow_bodies_are_timed_out,
    the_page_is_served_under_a_strict_policy,
    a_database_that_cannot_write_is_seen,
    pages_are_bounded,
    operations_endpoints,
);

/// PostgreSQL dropping the server's connections (a restart, a fail-over) costs a few 503s,
/// never a 500, and the dead connections are replaced rather than handed out again.
#[actix_rt::test]
async fn lost_database_connections_are_replaced() {
    use diesel::prelude::*;
    let Some(app) = crate::support::spawn(crate::support::Backend::Postgres).await else {
        return;
    };
    let admin = app.admin();
    app.get("/v1/employers", &admin).await.expect(200);
    {
        // Every connection to the test database, this one included (so its query fails).
        let mut conn = app.pool.get().unwrap();
        let _ = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database()",
        )
        .execute(&mut conn);
    }
    let mut failures = 0;
    loop {
        let answer = app.get("/v1/employers", &admin).await;
        if answer.status == 200 {
            break;
        }
        answer.problem(503, "unavailable");
        failures += 1;
        assert!(failures <= 8, "the dead connections keep coming back");
    }
    for _ in 0..10 {
        app.get("/v1/employers", &admin).await.expect(200);
    }
}
