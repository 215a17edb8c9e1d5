//! `/v1/posts/{id}/activity`: a post's hours by activity commitment, month by month, which
//! split the cost among the funders whose conventions are written in hours. Each PUT adds a
//! record (the earlier ones are kept, with who recorded them); the latest is in force.

use crate::auth::{Caller, Scope};
use crate::db::commitments::{of_post, CommitmentRow};
use crate::db::keys::{hours_in_force, record_hours, StoredHours};
use crate::db::schema::activity_records;
use crate::db::{self, DbConnection};
use crate::domain::ids::{CommitmentId, PostId};
use crate::domain::{Hours, Month};
use crate::error::{ApiError, FieldError};
use crate::http::extract::{page_response, parse_param, path_id, Body, Page, Query};
use crate::http::posts;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

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

/// A record as stored, with who recorded it.
struct Record {
    month: Month,
    stored: StoredHours,
    recorded_by: (String, String),
    recorded_at: String,
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

/// The records in force of a post, by month, with who recorded them.
fn records_of(
    conn: &mut DbConnection,
    post_id: PostId,
    from: Option<Month>,
    to: Option<Month>,
) -> QueryResult<Vec<Record>> {
    let stored = hours_in_force(conn, &[post_id], from)?
        .remove(&post_id)
        .unwrap_or_default();
    let months: Vec<Month> = stored
        .keys()
        .copied()
        .filter(|m| to.is_none_or(|t| *m <= t))
        .collect();
    // Who recorded each month's record in force: the latest row of the month.
    let mut who: BTreeMap<Month, ((String, String), String)> = BTreeMap::new();
    if !months.is_empty() {
        let rows: Vec<(Month, String, String, String)> = activity_records::table
            .filter(activity_records::post_id.eq(post_id))
            .filter(activity_records::month.eq_any(&months))
            .order((activity_records::created_at, activity_records::id))
            .select((
                activity_records::month,
                activity_records::recorded_by_sub,
                activity_records::recorded_by_role,
                activity_records::created_at,
            ))
            .load(conn)?;
        for (month, sub, role, at) in rows {
            who.insert(month, ((sub, role), at));
        }
    }
    let mut stored = stored;
    Ok(months
        .into_iter()
        .filter_map(|month| {
            let (recorded_by, recorded_at) = who.remove(&month)?;
            Some(Record {
                month,
                stored: stored.remove(&month)?,
                recorded_by,
                recorded_at,
            })
        })
        .collect())
}

/// A record as `caller` may see it: a funder sees its own commitments' hours only, and no
/// other hours.
fn view(record: &Record, caller: &Caller, commitments: &[CommitmentRow]) -> serde_json::Value {
    let own = |id: &CommitmentId| match caller.scope {
        Scope::Funder(funder) => commitments
            .iter()
            .any(|c| c.id == *id && c.funder_id == funder),
        _ => true,
    };
    let hours: Vec<serde_json::Value> = record
        .stored
        .by_commitment
        .iter()
        .filter(|(id, _)| own(id))
        .map(|(id, h)| {
            serde_json::json!({
                "commitment_id": id,
                "hours": Hours::from_hundredths(*h).unwrap_or_default(),
            })
        })
        .collect();
    let mut body = serde_json::json!({
        "month": record.month,
        "hours": hours,
        "recorded_by": db::recorded_by_view(&record.recorded_by.0, &record.recorded_by.1),
        "recorded_at": record.recorded_at,
    });
    if caller.own_funder().is_none() {
        body["other_hours"] = serde_json::json!(Hours::from_hundredths(
            record.stored.other_hundredths
        )
        .unwrap_or_default());
    }
    body
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
) -> Result<serde_json::Value, ApiError> {
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
    let stored = records_of(conn, post_id, Some(month), Some(month))?;
    let record = stored
        .first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a record of hours read back empty")))?;
    Ok(view(record, caller, &commitments))
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
                crate::http::sweep::after_write(
                    conn,
                    crate::http::sweep::SweepScope::Post(employer, post_id),
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
            let records = records_of(conn, post_id, start, to)?;
            let (records, next) = page.finish(records, |r| r.month.to_string());
            let items: Vec<serde_json::Value> = records
                .iter()
                .map(|r| view(r, &caller, &commitments))
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
