//! `GET /v1/reports/overview` and `GET /v1/reports/at-risk`: continuity for many posts at
//! once, with what each caller may see. The posts' facts are read in four queries and every
//! projection runs the same engine as `GET /v1/posts/{id}/continuity`.

use crate::auth::{Caller, Scope};
use crate::db;
use crate::db::projection::{project_posts, PostFacts, Selection};
use crate::domain::continuity::{coverage, Risk, DEFAULT_HORIZON_MONTHS};
use crate::domain::ids::{EmployerId, FunderId, PostId};
use crate::domain::{clock, Fte, Money, Month, Percent};
use crate::error::ApiError;
use crate::http::continuity::{expiring_views, ExpiringView};
use crate::http::extract::{id_param, page_response, parse_param, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// The regional goal of the 2013 convention: 3,000 mediation jobs.
pub const REGIONAL_TARGET_POSTS: i64 = 3_000;

/// The reports' common query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    as_of: Option<String>,
    employer_id: Option<String>,
    within: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn as_of_month(q: &ReportQuery) -> Result<Month, ApiError> {
    Ok(parse_param("as_of", q.as_of.as_deref(), Month::parse)?
        .unwrap_or_else(|| clock::today().month()))
}

#[derive(Default)]
struct Tally {
    posts: i64,
    fte_hundredths: i64,
    cost: i64,
    allocated: i64,
    runway: RunwayView,
    risk: RiskView,
}

/// Posts by runway, in months.
#[derive(Debug, Default, Serialize)]
struct RunwayView {
    #[serde(rename = "0")]
    none: i64,
    #[serde(rename = "1_2")]
    one_to_two: i64,
    #[serde(rename = "3_5")]
    three_to_five: i64,
    #[serde(rename = "6_11")]
    six_to_eleven: i64,
    #[serde(rename = "12_23")]
    twelve_to_twenty_three: i64,
    #[serde(rename = "24_plus")]
    two_years_or_more: i64,
}

impl RunwayView {
    fn count(&mut self, runway: i32) {
        let bucket = match runway {
            i32::MIN..=0 => &mut self.none,
            1..=2 => &mut self.one_to_two,
            3..=5 => &mut self.three_to_five,
            6..=11 => &mut self.six_to_eleven,
            12..=23 => &mut self.twelve_to_twenty_three,
            _ => &mut self.two_years_or_more,
        };
        *bucket += 1;
    }
}

/// Posts by risk.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct RiskView {
    red: i64,
    amber: i64,
    green: i64,
}

/// The figures of a group of posts.
#[derive(Debug, Serialize)]
struct TallyView {
    posts: i64,
    fte: String,
    monthly_cost: Money,
    allocated: Money,
    uncovered: Money,
    coverage: Option<String>,
    runway: RunwayView,
    risk: RiskView,
}

impl Tally {
    fn add(&mut self, facts: &PostFacts) {
        let first = facts.continuity.months.first();
        self.posts += 1;
        self.fte_hundredths += facts.post.row.fte_hundredths;
        self.cost += first.map_or(0, |m| m.cost_cents);
        self.allocated += first.map_or(0, |m| m.allocated_cents());
        self.runway.count(facts.continuity.runway_months);
        match facts.continuity.risk {
            Risk::Red => self.risk.red += 1,
            Risk::Amber => self.risk.amber += 1,
            Risk::Green => self.risk.green += 1,
        }
    }

    fn view(self) -> TallyView {
        TallyView {
            posts: self.posts,
            fte: format!(
                "{}.{:02}",
                self.fte_hundredths / 100,
                self.fte_hundredths % 100
            ),
            monthly_cost: Money::from_cents(self.cost),
            allocated: Money::from_cents(self.allocated),
            uncovered: Money::from_cents(self.cost - self.allocated),
            coverage: coverage(self.allocated, self.cost),
            runway: self.runway,
            risk: self.risk,
        }
    }
}

/// The overview's answer.
#[derive(Debug, Serialize)]
struct OverviewView {
    as_of: Month,
    employer_id: Option<EmployerId>,
    target: TargetView,
    totals: TallyView,
    by_employer: Vec<EmployerTally>,
    by_territory: Vec<TerritoryTally>,
    by_activity: Vec<ActivityTally>,
    by_funder_kind: Vec<FunderKindTally>,
}

#[derive(Debug, Serialize)]
struct TargetView {
    posts_target: i64,
    posts: i64,
    percent_of_target: Option<String>,
}

#[derive(Debug, Serialize)]
struct EmployerTally {
    employer_id: EmployerId,
    name: String,
    #[serde(flatten)]
    tally: TallyView,
}

#[derive(Debug, Serialize)]
struct TerritoryTally {
    territory: String,
    #[serde(flatten)]
    tally: TallyView,
}

#[derive(Debug, Serialize)]
struct ActivityTally {
    activity: String,
    #[serde(flatten)]
    tally: TallyView,
}

#[derive(Debug, Serialize)]
struct FunderKindTally {
    kind: String,
    posts: usize,
    allocated: Money,
}

/// A post at risk; a funder's list holds its own expiring commitments only.
#[derive(Debug, Serialize)]
struct AtRiskView {
    post_id: PostId,
    employer_id: EmployerId,
    title: String,
    territory: String,
    activity: String,
    fte: Option<String>,
    funded_until: Option<Month>,
    runway_months: i32,
    gaps: Vec<Month>,
    risk: Risk,
    expiring: Vec<ExpiringView>,
}

/// `GET /v1/reports/overview?as_of=&employer_id=` (mission, operator; an employer for itself).
pub async fn overview(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    if q.within.is_some() || q.limit.is_some() || q.cursor.is_some() {
        return Err(ApiError::field(
            "/",
            "the overview takes as_of and employer_id only",
        ));
    }
    if let Scope::Funder(_) = caller.scope {
        return Err(ApiError::Forbidden(
            "the overview is for employers and the mission; funders read the at-risk list".into(),
        ));
    }
    let as_of = as_of_month(&q)?;
    let employer = caller.employer_in_scope(id_param("employer_id", q.employer_id.as_deref())?)?;
    let body = state
        .with_connection(move |conn| {
            let facts = project_posts(
                conn,
                &Selection::All,
                employer,
                as_of,
                DEFAULT_HORIZON_MONTHS,
                Percent::HUNDRED,
            )?;
            let names = db::employers::names(conn, None)?;
            let kinds = db::funders::kinds(conn)?;
            overview_of(&facts, as_of, employer, &names, &kinds)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Groups the projections of the posts in force; an employer or funder the rows name but the
/// registry does not know is a fault (they are foreign keys), never an empty name.
fn overview_of(
    facts: &[PostFacts],
    as_of: Month,
    employer: Option<EmployerId>,
    names: &HashMap<EmployerId, String>,
    kinds: &HashMap<FunderId, String>,
) -> Result<OverviewView, ApiError> {
    let mut total = Tally::default();
    let mut by_employer: BTreeMap<EmployerId, Tally> = BTreeMap::new();
    let mut by_territory: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_activity: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, (HashSet<PostId>, i64)> = BTreeMap::new();
    for f in facts {
        total.add(f);
        by_employer
            .entry(f.post.row.employer_id)
            .or_default()
            .add(f);
        by_territory
            .entry(f.post.row.territory.clone())
            .or_default()
            .add(f);
        by_activity
            .entry(f.post.row.activity.clone())
            .or_default()
            .add(f);
        if let Some(first) = f.continuity.months.first() {
            for (c, line) in f.commitments.iter().zip(&first.lines) {
                let kind = kinds.get(&c.funder_id).cloned().ok_or_else(|| {
                    anyhow::anyhow!("commitment {} names unknown funder {}", c.id, c.funder_id)
                })?;
                let entry = by_kind.entry(kind).or_default();
                entry.0.insert(f.post.row.id);
                entry.1 += line.unwrap_or(0);
            }
        }
    }
    let by_employer = by_employer
        .into_iter()
        .map(|(employer_id, tally)| {
            let name = names
                .get(&employer_id)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("a post names unknown employer {employer_id}"))?;
            Ok(EmployerTally {
                employer_id,
                name,
                tally: tally.view(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let posts = total.posts;
    Ok(OverviewView {
        as_of,
        employer_id: employer,
        target: TargetView {
            posts_target: REGIONAL_TARGET_POSTS,
            posts,
            percent_of_target: coverage(posts, REGIONAL_TARGET_POSTS),
        },
        totals: total.view(),
        by_employer,
        by_territory: by_territory
            .into_iter()
            .map(|(territory, tally)| TerritoryTally {
                territory,
                tally: tally.view(),
            })
            .collect(),
        by_activity: by_activity
            .into_iter()
            .map(|(activity, tally)| ActivityTally {
                activity,
                tally: tally.view(),
            })
            .collect(),
        by_funder_kind: by_kind
            .into_iter()
            .map(|(kind, (posts, allocated))| FunderKindTally {
                kind,
                posts: posts.len(),
                allocated: Money::from_cents(allocated),
            })
            .collect(),
    })
}
/// `GET /v1/reports/at-risk?as_of=&within=`: posts whose runway is under `within` months
/// (default 6) or that have a gap, soonest first, with their expiring commitments.
pub async fn at_risk(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let as_of = as_of_month(&q)?;
    let within = parse_param("within", q.within.as_deref(), |w| {
        w.parse::<i32>()
            .ok()
            .filter(|w| (1..=120).contains(w))
            .ok_or("must be a whole number of months from 1 to 120")
    })?
    .unwrap_or(6);
    let limit =
        crate::http::extract::Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
            Uuid::parse_str(c).ok().map(|id| id.to_string())
        })?;
    let asked = id_param("employer_id", q.employer_id.as_deref())?;
    let selection = match caller.scope {
        Scope::Funder(own) => Selection::FundedBy(own),
        _ => Selection::All,
    };
    let employer = caller.employer_in_scope(asked)?;
    let own_funder = caller.own_funder();
    let (items, next) = state
        .with_connection(move |conn| {
            let mut facts = project_posts(
                conn,
                &selection,
                employer,
                as_of,
                DEFAULT_HORIZON_MONTHS,
                Percent::HUNDRED,
            )?;
            facts.retain(|f| f.continuity.runway_months < within || !f.continuity.gaps.is_empty());
            facts.sort_by(|a, b| {
                (a.continuity.runway_months, &a.post.row.id)
                    .cmp(&(b.continuity.runway_months, &b.post.row.id))
            });
            let start = match &limit.after {
                Some(after) => facts
                    .iter()
                    .position(|f| f.post.row.id.to_string() == *after)
                    .map_or(facts.len(), |i| i + 1),
                None => 0,
            };
            let page: Vec<&PostFacts> = facts
                .iter()
                .skip(start)
                .take(limit.limit as usize + 1)
                .collect();
            let more = page.len() as i64 > limit.limit;
            let page = &page[..page.len().min(limit.limit as usize)];
            let next = if more {
                page.last().map(|f| f.post.row.id.to_string())
            } else {
                None
            };
            let items: Vec<AtRiskView> = page
                .iter()
                .map(|f| AtRiskView {
                    post_id: f.post.row.id,
                    employer_id: f.post.row.employer_id,
                    title: f.post.row.title.clone(),
                    territory: f.post.row.territory.clone(),
                    activity: f.post.row.activity.clone(),
                    fte: Fte::from_hundredths(f.post.row.fte_hundredths).map(|x| x.to_string()),
                    funded_until: f.continuity.funded_until,
                    runway_months: f.continuity.runway_months,
                    gaps: f.continuity.gaps.clone(),
                    risk: f.continuity.risk,
                    expiring: expiring_views(f, own_funder),
                })
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
