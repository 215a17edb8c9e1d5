//! Mediator posts and their budget schedules.

use crate::auth::Scope;
use crate::db::paging::Page;
use crate::db::schema::{allocated_months, commitments, costs, post_budgets, posts};
use crate::db::{DbConnection, Recorder, StoreError};
use crate::domain::ids::{EmployerId, PostId};
use crate::domain::Month;
use diesel::prelude::*;
use std::collections::HashMap;

/// A post as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = posts)]
pub struct PostRow {
    /// The id.
    pub id: PostId,
    /// The employer carrying it.
    pub employer_id: EmployerId,
    /// Its title.
    pub title: String,
    /// Its territory label.
    pub territory: String,
    /// Its activity field.
    pub activity: String,
    /// Its FTE, in hundredths.
    pub fte_hundredths: i64,
    /// Its first month.
    pub start_month: Month,
    /// Its last month, if it has one.
    pub end_month: Option<Month>,
    /// Its version, raised by each change.
    pub version: i64,
    /// When it was created.
    pub created_at: String,
    /// Who created it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who created it: the token's role.
    pub recorded_by_role: String,
    /// The employer's own code for it, unique per employer.
    pub reference: Option<String>,
}

/// A post with its budget schedule: what the API answers.
#[derive(Debug, Clone)]
pub struct Post {
    /// The stored row.
    pub row: PostRow,
    /// The budget changes, oldest first: (from month, monthly amount in cents).
    pub budgets: Vec<(Month, i64)>,
}

impl PostRow {
    /// The post's first month.
    pub fn start(&self) -> Month {
        self.start_month
    }

    /// The post's last month, if any.
    pub fn end(&self) -> Option<Month> {
        self.end_month
    }

    /// The post's employer.
    pub fn employer(&self) -> EmployerId {
        self.employer_id
    }

    /// Refuses a month outside the post's months (409: the post's own dates forbid it).
    pub fn check_month(&self, month: Month) -> Result<(), StoreError> {
        self.check_months_within(month, month)
    }

    /// Refuses a range of months that is not inside the post's months.
    pub fn check_months_within(&self, first: Month, last: Month) -> Result<(), StoreError> {
        if first < self.start() || self.end().is_some_and(|end| last > end) {
            return Err(StoreError::conflict(
                "outside_post_months",
                format!(
                    "{first}..{last} falls outside the post's months {}..{}",
                    self.start(),
                    self.end().map_or("(open)".to_owned(), |m| m.to_string())
                ),
            ));
        }
        Ok(())
    }
}

impl Post {
    /// The post's first month.
    pub fn start(&self) -> Month {
        self.row.start()
    }

    /// The post's last month, if any.
    pub fn end(&self) -> Option<Month> {
        self.row.end()
    }

    /// The post's employer.
    pub fn employer(&self) -> EmployerId {
        self.row.employer()
    }

    /// The budget of a month, in cents: the latest change not after it.
    pub fn budget_cents(&self, month: Month) -> i64 {
        self.budgets
            .iter()
            .rev()
            .find(|(from, _)| *from <= month)
            .or(self.budgets.first())
            .map_or(0, |(_, amount)| *amount)
    }
}

/// A post to record, its fields checked.
#[derive(Debug, Clone)]
pub struct NewPostRow {
    /// The employer carrying it.
    pub employer_id: EmployerId,
    /// Its title.
    pub title: String,
    /// Its territory label.
    pub territory: String,
    /// Its activity field.
    pub activity: &'static str,
    /// Its FTE, in hundredths.
    pub fte_hundredths: i64,
    /// Its first month.
    pub start_month: Month,
    /// Its last month, if it has one.
    pub end_month: Option<Month>,
    /// The employer's own code for it.
    pub reference: Option<String>,
    /// Its first monthly budget, in cents, from its first month.
    pub monthly_budget_cents: i64,
}

/// The fields of a post a change may set.
#[derive(Debug, Clone)]
pub struct PostFields {
    /// Its title.
    pub title: String,
    /// Its territory label.
    pub territory: String,
    /// Its activity field.
    pub activity: String,
    /// Its FTE, in hundredths.
    pub fte_hundredths: i64,
    /// Its last month, if it has one.
    pub end_month: Option<Month>,
    /// The employer's own code for it.
    pub reference: Option<String>,
}

/// One post's row.
pub fn find_row(conn: &mut DbConnection, id: PostId) -> Result<PostRow, StoreError> {
    posts::table
        .find(id)
        .select(PostRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("post"))
}

/// The rows of the posts among `ids` that exist, by id.
pub fn find_rows(conn: &mut DbConnection, ids: &[PostId]) -> QueryResult<HashMap<PostId, PostRow>> {
    Ok(posts::table
        .filter(posts::id.eq_any(ids))
        .select(PostRow::as_select())
        .load::<PostRow>(conn)?
        .into_iter()
        .map(|row| (row.id, row))
        .collect())
}

/// One post with its budgets.
pub fn load(conn: &mut DbConnection, id: PostId) -> Result<Post, StoreError> {
    let row = find_row(conn, id)?;
    let budgets = load_budgets(conn, Some(&[row.id]))?
        .remove(&row.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "post {} has no budget: every post is created with one",
                row.id
            )
        })?;
    Ok(Post { row, budgets })
}

/// The budget schedules of posts, each in month order, with one query: of the posts named, or
/// of every post when `None` (the region-wide reports read the whole table).
pub fn load_budgets(
    conn: &mut DbConnection,
    post_ids: Option<&[PostId]>,
) -> QueryResult<HashMap<PostId, Vec<(Month, i64)>>> {
    let mut query = post_budgets::table
        .order((post_budgets::post_id, post_budgets::from_month))
        .select((
            post_budgets::post_id,
            post_budgets::from_month,
            post_budgets::monthly_amount_cents,
        ))
        .into_boxed();
    if let Some(ids) = post_ids {
        query = query.filter(post_budgets::post_id.eq_any(ids));
    }
    let mut by_post: HashMap<PostId, Vec<(Month, i64)>> = HashMap::new();
    for (post_id, month, amount) in query.load::<(PostId, Month, i64)>(conn)? {
        by_post.entry(post_id).or_default().push((month, amount));
    }
    Ok(by_post)
}

/// A page of the posts `scope` may read, by id, optionally of one employer.
pub fn page(
    conn: &mut DbConnection,
    scope: Scope,
    employer: Option<EmployerId>,
    page: &Page,
) -> Result<(Vec<Post>, Option<String>), StoreError> {
    let mut q = posts::table.select(PostRow::as_select()).into_boxed();
    if let Some(employer) = employer {
        q = q.filter(posts::employer_id.eq(employer));
    }
    match scope {
        Scope::Admin | Scope::Mission => {}
        Scope::Employer(own) => q = q.filter(posts::employer_id.eq(own)),
        Scope::Funder(funder) => {
            q = q.filter(
                posts::id.eq_any(
                    commitments::table
                        .filter(commitments::funder_id.eq(funder))
                        .select(commitments::post_id),
                ),
            )
        }
    }
    let rows = crate::keyset_page!(q, posts::id, page).load(conn)?;
    let (rows, next) = page.finish(rows, |p: &PostRow| p.id.to_string());
    let ids: Vec<PostId> = rows.iter().map(|r| r.id).collect();
    let mut budgets = load_budgets(conn, Some(&ids))?;
    let posts = rows
        .into_iter()
        .map(|row| {
            let budgets = budgets.remove(&row.id).ok_or_else(|| {
                anyhow::anyhow!(
                    "post {} has no budget: every post is created with one",
                    row.id
                )
            })?;
            Ok(Post { row, budgets })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((posts, next))
}

/// The last month a post's costs, commitments or allocations reach, if any.
pub fn last_month_in_use(conn: &mut DbConnection, post_id: PostId) -> QueryResult<Option<Month>> {
    let last_cost: Option<Month> = costs::table
        .filter(costs::post_id.eq(post_id))
        .select(diesel::dsl::max(costs::month))
        .first(conn)?;
    let last_commitment: Option<Month> = commitments::table
        .filter(commitments::post_id.eq(post_id))
        .select(diesel::dsl::max(commitments::end_month))
        .first(conn)?;
    let last_allocated: Option<Month> = allocated_months::table
        .filter(allocated_months::post_id.eq(post_id))
        .select(diesel::dsl::max(allocated_months::month))
        .first(conn)?;
    Ok([last_cost, last_commitment, last_allocated]
        .into_iter()
        .flatten()
        .max())
}

/// Whether another post of the employer has this reference.
pub fn reference_taken(
    conn: &mut DbConnection,
    employer: EmployerId,
    reference: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        posts::table
            .filter(posts::employer_id.eq(employer))
            .filter(posts::reference.eq(reference)),
    ))
    .get_result(conn)
}

/// Records a post with its first budget.
pub fn insert(
    conn: &mut DbConnection,
    post: &NewPostRow,
    created_at: &str,
    by: &Recorder,
) -> QueryResult<PostId> {
    let id = PostId::generate();
    diesel::insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::employer_id.eq(post.employer_id),
            posts::title.eq(&post.title),
            posts::territory.eq(&post.territory),
            posts::activity.eq(post.activity),
            posts::fte_hundredths.eq(post.fte_hundredths),
            posts::start_month.eq(post.start_month),
            posts::end_month.eq(post.end_month),
            posts::version.eq(1),
            posts::created_at.eq(created_at),
            crate::recorded_by!(posts, by),
            posts::reference.eq(&post.reference),
        ))
        .execute(conn)?;
    diesel::insert_into(post_budgets::table)
        .values((
            post_budgets::post_id.eq(id),
            post_budgets::from_month.eq(post.start_month),
            post_budgets::monthly_amount_cents.eq(post.monthly_budget_cents),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Writes a post's changeable fields and raises its version; the employer's lock orders the
/// change with the runs and costs that depend on the post's months.
pub fn update(
    conn: &mut DbConnection,
    _lock: &crate::db::EmployerLock,
    post: &PostRow,
    fields: &PostFields,
) -> QueryResult<()> {
    diesel::update(posts::table.find(post.id))
        .set((
            posts::title.eq(&fields.title),
            posts::territory.eq(&fields.territory),
            posts::activity.eq(&fields.activity),
            posts::fte_hundredths.eq(fields.fte_hundredths),
            posts::end_month.eq(fields.end_month),
            posts::reference.eq(&fields.reference),
        ))
        .execute(conn)?;
    Ok(())
}

/// Raises a post's version, after a change of its fields or of its budget.
pub fn raise_version(
    conn: &mut DbConnection,
    _lock: &crate::db::EmployerLock,
    post: &PostRow,
) -> QueryResult<()> {
    diesel::update(posts::table.find(post.id))
        .set(posts::version.eq(post.version + 1))
        .execute(conn)?;
    Ok(())
}

/// Sets the budget from a month on: earlier changes stay, later ones give way to this one.
pub fn set_budget_from(
    conn: &mut DbConnection,
    _lock: &crate::db::EmployerLock,
    post: PostId,
    from: Month,
    monthly_amount_cents: i64,
) -> QueryResult<()> {
    diesel::delete(
        post_budgets::table
            .filter(post_budgets::post_id.eq(post))
            .filter(post_budgets::from_month.ge(from)),
    )
    .execute(conn)?;
    diesel::insert_into(post_budgets::table)
        .values((
            post_budgets::post_id.eq(post),
            post_budgets::from_month.eq(from),
            post_budgets::monthly_amount_cents.eq(monthly_amount_cents),
        ))
        .execute(conn)?;
    Ok(())
}

/// The posts of an employer in force in a month, by id (an employer-wide run's posts).
pub fn in_force(
    conn: &mut DbConnection,
    employer: EmployerId,
    month: Month,
) -> QueryResult<Vec<PostId>> {
    posts::table
        .filter(posts::employer_id.eq(employer))
        .filter(posts::start_month.le(month))
        .filter(posts::end_month.is_null().or(posts::end_month.ge(month)))
        .order(posts::id)
        .select(posts::id)
        .load(conn)
}

/// Every post of an employer (an import resolves its lines against them).
pub fn of_employer(conn: &mut DbConnection, employer: EmployerId) -> QueryResult<Vec<PostRow>> {
    posts::table
        .filter(posts::employer_id.eq(employer))
        .select(PostRow::as_select())
        .load(conn)
}

/// The reference and title of posts, by id.
pub fn names(
    conn: &mut DbConnection,
    ids: &[PostId],
) -> QueryResult<HashMap<PostId, (Option<String>, String)>> {
    let mut named = HashMap::new();
    // In chunks that stay within both databases' limits on bound values.
    for chunk in ids.chunks(1_000) {
        let rows: Vec<(PostId, Option<String>, String)> = posts::table
            .filter(posts::id.eq_any(chunk))
            .select((posts::id, posts::reference, posts::title))
            .load(conn)?;
        named.extend(rows.into_iter().map(|(id, r, t)| (id, (r, t))));
    }
    Ok(named)
}
