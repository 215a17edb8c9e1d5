//! `/v1/commitments`: what each funder signed for a post, and early terminations.

use crate::auth::Caller;
use crate::db::commitments::{allocated_to_date, allocation_of, of_post, CommitmentRow};
use crate::db::keys::RateBook;
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::allocation::Basis;
use crate::domain::ids::{CommitmentId, EmployerId, FunderId, PostId};
use crate::domain::{clock, Fte, Money, Month, Percent};
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::posts;
use crate::http::text::required_label;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};

/// `fixed`, `share`, `rate` or `activity`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BasisName {
    /// A fixed monthly amount.
    Fixed,
    /// A share of the remainder.
    Share,
    /// A dated rate for a part of a full-time post.
    Rate,
    /// A part of the remainder by the month's hours.
    Activity,
}

/// The body of `POST /v1/commitments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCommitment {
    funder_id: FunderId,
    post_id: PostId,
    basis: BasisName,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    monthly_amount: Option<Money>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    percent: Option<Percent>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    rate: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    fte: Option<Fte>,
    start_month: Month,
    end_month: Month,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    cap: Option<Money>,
    reference: String,
}

impl crate::http::extract::SentBy for NewCommitment {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// The body of `POST /v1/commitments/{id}/terminate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    end_month: Month,
}

impl crate::http::extract::SentBy for Termination {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// The basis a request asks for, checked field by field (the rate's existence is checked in
/// the transaction).
enum Asked {
    Basis(Basis),
    Rate { code: String, fte: Fte },
}

impl NewCommitment {
    /// Checks the basis's fields together: each basis takes its own and refuses the others'.
    fn asked(&self) -> Result<Asked, ApiError> {
        let given = [
            ("monthly_amount", self.monthly_amount.is_some()),
            ("percent", self.percent.is_some()),
            ("rate", self.rate.is_some()),
            ("fte", self.fte.is_some()),
        ];
        let takes: &[&str] = match self.basis {
            BasisName::Fixed => &["monthly_amount"],
            BasisName::Share => &["percent"],
            BasisName::Rate => &["rate", "fte"],
            BasisName::Activity => &[],
        };
        let name = match self.basis {
            BasisName::Fixed => "fixed",
            BasisName::Share => "share",
            BasisName::Rate => "rate",
            BasisName::Activity => "activity",
        };
        for (field, present) in given {
            if present && !takes.contains(&field) {
                return Err(ApiError::field(
                    format!("/{field}"),
                    format!("a {name} commitment takes no {field}"),
                ));
            }
            if !present && takes.contains(&field) {
                return Err(ApiError::field(
                    format!("/{field}"),
                    format!("a {name} commitment needs a {field}"),
                ));
            }
        }
        Ok(match self.basis {
            BasisName::Fixed => {
                let amount = self.monthly_amount.map_or(0, Money::cents);
                if amount == 0 {
                    return Err(ApiError::field("/monthly_amount", "must be more than 0.00"));
                }
                Asked::Basis(Basis::Fixed {
                    monthly_cents: amount,
                })
            }
            BasisName::Share => match self.percent {
                Some(p) if p > Percent::ZERO => Asked::Basis(Basis::Share { percent: p }),
                _ => return Err(ApiError::field("/percent", "must be more than 0")),
            },
            BasisName::Rate => match (&self.rate, self.fte) {
                (Some(code), Some(fte)) => Asked::Rate {
                    code: code.clone(),
                    fte,
                },
                _ => return Err(ApiError::field("/rate", "a rate commitment needs a rate")),
            },
            BasisName::Activity => Asked::Basis(Basis::Activity),
        })
    }
}

/// A commitment, with its cap use and what it asks this month.
#[derive(Debug, Serialize)]
pub struct CommitmentView {
    id: CommitmentId,
    employer_id: EmployerId,
    post_id: PostId,
    funder_id: FunderId,
    basis: String,
    monthly_amount: Option<Money>,
    percent: Option<Percent>,
    rate: Option<String>,
    fte: Option<Fte>,
    current_monthly_ask: Option<Money>,
    start_month: Month,
    end_month: Month,
    cap: Option<Money>,
    reference: String,
    allocated_to_date: Money,
    cap_remaining: Option<Money>,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// The answer for a commitment, with its cap use and what it asks this month.
pub fn view(
    row: &CommitmentRow,
    allocated_cents: i64,
    rates: &RateBook,
) -> QueryResult<CommitmentView> {
    let basis = row.basis(rates)?;
    let this_month = clock::today().month();
    let current_monthly_ask = (row.start() <= this_month && this_month <= row.end())
        .then(|| basis.fixed_ask(this_month))
        .flatten()
        .map(Money::from_cents);
    Ok(CommitmentView {
        id: row.id,
        employer_id: row.employer_id,
        post_id: row.post_id,
        funder_id: row.funder_id,
        basis: row.basis.clone(),
        monthly_amount: row.monthly_amount_cents.map(Money::from_cents),
        percent: basis.share(),
        rate: row.rate_code.clone(),
        fte: row.fte_hundredths.and_then(Fte::from_hundredths),
        current_monthly_ask,
        start_month: row.start_month,
        end_month: row.end_month,
        cap: row.cap_cents.map(Money::from_cents),
        reference: row.reference.clone(),
        allocated_to_date: Money::from_cents(allocated_cents),
        cap_remaining: row
            .cap_cents
            .map(|cap| Money::from_cents(cap - allocated_cents)),
        created_at: row.created_at.clone(),
        recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
        recorded_at: row.created_at.clone(),
    })
}

/// The months in which a new share would take the post's shares above 100 %.
fn months_over_hundred(
    existing: &[CommitmentRow],
    start: Month,
    end: Month,
    percent: Percent,
) -> QueryResult<Vec<Month>> {
    let shares: Vec<(Month, Month, i64)> = existing
        .iter()
        .map(|c| {
            Ok(c.basis(&RateBook::default())?
                .share()
                .map(|percent| (c.start(), c.end(), percent.ten_thousandths())))
        })
        .filter_map(Result::transpose)
        .collect::<QueryResult<_>>()?;
    Ok(start
        .through(end)
        .filter(|m| {
            let others: i64 = shares
                .iter()
                .filter(|(first, last, _)| first <= m && m <= last)
                .map(|(_, _, share)| share)
                .sum();
            others + percent.ten_thousandths() > Percent::HUNDRED.ten_thousandths()
        })
        .collect())
}

/// Names a list of months briefly: every month when few, else the first and last ones.
pub fn month_list(months: &[Month]) -> String {
    let names: Vec<String> = months.iter().map(Month::to_string).collect();
    if names.len() <= 12 {
        names.join(", ")
    } else {
        format!(
            "{} … {} ({} months)",
            names[0],
            names[names.len() - 1],
            names.len()
        )
    }
}

/// A commitment whose fields passed every check that needs no stored data.
pub struct CheckedCommitment {
    funder_id: FunderId,
    post_id: PostId,
    asked: Asked,
    start: Month,
    end: Month,
    cap_cents: Option<i64>,
    reference: String,
}

impl CheckedCommitment {
    /// The funder it names.
    pub fn funder(&self) -> FunderId {
        self.funder_id
    }

    /// The post it names.
    pub fn post(&self) -> PostId {
        self.post_id
    }
}

impl NewCommitment {
    /// The checks of a commitment beyond its fields' types (the endpoint and the imports).
    pub fn checked(self) -> Result<CheckedCommitment, ApiError> {
        let asked = self.asked()?;
        if self.end_month < self.start_month {
            return Err(ApiError::field(
                "/end_month",
                "must not be before start_month",
            ));
        }
        if self.cap.is_some_and(|c| c.cents() == 0) {
            return Err(ApiError::field("/cap", "must be more than 0.00"));
        }
        Ok(CheckedCommitment {
            funder_id: self.funder_id,
            post_id: self.post_id,
            asked,
            start: self.start_month,
            end: self.end_month,
            cap_cents: self.cap.map(Money::cents),
            reference: required_label("/reference", &self.reference)?,
        })
    }
}

/// Records a checked commitment in the caller's write transaction, with the checks that read
/// stored data: the post in the caller's scope and months, the funder, the rate, the shares
/// of the post (those recorded earlier in the same transaction included).
pub fn record_checked(
    conn: &mut DbConnection,
    caller: &Caller,
    input: CheckedCommitment,
) -> Result<CommitmentRow, ApiError> {
    let post = posts::load_writable(conn, caller, input.post_id)?;
    let lock = db::lock_employer(conn, post.employer_id)?;
    crate::db::funders::find(conn, input.funder_id)?;
    let existing = of_post(conn, input.post_id)?;
    record_known(conn, &lock, caller, &post, &existing, input)
}

/// [`record_checked`] once what it reads first is known: the post, found in the caller's scope
/// (and its employer locked), the funder, found to exist, and the post's commitments (those
/// recorded earlier in the same transaction included). An import reads them once for all
/// its lines.
pub fn record_known(
    conn: &mut DbConnection,
    lock: &db::EmployerLock,
    caller: &Caller,
    post: &db::posts::PostRow,
    existing: &[CommitmentRow],
    input: CheckedCommitment,
) -> Result<CommitmentRow, ApiError> {
    debug_assert_eq!(post.employer_id, db::LockedEmployer::employer(lock));
    let post_id = input.post_id;
    post.check_months_within(input.start, input.end)?;
    let (basis, rate_code) = match input.asked {
        Asked::Basis(basis) => (basis, None),
        Asked::Rate { code, fte } => {
            if !db::rates::exists(conn, &code)? {
                return Err(ApiError::field(
                    "/rate",
                    format!("no rate has the code {code:?}"),
                ));
            }
            let schedule = RateBook::of(conn, std::slice::from_ref(&code))?.schedule(&code);
            let basis = Basis::Rate {
                fte_hundredths: fte.hundredths(),
                schedule,
            };
            (basis, Some(code))
        }
    };
    if let Basis::Share { percent } = basis {
        let over = months_over_hundred(existing, input.start, input.end, percent)?;
        if !over.is_empty() {
            return Err(ApiError::conflict(
                "shares_over_100",
                format!(
                    "the post's shares would exceed 100 % in {}",
                    month_list(&over)
                ),
            ));
        }
    }
    let id = db::commitments::insert(
        conn,
        &db::commitments::NewCommitment {
            employer_id: post.employer_id,
            post_id,
            funder_id: input.funder_id,
            basis,
            start: input.start,
            end: input.end,
            cap_cents: input.cap_cents,
            reference: &input.reference,
            rate_code: rate_code.as_deref(),
        },
        &caller.recorder(),
    )?;
    tracing::info!(commitment_id = %id, post_id = %post_id, "commitment recorded");
    Ok(db::commitments::find(conn, id)?)
}

/// `POST /v1/commitments` (the post's employer, the operator).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewCommitment>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let input = body.value.checked()?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let row = record_checked(conn, &caller, input)?;
        crate::db::sweep::after_write(
            conn,
            crate::db::sweep::SweepScope::Post(row.employer_id, row.post_id),
        )?;
        let rates = RateBook::for_commitments(conn, &[&row])?;
        Outcome::created_as(
            format!("/v1/commitments/{}", row.id),
            view(&row, 0, &rates)?,
        )
    })
    .await
}

/// Whether the caller may read a commitment.
fn readable(caller: &Caller, row: &CommitmentRow) -> bool {
    caller.can_read_between(row.employer_id, row.funder_id)
}

/// The query of `GET /v1/commitments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    post_id: Option<String>,
    funder_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/commitments?post_id=&funder_id=`: filtered to the caller's scope in the query.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let page = Page::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let post: Option<PostId> = id_param("post_id", query.post_id.as_deref())?;
    let funder: Option<FunderId> = id_param("funder_id", query.funder_id.as_deref())?;
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = db::commitments::page(conn, caller.scope, post, funder, &page)?;
            let ids: Vec<CommitmentId> = rows.iter().map(|r| r.id).collect();
            let allocated = allocated_to_date(conn, &ids)?;
            let rates = RateBook::for_commitments(conn, &rows.iter().collect::<Vec<_>>())?;
            let items: Vec<CommitmentView> = rows
                .iter()
                .map(|row| view(row, allocated.get(&row.id).copied().unwrap_or(0), &rates))
                .collect::<QueryResult<_>>()?;
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// `GET /v1/commitments/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CommitmentId = path_id(&path, "commitment")?;
    let body = state
        .with_connection(move |conn| {
            let row = db::commitments::find(conn, id)?;
            if !readable(&caller, &row) {
                return Err(ApiError::NotFound("commitment"));
            }
            let (allocated, _) = allocation_of(conn, row.id)?;
            Ok(view(
                &row,
                allocated,
                &RateBook::for_commitments(conn, &[&row])?,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /v1/commitments/{id}/terminate`: brings the end forward, never before a month that
/// is already allocated for the commitment.
pub async fn terminate(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<Termination>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let id: CommitmentId = path_id(&path, "commitment")?;
    let end = body.value.end_month;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let row = db::commitments::find(conn, id)?;
        caller
            .require_employer_writer(row.employer_id)
            .map_err(|_| ApiError::NotFound("commitment"))?;
        let lock = db::lock_employer(conn, row.employer_id)?;
        if end > row.end() {
            return Err(ApiError::field(
                "/end_month",
                format!("a termination brings the end forward; it is {}", row.end()),
            ));
        }
        if end < row.start() {
            return Err(ApiError::field(
                "/end_month",
                format!("must not be before the commitment's start {}", row.start()),
            ));
        }
        let (allocated, last_allocated) = allocation_of(conn, row.id)?;
        if let Some(last) = last_allocated.filter(|last| *last > end) {
            return Err(ApiError::conflict(
                "already_allocated",
                format!("the commitment is allocated up to {last}; it cannot end before that"),
            ));
        }
        db::commitments::set_end(conn, &lock, id, end)?;
        let row = db::commitments::find(conn, id)?;
        crate::db::sweep::after_write(
            conn,
            crate::db::sweep::SweepScope::Post(row.employer_id, row.post_id),
        )?;
        tracing::info!(commitment_id = %id, end_month = %end, "commitment terminated");
        let rates = RateBook::for_commitments(conn, &[&row])?;
        Outcome::ok_as(view(&row, allocated, &rates)?)
    })
    .await
}
