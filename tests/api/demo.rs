//! The demonstration data set loads on both backends, balances, and refuses a second load.

use crate::support::TestApp;
use portage_ledger::auth::TokenKeys;

async fn the_demo_loads_once_and_balances(app: &TestApp) {
    let ids = {
        let mut conn = app.pool.get().unwrap();
        portage_ledger::demo::load(&mut conn).unwrap()
    };
    let keys = TokenKeys::from_secret(crate::support::SECRET).unwrap();
    let lines = portage_ledger::demo::token_lines(&ids, &keys).unwrap();
    let token_of = |role: &str| {
        let prefix = format!("export PORTAGE_TOKEN_{role}=");
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap()
            .to_owned()
    };
    // The printed tokens work, and the employer sees allocated months with real splits.
    let employer = token_of("EMPLOYER");
    let view = app
        .get(&format!("/v1/posts/{}/allocations", ids.post_id), &employer)
        .await
        .expect(200);
    let items = view.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["cost"], "3127.45");
    assert_eq!(items[0]["uncovered"], "0.00");
    let funder = token_of("FUNDER");
    let own = app
        .get(&format!("/v1/posts/{}/allocations", ids.post_id), &funder)
        .await
        .expect(200);
    assert_eq!(own.body["items"][0]["lines"][0]["amount"], "674.56");
    app.get("/v1/employers", &token_of("MISSION"))
        .await
        .expect(200);
    // Calls: the State's partly paid, landlord A's paid with 1,500.00 of credit left over.
    let calls = app.get("/v1/calls", &employer).await.expect(200);
    let statuses: Vec<&str> = calls.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["partially_paid", "paid", "issued"]);
    let statement = app
        .get(&format!("/v1/funders/{}/statement", ids.funder_id), &funder)
        .await
        .expect(200);
    assert_eq!(statement.body["totals"]["credit"], "1500.00");
    // A believable region: sixty-two posts, some red, some amber.
    let overview = app
        .get("/v1/reports/overview?as_of=2026-11", &token_of("MISSION"))
        .await
        .expect(200);
    assert_eq!(overview.body["totals"]["posts"], 62);
    assert!(overview.body["totals"]["risk"]["red"].as_i64().unwrap() > 0);
    assert!(overview.body["totals"]["risk"]["amber"].as_i64().unwrap() > 0);
    app.get("/v1/funders", &token_of("ADMIN")).await.expect(200);
    // The adultes-relais rate, revised in July, and two posts shared by hours among three
    // landlords, allocated every month: the State's rate first, then the hours' parts.
    let rate = app
        .get("/v1/rates/adultes-relais", &employer)
        .await
        .expect(200);
    assert_eq!(rate.body["values"].as_array().unwrap().len(), 2);
    let commitments = app
        .get("/v1/commitments?limit=1000", &employer)
        .await
        .expect(200);
    let keyed: Vec<&serde_json::Value> = commitments.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["basis"] == "activity")
        .collect();
    assert_eq!(keyed.len(), 6);
    let shared_post = keyed[0]["post_id"].as_str().unwrap();
    let split = app
        .get(&format!("/v1/posts/{shared_post}/allocations"), &employer)
        .await
        .expect(200);
    let july = &split.body["items"][6];
    assert_eq!(july["month"], "2026-07");
    assert_eq!(july["lines"].as_array().unwrap().len(), 4, "{july}");
    assert_ne!(
        july["uncovered"], "0.00",
        "the other hours are the employer's own"
    );
    crate::books::check_ledger_invariants(app);
    let mut conn = app.pool.get().unwrap();
    assert!(
        portage_ledger::demo::load(&mut conn).is_err(),
        "a second load is refused"
    );
}

crate::on_both_databases!(the_demo_loads_once_and_balances);
