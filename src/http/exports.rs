//! `GET /v1/exports/fec` and `GET /v1/exports/journal`: an employer's journal as files an
//! accountant opens, the French FEC of a fiscal year and an hledger / ledger-cli journal.
//!
//! Both are streamed: the journal is read page by page inside one read transaction (a single
//! snapshot, so no entry is counted twice or missed across pages) on a blocking thread, and
//! each page is sent as it is written, so a large year never sits whole in memory.

use crate::auth::Caller;
use crate::db::exports::{accounts_in_books, entries_page, lettering, PageKey};
use crate::db::DbConnection;
use crate::domain::export::{
    beancount_header, fec_header, journal_header, subaccount_names, write_beancount_entry,
    write_fec_entry, write_journal_entry, ExportEntry, Party,
};
use std::collections::HashMap;

/// What a journal export reads before its entries: the accounts met in the books, and the
/// funders' sub-account names.
type JournalContext = (Vec<(String, Option<Party>)>, HashMap<String, String>);

/// Reads the [`JournalContext`] in the export's snapshot.
fn journal_context(conn: &mut DbConnection, employer: &str) -> anyhow::Result<JournalContext> {
    let accounts = accounts_in_books(conn, employer)?;
    let parties: Vec<Party> = accounts.iter().filter_map(|(_, p)| p.clone()).collect();
    let names = subaccount_names(&parties);
    Ok((accounts, names))
}
use crate::domain::ids::EmployerId;
use crate::domain::{Date, Month};
use crate::error::ApiError;
use crate::http::extract::{id_param, parse_param, Query};
use crate::http::ledger::books_in_scope;
use crate::state::AppState;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde::Deserialize;

/// Pages written ahead of a slow reader.
const PAGES_AHEAD: usize = 2;

/// The employer whose books are exported: as for the ledger, and the mission and the operator
/// must name one.
fn exported_employer(caller: &Caller, asked: Option<EmployerId>) -> Result<EmployerId, ApiError> {
    books_in_scope(caller, asked)?
        .ok_or_else(|| ApiError::field("/employer_id", "name the employer whose books to export"))
}

/// The employer's name, SIREN and the month its fiscal year ends in, or 404.
async fn employer_of(
    state: &AppState,
    id: EmployerId,
) -> Result<(String, Option<String>, i32), ApiError> {
    let row = state
        .with_connection(move |conn| Ok(crate::db::employers::find(conn, id)?))
        .await?;
    Ok((row.name, row.siren, row.fiscal_year_end_month))
}

/// The first and last days of the fiscal year that ends in `year`, on the last day of
/// `end_month` (12: the calendar year).
pub fn fiscal_year(year: i32, end_month: i32) -> Option<(Date, Date)> {
    let last = Month::new(year, u32::try_from(end_month).ok()?)?;
    let first = last.plus(-11)?;
    Some((first.first_day(), last.last_day()))
}

/// Hands a chunk to the answer's stream, waiting at most `idle` for a client that does not
/// read: one that stops reading is given up, and the export's connection goes back to the
/// pool. False when the chunk was not sent (the client left or stalled).
fn send_within(
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    chunk: Bytes,
    idle: std::time::Duration,
) -> bool {
    use tokio::sync::mpsc::error::TrySendError;
    let deadline = std::time::Instant::now() + idle;
    let mut item = Ok(chunk);
    loop {
        match sender.try_send(item) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if std::time::Instant::now() >= deadline {
                    tracing::warn!(
                        idle_ms = idle.as_millis() as u64,
                        "export abandoned: the client stopped reading"
                    );
                    return false;
                }
                item = back;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// Streams `head`, then the employer's entries dated within `dates`, each written by `write`
/// with what `prepare` read first in the same snapshot. The connection is taken before the
/// answer starts, so that a busy database answers 503 rather than a broken file.
async fn stream_entries<C>(
    state: &AppState,
    employer: EmployerId,
    dates: (Date, Date),
    head: impl FnOnce(&C) -> String + Send + 'static,
    prepare: impl FnOnce(&mut DbConnection, &str) -> anyhow::Result<C> + Send + 'static,
    mut write: impl FnMut(&mut String, &ExportEntry, &C) + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    // Exports take at most their share of the pool, so that health checks, reads and writes
    // always find a connection however many slow downloads run.
    let permit = state
        .exports
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::Unavailable("too many exports are running at once; retry shortly".to_owned())
        })?;
    let idle = state.exports.idle;
    let page_size = state.exports.page_size;
    let pool = state.pool.clone();
    let mut conn = web::block(move || pool.get()).await??;
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    let span = tracing::Span::current();
    actix_web::rt::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _permit = permit;
        let send = |chunk: Bytes| send_within(&sender, chunk, idle);
        let employer = employer.to_string();
        let mut written = 0usize;
        let outcome = crate::db::exports::read_snapshot(&mut conn, |conn| {
            let context = prepare(conn, &employer)?;
            if !send(Bytes::from(head(&context))) {
                return Ok(());
            }
            let mut after: Option<PageKey> = None;
            loop {
                let (entries, next) =
                    entries_page(conn, &employer, dates, after.as_ref(), page_size)?;
                let mut text = String::new();
                for entry in &entries {
                    write(&mut text, entry, &context);
                }
                written += entries.len();
                if !text.is_empty() && !send(Bytes::from(text)) {
                    // The client went away; nothing more to do.
                    return Ok(());
                }
                if next.is_none() {
                    return Ok(());
                }
                after = next;
            }
        });
        match outcome {
            Ok(()) => tracing::info!(entries = written, "export written"),
            Err(error) => {
                crate::db::drop_if_dead(&mut conn);
                tracing::error!(
                    error = format!("{error:#}"),
                    entries = written,
                    "export failed"
                );
                // The status is sent already: breaking the stream tells the client the file is
                // incomplete.
                let _ = sender.blocking_send(Err(std::io::Error::other("the export failed")));
            }
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .streaming(body))
}

fn attachment(response: &mut HttpResponse, filename: String) {
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(filename)],
    };
    if let Ok(value) = header::HeaderValue::from_str(&disposition.to_string()) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
}

/// The query of `GET /v1/exports/fec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FecQuery {
    employer_id: Option<String>,
    year: Option<String>,
}

/// `GET /v1/exports/fec?employer_id=&year=`: the FEC of the fiscal year that ends in `year`
/// (on the last day of the employer's `fiscal_year_end_month`), entries numbered in the order
/// they were recorded. The norm names the file by the SIREN: an employer without one is 422
/// `siren_required`.
pub async fn fec(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<FecQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let employer = exported_employer(&caller, id_param("employer_id", q.employer_id.as_deref())?)?;
    let year = q
        .year
        .as_deref()
        .ok_or_else(|| ApiError::field("/year", "name the fiscal year, such as 2026"))?;
    let bad_year = || ApiError::field("/year", "must be a year from 2001 to 2199");
    let year: i32 = match year.parse() {
        Ok(y) if year.len() == 4 => y,
        _ => return Err(bad_year()),
    };
    let (_, siren, end_month) = employer_of(&state, employer).await?;
    let dates = fiscal_year(year, end_month).ok_or_else(bad_year)?;
    let siren = siren.ok_or_else(|| {
        ApiError::unprocessable(
            "siren_required",
            "the FEC is named and filed by the employer's SIREN: register it first",
        )
    })?;
    let mut number = 0u64;
    let mut response = stream_entries(
        &state,
        employer,
        dates,
        |_| fec_header(),
        |conn, employer| Ok(lettering(conn, employer)?),
        move |out, entry, letters| {
            number += 1;
            write_fec_entry(out, number, entry, letters.get(&entry.id));
        },
    )
    .await?;
    // The norm's name: SIREN, "FEC", the closing date of the fiscal year.
    let closing = dates.1.to_string().replace('-', "");
    let filename = format!("{siren}FEC{closing}.txt");
    attachment(&mut response, filename);
    Ok(response)
}

/// The query of `GET /v1/exports/journal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    employer_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The plain-text formats of the books: the same entries, two syntaxes.
#[derive(Debug, Clone, Copy)]
enum TextBooks {
    /// hledger and ledger-cli.
    Journal,
    /// Beancount.
    Beancount,
}

/// Streams the employer's entries dated from `from` to `to` in one of the text formats.
async fn text_books(
    state: web::Data<AppState>,
    caller: Caller,
    query: JournalQuery,
    format: TextBooks,
) -> Result<HttpResponse, ApiError> {
    let employer = exported_employer(
        &caller,
        id_param("employer_id", query.employer_id.as_deref())?,
    )?;
    let from = parse_param("from", query.from.as_deref(), Date::parse)?.unwrap_or(Date::FIRST);
    let to = parse_param("to", query.to.as_deref(), Date::parse)?.unwrap_or(Date::LAST);
    if from > to {
        return Err(ApiError::field("/to", "must not be before from"));
    }
    let (name, _, _) = employer_of(&state, employer).await?;
    let title = format!(
        "portage-ledger books of {} ({employer}), entries dated {from} to {to}",
        name.replace(['\n', '\r'], " ")
    );
    let extension = match format {
        TextBooks::Journal => "journal",
        TextBooks::Beancount => "beancount",
    };
    let mut response = stream_entries(
        &state,
        employer,
        (from, to),
        move |(accounts, names): &JournalContext| match format {
            TextBooks::Journal => journal_header(&title, accounts, names),
            TextBooks::Beancount => beancount_header(&title, accounts, names),
        },
        journal_context,
        move |out, entry, (_, names)| match format {
            TextBooks::Journal => write_journal_entry(out, entry, names),
            TextBooks::Beancount => write_beancount_entry(out, entry, names),
        },
    )
    .await?;
    attachment(
        &mut response,
        format!("portage-{employer}-{from}-{to}.{extension}"),
    );
    Ok(response)
}

/// `GET /v1/exports/journal?employer_id=&from=&to=`: the journal for hledger or ledger-cli,
/// entries dated from `from` to `to` (inclusive, every date when absent).
pub async fn journal(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<JournalQuery>,
) -> Result<HttpResponse, ApiError> {
    text_books(state, caller, query.0, TextBooks::Journal).await
}

/// `GET /v1/exports/beancount?employer_id=&from=&to=`: the same entries as the journal export,
/// for Beancount (accounts opened, funders as sub-accounts), which `bean-check` accepts.
pub async fn beancount(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<JournalQuery>,
) -> Result<HttpResponse, ApiError> {
    text_books(state, caller, query.0, TextBooks::Beancount).await
}
