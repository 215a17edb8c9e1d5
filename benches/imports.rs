//! Benchmark: a month-end's files imported through the real server, on SQLite and on
//! PostgreSQL (`PORTAGE_BENCH_POSTGRES_URL`, skipped if it does not answer): 3,000 posts, then
//! 11,000 commitments naming them by reference, then a payroll of 15,000 cost lines (five per
//! post), each one `POST /v1/imports/…` with a JSON body, timed from send to answer.
//! `cargo bench --bench imports`.

use portage_ledger::db::{self, DatabaseUrl, PoolSettings};
use portage_ledger::AppState;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod support;

const POSTS: usize = 3_000;
const CATEGORIES: [&str; 5] = [
    "salary",
    "employer_charges",
    "training",
    "supervision",
    "equipment",
];

/// The lines of the three files: posts, commitments (four funders on two posts of three, three
/// on the third: 11,000), costs (five categories per post: 15,000).
fn files(employer: &str, funder_ids: &[String]) -> [(&'static str, Value, usize); 3] {
    let posts: Vec<Value> = (0..POSTS)
        .map(|i| {
            json!({"title": format!("Médiateur {i}"), "territory": "QP059034",
                   "activity": "housing", "fte": "1.00", "start_month": "2026-01",
                   "monthly_budget": "3127.45", "reference": format!("P-{i:05}")})
        })
        .collect();
    let commitments: Vec<Value> = (0..POSTS)
        .flat_map(|i| {
            let funders = if i % 3 == 2 { 3 } else { 4 };
            funder_ids[..funders]
                .iter()
                .enumerate()
                .map(move |(f, funder)| {
                    json!({"post_reference": format!("P-{i:05}"), "funder_id": funder,
                       "basis": "share", "percent": "20", "start_month": "2026-01",
                       "end_month": "2026-12", "reference": format!("C-{i:05}-{f}")})
                })
        })
        .collect();
    let costs: Vec<Value> = (0..POSTS)
        .flat_map(|i| {
            CATEGORIES.iter().enumerate().map(move |(c, category)| {
                json!({"post_reference": format!("P-{i:05}"), "month": "2026-01",
                       "category": category,
                       "amount": format!("{}.{:02}", 100 + (i * 7 + c) % 900, (i + c) % 100)})
            })
        })
        .collect();
    let counts = [posts.len(), commitments.len(), costs.len()];
    [
        (
            "posts",
            json!({"employer_id": employer, "lines": posts}),
            counts[0],
        ),
        (
            "commitments",
            json!({"employer_id": employer, "lines": commitments}),
            counts[1],
        ),
        (
            "costs",
            json!({"employer_id": employer, "lines": costs}),
            counts[2],
        ),
    ]
}

async fn bench(label: &str, url: DatabaseUrl) -> anyhow::Result<()> {
    let settings = PoolSettings {
        max_size: 4,
        connection_timeout: Duration::from_secs(30),
        sqlite_writers: 1,
    };
    let pools = db::build_pools(&url, settings)?;
    let employer = Uuid::now_v7().to_string();
    let funder_ids = {
        let mut conn = pools.write.get()?;
        db::run_migrations(&mut conn)?;
        support::insert_employer(&mut conn, &employer)?;
        support::insert_funders_by_kind(&mut conn)?
    };
    let (keys, token) = support::keys_and_token("employer", Some(&employer))?;
    let group_commit = db::Pools::group_commit(&url, settings);
    let (address, handle) = support::start_server(AppState::new(pools, group_commit)?, keys)?;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(120))
        .finish();
    for (kind, body, lines) in files(&employer, &funder_ids) {
        let body = body.to_string();
        let bytes = body.len();
        let began = Instant::now();
        let mut response = client
            .post(format!("{address}/v1/imports/{kind}"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/json"))
            .send_body(body)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let answer = response.body().limit(16 * 1024 * 1024).await?;
        let elapsed = began.elapsed().as_secs_f64();
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "importing {kind}: {} {}",
            response.status(),
            String::from_utf8_lossy(&answer[..answer.len().min(2_000)])
        );
        let target = match (kind, label) {
            ("costs", "PostgreSQL") => " (target < 2 s)",
            ("costs", _) => " (target < 1 s)",
            _ => "",
        };
        println!(
            "imports, {label}: {lines} {kind} ({:.1} MB of JSON) in {elapsed:.2} s{target}",
            bytes as f64 / 1_048_576.0
        );
    }
    handle.stop(true).await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    support::on_both_backends("imports", |label, url| {
        actix_rt::System::new().block_on(bench(label, url))
    })
}
