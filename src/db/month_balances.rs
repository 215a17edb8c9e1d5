//! Balances as of a day, without summing the whole journal.
//!
//! When an employer closes a month, the balance of every key at that month's end is stored
//! (`closed_month_balances`), under the employer's lock: no line can be dated in a closed month
//! afterwards, so these never change. A balance as of a day is then read from what is nearest:
//!
//! - a day of a closed month: the month before's stored balances plus the lines of the day's
//!   month up to the day — the lines of at most one month;
//! - a later day: the running balances (exact, moved in every ledger transaction) less the
//!   lines dated after the day, or the last closed month's balances plus the lines since,
//!   whichever spans fewer months.
//!
//! Months closed before the store existed have no stored balances; a day in them is summed
//! from the lines, as everything was before. Every path gives what summing the lines gives
//! (`summed_from_lines`, which the tests compare with).

use super::ledger::BalanceRow;
use super::schema::{account_balances, closed_month_balances, closed_periods, journal_lines};
use super::DbConnection;
use crate::domain::ids::EmployerId;
use crate::domain::{Date, Month};
use diesel::prelude::*;
use std::collections::BTreeMap;

/// A key of the books: account, funder key, post key ("" for none).
type Key = (String, String, String);

/// Debit and credit sums by key.
type Sums = BTreeMap<Key, (i64, i64)>;

#[derive(Insertable)]
#[diesel(table_name = closed_month_balances, treat_none_as_default_value = false)]
struct StoredBalance {
    employer_id: EmployerId,
    month: Month,
    account: String,
    funder_key: String,
    post_key: String,
    debit_cents: i64,
    credit_cents: i64,
}

fn add(sums: &mut Sums, rows: impl IntoIterator<Item = BalanceRow>, sign: i64) {
    for (account, funder, post, debit, credit) in rows {
        let entry = sums.entry((account, funder, post)).or_default();
        entry.0 += sign * debit;
        entry.1 += sign * credit;
    }
}

fn rows_of(sums: Sums) -> Vec<BalanceRow> {
    sums.into_iter()
        // A key none of whose lines is dated up to the day is not in the answer, as when the
        // lines are summed: every line moves its debit or its credit, so both sums are zero
        // only for a key without lines.
        .filter(|(_, (debit, credit))| *debit != 0 || *credit != 0)
        .map(|((a, f, p), (d, c))| (a, f, p, d, c))
        .collect()
}

/// The lines of an employer (or all) dated after `after` (exclusive) and up to `through`
/// (inclusive), summed per key.
fn lines_between(
    conn: &mut DbConnection,
    employer: Option<EmployerId>,
    after: Option<Date>,
    through: Option<Date>,
) -> QueryResult<Vec<BalanceRow>> {
    let mut q = journal_lines::table
        .group_by((
            journal_lines::account,
            journal_lines::funder_id,
            journal_lines::post_id,
        ))
        .select((
            journal_lines::account,
            journal_lines::funder_id,
            journal_lines::post_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(debit_cents), 0) AS BIGINT)",
            ),
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(credit_cents), 0) AS BIGINT)",
            ),
        ))
        .into_boxed();
    if let Some(employer) = employer {
        q = q.filter(journal_lines::employer_id.eq(employer));
    }
    if let Some(after) = after {
        q = q.filter(journal_lines::entry_date.gt(after));
    }
    if let Some(through) = through {
        q = q.filter(journal_lines::entry_date.le(through));
    }
    Ok(
        q.load::<(String, Option<String>, Option<String>, i64, i64)>(conn)?
            .into_iter()
            // The running balances key "no funder" and "no post" as empty text; so do these sums.
            .map(|(a, f, p, d, c)| (a, f.unwrap_or_default(), p.unwrap_or_default(), d, c))
            .collect(),
    )
}

/// The balances as of `date` summed from every line dated up to it: the reference the stored
/// balances are checked against.
pub fn summed_from_lines(
    conn: &mut DbConnection,
    employer: Option<EmployerId>,
    date: Date,
) -> QueryResult<Vec<BalanceRow>> {
    lines_between(conn, employer, None, Some(date))
}

/// The stored balances of an employer at the end of a closed month, if they were stored.
fn stored(
    conn: &mut DbConnection,
    employer: EmployerId,
    month: Month,
) -> QueryResult<Option<Sums>> {
    let flagged: Option<bool> = closed_periods::table
        .filter(closed_periods::employer_id.eq(employer))
        .filter(closed_periods::month.eq(month))
        .select(closed_periods::balances_stored)
        .first(conn)
        .optional()?;
    if flagged != Some(true) {
        return Ok(None);
    }
    let rows: Vec<BalanceRow> = closed_month_balances::table
        .filter(closed_month_balances::employer_id.eq(employer))
        .filter(closed_month_balances::month.eq(month))
        .select((
            closed_month_balances::account,
            closed_month_balances::funder_key,
            closed_month_balances::post_key,
            closed_month_balances::debit_cents,
            closed_month_balances::credit_cents,
        ))
        .load(conn)?;
    let mut sums = Sums::new();
    add(&mut sums, rows, 1);
    Ok(Some(sums))
}

/// Stores the balances at the end of `month`, a month being closed under the employer's lock
/// in the caller's transaction: the month before's stored balances plus the month's lines, or
/// every line up to the month's end when the month before has none stored. The caller then
/// marks the month's closing row `balances_stored`.
pub fn store(
    conn: &mut DbConnection,
    _lock: &super::EmployerLock,
    employer: EmployerId,
    month: Month,
) -> QueryResult<()> {
    let previous = match month.plus(-1) {
        Some(before) => stored(conn, employer, before)?.map(|sums| (before, sums)),
        None => None,
    };
    let sums = match previous {
        Some((before, mut sums)) => {
            let lines = lines_between(
                conn,
                Some(employer),
                Some(before.last_day()),
                Some(month.last_day()),
            )?;
            add(&mut sums, lines, 1);
            sums
        }
        None => {
            let mut sums = Sums::new();
            add(
                &mut sums,
                summed_from_lines(conn, Some(employer), month.last_day())?,
                1,
            );
            sums
        }
    };
    let rows: Vec<StoredBalance> = rows_of(sums)
        .into_iter()
        .map(
            |(account, funder_key, post_key, debit_cents, credit_cents)| StoredBalance {
                employer_id: employer,
                month,
                account,
                funder_key,
                post_key,
                debit_cents,
                credit_cents,
            },
        )
        .collect();
    insert_batches!(conn, closed_month_balances::table, rows);
    Ok(())
}

/// The last month of the employer closed with its balances stored.
fn last_stored(conn: &mut DbConnection, employer: EmployerId) -> QueryResult<Option<Month>> {
    closed_periods::table
        .filter(closed_periods::employer_id.eq(employer))
        .filter(closed_periods::balances_stored.eq(true))
        .select(diesel::dsl::max(closed_periods::month))
        .first(conn)
}

/// The balances of one employer as of `date`, from the nearest stored figures, read in one
/// snapshot (the running balances and the lines must be of the same moment).
pub fn as_of(
    conn: &mut DbConnection,
    employer: EmployerId,
    date: Date,
    today: Date,
) -> QueryResult<Vec<BalanceRow>> {
    conn.transaction(|conn| {
        if let DbConnection::Postgresql(_) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(conn)?;
        }
        nearest(conn, employer, date, today)
    })
}

fn nearest(
    conn: &mut DbConnection,
    employer: EmployerId,
    date: Date,
    today: Date,
) -> QueryResult<Vec<BalanceRow>> {
    let month = date.month();
    let last = last_stored(conn, employer)?;
    // A day of a closed month: the month before's balances and the lines of its own month.
    if last.is_some_and(|last| month <= last) {
        if let Some(before) = month.plus(-1) {
            if let Some(mut sums) = stored(conn, employer, before)? {
                let lines =
                    lines_between(conn, Some(employer), Some(before.last_day()), Some(date))?;
                add(&mut sums, lines, 1);
                return Ok(rows_of(sums));
            }
        }
    }
    // A later day: from the last closed month forward (the lines of the months after it, up
    // to the day) or from today's running balances back (the lines after the day, through
    // this month), whichever reads fewer months of lines; forward when even, as its stored
    // part is bounded by the keys and the lines after today are not.
    let forward_months = last.map(|last| last.months_until(month));
    let backward_months = month.months_until(today.month().max(month)) + 1;
    match forward_months {
        Some(forward) if forward >= 0 && forward <= backward_months => {
            if let Some(last) = last {
                if let Some(mut sums) = stored(conn, employer, last)? {
                    let lines =
                        lines_between(conn, Some(employer), Some(last.last_day()), Some(date))?;
                    add(&mut sums, lines, 1);
                    return Ok(rows_of(sums));
                }
            }
            summed_from_lines(conn, Some(employer), date)
        }
        _ => {
            let current: Vec<BalanceRow> = account_balances::table
                .filter(account_balances::employer_id.eq(employer))
                .select((
                    account_balances::account,
                    account_balances::funder_key,
                    account_balances::post_key,
                    account_balances::debit_cents,
                    account_balances::credit_cents,
                ))
                .load(conn)?;
            let after = lines_between(conn, Some(employer), Some(date), None)?;
            let mut sums = Sums::new();
            add(&mut sums, current, 1);
            add(&mut sums, after, -1);
            Ok(rows_of(sums))
        }
    }
}
