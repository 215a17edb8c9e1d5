//! The one error type of the HTTP layer and its mapping to RFC 9457 problem documents.
//!
//! Handlers and queries return `Result<_, ApiError>`; every variant maps to exactly one status
//! and a stable `code`, with no catch-all arm, so that adding a variant forces a decision about
//! how callers see it. Internal errors log their whole cause chain and tell the caller nothing
//! about it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// One offending field of a request, as a JSON pointer into the body or the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where: `/amount`, `/applications/0/call_id`, or a query parameter as `/limit`.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
    /// For a line of an imported CSV file: the file's line, counted from 1 with the header as
    /// line 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// For a line of an import: the stable code of what is wrong (`validation_failed`,
    /// `period_closed`, `no_such_post`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

impl FieldError {
    /// An error on one field.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
            line: None,
            code: None,
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid token: missing, expired, malformed, wrongly signed, or without its claims.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A valid token whose role may never do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Nothing at this id within the caller's scope (existence is not leaked).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request's fields are wrong; each offending field is named.
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    /// Well-formed, but the rules refuse it (nothing left to call, an idempotency key reused
    /// with another body…).
    #[error("{code}: {detail}")]
    Unprocessable {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// The state of the data forbids it (shares above 100 %, a closed period, a race lost…).
    #[error("{code}: {detail}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// `If-Match` names a version that is no longer current.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The body is larger than the limit.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The client took too long to send its body.
    #[error("the request body was not received in time ({0} ms)")]
    RequestTimeout(u64),
    /// The body is not of a media type the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The storage under the database is full.
    #[error("the database's storage is full; nothing was written")]
    StorageFull,
    /// The database could not be reached in time.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A fault of the service itself. Logged with its cause chain; the caller only learns
    /// that something went wrong.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation error on a single field.
    pub fn field(pointer: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(pointer, detail)])
    }

    /// A conflict with the state of the data.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A well-formed request the rules refuse.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    /// The stable `code` member of the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unprocessable { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::PreconditionFailed(_) => "version_mismatch",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::StorageFull => "storage_full",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "Authentication required",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) | ApiError::NoRoute => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Validation(_) => "Invalid request",
            ApiError::Unprocessable { .. } => "Request refused",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::PreconditionFailed(_) => "Precondition failed",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::StorageFull => "Insufficient storage",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.pointer, one.detail),
                _ => format!("{} fields are invalid", errors.len()),
            },
            ApiError::Internal(_) => {
                "the service failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// The body of an error answer.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The stable code.
    pub code: &'static str,
    /// The offending fields, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %CauseChain(cause), "internal error");
        }
        let problem = Problem {
            type_uri: format!("/problems/{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

/// Shows an error with every cause under it, for the logs.
pub struct CauseChain<'a>(pub &'a anyhow::Error);

impl fmt::Display for CauseChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        for cause in self.0.chain().skip(1) {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// Whether a database error says its storage is full (SQLite's SQLITE_FULL, PostgreSQL's
/// `disk_full` or a failed file extension).
fn storage_full(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("database or disk is full")
        || message.contains("no space left on device")
        || message.contains("could not extend file")
}

/// Whether a database error says it accepts no writes (a read-only file or server).
fn read_only(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("readonly database")
        || message.contains("read-only transaction")
        || message.contains("read only")
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(_, ref info) if storage_full(info.message()) => {
                tracing::error!(error = info.message(), "the database's storage is full");
                ApiError::StorageFull
            }
            Error::DatabaseError(kind, ref info)
                if kind == DatabaseErrorKind::ReadOnlyTransaction || read_only(info.message()) =>
            {
                tracing::error!(error = info.message(), "the database accepts no writes");
                ApiError::Unavailable(
                    "the database accepts no writes (read-only storage); nothing was written"
                        .to_owned(),
                )
            }
            Error::NotFound => ApiError::NotFound("resource"),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                ApiError::conflict(
                    "concurrent_update",
                    format!(
                        "another request changed the same data at the same time; retry ({})",
                        info.message()
                    ),
                )
            }
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => ApiError::conflict(
                "already_exists",
                format!(
                    "this would duplicate an existing record ({})",
                    info.message()
                ),
            ),
            // The server went away (a restart, a fail-over): the pool drops this connection,
            // and a retry gets a new one.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                tracing::warn!(error = info.message(), "the database connection was lost");
                ApiError::Unavailable("the database connection was lost; retry".to_owned())
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<crate::db::StoreError> for ApiError {
    fn from(error: crate::db::StoreError) -> ApiError {
        use crate::db::StoreError;
        match error {
            StoreError::Query(error) => ApiError::from(error),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            StoreError::Refused { code, detail } => ApiError::Unprocessable { code, detail },
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            StoreError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> ApiError {
        tracing::warn!(%error, "no database connection available");
        ApiError::Unavailable("the database did not answer in time; retry later".to_owned())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> ApiError {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(error: &ApiError) -> serde_json::Value {
        let bytes = error
            .error_response()
            .into_body()
            .try_into_bytes()
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[test]
    fn validation_problems_name_their_fields() {
        let error = ApiError::field("/amount", "must have at most two decimals");
        assert_eq!(error.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_of(&error);
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["pointer"], "/amount");
    }

    #[test]
    fn storage_faults_name_the_storage() {
        use diesel::result::{DatabaseErrorKind, Error};
        let full = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_owned()),
        );
        let error = ApiError::from(full);
        assert_eq!(error.status_code(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(body_of(&error)["code"], "storage_full");
        let read_only = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("attempt to write a readonly database".to_owned()),
        );
        let error = ApiError::from(read_only);
        assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body_of(&error)["detail"]
            .as_str()
            .unwrap()
            .contains("read-only"));
    }

    #[test]
    fn internal_errors_reveal_nothing() {
        let error = ApiError::Internal(anyhow::anyhow!("password=hunter2 in connection string"));
        let body = body_of(&error);
        assert_eq!(body["status"], 500);
        assert!(!body.to_string().contains("hunter2"));
    }
}
