//! The registry of employers.

use crate::db::paging::Page;
use crate::db::schema::{employers, journal_entries};
use crate::db::LockedEmployer;
use crate::db::{DbConnection, Recorder, StoreError};
use crate::domain::ids::EmployerId;
use diesel::prelude::*;

/// An employer as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = employers)]
pub struct EmployerRow {
    /// Its id.
    pub id: EmployerId,
    /// Its name.
    pub name: String,
    /// Its kind (`EmployerKind`'s name).
    pub kind: String,
    /// Its SIREN, when known.
    pub siren: Option<String>,
    /// Its territory, when given.
    pub territory: Option<String>,
    /// When it was registered.
    pub created_at: String,
    /// Who registered it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
    /// The month its fiscal year ends in.
    pub fiscal_year_end_month: i32,
    /// Its postal address.
    pub address: Option<String>,
    /// Its IBAN.
    pub iban: Option<String>,
    /// Its BIC.
    pub bic: Option<String>,
    /// Its version, raised by each change.
    pub version: i64,
}

/// Registers an employer.
pub fn insert(conn: &mut DbConnection, row: &EmployerRow, by: &Recorder) -> QueryResult<()> {
    diesel::insert_into(employers::table)
        .values((
            employers::id.eq(row.id),
            employers::name.eq(&row.name),
            employers::kind.eq(&row.kind),
            employers::siren.eq(&row.siren),
            employers::territory.eq(&row.territory),
            employers::created_at.eq(&row.created_at),
            crate::recorded_by!(employers, by),
            employers::fiscal_year_end_month.eq(row.fiscal_year_end_month),
            employers::address.eq(&row.address),
            employers::iban.eq(&row.iban),
            employers::bic.eq(&row.bic),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether any employer is registered.
pub fn any(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(employers::table.select(employers::id))).get_result(conn)
}

/// A page of the registry by id; `only` narrows it to one employer (an employer's own).
pub fn page(
    conn: &mut DbConnection,
    only: Option<EmployerId>,
    page: &Page,
) -> QueryResult<(Vec<EmployerRow>, Option<String>)> {
    let mut query = employers::table
        .select(EmployerRow::as_select())
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(employers::id.eq(id));
    }
    let rows = crate::keyset_page!(query, employers::id, page).load(conn)?;
    Ok(page.finish(rows, |e: &EmployerRow| e.id.to_string()))
}

/// One employer.
pub fn find(conn: &mut DbConnection, id: EmployerId) -> Result<EmployerRow, StoreError> {
    employers::table
        .find(id)
        .select(EmployerRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("employer"))
}

/// Whether the employer has a journal entry (its books are then cut by its fiscal year).
pub fn has_books(conn: &mut DbConnection, id: EmployerId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        journal_entries::table.filter(journal_entries::employer_id.eq(id)),
    ))
    .get_result(conn)
}

/// Writes the changeable fields of `row` over the locked employer and raises its version.
pub fn update(
    conn: &mut DbConnection,
    lock: &crate::db::EmployerLock,
    row: &EmployerRow,
) -> QueryResult<()> {
    diesel::update(employers::table.find(lock.employer()))
        .set((
            employers::fiscal_year_end_month.eq(row.fiscal_year_end_month),
            employers::address.eq(&row.address),
            employers::iban.eq(&row.iban),
            employers::bic.eq(&row.bic),
            employers::siren.eq(&row.siren),
            employers::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Employers' names by id: of the ids given, or of every employer when `None` (the reports
/// name the employers they group by).
pub fn names(
    conn: &mut DbConnection,
    ids: Option<&[EmployerId]>,
) -> QueryResult<std::collections::HashMap<EmployerId, String>> {
    let mut query = employers::table
        .select((employers::id, employers::name))
        .into_boxed();
    if let Some(ids) = ids {
        query = query.filter(employers::id.eq_any(ids));
    }
    Ok(query
        .load::<(EmployerId, String)>(conn)?
        .into_iter()
        .collect())
}
