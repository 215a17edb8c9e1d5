//! `GET /v1/reports/overview` and `GET /v1/reports/at-risk`: continuity for many posts at
//! once, with what each caller may see. The posts' facts are read in four queries and every
//! projection runs the same engine as `GET /v1/posts/{id}/continuity`.

use crate::auth::{Caller, Scope};
use crate::db::commitments::CommitmentRow;
use crate::db::keys::{hours_book, hours_in_force, RateBook};
use crate::db::posts::{Post, PostRow};
use crate::db::schema::{allocation_lines, commitments, employers, funders, posts};
use crate::db::DbConnection;
use crate::domain::allocation::Terms;
use crate::domain::continuity::{
    coverage, project, Continuity, ProjectionInput, Risk, DEFAULT_HORIZON_MONTHS,
};
use crate::domain::ids::{CommitmentId, EmployerId, FunderId, PostId};
use crate::domain::{clock, Fte, Money, Month, Percent};
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, parse_param, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// How many post ids one query binds at most.
const ID_CHUNK: usize = 5_000;

/// The regional goal of the 2013 convention: 3,000 mediation jobs.
pub const REGIONAL_TARGET_POSTS: i64 = 3_000;

/// A post with everything its projection needs.
pub struct PostFacts {
    /// The post and its budgets.
    pub post: Post,
    /// Its commitments, in creation order.
    pub commitments: Vec<CommitmentRow>,
    /// The projection as of the month asked.
    pub continuity: Continuity,
}

/// Which posts to project.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every post (the mission, the operator).
    All,
    /// The posts of one employer.
    Employer(EmployerId),
    /// The posts a funder has a commitment on.
    FundedBy(FunderId),
    /// One post.
    Post(PostId),
}

/// Reads the posts in force at `as_of` with their budgets, commitments and allocations before
/// `as_of`, and projects each of them.
pub fn project_posts(
    conn: &mut DbConnection,
    selection: &Selection,
    employer_filter: Option<EmployerId>,
    as_of: Month,
    horizon: i32,
    threshold: Percent,
) -> QueryResult<Vec<PostFacts>> {
    let mut q = posts::table
        .filter(posts::start_month.le(as_of))
        .filter(posts::end_month.is_null().or(posts::end_month.ge(as_of)))
        .order(posts::id)
        .select(PostRow::as_select())
        .into_boxed();
    match selection {
        Selection::All => {}
        Selection::Employer(id) => q = q.filter(posts::employer_id.eq(*id)),
        Selection::Post(id) => q = q.filter(posts::id.eq(*id)),
        Selection::FundedBy(funder) => {
            q = q.filter(
                posts::id.eq_any(
                    commitments::table
                        .filter(commitments::funder_id.eq(*funder))
                        .select(commitments::post_id),
                ),
            )
        }
    }
    if let Some(employer) = employer_filter {
        q = q.filter(posts::employer_id.eq(employer));
    }
    let rows: Vec<PostRow> = q.load(conn)?;
    // The whole region reads whole tables; a narrower selection reads its posts' rows only,
    // in chunks that stay within both databases' limits on bound values.
    let everything = matches!(selection, Selection::All) && employer_filter.is_none();
    let ids: Vec<PostId> = rows.iter().map(|r| r.id).collect();
    let chunks: Vec<&[PostId]> = if everything {
        vec![&[]]
    } else {
        ids.chunks(ID_CHUNK).collect()
    };

    let mut budgets: HashMap<PostId, Vec<(Month, i64)>> = HashMap::new();
    let mut by_post: HashMap<PostId, Vec<CommitmentRow>> = HashMap::new();
    let mut used: HashMap<CommitmentId, i64> = HashMap::new();
    for chunk in chunks {
        let mut c = commitments::table
            .order((commitments::created_at, commitments::id))
            .select(CommitmentRow::as_select())
            .into_boxed();
        let mut a = allocation_lines::table
            .filter(allocation_lines::month.lt(as_of))
            .group_by(allocation_lines::commitment_id)
            .select((
                allocation_lines::commitment_id,
                diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
                ),
            ))
            .into_boxed();
        budgets.extend(crate::db::posts::load_budgets(
            conn,
            (!everything).then_some(chunk),
        )?);
        if !everything {
            c = c.filter(commitments::post_id.eq_any(chunk));
            a = a.filter(allocation_lines::post_id.eq_any(chunk));
        }
        for row in c.load(conn)? {
            by_post.entry(row.post_id).or_default().push(row);
        }
        used.extend(a.load::<(CommitmentId, i64)>(conn)?);
    }

    let all_commitments: Vec<&CommitmentRow> = by_post.values().flatten().collect();
    let rates = RateBook::for_commitments(conn, &all_commitments)?;
    let mut keyed_posts: Vec<PostId> = all_commitments
        .iter()
        .filter(|c| c.basis == "activity")
        .map(|c| c.post_id)
        .collect();
    keyed_posts.sort();
    keyed_posts.dedup();
    let mut hours = HashMap::new();
    for chunk in keyed_posts.chunks(ID_CHUNK) {
        hours.extend(hours_in_force(conn, chunk, None)?);
    }

    rows.into_iter()
        .map(|row| {
            let post = Post {
                budgets: budgets.remove(&row.id).unwrap_or_default(),
                row,
            };
            let commitments = by_post.remove(&post.row.id).unwrap_or_default();
            let terms: Vec<Terms> = commitments
                .iter()
                .enumerate()
                .map(|(rank, c)| c.terms(rank as i64, &rates))
                .collect::<QueryResult<_>>()?;
            let hours = hours_book(hours.get(&post.row.id), &commitments, true);
            let before: Vec<i64> = commitments
                .iter()
                .map(|c| used.get(&c.id).copied().unwrap_or(0))
                .collect();
            let budget = |m: Month| post.budget_cents(m);
            let continuity = project(&ProjectionInput {
                as_of,
                horizon_months: horizon,
                threshold,
                post_end: post.end(),
                budget_cents: &budget,
                commitments: &terms,
                allocated_before: &before,
                hours: &hours,
            });
            Ok(PostFacts {
                post,
                commitments,
                continuity,
            })
        })
        .collect()
}

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

fn runway_bucket(runway: i32) -> &'static str {
    match runway {
        i32::MIN..=0 => "0",
        1..=2 => "1_2",
        3..=5 => "3_5",
        6..=11 => "6_11",
        12..=23 => "12_23",
        _ => "24_plus",
    }
}

#[derive(Default)]
struct Tally {
    posts: i64,
    fte_hundredths: i64,
    cost: i64,
    allocated: i64,
    runway: BTreeMap<&'static str, i64>,
    risk: BTreeMap<&'static str, i64>,
}

impl Tally {
    fn add(&mut self, facts: &PostFacts) {
        let first = facts.continuity.months.first();
        self.posts += 1;
        self.fte_hundredths += facts.post.row.fte_hundredths;
        self.cost += first.map_or(0, |m| m.cost_cents);
        self.allocated += first.map_or(0, |m| m.allocated_cents());
        *self
            .runway
            .entry(runway_bucket(facts.continuity.runway_months))
            .or_default() += 1;
        let risk = match facts.continuity.risk {
            Risk::Red => "red",
            Risk::Amber => "amber",
            Risk::Green => "green",
        };
        *self.risk.entry(risk).or_default() += 1;
    }

    fn view(&self) -> serde_json::Value {
        let mut runway = serde_json::Map::new();
        for bucket in ["0", "1_2", "3_5", "6_11", "12_23", "24_plus"] {
            runway.insert(
                bucket.into(),
                self.runway.get(bucket).copied().unwrap_or(0).into(),
            );
        }
        serde_json::json!({
            "posts": self.posts,
            "fte": format!("{}.{:02}", self.fte_hundredths / 100, self.fte_hundredths % 100),
            "monthly_cost": Money::from_cents(self.cost),
            "allocated": Money::from_cents(self.allocated),
            "uncovered": Money::from_cents(self.cost - self.allocated),
            "coverage": coverage(self.allocated, self.cost),
            "runway": runway,
            "risk": {
                "red": self.risk.get("red").copied().unwrap_or(0),
                "amber": self.risk.get("amber").copied().unwrap_or(0),
                "green": self.risk.get("green").copied().unwrap_or(0),
            },
        })
    }
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
            let facts = project_posts(conn, &Selection::All, employer, as_of, DEFAULT_HORIZON_MONTHS, Percent::HUNDRED)?;
            let names: HashMap<String, String> = employers::table
                .select((employers::id, employers::name))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect();
            let kinds: HashMap<FunderId, String> = funders::table
                .select((funders::id, funders::kind))
                .load::<(FunderId, String)>(conn)?
                .into_iter()
                .collect();
            let mut total = Tally::default();
            let mut by_employer: BTreeMap<String, Tally> = BTreeMap::new();
            let mut by_territory: BTreeMap<String, Tally> = BTreeMap::new();
            let mut by_activity: BTreeMap<String, Tally> = BTreeMap::new();
            let mut by_kind: BTreeMap<String, (HashSet<String>, i64)> = BTreeMap::new();
            for f in &facts {
                total.add(f);
                by_employer.entry(f.post.row.employer_id.to_string()).or_default().add(f);
                by_territory.entry(f.post.row.territory.clone()).or_default().add(f);
                by_activity.entry(f.post.row.activity.clone()).or_default().add(f);
                if let Some(first) = f.continuity.months.first() {
                    for (c, line) in f.commitments.iter().zip(&first.lines) {
                        // A commitment's funder exists (a foreign key), so its kind is known.
                        let kind = kinds.get(&c.funder_id).cloned().ok_or_else(|| {
                            diesel::result::Error::DeserializationError(
                                format!("commitment {} names unknown funder {}", c.id, c.funder_id).into(),
                            )
                        })?;
                        let entry = by_kind.entry(kind).or_default();
                        entry.0.insert(f.post.row.id.to_string());
                        entry.1 += line.unwrap_or(0);
                    }
                }
            }
            let grouped = |map: BTreeMap<String, Tally>, key: &str, names: Option<&HashMap<String, String>>| {
                map.into_iter()
                    .map(|(k, t)| {
                        let mut v = t.view();
                        if let Some(names) = names {
                            v["name"] = serde_json::Value::String(names.get(&k).cloned().unwrap_or_default());
                        }
                        v[key] = serde_json::Value::String(k);
                        v
                    })
                    .collect::<Vec<_>>()
            };
            let posts = total.posts;
            Ok(serde_json::json!({
                "as_of": as_of,
                "employer_id": employer,
                "target": {
                    "posts_target": REGIONAL_TARGET_POSTS,
                    "posts": posts,
                    "percent_of_target": coverage(posts, REGIONAL_TARGET_POSTS),
                },
                "totals": total.view(),
                "by_employer": grouped(by_employer, "employer_id", Some(&names)),
                "by_territory": grouped(by_territory, "territory", None),
                "by_activity": grouped(by_activity, "activity", None),
                "by_funder_kind": by_kind.into_iter().map(|(kind, (posts, allocated))| serde_json::json!({
                    "kind": kind, "posts": posts.len(), "allocated": Money::from_cents(allocated),
                })).collect::<Vec<_>>(),
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
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
            let mut facts = project_posts(conn, &selection, employer, as_of, DEFAULT_HORIZON_MONTHS, Percent::HUNDRED)?;
            facts.retain(|f| f.continuity.runway_months < within || !f.continuity.gaps.is_empty());
            facts.sort_by(|a, b| {
                (a.continuity.runway_months, &a.post.row.id).cmp(&(b.continuity.runway_months, &b.post.row.id))
            });
            let start = match &limit.after {
                Some(after) => facts.iter().position(|f| f.post.row.id.to_string() == *after).map_or(facts.len(), |i| i + 1),
                None => 0,
            };
            let page: Vec<&PostFacts> = facts.iter().skip(start).take(limit.limit as usize + 1).collect();
            let more = page.len() as i64 > limit.limit;
            let page = &page[..page.len().min(limit.limit as usize)];
            let next = if more { page.last().map(|f| f.post.row.id.to_string()) } else { None };
            let items: Vec<serde_json::Value> = page
                .iter()
                .map(|f| {
                    let expiring: Vec<serde_json::Value> = f
                        .continuity
                        .expiring
                        .iter()
                        .map(|&i| &f.commitments[i])
                        .filter(|c| own_funder.is_none_or(|own| own == c.funder_id))
                        .map(|c| serde_json::json!({
                            "commitment_id": c.id, "funder_id": c.funder_id, "basis": c.basis,
                            "end_month": c.end_month, "reference": c.reference,
                        }))
                        .collect();
                    serde_json::json!({
                        "post_id": f.post.row.id,
                        "employer_id": f.post.row.employer_id,
                        "title": f.post.row.title,
                        "territory": f.post.row.territory,
                        "activity": f.post.row.activity,
                        "fte": Fte::from_hundredths(f.post.row.fte_hundredths).map(|x| x.to_string()),
                        "funded_until": f.continuity.funded_until,
                        "runway_months": f.continuity.runway_months,
                        "gaps": f.continuity.gaps,
                        "risk": f.continuity.risk,
                        "expiring": expiring,
                    })
                })
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
