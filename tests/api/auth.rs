//! Tokens and scopes: 401 for every bad token, 403 for a role that may never act, 404 for an
//! id outside the token's scope.

use crate::support::{TestApp, SECRET};
use portage_ledger::auth::{now_seconds, Claims, TokenKeys};

fn claims(role: &str) -> Claims {
    Claims {
        sub: "t".into(),
        role: role.into(),
        employer_id: None,
        funder_id: None,
        exp: now_seconds() + 600,
        iat: Some(now_seconds()),
        nbf: None,
    }
}

async fn bad_tokens_answer_401(app: &TestApp) {
    let path = "/v1/funders";
    app.send("GET", path, None, None, &[])
        .await
        .problem(401, "unauthorized");
    app.send("GET", path, None, None, &[("Authorization", "Basic abc")])
        .await
        .problem(401, "unauthorized");
    app.get(path, "not.a.jwt")
        .await
        .problem(401, "unauthorized");
    let expired = Claims {
        exp: now_seconds() - 10,
        ..claims("admin")
    };
    app.get(path, &app.sign(&expired))
        .await
        .problem(401, "unauthorized");
    let other = TokenKeys::from_secret(b"another secret, thirty-two bytes long").unwrap();
    app.get(path, &other.sign(&claims("admin")).unwrap())
        .await
        .problem(401, "unauthorized");
    app.get(path, &app.sign(&claims("superuser")))
        .await
        .problem(401, "unauthorized");
    app.get(path, &app.sign(&claims("employer")))
        .await
        .problem(401, "unauthorized");
    app.get(path, &app.sign(&claims("funder")))
        .await
        .problem(401, "unauthorized");
    let not_uuid = Claims {
        employer_id: Some("42".into()),
        ..claims("employer")
    };
    app.get(path, &app.sign(&not_uuid))
        .await
        .problem(401, "unauthorized");
    // alg: none carrying otherwise valid claims.
    let valid = app.sign(&claims("admin"));
    let payload = valid.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    app.get(path, &unsigned).await.problem(401, "unauthorized");
    // Well signed, but naming parties that were never registered.
    let ghost = uuid::Uuid::now_v7().to_string();
    for (role, paths) in [
        (
            "employer",
            ["/v1/employers", "/v1/periods", "/v1/reports/overview"],
        ),
        (
            "funder",
            ["/v1/funders", "/v1/calls", "/v1/reports/at-risk"],
        ),
    ] {
        let token = app.token(role, Some(&ghost));
        for path in paths {
            let refused = app.get(path, &token).await.problem(401, "unauthorized");
            assert!(refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("not registered"));
        }
    }
    // A token from the future: not valid yet, or issued later than now.
    let not_yet = Claims {
        nbf: Some(now_seconds() + 120),
        ..claims("admin")
    };
    app.get(path, &app.sign(&not_yet))
        .await
        .problem(401, "unauthorized");
    let issued_later = Claims {
        iat: Some(now_seconds() + 120),
        ..claims("admin")
    };
    app.get(path, &app.sign(&issued_later))
        .await
        .problem(401, "unauthorized");
    // A huge token answers a problem, not a bare status.
    let huge = format!("{}.{}.x", "a".repeat(40_000), "b".repeat(40_000));
    app.get(path, &huge).await.problem(401, "unauthorized");
    // The details are the service's own words, not the JWT library's.
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    let payload = "eyJzdWIiOiJ4Iiwicm9sZSI6NDIsImV4cCI6OTk5OTk5OTk5OX0";
    let refused = app
        .get(path, &format!("{header}.{payload}.c2ln"))
        .await
        .problem(401, "unauthorized");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        !detail.contains("JSON") && !detail.contains('`'),
        "{detail}"
    );
    // The right secret still works: the refusals above are about the tokens.
    assert!(!SECRET.is_empty());
    app.get(path, &valid).await.expect(200);
}

async fn roles_are_scoped(app: &TestApp) {
    let mine = app.employer("Mine").await;
    let theirs = app.employer("Theirs").await;
    let funder = app.funder("Bailleur", "social_landlord").await;
    let employer_token = app.token("employer", Some(&mine));
    let funder_token = app.token("funder", Some(&funder));

    // Registering: the mission and the operator only.
    let body = serde_json::json!({"name": "X", "kind": "association"});
    app.post("/v1/employers", &employer_token, &body)
        .await
        .problem(403, "forbidden");
    // A role that may never act is told so whatever it sends: authorization comes first.
    let bad = serde_json::json!({"name": "X", "kind": "association", "siren": "123"});
    for token in [&employer_token, &funder_token] {
        app.post("/v1/employers", token, &bad)
            .await
            .problem(403, "forbidden");
    }
    let nonsense = serde_json::json!({"amount": "lots"});
    for path in [
        "/v1/posts".to_owned(),
        format!("/v1/posts/{}/costs", uuid::Uuid::now_v7()),
        "/v1/commitments".to_owned(),
        "/v1/calls".to_owned(),
        "/v1/payments".to_owned(),
        "/v1/periods/close".to_owned(),
        "/v1/allocations/run".to_owned(),
    ] {
        for token in [&funder_token, &app.mission()] {
            app.post(&path, token, &nonsense)
                .await
                .problem(403, "forbidden");
        }
    }
    app.post("/v1/employers", &funder_token, &body)
        .await
        .problem(403, "forbidden");
    app.post("/v1/employers", &app.mission(), &body)
        .await
        .expect(201);

    // An employer reads itself, not another (404: existence is not leaked).
    app.get(&format!("/v1/employers/{mine}"), &employer_token)
        .await
        .expect(200);
    app.get(&format!("/v1/employers/{theirs}"), &employer_token)
        .await
        .problem(404, "not_found");
    let list = app.get("/v1/employers", &employer_token).await.expect(200);
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.as_str()]);
    // The mission sees all three.
    let all = app.get("/v1/employers", &app.mission()).await.expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    // A funder does not read employers.
    app.get("/v1/employers", &funder_token)
        .await
        .problem(403, "forbidden");

    // A post for another employer: 404; the mission may not create posts: 403.
    let post = serde_json::json!({
        "employer_id": theirs, "title": "T", "territory": "QP", "activity": "housing",
        "fte": "1.00", "start_month": "2026-01", "monthly_budget": "100.00"
    });
    app.post("/v1/posts", &employer_token, &post)
        .await
        .problem(404, "not_found");
    app.post("/v1/posts", &app.mission(), &post)
        .await
        .problem(403, "forbidden");
    app.post("/v1/posts", &funder_token, &post)
        .await
        .problem(403, "forbidden");
    app.post("/v1/posts", &app.admin(), &post).await.expect(201);
}

/// A request head over actix-http's 128 KiB read buffer is refused before any service sees it;
/// the vendored dispatcher (vendor/README.md) answers it with a problem, not a bare 431. Sent
/// by hand: the head is what is under test.
async fn a_head_over_the_buffer_is_a_problem(app: &TestApp) {
    use std::io::{Read, Write};
    let address = app.base.trim_start_matches("http://").to_owned();
    let answer = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "GET /v1/employers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
            "a".repeat(200_000)
        );
        // The server may answer and close before it has read all of it.
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], 431);
    assert_eq!(problem["code"], "headers_too_large");
    assert!(problem["title"].is_string() && problem["detail"].is_string());
}

crate::on_both_databases!(
    bad_tokens_answer_401,
    roles_are_scoped,
    a_head_over_the_buffer_is_a_problem
);
