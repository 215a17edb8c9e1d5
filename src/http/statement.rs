//! `GET /v1/funders/{id}/statement`: a funder's position — commitments with their cap use,
//! what was allocated, called, paid and is outstanding, its credit, by post and by call, and
//! the aging of what is outstanding.

use crate::auth::{Caller, Scope};
use crate::db::calls::{self as store, CallRow};
use crate::db::commitments::{allocated_to_date, CommitmentRow};
use crate::db::schema::{
    allocation_lines, calls, commitments, employers, payment_applications, payments, posts,
};
use crate::db::DbConnection;
use crate::domain::ids::{CallId, CommitmentId, EmployerId, FunderId, PaymentId, PostId};
use crate::domain::statement::Aging;
use crate::domain::tabular;
use crate::domain::{clock, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{id_param, parse_param, path_id, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;

/// The query of the statement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    employer_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// The answer's format: JSON, or a table for spreadsheets (`?format=csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv` for French spreadsheets.
    Csv,
}

impl Format {
    /// Reads `format`: `json` (the default) or `csv`.
    pub fn parse(value: Option<&str>) -> Result<Format, ApiError> {
        match value {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(_) => Err(ApiError::field("/format", "must be json or csv")),
        }
    }
}

/// A CSV answer, named as a file.
pub fn csv_response(text: String, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(text)
}

/// The columns of the statement as a table: one row per post and month.
const STATEMENT_COLUMNS: [&str; 8] = [
    "employer",
    "post_reference",
    "post_title",
    "month",
    "allocated",
    "called",
    "paid",
    "outstanding",
];

#[derive(Default, Clone, Copy)]
struct Figures {
    allocated: i64,
    called: i64,
    paid: i64,
}

impl Figures {
    fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "allocated": Money::from_cents(self.allocated),
            "called": Money::from_cents(self.called),
            "paid": Money::from_cents(self.paid),
            "outstanding": Money::from_cents(self.called - self.paid),
        })
    }
}

/// `GET /v1/funders/{id}/statement?employer_id=&from=&to=`: that funder (across its
/// employers), an employer (its own part), the mission and the operator.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<StatementQuery>,
) -> Result<HttpResponse, ApiError> {
    let funder: FunderId = path_id(&path, "funder")?;
    let q = query.0;
    let asked: Option<EmployerId> = id_param("employer_id", q.employer_id.as_deref())?;
    let from = parse_param("from", q.from.as_deref(), Month::parse)?;
    let to = parse_param("to", q.to.as_deref(), Month::parse)?;
    let format = Format::parse(q.format.as_deref())?;
    let employer = match caller.scope {
        Scope::Funder(own) if own != funder => return Err(ApiError::NotFound("funder")),
        Scope::Employer(own) => match asked {
            Some(other) if other != own => return Err(ApiError::NotFound("employer")),
            _ => Some(own),
        },
        _ => asked,
    };
    let caller_scope = caller.scope;
    let body = state
        .with_connection(move |conn| {
            crate::db::funders::find(conn, funder)?;
            // An employer reads the statement of a funder it has dealt with only: the others'
            // existence, let alone their figures, is none of its business.
            if let Scope::Employer(own) = caller_scope {
                if !crate::db::scope::have_dealt(conn, own, funder)? {
                    return Err(ApiError::NotFound("funder"));
                }
            }
            let funder_id = funder;
            let employer_id = employer;
            let in_range =
                |month: &Month| from.is_none_or(|f| *month >= f) && to.is_none_or(|t| *month <= t);
            let same_employer = |e: &EmployerId| employer_id.is_none_or(|own| own == *e);

            let commitment_rows: Vec<CommitmentRow> = commitments::table
                .filter(commitments::funder_id.eq(funder_id))
                .order(commitments::id)
                .select(CommitmentRow::as_select())
                .load(conn)?
                .into_iter()
                .filter(|c| same_employer(&c.employer_id))
                .collect();
            let ids: Vec<CommitmentId> = commitment_rows.iter().map(|r| r.id).collect();
            let allocated = allocated_to_date(conn, &ids)?;
            let rates = crate::db::keys::RateBook::for_commitments(
                conn,
                &commitment_rows.iter().collect::<Vec<_>>(),
            )?;
            let commitment_views: Vec<serde_json::Value> = commitment_rows
                .iter()
                .map(|row| {
                    let allocated = allocated.get(&row.id).copied().unwrap_or(0);
                    crate::http::commitments::view(row, allocated, &rates)
                })
                .collect::<QueryResult<_>>()?;

            let mut by_post: BTreeMap<(EmployerId, PostId), Figures> = BTreeMap::new();
            let mut by_month: BTreeMap<(EmployerId, PostId, Month), Figures> = BTreeMap::new();
            let allocations: Vec<(EmployerId, PostId, Month, i64)> = allocation_lines::table
                .filter(allocation_lines::funder_id.eq(funder_id))
                .select((
                    allocation_lines::employer_id,
                    allocation_lines::post_id,
                    allocation_lines::month,
                    allocation_lines::amount_cents,
                ))
                .load(conn)?;
            for (e, post, month, amount) in allocations {
                if same_employer(&e) && in_range(&month) {
                    by_post.entry((e, post)).or_default().allocated += amount;
                    by_month.entry((e, post, month)).or_default().allocated += amount;
                }
            }

            let call_rows: Vec<CallRow> = calls::table
                .filter(calls::funder_id.eq(funder_id))
                .filter(calls::cancelled_on.is_null())
                .order((calls::due_on, calls::number))
                .select(CallRow::as_select())
                .load(conn)?
                .into_iter()
                .filter(|c| same_employer(&c.employer_id))
                .collect();
            let ids: Vec<CallId> = call_rows.iter().map(|c| c.id).collect();
            let mut lines = store::settled_lines(conn, &ids)?;
            let paid = store::paid(conn, &ids)?;
            let today = clock::today();
            let mut aging = Aging::default();
            let mut by_call = Vec::new();
            for call in &call_rows {
                let mut figures = Figures::default();
                for (post, month, amount, settled) in lines.remove(&call.id).unwrap_or_default() {
                    if in_range(&month) {
                        let post_figures = by_post.entry((call.employer_id, post)).or_default();
                        post_figures.called += amount;
                        post_figures.paid += settled;
                        let month_figures =
                            by_month.entry((call.employer_id, post, month)).or_default();
                        month_figures.called += amount;
                        month_figures.paid += settled;
                        figures.called += amount;
                        figures.paid += settled;
                    }
                }
                if figures.called == 0 {
                    continue;
                }
                aging.add(call.due_on, today, figures.called - figures.paid);
                by_call.push(serde_json::json!({
                    "call_id": call.id,
                    "number": call.number,
                    "employer_id": call.employer_id,
                    "issued_on": call.issued_on,
                    "due_on": call.due_on,
                    "status": store::status(call, paid.get(&call.id).copied().unwrap_or(0)),
                    "amount": Money::from_cents(figures.called),
                    "paid": Money::from_cents(figures.paid),
                    "outstanding": Money::from_cents(figures.called - figures.paid),
                }));
            }

            let received: Vec<(PaymentId, EmployerId, i64)> = payments::table
                .filter(payments::funder_id.eq(funder_id))
                .select((payments::id, payments::employer_id, payments::amount_cents))
                .load(conn)?;
            let received: Vec<(PaymentId, i64)> = received
                .into_iter()
                .filter(|(_, e, _)| same_employer(e))
                .map(|(id, _, amount)| (id, amount))
                .collect();
            let payment_ids: Vec<PaymentId> = received.iter().map(|r| r.0).collect();
            let applied: i64 = payment_applications::table
                .filter(payment_applications::payment_id.eq_any(&payment_ids))
                .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
                ))
                .first(conn)?;
            let credit = received.iter().map(|r| r.1).sum::<i64>() - applied;

            let totals = by_post.values().fold(Figures::default(), |t, f| Figures {
                allocated: t.allocated + f.allocated,
                called: t.called + f.called,
                paid: t.paid + f.paid,
            });
            let mut totals_view = totals.view();
            totals_view["credit"] = serde_json::json!(Money::from_cents(credit));
            // A funder names the employers it funds (on its calls, its statement).
            let employer_ids: Vec<EmployerId> = by_post.keys().map(|(e, _)| *e).collect();
            let employer_names: HashMap<EmployerId, String> = employers::table
                .filter(employers::id.eq_any(&employer_ids))
                .select((employers::id, employers::name))
                .load::<(EmployerId, String)>(conn)?
                .into_iter()
                .collect();
            if format == Format::Csv {
                return Ok(Answer::Csv(statement_table(conn, &by_month)?));
            }
            Ok(Answer::Json(serde_json::json!({
                "funder_id": funder_id,
                "employer_id": employer_id,
                "from": from,
                "to": to,
                "as_of": today,
                "commitments": commitment_views,
                "totals": totals_view,
                "by_post": by_post.iter().map(|((e, post), f)| {
                    let mut row = f.view();
                    row["employer_id"] = serde_json::Value::String(e.to_string());
                    row["employer_name"] = serde_json::json!(employer_names.get(e));
                    row["post_id"] = serde_json::Value::String(post.to_string());
                    row
                }).collect::<Vec<_>>(),
                "by_call": by_call,
                "aging": {
                    "not_due": Money::from_cents(aging.not_due),
                    "0_30": Money::from_cents(aging.days_0_30),
                    "31_60": Money::from_cents(aging.days_31_60),
                    "61_90": Money::from_cents(aging.days_61_90),
                    "over_90": Money::from_cents(aging.over_90),
                },
            })))
        })
        .await?;
    Ok(match body {
        Answer::Json(body) => HttpResponse::Ok().json(body),
        Answer::Csv(text) => csv_response(text, &format!("releve-{funder}.csv")),
    })
}

/// The statement's answer in the format asked.
enum Answer {
    Json(serde_json::Value),
    Csv(String),
}

/// The statement as a table for spreadsheets: one row per post and month, named by the
/// employer's name and the post's reference and title.
fn statement_table(
    conn: &mut DbConnection,
    by_month: &BTreeMap<(EmployerId, PostId, Month), Figures>,
) -> QueryResult<String> {
    let post_ids: Vec<PostId> = by_month.keys().map(|(_, p, _)| *p).collect();
    let employer_ids: Vec<EmployerId> = by_month.keys().map(|(e, _, _)| *e).collect();
    let mut posts_named: HashMap<PostId, (Option<String>, String)> = HashMap::new();
    for chunk in post_ids.chunks(1_000) {
        let rows: Vec<(PostId, Option<String>, String)> = posts::table
            .filter(posts::id.eq_any(chunk))
            .select((posts::id, posts::reference, posts::title))
            .load(conn)?;
        posts_named.extend(rows.into_iter().map(|(id, r, t)| (id, (r, t))));
    }
    let employers_named: HashMap<EmployerId, String> = employers::table
        .filter(employers::id.eq_any(&employer_ids))
        .select((employers::id, employers::name))
        .load::<(EmployerId, String)>(conn)?
        .into_iter()
        .collect();
    let rows: Vec<Vec<String>> = by_month
        .iter()
        .map(|((employer, post, month), f)| {
            let (reference, title) = posts_named.get(post).cloned().unwrap_or_default();
            vec![
                employers_named.get(employer).cloned().unwrap_or_default(),
                reference.unwrap_or_default(),
                title,
                month.to_string(),
                tabular::amount(f.allocated),
                tabular::amount(f.called),
                tabular::amount(f.paid),
                tabular::amount(f.called - f.paid),
            ]
        })
        .collect();
    Ok(tabular::write(&STATEMENT_COLUMNS, &rows))
}
