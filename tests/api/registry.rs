//! Employers and funders: registration, reading, and what each role sees.

use crate::support::TestApp;
use serde_json::json;

async fn employers_register_and_read_back(app: &TestApp) {
    let created = app
        .post(
            "/v1/employers",
            &app.mission(),
            &json!({"name": "GEIQ Médiation", "kind": "employer_grouping", "siren": "732829320", "territory": "MEL"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/employers/{id}"))
    );
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    let read = app
        .get(&format!("/v1/employers/{id}"), &app.admin())
        .await
        .expect(200);
    assert_eq!(read.body["name"], "GEIQ Médiation");
    assert_eq!(read.body["kind"], "employer_grouping");
    assert_eq!(read.body["siren"], "732829320");
    assert_eq!(read.body["territory"], "MEL");
}

async fn funders_show_names_and_kinds_to_everyone(app: &TestApp) {
    let created = app
        .post(
            "/v1/funders",
            &app.admin(),
            &json!({"name": "Banque des Territoires", "kind": "public_bank", "siren": "180020026"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let employer = app.employer("E").await;
    for token in [
        app.token("employer", Some(&employer)),
        app.token("funder", Some(&id)),
    ] {
        let read = app
            .get(&format!("/v1/funders/{id}"), &token)
            .await
            .expect(200);
        assert_eq!(
            read.body,
            json!({"id": id, "name": "Banque des Territoires", "kind": "public_bank"})
        );
        let list = app.get("/v1/funders", &token).await.expect(200);
        assert_eq!(list.body["items"][0]["name"], "Banque des Territoires");
        assert!(list.body["items"][0].get("siren").is_none());
    }
    let full = app
        .get(&format!("/v1/funders/{id}"), &app.mission())
        .await
        .expect(200);
    assert_eq!(full.body["siren"], "180020026");
    app.post(
        "/v1/funders",
        &app.token("employer", Some(&employer)),
        &json!({"name": "X", "kind": "state"}),
    )
    .await
    .problem(403, "forbidden");
}

crate::on_both_databases!(
    employers_register_and_read_back,
    funders_show_names_and_kinds_to_everyone
);
