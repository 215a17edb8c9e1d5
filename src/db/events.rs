//! The event log: what changed, recorded in the transaction of the change (an outbox), read
//! back in commit order, each party seeing its own copy.

use super::schema::{event_funders, events};
use super::DbConnection;
use crate::domain::events::{AllocationPosted, EventData, FunderAllocationPosted};
use crate::domain::ids::{EmployerId, EventId, FunderId};
use diesel::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// The advisory lock every event-writing transaction takes on PostgreSQL before it writes its
/// events, so that events commit in `seq` order (a sequence alone hands out numbers that can
/// commit out of order, and a reader paging by `seq` would skip the late one).
const EVENT_ORDER_LOCK: i64 = 0x5054_4556_454e_5453; // "PTEVENTS"

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The employer whose change it reports (none for a webhook of a funder or the mission).
    pub employer_id: Option<EmployerId>,
    /// The funders it concerns (they see their copy of it).
    pub funders: Vec<FunderId>,
    /// What it carries, in the full view (the employer's), which names its type; readers
    /// narrow it.
    pub data: EventData,
    /// For an event recorded once only (`call.overdue` of a call…): its unique key.
    pub once_key: Option<String>,
}

/// Records events in the caller's transaction; answers how many were recorded. An event whose
/// `once_key` was recorded already is skipped, so that a sweep run twice records nothing the
/// second time.
pub fn record(conn: &mut DbConnection, new: &[NewEvent]) -> QueryResult<usize> {
    if new.is_empty() {
        return Ok(0);
    }
    if let DbConnection::Postgresql(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({EVENT_ORDER_LOCK})"))
            .execute(c)?;
    }
    // Keys recorded before, or met earlier among these events, are skipped.
    let keys: Vec<&str> = new.iter().filter_map(|e| e.once_key.as_deref()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    for chunk in keys.chunks(super::BATCH_ROWS) {
        seen.extend(
            events::table
                .filter(events::once_key.eq_any(chunk))
                .select(events::once_key)
                .load::<Option<String>>(conn)?
                .into_iter()
                .flatten(),
        );
    }
    let occurred_at = super::now_timestamp();
    let mut rows: Vec<EventInsert<'_>> = Vec::with_capacity(new.len());
    let mut funders_of: Vec<Vec<FunderId>> = Vec::with_capacity(new.len());
    for event in new {
        if let Some(key) = &event.once_key {
            if !seen.insert(key.clone()) {
                continue;
            }
        }
        let data = event
            .data
            .to_json()
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        rows.push(EventInsert {
            id: EventId::generate(),
            kind: event.data.kind(),
            occurred_at: &occurred_at,
            employer_id: event.employer_id,
            data,
            once_key: event.once_key.as_deref(),
        });
        let mut funders = event.funders.clone();
        funders.sort_unstable();
        funders.dedup();
        funders_of.push(funders);
    }
    // Multi-row inserts number their rows in order, so `seq` follows the events' order.
    insert_batches!(conn, events::table, rows);
    let ids: Vec<EventId> = rows.iter().map(|row| row.id).collect();
    let mut seq_of: HashMap<EventId, i64> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::BATCH_ROWS) {
        seq_of.extend(
            events::table
                .filter(events::id.eq_any(chunk))
                .select((events::id, events::seq))
                .load::<(EventId, i64)>(conn)?,
        );
    }
    let mut funder_rows: Vec<EventFunderInsert> = Vec::new();
    for (id, funders) in ids.iter().zip(funders_of) {
        let seq = *seq_of.get(id).ok_or(diesel::result::Error::NotFound)?;
        funder_rows.extend(
            funders
                .into_iter()
                .map(|funder_id| EventFunderInsert { seq, funder_id }),
        );
    }
    insert_batches!(conn, event_funders::table, funder_rows);
    Ok(rows.len())
}

/// An event row to insert; `seq` is the database's.
#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
struct EventInsert<'a> {
    id: EventId,
    kind: &'static str,
    occurred_at: &'a str,
    employer_id: Option<EmployerId>,
    data: String,
    once_key: Option<&'a str>,
}

/// A funder's copy of an event.
#[derive(Insertable)]
#[diesel(table_name = event_funders, treat_none_as_default_value = false)]
struct EventFunderInsert {
    seq: i64,
    funder_id: FunderId,
}

/// An event as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    /// Its place in commit order.
    pub seq: i64,
    /// Its id.
    pub id: EventId,
    /// Its type.
    pub kind: String,
    /// When it was recorded.
    pub occurred_at: String,
    /// The employer it concerns, if any.
    pub employer_id: Option<EmployerId>,
    /// Its data, in the full view.
    pub data: String,
}

/// Which events a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everything (the mission, the operator).
    All,
    /// An employer's own.
    Employer(EmployerId),
    /// Those that concern a funder.
    Funder(FunderId),
}

impl From<crate::auth::Scope> for Audience {
    fn from(scope: crate::auth::Scope) -> Audience {
        match scope {
            crate::auth::Scope::Admin | crate::auth::Scope::Mission => Audience::All,
            crate::auth::Scope::Employer(id) => Audience::Employer(id),
            crate::auth::Scope::Funder(id) => Audience::Funder(id),
        }
    }
}

/// A stored event whose data is not what its type carries.
#[derive(Debug, thiserror::Error)]
#[error("event {id} holds data that is not a {kind} payload: {reason}")]
pub struct CorruptEvent {
    id: EventId,
    kind: String,
    reason: String,
}

/// An event as a reader sees it, in the feed and in webhooks.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Its id (a webhook message's id).
    pub id: EventId,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was recorded.
    pub occurred_at: String,
    /// The employer it concerns, if any.
    pub employer_id: Option<EmployerId>,
    /// What it carries for this reader.
    pub data: EventPayload,
}

/// An event's data for one reader.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EventPayload {
    /// The stored data, which this reader may see whole.
    Full(serde_json::Value),
    /// A funder's copy of an allocation.
    FunderAllocation(FunderAllocationPosted),
}

impl EventRow {
    fn corrupt(&self, reason: impl ToString) -> CorruptEvent {
        CorruptEvent {
            id: self.id,
            kind: self.kind.clone(),
            reason: reason.to_string(),
        }
    }

    /// The event as `audience` may see it, or `None` when its copy holds nothing for it. This
    /// is the one place the event feed and webhooks narrow an event: a funder's copy of
    /// `allocation.posted` holds its own changed lines only, and never the post's cost or
    /// uncovered part.
    pub fn view(&self, audience: Audience) -> Result<Option<EventView>, CorruptEvent> {
        let data = match audience {
            Audience::Funder(own) if self.kind == "allocation.posted" => {
                let full: AllocationPosted =
                    serde_json::from_str(&self.data).map_err(|e| self.corrupt(e))?;
                match full.for_funder(own) {
                    Some(copy) => EventPayload::FunderAllocation(copy),
                    None => return Ok(None),
                }
            }
            _ => EventPayload::Full(serde_json::from_str(&self.data).map_err(|e| self.corrupt(e))?),
        };
        Ok(Some(EventView {
            id: self.id,
            kind: self.kind.clone(),
            occurred_at: self.occurred_at.clone(),
            employer_id: self.employer_id,
            data,
        }))
    }
}

/// The greatest `seq` recorded (0 before the first event).
pub fn last_seq(conn: &mut DbConnection) -> QueryResult<i64> {
    events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)
        .map(|seq| seq.unwrap_or(0))
}

/// The events after `after` (a `seq`) a reader may see, of the types given (all when empty),
/// in commit order, at most `limit`.
pub fn page(
    conn: &mut DbConnection,
    audience: Audience,
    types: &[String],
    after: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = events::table
        .filter(events::seq.gt(after))
        .order(events::seq)
        .limit(limit)
        .select(EventRow::as_select())
        .into_boxed();
    if !types.is_empty() {
        query = query.filter(events::kind.eq_any(types));
    }
    match audience {
        Audience::All => {}
        Audience::Employer(id) => query = query.filter(events::employer_id.eq(id)),
        Audience::Funder(id) => {
            query = query.filter(
                events::seq.eq_any(
                    event_funders::table
                        .filter(event_funders::funder_id.eq(id))
                        .select(event_funders::seq),
                ),
            )
        }
    }
    query.load(conn)
}
