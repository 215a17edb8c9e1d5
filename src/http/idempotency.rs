//! `Idempotency-Key`: the one mechanism every creating `POST` goes through.
//!
//! A key is scoped to the caller. The first request with a key records it as in flight (in a
//! transaction of its own, so that a second request with the same key sees it at once and
//! answers 409), then does its work and stores its response in the same transaction as the
//! work, so that a response is stored exactly when its effects are. A replay of the same key
//! and body returns the stored response and creates nothing; the same key with another body
//! answers 422. A request that fails releases its key, so a corrected retry may use it again.

use crate::db::idempotency::{self as store, Claim, StoredAnswer};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

/// The header that carries the key.
pub const HEADER: &str = "Idempotency-Key";
/// The longest key accepted.
const MAX_KEY_LENGTH: usize = 255;
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

    /// A resource was created at `location`, answered with a typed view.
    pub fn created_as(location: String, view: impl serde::Serialize) -> Result<Outcome, ApiError> {
        Ok(Outcome::created(location, to_body(view)?))
    }

    /// An action changed a resource, answered with a typed view.
    pub fn ok_as(view: impl serde::Serialize) -> Result<Outcome, ApiError> {
        Ok(Outcome::ok(to_body(view)?))
    }

    /// An action changed a resource.
    pub fn ok(body: serde_json::Value) -> Outcome {
        Outcome {
            status: StatusCode::OK,
            location: None,
            body,
        }
    }

    fn stored(&self) -> StoredAnswer {
        StoredAnswer {
            status: self.status.as_u16(),
            location: self.location.clone(),
            body: self.body.clone(),
        }
    }

    fn replayed(answer: StoredAnswer) -> Result<Outcome, ApiError> {
        let status = StatusCode::from_u16(answer.status).map_err(|e| {
            anyhow::anyhow!(
                "a stored idempotent answer has status {}: {e}",
                answer.status
            )
        })?;
        Ok(Outcome {
            status,
            location: answer.location,
            body: answer.body,
        })
    }

    /// The response of a first answer, for a creation made without a key.
    pub fn into_response(self) -> HttpResponse {
        self.respond(false)
    }

    fn respond(self, replayed: bool) -> HttpResponse {
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

/// A view as the JSON body an outcome stores (its replay answers the same bytes).
fn to_body(view: impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    Ok(serde_json::to_value(view).map_err(anyhow::Error::from)?)
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
            if let Claim::Replay(answer) =
                store::claim(conn, &caller_key, &key, &fingerprint, abandoned_after)?
            {
                return Ok(Ran::Done(Outcome::replayed(answer)?, true));
            }
            let result = db::write_transaction(conn, |conn| {
                let outcome = work(conn)?;
                store::record_answer(conn, &caller_key, &key, &outcome.stored())?;
                Ok::<_, ApiError>(outcome)
            });
            match result {
                Ok(outcome) => Ok(Ran::Done(outcome, false)),
                Err(error) => {
                    let released = store::release(conn, &caller_key, &key)
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
        Ran::Done(outcome, replayed) => Ok(outcome.respond(replayed)),
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
            .with_write_connection(move |conn| Ok(store::release(conn, &c, &k)?))
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
