//! Commitments as stored, and their terms for the allocation engine.

use super::keys::RateBook;
use super::schema::{allocation_lines, commitments};
use super::{DbConnection, Recorder, StoreError};
use crate::domain::allocation::{Basis, Terms};
use crate::domain::ids::{CommitmentId, EmployerId, FunderId, PostId};
use crate::domain::{Month, Percent};
use diesel::prelude::*;
use std::collections::HashMap;

/// A commitment row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = commitments)]
pub struct CommitmentRow {
    /// Its id.
    pub id: CommitmentId,
    /// The employer carrying the post.
    pub employer_id: EmployerId,
    /// The post funded.
    pub post_id: PostId,
    /// The funder.
    pub funder_id: FunderId,
    /// `fixed` or `share`.
    pub basis: String,
    /// The monthly amount of a fixed commitment.
    pub monthly_amount_cents: Option<i64>,
    /// The share of a share commitment, in ten-thousandths of a percent.
    pub percent_ten_thousandths: Option<i64>,
    /// First month.
    pub start_month: Month,
    /// Last month.
    pub end_month: Month,
    /// Cap over the whole commitment.
    pub cap_cents: Option<i64>,
    /// The convention's reference.
    pub reference: String,
    /// Creation time.
    pub created_at: String,
    /// Who recorded it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who recorded it: the token's role.
    pub recorded_by_role: String,
    /// The rate a `rate` commitment names.
    pub rate_code: Option<String>,
    /// The part of a full-time post a `rate` commitment pays for, in hundredths.
    pub fte_hundredths: Option<i64>,
}

impl CommitmentRow {
    /// The first month.
    pub fn start(&self) -> Month {
        self.start_month
    }

    /// The last month.
    pub fn end(&self) -> Month {
        self.end_month
    }

    /// The basis, from the `basis` column and the columns it uses, with the schedule of its rate
    /// from `rates`; a row whose columns disagree (which the schema's checks forbid) is an error
    /// naming it.
    pub fn basis(&self, rates: &RateBook) -> QueryResult<Basis> {
        match (
            self.basis.as_str(),
            self.monthly_amount_cents,
            self.percent_ten_thousandths,
            self.rate_code.as_deref(),
            self.fte_hundredths,
        ) {
            ("fixed", Some(monthly_cents), None, None, None) => Ok(Basis::Fixed { monthly_cents }),
            ("share", None, Some(percent), None, None) => Ok(Basis::Share {
                percent: Percent::from_ten_thousandths(percent),
            }),
            ("rate", None, None, Some(code), Some(fte_hundredths)) => Ok(Basis::Rate {
                fte_hundredths,
                schedule: rates.schedule(code),
            }),
            ("activity", None, None, None, None) => Ok(Basis::Activity),
            _ => Err(diesel::result::Error::DeserializationError(
                format!(
                    "commitments row {} has basis {:?} with monthly amount {:?}, percent {:?}, \
                     rate {:?} and fte {:?}",
                    self.id,
                    self.basis,
                    self.monthly_amount_cents,
                    self.percent_ten_thousandths,
                    self.rate_code,
                    self.fte_hundredths
                )
                .into(),
            )),
        }
    }

    /// The funder's id.
    pub fn funder(&self) -> FunderId {
        self.funder_id
    }

    /// The terms the engine needs, with the creation rank given.
    pub fn terms(&self, created_order: i64, rates: &RateBook) -> QueryResult<Terms> {
        Ok(Terms {
            basis: self.basis(rates)?,
            start: self.start(),
            end: self.end(),
            cap_cents: self.cap_cents,
            created_order,
        })
    }
}

/// The commitments of a post in creation order (the last tie-break of the rounding).
pub fn of_post(conn: &mut DbConnection, post_id: PostId) -> QueryResult<Vec<CommitmentRow>> {
    commitments::table
        .filter(commitments::post_id.eq(post_id))
        .order((commitments::created_at, commitments::id))
        .select(CommitmentRow::as_select())
        .load(conn)
}

/// The commitments of an employer's posts, by post, each post's in creation order (as
/// [`of_post`] reads them).
pub fn of_employer_by_post(
    conn: &mut DbConnection,
    employer_id: EmployerId,
) -> QueryResult<HashMap<PostId, Vec<CommitmentRow>>> {
    let mut by_post: HashMap<PostId, Vec<CommitmentRow>> = HashMap::new();
    for row in commitments::table
        .filter(commitments::employer_id.eq(employer_id))
        .order((commitments::created_at, commitments::id))
        .select(CommitmentRow::as_select())
        .load::<CommitmentRow>(conn)?
    {
        by_post.entry(row.post_id).or_default().push(row);
    }
    Ok(by_post)
}

/// What a commitment was allocated in all, and its last allocated month.
pub fn allocation_of(
    conn: &mut DbConnection,
    commitment_id: CommitmentId,
) -> QueryResult<(i64, Option<Month>)> {
    let rows: Vec<(i64, Option<Month>)> = allocation_lines::table
        .filter(allocation_lines::commitment_id.eq(commitment_id))
        .select((
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
            diesel::dsl::max(allocation_lines::month),
        ))
        .load(conn)?;
    Ok(rows.into_iter().next().unwrap_or((0, None)))
}

/// What each of several commitments was allocated in all, with one query (a commitment
/// never allocated is absent).
pub fn allocated_to_date(
    conn: &mut DbConnection,
    commitment_ids: &[CommitmentId],
) -> QueryResult<HashMap<CommitmentId, i64>> {
    let rows: Vec<(CommitmentId, i64)> = allocation_lines::table
        .filter(allocation_lines::commitment_id.eq_any(commitment_ids))
        .group_by(allocation_lines::commitment_id)
        .select((
            allocation_lines::commitment_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(amount_cents) AS BIGINT)"),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// A commitment to insert.
#[derive(Debug, Clone)]
pub struct NewCommitment<'a> {
    /// The post's employer.
    pub employer_id: EmployerId,
    /// The post.
    pub post_id: PostId,
    /// The funder.
    pub funder_id: FunderId,
    /// Fixed amount or share.
    pub basis: Basis,
    /// First month.
    pub start: Month,
    /// Last month.
    pub end: Month,
    /// Cap over the whole commitment, in cents.
    pub cap_cents: Option<i64>,
    /// The convention's reference.
    pub reference: &'a str,
    /// The rate a `rate` commitment names.
    pub rate_code: Option<&'a str>,
}

/// Inserts a commitment whose checks the caller made; answers its id.
pub fn insert(
    conn: &mut DbConnection,
    new: &NewCommitment<'_>,
    by: &Recorder,
) -> QueryResult<CommitmentId> {
    let id = CommitmentId::generate();
    let (basis, monthly, percent, fte) = match &new.basis {
        Basis::Fixed { monthly_cents } => ("fixed", Some(*monthly_cents), None, None),
        Basis::Share { percent } => ("share", None, Some(percent.ten_thousandths()), None),
        Basis::Rate { fte_hundredths, .. } => ("rate", None, None, Some(*fte_hundredths)),
        Basis::Activity => ("activity", None, None, None),
    };
    diesel::insert_into(commitments::table)
        .values((
            commitments::id.eq(id),
            commitments::employer_id.eq(new.employer_id),
            commitments::post_id.eq(new.post_id),
            commitments::funder_id.eq(new.funder_id),
            commitments::basis.eq(basis),
            commitments::monthly_amount_cents.eq(monthly),
            commitments::percent_ten_thousandths.eq(percent),
            commitments::start_month.eq(new.start),
            commitments::end_month.eq(new.end),
            commitments::cap_cents.eq(new.cap_cents),
            commitments::reference.eq(new.reference),
            commitments::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(commitments, by),
            commitments::rate_code.eq(new.rate_code),
            commitments::fte_hundredths.eq(fte),
        ))
        .execute(conn)?;
    Ok(id)
}

/// One commitment.
pub fn find(conn: &mut DbConnection, id: CommitmentId) -> Result<CommitmentRow, StoreError> {
    commitments::table
        .find(id)
        .select(CommitmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("commitment"))
}

/// A page of the commitments `scope` may read, by id, optionally of one post or funder.
pub fn page(
    conn: &mut DbConnection,
    scope: crate::auth::Scope,
    post: Option<PostId>,
    funder: Option<FunderId>,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<CommitmentRow>, Option<String>)> {
    let mut q = commitments::table
        .select(CommitmentRow::as_select())
        .into_boxed();
    if let Some(post) = post {
        q = q.filter(commitments::post_id.eq(post));
    }
    let q = crate::party_filters!(
        q,
        commitments,
        scope,
        employer = None::<EmployerId>,
        funder = funder
    );
    let rows = crate::keyset_page!(q, commitments::id, page).load(conn)?;
    Ok(page.finish(rows, |c: &CommitmentRow| c.id.to_string()))
}

/// Brings a commitment's end forward, under its employer's lock.
pub fn set_end(
    conn: &mut DbConnection,
    _lock: &crate::db::EmployerLock,
    id: CommitmentId,
    end: Month,
) -> QueryResult<()> {
    diesel::update(commitments::table.find(id))
        .set(commitments::end_month.eq(end))
        .execute(conn)?;
    Ok(())
}

/// The commitments of a post in force in a month with a reference (an import names a
/// commitment by it).
pub fn in_force_with_reference(
    conn: &mut DbConnection,
    post: PostId,
    reference: &str,
    month: Month,
) -> QueryResult<Vec<CommitmentId>> {
    commitments::table
        .filter(commitments::post_id.eq(post))
        .filter(commitments::reference.eq(reference))
        .filter(commitments::start_month.le(month))
        .filter(commitments::end_month.ge(month))
        .select(commitments::id)
        .load(conn)
}
