//! The one error type of the HTTP API, and the only place errors become HTTP
//! responses: `{"code", "message", "retryable", "requestId"}` with the right
//! status.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookrelay_core::validate::{self, Invalid};
use hookrelay_store::{ErrorKind, StoreError};
use serde_json::json;

use crate::limit::{RateLimitStatus, Refusal};
/// The longest error message: messages quote inputs, and an input can be
/// huge (serde_json's messages quote whole strings), so whatever a message
/// quotes is cut to this in the end.
pub const MAX_MESSAGE_CHARS: usize = 1024;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

/// The current request's id, if inside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// An API error.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub retry_after: Option<u64>,
    /// The caller's rate limit bucket, for the `RateLimit-*` headers.
    pub rate_limit: Option<RateLimitStatus>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: validate::truncate_message(message.into(), MAX_MESSAGE_CHARS),
            retryable: status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
            retry_after: None,
            rate_limit: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 408: the request body did not arrive in time.
    pub fn request_timeout(timeout: std::time::Duration) -> Self {
        let mut err = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        );
        err.retryable = true;
        err
    }

    /// 429: the caller's rate limit is used up for now.
    pub fn rate_limited(refusal: Refusal) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests; retry after {} s",
                refusal.retry_after_secs
            ),
        );
        err.retry_after = Some(refusal.retry_after_secs);
        err.rate_limit = Some(refusal.status);
        err
    }

    /// A whole event (payload plus previousData) over the event size limit.
    pub fn event_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the event (payload and previousData together) is larger than the limit of {limit} bytes"
            ),
        )
    }

    /// A per-workspace or per-endpoint quota is used up.
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        Self::unprocessable("quota_exceeded", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "requestId": current_request_id(),
        })
    }
}

/// Each kind of storage failure has its status; a driver's words never reach
/// the client (they differ between backends and can leak the schema), so the
/// whole error, sources included, is logged with the request instead.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::QuotaExceeded { what, limit } = e {
            return ApiError::quota_exceeded(format!(
                "quota exceeded: a workspace may have at most {limit} {what}; delete some to make room"
            ));
        }
        match e.kind() {
            ErrorKind::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            ErrorKind::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ErrorKind::Invalid => ApiError::unprocessable("invalid_request", e.to_string()),
            ErrorKind::Unavailable => {
                tracing::warn!(error = %chain(&e), request_id = %current_request_id(), "storage unavailable");
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database could not complete the request; nothing was changed",
                );
                err.retryable = true;
                err
            }
            // Internal, and any kind added later: a fault, not worth retrying.
            _ => {
                tracing::error!(error = %chain(&e), request_id = %current_request_id(), "storage error");
                let mut err = ApiError::internal("the server could not complete the request");
                err.retryable = false;
                err
            }
        }
    }
}

/// An error and all its sources, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// A field that failed a check: 400 `invalid_request`, naming the field.
impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::bad_request("invalid_request", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        // The dashboard answers its errors as HTML pages: its layer finds
        // the error here and renders it (`dashboard::html_errors`).
        resp.extensions_mut().insert(self.clone());
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        if let Some(status) = self.rate_limit {
            status.write_headers(resp.headers_mut());
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_error() -> std::io::Error {
        std::io::Error::other("ERROR 42P01: relation \"endpoints\" does not exist")
    }

    #[test]
    fn storage_kinds_map_to_statuses_without_driver_text() {
        let cases = [
            (ErrorKind::NotFound, StatusCode::NOT_FOUND, false),
            (ErrorKind::Conflict, StatusCode::CONFLICT, false),
            (ErrorKind::Invalid, StatusCode::UNPROCESSABLE_ENTITY, false),
            (
                ErrorKind::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                ErrorKind::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
            ),
        ];
        for (kind, status, retryable) in cases {
            let e = StoreError::with_source(kind, "duplicate key", driver_error());
            let api = ApiError::from(e);
            assert_eq!((api.status, api.retryable), (status, retryable), "{kind:?}");
            assert!(!api.message.contains("42P01"), "{kind:?}: {}", api.message);
        }
    }
}
