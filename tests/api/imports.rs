//! Imports: payroll, posts, conventions and timesheets in one call, as JSON or CSV in either
//! French dialect; all or nothing, a duplicate file refused, a fault midway leaving nothing,
//! and no other party's data reachable through a file.

use crate::books::check_ledger_invariants;
use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::schema::{costs, imports, journal_entries};
use serde_json::{json, Value};

/// Sends a file as `text/csv`.
async fn send_csv(app: &TestApp, path: &str, token: &str, csv: &str) -> crate::support::Answer {
    app.send_as(
        "POST",
        path,
        Some(token),
        Some(csv),
        &[("Content-Type", "text/csv; charset=utf-8")],
    )
    .await
}

fn counts(app: &TestApp) -> (i64, i64, i64) {
    let mut conn = app.pool.get().unwrap();
    let c: i64 = costs::table.count().get_result(&mut *conn).unwrap();
    let i: i64 = imports::table.count().get_result(&mut *conn).unwrap();
    let e: i64 = journal_entries::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    (c, i, e)
}

/// An employer with two posts known by their references.
async fn payroll_employer(app: &TestApp) -> (String, String, String, String) {
    let employer = app.employer("Groupement").await;
    let token = app.token("employer", Some(&employer));
    let mut posts = Vec::new();
    for reference in ["MED-001", "MED-002"] {
        let post = app
            .post(
                "/v1/posts",
                &token,
                &json!({"employer_id": employer, "title": format!("Poste {reference}"),
                        "territory": "QP059034", "activity": "housing", "fte": "1.00",
                        "start_month": "2026-01", "monthly_budget": "3000.00", "reference": reference}),
            )
            .await
            .expect(201);
        assert_eq!(post.body["reference"], reference);
        posts.push(post.body["id"].as_str().unwrap().to_owned());
    }
    (employer, token, posts[0].clone(), posts[1].clone())
}

async fn payroll_files_in_every_dialect(app: &TestApp) {
    let (employer, token, first, second) = payroll_employer(app).await;
    // Comma-separated, LF, references.
    let comma = "post_reference,month,category,amount,reference\n\
                 MED-001,2026-01,salary,2500.00,paie janvier\n\
                 MED-002,2026-01,salary,2400.50,\n\
                 MED-001,2026-01,employer_charges,612.40,\"charges, janvier\"\n";
    let path = format!("/v1/imports/costs?employer_id={employer}");
    let imported = send_csv(app, &path, &token, comma).await.expect(201);
    assert_eq!(imported.body["kind"], "costs");
    assert_eq!(imported.body["format"], "csv");
    assert_eq!(imported.body["lines"], 3);
    assert_eq!(imported.body["total"], "5512.90");
    assert_eq!(imported.body["months"], json!(["2026-01"]));
    assert_eq!(imported.body["recorded_by"]["role"], "employer");
    assert_eq!(imported.body["sha256"].as_str().unwrap().len(), 64);
    let import_id = imported.body["id"].as_str().unwrap().to_owned();
    // Semicolons, decimal commas, BOM, CRLF, post ids: as French spreadsheets export.
    let semicolon = format!(
        "\u{feff}post_id;month;category;amount\r\n{first};2026-02;salary;2 500,00\r\n{second};2026-02;training;\"1 200,5\"\r\n"
    );
    send_csv(app, &path, &token, &semicolon)
        .await
        .problem(422, "validation_failed");
    let semicolon = format!(
        "\u{feff}post_id;month;category;amount\r\n{first};2026-02;salary;2500,00\r\n{second};2026-02;training;\"1200,5\"\r\n"
    );
    let second_import = send_csv(app, &path, &token, &semicolon).await.expect(201);
    assert_eq!(second_import.body["total"], "3700.50");
    // JSON, naming the employer in the body.
    let json_file = json!({"employer_id": employer, "lines": [
        {"post_reference": "MED-002", "month": "2026-03", "category": "salary", "amount": "2400.00"}
    ]});
    app.post("/v1/imports/costs", &token, &json_file)
        .await
        .expect(201);
    // The costs read back their import; the import is listed and read.
    let listed = app
        .get(&format!("/v1/posts/{first}/costs"), &token)
        .await
        .expect(200);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().any(|c| c["import_id"] == import_id.as_str()));
    assert!(items.iter().any(|c| c["reference"] == "charges, janvier"));
    let all = app.get("/v1/imports", &token).await.expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    app.get(&format!("/v1/imports/{import_id}"), &app.mission())
        .await
        .expect(200);
    let other = app.employer("Other").await;
    app.get(
        &format!("/v1/imports/{import_id}"),
        &app.token("employer", Some(&other)),
    )
    .await
    .problem(404, "not_found");
    // Each cost has its own entry; the books balance.
    assert_eq!(counts(app).0, 6);
    assert_eq!(counts(app).2, 6);
    check_ledger_invariants(app);

    // The same file again is refused unless meant.
    let again = send_csv(app, &path, &token, comma)
        .await
        .problem(409, "duplicate_import");
    assert!(again.body["detail"].as_str().unwrap().contains(&import_id));
    send_csv(app, &format!("{path}&allow_duplicate=true"), &token, comma)
        .await
        .expect(201);
    assert_eq!(counts(app).0, 9);

    // Reversing the import reverses each of its costs, once.
    let reversed = app
        .post(
            &format!("/v1/imports/{import_id}/reverse"),
            &token,
            &json!({}),
        )
        .await
        .expect(200);
    assert!(reversed.body["reversed_at"].is_string());
    assert_eq!(counts(app).0, 12);
    app.post(
        &format!("/v1/imports/{import_id}/reverse"),
        &token,
        &json!({}),
    )
    .await
    .problem(409, "already_reversed");
    assert_eq!(counts(app).0, 12);
    check_ledger_invariants(app);
}

async fn one_bad_line_refuses_the_file(app: &TestApp) {
    let (employer, token, _, _) = payroll_employer(app).await;
    app.post(
        "/v1/periods/close",
        &token,
        &json!({"employer_id": employer, "month": "2026-01"}),
    )
    .await
    .expect(200);
    let before = counts(app);
    let csv = "post_reference;month;category;amount\n\
               MED-001;2026-02;salary;2500,00\n\
               MED-002;2026-02;salary;-3\n\
               MED-003;2026-02;salary;10,00\n\
               MED-001;2026-01;salary;10,00\n\
               MED-001;2026-02;wages;10,00\n";
    let path = format!("/v1/imports/costs?employer_id={employer}");
    let refused = send_csv(app, &path, &token, csv)
        .await
        .problem(422, "validation_failed");
    let errors = refused.body["errors"].as_array().unwrap();
    let summary: Vec<(String, u64, String)> = errors
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().to_owned(),
                e["line"].as_u64().unwrap(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "/lines/1/amount".to_owned(),
                3,
                "validation_failed".to_owned()
            ),
            (
                "/lines/2/post_reference".to_owned(),
                4,
                "no_such_post".to_owned()
            ),
            ("/lines/3/month".to_owned(), 5, "period_closed".to_owned()),
            (
                "/lines/4/category".to_owned(),
                6,
                "validation_failed".to_owned()
            ),
        ],
        "{}",
        refused.body
    );
    assert_eq!(counts(app), before, "nothing written");

    // Another employer's posts are no posts of this one: each line says so, nothing more.
    let other = app.employer("Other").await;
    let theirs = app.post_of(&other, "2026-01", "100.00").await;
    let file = json!({"employer_id": employer, "lines": [
        {"post_id": theirs, "month": "2026-02", "category": "salary", "amount": "1.00"},
        {"post_id": theirs, "month": "2026-03", "category": "salary", "amount": "1.00"}
    ]});
    let refused = app
        .post("/v1/imports/costs", &token, &file)
        .await
        .problem(422, "validation_failed");
    for error in refused.body["errors"].as_array().unwrap() {
        assert_eq!(error["code"], "no_such_post");
        assert_eq!(error["detail"], "no such post");
    }
    // Naming another employer outright: 404, as everywhere.
    app.post(
        "/v1/imports/costs",
        &token,
        &json!({"employer_id": other, "lines": [{"post_id": theirs, "month": "2026-02", "category": "salary", "amount": "1.00"}]}),
    )
    .await
    .problem(404, "not_found");
    // Roles that never write: 403 whatever the file.
    for role_token in [
        app.mission(),
        app.token("funder", Some(&app.funder("F", "state").await)),
    ] {
        send_csv(app, &path, &role_token, "garbage")
            .await
            .problem(403, "forbidden");
    }
    // Not JSON nor CSV: 415; a file over the import limit: 413.
    app.send_as(
        "POST",
        &path,
        Some(&token),
        Some("a;b"),
        &[("Content-Type", "text/plain")],
    )
    .await
    .problem(415, "unsupported_media_type");
    let big = format!(
        "post_reference,month,category,amount\n{}",
        "MED-001,2026-02,salary,1.00\n".repeat(crate::support::IMPORT_LIMIT / 20)
    );
    send_csv(app, &path, &token, &big)
        .await
        .problem(413, "payload_too_large");
    assert_eq!(counts(app), before);
}

async fn a_fault_midway_leaves_nothing(app: &TestApp) {
    let (employer, token, _, _) = payroll_employer(app).await;
    // A fault of the store on one line of the file, as a full disk or a crash would raise.
    {
        let mut conn = app.pool.get().unwrap();
        let ddl: &[&str] = match &mut *conn {
            portage_ledger::db::DbConnection::Sqlite(_) => &[
                "CREATE TRIGGER injected_fault BEFORE INSERT ON costs WHEN NEW.reference = 'boom' \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
            portage_ledger::db::DbConnection::Postgresql(_) => &[
                "CREATE FUNCTION injected_fault() RETURNS trigger AS $$ BEGIN \
                 IF NEW.reference = 'boom' THEN RAISE EXCEPTION 'injected fault'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER injected_fault BEFORE INSERT ON costs FOR EACH ROW \
                 EXECUTE FUNCTION injected_fault()",
            ],
        };
        for statement in ddl {
            diesel::sql_query(*statement).execute(&mut *conn).unwrap();
        }
    }
    let before = counts(app);
    let mut csv = String::from("post_reference,month,category,amount,reference\n");
    for i in 0..40 {
        let reference = if i == 20 { "boom" } else { "paie" };
        csv.push_str(&format!("MED-001,2026-02,salary,10.00,{reference}\n"));
    }
    let path = format!("/v1/imports/costs?employer_id={employer}");
    let failed = send_csv(app, &path, &token, &csv).await;
    assert_eq!(failed.status, 500, "{}", failed.body);
    assert_eq!(counts(app), before, "nothing of the file was written");
    check_ledger_invariants(app);
    // The file is not taken for imported: once the fault is gone it goes through.
    let fixed = csv.replace("boom", "paie");
    send_csv(app, &path, &token, &fixed).await.expect(201);
}

async fn posts_conventions_and_timesheets(app: &TestApp) {
    let employer = app.employer("Groupement").await;
    let token = app.token("employer", Some(&employer));
    let posts = "reference;title;territory;activity;fte;start_month;monthly_budget\n\
                 R-1;Médiateur Nord;QP059001;housing;1,00;2026-01;3000,00\n\
                 R-2;Médiatrice Sud;QP059002;transport;0,80;2026-01;2400,00\n";
    let path = |kind: &str| format!("/v1/imports/{kind}?employer_id={employer}");
    send_csv(app, &path("posts"), &token, posts)
        .await
        .expect(201);
    // A reference twice in a file is a bad line.
    let twice = "reference,title,territory,activity,fte,start_month,monthly_budget\n\
                 R-3,A,QP1,housing,1.00,2026-01,1.00\n\
                 R-3,B,QP1,housing,1.00,2026-01,1.00\n";
    let refused = send_csv(app, &path("posts"), &token, twice)
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["code"], "reference_taken");
    assert_eq!(refused.body["errors"][0]["pointer"], "/lines/1");
    let siren_funder = app
        .post(
            "/v1/funders",
            &app.admin(),
            &json!({"name": "LMH", "kind": "social_landlord", "siren": "732829320"}),
        )
        .await
        .expect(201);
    let other_funder = app.funder("Vilogia", "social_landlord").await;
    // Shares over 100 % across the file are refused at the line that goes over.
    let over = format!(
        "post_reference,funder_siren,funder_id,basis,percent,start_month,end_month,reference\n\
         R-1,732829320,,share,60,2026-01,2026-12,C1\n\
         R-1,,{other_funder},share,50,2026-01,2026-12,C2\n"
    );
    let refused = send_csv(app, &path("commitments"), &token, &over)
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["code"], "shares_over_100");
    assert_eq!(refused.body["errors"][0]["line"], 3);
    let conventions = format!(
        "post_reference,funder_siren,funder_id,basis,percent,start_month,end_month,reference\n\
         R-1,,{other_funder},activity,,2026-01,2026-12,H-VIL\n\
         R-1,732829320,,activity,,2026-01,2026-12,H-LMH\n"
    );
    send_csv(app, &path("commitments"), &token, &conventions)
        .await
        .expect(201);
    // A SIREN no funder has is a bad line, and so is a SIREN that is not text.
    let unknown =
        "post_reference,funder_siren,funder_id,basis,percent,start_month,end_month,reference\n\
                   R-2,552100554,,share,10,2026-01,2026-12,C9\n";
    let refused = send_csv(app, &path("commitments"), &token, unknown)
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["code"], "no_such_funder");
    assert_eq!(
        refused.body["errors"][0]["pointer"],
        "/lines/0/funder_siren"
    );
    let numeric = json!({"employer_id": employer, "lines": [{
        "post_reference": "R-2", "funder_siren": 732829320, "basis": "share", "percent": "10",
        "start_month": "2026-01", "end_month": "2026-12", "reference": "C9"}]});
    let refused = app
        .post("/v1/imports/commitments", &token, &numeric)
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        refused.body["errors"][0]["pointer"],
        "/lines/0/funder_siren"
    );
    let lmh = siren_funder.body["id"].as_str().unwrap();
    // Timesheets: hours by commitment reference; an empty reference is other hours.
    let hours = "post_reference,month,commitment_reference,hours\n\
                 R-1,2026-01,H-VIL,60\n\
                 R-1,2026-01,H-LMH,30\n\
                 R-1,2026-01,,10\n";
    send_csv(app, &path("activity"), &token, hours)
        .await
        .expect(201);
    let bad_hours = "post_reference,month,commitment_reference,hours\nR-1,2026-02,H-NONE,5\n";
    let refused = send_csv(app, &path("activity"), &token, bad_hours)
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["code"], "no_such_commitment");
    // The hours split the month: 60 / 30 / 10 of 3,000.00.
    let post_list = app.get("/v1/posts", &token).await.expect(200);
    let post = post_list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["reference"] == "R-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/posts/{post}/costs"),
        &token,
        &json!({"month": "2026-01", "category": "salary", "amount": "3000.00"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .expect(200);
    let split = app
        .get(&format!("/v1/posts/{post}/allocations"), &token)
        .await
        .expect(200);
    let item = &split.body["items"][0];
    assert_eq!(item["uncovered"], "300.00");
    let lmh_line: Vec<&Value> = item["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["funder_id"] == lmh)
        .collect();
    assert_eq!(lmh_line[0]["amount"], "900.00");
}

crate::on_both_databases!(
    payroll_files_in_every_dialect,
    one_bad_line_refuses_the_file,
    a_fault_midway_leaves_nothing,
    posts_conventions_and_timesheets,
);
