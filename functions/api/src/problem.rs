//! Errors as `application/problem+json` (RFC 9457): a stable `type` per kind of error, a
//! title, what happened in words, and the fields at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use relay::replies::ReplyError;
use relay::store::StoreError;
use serde::Serialize;
use tracing::warn;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One field that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where in the body or query (`text`, `ai.mode`, `limit`).
    pub field: String,
    pub reason: String,
}

/// A problem (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:relay:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait (rate limited).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:relay:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Problem {
        self.errors.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
        self
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no such {what}"),
        )
    }

    pub fn unauthenticated() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            "send an API key as `Authorization: Bearer <key>`",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Problem {
        let reason = reason.into();
        Problem::invalid(format!("{field}: {reason}")).field(field, reason)
    }

    pub fn conflict(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, slug, "Conflict", detail)
    }

    pub fn rate_limited(retry_after: u64) -> Problem {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("the tenant's request rate is used up; try again in {retry_after} s"),
        );
        p.retry_after = Some(retry_after);
        p
    }

    /// Something on Relay's side; the detail is for operators' logs, not the client.
    pub fn internal(what: &str, error: &dyn std::fmt::Display) -> Problem {
        warn!(what, error = %error, "request failed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "Relay could not complete the request; try again",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("a problem always serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::InvalidCursor => {
                Problem::invalid_field("cursor", "not a cursor of this listing")
            }
            e => Problem::internal("store", &e),
        }
    }
}

impl From<ReplyError> for Problem {
    fn from(e: ReplyError) -> Problem {
        let detail = e.to_string();
        match e {
            ReplyError::NoConversation => Problem::not_found("conversation"),
            ReplyError::NoDraft => Problem::not_found("draft"),
            ReplyError::AlreadyResolved(_) => Problem::conflict("draft-resolved", detail),
            ReplyError::Empty => Problem::invalid_field("text", "must not be empty"),
            ReplyError::WindowClosed { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "messaging-window-closed",
                "Messaging window closed",
                detail,
            ),
            ReplyError::AccountCannotSend(reason) => Problem::new(
                StatusCode::CONFLICT,
                "account-cannot-send",
                "The account cannot send",
                format!("the account cannot send ({reason}); reconnect it"),
            ),
            ReplyError::Meta(_) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "meta-refused",
                "Meta refused the message",
                detail,
            ),
            e @ (ReplyError::Store(_) | ReplyError::Audit(_) | ReplyError::Token) => {
                Problem::internal("reply", &e)
            }
        }
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, Problem>;
