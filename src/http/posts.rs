//! `/v1/posts`: mediator posts, their versions and their budgets.

use crate::auth::{Caller, Scope};
use crate::db::schema::{allocated_months, commitments, costs, post_budgets, posts};
use crate::db::{self, DbConnection};
use crate::domain::ids::{EmployerId, PostId};
use crate::domain::kinds::Activity;
use crate::domain::{clock, Fte, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{header_text, id_param, page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::required_label;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The body of `POST /v1/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    employer_id: EmployerId,
    title: String,
    territory: String,
    activity: Activity,
    fte: Fte,
    start_month: Month,
    #[serde(default)]
    end_month: Option<Month>,
    monthly_budget: Money,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    reference: Option<String>,
}

impl crate::http::extract::SentBy for NewPost {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// The body of `PATCH /v1/posts/{id}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostChanges {
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    territory: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    activity: Option<Activity>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    fte: Option<Fte>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    end_month: Option<Option<Month>>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    reference: Option<Option<String>>,
}

impl crate::http::extract::SentBy for PostChanges {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

impl PostChanges {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.territory.is_none()
            && self.activity.is_none()
            && self.fte.is_none()
            && self.end_month.is_none()
            && self.reference.is_none()
    }
}

/// The body of `PUT /v1/posts/{id}/budget`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetChange {
    from_month: Month,
    monthly_amount: Money,
}

impl crate::http::extract::SentBy for BudgetChange {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

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

#[derive(Serialize)]
struct BudgetView {
    from_month: Month,
    monthly_amount: Money,
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
    pub fn check_month(&self, month: Month) -> Result<(), ApiError> {
        self.check_months_within(month, month)
    }

    /// Refuses a range of months that is not inside the post's months.
    pub fn check_months_within(&self, first: Month, last: Month) -> Result<(), ApiError> {
        if first < self.start() || self.end().is_some_and(|end| last > end) {
            return Err(ApiError::conflict(
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

    /// The full view, for the employer, the mission and the operator.
    pub fn view(&self) -> serde_json::Value {
        let today = clock::today().month();
        let current = match self.end() {
            Some(end) if today > end => end,
            _ if today < self.start() => self.start(),
            _ => today,
        };
        serde_json::json!({
            "id": self.row.id,
            "employer_id": self.row.employer_id,
            "reference": self.row.reference,
            "title": self.row.title,
            "territory": self.row.territory,
            "activity": self.row.activity,
            "fte": Fte::from_hundredths(self.row.fte_hundredths).map(|f| f.to_string()),
            "start_month": self.row.start_month,
            "end_month": self.row.end_month,
            "monthly_budget": Money::from_cents(self.budget_cents(current)),
            "budget": self.budgets.iter().map(|(m, a)| BudgetView { from_month: *m, monthly_amount: Money::from_cents(*a) }).collect::<Vec<_>>(),
            "version": self.row.version,
            "created_at": self.row.created_at,
            "recorded_by": db::recorded_by_view(&self.row.recorded_by_sub, &self.row.recorded_by_role),
            "recorded_at": self.row.created_at,
        })
    }

    /// What a funder of the post sees: no cost, no budget, no other funder.
    pub fn funder_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.row.id,
            "employer_id": self.row.employer_id,
            "reference": self.row.reference,
            "title": self.row.title,
            "territory": self.row.territory,
            "activity": self.row.activity,
            "fte": Fte::from_hundredths(self.row.fte_hundredths).map(|f| f.to_string()),
            "start_month": self.row.start_month,
            "end_month": self.row.end_month,
            "recorded_by": db::recorded_by_view(&self.row.recorded_by_sub, &self.row.recorded_by_role),
            "recorded_at": self.row.created_at,
        })
    }

    /// The view `caller` may see.
    pub fn view_for(&self, caller: &Caller) -> serde_json::Value {
        match caller.scope {
            Scope::Funder(_) => self.funder_view(),
            _ => self.view(),
        }
    }
}

/// A post's reference: the employer's own code, 1 to 64 characters of plain text.
pub fn post_reference(pointer: &str, text: &str) -> Result<String, ApiError> {
    let reference = required_label(pointer, text)?;
    if reference.chars().count() > 64 {
        return Err(ApiError::field(pointer, "must be at most 64 characters"));
    }
    Ok(reference)
}

/// Loads one post with its budgets, or 404.
pub fn load(conn: &mut DbConnection, id: PostId) -> Result<Post, ApiError> {
    let row = posts::table
        .find(id)
        .select(PostRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("post"))?;
    // Every post is created with its first budget, so none means none.
    let budgets = load_budgets(conn, Some(&[row.id]))?
        .remove(&row.id)
        .unwrap_or_default();
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

/// Loads a post the caller may read, or 404: its employer, the mission, the operator, and a
/// funder with a commitment on it.
pub fn load_readable(
    conn: &mut DbConnection,
    caller: &Caller,
    id: PostId,
) -> Result<Post, ApiError> {
    let post = load(conn, id)?;
    let visible = match caller.scope {
        Scope::Funder(funder) => crate::db::scope::funds_post(conn, funder, post.row.id)?,
        _ => caller.can_read_employer(post.employer()),
    };
    if visible {
        Ok(post)
    } else {
        Err(ApiError::NotFound("post"))
    }
}

/// Loads the row of a post the caller may change (without its budgets, which writes to its
/// costs, commitments and allocations do not need), or 404 / 403.
pub fn load_writable(
    conn: &mut DbConnection,
    caller: &Caller,
    id: PostId,
) -> Result<PostRow, ApiError> {
    caller.require_writer_role()?;
    let row = posts::table
        .find(id)
        .select(PostRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("post"))?;
    caller
        .require_employer_writer(row.employer())
        .map_err(|_| ApiError::NotFound("post"))?;
    Ok(row)
}

fn check_months(start: Month, end: Option<Month>) -> Result<(), ApiError> {
    match end {
        Some(end) if end < start => Err(ApiError::field(
            "/end_month",
            "must not be before start_month",
        )),
        _ => Ok(()),
    }
}

/// Refuses to end a post before a month that already has costs, commitments or allocations.
fn check_nothing_after(
    conn: &mut DbConnection,
    post_id: PostId,
    end: Month,
) -> Result<(), ApiError> {
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
    let latest = [last_cost, last_commitment, last_allocated]
        .into_iter()
        .flatten()
        .max();
    match latest {
        Some(latest) if latest > end => Err(ApiError::conflict(
            "post_in_use_after_end",
            format!("the post has costs, commitments or allocations up to {latest}; it cannot end in {end}"),
        )),
        _ => Ok(()),
    }
}

/// A post whose fields passed every check that needs no stored data.
pub struct CheckedPost {
    input: NewPost,
    title: String,
    territory: String,
    reference: Option<String>,
}

impl NewPost {
    /// The checks of a post beyond its fields' types (the endpoint and the imports).
    pub fn checked(self) -> Result<CheckedPost, ApiError> {
        let title = required_label("/title", &self.title)?;
        let territory = required_label("/territory", &self.territory)?;
        let reference = self
            .reference
            .as_deref()
            .map(|r| post_reference("/reference", r))
            .transpose()?;
        check_months(self.start_month, self.end_month)?;
        Ok(CheckedPost {
            input: self,
            title,
            territory,
            reference,
        })
    }
}

/// Records a checked post with its first budget in the caller's write transaction. A
/// reference another post of the employer has (recorded earlier in the same transaction
/// included) is a 409 naming it.
pub fn record_checked(
    conn: &mut DbConnection,
    caller: &Caller,
    post: CheckedPost,
) -> Result<Post, ApiError> {
    let CheckedPost {
        input,
        title,
        territory,
        reference,
    } = post;
    caller.require_employer_writer(input.employer_id)?;
    crate::db::employers::find(conn, input.employer_id)?;
    if let Some(reference) = &reference {
        let taken: bool = diesel::select(diesel::dsl::exists(
            posts::table
                .filter(posts::employer_id.eq(input.employer_id))
                .filter(posts::reference.eq(reference)),
        ))
        .get_result(conn)?;
        if taken {
            return Err(ApiError::conflict(
                "reference_taken",
                format!("another post of the employer has the reference {reference:?}"),
            ));
        }
    }
    let id = PostId::generate();
    diesel::insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::employer_id.eq(input.employer_id),
            posts::title.eq(&title),
            posts::territory.eq(&territory),
            posts::activity.eq(input.activity.as_str()),
            posts::fte_hundredths.eq(input.fte.hundredths()),
            posts::start_month.eq(input.start_month),
            posts::end_month.eq(input.end_month),
            posts::version.eq(1),
            posts::created_at.eq(db::now_timestamp()),
            crate::recorded_by!(posts, &caller.recorder()),
            posts::reference.eq(&reference),
        ))
        .execute(conn)?;
    diesel::insert_into(post_budgets::table)
        .values((
            post_budgets::post_id.eq(id),
            post_budgets::from_month.eq(input.start_month),
            post_budgets::monthly_amount_cents.eq(input.monthly_budget.cents()),
        ))
        .execute(conn)?;
    tracing::info!(post_id = %id, "post created");
    load(conn, id)
}

/// `POST /v1/posts` (the employer itself, the operator).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewPost>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    caller.require_employer_writer(body.value.employer_id)?;
    let input = body.value.checked()?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let post = record_checked(conn, &caller, input)?;
        Ok(Outcome::created(
            format!("/v1/posts/{}", post.row.id),
            post.view(),
        ))
    })
    .await
}

/// The query of `GET /v1/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    employer_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/posts?employer_id=`: filtered to the caller's scope in the query itself.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let page = Page::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let employer: Option<EmployerId> = id_param("employer_id", query.employer_id.as_deref())?;
    let caller_for_query = caller.clone();
    let (posts, next) = state
        .with_connection(move |conn| {
            let mut q = posts::table.select(PostRow::as_select()).into_boxed();
            if let Some(employer) = employer {
                q = q.filter(posts::employer_id.eq(employer));
            }
            match caller_for_query.scope {
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
            let q = crate::keyset_page!(q, posts::id, page);
            let rows = q.load(conn)?;
            let (rows, next) = page.finish(rows, |p: &PostRow| p.id.to_string());
            let ids: Vec<PostId> = rows.iter().map(|r| r.id).collect();
            let mut budgets = load_budgets(conn, Some(&ids))?;
            let posts = rows
                .into_iter()
                .map(|row| {
                    let budgets = budgets.remove(&row.id).unwrap_or_default();
                    Post { row, budgets }
                })
                .collect::<Vec<_>>();
            Ok((posts, next))
        })
        .await?;
    let items: Vec<serde_json::Value> = posts.iter().map(|p| p.view_for(&caller)).collect();
    Ok(page_response(items, next))
}

/// `GET /v1/posts/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "post")?;
    let caller_for_query = caller.clone();
    let post = state
        .with_connection(move |conn| load_readable(conn, &caller_for_query, id))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &post).json(post.view_for(&caller)))
}

fn with_etag(
    mut builder: actix_web::HttpResponseBuilder,
    post: &Post,
) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::ETAG, format!("\"{}\"", post.row.version)));
    builder
}

/// Reads `If-Match`: `"3"`, `W/"3"` or `3` name version 3; `*` matches any.
pub fn expected_version(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(text) = header_text(req.headers(), "If-Match")? else {
        return Ok(None);
    };
    let text = text.trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            ApiError::field(
                "/headers/If-Match",
                "must be the version of the record, as in its ETag",
            )
        })
}

/// Applies a change to a post under its lock, checking `If-Match` and raising the version.
async fn change_post<F>(
    state: &AppState,
    caller: Caller,
    id: PostId,
    expected: Option<i64>,
    apply: F,
) -> Result<Post, ApiError>
where
    F: FnOnce(&mut DbConnection, &Post) -> Result<(), ApiError> + Send + 'static,
{
    state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                // The employer's lock orders this change with the runs and costs that
                // depend on the post's months.
                let employer = load_writable(conn, &caller, id)?.employer_id;
                db::lock_employer(conn, employer)?;
                let post = load(conn, id)?;
                if let Some(expected) = expected {
                    if expected != post.row.version {
                        return Err(ApiError::PreconditionFailed(format!(
                            "the post is at version {}, not {expected}",
                            post.row.version
                        )));
                    }
                }
                apply(conn, &post)?;
                diesel::update(posts::table.find(post.row.id))
                    .set(posts::version.eq(post.row.version + 1))
                    .execute(conn)?;
                load(conn, id)
            })
        })
        .await
}

/// `PATCH /v1/posts/{id}`: changes the fields given; `If-Match` guards against lost updates.
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<PostChanges>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "post")?;
    let expected = expected_version(&req)?;
    let changes = body.value;
    if changes.is_empty() {
        // Raising the version for nothing would fail every other client's If-Match.
        return Err(ApiError::field("/", "name at least one field to change"));
    }
    let title = changes
        .title
        .as_deref()
        .map(|t| required_label("/title", t))
        .transpose()?;
    let territory = changes
        .territory
        .as_deref()
        .map(|t| required_label("/territory", t))
        .transpose()?;
    let reference = match &changes.reference {
        Some(Some(r)) => Some(Some(post_reference("/reference", r)?)),
        Some(None) => Some(None),
        None => None,
    };
    let post = change_post(&state, caller, id, expected, move |conn, post| {
        let end = match changes.end_month {
            Some(end) => end,
            None => post.end(),
        };
        check_months(post.start(), end)?;
        if let Some(end) = end {
            check_nothing_after(conn, post.row.id, end)?;
        }
        diesel::update(posts::table.find(post.row.id))
            .set((
                posts::title.eq(title.unwrap_or_else(|| post.row.title.clone())),
                posts::territory.eq(territory.unwrap_or_else(|| post.row.territory.clone())),
                posts::activity.eq(changes
                    .activity
                    .map_or(post.row.activity.clone(), |a| a.as_str().to_owned())),
                posts::fte_hundredths.eq(changes
                    .fte
                    .map_or(post.row.fte_hundredths, |f| f.hundredths())),
                posts::end_month.eq(end),
                posts::reference.eq(reference.unwrap_or_else(|| post.row.reference.clone())),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await?;
    tracing::info!(post_id = %id, version = post.row.version, "post changed");
    Ok(with_etag(HttpResponse::Ok(), &post).json(post.view()))
}

/// `PUT /v1/posts/{id}/budget`: the monthly budget from a month on. Months before it keep the
/// budget they had; later changes are replaced by this one.
pub async fn set_budget(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<BudgetChange>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "post")?;
    let expected = expected_version(&req)?;
    let change = body.value;
    let post = change_post(&state, caller, id, expected, move |conn, post| {
        if change.from_month < post.start() || post.end().is_some_and(|end| change.from_month > end)
        {
            return Err(ApiError::field(
                "/from_month",
                "must fall within the post's months",
            ));
        }
        let from = change.from_month;
        // A closed month's budget is part of the books as they were closed.
        db::periods::check_open(conn, post.employer(), from)?;
        diesel::delete(
            post_budgets::table
                .filter(post_budgets::post_id.eq(post.row.id))
                .filter(post_budgets::from_month.ge(from)),
        )
        .execute(conn)?;
        diesel::insert_into(post_budgets::table)
            .values((
                post_budgets::post_id.eq(post.row.id),
                post_budgets::from_month.eq(from),
                post_budgets::monthly_amount_cents.eq(change.monthly_amount.cents()),
            ))
            .execute(conn)?;
        crate::http::sweep::after_write(
            conn,
            crate::http::sweep::SweepScope::Post(post.employer(), post.row.id),
        )?;
        Ok(())
    })
    .await?;
    tracing::info!(post_id = %id, from_month = %change.from_month, "budget changed");
    Ok(with_etag(HttpResponse::Ok(), &post).json(post.view()))
}
