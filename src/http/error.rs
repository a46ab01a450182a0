//! `ApiError`, and the one place where errors become HTTP statuses and JSON bodies.
//!
//! Bodies follow the original's FastAPI convention, `{"detail": "..."}`, plus `field` for form
//! validation. Internal errors are logged in full and answered with a generic 500, so nothing
//! about tables, paths or libraries leaks to clients.

use hyper::{header, StatusCode};

use crate::{chat::ChatError, store::StoreError};

use super::body::{json_response, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub field: Option<&'static str>,
    pub retry_after: Option<u64>,
    /// The methods a 405 path does answer (`Allow` header, as RFC 9110 requires).
    pub allow: Option<&'static str>,
    /// More members of the body (a blocked sign-in's `appeal`).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into(), field: None, retry_after: None, allow: None, extra: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError { allow: Some(allow), ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed") }
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "detail": self.detail });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        for (k, v) in self.extra.into_iter().flatten() {
            body[k] = v;
        }
        let mut resp = json_response(self.status, &body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        if let Some(allow) = self.allow {
            resp.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let status = match &e {
            ChatError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ChatError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ChatError::Conflict { .. } => StatusCode::CONFLICT,
            ChatError::BadCredentials | ChatError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ChatError::Blocked | ChatError::NotAdmin | ChatError::BlockedSignIn(_) => StatusCode::FORBIDDEN,
            ChatError::NotFound(_) => StatusCode::NOT_FOUND,
            ChatError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ChatError::UnknownUser(_)
            | ChatError::UnknownUserId(_)
            | ChatError::RoomNotFound
            | ChatError::MessageNotFound
            | ChatError::TermNotFound => StatusCode::NOT_FOUND,
            ChatError::Archived => StatusCode::CONFLICT,
            ChatError::Forbidden(_) | ChatError::Muted { .. } | ChatError::MutedInRoom { .. } => {
                StatusCode::FORBIDDEN
            }
            ChatError::RateLimited(_) | ChatError::SlowMode(_) => StatusCode::TOO_MANY_REQUESTS,
            ChatError::ShuttingDown | ChatError::Overloaded | ChatError::ModerationUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ChatError::Store(StoreError::Busy) | ChatError::Store(StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ChatError::Store(StoreError::DiskFull) | ChatError::Store(StoreError::ReadOnly(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ChatError::Store(_) | ChatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = match &e {
            ChatError::Store(StoreError::Busy) => "The server is busy; try again in a moment".to_string(),
            ChatError::Store(StoreError::Unavailable(_)) => {
                tracing::warn!(error = %e, "the database is unavailable");
                "The server cannot reach its database; try again in a moment".to_string()
            }
            ChatError::Store(StoreError::DiskFull) | ChatError::Store(StoreError::ReadOnly(_)) => {
                tracing::warn!(error = %e, "cannot write to the database");
                "The server cannot save data right now; try again later".to_string()
            }
            ChatError::Store(_) | ChatError::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                "Internal server error".to_string()
            }
            ChatError::UnknownUserId(_) | ChatError::UnknownUser(_) => "No such user".to_string(),
            other => other.to_string(),
        };
        let field = match &e {
            ChatError::Invalid { field, .. } | ChatError::Conflict { field, .. } => Some(*field),
            _ => None,
        };
        let retry_after = match &e {
            ChatError::RateLimited(d) | ChatError::SlowMode(d) => {
                Some(d.as_secs_f64().ceil().max(1.0) as u64)
            }
            ChatError::Store(StoreError::Busy) | ChatError::Store(StoreError::Unavailable(_)) => Some(1),
            ChatError::Overloaded => Some(5),
            _ => None,
        };
        let extra = match e {
            ChatError::BlockedSignIn(offer) => Some(offer.body()),
            _ => None,
        };
        ApiError { status, detail, field, retry_after, allow: None, extra }
    }
}
