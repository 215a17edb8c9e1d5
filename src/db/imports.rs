//! The records of imported files.

use crate::db::costs::CostRow;
use crate::db::schema::{costs, imports};
use crate::db::{DbConnection, Recorder, StoreError};
use crate::domain::ids::{EmployerId, ImportId};
use crate::domain::Month;
use diesel::prelude::*;

/// An import as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
pub struct ImportRow {
    /// Its id.
    pub id: ImportId,
    /// The employer it was imported for.
    pub employer_id: EmployerId,
    /// What it imported: costs, posts, commitments or activity.
    pub kind: String,
    /// The SHA-256 of the file.
    pub sha256: String,
    /// json or csv.
    pub format: String,
    /// How many lines it held.
    pub line_count: i64,
    /// The sum of a cost import's amounts, in cents.
    pub total_cents: Option<i64>,
    /// The months its lines concern, comma-separated.
    pub months: String,
    /// When it was reversed, if it was.
    pub reversed_at: Option<String>,
    /// When it was imported.
    pub created_at: String,
    /// Who imported it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
}

impl ImportRow {
    /// The months its lines concern; a stored month that does not parse is an error naming
    /// the import.
    pub fn months(&self) -> Result<Vec<Month>, StoreError> {
        self.months
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|m| {
                Month::parse(m).map_err(|e| {
                    anyhow::anyhow!("import {} holds month {m:?}: {e}", self.id).into()
                })
            })
            .collect()
    }
}

/// A new import's record.
pub struct NewImport<'a> {
    /// Its id.
    pub id: ImportId,
    /// The employer.
    pub employer_id: EmployerId,
    /// What it imports.
    pub kind: &'a str,
    /// The file's SHA-256.
    pub sha256: &'a str,
    /// json or csv.
    pub format: &'a str,
    /// Its lines.
    pub line_count: i64,
    /// When.
    pub created_at: &'a str,
}

/// One import.
pub fn find(conn: &mut DbConnection, id: ImportId) -> Result<ImportRow, StoreError> {
    imports::table
        .find(id)
        .select(ImportRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("import"))
}

/// The first import of the same file for the employer: (id, when).
pub fn first_of_file(
    conn: &mut DbConnection,
    employer: EmployerId,
    sha256: &str,
) -> QueryResult<Option<(ImportId, String)>> {
    imports::table
        .filter(imports::employer_id.eq(employer))
        .filter(imports::sha256.eq(sha256))
        .order(imports::created_at)
        .select((imports::id, imports::created_at))
        .first(conn)
        .optional()
}

/// Records an import before its lines, so that the costs can name it.
pub fn insert(conn: &mut DbConnection, new: &NewImport, by: &Recorder) -> QueryResult<()> {
    diesel::insert_into(imports::table)
        .values((
            imports::id.eq(new.id),
            imports::employer_id.eq(new.employer_id),
            imports::kind.eq(new.kind),
            imports::sha256.eq(new.sha256),
            imports::format.eq(new.format),
            imports::line_count.eq(new.line_count),
            imports::months.eq(""),
            imports::created_at.eq(new.created_at),
            crate::recorded_by!(imports, by),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores what the lines came to: a cost import's total and the months concerned.
pub fn set_summary(
    conn: &mut DbConnection,
    id: ImportId,
    total_cents: Option<i64>,
    months: &[Month],
) -> QueryResult<()> {
    let months: Vec<String> = months.iter().map(Month::to_string).collect();
    diesel::update(imports::table.find(id))
        .set((
            imports::total_cents.eq(total_cents),
            imports::months.eq(months.join(",")),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks an import reversed.
pub fn set_reversed(conn: &mut DbConnection, id: ImportId, at: &str) -> QueryResult<()> {
    diesel::update(imports::table.find(id))
        .set(imports::reversed_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// The costs a cost import recorded, by id.
pub fn costs_of(conn: &mut DbConnection, id: ImportId) -> QueryResult<Vec<CostRow>> {
    costs::table
        .filter(costs::import_id.eq(id))
        .order(costs::id)
        .select(CostRow::as_select())
        .load(conn)
}

/// A page of imports by id, of one employer or all.
pub fn page(
    conn: &mut DbConnection,
    employer: Option<EmployerId>,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<ImportRow>, Option<String>)> {
    let mut query = imports::table.select(ImportRow::as_select()).into_boxed();
    if let Some(employer) = employer {
        query = query.filter(imports::employer_id.eq(employer));
    }
    let rows: Vec<ImportRow> = crate::keyset_page!(query, imports::id, page).load(conn)?;
    Ok(page.finish(rows, |r| r.id.to_string()))
}
