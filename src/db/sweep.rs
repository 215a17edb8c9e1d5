//! The sweep: the events that time alone brings (a call overdue, a convention nearing its end,
//! a cap nearly spent, a post whose continuity risk changed), each recorded once. It runs at
//! start and every hour over everything, and after the writes that can change them for the
//! employer they touch, in their transaction.

use crate::db::calls::{self as call_store, CallRow};
use crate::db::commitments::{allocated_to_date, CommitmentRow};
use crate::db::events::{self, NewEvent};
use crate::db::projection::{project_posts, Selection};
use crate::db::schema::{calls, commitments, post_risks};
use crate::db::DbConnection;
use crate::domain::continuity::{Risk, DEFAULT_HORIZON_MONTHS, EXPIRING_WITHIN_MONTHS};
use crate::domain::events::{
    CallOverdue, CommitmentCapUsed, CommitmentExpiring, EventData, PostRiskChanged,
};
use crate::domain::ids::{CommitmentId, EmployerId, PostId};
use crate::domain::{Date, Money, Percent};
use diesel::prelude::*;
use std::collections::HashMap;

/// The advisory lock a sweep holds on PostgreSQL, so that several servers sweep one at a time.
const SWEEP_LOCK: i64 = 0x5054_5357_4545_5021; // "PTSWEEP!"

/// What a sweep covers. The risk of a post is the costly part (a projection): a sweep after a
/// write projects only the posts the write can have moved.
#[derive(Debug, Clone, Copy)]
pub enum SweepScope {
    /// Every employer.
    All,
    /// One employer and all its posts (an employer-wide run, an import).
    Employer(EmployerId),
    /// One employer, and the risk of one of its posts (a write about that post).
    Post(EmployerId, PostId),
    /// One employer, no risk: calls and payments move no allocation.
    Money(EmployerId),
}

/// Records the events time has brought, as of `today`, in the caller's write transaction;
/// answers how many were recorded.
pub fn sweep(conn: &mut DbConnection, scope: SweepScope, today: Date) -> QueryResult<usize> {
    if let DbConnection::Postgresql(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SWEEP_LOCK})")).execute(c)?;
    }
    let employer = match scope {
        SweepScope::All => None,
        SweepScope::Employer(id) | SweepScope::Post(id, _) | SweepScope::Money(id) => Some(id),
    };
    let mut new = Vec::new();

    // Calls past their due date with something outstanding: once per call.
    let mut q = calls::table
        .filter(calls::cancelled_on.is_null())
        .filter(calls::due_on.lt(today))
        .select(CallRow::as_select())
        .into_boxed();
    if let Some(id) = employer {
        q = q.filter(calls::employer_id.eq(id));
    }
    let overdue: Vec<CallRow> = q.load(conn)?;
    let ids: Vec<_> = overdue.iter().map(|c| c.id).collect();
    let mut paid = HashMap::new();
    for chunk in ids.chunks(1_000) {
        paid.extend(call_store::paid(conn, chunk)?);
    }
    for call in &overdue {
        let outstanding = call.amount_cents - paid.get(&call.id).copied().unwrap_or(0);
        if outstanding > 0 {
            new.push(NewEvent {
                employer_id: Some(call.employer_id),
                funders: vec![call.funder_id],
                data: EventData::CallOverdue(CallOverdue {
                    call_id: call.id,
                    number: call.number.clone(),
                    funder_id: call.funder_id,
                    due_on: call.due_on,
                    outstanding: Money::from_cents(outstanding),
                }),
                once_key: Some(format!("call.overdue:{}", call.id)),
            });
        }
    }

    // Commitments ending within the window of `expiring`, and caps reaching 80 % and 100 %.
    let this_month = today.month();
    let window_end = this_month
        .plus(EXPIRING_WITHIN_MONTHS)
        .unwrap_or(this_month);
    let mut q = commitments::table
        .filter(commitments::end_month.ge(this_month))
        .select(CommitmentRow::as_select())
        .into_boxed();
    if let Some(id) = employer {
        q = q.filter(commitments::employer_id.eq(id));
    }
    let rows: Vec<CommitmentRow> = match scope {
        // Calls and payments allocate nothing: they bring no commitment nearer its cap, and
        // its end comes nearer with time alone, which the hourly sweep sees.
        SweepScope::Money(_) => Vec::new(),
        // A write about one post changes only that post's commitments: reading the employer's
        // every time made each commitment of a large employer's load cost as many as it had.
        SweepScope::Post(_, post) => q.filter(commitments::post_id.eq(post)).load(conn)?,
        SweepScope::All | SweepScope::Employer(_) => q.load(conn)?,
    };
    let capped: Vec<CommitmentId> = rows
        .iter()
        .filter(|c| c.cap_cents.is_some())
        .map(|c| c.id)
        .collect();
    let mut used = HashMap::new();
    for chunk in capped.chunks(1_000) {
        used.extend(allocated_to_date(conn, chunk)?);
    }
    for c in &rows {
        if c.end_month <= window_end {
            new.push(NewEvent {
                employer_id: Some(c.employer_id),
                funders: vec![c.funder_id],
                data: EventData::CommitmentExpiring(CommitmentExpiring {
                    commitment_id: c.id,
                    post_id: c.post_id,
                    funder_id: c.funder_id,
                    end_month: c.end_month,
                }),
                once_key: Some(format!("commitment.expiring:{}:{}", c.id, c.end_month)),
            });
        }
        if let Some(cap) = c.cap_cents {
            let spent = used.get(&c.id).copied().unwrap_or(0);
            for level in [80i64, 100] {
                if i128::from(spent) * 100 >= i128::from(cap) * i128::from(level) {
                    new.push(NewEvent {
                        employer_id: Some(c.employer_id),
                        funders: vec![c.funder_id],
                        data: EventData::CommitmentCapUsed(CommitmentCapUsed {
                            commitment_id: c.id,
                            post_id: c.post_id,
                            funder_id: c.funder_id,
                            cap: Money::from_cents(cap),
                            allocated_to_date: Money::from_cents(spent),
                            level,
                        }),
                        once_key: Some(format!("commitment.cap_used:{}:{level}", c.id)),
                    });
                }
            }
        }
    }

    // Posts whose continuity risk (this month, default threshold) moved since last recorded.
    let selection = match scope {
        SweepScope::All => Selection::All,
        SweepScope::Employer(id) => Selection::Employer(id),
        SweepScope::Post(_, post) => Selection::Post(post),
        SweepScope::Money(_) => return events::record(conn, &new),
    };
    let facts = project_posts(
        conn,
        &selection,
        None,
        this_month,
        DEFAULT_HORIZON_MONTHS,
        Percent::HUNDRED,
    )?;
    let projected: Vec<PostId> = facts.iter().map(|f| f.post.row.id).collect();
    let mut known: HashMap<PostId, Risk> = HashMap::new();
    for chunk in projected.chunks(1_000) {
        known.extend(
            post_risks::table
                .filter(post_risks::post_id.eq_any(chunk))
                .select((post_risks::post_id, post_risks::risk))
                .load::<(PostId, Risk)>(conn)?,
        );
    }
    let now = crate::db::now_timestamp();
    // Posts evaluated for the first time (all of an import's): inserted together below.
    let mut first_seen: Vec<NewPostRisk<'_>> = Vec::new();
    for fact in &facts {
        let post_id = fact.post.row.id;
        let risk = fact.continuity.risk;
        let previous = known.get(&post_id).copied();
        if previous == Some(risk) {
            continue;
        }
        match previous {
            Some(_) => {
                diesel::update(post_risks::table.find(post_id))
                    .set((
                        post_risks::risk.eq(risk),
                        post_risks::as_of.eq(this_month),
                        post_risks::updated_at.eq(&now),
                    ))
                    .execute(conn)?;
            }
            None => first_seen.push(NewPostRisk {
                post_id,
                risk,
                as_of: this_month,
                updated_at: &now,
            }),
        }
        // The first evaluation is the baseline: worth saying only when it is not green.
        if previous.is_none() && fact.continuity.risk == Risk::Green {
            continue;
        }
        new.push(NewEvent {
            employer_id: Some(fact.post.employer()),
            funders: fact.commitments.iter().map(|c| c.funder_id).collect(),
            data: EventData::PostRiskChanged(PostRiskChanged {
                post_id,
                as_of: this_month,
                from: previous,
                to: risk,
                funded_until: fact.continuity.funded_until,
                runway_months: fact.continuity.runway_months,
            }),
            once_key: None,
        });
    }
    insert_batches!(conn, post_risks::table, first_seen);
    events::record(conn, &new)
}

/// A post's first recorded risk.
#[derive(Insertable)]
#[diesel(table_name = post_risks, treat_none_as_default_value = false)]
struct NewPostRisk<'a> {
    post_id: PostId,
    risk: Risk,
    as_of: crate::domain::Month,
    updated_at: &'a str,
}

/// The sweep after a write, in the write's transaction.
pub fn after_write(conn: &mut DbConnection, scope: SweepScope) -> QueryResult<usize> {
    sweep(conn, scope, crate::domain::clock::today())
}
