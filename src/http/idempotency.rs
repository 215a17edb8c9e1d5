//! `Idempotency-Key`: the one mechanism every creating `POST` goes through.
//!
//! A key is scoped to the caller. The first request with a key records it as in flight (in a
//! transaction of its own, so that a second request with the same key sees it at once and
//! answers 409), then does its work and stores its response in the same transaction as the
//! work, so that a response is stored exactly when its effects are. A replay of the same key
//! and body returns the stored response and creates nothing; the same key with another body
//! answers 422. A request that fails releases its key, so a corrected retry may use it again.

use crate::db::{self, schema::idempotency_keys, DbConnection};
use crate::error::ApiError;
use crate::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use diesel::prelude::*;

/// The header that carries the key.
pub const HEADER: &str = "Idempotency-Key";
/// The longest key accepted.
const MAX_KEY_LENGTH: usize = 255;
/// How long an in-flight key blocks its replays before it is taken to be abandoned (its
/// server stopped mid-request), in seconds, unless `PORTAGE_IDEMPOTENCY_ABANDON_SECONDS` says
/// otherwise ([`crate::AppState::abandon_after_seconds`]).
pub const ABANDONED_AFTER_SECONDS: i64 = 120;
/// How long keys are kept, in hours (`DOMAIN.md`: at least 24).
pub const RETENTION_HOURS: i64 = 48;

/// What a creating request produces: its status, `Location` and JSON body.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// 201 for a creation, 200 for an action.
    pub status: StatusCode,
    /// The created resource's path, for 201.
    pub location: Option<String>,
    /// The response body.
    pub body: serde_json::Value,
}

impl Outcome {
    /// A resource was created at `location`.
    pub fn created(location: String, body: serde_json::Value) -> Outcome {
        Outcome {
            status: StatusCode::CREATED,
            location: Some(location),
            body,
        }
    }

    /// An action changed a resource.
    pub fn ok(body: serde_json::Value) -> Outcome {
        Outcome {
            status: StatusCode::OK,
            location: None,
            body,
        }
    }

    fn into_response(self, replayed: bool) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = &self.location {
            response.insert_header((header::LOCATION, location.clone()));
        }
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.json(self.body)
    }
}

/// Reads and checks the key header of a request.
pub fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| {
            !t.is_empty() && t.len() <= MAX_KEY_LENGTH && t.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::field(
                "/headers/Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"),
            )
        })?;
    Ok(Some(text.to_owned()))
}

enum Claim {
    /// The key is ours: do the work.
    Fresh,
    /// The key was used before with the same request: answer what it answered.
    Replay(Outcome),
}

fn seconds_since(timestamp: &str) -> i64 {
    db::parse_timestamp(timestamp)
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds())
        .unwrap_or(i64::MAX)
}

fn in_flight() -> ApiError {
    ApiError::conflict(
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

fn claim_key(
    conn: &mut DbConnection,
    caller: &str,
    key: &str,
    fingerprint: &str,
    abandoned_after: i64,
) -> Result<Claim, ApiError> {
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
            Some((hash, _, _, _, _, _)) if hash != fingerprint => Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with another request",
            )),
            Some((_, state, Some(status), location, Some(body), _)) if state == "done" => {
                // A stored answer that does not read back is a fault to report, never an
                // empty 200 replayed as if it were the first answer.
                let status = u16::try_from(status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "idempotency key row holds status {status}, not an HTTP status"
                        )
                    })?;
                let body = serde_json::from_str(&body).map_err(|e| {
                    anyhow::anyhow!("idempotency key row holds a body that is not JSON: {e}")
                })?;
                Ok(Claim::Replay(Outcome {
                    status,
                    location,
                    body,
                }))
            }
            Some((_, _, _, _, _, created_at)) if seconds_since(&created_at) < abandoned_after => {
                Err(ApiError::conflict(
                    "idempotency_key_in_flight",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                ))
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
                        other => ApiError::from(other),
                    })?;
                Ok(Claim::Fresh)
            }
        }
    })
}

fn release_key(conn: &mut DbConnection, caller: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table
            .find((caller, key))
            .filter(idempotency_keys::state.eq("in_flight")),
    )
    .execute(conn)
}

/// Runs a creating request's `work` inside one write transaction, honouring the request's
/// `Idempotency-Key` when it has one.
pub async fn run<F>(
    state: &AppState,
    req: &HttpRequest,
    caller_key: String,
    fingerprint: String,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<Outcome, ApiError> + Send + 'static,
{
    let key = key_of(req)?;
    let abandoned_after = state.abandon_after_seconds;
    let held = key.clone().map(|key| (caller_key.clone(), key));
    let ran = state
        .with_write_connection(move |conn| {
            let Some(key) = key else {
                return db::write_transaction(conn, work).map(|o| Ran::Done(o, false));
            };
            if let Claim::Replay(outcome) =
                claim_key(conn, &caller_key, &key, &fingerprint, abandoned_after)?
            {
                return Ok(Ran::Done(outcome, true));
            }
            let result = db::write_transaction(conn, |conn| {
                let outcome = work(conn)?;
                diesel::update(idempotency_keys::table.find((&caller_key, &key)))
                    .set((
                        idempotency_keys::state.eq("done"),
                        idempotency_keys::response_status.eq(i32::from(outcome.status.as_u16())),
                        idempotency_keys::response_location.eq(outcome.location.clone()),
                        idempotency_keys::response_body.eq(outcome.body.to_string()),
                    ))
                    .execute(conn)?;
                Ok::<_, ApiError>(outcome)
            });
            match result {
                Ok(outcome) => Ok(Ran::Done(outcome, false)),
                Err(error) => {
                    let released = release_key(conn, &caller_key, &key)
                        .map_err(
                            |e| tracing::warn!(error = %e, "could not release an idempotency key"),
                        )
                        .is_ok();
                    Ok(Ran::Failed { error, released })
                }
            }
        })
        .await?;
    match ran {
        Ran::Done(outcome, replayed) => Ok(outcome.into_response(replayed)),
        Ran::Failed { error, released } => {
            if !released {
                if let Some((caller, key)) = held {
                    release_elsewhere(state, caller, key).await;
                }
            }
            Err(error)
        }
    }
}

/// What a keyed request's transaction came to.
enum Ran {
    /// An answer, replayed or not.
    Done(Outcome, bool),
    /// A refusal or a fault; `released` says whether the key was released with it.
    Failed { error: ApiError, released: bool },
}

/// Releases a key on another connection, when the request's own could not (it died with the
/// fault that failed the request): a request that answered must never leave its key claimed.
/// Only a key still in flight is released, so a work that did commit keeps its answer.
async fn release_elsewhere(state: &AppState, caller: String, key: String) {
    for attempt in 1..=3u64 {
        let (c, k) = (caller.clone(), key.clone());
        match state
            .with_write_connection(move |conn| Ok(release_key(conn, &c, &k)?))
            .await
        {
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, attempt, "could not release an idempotency key; retrying");
                actix_web::rt::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    tracing::error!(
        caller = %caller,
        "an idempotency key stays in flight until it is taken to be abandoned"
    );
}

/// Forgets keys older than the retention period.
pub fn purge_expired(conn: &mut DbConnection) -> QueryResult<usize> {
    let cutoff = time::OffsetDateTime::now_utc() - time::Duration::hours(RETENTION_HOURS);
    let cutoff = db::format_timestamp(cutoff);
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
}
