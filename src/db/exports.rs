//! Reading an employer's journal for the exports, page by page in the order it was recorded.

use super::schema::{
    calls, funders, journal_entries, journal_lines, payment_applications, payments,
};
use super::DbConnection;
use crate::domain::export::{
    letters, ExportEntry, ExportLine, Letter, LetteredCall, LetteredPayment, Party,
};
use crate::domain::ids::{EntryId, FunderId};
use crate::domain::{clock, Date};
use diesel::prelude::*;
use std::collections::HashMap;

/// A stored date read back; one that does not read fails the export rather than leave an
/// entry out or mis-date it.
fn stored_date(text: &str) -> QueryResult<Date> {
    Date::parse(text).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
}

/// A stored record that contradicts another: an error naming it, never a silent gap.
fn corrupt(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

/// Where a page ends: the last entry's (`created_at`, `id`), from which the next page starts.
pub type PageKey = (String, String);

/// How much one page of an export may hold: at most `entries` entries, and no more entries
/// than fit in `lines` lines (a page always holds at least one entry, however many lines it
/// has). A call's entry has a line per post called, so a count of entries alone does not
/// bound what a page holds: 250 calls of a 3,000-post employer are some 70,000 lines.
#[derive(Debug, Clone, Copy)]
pub struct PageSize {
    /// The most entries a page holds.
    pub entries: i64,
    /// The most lines a page of several entries holds.
    pub lines: i64,
}

/// A page of the employer's entries dated from `from` to `to` inclusive, recorded after
/// `after`, oldest recorded first, with their lines and the funders they name; and where the
/// next page starts, `None` when this one is the last.
pub fn entries_page(
    conn: &mut DbConnection,
    employer_id: &str,
    (from, to): (Date, Date),
    after: Option<&PageKey>,
    size: PageSize,
) -> QueryResult<(Vec<ExportEntry>, Option<PageKey>)> {
    let mut query = journal_entries::table
        .filter(journal_entries::employer_id.eq(employer_id))
        .filter(journal_entries::entry_date.ge(from.to_string()))
        .filter(journal_entries::entry_date.le(to.to_string()))
        .select((
            journal_entries::id,
            journal_entries::entry_date,
            journal_entries::kind,
            journal_entries::reference,
            journal_entries::reverses_entry_id,
            journal_entries::created_at,
            // Counted through the lines' primary key (entry_id, line_no), without reading them.
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT COUNT(*) FROM journal_lines \
                 WHERE journal_lines.entry_id = journal_entries.id)",
            ),
        ))
        .order((journal_entries::created_at, journal_entries::id))
        .limit(size.entries)
        .into_boxed();
    if let Some((created_at, id)) = after {
        // `(created_at, id) > after`, with a bound on `created_at` alone first, which the
        // index on (employer_id, created_at, id) turns into the start of a range read.
        query = query
            .filter(journal_entries::created_at.ge(created_at.clone()))
            .filter(
                journal_entries::created_at
                    .gt(created_at.clone())
                    .or(journal_entries::id.gt(id.clone())),
            );
    }
    type EntryRow = (EntryId, Date, String, String, Option<EntryId>, String, i64);
    let mut rows: Vec<EntryRow> = query.load(conn)?;
    let read = rows.len();
    let (mut kept, mut lines_kept) = (0usize, 0i64);
    for row in &rows {
        if kept > 0 && lines_kept + row.6 > size.lines {
            break;
        }
        lines_kept += row.6;
        kept += 1;
    }
    rows.truncate(kept);
    let more = kept < read || read as i64 == size.entries;
    let next = rows
        .last()
        .filter(|_| more)
        .map(|r| (r.5.clone(), r.0.to_string()));

    let ids: Vec<EntryId> = rows.iter().map(|r| r.0).collect();
    let line_rows = super::ledger::lines_of(conn, &ids)?;

    let mut funder_ids: Vec<FunderId> = line_rows.iter().filter_map(|l| l.4).collect();
    funder_ids.sort_unstable();
    funder_ids.dedup();
    let parties: HashMap<FunderId, Party> = funders::table
        .filter(funders::id.eq_any(&funder_ids))
        .select((funders::id, funders::name, funders::siren))
        .load::<(FunderId, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, siren)| {
            let id_text = id.to_string();
            (
                id,
                Party {
                    id: id_text,
                    name,
                    siren,
                },
            )
        })
        .collect();

    let mut lines: HashMap<EntryId, Vec<ExportLine>> = HashMap::new();
    for (entry_id, account, debit_cents, credit_cents, funder_id, post_id, month) in line_rows {
        let funder = match funder_id {
            Some(f) => Some(parties.get(&f).cloned().ok_or_else(|| {
                corrupt(format!("journal entry {entry_id} names unknown funder {f}"))
            })?),
            None => None,
        };
        lines.entry(entry_id).or_default().push(ExportLine {
            account,
            debit_cents,
            credit_cents,
            funder,
            post_id: post_id.map(|p| p.to_string()),
            month: month.map(|m| m.to_string()),
        });
    }
    let entries = rows
        .into_iter()
        .map(|(id, date, kind, reference, reverses, created_at, _)| {
            let recorded_on = super::parse_timestamp(&created_at)
                .and_then(clock::paris_date)
                .ok_or_else(|| {
                    corrupt(format!(
                        "journal entry {id} has a bad created_at {created_at:?}"
                    ))
                })?;
            Ok(ExportEntry {
                // An entry always has lines (post_entries refuses an unbalanced, empty one).
                lines: lines
                    .remove(&id)
                    .ok_or_else(|| corrupt(format!("journal entry {id} has no lines")))?,
                id: id.to_string(),
                date,
                kind,
                reference,
                recorded_on,
                reverses: reverses.map(|r| r.to_string()),
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    Ok((entries, next))
}

/// The lettering of the employer's 441 lines, by journal entry: its calls, credit notes and
/// payments, and the applications between them.
pub fn lettering(
    conn: &mut DbConnection,
    employer_id: &str,
) -> QueryResult<HashMap<String, Letter>> {
    type CallRow = (String, i64, String, String, Option<String>, Option<String>);
    let call_rows: Vec<CallRow> = calls::table
        .filter(calls::employer_id.eq(employer_id))
        .select((
            calls::id,
            calls::amount_cents,
            calls::entry_id,
            calls::issued_on,
            calls::credit_note_entry_id,
            calls::cancelled_on,
        ))
        .load(conn)?;
    let mut lettered_calls = Vec::with_capacity(call_rows.len());
    for (id, amount_cents, entry_id, issued_on, note_entry, cancelled_on) in call_rows {
        let cancelled = match (note_entry, cancelled_on) {
            (Some(entry), Some(on)) => Some((entry, stored_date(&on)?)),
            _ => None,
        };
        lettered_calls.push(LetteredCall {
            id,
            amount_cents,
            entry_id,
            issued_on: stored_date(&issued_on)?,
            cancelled,
        });
    }
    let payment_rows: Vec<(String, i64, String, String)> = payments::table
        .filter(payments::employer_id.eq(employer_id))
        .select((
            payments::id,
            payments::amount_cents,
            payments::entry_id,
            payments::received_on,
        ))
        .load(conn)?;
    let mut lettered_payments = Vec::with_capacity(payment_rows.len());
    for (id, amount_cents, entry_id, received_on) in payment_rows {
        lettered_payments.push(LetteredPayment {
            id,
            amount_cents,
            entry_id,
            received_on: stored_date(&received_on)?,
        });
    }
    let applications: Vec<(String, String, i64)> = payment_applications::table
        .filter(
            payment_applications::payment_id.eq_any(
                payments::table
                    .filter(payments::employer_id.eq(employer_id))
                    .select(payments::id),
            ),
        )
        .select((
            payment_applications::payment_id,
            payment_applications::call_id,
            payment_applications::amount_cents,
        ))
        .load(conn)?;
    Ok(letters(&lettered_calls, &lettered_payments, &applications))
}

/// Every (account, funder) pair the employer's journal has lines on, with the funders named:
/// what a journal export declares before its entries.
pub fn accounts_in_books(
    conn: &mut DbConnection,
    employer_id: &str,
) -> QueryResult<Vec<(String, Option<Party>)>> {
    let pairs: Vec<(String, Option<FunderId>)> = journal_lines::table
        .filter(journal_lines::employer_id.eq(employer_id))
        .select((journal_lines::account, journal_lines::funder_id))
        .distinct()
        .load(conn)?;
    let mut funder_ids: Vec<FunderId> = pairs.iter().filter_map(|p| p.1).collect();
    funder_ids.sort_unstable();
    funder_ids.dedup();
    let parties: HashMap<FunderId, Party> = funders::table
        .filter(funders::id.eq_any(&funder_ids))
        .select((funders::id, funders::name, funders::siren))
        .load::<(FunderId, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, siren)| {
            (
                id,
                Party {
                    id: id.to_string(),
                    name,
                    siren,
                },
            )
        })
        .collect();
    Ok(pairs
        .into_iter()
        .map(|(account, funder)| (account, funder.and_then(|f| parties.get(&f).cloned())))
        .collect())
}

/// Opens a read transaction that sees one snapshot throughout.
pub fn read_snapshot<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.transaction(|conn| {
        if let DbConnection::Postgresql(_) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(conn)?;
        }
        work(conn)
    })
}
