//! `GET /v1/posts/{id}/solvency?from=&to=`: a post's actuals month by month — cost,
//! allocated by funder, uncovered, coverage — and the cash side: called, paid, outstanding
//! and its aging.

use crate::auth::Caller;
use crate::db::calls as store;
use crate::db::schema::{allocated_months, allocation_lines, call_lines, calls, costs};
use crate::domain::continuity::coverage;
use crate::domain::ids::{CallId, FunderId};
use crate::domain::statement::Aging;
use crate::domain::{clock, Date, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, parse_param, path_id, Page, Query};
use crate::http::posts;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The query of the solvency endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolvencyQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Cash {
    allocated: i64,
    called: i64,
    paid: i64,
}

/// `GET /v1/posts/{id}/solvency?from=&to=` (employer, mission; a funder of the post sees its
/// own figures only, without cost, uncovered or coverage).
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<SolvencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let post_id = path_id(&path, "post")?;
    let q = query.0;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        Month::parse(c).ok().map(|m| m.to_string())
    })?;
    let from = parse_param("from", q.from.as_deref(), Month::parse)?;
    let to = parse_param("to", q.to.as_deref(), Month::parse)?;
    let (items, next) = state
        .with_connection(move |conn| {
            let post = posts::load_readable(conn, &caller, post_id)?;
            let post = post.row.id;
            let own_funder = caller.own_funder();
            let mine = |funder: &FunderId| own_funder.is_none_or(|own| own == *funder);
            let in_range = |m: &Month| from.is_none_or(|f| *m >= f) && to.is_none_or(|t| *m <= t);
            // Costs and allocations by month.
            let mut cost_by_month: BTreeMap<Month, i64> = BTreeMap::new();
            for (month, amount) in costs::table
                .filter(costs::post_id.eq(post))
                .select((costs::month, costs::amount_cents))
                .load::<(Month, i64)>(conn)?
            {
                *cost_by_month.entry(month).or_default() += amount;
            }
            let allocated_set: BTreeSet<Month> = allocated_months::table
                .filter(allocated_months::post_id.eq(post))
                .select(allocated_months::month)
                .load::<Month>(conn)?
                .into_iter()
                .collect();
            let mut cash: BTreeMap<Month, BTreeMap<FunderId, Cash>> = BTreeMap::new();
            for (month, funder, amount) in allocation_lines::table
                .filter(allocation_lines::post_id.eq(post))
                .select((
                    allocation_lines::month,
                    allocation_lines::funder_id,
                    allocation_lines::amount_cents,
                ))
                .load::<(Month, FunderId, i64)>(conn)?
            {
                cash.entry(month)
                    .or_default()
                    .entry(funder)
                    .or_default()
                    .allocated += amount;
            }
            // Calls touching the post: money settles each call's lines oldest month first.
            let call_ids: Vec<CallId> = call_lines::table
                .filter(call_lines::post_id.eq(post))
                .filter(
                    call_lines::call_id.eq_any(
                        calls::table
                            .filter(calls::cancelled_on.is_null())
                            .select(calls::id),
                    ),
                )
                .select(call_lines::call_id)
                .distinct()
                .load(conn)?;
            let lines = store::settled_lines(conn, &call_ids)?;
            let due: BTreeMap<CallId, (FunderId, Date)> = calls::table
                .filter(calls::id.eq_any(&call_ids))
                .select((calls::id, calls::funder_id, calls::due_on))
                .load::<(CallId, FunderId, Date)>(conn)?
                .into_iter()
                .map(|(id, funder, due)| (id, (funder, due)))
                .collect();
            let today = clock::today();
            let mut aging: BTreeMap<Month, Aging> = BTreeMap::new();
            for (id, call_lines) in lines {
                let (funder, due_on) = due.get(&id).copied().ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("call {id} has lines but no row"))
                })?;
                for (line_post, month, amount, settled) in call_lines {
                    if line_post != post || !mine(&funder) {
                        continue;
                    }
                    let figures = cash.entry(month).or_default().entry(funder).or_default();
                    figures.called += amount;
                    figures.paid += settled;
                    aging
                        .entry(month)
                        .or_default()
                        .add(due_on, today, amount - settled);
                }
            }
            let after: Option<Month> = page
                .after
                .as_deref()
                .map(Month::parse)
                .transpose()
                .map_err(anyhow::Error::from)?;
            let months: BTreeSet<Month> = cost_by_month
                .keys()
                .chain(allocated_set.iter())
                .filter(|m| in_range(m))
                .filter(|m| after.is_none_or(|after| **m > after))
                .filter(|m| {
                    own_funder.is_none() || cash.get(*m).is_some_and(|c| c.keys().any(&mine))
                })
                .copied()
                .collect();
            let selected: Vec<Month> = months.into_iter().take(page.limit as usize + 1).collect();
            let (selected, next) = page.finish(selected, |m| m.to_string());
            let items = selected
                .into_iter()
                .map(|month| {
                    let by_funder = cash.get(&month).cloned().unwrap_or_default();
                    let mut total = Cash::default();
                    let funders: Vec<serde_json::Value> = by_funder
                        .iter()
                        .filter(|(f, _)| mine(f))
                        .map(|(funder, c)| {
                            total.allocated += c.allocated;
                            total.called += c.called;
                            total.paid += c.paid;
                            serde_json::json!({
                                "funder_id": funder,
                                "allocated": Money::from_cents(c.allocated),
                                "called": Money::from_cents(c.called),
                                "paid": Money::from_cents(c.paid),
                                "outstanding": Money::from_cents(c.called - c.paid),
                            })
                        })
                        .collect();
                    let age = aging.get(&month).copied().unwrap_or_default();
                    let mut item = serde_json::json!({
                        "month": month,
                        "allocated": Money::from_cents(total.allocated),
                        "by_funder": funders,
                        "called": Money::from_cents(total.called),
                        "paid": Money::from_cents(total.paid),
                        "outstanding": Money::from_cents(total.called - total.paid),
                        "outstanding_by_age": {
                            "not_due": Money::from_cents(age.not_due),
                            "0_30": Money::from_cents(age.days_0_30),
                            "31_60": Money::from_cents(age.days_31_60),
                            "61_90": Money::from_cents(age.days_61_90),
                            "over_90": Money::from_cents(age.over_90),
                        },
                    });
                    if own_funder.is_none() {
                        let cost = cost_by_month.get(&month).copied().unwrap_or(0);
                        item["cost"] = serde_json::json!(Money::from_cents(cost));
                        item["uncovered"] =
                            serde_json::json!(Money::from_cents(cost - total.allocated));
                        item["coverage"] = serde_json::json!(coverage(total.allocated, cost));
                    }
                    item
                })
                .collect::<Vec<_>>();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
