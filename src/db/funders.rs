//! The registry of funders.

use crate::db::paging::Page;
use crate::db::schema::funders;
use crate::db::{DbConnection, Recorder, StoreError};
use crate::domain::ids::FunderId;
use diesel::prelude::*;

/// A funder as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = funders)]
pub struct FunderRow {
    /// Its id.
    pub id: FunderId,
    /// Its name.
    pub name: String,
    /// Its kind (`FunderKind`'s name).
    pub kind: String,
    /// Its SIREN, when known.
    pub siren: Option<String>,
    /// When it was registered.
    pub created_at: String,
    /// Who registered it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
}

/// Registers a funder.
pub fn insert(conn: &mut DbConnection, row: &FunderRow, by: &Recorder) -> QueryResult<()> {
    diesel::insert_into(funders::table)
        .values((
            funders::id.eq(row.id),
            funders::name.eq(&row.name),
            funders::kind.eq(&row.kind),
            funders::siren.eq(&row.siren),
            funders::created_at.eq(&row.created_at),
            crate::recorded_by!(funders, by),
        ))
        .execute(conn)?;
    Ok(())
}

/// A page of the registry, by id.
pub fn page(conn: &mut DbConnection, page: &Page) -> QueryResult<(Vec<FunderRow>, Option<String>)> {
    let query = funders::table.select(FunderRow::as_select()).into_boxed();
    let rows = crate::keyset_page!(query, funders::id, page).load(conn)?;
    Ok(page.finish(rows, |f: &FunderRow| f.id.to_string()))
}

/// One funder.
pub fn find(conn: &mut DbConnection, id: FunderId) -> Result<FunderRow, StoreError> {
    funders::table
        .find(id)
        .select(FunderRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("funder"))
}

/// Every funder's kind, by id (the overview groups by kind of funder).
pub fn kinds(conn: &mut DbConnection) -> QueryResult<std::collections::HashMap<FunderId, String>> {
    Ok(funders::table
        .select((funders::id, funders::kind))
        .load::<(FunderId, String)>(conn)?
        .into_iter()
        .collect())
}

/// Funders' names by id, of the ids given.
pub fn names(
    conn: &mut DbConnection,
    ids: &[FunderId],
) -> QueryResult<std::collections::HashMap<FunderId, String>> {
    Ok(funders::table
        .filter(funders::id.eq_any(ids))
        .select((funders::id, funders::name))
        .load::<(FunderId, String)>(conn)?
        .into_iter()
        .collect())
}

/// The funders registered with a SIREN, by SIREN (an import names a funder by it): one query
/// for a whole file, however many lines name a funder.
pub fn by_siren(
    conn: &mut DbConnection,
) -> QueryResult<std::collections::HashMap<String, Vec<FunderId>>> {
    let rows: Vec<(Option<String>, FunderId)> = funders::table
        .filter(funders::siren.is_not_null())
        .order(funders::id)
        .select((funders::siren, funders::id))
        .load(conn)?;
    let mut index: std::collections::HashMap<String, Vec<FunderId>> = Default::default();
    for (siren, id) in rows {
        if let Some(siren) = siren {
            index.entry(siren).or_default().push(id);
        }
    }
    Ok(index)
}
