//! Writing the journal: entries with their lines, and the running balances, in the caller's
//! transaction. This is the only code that inserts into the journal; nothing updates or
//! deletes it (and triggers refuse it on both backends). Entries are written in batches so
//! that an employer-wide allocation run costs a handful of statements, not thousands.

use super::schema::{account_balances, journal_entries, journal_lines};
use super::{DbConnection, Recorder};
use crate::db::StoreError;
use crate::domain::ids::{EmployerId, EntryId, FunderId, PostId};
use crate::domain::ledger::{is_balanced, Line};
use crate::domain::Date;
use crate::domain::Month;
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::BTreeMap;

use super::BATCH_ROWS;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A cost recorded.
    Cost,
    /// A cost reversed.
    CostReversal,
    /// A change of allocations.
    Allocation,
    /// A call for funds issued.
    Call,
    /// A call cancelled by its credit note.
    CreditNote,
    /// A payment received.
    Payment,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Cost => "cost",
            EntryKind::CostReversal => "cost_reversal",
            EntryKind::Allocation => "allocation",
            EntryKind::Call => "call",
            EntryKind::CreditNote => "credit_note",
            EntryKind::Payment => "payment",
        }
    }
}

/// An entry to post.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The employer whose books it belongs to.
    pub employer_id: EmployerId,
    /// The entry's date, which decides its period.
    pub date: Date,
    /// What it records.
    pub kind: EntryKind,
    /// A human reference (cost id, post and month…).
    pub reference: String,
    /// The entry it reverses, if any.
    pub reverses: Option<EntryId>,
    /// Its lines.
    pub lines: Vec<Line>,
}

// `treat_none_as_default_value = false`: a `None` binds NULL rather than writing `DEFAULT`
// (no column here has another default), so the statement's text never varies and PostgreSQL
// prepares it once per connection instead of at every write.
#[derive(Insertable)]
#[diesel(table_name = journal_entries, treat_none_as_default_value = false)]
struct EntryRow<'a> {
    id: EntryId,
    employer_id: EmployerId,
    entry_date: Date,
    kind: &'static str,
    reference: &'a str,
    reverses_entry_id: Option<EntryId>,
    created_at: String,
    recorded_by_sub: &'a str,
    recorded_by_role: &'static str,
    request_id: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = journal_lines, treat_none_as_default_value = false)]
struct LineRow {
    entry_id: EntryId,
    line_no: i32,
    employer_id: EmployerId,
    entry_date: Date,
    account: &'static str,
    debit_cents: i64,
    credit_cents: i64,
    funder_id: Option<FunderId>,
    post_id: Option<PostId>,
    month: Option<Month>,
}

#[derive(Insertable)]
#[diesel(table_name = account_balances)]
struct BalanceDelta {
    employer_id: String,
    account: String,
    funder_key: String,
    post_key: String,
    debit_cents: i64,
    credit_cents: i64,
}

/// Posts one entry; answers its id.
pub fn post_entry(
    conn: &mut DbConnection,
    entry: NewEntry,
    by: &Recorder,
) -> Result<EntryId, StoreError> {
    post_entries(conn, &[entry], by)?
        .pop()
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("an entry was posted without an id")))
}

/// Posts entries and moves the running balances; answers their ids in order. Refuses, as an
/// internal fault, any entry that does not balance: no caller may ever build one.
pub fn post_entries(
    conn: &mut DbConnection,
    entries: &[NewEntry],
    by: &Recorder,
) -> Result<Vec<EntryId>, StoreError> {
    Ok(write_entries(conn, entries, by)?.move_balances(conn)?)
}

/// Entries written whose running balances are still to move.
#[must_use = "the running balances must move in the same transaction"]
pub struct WrittenEntries {
    /// The entries' ids, in order.
    pub ids: Vec<EntryId>,
    deltas: Vec<BalanceDelta>,
}

impl WrittenEntries {
    /// Moves the running balances by the entries' lines. A caller that writes more rows with
    /// the entries does so before this: the balances are rows every write of a key shares, and
    /// on PostgreSQL each is locked from its update to the commit, so the update comes last.
    /// Answers the entries' ids.
    pub fn move_balances(self, conn: &mut DbConnection) -> QueryResult<Vec<EntryId>> {
        move_balances(conn, &self.deltas)?;
        Ok(self.ids)
    }
}

/// Writes entries and their lines; answers their ids and the balance moves still to make.
/// Refuses, as an internal fault, any entry that does not balance.
pub fn write_entries(
    conn: &mut DbConnection,
    entries: &[NewEntry],
    by: &Recorder,
) -> Result<WrittenEntries, StoreError> {
    write_entries_by(conn, entries, |_| by)
}

/// [`write_entries`] for entries of several requests: `by(i)` recorded the `i`-th entry.
pub fn write_entries_by<'r>(
    conn: &mut DbConnection,
    entries: &[NewEntry],
    by: impl Fn(usize) -> &'r Recorder,
) -> Result<WrittenEntries, StoreError> {
    if let Some(bad) = entries.iter().find(|e| !is_balanced(&e.lines)) {
        return Err(StoreError::Internal(anyhow::anyhow!(
            "refusing an unbalanced journal entry: {:?}",
            bad.lines
        )));
    }
    let created_at = super::now_timestamp();
    let ids: Vec<EntryId> = entries.iter().map(|_| EntryId::generate()).collect();
    let entry_rows: Vec<EntryRow<'_>> = entries
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (e, id))| (by(i), e, id))
        .map(|(by, e, id)| EntryRow {
            id: *id,
            employer_id: e.employer_id,
            entry_date: e.date,
            kind: e.kind.as_str(),
            reference: &e.reference,
            reverses_entry_id: e.reverses,
            created_at: created_at.clone(),
            recorded_by_sub: &by.sub,
            recorded_by_role: by.role,
            request_id: by.request_id.as_deref(),
        })
        .collect();
    let mut line_rows = Vec::new();
    let mut deltas: BTreeMap<(String, &'static str, String, String), (i64, i64)> = BTreeMap::new();
    for (entry, id) in entries.iter().zip(&ids) {
        for (line_no, line) in entry.lines.iter().enumerate() {
            // The running balances key "no funder" and "no post" as the empty text (a UNIQUE
            // key would take NULLs as distinct); this is that sentinel, not a default.
            let delta = deltas
                .entry((
                    entry.employer_id.to_string(),
                    line.account,
                    line.funder_id.map_or_else(String::new, |f| f.to_string()),
                    line.post_id.map_or_else(String::new, |p| p.to_string()),
                ))
                .or_default();
            delta.0 += line.debit_cents;
            delta.1 += line.credit_cents;
            line_rows.push(LineRow {
                entry_id: *id,
                line_no: line_no as i32,
                employer_id: entry.employer_id,
                entry_date: entry.date,
                account: line.account,
                debit_cents: line.debit_cents,
                credit_cents: line.credit_cents,
                funder_id: line.funder_id,
                post_id: line.post_id,
                month: line.month,
            });
        }
    }
    insert_batches!(conn, journal_entries::table, entry_rows);
    insert_batches!(conn, journal_lines::table, line_rows);
    let deltas: Vec<BalanceDelta> = deltas
        .into_iter()
        .map(
            |((employer_id, account, funder_key, post_key), (debit_cents, credit_cents))| {
                BalanceDelta {
                    employer_id,
                    account: account.to_owned(),
                    funder_key,
                    post_key,
                    debit_cents,
                    credit_cents,
                }
            },
        )
        .collect();
    Ok(WrittenEntries { ids, deltas })
}

/// Adds deltas to the running balances, creating those met for the first time: on
/// PostgreSQL with one upsert per batch (diesel prepares an upsert at every call, whatever its
/// rows, so one statement for a cost's two keys is the fewest round trips); SQLite takes no
/// multi-row upsert through diesel, and its statements are local and cheap, so one per row.
fn move_balances(conn: &mut DbConnection, deltas: &[BalanceDelta]) -> QueryResult<()> {
    use account_balances::dsl as b;
    let key = (b::employer_id, b::account, b::funder_key, b::post_key);
    let add = (
        b::debit_cents.eq(b::debit_cents + excluded(b::debit_cents)),
        b::credit_cents.eq(b::credit_cents + excluded(b::credit_cents)),
    );
    macro_rules! upsert {
        ($c:expr, $values:expr) => {
            diesel::insert_into(b::account_balances)
                .values($values)
                .on_conflict(key)
                .do_update()
                .set(add)
                .execute($c)?
        };
    }
    match &mut *conn {
        DbConnection::Postgresql(c) => {
            for chunk in deltas.chunks(BATCH_ROWS) {
                upsert!(&mut *c, chunk);
            }
        }
        DbConnection::Sqlite(c) => {
            for row in deltas {
                upsert!(&mut *c, row);
            }
        }
    }
    Ok(())
}

/// A stored journal line: entry id, account, debit and credit in cents, funder, post, month.
pub type StoredLine = (
    EntryId,
    String,
    i64,
    i64,
    Option<FunderId>,
    Option<PostId>,
    Option<Month>,
);

/// The lines of entries, by entry then in their order.
pub fn lines_of(conn: &mut DbConnection, entry_ids: &[EntryId]) -> QueryResult<Vec<StoredLine>> {
    journal_lines::table
        .filter(journal_lines::entry_id.eq_any(entry_ids))
        .order((journal_lines::entry_id, journal_lines::line_no))
        .select((
            journal_lines::entry_id,
            journal_lines::account,
            journal_lines::debit_cents,
            journal_lines::credit_cents,
            journal_lines::funder_id,
            journal_lines::post_id,
            journal_lines::month,
        ))
        .load(conn)
}

/// An entry as read back.
#[derive(Debug, Clone, Queryable)]
pub struct StoredEntry {
    /// Its id.
    pub id: EntryId,
    /// The employer whose books hold it.
    pub employer_id: EmployerId,
    /// Its date.
    pub date: Date,
    /// What it records (`EntryKind`'s name).
    pub kind: String,
    /// Its reference.
    pub reference: String,
    /// The entry it reverses, if it is a reversal.
    pub reverses: Option<EntryId>,
    /// When it was written.
    pub created_at: String,
    /// Who wrote it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
}

/// Which entries to list: each filter given narrows the list; an entry matches the account,
/// funder and post filters when one of its lines matches them all.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// One employer's books.
    pub employer: Option<EmployerId>,
    /// Dated on or after.
    pub from: Option<Date>,
    /// Dated on or before.
    pub to: Option<Date>,
    /// A line on this account.
    pub account: Option<String>,
    /// A line concerning this funder.
    pub funder: Option<FunderId>,
    /// A line concerning this post.
    pub post: Option<PostId>,
}

/// The cursor of an entry in the journal's order (date, then id).
pub fn entry_cursor(entry: &StoredEntry) -> String {
    format!("{}_{}", entry.date, entry.id)
}

/// A page of the journal ordered by date then id, after a cursor of [`entry_cursor`].
pub fn entries_page(
    conn: &mut DbConnection,
    filter: &EntryFilter,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<StoredEntry>, Option<String>)> {
    let mut e = journal_entries::table
        .select((
            journal_entries::id,
            journal_entries::employer_id,
            journal_entries::entry_date,
            journal_entries::kind,
            journal_entries::reference,
            journal_entries::reverses_entry_id,
            journal_entries::created_at,
            journal_entries::recorded_by_sub,
            journal_entries::recorded_by_role,
        ))
        .order((journal_entries::entry_date, journal_entries::id))
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(employer) = filter.employer {
        e = e.filter(journal_entries::employer_id.eq(employer));
    }
    if let Some(from) = filter.from {
        e = e.filter(journal_entries::entry_date.ge(from));
    }
    if let Some(to) = filter.to {
        e = e.filter(journal_entries::entry_date.le(to));
    }
    if filter.account.is_some() || filter.funder.is_some() || filter.post.is_some() {
        // One subquery shape for every combination of filters (a boxed subquery does not go
        // through the multi-backend connection): an absent filter is "1 = 1".
        let absent = |missing: bool| {
            diesel::dsl::sql::<diesel::sql_types::Bool>(if missing { "1 = 1" } else { "1 = 0" })
        };
        let matching = journal_lines::table
            .filter(
                journal_lines::account
                    .eq(filter.account.clone().unwrap_or_default())
                    .or(absent(filter.account.is_none())),
            )
            .filter(
                journal_lines::funder_id
                    .eq(filter.funder.map(|f| f.to_string()).unwrap_or_default())
                    .or(absent(filter.funder.is_none())),
            )
            .filter(
                journal_lines::post_id
                    .eq(filter.post.map(|p| p.to_string()).unwrap_or_default())
                    .or(absent(filter.post.is_none())),
            )
            .select(journal_lines::entry_id);
        e = e.filter(journal_entries::id.eq_any(matching));
    }
    if let Some((date, id)) = page.after.as_deref().and_then(|c| c.split_once('_')) {
        e = e.filter(
            journal_entries::entry_date
                .gt(date.to_owned())
                .or(journal_entries::entry_date
                    .eq(date.to_owned())
                    .and(journal_entries::id.gt(id.to_owned()))),
        );
    }
    let rows: Vec<StoredEntry> = e.load(conn)?;
    Ok(page.finish(rows, entry_cursor))
}

/// A balance as summed: account, funder key and post key (empty when the lines concern none),
/// debit and credit in cents.
pub type BalanceRow = (String, String, String, i64, i64);

/// The balances of the books, of one employer or all: the running balances, or with `as_of`
/// each employer's balances as of the end of that day from its nearest stored figures
/// (`month_balances`: the lines of at most one month are summed by the database on top of
/// them when the employer closes its months; the lines never come into the server's memory).
pub fn balances(
    conn: &mut DbConnection,
    employer: Option<EmployerId>,
    as_of: Option<Date>,
) -> QueryResult<Vec<BalanceRow>> {
    match as_of {
        None => {
            let mut b = account_balances::table
                .select((
                    account_balances::account,
                    account_balances::funder_key,
                    account_balances::post_key,
                    account_balances::debit_cents,
                    account_balances::credit_cents,
                ))
                .into_boxed();
            if let Some(employer) = employer {
                b = b.filter(account_balances::employer_id.eq(employer));
            }
            b.load(conn)
        }
        Some(date) => {
            let today = crate::domain::clock::today();
            let employers: Vec<EmployerId> = match employer {
                Some(one) => vec![one],
                None => super::schema::employers::table
                    .select(super::schema::employers::id)
                    .order(super::schema::employers::id)
                    .load(conn)?,
            };
            // Each employer from its own nearest stored figures, summed per key across them.
            let mut sums: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
            for one in employers {
                for (a, f, p, d, c) in super::month_balances::as_of(conn, one, date, today)? {
                    let entry = sums.entry((a, f, p)).or_default();
                    entry.0 += d;
                    entry.1 += c;
                }
            }
            Ok(sums
                .into_iter()
                .map(|((a, f, p), (d, c))| (a, f, p, d, c))
                .collect())
        }
    }
}
