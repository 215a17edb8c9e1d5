//! Costs, commitments, allocation runs and the ledger, through the API, with the ledger's
//! invariants recomputed from its lines after each case.

use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::schema::{
    account_balances, allocation_lines, call_lines, calls, journal_lines, payments,
};
use portage_ledger::db::DbConnection;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// entry, employer, account, funder, post, debit, credit.
type LineRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

/// Recomputes every balance from the journal's lines and checks the invariants of DOMAIN.md:
/// each entry balances, the running balances equal the lines, for each funder and post the
/// 4687 balance equals allocated − called (never negative), and for each funder the 441
/// balance equals called − received.
pub fn check_ledger_invariants(app: &TestApp) {
    let mut conn = app.pool.get().unwrap();
    let lines: Vec<LineRow> = journal_lines::table
        .select((
            journal_lines::entry_id,
            journal_lines::employer_id,
            journal_lines::account,
            journal_lines::funder_id,
            journal_lines::post_id,
            journal_lines::debit_cents,
            journal_lines::credit_cents,
        ))
        .load(&mut conn)
        .unwrap();
    let mut per_entry: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut per_key: BTreeMap<(String, String, String, String), (i64, i64)> = BTreeMap::new();
    let mut to_call: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut receivable: BTreeMap<String, i64> = BTreeMap::new();
    for (entry, employer, account, funder, post, debit, credit) in &lines {
        let e = per_entry.entry(entry.clone()).or_default();
        e.0 += debit;
        e.1 += credit;
        let key = (
            employer.clone(),
            account.clone(),
            funder.clone().unwrap_or_default(),
            post.clone().unwrap_or_default(),
        );
        let k = per_key.entry(key).or_default();
        k.0 += debit;
        k.1 += credit;
        if account == "441" {
            *receivable
                .entry(funder.clone().unwrap_or_default())
                .or_default() += debit - credit;
        }
        if account == "4687" {
            *to_call
                .entry((
                    funder.clone().unwrap_or_default(),
                    post.clone().unwrap_or_default(),
                ))
                .or_default() += debit - credit;
        }
    }
    for (entry, (debit, credit)) in &per_entry {
        assert_eq!(debit, credit, "entry {entry} does not balance");
    }
    let running: BTreeMap<(String, String, String, String), (i64, i64)> = account_balances::table
        .select((
            account_balances::employer_id,
            account_balances::account,
            account_balances::funder_key,
            account_balances::post_key,
            account_balances::debit_cents,
            account_balances::credit_cents,
        ))
        .load::<(String, String, String, String, i64, i64)>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|(e, a, f, p, d, c)| ((e, a, f, p), (d, c)))
        .collect();
    assert_eq!(running, per_key, "running balances differ from the lines");
    let allocated: Vec<(String, String, i64)> = allocation_lines::table
        .select((
            allocation_lines::funder_id,
            allocation_lines::post_id,
            allocation_lines::amount_cents,
        ))
        .load(&mut conn)
        .unwrap();
    // allocated − called (calls not cancelled) per funder and post.
    let mut allocated_sum: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (funder, post, amount) in allocated {
        *allocated_sum.entry((funder, post)).or_default() += amount;
    }
    let live_calls = calls::table
        .filter(calls::cancelled_on.is_null())
        .select(calls::id);
    let called: Vec<(String, String, i64)> = call_lines::table
        .filter(call_lines::call_id.eq_any(live_calls))
        .select((
            call_lines::funder_id,
            call_lines::post_id,
            call_lines::amount_cents,
        ))
        .load(&mut conn)
        .unwrap();
    let mut called_by_funder: BTreeMap<String, i64> = BTreeMap::new();
    for (funder, post, amount) in called {
        *allocated_sum.entry((funder.clone(), post)).or_default() -= amount;
        *called_by_funder.entry(funder).or_default() += amount;
    }
    for ((funder, post), left) in &allocated_sum {
        assert!(
            *left >= 0,
            "more called than allocated for {funder} on {post}"
        );
    }
    allocated_sum.retain(|_, v| *v != 0);
    to_call.retain(|_, v| *v != 0);
    assert_eq!(
        to_call, allocated_sum,
        "4687 balances differ from allocated − called"
    );
    // called − received = the 441 balance, per funder.
    let received: Vec<(String, i64)> = payments::table
        .select((payments::funder_id, payments::amount_cents))
        .load(&mut conn)
        .unwrap();
    for (funder, amount) in received {
        *called_by_funder.entry(funder).or_default() -= amount;
    }
    called_by_funder.retain(|_, v| *v != 0);
    receivable.retain(|_, v| *v != 0);
    assert_eq!(
        receivable, called_by_funder,
        "441 balances differ from called − received"
    );
}

/// A post with the commitments of DOMAIN.md's worked example; returns (employer, post, funders).
pub async fn worked_example(app: &TestApp) -> (String, String, BTreeMap<&'static str, String>) {
    let employer = app.employer("GEIQ").await;
    let post = app.post_of(&employer, "2026-01", "3127.45").await;
    let token = app.token("employer", Some(&employer));
    let mut funders = BTreeMap::new();
    let plan = [
        (
            "state",
            "state",
            json!({"basis": "fixed", "monthly_amount": "1778.33"}),
        ),
        (
            "A",
            "social_landlord",
            json!({"basis": "share", "percent": "50"}),
        ),
        (
            "B",
            "social_landlord",
            json!({"basis": "share", "percent": "30"}),
        ),
        (
            "city",
            "municipality",
            json!({"basis": "share", "percent": "20"}),
        ),
    ];
    for (key, kind, terms) in plan {
        let funder = app.funder(key, kind).await;
        let mut body = json!({
            "funder_id": funder, "post_id": post, "start_month": "2026-01",
            "end_month": "2026-12", "reference": format!("CONV-{key}")
        });
        for (k, v) in terms.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post("/v1/commitments", &token, &body).await.expect(201);
        funders.insert(key, funder);
    }
    (employer, post, funders)
}

fn amounts_by_funder(
    item: &Value,
    funders: &BTreeMap<&'static str, String>,
) -> BTreeMap<String, String> {
    item["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let key = funders
                .iter()
                .find(|(_, id)| line["funder_id"] == id.as_str())
                .map(|(k, _)| (*k).to_owned())
                .unwrap();
            (key, line["amount"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn the_worked_example_splits_to_the_cent(app: &TestApp) {
    let (employer, post, funders) = worked_example(app).await;
    let token = app.token("employer", Some(&employer));
    let cost = json!({"month": "2026-01", "category": "salary", "amount": "3127.45"});
    app.post(&format!("/v1/posts/{post}/costs"), &token, &cost)
        .await
        .expect(201);
    let run = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": "2026-01"}),
        )
        .await
        .expect(200);
    assert_eq!(
        run.body["results"][0],
        json!({"post_id": post, "month": "2026-01", "cost": "3127.45", "allocated": "3127.45",
               "uncovered": "0.00", "entries_posted": 1})
    );
    let view = app
        .get(&format!("/v1/posts/{post}/allocations"), &token)
        .await
        .expect(200);
    let item = &view.body["items"][0];
    assert_eq!(item["cost"], "3127.45");
    assert_eq!(item["uncovered"], "0.00");
    let expected: BTreeMap<String, String> = [
        ("A", "674.56"),
        ("B", "404.74"),
        ("city", "269.82"),
        ("state", "1778.33"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(amounts_by_funder(item, &funders), expected);

    // Unchanged data: nothing posted.
    let again = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"employer_id": employer, "month": "2026-01"}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["results"][0]["entries_posted"], 0);

    // A funder sees its own line only, and neither cost nor uncovered.
    let b = app.token("funder", Some(&funders["B"]));
    let seen = app
        .get(&format!("/v1/posts/{post}/allocations"), &b)
        .await
        .expect(200);
    assert_eq!(
        seen.body["items"],
        json!([{"month": "2026-01", "lines": [{"commitment_id": seen.body["items"][0]["lines"][0]["commitment_id"], "funder_id": funders["B"], "amount": "404.74"}]}])
    );
    // B reads its own commitment with its cap use, not A's.
    let own = app.get("/v1/commitments", &b).await.expect(200);
    assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(own.body["items"][0]["allocated_to_date"], "404.74");
    assert!(own.body["items"][0]["cap_remaining"].is_null());

    // A second cost for the month: the re-run posts only the difference.
    let extra = json!({"month": "2026-01", "category": "training", "amount": "100.00"});
    let added = app
        .post(&format!("/v1/posts/{post}/costs"), &token, &extra)
        .await
        .expect(201);
    let rerun = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": "2026-01"}),
        )
        .await
        .expect(200);
    assert_eq!(rerun.body["results"][0]["cost"], "3227.45");
    assert_eq!(rerun.body["results"][0]["entries_posted"], 1);
    let entries = app
        .get(
            &format!("/v1/ledger/entries?account=4687&post_id={post}"),
            &token,
        )
        .await
        .expect(200);
    let allocation_entries = entries.body["items"].as_array().unwrap();
    assert_eq!(allocation_entries.len(), 2);
    // The second entry moves only the 100.00 split among the shares: 50.00 / 30.00 / 20.00.
    let second: Vec<(String, String)> = allocation_entries[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["account"] == "4687")
        .map(|l| {
            (
                l["debit"].as_str().unwrap().to_owned(),
                l["credit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(second.len(), 3);
    let total: i64 = second
        .iter()
        .map(|(d, _)| portage_ledger::domain::Money::parse(d).unwrap().cents())
        .sum();
    assert_eq!(total, 10_000);

    // Reversing that cost brings the split back.
    let added_id = added.body["id"].as_str().unwrap();
    let reversal = app
        .post(
            &format!("/v1/costs/{added_id}/reverse"),
            &token,
            &json!({"reason": "double entry"}),
        )
        .await
        .expect(201);
    assert_eq!(reversal.body["amount"], "-100.00");
    assert_eq!(reversal.body["reverses"], added_id);
    app.post(
        &format!("/v1/costs/{added_id}/reverse"),
        &token,
        &json!({"reason": "again"}),
    )
    .await
    .problem(409, "already_reversed");
    let reversal_id = reversal.body["id"].as_str().unwrap();
    app.post(
        &format!("/v1/costs/{reversal_id}/reverse"),
        &token,
        &json!({"reason": "x"}),
    )
    .await
    .problem(409, "is_a_reversal");
    let original = app
        .get(&format!("/v1/costs/{added_id}"), &token)
        .await
        .expect(200);
    assert_eq!(original.body["reversed_by"], reversal_id);
    let listed = app
        .get(&format!("/v1/posts/{post}/costs"), &token)
        .await
        .expect(200);
    let listed = listed.body["items"].as_array().unwrap();
    assert!(listed.iter().any(|item| item["id"] == added_id));
    for item in listed {
        let expected = if item["id"] == added_id {
            json!(reversal_id)
        } else {
            json!(null)
        };
        assert_eq!(item["reversed_by"], expected, "{item}");
    }
    app.post(
        "/v1/allocations/run",
        &token,
        &json!({"post_id": post, "month": "2026-01"}),
    )
    .await
    .expect(200);
    let view = app
        .get(&format!("/v1/posts/{post}/allocations"), &token)
        .await
        .expect(200);
    assert_eq!(
        amounts_by_funder(&view.body["items"][0], &funders),
        expected
    );

    let balances = app
        .get("/v1/ledger/balances?group_by=account", &token)
        .await
        .expect(200);
    let by_account: BTreeMap<String, String> = balances.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap().to_owned(),
                r["balance"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(by_account["64"], "3127.45");
    assert_eq!(by_account["42"], "-3127.45");
    assert_eq!(by_account["4687"], "3127.45");
    assert_eq!(by_account["74"], "-3127.45");
    check_ledger_invariants(app);
}

async fn every_shared_vector_through_the_api(app: &TestApp) {
    let vectors: Value =
        serde_json::from_str(include_str!("../data/allocation-vectors.json")).unwrap();
    for case in vectors["allocation"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let employer = app.employer(name).await;
        let token = app.token("employer", Some(&employer));
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
        let post = app.post_of(&employer, &first, "0.00").await;
        let mut commitments: Vec<&Value> = case["commitments"].as_array().unwrap().iter().collect();
        commitments.sort_by_key(|c| c["created_order"].as_i64().unwrap());
        let mut funders: BTreeMap<&'static str, String> = BTreeMap::new();
        for c in commitments {
            let key: &'static str =
                Box::leak(c["key"].as_str().unwrap().to_owned().into_boxed_str());
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
            app.post("/v1/commitments", &token, &body).await.expect(201);
            funders.insert(key, funder);
        }
        for (month, amount) in case["costs"].as_object().unwrap() {
            // A month that costs nothing has no cost record (costs are positive) but is still
            // allocated below.
            if amount == "0.00" {
                continue;
            }
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
        for item in view.body["items"].as_array().unwrap() {
            let month = item["month"].as_str().unwrap();
            let want = &case["expected"][month];
            let want_lines: BTreeMap<String, String> = want["lines"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(
                amounts_by_funder(item, &funders),
                want_lines,
                "{name} {month}"
            );
            assert_eq!(item["uncovered"], want["uncovered"], "{name} {month}");
        }
        assert_eq!(
            view.body["items"].as_array().unwrap().len(),
            months.len(),
            "{name}"
        );
    }
    check_ledger_invariants(app);
}

async fn caps_carry_over_and_reallocation_follows(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let funder = app.funder("Capped", "social_landlord").await;
    let commitment = app
        .post(
            "/v1/commitments",
            &token,
            &json!({"funder_id": funder, "post_id": post, "basis": "share", "percent": "50",
                    "start_month": "2026-01", "end_month": "2026-12", "cap": "800.00", "reference": "C"}),
        )
        .await
        .expect(201);
    let commitment_id = commitment.body["id"].as_str().unwrap().to_owned();
    let mut cost_ids = Vec::new();
    for month in ["2026-01", "2026-02", "2026-03"] {
        let cost = json!({"month": month, "category": "salary", "amount": "1000.00"});
        let created = app
            .post(&format!("/v1/posts/{post}/costs"), &token, &cost)
            .await
            .expect(201);
        cost_ids.push(created.body["id"].as_str().unwrap().to_owned());
        app.post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": month}),
        )
        .await
        .expect(200);
    }
    let read = app
        .get(&format!("/v1/commitments/{commitment_id}"), &token)
        .await
        .expect(200);
    assert_eq!(read.body["allocated_to_date"], "800.00");
    assert_eq!(read.body["cap_remaining"], "0.00");
    // January's cost is reversed: re-running January recomputes February and March too.
    app.post(
        &format!("/v1/costs/{}/reverse", cost_ids[0]),
        &token,
        &json!({"reason": "wrong post"}),
    )
    .await
    .expect(201);
    let rerun = app
        .post(
            "/v1/allocations/run",
            &token,
            &json!({"post_id": post, "month": "2026-01"}),
        )
        .await
        .expect(200);
    assert_eq!(rerun.body["results"][0]["cost"], "0.00");
    assert_eq!(rerun.body["results"][0]["entries_posted"], 3);
    let view = app
        .get(&format!("/v1/posts/{post}/allocations"), &token)
        .await
        .expect(200);
    let amounts: Vec<&str> = view.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["lines"][0]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["0.00", "500.00", "300.00"]);
    // A termination before an allocated month is refused; at the last one it is accepted.
    app.post(
        &format!("/v1/commitments/{commitment_id}/terminate"),
        &token,
        &json!({"end_month": "2026-02"}),
    )
    .await
    .problem(409, "already_allocated");
    let ended = app
        .post(
            &format!("/v1/commitments/{commitment_id}/terminate"),
            &token,
            &json!({"end_month": "2026-03"}),
        )
        .await
        .expect(200);
    assert_eq!(ended.body["end_month"], "2026-03");
    app.post(
        &format!("/v1/commitments/{commitment_id}/terminate"),
        &token,
        &json!({"end_month": "2026-06"}),
    )
    .await
    .problem(422, "validation_failed");
    check_ledger_invariants(app);
}

async fn commitments_are_checked(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    let a = app.funder("A", "social_landlord").await;
    let share = |percent: &str, start: &str, end: &str| {
        json!({"funder_id": a, "post_id": post, "basis": "share", "percent": percent,
               "start_month": start, "end_month": end, "reference": "R"})
    };
    app.post(
        "/v1/commitments",
        &token,
        &share("60", "2026-01", "2026-06"),
    )
    .await
    .expect(201);
    let over = app
        .post(
            "/v1/commitments",
            &token,
            &share("50", "2026-05", "2026-08"),
        )
        .await
        .problem(409, "shares_over_100");
    let detail = over.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("2026-05, 2026-06") && !detail.contains("2026-07"),
        "{detail}"
    );
    app.post(
        "/v1/commitments",
        &token,
        &share("40", "2026-01", "2026-12"),
    )
    .await
    .expect(201);
    app.post(
        "/v1/commitments",
        &token,
        &share("50", "2025-12", "2026-02"),
    )
    .await
    .problem(409, "outside_post_months");
    let bad = [
        (
            json!({"funder_id": a, "post_id": post, "basis": "fixed", "percent": "10", "start_month": "2026-01", "end_month": "2026-02", "reference": "R"}),
            "/monthly_amount",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "share", "start_month": "2026-01", "end_month": "2026-02", "reference": "R"}),
            "/percent",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "share", "percent": "0", "start_month": "2026-01", "end_month": "2026-02", "reference": "R"}),
            "/percent",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "share", "percent": "100.5", "start_month": "2026-01", "end_month": "2026-02", "reference": "R"}),
            "/percent",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "gift", "start_month": "2026-01", "end_month": "2026-02", "reference": "R"}),
            "/basis",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "fixed", "monthly_amount": "10.00", "start_month": "2026-03", "end_month": "2026-02", "reference": "R"}),
            "/end_month",
        ),
        (
            json!({"funder_id": a, "post_id": post, "basis": "fixed", "monthly_amount": "10.00", "start_month": "2026-01", "end_month": "2026-02", "reference": "R", "cap": "0.00"}),
            "/cap",
        ),
    ];
    for (body, pointer) in bad {
        let answer = app
            .post("/v1/commitments", &token, &body)
            .await
            .problem(422, "validation_failed");
        assert_eq!(answer.pointers(), vec![pointer.to_owned()], "{body}");
    }
    // An unknown funder, another employer's post: 404.
    let fixed = |funder: &str, post: &str| {
        json!({"funder_id": funder, "post_id": post, "basis": "fixed", "monthly_amount": "10.00",
               "start_month": "2026-01", "end_month": "2026-02", "reference": "R"})
    };
    app.post(
        "/v1/commitments",
        &token,
        &fixed(&uuid::Uuid::now_v7().to_string(), &post),
    )
    .await
    .problem(404, "not_found");
    let other = app.employer("Other").await;
    let other_post = app.post_of(&other, "2026-01", "1.00").await;
    app.post("/v1/commitments", &token, &fixed(&a, &other_post))
        .await
        .problem(404, "not_found");
    app.post("/v1/commitments", &app.mission(), &fixed(&a, &post))
        .await
        .problem(403, "forbidden");
    // Lists are scoped: the other employer sees none of these.
    let theirs = app
        .get("/v1/commitments", &app.token("employer", Some(&other)))
        .await
        .expect(200);
    assert_eq!(theirs.body["items"], json!([]));
    let mine = app
        .get(&format!("/v1/commitments?post_id={post}"), &token)
        .await
        .expect(200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(mine.body["items"][0]["percent"], "60.0000");
}

async fn costs_are_checked_and_scoped(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-03", "1000.00").await;
    let path = format!("/v1/posts/{post}/costs");
    let cost = |month: &str, amount: Value| json!({"month": month, "category": "salary", "amount": amount});
    app.post(&path, &token, &cost("2026-03", json!("0.00")))
        .await
        .problem(422, "validation_failed");
    app.post(&path, &token, &cost("2026-03", json!(12.5)))
        .await
        .problem(422, "validation_failed");
    app.post(&path, &token, &cost("2026-03", json!("12.505")))
        .await
        .problem(422, "validation_failed");
    app.post(
        &path,
        &token,
        &json!({"month": "2026-03", "category": "party", "amount": "1.00"}),
    )
    .await
    .problem(422, "validation_failed");
    app.post(&path, &token, &cost("2026-02", json!("1.00")))
        .await
        .problem(409, "outside_post_months");
    let created = app
        .post(&path, &token, &cost("2026-03", json!("1250.10")))
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.header("location"), Some(format!("/v1/costs/{id}")));
    app.post(&path, &token, &cost("2026-04", json!("10.00")))
        .await
        .expect(201);
    let march = app
        .get(&format!("{path}?from=2026-03&to=2026-03"), &token)
        .await
        .expect(200);
    assert_eq!(march.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(march.body["items"][0]["amount"], "1250.10");
    // The cost's entry is dated the month's last day, 64 against 42.
    let entries = app
        .get("/v1/ledger/entries?account=64&to=2026-03-31", &token)
        .await
        .expect(200);
    let entry = &entries.body["items"][0];
    assert_eq!(entry["date"], "2026-03-31");
    assert_eq!(entry["kind"], "cost");
    assert_eq!(
        entry["lines"][0],
        json!({"account": "64", "debit": "1250.10", "credit": "0.00", "post_id": post, "month": "2026-03"})
    );
    assert_eq!(entry["lines"][1]["account"], "42");

    // Scope: a funder never reads costs; another employer gets 404; the mission reads.
    let funder = app.funder("F", "state").await;
    app.get(&path, &app.token("funder", Some(&funder)))
        .await
        .problem(403, "forbidden");
    let other = app.employer("O").await;
    let other_token = app.token("employer", Some(&other));
    app.get(&path, &other_token).await.problem(404, "not_found");
    app.post(&path, &other_token, &cost("2026-03", json!("1.00")))
        .await
        .problem(404, "not_found");
    app.post(
        &format!("/v1/costs/{id}/reverse"),
        &other_token,
        &json!({"reason": "x"}),
    )
    .await
    .problem(404, "not_found");
    app.get(&format!("/v1/costs/{id}"), &app.mission())
        .await
        .expect(200);
    app.get("/v1/ledger/entries", &app.token("funder", Some(&funder)))
        .await
        .problem(403, "forbidden");
    app.get(
        &format!("/v1/ledger/entries?employer_id={employer}"),
        &other_token,
    )
    .await
    .problem(404, "not_found");
    let mission_view = app
        .get(
            &format!("/v1/ledger/entries?employer_id={employer}&limit=1"),
            &app.mission(),
        )
        .await
        .expect(200);
    assert_eq!(mission_view.body["items"].as_array().unwrap().len(), 1);
    let cursor = mission_view.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/v1/ledger/entries?employer_id={employer}&limit=1&cursor={cursor}"),
            &app.mission(),
        )
        .await
        .expect(200);
    assert_eq!(next.body["items"][0]["date"], "2026-04-30");
    assert!(next.body["next_cursor"].is_null());
    app.get("/v1/ledger/balances?group_by=day", &token)
        .await
        .problem(422, "validation_failed");
    let as_of = app
        .get("/v1/ledger/balances?as_of=2026-03-31&group_by=post", &token)
        .await
        .expect(200);
    let row = as_of.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "64")
        .unwrap()
        .clone();
    assert_eq!(
        row,
        json!({"account": "64", "post_id": post, "debit": "1250.10", "credit": "0.00", "balance": "1250.10"})
    );
    check_ledger_invariants(app);
}

async fn the_journal_is_append_only(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1.00").await;
    app.post(
        &format!("/v1/posts/{post}/costs"),
        &token,
        &json!({"month": "2026-01", "category": "salary", "amount": "5.00"}),
    )
    .await
    .expect(201);
    let mut conn = app.pool.get().unwrap();
    let update = diesel::update(journal_lines::table)
        .set(journal_lines::debit_cents.eq(1))
        .execute(&mut conn);
    assert!(
        update.is_err(),
        "the database refuses to change a journal line"
    );
    let delete = diesel::delete(journal_lines::table).execute(&mut conn);
    assert!(
        delete.is_err(),
        "the database refuses to delete a journal line"
    );
    check_ledger_invariants(app);
}

/// The database itself refuses a journal line naming a post or funder that does not exist,
/// including inside a multi-row insert whose other lines are sound (PostgreSQL checks these
/// once per statement, over every inserted line); on PostgreSQL a line must also carry its
/// entry's employer and date, and an allocation line its commitment's post, funder and employer.
async fn the_database_refuses_lines_naming_unknown_parties(app: &TestApp) {
    let (employer, post, funders) = crate::money_in::three_allocated_months(app).await;
    let other_employer = app.employer("Other").await;
    let mut conn = app.pool.get().unwrap();
    let (entry, entry_date): (String, String) = journal_lines::table
        .filter(journal_lines::employer_id.eq(&employer))
        .select((journal_lines::entry_id, journal_lines::entry_date))
        .first(&mut conn)
        .unwrap();
    let lines_before: i64 = journal_lines::table.count().get_result(&mut conn).unwrap();
    let line = |no: i32, employer: &str, funder: &str, post: &str| {
        (
            journal_lines::entry_id.eq(entry.clone()),
            journal_lines::line_no.eq(no),
            journal_lines::employer_id.eq(employer.to_owned()),
            journal_lines::entry_date.eq(entry_date.clone()),
            journal_lines::account.eq("4687"),
            journal_lines::debit_cents.eq(1i64),
            journal_lines::credit_cents.eq(0i64),
            journal_lines::funder_id.eq(Some(funder.to_owned())),
            journal_lines::post_id.eq(Some(post.to_owned())),
            journal_lines::month.eq(Some("2026-01".to_owned())),
        )
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    let funder = &funders["A"];
    for (what, bad) in [
        ("an unknown post", line(101, &employer, funder, &unknown)),
        ("an unknown funder", line(101, &employer, &unknown, &post)),
    ] {
        let rows = vec![line(100, &employer, funder, &post), bad];
        // Multi-row inserts go through the backend's own connection.
        let inserted = match &mut *conn {
            DbConnection::Postgresql(c) => diesel::insert_into(journal_lines::table)
                .values(rows)
                .execute(c),
            DbConnection::Sqlite(c) => diesel::insert_into(journal_lines::table)
                .values(rows)
                .execute(c),
        };
        assert!(inserted.is_err(), "a journal line naming {what} is refused");
    }
    let lines_after: i64 = journal_lines::table.count().get_result(&mut conn).unwrap();
    assert_eq!(
        lines_after, lines_before,
        "nothing of a refused insert stays"
    );
    if matches!(*conn, DbConnection::Postgresql(_)) {
        let foreign = diesel::insert_into(journal_lines::table)
            .values(line(100, &other_employer, funder, &post))
            .execute(&mut conn);
        assert!(foreign.is_err(), "a line carries its entry's employer");
        let commitment: String = allocation_lines::table
            .filter(allocation_lines::funder_id.eq(funder))
            .select(allocation_lines::commitment_id)
            .first(&mut conn)
            .unwrap();
        // A month not allocated yet, so that only the reference can refuse it.
        let misnamed = diesel::insert_into(allocation_lines::table)
            .values((
                allocation_lines::commitment_id.eq(&commitment),
                allocation_lines::month.eq("2026-06"),
                allocation_lines::post_id.eq(&post),
                allocation_lines::funder_id.eq(&funders["B"]),
                allocation_lines::employer_id.eq(&employer),
                allocation_lines::amount_cents.eq(1i64),
            ))
            .execute(&mut conn);
        assert!(
            misnamed.is_err(),
            "an allocation line names its commitment's funder"
        );
    }
    check_ledger_invariants(app);
}

async fn racing_runs_never_post_twice(app: &TestApp) {
    let (employer, post, _) = worked_example(app).await;
    let token = app.token("employer", Some(&employer));
    for month in ["2026-01", "2026-02", "2026-03"] {
        let cost = json!({"month": month, "category": "salary", "amount": "3127.45"});
        app.post(&format!("/v1/posts/{post}/costs"), &token, &cost)
            .await
            .expect(201);
    }
    let body = json!({"post_id": post, "month": "2026-01"}).to_string();
    let by_employer = json!({"employer_id": employer, "month": "2026-01"}).to_string();
    let sends = (0..6).map(|i| {
        let body = if i % 2 == 0 { &body } else { &by_employer };
        app.send("POST", "/v1/allocations/run", Some(&token), Some(body), &[])
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut posted = 0;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        posted += answer.body["results"][0]["entries_posted"]
            .as_i64()
            .unwrap();
    }
    assert_eq!(
        posted, 1,
        "one run posts January, the others find nothing to change"
    );
    check_ledger_invariants(app);
}

crate::on_both_databases!(
    the_worked_example_splits_to_the_cent,
    every_shared_vector_through_the_api,
    caps_carry_over_and_reallocation_follows,
    commitments_are_checked,
    costs_are_checked_and_scoped,
    the_journal_is_append_only,
    the_database_refuses_lines_naming_unknown_parties,
    racing_runs_never_post_twice,
);
