//! `GET /v1/events`: the event log in commit order, each caller seeing its own copy through
//! the same views as the API (a funder its own lines only, never another funder's figures nor
//! the post's cost or uncovered part).

use crate::auth::Caller;
use crate::db::events::{self as store, Audience};
use crate::error::ApiError;
use crate::http::extract::{page_response, Page, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// Every event type (API.md).
pub const EVENT_TYPES: [&str; 11] = [
    "allocation.posted",
    "call.issued",
    "call.cancelled",
    "call.overdue",
    "payment.received",
    "period.closed",
    "commitment.expiring",
    "commitment.cap_used",
    "post.risk_changed",
    "webhook.disabled",
    "webhook.test",
];

/// A type a request names (at `pointer`), if it is one of [`EVENT_TYPES`].
pub fn event_type(pointer: &str, name: &str) -> Result<&'static str, ApiError> {
    EVENT_TYPES
        .iter()
        .find(|known| **known == name)
        .copied()
        .ok_or_else(|| {
            ApiError::field(
                pointer,
                format!("{name:?} is not an event type ({})", EVENT_TYPES.join(", ")),
            )
        })
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    types: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/events?types=&cursor=&limit=`: every role, its own scope, in commit order.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        c.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.to_string())
    })?;
    let types: Vec<String> = match q.types.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|t| event_type("/types", t.trim()).map(str::to_owned))
            .collect::<Result<_, _>>()?,
    };
    let audience = Audience::from(caller.scope);
    let after: i64 = page
        .after
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (items, next) = state
        .with_connection(move |conn| {
            let rows = store::page(conn, audience, &types, after, page.limit + 1)?;
            let (rows, next) = page.finish(rows, |r| r.seq.to_string());
            let mut items = Vec::new();
            for row in &rows {
                if let Some(item) = row
                    .view(audience)
                    .map_err(|e| ApiError::Internal(e.into()))?
                {
                    items.push(item);
                }
            }
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
