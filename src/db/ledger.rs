//! Writing the journal: one entry with its lines, and the running balances, in the caller's
//! transaction. This is the only code that inserts into the journal; nothing updates or
//! deletes it (and triggers refuse it on both backends).

use super::schema::{account_balances, journal_entries, journal_lines};
use super::DbConnection;
use crate::domain::ledger::{is_balanced, Line};
use crate::domain::Date;
use crate::error::ApiError;
use diesel::prelude::*;
use uuid::Uuid;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A cost recorded.
    Cost,
    /// A cost reversed.
    CostReversal,
    /// A change of allocations.
    Allocation,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Cost => "cost",
            EntryKind::CostReversal => "cost_reversal",
            EntryKind::Allocation => "allocation",
        }
    }
}

/// An entry to post.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// The employer whose books it belongs to.
    pub employer_id: &'a str,
    /// The entry's date, which decides its period.
    pub date: Date,
    /// What it records.
    pub kind: EntryKind,
    /// A human reference (cost id, post and month…).
    pub reference: String,
    /// The entry it reverses, if any.
    pub reverses: Option<&'a str>,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// Posts an entry and moves the running balances. Refuses, as an internal fault, an entry
/// that does not balance: no caller may ever build one.
pub fn post_entry(conn: &mut DbConnection, entry: NewEntry<'_>) -> Result<String, ApiError> {
    if !is_balanced(&entry.lines) {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "refusing an unbalanced journal entry: {:?}",
            entry.lines
        )));
    }
    let id = Uuid::now_v7().to_string();
    let date = entry.date.to_string();
    diesel::insert_into(journal_entries::table)
        .values((
            journal_entries::id.eq(&id),
            journal_entries::employer_id.eq(entry.employer_id),
            journal_entries::entry_date.eq(&date),
            journal_entries::kind.eq(entry.kind.as_str()),
            journal_entries::reference.eq(&entry.reference),
            journal_entries::reverses_entry_id.eq(entry.reverses),
            journal_entries::created_at.eq(super::now_timestamp()),
        ))
        .execute(conn)?;
    for (line_no, line) in entry.lines.iter().enumerate() {
        let funder = line.funder_id.map(|f| f.to_string());
        let post = line.post_id.map(|p| p.to_string());
        diesel::insert_into(journal_lines::table)
            .values((
                journal_lines::entry_id.eq(&id),
                journal_lines::line_no.eq(line_no as i32),
                journal_lines::employer_id.eq(entry.employer_id),
                journal_lines::entry_date.eq(&date),
                journal_lines::account.eq(line.account),
                journal_lines::debit_cents.eq(line.debit_cents),
                journal_lines::credit_cents.eq(line.credit_cents),
                journal_lines::funder_id.eq(&funder),
                journal_lines::post_id.eq(&post),
                journal_lines::month.eq(line.month.map(|m| m.to_string())),
            ))
            .execute(conn)?;
        move_balance(
            conn,
            entry.employer_id,
            line.account,
            funder.as_deref().unwrap_or(""),
            post.as_deref().unwrap_or(""),
            line.debit_cents,
            line.credit_cents,
        )?;
    }
    Ok(id)
}

/// Adds to a running balance, creating it at its first movement. Callers hold the employer's
/// lock, so no other transaction creates the same balance meanwhile.
fn move_balance(
    conn: &mut DbConnection,
    employer_id: &str,
    account: &str,
    funder_key: &str,
    post_key: &str,
    debit_cents: i64,
    credit_cents: i64,
) -> QueryResult<()> {
    let key = (employer_id, account, funder_key, post_key);
    let updated = diesel::update(account_balances::table.find(key))
        .set((
            account_balances::debit_cents.eq(account_balances::debit_cents + debit_cents),
            account_balances::credit_cents.eq(account_balances::credit_cents + credit_cents),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(account_balances::table)
            .values((
                account_balances::employer_id.eq(employer_id),
                account_balances::account.eq(account),
                account_balances::funder_key.eq(funder_key),
                account_balances::post_key.eq(post_key),
                account_balances::debit_cents.eq(debit_cents),
                account_balances::credit_cents.eq(credit_cents),
            ))
            .execute(conn)?;
    }
    Ok(())
}
