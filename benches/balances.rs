//! Benchmark: balances as of a day on a ledger of 3,000 posts × 36 months (about 1.3 million
//! journal lines: each month a cost, an allocation to four funders and a call per post), on
//! SQLite and on PostgreSQL (`PORTAGE_BENCH_POSTGRES_URL`, skipped if it does not answer).
//! `cargo bench --bench balances`.
//!
//! The journal is written in bulk (rows as `post_entries` writes them, running balances
//! included); the employer then closes its months through the last but one with
//! `db::periods::close_through`, which stores each closed month's balances. Timed: balances as
//! of days in a closed month, in the open month, and the sum of the lines they replace.

use diesel::prelude::*;
use portage_ledger::db::schema::{
    account_balances, funders, journal_entries, journal_lines, post_budgets, posts,
};
use portage_ledger::db::{self, ledger, month_balances, DatabaseUrl, DbConnection, Recorder};

mod support;
use portage_ledger::domain::ids::EmployerId;
use portage_ledger::domain::{Date, Month};
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

const POSTS: usize = 3_000;
const MONTHS: i32 = 36;
const FUNDERS: usize = 4;

fn month_name(index: i32) -> String {
    format!("{:04}-{:02}", 2024 + index / 12, index % 12 + 1)
}

type Line = (
    String,
    i32,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

fn seed(conn: &mut DbConnection) -> anyhow::Result<(EmployerId, usize)> {
    let now = db::now_timestamp();
    let employer = Uuid::now_v7().to_string();
    support::insert_employer(conn, &employer)?;
    let funder_ids: Vec<String> = (0..FUNDERS).map(|_| Uuid::now_v7().to_string()).collect();
    for id in &funder_ids {
        diesel::insert_into(funders::table)
            .values((
                funders::id.eq(id),
                funders::name.eq(id),
                funders::kind.eq("state"),
                funders::created_at.eq(&now),
            ))
            .execute(conn)?;
    }
    let post_ids: Vec<String> = (0..POSTS).map(|_| Uuid::now_v7().to_string()).collect();
    let post_rows: Vec<_> = post_ids
        .iter()
        .enumerate()
        .map(|(p, id)| {
            (
                posts::id.eq(id.clone()),
                posts::employer_id.eq(employer.clone()),
                posts::title.eq(format!("Post {p}")),
                posts::territory.eq("QP001"),
                posts::activity.eq("housing"),
                posts::fte_hundredths.eq(100i64),
                posts::start_month.eq("2024-01"),
                posts::version.eq(1i64),
                posts::created_at.eq(now.clone()),
            )
        })
        .collect();
    let budget_rows: Vec<_> = post_ids
        .iter()
        .map(|id| {
            (
                post_budgets::post_id.eq(id.clone()),
                post_budgets::from_month.eq("2024-01"),
                post_budgets::monthly_amount_cents.eq(300_000i64),
            )
        })
        .collect();
    db::write_transaction::<_, anyhow::Error, _>(conn, |conn| {
        insert_all!(conn, posts::table, post_rows);
        insert_all!(conn, post_budgets::table, budget_rows);
        Ok(())
    })?;
    let mut balances: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    let mut count = 0;
    for m in 0..MONTHS {
        let month = month_name(m);
        let last_day = Month::parse(&month)
            .map_err(anyhow::Error::msg)?
            .last_day()
            .to_string();
        let mut entries = Vec::new();
        let mut lines: Vec<Line> = Vec::new();
        for (p, post) in post_ids.iter().enumerate() {
            let cost = 300_000 + (p as i64 % 17) * 100 + i64::from(m);
            let mut entry = |kind: &'static str, moves: Vec<(&str, Option<&String>, i64, i64)>| {
                let id = Uuid::now_v7().to_string();
                entries.push((
                    journal_entries::id.eq(id.clone()),
                    journal_entries::employer_id.eq(employer.clone()),
                    journal_entries::entry_date.eq(last_day.clone()),
                    journal_entries::kind.eq(kind),
                    journal_entries::reference.eq(format!("{kind} {p} {month}")),
                    journal_entries::created_at.eq(now.clone()),
                ));
                for (n, (account, funder, debit, credit)) in moves.into_iter().enumerate() {
                    lines.push((
                        id.clone(),
                        n as i32 + 1,
                        employer.clone(),
                        last_day.clone(),
                        account.to_owned(),
                        debit,
                        credit,
                        funder.cloned(),
                        Some(post.clone()),
                    ));
                }
            };
            entry("cost", vec![("64", None, cost, 0), ("42", None, 0, cost)]);
            let share = cost / FUNDERS as i64;
            let allocation: Vec<_> = funder_ids
                .iter()
                .flat_map(|f| [("4687", Some(f), share, 0), ("74", Some(f), 0, share)])
                .collect();
            entry("allocation", allocation);
            let called = &funder_ids[p % FUNDERS];
            entry(
                "call",
                vec![
                    ("441", Some(called), share, 0),
                    ("4687", Some(called), 0, share),
                ],
            );
        }
        for line in &lines {
            let key = (
                line.4.clone(),
                line.7.clone().unwrap_or_default(),
                line.8.clone().unwrap_or_default(),
            );
            let b = balances.entry(key).or_default();
            b.0 += line.5;
            b.1 += line.6;
        }
        count += lines.len();
        let line_rows: Vec<_> = lines
            .into_iter()
            .map(|(entry, n, e, date, account, d, c, funder, post)| {
                (
                    journal_lines::entry_id.eq(entry),
                    journal_lines::line_no.eq(n),
                    journal_lines::employer_id.eq(e),
                    journal_lines::entry_date.eq(date),
                    journal_lines::account.eq(account),
                    journal_lines::debit_cents.eq(d),
                    journal_lines::credit_cents.eq(c),
                    journal_lines::funder_id.eq(funder),
                    journal_lines::post_id.eq(post),
                    journal_lines::month.eq(Some(month.clone())),
                )
            })
            .collect();
        db::write_transaction::<_, anyhow::Error, _>(conn, |conn| {
            insert_all!(conn, journal_entries::table, entries);
            insert_all!(conn, journal_lines::table, line_rows);
            Ok(())
        })?;
    }
    let balance_rows: Vec<_> = balances
        .into_iter()
        .map(|((account, funder, post), (d, c))| {
            (
                account_balances::employer_id.eq(employer.clone()),
                account_balances::account.eq(account),
                account_balances::funder_key.eq(funder),
                account_balances::post_key.eq(post),
                account_balances::debit_cents.eq(d),
                account_balances::credit_cents.eq(c),
            )
        })
        .collect();
    db::write_transaction::<_, anyhow::Error, _>(conn, |conn| {
        insert_all!(conn, account_balances::table, balance_rows);
        Ok(())
    })?;
    Ok((employer.parse()?, count))
}

fn timed<T>(
    label: &str,
    runs: usize,
    mut work: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut timings = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let began = Instant::now();
        last = Some(work()?);
        timings.push(began.elapsed().as_secs_f64() * 1_000.0);
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "  {label}: median {:.0} ms, best {:.0} ms",
        timings[timings.len() / 2],
        timings[0]
    );
    last.ok_or_else(|| anyhow::anyhow!("no run"))
}

fn bench(label: &str, url: DatabaseUrl) -> anyhow::Result<()> {
    let settings = db::PoolSettings {
        max_size: 2,
        connection_timeout: std::time::Duration::from_secs(60),
        sqlite_writers: 1,
    };
    let pools = db::build_pools(&url, settings)?;
    let mut conn = pools.write.get()?;
    db::run_migrations(&mut conn)?;
    let began = Instant::now();
    let (employer, lines) = seed(&mut conn)?;
    println!(
        "balances, {label}: {lines} journal lines written in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    let last_closed = Month::parse(&month_name(MONTHS - 2)).map_err(anyhow::Error::msg)?;
    let began = Instant::now();
    db::write_transaction::<_, anyhow::Error, _>(&mut conn, |conn| {
        let lock = db::lock_employer(conn, employer)?;
        db::periods::close_through(conn, &lock, last_closed, &Recorder::system("bench"))?;
        Ok(())
    })?;
    println!(
        "  closing {} months (their balances stored): {:.1} s",
        MONTHS - 1,
        began.elapsed().as_secs_f64()
    );
    let in_closed = Date::parse(&format!("{}-15", month_name(18))).map_err(anyhow::Error::msg)?;
    let in_open =
        Date::parse(&format!("{}-15", month_name(MONTHS - 1))).map_err(anyhow::Error::msg)?;
    for (what, day) in [
        ("a day of a closed month", in_closed),
        ("a day of the open month", in_open),
    ] {
        let read = timed(&format!("as of {day} ({what}), one employer"), 5, || {
            Ok(ledger::balances(&mut conn, Some(employer), Some(day))?)
        })?;
        timed(&format!("as of {day}, every employer"), 5, || {
            Ok(ledger::balances(&mut conn, None, Some(day))?)
        })?;
        let mut summed = timed(
            &format!("as of {day} summed from every line (before)"),
            3,
            || {
                Ok(month_balances::summed_from_lines(
                    &mut conn,
                    Some(employer),
                    day,
                )?)
            },
        )?;
        let mut read = read;
        read.sort();
        summed.sort();
        anyhow::ensure!(
            read == summed,
            "the balances as of {day} differ from the sum of the lines"
        );
    }
    println!("  (target < 200 ms; both equal the sum of the lines)");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    support::on_both_backends("balances", bench)
}
