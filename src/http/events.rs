//! `GET /v1/events`: the event log in commit order, each caller seeing its own copy through
//! the same views as the API (a funder its own lines only, never another funder's figures nor
//! the post's cost or uncovered part).

use crate::auth::{Caller, Scope};
use crate::db::events::{self as store, Audience, EventRow};
use crate::error::ApiError;
use crate::http::extract::{page_response, Page, Query};
use crate::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

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

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    types: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// An event as `caller` may see it, or `None` when its copy holds nothing for it.
fn view_for(row: &EventRow, caller: &Caller) -> Result<Option<Value>, ApiError> {
    let mut data: Value = serde_json::from_str(&row.data).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "event {} holds data that is not JSON: {e}",
            row.id
        ))
    })?;
    if let Scope::Funder(own) = caller.scope {
        if row.kind == "allocation.posted" {
            // Its own lines that changed, and nothing of the post's cost or the others.
            let own = own.to_string();
            let lines: Vec<Value> = data["lines"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .filter(|l| l["funder_id"] == own.as_str() && l["change"] != "0.00")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if lines.is_empty() {
                return Ok(None);
            }
            data = serde_json::json!({
                "post_id": data["post_id"],
                "month": data["month"],
                "lines": lines,
            });
        }
    }
    Ok(Some(serde_json::json!({
        "id": row.id,
        "type": row.kind,
        "occurred_at": row.occurred_at,
        "employer_id": row.employer_id,
        "data": data,
    })))
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
            .map(|t| {
                let t = t.trim();
                if EVENT_TYPES.contains(&t) {
                    Ok(t.to_owned())
                } else {
                    Err(ApiError::field(
                        "/types",
                        format!("{t:?} is not an event type ({})", EVENT_TYPES.join(", ")),
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let audience = match caller.scope {
        Scope::Admin | Scope::Mission => Audience::All,
        Scope::Employer(id) => Audience::Employer(id),
        Scope::Funder(id) => Audience::Funder(id),
    };
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
                if let Some(item) = view_for(row, &caller)? {
                    items.push(item);
                }
            }
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
