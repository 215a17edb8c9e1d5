//! Reading payments and their applications to calls (recording them is `db::calls`'s, with
//! the lettrage).

use crate::db::schema::{calls, payment_applications, payments};
use crate::db::{DbConnection, StoreError};
use crate::domain::ids::{CallId, EmployerId, FunderId, PaymentId};
use crate::domain::Date;
use diesel::prelude::*;
use std::collections::HashMap;

/// A payment as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    /// Its id.
    pub id: PaymentId,
    /// The employer that received it.
    pub employer_id: EmployerId,
    /// The funder that paid it.
    pub funder_id: FunderId,
    /// Its amount, in cents.
    pub amount_cents: i64,
    /// When it was received.
    pub received_on: Date,
    /// The bank's reference.
    pub reference: String,
    /// When it was recorded.
    pub created_at: String,
    /// Who recorded it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
}

/// An application of a payment: (call, cents, the call's number).
pub type Applied = (CallId, i64, String);

/// The applications of payments, in the order made; a payment not applied has none.
pub fn applications(
    conn: &mut DbConnection,
    ids: &[PaymentId],
) -> QueryResult<HashMap<PaymentId, Vec<Applied>>> {
    let rows: Vec<(PaymentId, CallId, i64, String)> = payment_applications::table
        .inner_join(calls::table.on(calls::id.eq(payment_applications::call_id)))
        .filter(payment_applications::payment_id.eq_any(ids))
        .order(payment_applications::id)
        .select((
            payment_applications::payment_id,
            payment_applications::call_id,
            payment_applications::amount_cents,
            calls::number,
        ))
        .load(conn)?;
    let mut by_payment: HashMap<PaymentId, Vec<Applied>> = HashMap::new();
    for (payment, call, amount, number) in rows {
        by_payment
            .entry(payment)
            .or_default()
            .push((call, amount, number));
    }
    Ok(by_payment)
}

/// One payment.
pub fn find(conn: &mut DbConnection, id: PaymentId) -> Result<PaymentRow, StoreError> {
    payments::table
        .find(id)
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("payment"))
}

/// A page of the payments `scope` may read, by id, optionally between one employer and funder.
pub fn page(
    conn: &mut DbConnection,
    scope: crate::auth::Scope,
    employer: Option<EmployerId>,
    funder: Option<FunderId>,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<PaymentRow>, Option<String>)> {
    let query = crate::party_filters!(
        payments::table.select(PaymentRow::as_select()).into_boxed(),
        payments,
        scope,
        employer = employer,
        funder = funder
    );
    let rows: Vec<PaymentRow> = crate::keyset_page!(query, payments::id, page).load(conn)?;
    Ok(page.finish(rows, |r| r.id.to_string()))
}
