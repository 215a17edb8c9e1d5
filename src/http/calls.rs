//! `/v1/calls`: calls for funds, numbered without gaps, and their cancellation by credit note.

use crate::auth::Caller;
use crate::db::calls::{self as store, CallLine, CallRow, NewCall};
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::events::EventData;
use crate::domain::ids::{CallId, CreditNoteId, EmployerId, FunderId, PostId};
use crate::domain::tabular;
use crate::domain::{clock, Date, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, PartiesQuery, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::statement::{csv_response, Format};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCallRequest {
    employer_id: EmployerId,
    funder_id: FunderId,
    from_month: Month,
    to_month: Month,
    issued_on: Date,
    due_on: Date,
}

impl crate::http::extract::SentBy for NewCallRequest {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// Whether the caller may read a call: its employer, its funder, the mission, the operator.
pub fn readable(caller: &Caller, call: &CallRow) -> bool {
    caller.can_read_between(call.employer_id, call.funder_id)
}

/// A line of a call.
#[derive(Debug, Serialize)]
struct LineView {
    post_id: PostId,
    month: Month,
    amount: Money,
}

/// A cancelled call's credit note, with who issued it.
#[derive(Debug, Serialize)]
struct CreditNoteView {
    id: Option<CreditNoteId>,
    number: String,
    issued_on: Option<Date>,
    recorded_by: RecordedBy,
    recorded_at: Option<String>,
}

/// A call for funds.
#[derive(Debug, Serialize)]
pub struct CallView {
    id: CallId,
    number: String,
    employer_id: EmployerId,
    funder_id: FunderId,
    from_month: Month,
    to_month: Month,
    issued_on: Date,
    due_on: Date,
    amount: Money,
    paid: Money,
    outstanding: Money,
    status: &'static str,
    lines: Vec<LineView>,
    cancelled_on: Option<Date>,
    credit_note_id: Option<CreditNoteId>,
    credit_note_number: Option<String>,
    credit_note: Option<CreditNoteView>,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

fn view(row: &CallRow, lines: Vec<CallLine>, paid_cents: i64) -> Result<CallView, ApiError> {
    let credit_note = match &row.credit_note_number {
        None => None,
        Some(number) => {
            // A cancellation is recorded with who made it: a credit note without them is a
            // corrupt row, not an anonymous one.
            let (Some(sub), Some(role)) = (&row.cancelled_by_sub, &row.cancelled_by_role) else {
                return Err(
                    anyhow::anyhow!("call {} has a credit note but no canceller", row.id).into(),
                );
            };
            Some(CreditNoteView {
                id: row.credit_note_id,
                number: number.clone(),
                issued_on: row.cancelled_on,
                recorded_by: db::recorded_by_view(sub, role),
                recorded_at: row.cancelled_at.clone(),
            })
        }
    };
    Ok(CallView {
        id: row.id,
        number: row.number.clone(),
        employer_id: row.employer_id,
        funder_id: row.funder_id,
        from_month: row.from_month,
        to_month: row.to_month,
        issued_on: row.issued_on,
        due_on: row.due_on,
        amount: Money::from_cents(row.amount_cents),
        paid: Money::from_cents(paid_cents),
        outstanding: Money::from_cents(store::outstanding(row, paid_cents)),
        status: store::status(row, paid_cents),
        lines: lines
            .into_iter()
            .map(|(post_id, month, cents)| LineView {
                post_id,
                month,
                amount: Money::from_cents(cents),
            })
            .collect(),
        cancelled_on: row.cancelled_on,
        credit_note_id: row.credit_note_id,
        credit_note_number: row.credit_note_number.clone(),
        credit_note,
        created_at: row.created_at.clone(),
        recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
        recorded_at: row.created_at.clone(),
    })
}

/// The answer for calls: lines and paid amounts read in two queries.
pub fn views(conn: &mut DbConnection, rows: &[CallRow]) -> Result<Vec<CallView>, ApiError> {
    let ids: Vec<CallId> = rows.iter().map(|c| c.id).collect();
    let mut lines = store::lines_of(conn, &ids)?;
    let paid = store::paid(conn, &ids)?;
    rows.iter()
        .map(|row| {
            // A call always has lines (an empty one is refused at issue).
            let own_lines = lines.remove(&row.id).ok_or_else(|| {
                anyhow::anyhow!("call {} has no lines: an empty call is refused", row.id)
            })?;
            view(row, own_lines, paid.get(&row.id).copied().unwrap_or(0))
        })
        .collect()
}

fn view_one(conn: &mut DbConnection, id: CallId) -> Result<serde_json::Value, ApiError> {
    let row = store::find(conn, id)?;
    let view = views(conn, &[row])?
        .pop()
        .ok_or(ApiError::NotFound("call"))?;
    Ok(serde_json::to_value(view).map_err(anyhow::Error::from)?)
}

/// `POST /v1/calls` (the employer, the operator).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewCallRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    caller.require_employer_writer(input.employer_id)?;
    if input.to_month < input.from_month {
        return Err(ApiError::field(
            "/to_month",
            "must not be before from_month",
        ));
    }
    if input.due_on < input.issued_on {
        return Err(ApiError::field("/due_on", "must not be before issued_on"));
    }
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        crate::db::employers::find(conn, input.employer_id)?;
        crate::db::funders::find(conn, input.funder_id)?;
        let lock = db::lock_employer(conn, input.employer_id)?;
        let id = store::issue(
            conn,
            &lock,
            &NewCall {
                funder_id: input.funder_id,
                from: input.from_month,
                to: input.to_month,
                issued_on: input.issued_on,
                due_on: input.due_on,
            },
            &caller.recorder(),
        )?;
        let view = view_one(conn, id)?;
        record_call_event(
            conn,
            input.employer_id,
            input.funder_id,
            EventData::CallIssued(view.clone()),
        )?;
        tracing::info!(call_id = %id, number = %view["number"], "call for funds issued");
        Ok(Outcome::created(format!("/v1/calls/{id}"), view))
    })
    .await
}

/// Records a call's event, in the call's view, for its employer and the funder it asks.
fn record_call_event(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
    data: EventData,
) -> QueryResult<()> {
    db::events::record(
        conn,
        &[db::events::NewEvent {
            employer_id: Some(employer_id),
            funders: vec![funder_id],
            data,
            once_key: None,
        }],
    )?;
    crate::db::sweep::after_write(conn, crate::db::sweep::SweepScope::Money(employer_id))?;
    Ok(())
}

/// The body of a cancellation: none, or an empty object.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Cancellation(serde_json::Map<String, serde_json::Value>);

impl crate::http::extract::SentBy for Cancellation {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// `POST /v1/calls/{id}/cancel` (the employer, the operator): issues the credit note.
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<Cancellation>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    if let Some(field) = body.value.0.keys().next() {
        return Err(ApiError::field(
            format!("/{field}"),
            "a cancellation takes no fields",
        ));
    }
    let id: CallId = path_id(&path, "call")?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let call = store::find(conn, id)?;
        caller
            .require_employer_writer(call.employer_id)
            .map_err(|_| ApiError::NotFound("call"))?;
        let lock = db::lock_employer(conn, call.employer_id)?;
        let call = store::find(conn, id)?;
        store::cancel(conn, &lock, &call, clock::today(), &caller.recorder())?;
        tracing::info!(call_id = %id, "call cancelled by credit note");
        let view = view_one(conn, id)?;
        record_call_event(
            conn,
            call.employer_id,
            call.funder_id,
            EventData::CallCancelled(view.clone()),
        )?;
        Ok(Outcome::ok(view))
    })
    .await
}

/// `GET /v1/calls/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CallId = path_id(&path, "call")?;
    let view = state
        .with_connection(move |conn| {
            let row = store::find(conn, id)?;
            if !readable(&caller, &row) {
                return Err(ApiError::NotFound("call"));
            }
            view_one(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Which document of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Document {
    Call,
    CreditNote,
}

/// The document of a call as a PDF a funder files: the employer, the funder, the dates, the
/// conventions drawn on, one line per post and month, the total, what is settled and due.
fn document_pdf(
    conn: &mut DbConnection,
    call: &CallRow,
    kind: Document,
) -> Result<(String, Vec<u8>), ApiError> {
    use crate::domain::document::{
        call_pdf, french_date, french_month, CallDocument, DocumentLine,
    };
    if kind == Document::CreditNote && call.credit_note_number.is_none() {
        return Err(ApiError::NotFound("credit note"));
    }
    let facts = store::document_facts(conn, call)?;
    let e = &facts.employer;
    let mut employer = vec![e.name.clone()];
    employer.extend(e.siren.as_ref().map(|s| format!("SIREN {s}")));
    employer.extend(e.address.iter().flat_map(|a| a.lines().map(str::to_owned)));
    employer.extend(e.iban.as_ref().map(|i| format!("IBAN {i}")));
    employer.extend(e.bic.as_ref().map(|b| format!("BIC {b}")));
    let (funder, conventions, paid) = (facts.funder_name, facts.conventions, facts.paid_cents);
    let doc_lines: Vec<DocumentLine> = facts
        .lines
        .iter()
        .map(|(post, month, amount)| {
            let (reference, title) = facts
                .posts
                .get(post)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("call {} names unknown post {post}", call.id))?;
            Ok(DocumentLine {
                post_title: title,
                post_reference: reference,
                month: french_month(*month),
                amount_cents: *amount,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let doc = match kind {
        Document::Call => CallDocument {
            title: "Appel de fonds".into(),
            number: call.number.clone(),
            cancels: None,
            employer,
            funder,
            issued_on: french_date(call.issued_on),
            due_on: Some(french_date(call.due_on)),
            conventions,
            lines: doc_lines,
            paid_cents: Some(call.amount_cents - store::outstanding(call, paid)),
        },
        Document::CreditNote => {
            let (Some(number), Some(on)) = (&call.credit_note_number, call.cancelled_on) else {
                return Err(ApiError::NotFound("credit note"));
            };
            CallDocument {
                title: "Avoir".into(),
                number: number.clone(),
                cancels: Some(call.number.clone()),
                employer,
                funder,
                issued_on: french_date(on),
                due_on: None,
                conventions,
                lines: doc_lines,
                paid_cents: None,
            }
        }
    };
    let number = doc.number.clone();
    let pdf = call_pdf(&doc)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the embedded font does not parse")))?;
    Ok((number, pdf))
}

async fn serve_document(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    kind: Document,
) -> Result<HttpResponse, ApiError> {
    let id: CallId = path_id(&path, "call")?;
    let (number, pdf) = state
        .with_connection(move |conn| {
            let row = store::find(conn, id)?;
            if !readable(&caller, &row) {
                return Err(ApiError::NotFound("call"));
            }
            document_pdf(conn, &row, kind)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{number}.pdf\""),
        ))
        .body(pdf))
}

/// `GET /v1/calls/{id}/document`: the call for funds as a PDF (the employer, the funder it is
/// addressed to, the mission, the operator).
pub async fn document(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve_document(state, caller, path, Document::Call).await
}

/// `GET /v1/calls/{id}/credit-note`: a cancelled call's credit note as a PDF; 404 for a call
/// that is not cancelled.
pub async fn credit_note(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve_document(state, caller, path, Document::CreditNote).await
}

/// `GET /v1/calls?funder_id=&employer_id=`: filtered to the caller's scope in the query.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<CallsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let format = Format::parse(q.format.as_deref())?;
    let (page, employer, funder) = PartiesQuery {
        funder_id: q.funder_id,
        employer_id: q.employer_id,
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    if format == Format::Csv {
        // The table holds every call the filters and the scope select, oldest first.
        let text = state
            .with_connection(move |conn| {
                let rows = store::all_selected(conn, caller.scope, employer, funder, CSV_MAX_ROWS)?;
                calls_table(conn, &rows)
            })
            .await?;
        return Ok(csv_response(text, "appels-de-fonds.csv"));
    }
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = store::page(conn, caller.scope, employer, funder, &page)?;
            Ok((views(conn, &rows)?, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// The most calls a table holds.
const CSV_MAX_ROWS: i64 = 100_000;

/// The query of `GET /v1/calls`: the parties, the page, and the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    funder_id: Option<String>,
    employer_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
}

/// The calls as a table for spreadsheets.
fn calls_table(conn: &mut DbConnection, rows: &[CallRow]) -> Result<String, ApiError> {
    let ids: Vec<CallId> = rows.iter().map(|c| c.id).collect();
    let mut paid = std::collections::HashMap::new();
    for chunk in ids.chunks(1_000) {
        paid.extend(store::paid(conn, chunk)?);
    }
    let employer_ids: Vec<EmployerId> = rows.iter().map(|c| c.employer_id).collect();
    let funder_ids: Vec<FunderId> = rows.iter().map(|c| c.funder_id).collect();
    let mut employer_names = std::collections::HashMap::new();
    let mut funder_names = std::collections::HashMap::new();
    for chunk in employer_ids.chunks(1_000) {
        employer_names.extend(db::employers::names(conn, Some(chunk))?);
    }
    for chunk in funder_ids.chunks(1_000) {
        funder_names.extend(db::funders::names(conn, chunk)?);
    }
    // The parties of a call are foreign keys: a name missing is a fault, not an empty cell.
    let name = |found: Option<&String>, what: &str, call: &CallRow| {
        found.cloned().ok_or_else(|| {
            ApiError::from(anyhow::anyhow!("call {} names an unknown {what}", call.id))
        })
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|call| -> Result<Vec<String>, ApiError> {
            let paid_cents = paid.get(&call.id).copied().unwrap_or(0);
            let outstanding = store::outstanding(call, paid_cents);
            Ok(vec![
                call.number.clone(),
                name(employer_names.get(&call.employer_id), "employer", call)?,
                name(funder_names.get(&call.funder_id), "funder", call)?,
                call.issued_on.to_string(),
                call.due_on.to_string(),
                store::status(call, paid_cents).to_owned(),
                tabular::amount(call.amount_cents),
                tabular::amount(paid_cents),
                tabular::amount(outstanding),
            ])
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(tabular::write(
        &[
            "number",
            "employer",
            "funder",
            "issued_on",
            "due_on",
            "status",
            "amount",
            "paid",
            "outstanding",
        ],
        &table,
    ))
}
