//! Calls for funds, their credit notes, payments and the lettrage between them: the queries
//! and writes behind `/v1/calls` and `/v1/payments`, in the caller's transaction.

use super::ledger::{post_entry, EntryKind, NewEntry};
use super::schema::{
    allocation_lines, call_lines, calls, number_sequences, payment_applications, payments,
};
use super::DbConnection;
use super::{EmployerLock, Recorder};
use crate::db::LockedEmployer;
use crate::db::StoreError;
use crate::domain::ids::{CallId, CreditNoteId, EmployerId, EntryId, FunderId, PaymentId, PostId};
use crate::domain::statement::settle;
use crate::domain::{ledger, Date, Money, Month};
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// A line of a call: (post, month, amount in cents).
pub type CallLine = (PostId, Month, i64);

/// A call as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calls)]
pub struct CallRow {
    /// Its id.
    pub id: CallId,
    /// The employer that issued it.
    pub employer_id: EmployerId,
    /// The funder it asks.
    pub funder_id: FunderId,
    /// `AF-YYYY-NNNN`.
    pub number: String,
    /// First allocation month called.
    pub from_month: Month,
    /// Last allocation month called.
    pub to_month: Month,
    /// Issue date.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
    /// Total, in cents.
    pub amount_cents: i64,
    /// Its journal entry.
    pub entry_id: EntryId,
    /// When it was cancelled, if it was.
    pub cancelled_on: Option<Date>,
    /// Its credit note's id.
    pub credit_note_id: Option<CreditNoteId>,
    /// Its credit note's number, `AV-YYYY-NNNN`.
    pub credit_note_number: Option<String>,
    /// Its credit note's journal entry.
    pub credit_note_entry_id: Option<EntryId>,
    /// Creation time.
    pub created_at: String,
    /// Who issued it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who issued it: the token's role.
    pub recorded_by_role: String,
    /// Who issued its credit note: the token's `sub`.
    pub cancelled_by_sub: Option<String>,
    /// Who issued its credit note: the token's role.
    pub cancelled_by_role: Option<String>,
    /// When its credit note was recorded.
    pub cancelled_at: Option<String>,
}

/// The next gapless number of a kind (`AF`, `AV`) for the locked employer and a year, taken
/// in the transaction that issues the document.
fn next_number(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    kind: &str,
    year: i32,
) -> QueryResult<String> {
    let employer_id = lock.employer();
    let key = number_sequences::table.find((employer_id, kind, year));
    let last: Option<i32> = key
        .select(number_sequences::last_number)
        .first(conn)
        .optional()?;
    let next = last.unwrap_or(0) + 1;
    if last.is_some() {
        diesel::update(key)
            .set(number_sequences::last_number.eq(next))
            .execute(conn)?;
    } else {
        diesel::insert_into(number_sequences::table)
            .values((
                number_sequences::employer_id.eq(employer_id),
                number_sequences::kind.eq(kind),
                number_sequences::year.eq(year),
                number_sequences::last_number.eq(next),
            ))
            .execute(conn)?;
    }
    Ok(format!("{kind}-{year}-{next:04}"))
}

/// What is called, per post and month, for a funder of an employer (cancelled calls excluded).
pub fn called(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
) -> QueryResult<HashMap<(PostId, Month), i64>> {
    let rows: Vec<(PostId, Month, i64)> = call_lines::table
        .filter(call_lines::employer_id.eq(employer_id))
        .filter(call_lines::funder_id.eq(funder_id))
        .filter(
            call_lines::call_id.eq_any(
                calls::table
                    .filter(calls::cancelled_on.is_null())
                    .select(calls::id),
            ),
        )
        .group_by((call_lines::post_id, call_lines::month))
        .select((
            call_lines::post_id,
            call_lines::month,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(p, m, a)| ((p, m), a)).collect())
}

/// What a funder was allocated and not yet called, per post and month, within the months.
pub fn callable(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
    from: Month,
    to: Month,
) -> QueryResult<Vec<CallLine>> {
    let allocated: Vec<CallLine> = allocation_lines::table
        .filter(allocation_lines::employer_id.eq(employer_id))
        .filter(allocation_lines::funder_id.eq(funder_id))
        .filter(allocation_lines::month.between(from, to))
        .group_by((allocation_lines::post_id, allocation_lines::month))
        .select((
            allocation_lines::post_id,
            allocation_lines::month,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    let called = called(conn, employer_id, funder_id)?;
    let mut lines: Vec<CallLine> = allocated
        .into_iter()
        .map(|(post, month, amount)| {
            let already = called.get(&(post, month)).copied().unwrap_or(0);
            (post, month, amount - already)
        })
        .filter(|(_, _, left)| *left > 0)
        .collect();
    lines.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    Ok(lines)
}

/// What was paid on each call (the sum of its applications).
pub fn paid(conn: &mut DbConnection, call_ids: &[CallId]) -> QueryResult<HashMap<CallId, i64>> {
    let rows: Vec<(CallId, i64)> = payment_applications::table
        .filter(payment_applications::call_id.eq_any(call_ids))
        .group_by(payment_applications::call_id)
        .select((
            payment_applications::call_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The lines of calls, by call: (post, month, amount), oldest month first then by post.
pub fn lines_of(
    conn: &mut DbConnection,
    call_ids: &[CallId],
) -> QueryResult<BTreeMap<CallId, Vec<CallLine>>> {
    let rows: Vec<(CallId, PostId, Month, i64)> = call_lines::table
        .filter(call_lines::call_id.eq_any(call_ids))
        .order((call_lines::call_id, call_lines::month, call_lines::post_id))
        .select((
            call_lines::call_id,
            call_lines::post_id,
            call_lines::month,
            call_lines::amount_cents,
        ))
        .load(conn)?;
    let mut by_call: BTreeMap<CallId, Vec<CallLine>> = BTreeMap::new();
    for (call, post, month, amount) in rows {
        by_call.entry(call).or_default().push((post, month, amount));
    }
    Ok(by_call)
}

/// A call's line with the part of it paid: (post, month, amount, paid), in cents.
pub type SettledLine = (PostId, Month, i64, i64);

/// The lines of calls with what was paid on each: a call's payments settle its lines oldest
/// month first, then by post (`domain::statement::settle`).
pub fn settled_lines(
    conn: &mut DbConnection,
    call_ids: &[CallId],
) -> QueryResult<BTreeMap<CallId, Vec<SettledLine>>> {
    let lines = lines_of(conn, call_ids)?;
    let paid = paid(conn, call_ids)?;
    Ok(lines
        .into_iter()
        .map(|(call, lines)| {
            let amounts: Vec<i64> = lines.iter().map(|l| l.2).collect();
            let settled = settle(paid.get(&call).copied().unwrap_or(0), &amounts);
            let lines = lines
                .into_iter()
                .zip(settled)
                .map(|((post, month, amount), settled)| (post, month, amount, settled))
                .collect();
            (call, lines)
        })
        .collect())
}

/// The status of a call from its amount and what was paid on it.
pub fn status(row: &CallRow, paid_cents: i64) -> &'static str {
    if row.cancelled_on.is_some() {
        "cancelled"
    } else if paid_cents >= row.amount_cents {
        "paid"
    } else if paid_cents > 0 {
        "partially_paid"
    } else {
        "issued"
    }
}

/// What is still due on a call: nothing once cancelled (its credit note settles it).
pub fn outstanding(row: &CallRow, paid_cents: i64) -> i64 {
    if row.cancelled_on.is_some() {
        0
    } else {
        row.amount_cents - paid_cents
    }
}

/// Reads one call.
pub fn find(conn: &mut DbConnection, id: CallId) -> Result<CallRow, StoreError> {
    calls::table
        .find(id)
        .select(CallRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("call"))
}

/// A call to issue.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The funder asked.
    pub funder_id: FunderId,
    /// First allocation month.
    pub from: Month,
    /// Last allocation month.
    pub to: Month,
    /// Issue date.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
}

/// A line of a call to record.
#[derive(Insertable)]
#[diesel(table_name = call_lines, treat_none_as_default_value = false)]
struct NewCallLine {
    call_id: CallId,
    post_id: PostId,
    month: Month,
    funder_id: FunderId,
    employer_id: EmployerId,
    amount_cents: i64,
}

/// Issues a call over everything allocated to the funder and not yet called in the months,
/// posts 441 / 4687, and applies the funder's credit with the employer to it. Answers the
/// call's id; 422 when nothing is left to call. The call is the locked employer's.
pub fn issue(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    new: &NewCall,
    by: &Recorder,
) -> Result<CallId, StoreError> {
    let employer_id = lock.employer();
    super::periods::check_open(conn, employer_id, new.issued_on.month())?;
    let funder = new.funder_id;
    let lines = callable(conn, employer_id, funder, new.from, new.to)?;
    if lines.is_empty() {
        return Err(StoreError::refused(
            "nothing_to_call",
            format!(
                "nothing allocated to this funder is left to call in {}..{}",
                new.from, new.to
            ),
        ));
    }
    let number = next_number(conn, lock, "AF", new.issued_on.month().year())?;
    let id = CallId::generate();
    let entry_id = post_entry(
        conn,
        NewEntry {
            employer_id,
            date: new.issued_on,
            kind: EntryKind::Call,
            reference: number.clone(),
            reverses: None,
            lines: ledger::call_lines(new.funder_id, &lines, true),
        },
        by,
    )?;
    let amount: i64 = lines.iter().map(|(_, _, a)| a).sum();
    diesel::insert_into(calls::table)
        .values((
            calls::id.eq(id),
            calls::employer_id.eq(employer_id),
            calls::funder_id.eq(funder),
            calls::number.eq(&number),
            calls::from_month.eq(new.from),
            calls::to_month.eq(new.to),
            calls::issued_on.eq(new.issued_on),
            calls::due_on.eq(new.due_on),
            calls::amount_cents.eq(amount),
            calls::entry_id.eq(&entry_id),
            calls::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(calls, by),
        ))
        .execute(conn)?;
    // A call over a few hundred posts has a line per post and month: written in batches.
    let line_rows: Vec<NewCallLine> = lines
        .iter()
        .map(|&(post_id, month, amount_cents)| NewCallLine {
            call_id: id,
            post_id,
            month,
            funder_id: funder,
            employer_id,
            amount_cents,
        })
        .collect();
    insert_batches!(conn, call_lines::table, line_rows);
    apply_credit(conn, employer_id, funder, id, amount)?;
    Ok(id)
}

/// What each payment of a funder to an employer has left unapplied, oldest payment first.
pub fn unapplied_payments(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
) -> QueryResult<Vec<(PaymentId, i64)>> {
    let rows: Vec<(PaymentId, i64)> = payments::table
        .filter(payments::employer_id.eq(employer_id))
        .filter(payments::funder_id.eq(funder_id))
        .order((payments::received_on, payments::id))
        .select((payments::id, payments::amount_cents))
        .load(conn)?;
    let ids: Vec<PaymentId> = rows.iter().map(|r| r.0).collect();
    let applied: HashMap<PaymentId, i64> = payment_applications::table
        .filter(payment_applications::payment_id.eq_any(&ids))
        .group_by(payment_applications::payment_id)
        .select((
            payment_applications::payment_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load::<(PaymentId, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, amount)| {
            let left = amount - applied.get(&id).copied().unwrap_or(0);
            (id, left)
        })
        .filter(|(_, left)| *left > 0)
        .collect())
}

/// Records the application of part of a payment to a call.
pub fn apply(
    conn: &mut DbConnection,
    payment_id: PaymentId,
    call_id: CallId,
    amount_cents: i64,
) -> QueryResult<()> {
    diesel::insert_into(payment_applications::table)
        .values((
            payment_applications::id.eq(Uuid::now_v7().to_string()),
            payment_applications::payment_id.eq(payment_id),
            payment_applications::call_id.eq(call_id),
            payment_applications::amount_cents.eq(amount_cents),
            payment_applications::created_at.eq(super::now_timestamp()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies a funder's credit (payments not yet applied) to a new call, oldest payment first.
fn apply_credit(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
    call_id: CallId,
    amount_cents: i64,
) -> QueryResult<()> {
    let mut left = amount_cents;
    for (payment, unapplied) in unapplied_payments(conn, employer_id, funder_id)? {
        if left == 0 {
            break;
        }
        let applied = unapplied.min(left);
        apply(conn, payment, call_id, applied)?;
        left -= applied;
    }
    Ok(())
}

/// Cancels a call by its credit note: the reversing entry, dated `today`, and the number
/// `AV-YYYY-NNNN`; its allocations become callable again. A call with money applied to it,
/// or already cancelled, answers 409. The call is the locked employer's.
pub fn cancel(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    call: &CallRow,
    today: Date,
    by: &Recorder,
) -> Result<(), StoreError> {
    if lock.employer() != call.employer_id {
        return Err(StoreError::NotFound("call"));
    }
    super::periods::check_open(conn, call.employer_id, today.month())?;
    if call.cancelled_on.is_some() {
        return Err(StoreError::conflict(
            "already_cancelled",
            format!(
                "{} was already cancelled by {}",
                call.number,
                call.credit_note_number
                    .as_deref()
                    .unwrap_or("its credit note")
            ),
        ));
    }
    let paid = paid(conn, std::slice::from_ref(&call.id))?
        .get(&call.id)
        .copied()
        .unwrap_or(0);
    if paid > 0 {
        return Err(StoreError::conflict(
            "call_paid",
            format!(
                "{} has {} paid on it and cannot be cancelled",
                call.number,
                Money::from_cents(paid)
            ),
        ));
    }
    // A call always has lines (an empty one is refused at issue): none is a corrupt call.
    let lines = lines_of(conn, std::slice::from_ref(&call.id))?
        .remove(&call.id)
        .ok_or_else(|| {
            anyhow::anyhow!("call {} has no lines: an empty call is refused", call.id)
        })?;
    let number = next_number(conn, lock, "AV", today.month().year())?;
    let entry_id = post_entry(
        conn,
        NewEntry {
            employer_id: call.employer_id,
            date: today,
            kind: EntryKind::CreditNote,
            reference: format!("{number} cancels {}", call.number),
            reverses: Some(call.entry_id),
            lines: ledger::call_lines(call.funder_id, &lines, false),
        },
        by,
    )?;
    diesel::update(calls::table.find(call.id))
        .set((
            calls::cancelled_on.eq(today),
            calls::credit_note_id.eq(CreditNoteId::generate()),
            calls::credit_note_number.eq(&number),
            calls::credit_note_entry_id.eq(&entry_id),
            calls::cancelled_by_sub.eq(&by.sub),
            calls::cancelled_by_role.eq(by.role),
            calls::cancelled_at.eq(super::now_timestamp()),
            calls::cancel_request_id.eq(&by.request_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// A payment received.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// The funder that paid.
    pub funder_id: FunderId,
    /// The amount, in cents.
    pub amount_cents: i64,
    /// The day the bank received it.
    pub received_on: Date,
    /// The bank's reference.
    pub reference: &'a str,
    /// The calls it pays and how much of each, when the payer said so.
    pub named: Option<&'a [(CallId, i64)]>,
}

/// Records a payment (512 / 441) and applies it: to the named calls, or else to the funder's
/// open calls with the employer, oldest due first. Answers the payment's id.
pub fn receive(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    payment: &NewPayment<'_>,
    by: &Recorder,
) -> Result<PaymentId, StoreError> {
    let NewPayment {
        funder_id,
        amount_cents,
        received_on,
        reference,
        named,
    } = *payment;
    let employer_id = lock.employer();
    super::periods::check_open(conn, employer_id, received_on.month())?;
    let funder = funder_id;
    let id = PaymentId::generate();
    let entry_id = post_entry(
        conn,
        NewEntry {
            employer_id,
            date: received_on,
            kind: EntryKind::Payment,
            reference: format!("payment {reference}"),
            reverses: None,
            lines: ledger::payment_lines(funder_id, amount_cents).to_vec(),
        },
        by,
    )?;
    diesel::insert_into(payments::table)
        .values((
            payments::id.eq(id),
            payments::employer_id.eq(employer_id),
            payments::funder_id.eq(funder),
            payments::amount_cents.eq(amount_cents),
            payments::received_on.eq(received_on),
            payments::reference.eq(reference),
            payments::entry_id.eq(&entry_id),
            payments::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(payments, by),
        ))
        .execute(conn)?;
    match named {
        Some(applications) => {
            for (call_id, amount) in applications {
                apply(conn, id, *call_id, *amount)?;
            }
        }
        None => {
            let open: Vec<CallRow> = calls::table
                .filter(calls::employer_id.eq(employer_id))
                .filter(calls::funder_id.eq(funder))
                .filter(calls::cancelled_on.is_null())
                .order((calls::due_on, calls::issued_on, calls::number))
                .select(CallRow::as_select())
                .load(conn)?;
            let ids: Vec<CallId> = open.iter().map(|c| c.id).collect();
            let paid = paid(conn, &ids)?;
            let mut left = amount_cents;
            for call in &open {
                if left == 0 {
                    break;
                }
                let outstanding = call.amount_cents - paid.get(&call.id).copied().unwrap_or(0);
                if outstanding > 0 {
                    let applied = outstanding.min(left);
                    apply(conn, id, call.id, applied)?;
                    left -= applied;
                }
            }
        }
    }
    Ok(id)
}

/// A page of the calls `scope` may read, by id, optionally between one employer and funder.
pub fn page(
    conn: &mut DbConnection,
    scope: crate::auth::Scope,
    employer: Option<EmployerId>,
    funder: Option<FunderId>,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<CallRow>, Option<String>)> {
    let query = crate::party_filters!(
        calls::table.select(CallRow::as_select()).into_boxed(),
        calls,
        scope,
        employer = employer,
        funder = funder
    );
    let rows = crate::keyset_page!(query, calls::id, page).load(conn)?;
    Ok(page.finish(rows, |c: &CallRow| c.id.to_string()))
}

/// Every call `scope` may read between the parties asked, oldest first, up to `limit`.
pub fn all_selected(
    conn: &mut DbConnection,
    scope: crate::auth::Scope,
    employer: Option<EmployerId>,
    funder: Option<FunderId>,
    limit: i64,
) -> QueryResult<Vec<CallRow>> {
    crate::party_filters!(
        calls::table.select(CallRow::as_select()).into_boxed(),
        calls,
        scope,
        employer = employer,
        funder = funder
    )
    .order((calls::issued_on, calls::number))
    .limit(limit)
    .load(conn)
}

/// What a call's document prints besides the call itself.
pub struct DocumentFacts {
    /// The employer issuing it.
    pub employer: crate::db::employers::EmployerRow,
    /// The funder's name.
    pub funder_name: String,
    /// The call's lines.
    pub lines: Vec<CallLine>,
    /// Each post's reference and title.
    pub posts: HashMap<PostId, (Option<String>, String)>,
    /// The references of the funder's commitments the call draws on, sorted, once each.
    pub conventions: Vec<String>,
    /// What was paid on the call, in cents.
    pub paid_cents: i64,
}

/// Reads what a call's document prints.
pub fn document_facts(
    conn: &mut DbConnection,
    call: &CallRow,
) -> Result<DocumentFacts, StoreError> {
    use super::schema::commitments;
    let employer = crate::db::employers::find(conn, call.employer_id)?;
    let funder_name = crate::db::funders::find(conn, call.funder_id)?.name;
    let lines = lines_of(conn, std::slice::from_ref(&call.id))?
        .remove(&call.id)
        .ok_or_else(|| {
            anyhow::anyhow!("call {} has no lines: an empty call is refused", call.id)
        })?;
    let post_ids: Vec<PostId> = lines.iter().map(|l| l.0).collect();
    let posts = crate::db::posts::names(conn, &post_ids)?;
    let mut conventions: Vec<String> = commitments::table
        .filter(commitments::funder_id.eq(call.funder_id))
        .filter(commitments::post_id.eq_any(&post_ids))
        .filter(commitments::start_month.le(call.to_month))
        .filter(commitments::end_month.ge(call.from_month))
        .select(commitments::reference)
        .load(conn)?;
    conventions.sort();
    conventions.dedup();
    let paid_cents = paid(conn, std::slice::from_ref(&call.id))?
        .get(&call.id)
        .copied()
        .unwrap_or(0);
    Ok(DocumentFacts {
        employer,
        funder_name,
        lines,
        posts,
        conventions,
        paid_cents,
    })
}
