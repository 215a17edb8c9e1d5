//! Dated rates and their values: registered by the mission and the operator, read by all.

use super::schema::{rate_values, rates};
use super::{DbConnection, Recorder};
use crate::domain::{Money, Month};
use diesel::prelude::*;

/// A rate as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rates)]
pub struct RateRow {
    /// Its code.
    pub code: String,
    /// Its label.
    pub label: String,
    /// When it was registered.
    pub created_at: String,
    /// Who registered it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who registered it: the token's role.
    pub recorded_by_role: String,
}

/// A value of a rate as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rate_values)]
pub struct ValueRow {
    /// Its id.
    pub id: String,
    /// The rate.
    pub rate_code: String,
    /// The first month it is in force.
    pub from_month: Month,
    /// The amount per full-time post per year, in cents.
    pub annual_amount_cents: i64,
    /// When it was recorded.
    pub created_at: String,
    /// Who recorded it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who recorded it: the token's role.
    pub recorded_by_role: String,
}

/// Whether a rate has this code.
pub fn exists(conn: &mut DbConnection, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(rates::table.find(code))).get_result(conn)
}

/// Registers a rate (its code must be free).
pub fn insert(conn: &mut DbConnection, code: &str, label: &str, by: &Recorder) -> QueryResult<()> {
    diesel::insert_into(rates::table)
        .values((
            rates::code.eq(code),
            rates::label.eq(label),
            rates::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(rates, by),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds a value to a rate: never an edit; a value for a month that has one supersedes it.
pub fn add_value(
    conn: &mut DbConnection,
    code: &str,
    from_month: Month,
    annual: Money,
    by: &Recorder,
) -> QueryResult<()> {
    diesel::insert_into(rate_values::table)
        .values((
            rate_values::id.eq(uuid::Uuid::now_v7().to_string()),
            rate_values::rate_code.eq(code),
            rate_values::from_month.eq(from_month),
            rate_values::annual_amount_cents.eq(annual.cents()),
            rate_values::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(rate_values, by),
        ))
        .execute(conn)?;
    Ok(())
}

/// The values of rates, by month then in the order recorded.
pub fn values_of(conn: &mut DbConnection, codes: &[String]) -> QueryResult<Vec<ValueRow>> {
    rate_values::table
        .filter(rate_values::rate_code.eq_any(codes))
        .order((
            rate_values::rate_code,
            rate_values::from_month,
            rate_values::created_at,
            rate_values::id,
        ))
        .select(ValueRow::as_select())
        .load(conn)
}

/// One rate, by code.
pub fn find(conn: &mut DbConnection, code: &str) -> Result<RateRow, crate::db::StoreError> {
    rates::table
        .find(code)
        .select(RateRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(crate::db::StoreError::NotFound("rate"))
}

/// A page of the rates, by code.
pub fn page(
    conn: &mut DbConnection,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<RateRow>, Option<String>)> {
    let q = rates::table.select(RateRow::as_select()).into_boxed();
    let rows: Vec<RateRow> = crate::keyset_page!(q, rates::code, page).load(conn)?;
    Ok(page.finish(rows, |r| r.code.clone()))
}
