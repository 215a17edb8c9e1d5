//! The store of `Idempotency-Key`s: who used which key with which request, and the answer it
//! got. The HTTP side (`http/idempotency.rs`) decides when to claim, record and release.

use crate::db::{self, schema::idempotency_keys, DbConnection, StoreError};
use diesel::prelude::*;

/// How long an in-flight key blocks its replays before it is taken to be abandoned (its
/// server stopped mid-request), in seconds, unless `PORTAGE_IDEMPOTENCY_ABANDON_SECONDS` says
/// otherwise ([`crate::state::AppState::abandon_after_seconds`]).
pub const ABANDONED_AFTER_SECONDS: i64 = 120;
/// How long keys are kept, in hours (`DOMAIN.md`: at least 24).
pub const RETENTION_HOURS: i64 = 48;

/// The answer a key's first request got, as stored with it.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    /// Its HTTP status.
    pub status: u16,
    /// Its `Location`, for a creation.
    pub location: Option<String>,
    /// Its JSON body.
    pub body: serde_json::Value,
}

/// What claiming a key found.
pub enum Claim {
    /// The key is ours: do the work.
    Fresh,
    /// The key was used before with the same request: answer what it answered.
    Replay(StoredAnswer),
}

/// Seconds since a key's stored creation; a time that does not read back is a corrupt row to
/// report, never a key taken to be abandoned (which would let a second request run its work).
fn seconds_since(caller: &str, timestamp: &str) -> Result<i64, StoreError> {
    let at = db::parse_timestamp(timestamp).ok_or_else(|| {
        anyhow::anyhow!("idempotency key of {caller} holds created_at {timestamp:?}, not a time")
    })?;
    Ok((time::OffsetDateTime::now_utc() - at).whole_seconds())
}

fn in_flight() -> StoreError {
    StoreError::conflict(
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

/// Claims `key` for `caller`'s request of this `fingerprint`, in a transaction of its own so
/// that a second request with the same key sees it at once.
pub fn claim(
    conn: &mut DbConnection,
    caller: &str,
    key: &str,
    fingerprint: &str,
    abandoned_after: i64,
) -> Result<Claim, StoreError> {
    db::write_transaction(conn, |conn| {
        let existing = idempotency_keys::table
            .find((caller, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::state,
                idempotency_keys::response_status,
                idempotency_keys::response_location,
                idempotency_keys::response_body,
                idempotency_keys::created_at,
            ))
            .first::<(
                String,
                String,
                Option<i32>,
                Option<String>,
                Option<String>,
                String,
            )>(conn)
            .optional()?;
        match existing {
            Some((hash, _, _, _, _, _)) if hash != fingerprint => Err(StoreError::refused(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with another request",
            )),
            Some((_, state, Some(status), location, Some(body), _)) if state == "done" => {
                // A stored answer that does not read back is a fault to report, never an
                // empty 200 replayed as if it were the first answer.
                let status = u16::try_from(status)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "idempotency key row holds status {status}, not an HTTP status"
                        )
                    })?;
                let body = serde_json::from_str(&body).map_err(|e| {
                    anyhow::anyhow!("idempotency key row holds a body that is not JSON: {e}")
                })?;
                Ok(Claim::Replay(StoredAnswer {
                    status,
                    location,
                    body,
                }))
            }
            Some((_, _, _, _, _, created_at))
                if seconds_since(caller, &created_at)? < abandoned_after =>
            {
                Err(in_flight())
            }
            Some((_, state, _, _, _, created_at)) => {
                // Abandoned by a server that stopped mid-request: take it over, on the
                // condition that it is still the row read. Two requests racing to take it over
                // both read it, but only one update still finds that row (PostgreSQL re-checks
                // the condition once the first commits): the other is told it is in flight.
                let taken = diesel::update(
                    idempotency_keys::table
                        .find((caller, key))
                        .filter(idempotency_keys::state.eq(&state))
                        .filter(idempotency_keys::created_at.eq(&created_at)),
                )
                .set(idempotency_keys::created_at.eq(db::now_timestamp()))
                .execute(conn)?;
                if taken == 1 {
                    Ok(Claim::Fresh)
                } else {
                    Err(in_flight())
                }
            }
            None => {
                diesel::insert_into(idempotency_keys::table)
                    .values((
                        idempotency_keys::caller.eq(caller),
                        idempotency_keys::idempotency_key.eq(key),
                        idempotency_keys::request_hash.eq(fingerprint),
                        idempotency_keys::state.eq("in_flight"),
                        idempotency_keys::created_at.eq(db::now_timestamp()),
                    ))
                    .execute(conn)
                    .map_err(|error| match error {
                        // Another request inserted the same key between our read and our
                        // insert (PostgreSQL): it is in flight.
                        diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        ) => in_flight(),
                        other => StoreError::from(other),
                    })?;
                Ok(Claim::Fresh)
            }
        }
    })
}

/// Stores the answer of a claimed key, in the transaction of the work that produced it.
pub fn record_answer(
    conn: &mut DbConnection,
    caller: &str,
    key: &str,
    answer: &StoredAnswer,
) -> QueryResult<usize> {
    diesel::update(idempotency_keys::table.find((caller, key)))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(i32::from(answer.status)),
            idempotency_keys::response_location.eq(answer.location.clone()),
            idempotency_keys::response_body.eq(answer.body.to_string()),
        ))
        .execute(conn)
}

/// Releases a key still in flight (its request failed), so that a corrected retry may use it.
pub fn release(conn: &mut DbConnection, caller: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table
            .find((caller, key))
            .filter(idempotency_keys::state.eq("in_flight")),
    )
    .execute(conn)
}

/// Forgets keys older than the retention period.
pub fn purge_expired(conn: &mut DbConnection) -> QueryResult<usize> {
    let cutoff = time::OffsetDateTime::now_utc() - time::Duration::hours(RETENTION_HOURS);
    let cutoff = db::format_timestamp(cutoff);
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
}
