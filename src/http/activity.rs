//! `/v1/posts/{id}/activity`: a post's hours by activity commitment, month by month, which
//! split the cost among the funders whose conventions are written in hours. Each PUT adds a
//! record (the earlier ones are kept, with who recorded them); the latest is in force.

use crate::auth::{Caller, Scope};
use crate::db::commitments::{of_post, CommitmentRow};
use crate::db::keys::{record_hours, records_in_force, HoursRecord, StoredHours};
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::ids::{CommitmentId, PostId};
use crate::domain::{Hours, Month};
use crate::error::{ApiError, FieldError};
use crate::http::extract::{page_response, parse_param, path_id, Body, Page, Query};
use crate::http::posts;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One commitment's hours, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentHours {
    /// The activity commitment.
    pub commitment_id: CommitmentId,
    /// Its hours.
    pub hours: Hours,
}

/// The body of `PUT /v1/posts/{id}/activity/{month}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRecord {
    /// The hours by activity commitment.
    pub hours: Vec<CommitmentHours>,
    /// The hours on none of them.
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    pub other_hours: Option<Hours>,
}

impl crate::http::extract::SentBy for ActivityRecord {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// The checks a record needs beyond its fields: every commitment named is an activity
/// commitment of this post in force that month, named once; the month holds at most 744 hours.
fn check_record(
    record: &ActivityRecord,
    commitments: &[CommitmentRow],
    month: Month,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in record.hours.iter().enumerate() {
        let pointer = format!("/hours/{i}/commitment_id");
        if !seen.insert(line.commitment_id) {
            errors.push(FieldError::new(pointer, "this commitment is named twice"));
            continue;
        }
        let keyed = commitments.iter().any(|c| {
            c.id == line.commitment_id
                && c.basis == "activity"
                && c.start() <= month
                && month <= c.end()
        });
        if !keyed {
            errors.push(FieldError::new(
                pointer,
                format!("not an activity commitment of this post in force in {month}"),
            ));
        }
    }
    let total: i64 = record
        .hours
        .iter()
        .map(|h| h.hours.hundredths())
        .sum::<i64>()
        + record.other_hours.unwrap_or_default().hundredths();
    if total > Hours::MONTH_MAX.hundredths() {
        errors.push(FieldError::new(
            "/hours",
            format!("a month holds at most {} hours in all", Hours::MONTH_MAX),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// One commitment's hours in a record.
#[derive(Debug, Serialize)]
struct HoursView {
    commitment_id: CommitmentId,
    hours: Hours,
}

/// A record as the employer, the mission and the operator see it.
#[derive(Debug, Serialize)]
pub struct RecordView {
    month: Month,
    hours: Vec<HoursView>,
    other_hours: Hours,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// A record as a funder sees it: its own commitments' hours, and no other hours.
#[derive(Debug, Serialize)]
pub struct FunderRecordView {
    month: Month,
    hours: Vec<HoursView>,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// The view of a record a caller gets.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RecordAnswer {
    /// The employer's side.
    Full(RecordView),
    /// A funder's.
    Funder(FunderRecordView),
}

fn hours_of(hundredths: i64, what: &str) -> Result<Hours, ApiError> {
    // Hours are stored as checked; a negative count is a corrupt row, never zero hours.
    Hours::from_hundredths(hundredths)
        .ok_or_else(|| anyhow::anyhow!("stored {what} {hundredths} are not hours").into())
}

/// A record as `caller` may see it: a funder sees its own commitments' hours only, and no
/// other hours. The one place that decides.
fn view(
    record: &HoursRecord,
    caller: &Caller,
    commitments: &[CommitmentRow],
) -> Result<RecordAnswer, ApiError> {
    let own = |id: &CommitmentId| match caller.scope {
        Scope::Funder(funder) => commitments
            .iter()
            .any(|c| c.id == *id && c.funder_id == funder),
        _ => true,
    };
    let hours: Vec<HoursView> = record
        .stored
        .by_commitment
        .iter()
        .filter(|(id, _)| own(id))
        .map(|(id, h)| {
            Ok(HoursView {
                commitment_id: *id,
                hours: hours_of(*h, "hours")?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let recorded_by = db::recorded_by_view(&record.recorded_by.0, &record.recorded_by.1);
    Ok(match caller.own_funder() {
        Some(_) => RecordAnswer::Funder(FunderRecordView {
            month: record.month,
            hours,
            recorded_by,
            recorded_at: record.recorded_at.clone(),
        }),
        None => RecordAnswer::Full(RecordView {
            month: record.month,
            hours,
            other_hours: hours_of(record.stored.other_hundredths, "other hours")?,
            recorded_by,
            recorded_at: record.recorded_at.clone(),
        }),
    })
}

/// Records a month's hours of a post in the caller's write transaction, with every check:
/// the post in the caller's scope and months, the month open, the commitments those of the
/// post in force. Answers the record now in force, as the caller may see it.
pub fn record_checked(
    conn: &mut DbConnection,
    caller: &Caller,
    post_id: PostId,
    month: Month,
    record: &ActivityRecord,
) -> Result<RecordAnswer, ApiError> {
    let post = posts::load_writable(conn, caller, post_id)?;
    db::lock_employer(conn, post.employer_id)?;
    post.check_month(month)?;
    db::periods::check_open(conn, post.employer_id, month)?;
    let commitments = of_post(conn, post_id)?;
    check_record(record, &commitments, month)?;
    let stored = StoredHours {
        other_hundredths: record.other_hours.unwrap_or_default().hundredths(),
        by_commitment: record
            .hours
            .iter()
            .map(|h| (h.commitment_id, h.hours.hundredths()))
            .collect(),
    };
    record_hours(
        conn,
        post.employer_id,
        post_id,
        month,
        &stored,
        &caller.recorder(),
    )?;
    tracing::info!(post_id = %post_id, %month, "hours recorded");
    let stored = records_in_force(conn, post_id, Some(month), Some(month))?;
    let record = stored
        .first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a record of hours read back empty")))?;
    view(record, caller, &commitments)
}

/// `PUT /v1/posts/{id}/activity/{month}` (the post's employer, the operator): the month's
/// hours. Answers 200 with the record now in force.
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Body<ActivityRecord>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let (id, month) = path.into_inner();
    let post_id: PostId = path_id(&id, "post")?;
    let month = Month::parse(&month).map_err(|e| ApiError::field("/month", e.to_string()))?;
    let record = body.value;
    let body = state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                let view = record_checked(conn, &caller, post_id, month, &record)?;
                let employer = posts::load_writable(conn, &caller, post_id)?.employer_id;
                crate::db::sweep::after_write(
                    conn,
                    crate::db::sweep::SweepScope::Post(employer, post_id),
                )?;
                Ok(view)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// The query of `GET /v1/posts/{id}/activity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/posts/{id}/activity?from=&to=`: the records in force, month by month (the
/// employer, the mission, the operator; a funder of the post sees its own hours only).
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let post_id: PostId = path_id(&path, "post")?;
    let q = query.0;
    let from = parse_param("from", q.from.as_deref(), Month::parse)?;
    let to = parse_param("to", q.to.as_deref(), Month::parse)?;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        Month::parse(c).ok().map(|m| m.to_string())
    })?;
    let (items, next) = state
        .with_connection(move |conn| {
            posts::load_readable(conn, &caller, post_id)?;
            let commitments = of_post(conn, post_id)?;
            let after = page
                .after
                .as_deref()
                .and_then(|c| Month::parse(c).ok())
                .and_then(|m| m.plus(1));
            let start = match (from, after) {
                (Some(f), Some(a)) => Some(f.max(a)),
                (f, a) => f.or(a),
            };
            let records = records_in_force(conn, post_id, start, to)?;
            let (records, next) = page.finish(records, |r| r.month.to_string());
            let items: Vec<RecordAnswer> = records
                .iter()
                .map(|r| view(r, &caller, &commitments))
                .collect::<Result<_, ApiError>>()?;
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
