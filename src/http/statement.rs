//! `GET /v1/funders/{id}/statement`: a funder's position — commitments with their cap use,
//! what was allocated, called, paid and is outstanding, its credit, by post and by call, and
//! the aging of what is outstanding.

use crate::auth::{Caller, Scope};
use crate::db::calls as store;
use crate::db::{self, DbConnection};
use crate::domain::ids::{CallId, EmployerId, FunderId, PostId};
use crate::domain::statement::Aging;
use crate::domain::tabular;
use crate::domain::{clock, Date, Money, Month};
use crate::error::ApiError;
use crate::http::commitments::CommitmentView;
use crate::http::extract::{id_param, parse_param, path_id, Query};
use crate::http::views::{AgingView, FiguresView};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    fn view(&self) -> FiguresView {
        FiguresView::of(self.allocated, self.called, self.paid)
    }
}

/// The statement's totals: the figures and the funder's credit.
#[derive(Debug, Serialize)]
struct TotalsView {
    #[serde(flatten)]
    figures: FiguresView,
    credit: Money,
}

/// A post's figures on the statement.
#[derive(Debug, Serialize)]
struct PostFiguresView {
    employer_id: EmployerId,
    employer_name: Option<String>,
    post_id: PostId,
    #[serde(flatten)]
    figures: FiguresView,
}

/// A call's part of the statement.
#[derive(Debug, Serialize)]
struct CallFiguresView {
    call_id: CallId,
    number: String,
    employer_id: EmployerId,
    issued_on: Date,
    due_on: Date,
    status: &'static str,
    amount: Money,
    paid: Money,
    outstanding: Money,
}

/// The statement.
#[derive(Debug, Serialize)]
struct StatementView {
    funder_id: FunderId,
    employer_id: Option<EmployerId>,
    from: Option<Month>,
    to: Option<Month>,
    as_of: Date,
    commitments: Vec<CommitmentView>,
    totals: TotalsView,
    by_post: Vec<PostFiguresView>,
    by_call: Vec<CallFiguresView>,
    aging: AgingView,
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
    if caller.own_funder().is_some_and(|own| own != funder) {
        return Err(ApiError::NotFound("funder"));
    }
    let employer = caller.employer_in_scope(asked)?;
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
            let facts = db::statement::funder_facts(conn, funder, employer)?;
            let in_range =
                |month: &Month| from.is_none_or(|f| *month >= f) && to.is_none_or(|t| *month <= t);
            let commitment_views: Vec<CommitmentView> = facts
                .commitments
                .iter()
                .map(|row| {
                    let allocated = facts.allocated_to_date.get(&row.id).copied().unwrap_or(0);
                    crate::http::commitments::view(row, allocated, &facts.rates)
                })
                .collect::<QueryResult<_>>()?;

            let mut by_post: BTreeMap<(EmployerId, PostId), Figures> = BTreeMap::new();
            let mut by_month: BTreeMap<(EmployerId, PostId, Month), Figures> = BTreeMap::new();
            for &(e, post, month, amount) in &facts.allocations {
                if in_range(&month) {
                    by_post.entry((e, post)).or_default().allocated += amount;
                    by_month.entry((e, post, month)).or_default().allocated += amount;
                }
            }
            let today = clock::today();
            let mut aging = Aging::default();
            let mut by_call = Vec::new();
            for call in &facts.calls {
                let mut figures = Figures::default();
                for &(post, month, amount, settled) in
                    facts.settled.get(&call.id).into_iter().flatten()
                {
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
                by_call.push(CallFiguresView {
                    call_id: call.id,
                    number: call.number.clone(),
                    employer_id: call.employer_id,
                    issued_on: call.issued_on,
                    due_on: call.due_on,
                    status: store::status(call, facts.paid.get(&call.id).copied().unwrap_or(0)),
                    amount: Money::from_cents(figures.called),
                    paid: Money::from_cents(figures.paid),
                    outstanding: Money::from_cents(figures.called - figures.paid),
                });
            }
            if format == Format::Csv {
                return Ok(Answer::Csv(statement_table(conn, &by_month)?));
            }
            let totals = by_post.values().fold(Figures::default(), |t, f| Figures {
                allocated: t.allocated + f.allocated,
                called: t.called + f.called,
                paid: t.paid + f.paid,
            });
            // A funder names the employers it funds (on its calls, its statement).
            let employer_ids: Vec<EmployerId> = by_post.keys().map(|(e, _)| *e).collect();
            let employer_names = db::employers::names(conn, Some(&employer_ids))?;
            Ok(Answer::Json(Box::new(StatementView {
                funder_id: funder,
                employer_id: employer,
                from,
                to,
                as_of: today,
                commitments: commitment_views,
                totals: TotalsView {
                    figures: totals.view(),
                    credit: Money::from_cents(facts.credit),
                },
                by_post: by_post
                    .iter()
                    .map(|((e, post), f)| PostFiguresView {
                        employer_id: *e,
                        employer_name: employer_names.get(e).cloned(),
                        post_id: *post,
                        figures: f.view(),
                    })
                    .collect(),
                by_call,
                aging: aging.into(),
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
    Json(Box<StatementView>),
    Csv(String),
}

/// The statement as a table for spreadsheets: one row per post and month, named by the
/// employer's name and the post's reference and title.
fn statement_table(
    conn: &mut DbConnection,
    by_month: &BTreeMap<(EmployerId, PostId, Month), Figures>,
) -> Result<String, ApiError> {
    let post_ids: Vec<PostId> = by_month.keys().map(|(_, p, _)| *p).collect();
    let employer_ids: Vec<EmployerId> = by_month.keys().map(|(e, _, _)| *e).collect();
    let posts_named = db::posts::names(conn, &post_ids)?;
    let employers_named = db::employers::names(conn, Some(&employer_ids))?;
    let rows: Vec<Vec<String>> = by_month
        .iter()
        .map(|((employer, post, month), f)| {
            // Posts and employers are foreign keys of the lines: a missing name is a fault.
            let (reference, title) = posts_named
                .get(post)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("statement line names unknown post {post}"))?;
            let employer_name = employers_named.get(employer).cloned().ok_or_else(|| {
                anyhow::anyhow!("statement line names unknown employer {employer}")
            })?;
            Ok(vec![
                employer_name,
                reference.unwrap_or_default(),
                title,
                month.to_string(),
                tabular::amount(f.allocated),
                tabular::amount(f.called),
                tabular::amount(f.paid),
                tabular::amount(f.called - f.paid),
            ])
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(tabular::write(&STATEMENT_COLUMNS, &rows))
}
