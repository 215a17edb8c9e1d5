//! Checks on the free-text fields of requests: names, titles, labels.

use crate::error::ApiError;

/// The longest free-text label accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// A required label: trimmed, not empty, at most [`MAX_LABEL_CHARS`] characters, no control
/// characters.
pub fn required_label(pointer: &str, text: &str) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field(pointer, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::field(
            pointer,
            format!("must be at most {MAX_LABEL_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::field(
            pointer,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional label: absent or empty reads as none.
pub fn optional_label(pointer: &str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => required_label(pointer, t).map(Some),
    }
}
