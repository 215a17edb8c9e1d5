//! Benchmark: `GET /v1/reports/overview` for 3,000 posts with 36 months of allocation history,
//! on SQLite and on PostgreSQL (`PORTAGE_BENCH_POSTGRES_URL`, skipped if it does not answer),
//! through the real server. `cargo bench --bench overview`.

use diesel::prelude::*;
use portage_ledger::db::schema::{
    allocated_months, allocation_lines, commitments, post_budgets, posts,
};
use portage_ledger::db::{self, DatabaseUrl, DbConnection, PoolSettings};
use portage_ledger::AppState;
use std::time::{Duration, Instant};
use uuid::Uuid;

mod support;

const POSTS: usize = 3_000;
const MONTHS: i32 = 36;

fn month_name(index: i32) -> String {
    format!("{:04}-{:02}", 2024 + index / 12, index % 12 + 1)
}

fn seed(conn: &mut DbConnection) -> anyhow::Result<()> {
    let now = db::now_timestamp();
    let employer = Uuid::now_v7().to_string();
    support::insert_employer(conn, &employer)?;
    let funder_ids = support::insert_funders_by_kind(conn)?;
    let mut post_rows = Vec::new();
    let mut budget_rows = Vec::new();
    let mut commitment_rows = Vec::new();
    let mut line_rows = Vec::new();
    let mut month_rows = Vec::new();
    for p in 0..POSTS {
        let post = Uuid::now_v7().to_string();
        post_rows.push((
            posts::id.eq(post.clone()),
            posts::employer_id.eq(employer.clone()),
            posts::title.eq(format!("Post {p}")),
            posts::territory.eq(format!("QP{:03}", p % 40)),
            posts::activity.eq(["housing", "transport", "education"][p % 3]),
            posts::fte_hundredths.eq(100i64),
            posts::start_month.eq("2024-01"),
            posts::version.eq(1i64),
            posts::created_at.eq(now.clone()),
        ));
        budget_rows.push((
            post_budgets::post_id.eq(post.clone()),
            post_budgets::from_month.eq("2024-01"),
            post_budgets::monthly_amount_cents.eq(300_000i64),
        ));
        let terms = [
            (Some(150_000i64), None, "fixed"),
            (None, Some(600_000i64), "share"),
            (None, Some(400_000i64), "share"),
        ];
        for (c, (monthly, percent, basis)) in terms.iter().enumerate() {
            let commitment = Uuid::now_v7().to_string();
            let funder = funder_ids[(p + c) % funder_ids.len()].clone();
            let end = if c == 2 && p % 4 == 0 {
                "2027-03"
            } else {
                "2028-12"
            };
            commitment_rows.push((
                commitments::id.eq(commitment.clone()),
                commitments::employer_id.eq(employer.clone()),
                commitments::post_id.eq(post.clone()),
                commitments::funder_id.eq(funder.clone()),
                commitments::basis.eq(*basis),
                commitments::monthly_amount_cents.eq(*monthly),
                commitments::percent_ten_thousandths.eq(*percent),
                commitments::start_month.eq("2024-01"),
                commitments::end_month.eq(end),
                commitments::cap_cents.eq(if c == 1 && p % 3 == 0 {
                    Some(6_000_000i64)
                } else {
                    None
                }),
                commitments::reference.eq("bench"),
                commitments::created_at.eq(now.clone()),
            ));
            for m in 0..MONTHS {
                line_rows.push((
                    allocation_lines::commitment_id.eq(commitment.clone()),
                    allocation_lines::month.eq(month_name(m)),
                    allocation_lines::post_id.eq(post.clone()),
                    allocation_lines::funder_id.eq(funder.clone()),
                    allocation_lines::employer_id.eq(employer.clone()),
                    allocation_lines::amount_cents.eq(if c == 0 {
                        150_000i64
                    } else {
                        90_000 - 30_000 * (c as i64 - 1)
                    }),
                ));
            }
        }
        for m in 0..MONTHS {
            month_rows.push((
                allocated_months::post_id.eq(post.clone()),
                allocated_months::month.eq(month_name(m)),
                allocated_months::employer_id.eq(employer.clone()),
                allocated_months::cost_cents.eq(300_000i64),
                allocated_months::uncovered_cents.eq(0i64),
            ));
        }
    }
    db::write_transaction(conn, |conn| -> anyhow::Result<()> {
        insert_all!(conn, posts::table, post_rows);
        insert_all!(conn, post_budgets::table, budget_rows);
        insert_all!(conn, commitments::table, commitment_rows);
        insert_all!(conn, allocation_lines::table, line_rows);
        insert_all!(conn, allocated_months::table, month_rows);
        Ok(())
    })?;
    Ok(())
}

async fn bench(label: &str, url: DatabaseUrl) -> anyhow::Result<()> {
    let settings = PoolSettings {
        max_size: 4,
        connection_timeout: Duration::from_secs(30),
        sqlite_writers: 1,
    };
    let pools = db::build_pools(&url, settings)?;
    {
        let mut conn = pools.write.get()?;
        db::run_migrations(&mut conn)?;
        let began = Instant::now();
        seed(&mut conn)?;
        println!(
            "overview, {label}: seeded {POSTS} posts × {MONTHS} months of history in {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }
    let (keys, token) = support::keys_and_token("mission", None)?;
    let group_commit = db::Pools::group_commit(&url, settings);
    let (address, handle) = support::start_server(AppState::new(pools, group_commit)?, keys)?;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let mut timings = Vec::new();
    let mut posts_seen = 0;
    for _ in 0..5 {
        let began = Instant::now();
        let mut response = client
            .get(format!("{address}/v1/reports/overview?as_of=2027-01"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let body = response.body().limit(64 * 1024 * 1024).await?;
        timings.push(began.elapsed().as_secs_f64() * 1_000.0);
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        posts_seen = value["totals"]["posts"].as_i64().unwrap_or(0);
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "overview, {label}: {posts_seen} posts, median {:.0} ms, best {:.0} ms (target < 500 ms)",
        timings[timings.len() / 2],
        timings[0]
    );
    handle.stop(true).await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    support::on_both_backends("overview", |label, url| {
        actix_rt::System::new().block_on(bench(label, url))
    })
}
