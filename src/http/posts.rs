//! `/v1/posts`: mediator posts, their versions and their budgets.

use crate::auth::{Caller, Scope};
use crate::db::posts::{NewPostRow, Post, PostFields, PostRow};
use crate::db::{self, DbConnection, RecordedBy};
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
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Serialize)]
struct BudgetView {
    from_month: Month,
    monthly_amount: Money,
}

/// A post as the employer, the mission and the operator see it.
#[derive(Debug, Serialize)]
pub struct PostView {
    id: PostId,
    employer_id: EmployerId,
    reference: Option<String>,
    title: String,
    territory: String,
    activity: String,
    fte: Option<String>,
    start_month: Month,
    end_month: Option<Month>,
    monthly_budget: Money,
    budget: Vec<BudgetView>,
    version: i64,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// What a funder of the post sees: no cost, no budget, no other funder. It has no field to
/// hold them, so they cannot be sent to a funder by mistake.
#[derive(Debug, Serialize)]
pub struct FunderPostView {
    id: PostId,
    employer_id: EmployerId,
    reference: Option<String>,
    title: String,
    territory: String,
    activity: String,
    fte: Option<String>,
    start_month: Month,
    end_month: Option<Month>,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// The view of a post a caller gets, chosen by [`view_for`] alone.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PostAnswer {
    /// The employer's, the mission's and the operator's.
    Full(PostView),
    /// A funder's.
    Funder(FunderPostView),
}

/// The full view, for the employer, the mission and the operator.
pub fn view(post: &Post) -> PostView {
    let today = clock::today().month();
    let current = match post.end() {
        Some(end) if today > end => end,
        _ if today < post.start() => post.start(),
        _ => today,
    };
    let row = &post.row;
    PostView {
        id: row.id,
        employer_id: row.employer_id,
        reference: row.reference.clone(),
        title: row.title.clone(),
        territory: row.territory.clone(),
        activity: row.activity.clone(),
        fte: Fte::from_hundredths(row.fte_hundredths).map(|f| f.to_string()),
        start_month: row.start_month,
        end_month: row.end_month,
        monthly_budget: Money::from_cents(post.budget_cents(current)),
        budget: post
            .budgets
            .iter()
            .map(|(m, a)| BudgetView {
                from_month: *m,
                monthly_amount: Money::from_cents(*a),
            })
            .collect(),
        version: row.version,
        created_at: row.created_at.clone(),
        recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
        recorded_at: row.created_at.clone(),
    }
}

/// The view `caller` may see: the one place that decides it.
pub fn view_for(post: &Post, caller: &Caller) -> PostAnswer {
    match caller.scope {
        Scope::Funder(_) => {
            let row = &post.row;
            PostAnswer::Funder(FunderPostView {
                id: row.id,
                employer_id: row.employer_id,
                reference: row.reference.clone(),
                title: row.title.clone(),
                territory: row.territory.clone(),
                activity: row.activity.clone(),
                fte: Fte::from_hundredths(row.fte_hundredths).map(|f| f.to_string()),
                start_month: row.start_month,
                end_month: row.end_month,
                recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
                recorded_at: row.created_at.clone(),
            })
        }
        _ => PostAnswer::Full(view(post)),
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

/// Loads a post the caller may read, or 404: its employer, the mission, the operator, and a
/// funder with a commitment on it.
pub fn load_readable(
    conn: &mut DbConnection,
    caller: &Caller,
    id: PostId,
) -> Result<Post, ApiError> {
    let post = db::posts::load(conn, id)?;
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
    let row = db::posts::find_row(conn, id)?;
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
    let latest = db::posts::last_month_in_use(conn, post_id)?;
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
        if db::posts::reference_taken(conn, input.employer_id, reference)? {
            return Err(ApiError::conflict(
                "reference_taken",
                format!("another post of the employer has the reference {reference:?}"),
            ));
        }
    }
    let row = NewPostRow {
        employer_id: input.employer_id,
        title,
        territory,
        activity: input.activity.as_str(),
        fte_hundredths: input.fte.hundredths(),
        start_month: input.start_month,
        end_month: input.end_month,
        reference,
        monthly_budget_cents: input.monthly_budget.cents(),
    };
    let id = db::posts::insert(conn, &row, &db::now_timestamp(), &caller.recorder())?;
    tracing::info!(post_id = %id, "post created");
    Ok(db::posts::load(conn, id)?)
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
        Outcome::created_as(format!("/v1/posts/{}", post.row.id), view(&post))
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
    let scope = caller.scope;
    let (posts, next) = state
        .with_connection(move |conn| Ok(db::posts::page(conn, scope, employer, &page)?))
        .await?;
    let items: Vec<PostAnswer> = posts.iter().map(|p| view_for(p, &caller)).collect();
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
    Ok(with_etag(HttpResponse::Ok(), &post).json(view_for(&post, &caller)))
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
    F: FnOnce(&mut DbConnection, &db::EmployerLock, &Post) -> Result<(), ApiError> + Send + 'static,
{
    state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                // The employer's lock orders this change with the runs and costs that
                // depend on the post's months.
                let employer = load_writable(conn, &caller, id)?.employer_id;
                let lock = db::lock_employer(conn, employer)?;
                let post = db::posts::load(conn, id)?;
                if let Some(expected) = expected {
                    if expected != post.row.version {
                        return Err(ApiError::PreconditionFailed(format!(
                            "the post is at version {}, not {expected}",
                            post.row.version
                        )));
                    }
                }
                apply(conn, &lock, &post)?;
                db::posts::raise_version(conn, &lock, &post.row)?;
                Ok(db::posts::load(conn, id)?)
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
    let post = change_post(&state, caller, id, expected, move |conn, lock, post| {
        let end = match changes.end_month {
            Some(end) => end,
            None => post.end(),
        };
        check_months(post.start(), end)?;
        if let Some(end) = end {
            check_nothing_after(conn, post.row.id, end)?;
        }
        let fields = PostFields {
            title: title.unwrap_or_else(|| post.row.title.clone()),
            territory: territory.unwrap_or_else(|| post.row.territory.clone()),
            activity: changes
                .activity
                .map_or(post.row.activity.clone(), |a| a.as_str().to_owned()),
            fte_hundredths: changes
                .fte
                .map_or(post.row.fte_hundredths, |f| f.hundredths()),
            end_month: end,
            reference: reference.unwrap_or_else(|| post.row.reference.clone()),
        };
        db::posts::update(conn, lock, &post.row, &fields)?;
        Ok(())
    })
    .await?;
    tracing::info!(post_id = %id, version = post.row.version, "post changed");
    Ok(with_etag(HttpResponse::Ok(), &post).json(view(&post)))
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
    let post = change_post(&state, caller, id, expected, move |conn, lock, post| {
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
        db::posts::set_budget_from(conn, lock, post.row.id, from, change.monthly_amount.cents())?;
        crate::db::sweep::after_write(
            conn,
            crate::db::sweep::SweepScope::Post(post.employer(), post.row.id),
        )?;
        Ok(())
    })
    .await?;
    tracing::info!(post_id = %id, from_month = %change.from_month, "budget changed");
    Ok(with_etag(HttpResponse::Ok(), &post).json(view(&post)))
}
