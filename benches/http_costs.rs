//! Benchmark (c): recording costs over HTTP with 16 concurrent clients against the real server
//! on SQLite (a fresh temporary file), for a bounded number of requests on loopback.
//! Reports requests per second and p50/p99 latency, request logs formatted as in `serve`.
//! `cargo bench --bench http_costs`.

use diesel::prelude::*;
use portage_ledger::db::schema::{post_budgets, posts};
use portage_ledger::db::{self, DatabaseUrl, PoolSettings};
use portage_ledger::domain::kinds::CostCategory;
use portage_ledger::domain::Month;
use portage_ledger::AppState;
use std::time::{Duration, Instant};
use uuid::Uuid;

mod support;

const CLIENTS: usize = 16;
const REQUESTS_PER_CLIENT: usize = 1_000;

fn main() -> anyhow::Result<()> {
    // Request logs are formatted as `serve` formats them (and discarded), so that their cost
    // is part of the figure.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_ansi(false)
        .with_writer(std::io::sink)
        .init();
    let path =
        std::env::temp_dir().join(format!("portage_http_bench_{}.db", Uuid::new_v4().simple()));
    let result = actix_rt::System::new().block_on(run(&path));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

async fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}", path.display())).map_err(anyhow::Error::msg)?;
    let pools = db::build_pools(
        &url,
        PoolSettings {
            max_size: 8,
            connection_timeout: Duration::from_secs(10),
            sqlite_writers: 1,
        },
    )?;
    let mut conn = pools.write.get()?;
    db::run_migrations(&mut conn)?;
    let employer = Uuid::now_v7().to_string();
    let post = Uuid::now_v7().to_string();
    let now = db::now_timestamp();
    support::insert_employer(&mut conn, &employer)?;
    diesel::insert_into(posts::table)
        .values((
            posts::id.eq(&post),
            posts::employer_id.eq(&employer),
            posts::title.eq("P"),
            posts::territory.eq("QP"),
            posts::activity.eq("housing"),
            posts::fte_hundredths.eq(100i64),
            posts::start_month.eq("2026-01"),
            posts::version.eq(1i64),
            posts::created_at.eq(&now),
        ))
        .execute(&mut conn)?;
    diesel::insert_into(post_budgets::table)
        .values((
            post_budgets::post_id.eq(&post),
            post_budgets::from_month.eq("2026-01"),
            post_budgets::monthly_amount_cents.eq(100i64),
        ))
        .execute(&mut conn)?;
    // The database alone: the same write transaction the endpoint runs, without HTTP.
    let direct = 2_000;
    let began = Instant::now();
    let post_id: portage_ledger::domain::ids::PostId = post.parse()?;
    let employer_id: portage_ledger::domain::ids::EmployerId = employer.parse()?;
    for i in 0..direct {
        db::write_transaction(&mut conn, |conn| {
            let lock = db::lock_employer(conn, employer_id)?;
            db::costs::record(
                conn,
                &lock,
                &db::costs::NewCost {
                    post_id,
                    month: Month::new(2026, 1 + (i % 12) as u32).unwrap_or(Month::FIRST),
                    category: CostCategory::Salary,
                    amount_cents: 100,
                    reference: None,
                },
                &db::Recorder::system("bench"),
            )
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "costs recorded directly, SQLite: {direct} write transactions in {elapsed:.2} s = {:.0}/s",
        direct as f64 / elapsed
    );
    drop(conn);

    let (keys, token) = support::keys_and_token("employer", Some(&employer))?;
    let (address, handle) = support::start_server(AppState::new(pools, true)?, keys)?;

    let began = Instant::now();
    let clients = (0..CLIENTS).map(|c| {
        let url = format!("{address}/v1/posts/{post}/costs");
        let token = token.clone();
        actix_rt::spawn(async move {
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish();
            let mut latencies = Vec::with_capacity(REQUESTS_PER_CLIENT);
            let mut failures = 0usize;
            for i in 0..REQUESTS_PER_CLIENT {
                let month = 1 + (c + i) % 12;
                let body = format!(
                    r#"{{"month": "2026-{month:02}", "category": "salary", "amount": "1.{:02}"}}"#,
                    i % 100
                );
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(body)
                    .await;
                match response {
                    Ok(mut r) if r.status().as_u16() == 201 => {
                        let _ = r.body().await;
                    }
                    _ => failures += 1,
                }
                latencies.push(sent.elapsed());
            }
            (latencies, failures)
        })
    });
    let mut latencies = Vec::new();
    let mut failures = 0;
    for client in clients.collect::<Vec<_>>() {
        let (l, f) = client.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = began.elapsed().as_secs_f64();
    latencies.sort();
    let quantile =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1_000.0;
    println!(
        "http costs, SQLite: {} requests from {CLIENTS} clients in {elapsed:.2} s = {:.0} requests/s, \
         p50 {:.2} ms, p99 {:.2} ms, {failures} failures (target > 3,000/s, p99 < 20 ms)",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        quantile(0.5),
        quantile(0.99),
    );
    handle.stop(true).await;
    Ok(())
}
