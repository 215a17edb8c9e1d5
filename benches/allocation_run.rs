//! Benchmark (b): an allocation run for an employer of 3,000 posts, on SQLite and on
//! PostgreSQL (`PORTAGE_BENCH_POSTGRES_URL`, default the local server; skipped if it does not
//! answer). Measures the same code as `POST /v1/allocations/run` with `employer_id`, inside one
//! write transaction. `cargo bench --bench allocation_run`.

use diesel::prelude::*;
use portage_ledger::db::allocation_runs::{self, RunScope};
use portage_ledger::db::schema::{employers, funders, post_budgets, posts};
use portage_ledger::db::{self, DatabaseUrl, DbConnection};
use portage_ledger::domain::allocation::Basis;
use portage_ledger::domain::ids::{EmployerId, FunderId, PostId};
use portage_ledger::domain::kinds::CostCategory;
use portage_ledger::domain::{Month, Percent};
use std::time::Instant;
use uuid::Uuid;

mod support;

const POSTS: usize = 3_000;

fn seed(conn: &mut DbConnection, month: Month) -> anyhow::Result<String> {
    let now = db::now_timestamp();
    let employer = Uuid::now_v7().to_string();
    let month_name = month.to_string();
    db::write_transaction(conn, |conn| -> anyhow::Result<()> {
        diesel::insert_into(employers::table)
            .values((
                employers::id.eq(&employer),
                employers::name.eq("Bench employer"),
                employers::kind.eq("employer_grouping"),
                employers::created_at.eq(&now),
            ))
            .execute(conn)?;
        let funder_ids: Vec<FunderId> = (0..7).map(|_| FunderId::generate()).collect();
        for (i, id) in funder_ids.iter().enumerate() {
            diesel::insert_into(funders::table)
                .values((
                    funders::id.eq(id),
                    funders::name.eq(format!("Funder {i}")),
                    funders::kind.eq("other"),
                    funders::created_at.eq(&now),
                ))
                .execute(conn)?;
        }
        for p in 0..POSTS {
            let post = Uuid::now_v7();
            let post_id = post.to_string();
            diesel::insert_into(posts::table)
                .values((
                    posts::id.eq(&post_id),
                    posts::employer_id.eq(&employer),
                    posts::title.eq(format!("Post {p}")),
                    posts::territory.eq("QP"),
                    posts::activity.eq("housing"),
                    posts::fte_hundredths.eq(100i64),
                    posts::start_month.eq(&month_name),
                    posts::version.eq(1i64),
                    posts::created_at.eq(&now),
                ))
                .execute(conn)?;
            diesel::insert_into(post_budgets::table)
                .values((
                    post_budgets::post_id.eq(&post_id),
                    post_budgets::from_month.eq(&month_name),
                    post_budgets::monthly_amount_cents.eq(300_000i64),
                ))
                .execute(conn)?;
            // 2 to 6 funders a post, and a seventh on one post in ten of those with six, so
            // that the calls span 300 to 3,000 posts.
            let count = 2 + p % 5 + usize::from(p % 10 == 4);
            for (c, funder) in funder_ids.iter().take(count).enumerate() {
                let basis = if c == 0 {
                    Basis::Fixed {
                        monthly_cents: 150_000,
                    }
                } else {
                    Basis::Share {
                        percent: Percent::from_ten_thousandths(1_000_000 / count as i64),
                    }
                };
                db::commitments::insert(
                    conn,
                    &db::commitments::NewCommitment {
                        employer_id: employer_id(&employer)?,
                        post_id: PostId(post),
                        funder_id: *funder,
                        basis,
                        start: month,
                        end: month.plus(11).unwrap_or(month),
                        cap_cents: (c == 1).then_some(1_000_000),
                        reference: "bench",
                        rate_code: None,
                    },
                    &db::Recorder::system("bench"),
                )?;
            }
            let lock = db::lock_employer(conn, employer_id(&employer)?)?;
            db::costs::record(
                conn,
                &lock,
                &db::costs::NewCost {
                    post_id: PostId(post),
                    month,
                    category: CostCategory::Salary,
                    amount_cents: 312_745 + p as i64,
                    reference: None,
                },
                &db::Recorder::system("bench"),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    })?;
    Ok(employer)
}

fn employer_id(text: &str) -> Result<EmployerId, portage_ledger::error::ApiError> {
    text.parse()
        .map_err(|e: uuid::Error| portage_ledger::error::ApiError::Internal(e.into()))
}

fn run_all(conn: &mut DbConnection, employer: &str, month: Month) -> anyhow::Result<(f64, i64)> {
    let began = Instant::now();
    let posted = db::write_transaction(
        conn,
        |conn| -> Result<i64, portage_ledger::error::ApiError> {
            let lock = db::lock_employer(conn, employer_id(employer)?)?;
            let ids: Vec<PostId> = posts::table
                .filter(posts::employer_id.eq(employer))
                .order(posts::id)
                .select(posts::id)
                .load(conn)?;
            let by = db::Recorder::system("bench");
            let results = allocation_runs::run(conn, &lock, RunScope::Posts(&ids), month, &by)?;
            Ok(results.iter().map(|r| r.entries_posted).sum())
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((began.elapsed().as_secs_f64(), posted))
}

/// Issues a call per funder over the month just allocated, each in its own transaction, as
/// `POST /v1/calls` does; answers (lines of the call, milliseconds) per funder.
fn issue_calls(
    conn: &mut DbConnection,
    employer: &str,
    month: Month,
) -> anyhow::Result<Vec<(usize, f64)>> {
    let funder_ids: Vec<FunderId> = funders::table.select(funders::id).load(conn)?;
    let day = month.last_day();
    let mut out = Vec::new();
    for funder_id in funder_ids {
        let began = Instant::now();
        let lines = db::write_transaction(
            conn,
            |conn| -> Result<usize, portage_ledger::error::ApiError> {
                let lock = db::lock_employer(conn, employer_id(employer)?)?;
                let new = db::calls::NewCall {
                    funder_id,
                    from: month,
                    to: month,
                    issued_on: day,
                    due_on: day,
                };
                let id = db::calls::issue(conn, &lock, &new, &db::Recorder::system("bench"))?;
                Ok(db::calls::lines_of(conn, &[id])?
                    .values()
                    .map(Vec::len)
                    .sum())
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        out.push((lines, began.elapsed().as_secs_f64() * 1_000.0));
    }
    Ok(out)
}

fn bench(label: &str, url: &DatabaseUrl) -> anyhow::Result<()> {
    let mut conn = url.connect()?;
    db::run_migrations(&mut conn)?;
    let month = Month::new(2026, 1).unwrap_or(Month::FIRST);
    let employer = seed(&mut conn, month)?;
    let (first, posted) = run_all(&mut conn, &employer, month)?;
    let (again, posted_again) = run_all(&mut conn, &employer, month)?;
    println!(
        "allocation run, {label}: {POSTS} posts, first run {first:.2} s ({posted} entries), \
         unchanged re-run {again:.2} s ({posted_again} entries) (target < 1 s on SQLite, < 1.5 s on PostgreSQL)"
    );
    for (lines, ms) in issue_calls(&mut conn, &employer, month)? {
        println!("  a call over {lines} posts' lines: {ms:.0} ms (target < 50 ms for 300 posts)");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    support::on_both_backends("allocation_run", |label, url| bench(label, &url))
}
