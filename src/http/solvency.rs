//! `GET /v1/posts/{id}/solvency?from=&to=`: a post's actuals month by month — cost,
//! allocated by funder, uncovered, coverage — and the cash side: called, paid, outstanding
//! and its aging.

use crate::auth::Caller;
use crate::db;
use crate::db::solvency::PostActuals;
use crate::domain::continuity::coverage;
use crate::domain::ids::{FunderId, PostId};
use crate::domain::statement::Aging;
use crate::domain::{clock, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, parse_param, path_id, Page, Query};
use crate::http::posts;
use crate::http::views::{AgingView, FiguresView};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
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

/// A funder's figures of a month.
#[derive(Debug, Serialize)]
struct FunderFigures {
    funder_id: FunderId,
    #[serde(flatten)]
    figures: FiguresView,
}

/// The cash side of a month, which every reader of the post sees (a funder its own part).
#[derive(Debug, Serialize)]
struct CashMonth {
    month: Month,
    allocated: Money,
    by_funder: Vec<FunderFigures>,
    called: Money,
    paid: Money,
    outstanding: Money,
    outstanding_by_age: AgingView,
}

/// A month as the employer, the mission and the operator see it: the cash side and the cost.
#[derive(Debug, Serialize)]
struct SolvencyMonth {
    #[serde(flatten)]
    cash: CashMonth,
    cost: Money,
    uncovered: Money,
    coverage: Option<String>,
}

/// A month as a caller sees it; a funder's has no field for the cost or the coverage.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MonthAnswer {
    Full(SolvencyMonth),
    Funder(CashMonth),
}

/// The page of months, as the caller may see them: this is the one place that decides.
fn solvency_page(
    post: PostId,
    actuals: &PostActuals,
    own_funder: Option<FunderId>,
    from: Option<Month>,
    to: Option<Month>,
    page: &Page,
) -> Result<(Vec<MonthAnswer>, Option<String>), ApiError> {
    let mine = |funder: &FunderId| own_funder.is_none_or(|own| own == *funder);
    let in_range = |m: &Month| from.is_none_or(|f| *m >= f) && to.is_none_or(|t| *m <= t);
    let mut cash: BTreeMap<Month, BTreeMap<FunderId, Cash>> = BTreeMap::new();
    for (month, funder, amount) in &actuals.allocation_lines {
        cash.entry(*month)
            .or_default()
            .entry(*funder)
            .or_default()
            .allocated += amount;
    }
    // Money settles each call's lines oldest month first.
    let today = clock::today();
    let mut aging: BTreeMap<Month, Aging> = BTreeMap::new();
    for call in &actuals.calls {
        if !mine(&call.funder_id) {
            continue;
        }
        for (line_post, month, amount, settled) in &call.lines {
            if *line_post != post {
                continue;
            }
            let figures = cash
                .entry(*month)
                .or_default()
                .entry(call.funder_id)
                .or_default();
            figures.called += amount;
            figures.paid += settled;
            aging
                .entry(*month)
                .or_default()
                .add(call.due_on, today, amount - settled);
        }
    }
    let after: Option<Month> = page
        .after
        .as_deref()
        .map(Month::parse)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let months: BTreeSet<Month> = actuals
        .cost_by_month
        .keys()
        .chain(actuals.allocated.iter())
        .filter(|m| in_range(m))
        .filter(|m| after.is_none_or(|after| **m > after))
        .filter(|m| own_funder.is_none() || cash.get(*m).is_some_and(|c| c.keys().any(&mine)))
        .copied()
        .collect();
    let selected: Vec<Month> = months.into_iter().take(page.limit as usize + 1).collect();
    let (selected, next) = page.finish(selected, |m| m.to_string());
    let empty = BTreeMap::new();
    let items = selected
        .into_iter()
        .map(|month| {
            let by_funder = cash.get(&month).unwrap_or(&empty);
            let mut total = Cash::default();
            let funders: Vec<FunderFigures> = by_funder
                .iter()
                .filter(|(f, _)| mine(f))
                .map(|(funder, c)| {
                    total.allocated += c.allocated;
                    total.called += c.called;
                    total.paid += c.paid;
                    FunderFigures {
                        funder_id: *funder,
                        figures: FiguresView::of(c.allocated, c.called, c.paid),
                    }
                })
                .collect();
            let cash_month = CashMonth {
                month,
                allocated: Money::from_cents(total.allocated),
                by_funder: funders,
                called: Money::from_cents(total.called),
                paid: Money::from_cents(total.paid),
                outstanding: Money::from_cents(total.called - total.paid),
                outstanding_by_age: aging.get(&month).copied().unwrap_or_default().into(),
            };
            match own_funder {
                Some(_) => MonthAnswer::Funder(cash_month),
                None => {
                    // A month listed with no cost was allocated with none (a reversal's net).
                    let cost = actuals.cost_by_month.get(&month).copied().unwrap_or(0);
                    MonthAnswer::Full(SolvencyMonth {
                        cash: cash_month,
                        cost: Money::from_cents(cost),
                        uncovered: Money::from_cents(cost - total.allocated),
                        coverage: coverage(total.allocated, cost),
                    })
                }
            }
        })
        .collect();
    Ok((items, next))
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
            let actuals = db::solvency::post_actuals(conn, post.row.id)?;
            let own_funder = caller.own_funder();
            solvency_page(post.row.id, &actuals, own_funder, from, to, &page)
        })
        .await?;
    Ok(page_response(items, next))
}
