//! What the data layer fails with: a query that failed, or a rule of the data that refuses the
//! change. It knows nothing of HTTP; `error.rs` maps each variant to one problem document.

/// A failure of the data layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed the query (unreachable, full, a constraint…).
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// Nothing of this kind at the id asked for, within the caller's scope.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The state of the data forbids the change: shares over 100 %, a closed period, a call
    /// already cancelled, a race lost…
    #[error("{code}: {detail}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// Well-formed, but the rules refuse it: nothing left to call, a payment below what it
    /// applies…
    #[error("{code}: {detail}")]
    Refused {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// The database did not take the work (a batch dropped, no connection): the client may
    /// retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An invariant of the stored data does not hold: a fault, logged with its cause.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// A conflict with the state of the data.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A change the rules refuse.
    pub fn refused(code: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Refused {
            code,
            detail: detail.into(),
        }
    }
}
