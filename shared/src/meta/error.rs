//! Every failure of a Graph call, as one actionable type.
//!
//! Meta reports errors as an HTTP status plus a JSON body, either the Graph form
//! `{"error":{"message","type","code","error_subcode","is_transient"}}` or, on the
//! api.instagram.com code exchange, `{"error_type","code","error_message"}`. The mapping
//! below turns them into what a caller must do: reconnect the account, wait, retry,
//! ask for a permission, give up on a closed messaging window, fix the media.
//!
//! Guarantee: no variant's `Display` or `Debug` contains a URL, an access token, an app
//! secret or a message text. Transport errors are reduced to their kind, decode errors
//! never echo the body, and Meta's own message (kept for `InvalidRequest`) is bounded.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::usage::Usage;

/// Why Meta no longer accepts an access token (code 190 and its subcodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenInvalidReason {
    /// 463: the token expired.
    Expired,
    /// 460: the user changed their password.
    PasswordChanged,
    /// 458: the user removed the app.
    AppRemoved,
    /// 467: the token is invalid (logged out, revoked).
    Invalid,
    /// 459: the user must pass a security checkpoint on Instagram/Facebook.
    Checkpoint,
    /// 464: the user has not confirmed their account.
    Unconfirmed,
    /// 492: the session is invalid (e.g. the user lost their role on the Page).
    SessionInvalid,
    /// Another (or no) subcode.
    Other(Option<i64>),
}

impl TokenInvalidReason {
    fn from_subcode(subcode: Option<i64>) -> Self {
        match subcode {
            Some(463) => Self::Expired,
            Some(460) => Self::PasswordChanged,
            Some(458) => Self::AppRemoved,
            Some(467) => Self::Invalid,
            Some(459) => Self::Checkpoint,
            Some(464) => Self::Unconfirmed,
            Some(492) => Self::SessionInvalid,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for TokenInvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired => f.write_str("token expired"),
            Self::PasswordChanged => f.write_str("password changed"),
            Self::AppRemoved => f.write_str("app removed by the user"),
            Self::Invalid => f.write_str("token invalidated"),
            Self::Checkpoint => f.write_str("security checkpoint required"),
            Self::Unconfirmed => f.write_str("account unconfirmed"),
            Self::SessionInvalid => f.write_str("session invalid"),
            Self::Other(Some(code)) => write!(f, "subcode {code}"),
            Self::Other(None) => f.write_str("no subcode"),
        }
    }
}

/// What went wrong in a failure that may succeed when tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransientCause {
    /// Meta said so: codes 1, 2, 341 or `is_transient: true`.
    Graph { code: i64, subcode: Option<i64> },
    /// A 5xx (or 408) without a more specific Meta error.
    Http { status: u16 },
    /// The request or connection timed out. The request may or may not have reached Meta.
    Timeout,
    /// No connection could be made; the request did not reach Meta.
    Connect,
    /// The connection broke while sending or receiving. The request may have reached Meta.
    Interrupted,
}

impl fmt::Display for TransientCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Graph {
                code,
                subcode: Some(sub),
            } => write!(f, "Meta error {code}/{sub}"),
            Self::Graph {
                code,
                subcode: None,
            } => write!(f, "Meta error {code}"),
            Self::Http { status } => write!(f, "HTTP {status}"),
            Self::Timeout => f.write_str("timed out"),
            Self::Connect => f.write_str("could not connect"),
            Self::Interrupted => f.write_str("connection interrupted"),
        }
    }
}

/// A failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The token is dead: the account needs reconnecting through OAuth.
    #[error("access token rejected ({reason}): the account needs reconnecting")]
    TokenInvalid { reason: TokenInvalidReason },

    /// Meta is throttling (codes 4, 17, 32, 613, 80001-80014). `code` is `None` for an
    /// HTTP 429 without a Meta body.
    #[error("throttled by Meta{}: retry after {}s", code_suffix(*.code), .retry_after.as_secs())]
    Throttled {
        code: Option<i64>,
        retry_after: Duration,
    },

    /// A temporary failure; retrying later may succeed.
    #[error("temporary failure ({cause})")]
    Transient { cause: TransientCause },

    /// The token lacks a permission (codes 10, 200-299), named when Meta's message does.
    #[error("permission missing{}{}", code_suffix(Some(*.code)), .permission.as_deref().map(|p| format!(": {p}")).unwrap_or_default())]
    PermissionMissing {
        code: i64,
        permission: Option<String>,
    },

    /// The Send API refused: the 24-hour window (7 days with HUMAN_AGENT, 7 days for a
    /// private reply) is closed. Only a new message from the customer reopens it.
    #[error("messaging window closed (code {code}{})", subcode_suffix(*.subcode))]
    WindowClosed { code: i64, subcode: Option<i64> },

    /// The account used its content publishing quota for the last 24 hours (code 9 /
    /// subcode 2207042).
    #[error("content publishing limit reached for the last 24 hours")]
    PublishQuotaReached,

    /// Meta could not use the media (subcodes 2207xxx), with a plain-English explanation.
    #[error("media rejected ({subcode}): {user_message}")]
    Media {
        subcode: i64,
        user_message: &'static str,
    },

    /// Meta only refreshes Instagram tokens that are at least 24 hours old.
    #[error("token refresh refused: the token must be at least 24 hours old")]
    RefreshTooEarly,

    /// Any other error Meta reported; `message` is Meta's (bounded, never holds a token).
    #[error("Meta rejected the request (code {code}{}): {message}", subcode_suffix(*.subcode))]
    InvalidRequest {
        code: i64,
        subcode: Option<i64>,
        message: String,
    },

    /// Meta answered with a body this client does not understand.
    #[error("unexpected response to {context}: {detail}")]
    Decode {
        context: &'static str,
        detail: String,
    },

    /// Refused before sending: the input breaks a rule Meta enforces (or the client
    /// configuration is unusable).
    #[error("request not sent: {reason}")]
    InvalidInput { reason: String },
}

fn code_suffix(code: Option<i64>) -> String {
    code.map(|c| format!(" (code {c})")).unwrap_or_default()
}

fn subcode_suffix(subcode: Option<i64>) -> String {
    subcode.map(|s| format!("/{s}")).unwrap_or_default()
}

/// Meta's `message` is kept for diagnostics but bounded, so a pathological body cannot
/// blow up a log line.
const MAX_MESSAGE_CHARS: usize = 300;

/// Instagram's "this comment already has a private reply" (code 10): a rule, not a
/// missing permission.
const PRIVATE_REPLY_ALREADY_SENT: i64 = 2534023;

/// Media subcodes Meta documents as worth retrying with the same input.
const RETRYABLE_MEDIA_SUBCODES: [i64; 3] = [2207001, 2207003, 2207027];

/// Subcodes (and codes) Meta uses when the Send API window is closed: Instagram
/// 2534022, Messenger 2018278 and 1545041.
const WINDOW_CLOSED_SUBCODES: [i64; 3] = [2534022, 2018278, 1545041];

impl GraphError {
    /// The account must be reconnected through OAuth before any further call can work.
    /// A missing permission is not included: it may be an app-level access problem
    /// that reconnecting does not fix.
    pub fn needs_reconnect(&self) -> bool {
        matches!(self, Self::TokenInvalid { .. })
    }

    /// The same call may succeed later without changes: transient failures, throttling
    /// (after [`Self::retry_after`]), and media errors Meta calls retryable (server error,
    /// download timeout, media not ready yet).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transient { .. } | Self::Throttled { .. } => true,
            Self::Media { subcode, .. } => RETRYABLE_MEDIA_SUBCODES.contains(subcode),
            _ => false,
        }
    }

    /// How long to wait before calling again, when Meta said (throttling).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Only these failures are retried automatically, and only for idempotent calls.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// A media error for a subcode, with its plain-English explanation.
    pub fn media(subcode: i64) -> Self {
        if subcode == 2207042 {
            return Self::PublishQuotaReached;
        }
        Self::Media {
            subcode,
            user_message: media_message(subcode),
        }
    }

    /// Maps an error response: HTTP status, body, and the usage headers of the same
    /// response (for the time to regain access when throttled). Never panics.
    pub(crate) fn from_response(
        status: u16,
        body: &[u8],
        usage: &Usage,
        throttle_fallback: Duration,
    ) -> Self {
        let retry_after = usage.regain_access_after().unwrap_or(throttle_fallback);
        match MetaErrorBody::parse(body) {
            Some(meta) => classify(status, meta, retry_after),
            None => match status {
                429 => Self::Throttled {
                    code: None,
                    retry_after,
                },
                408 | 500..=599 => Self::Transient {
                    cause: TransientCause::Http { status },
                },
                _ => Self::Decode {
                    context: "an error response",
                    detail: format!("HTTP {status} without a Meta error body"),
                },
            },
        }
    }

    /// Maps a reqwest failure to its kind only: reqwest's own message carries the URL,
    /// and OAuth URLs carry secrets.
    pub(crate) fn from_transport(err: &reqwest::Error) -> Self {
        let cause = if err.is_timeout() {
            TransientCause::Timeout
        } else if err.is_connect() {
            TransientCause::Connect
        } else if err.is_builder() {
            return Self::InvalidInput {
                reason: "the request could not be built".into(),
            };
        } else if err.is_decode() {
            return Self::Decode {
                context: "a response",
                detail: "the body could not be read".into(),
            };
        } else {
            TransientCause::Interrupted
        };
        Self::Transient { cause }
    }

    /// A body that did not match the expected shape. serde's messages can quote values
    /// from the body (which may be a token), so only value-free messages are kept.
    pub(crate) fn decode(context: &'static str, err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let message = err.to_string();
        let quotes_values = [
            "invalid type",
            "invalid value",
            "unknown variant",
            "invalid length",
        ]
        .iter()
        .any(|prefix| message.starts_with(prefix));
        let detail = match err.classify() {
            Category::Data if !quotes_values => message,
            Category::Data => format!(
                "a field has an unexpected type or value at line {} column {}",
                err.line(),
                err.column()
            ),
            Category::Syntax => format!(
                "invalid JSON at line {} column {}",
                err.line(),
                err.column()
            ),
            Category::Eof => "the body ended early".into(),
            Category::Io => "the body could not be read".into(),
        };
        Self::Decode { context, detail }
    }
}

/// Plain-English sentence for each media subcode Meta documents.
pub fn media_message(subcode: i64) -> &'static str {
    match subcode {
        2207001 => "Instagram had a server error while processing the media; try again.",
        2207003 => {
            "Instagram timed out downloading the media; try again, and check that the URL is public and fast."
        }
        2207020 => {
            "The media container expired because it was not published within 24 hours; create a new one."
        }
        2207026 => {
            "The video format is not supported; use MP4 or MOV (H.264 video, AAC audio) within Instagram's size and length limits."
        }
        2207027 => {
            "The media is not ready to publish yet; wait until its status is FINISHED, then publish."
        }
        2207028 => {
            "The carousel is invalid; every item must be a finished image or video container, 2 to 10 in total."
        }
        2207010 => {
            "The caption is too long; Instagram allows 2,200 characters, 30 hashtags and 20 mentions."
        }
        2207008 => {
            "The container no longer exists (already published or removed); check its status before creating a new one."
        }
        2207042 => "The account reached its publishing limit for the last 24 hours.",
        2207051 => {
            "Instagram restricted this action as suspected spam; publish less often and try again later."
        }
        _ => "Instagram could not process the media; check the file and its URL, then try again.",
    }
}

/// The fields of Meta's error body this client acts on.
#[derive(Debug, Default, PartialEq)]
struct MetaErrorBody {
    code: Option<i64>,
    subcode: Option<i64>,
    message: String,
    is_transient: bool,
}

impl MetaErrorBody {
    fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let object = value.as_object()?;
        if let Some(Value::Object(error)) = object.get("error") {
            // Graph form.
            return Some(Self {
                code: integer(error.get("code")),
                subcode: integer(error.get("error_subcode")),
                message: text(error.get("message")),
                is_transient: flag(error.get("is_transient")),
            });
        }
        if object.contains_key("error_type") || object.contains_key("error_message") {
            // api.instagram.com form.
            return Some(Self {
                code: integer(object.get("code")),
                subcode: integer(object.get("error_subcode")),
                message: text(object.get("error_message")),
                is_transient: false,
            });
        }
        None
    }
}

fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> String {
    let raw = value.and_then(Value::as_str).unwrap_or_default();
    raw.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn is_throttle_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613 | 80001..=80014)
}

fn classify(status: u16, meta: MetaErrorBody, retry_after: Duration) -> GraphError {
    let MetaErrorBody {
        code,
        subcode,
        message,
        is_transient,
    } = meta;
    let lower = message.to_ascii_lowercase();
    let code_value = code.unwrap_or_default();

    // 190 (and the older 102) mean the token itself is dead.
    if matches!(code, Some(190 | 102)) {
        return GraphError::TokenInvalid {
            reason: TokenInvalidReason::from_subcode(subcode),
        };
    }
    if code.is_some_and(is_throttle_code) {
        return GraphError::Throttled { code, retry_after };
    }
    let window_closed = subcode.is_some_and(|s| WINDOW_CLOSED_SUBCODES.contains(&s))
        || code.is_some_and(|c| WINDOW_CLOSED_SUBCODES.contains(&c))
        || lower.contains("outside of allowed window");
    if window_closed {
        return GraphError::WindowClosed {
            code: code_value,
            subcode,
        };
    }
    if subcode == Some(2207042) || code == Some(9) {
        return GraphError::PublishQuotaReached;
    }
    if let Some(sub @ 2207000..=2207999) = subcode {
        return GraphError::media(sub);
    }
    // Meta refuses to refresh an Instagram token younger than 24 hours.
    if lower.contains("at least 24 hours") {
        return GraphError::RefreshTooEarly;
    }
    if matches!(code, Some(1 | 2 | 341)) || is_transient {
        return GraphError::Transient {
            cause: TransientCause::Graph {
                code: code_value,
                subcode,
            },
        };
    }
    if matches!(code, Some(10 | 200..=299)) && subcode != Some(PRIVATE_REPLY_ALREADY_SENT) {
        return GraphError::PermissionMissing {
            code: code_value,
            permission: permission_named_in(&message),
        };
    }
    if matches!(status, 408 | 500..=599) {
        return GraphError::Transient {
            cause: TransientCause::Http { status },
        };
    }
    GraphError::InvalidRequest {
        code: code_value,
        subcode,
        message,
    }
}

/// Meta names the missing permission in its message ("(#10) Requires
/// instagram_business_manage_messages permission"); pick the first word that looks like
/// a permission.
fn permission_named_in(message: &str) -> Option<String> {
    const PREFIXES: [&str; 10] = [
        "instagram_",
        "pages_",
        "business_",
        "ads_",
        "publish_",
        "read_",
        "user_",
        "catalog_",
        "whatsapp_",
        "leads_",
    ];
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|word| {
            word.len() <= 80
                && PREFIXES
                    .iter()
                    .any(|p| word.starts_with(p) && word.len() > p.len())
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FALLBACK: Duration = Duration::from_secs(300);

    fn graph(status: u16, body: &str) -> GraphError {
        GraphError::from_response(status, body.as_bytes(), &Usage::default(), FALLBACK)
    }

    fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> String {
        let sub = subcode
            .map(|s| format!(r#","error_subcode":{s}"#))
            .unwrap_or_default();
        format!(
            r#"{{"error":{{"message":"{message}","type":"OAuthException","code":{code}{sub},"fbtrace_id":"AbCdEf123"}}}}"#
        )
    }

    #[test]
    fn token_errors_name_the_reason_and_need_reconnect() {
        let cases = [
            (Some(463), TokenInvalidReason::Expired),
            (Some(460), TokenInvalidReason::PasswordChanged),
            (Some(458), TokenInvalidReason::AppRemoved),
            (Some(467), TokenInvalidReason::Invalid),
            (Some(459), TokenInvalidReason::Checkpoint),
            (Some(464), TokenInvalidReason::Unconfirmed),
            (Some(492), TokenInvalidReason::SessionInvalid),
            (Some(999), TokenInvalidReason::Other(Some(999))),
            (None, TokenInvalidReason::Other(None)),
        ];
        for (subcode, reason) in cases {
            let err = graph(
                400,
                &graph_error(
                    190,
                    subcode,
                    "Error validating access token: Session has expired.",
                ),
            );
            assert_eq!(
                err,
                GraphError::TokenInvalid {
                    reason: reason.clone()
                }
            );
            assert!(err.needs_reconnect());
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn throttling_codes_carry_a_retry_after() {
        for code in [4, 17, 32, 613, 80001, 80002, 80006, 80014] {
            let err = graph(
                400,
                &graph_error(code, None, "(#4) Application request limit reached"),
            );
            assert_eq!(
                err,
                GraphError::Throttled {
                    code: Some(code),
                    retry_after: FALLBACK
                }
            );
            assert!(err.is_retryable());
            assert_eq!(err.retry_after(), Some(FALLBACK));
        }
        assert!(!matches!(
            graph(400, &graph_error(80015, None, "x")),
            GraphError::Throttled { .. }
        ));
    }

    #[test]
    fn throttle_wait_comes_from_the_business_usage_header() {
        let usage = Usage::parse(
            None,
            Some(
                r#"{"17841400000000001":[{"type":"instagram","call_count":100,"total_cputime":3,"total_time":4,"estimated_time_to_regain_access":12}]}"#,
            ),
        );
        let err = GraphError::from_response(
            400,
            graph_error(80002, None, "too many calls").as_bytes(),
            &usage,
            FALLBACK,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(12 * 60)));
    }

    #[test]
    fn transient_codes_and_flag() {
        for code in [1, 2, 341] {
            assert_eq!(
                graph(500, &graph_error(code, None, "An unknown error occurred")),
                GraphError::Transient {
                    cause: TransientCause::Graph {
                        code,
                        subcode: None
                    }
                }
            );
        }
        let flagged = r#"{"error":{"message":"Please retry","type":"OAuthException","code":100,"error_subcode":33,"is_transient":true}}"#;
        assert!(graph(400, flagged).is_transient());
        assert_eq!(
            graph(503, "<html>Service Unavailable</html>"),
            GraphError::Transient {
                cause: TransientCause::Http { status: 503 }
            }
        );
        assert!(graph(502, "").is_retryable());
    }

    #[test]
    fn permission_errors_name_the_permission() {
        let err = graph(
            403,
            &graph_error(
                10,
                None,
                "(#10) Requires instagram_business_manage_messages permission",
            ),
        );
        assert_eq!(
            err,
            GraphError::PermissionMissing {
                code: 10,
                permission: Some("instagram_business_manage_messages".into())
            }
        );
        let err = graph(
            400,
            &graph_error(
                200,
                None,
                "(#200) Requires pages_messaging permission to manage the object",
            ),
        );
        assert_eq!(
            err,
            GraphError::PermissionMissing {
                code: 200,
                permission: Some("pages_messaging".into())
            }
        );
        let err = graph(
            400,
            &graph_error(230, None, "(#230) Application does not have permission"),
        );
        assert_eq!(
            err,
            GraphError::PermissionMissing {
                code: 230,
                permission: None
            }
        );
        assert!(!err.needs_reconnect());
    }

    #[test]
    fn window_closed_on_instagram_and_messenger() {
        let ig = graph(
            400,
            &graph_error(
                10,
                Some(2534022),
                "This message is sent outside of allowed window.",
            ),
        );
        assert_eq!(
            ig,
            GraphError::WindowClosed {
                code: 10,
                subcode: Some(2534022)
            }
        );
        let messenger = graph(400, &graph_error(10, Some(2018278), "Message failed"));
        assert!(matches!(messenger, GraphError::WindowClosed { .. }));
        let messenger = graph(400, &graph_error(100, Some(1545041), "Message failed"));
        assert!(matches!(messenger, GraphError::WindowClosed { .. }));
        assert!(!messenger.is_retryable());
    }

    #[test]
    fn publish_quota() {
        assert_eq!(
            graph(
                400,
                &graph_error(9, Some(2207042), "Application request limit reached")
            ),
            GraphError::PublishQuotaReached
        );
        assert_eq!(
            graph(400, &graph_error(9, None, "Too many posts")),
            GraphError::PublishQuotaReached
        );
    }

    #[test]
    fn media_errors_explain_each_subcode() {
        let cases = [
            (2207003, true, "timed out downloading"),
            (2207001, true, "server error"),
            (2207020, false, "expired"),
            (2207026, false, "video format"),
            (2207027, true, "not ready"),
            (2207028, false, "carousel"),
            (2207010, false, "caption is too long"),
            (2207051, false, "spam"),
            (2207999, false, "could not process"),
        ];
        for (subcode, retryable, phrase) in cases {
            let err = graph(
                400,
                &graph_error(9004, Some(subcode), "Media upload has failed"),
            );
            let GraphError::Media {
                subcode: got,
                user_message,
            } = &err
            else {
                panic!("subcode {subcode} mapped to {err:?}");
            };
            assert_eq!(*got, subcode);
            assert!(user_message.contains(phrase), "{subcode}: {user_message}");
            assert_eq!(err.is_retryable(), retryable, "{subcode}");
        }
        assert_eq!(
            graph(
                400,
                &graph_error(9007, Some(2207027), "Media ID is not available")
            ),
            GraphError::media(2207027)
        );
        assert_eq!(GraphError::media(2207042), GraphError::PublishQuotaReached);
        assert!(media_message(2207042).contains("publishing limit"));
    }

    #[test]
    fn second_private_reply_is_a_rule_not_a_permission() {
        let err = graph(
            400,
            &graph_error(
                10,
                Some(2534023),
                "(#10) This comment already has a private reply.",
            ),
        );
        assert!(matches!(
            err,
            GraphError::InvalidRequest {
                code: 10,
                subcode: Some(2534023),
                ..
            }
        ));
    }

    #[test]
    fn refresh_too_early() {
        let err = graph(
            400,
            &graph_error(
                10,
                None,
                "Token must be at least 24 hours old to be refreshed",
            ),
        );
        assert_eq!(err, GraphError::RefreshTooEarly);
    }

    #[test]
    fn other_errors_keep_metas_message() {
        let err = graph(
            400,
            &graph_error(
                100,
                Some(33),
                "Unsupported get request. Object with ID '123' does not exist",
            ),
        );
        assert_eq!(
            err,
            GraphError::InvalidRequest {
                code: 100,
                subcode: Some(33),
                message: "Unsupported get request. Object with ID '123' does not exist".into()
            }
        );
        assert!(err.to_string().contains("code 100/33"));
    }

    #[test]
    fn instagram_api_error_form() {
        let body = r#"{"error_type": "OAuthException", "code": 400, "error_message": "Matching code was not found or was already used"}"#;
        assert_eq!(
            graph(400, body),
            GraphError::InvalidRequest {
                code: 400,
                subcode: None,
                message: "Matching code was not found or was already used".into()
            }
        );
    }

    #[test]
    fn codes_as_strings_are_understood() {
        let body = r#"{"error":{"message":"x","code":"190","error_subcode":"463"}}"#;
        assert_eq!(
            graph(400, body),
            GraphError::TokenInvalid {
                reason: TokenInvalidReason::Expired
            }
        );
    }

    #[test]
    fn bodies_that_are_not_meta_errors() {
        assert_eq!(
            graph(429, ""),
            GraphError::Throttled {
                code: None,
                retry_after: FALLBACK
            }
        );
        assert!(matches!(graph(404, "<html>"), GraphError::Decode { .. }));
        assert!(matches!(
            graph(400, r#"{"error":"text"}"#),
            GraphError::Decode { .. }
        ));
    }

    #[test]
    fn long_messages_are_bounded() {
        let long = "x".repeat(5000);
        let GraphError::InvalidRequest { message, .. } = graph(400, &graph_error(100, None, &long))
        else {
            panic!("expected InvalidRequest");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Token {
            expires_in: u64,
        }
        let err = serde_json::from_str::<Token>(r#"{"expires_in":"IGAAsecret"}"#)
            .expect_err("a string is not a number");
        let mapped = GraphError::decode("token exchange", &err);
        assert!(!mapped.to_string().contains("IGAAsecret"), "{mapped}");
        assert!(!format!("{mapped:?}").contains("IGAAsecret"));
        let missing = serde_json::from_str::<Token>("{}").expect_err("field missing");
        assert!(
            GraphError::decode("token exchange", &missing)
                .to_string()
                .contains("missing field `expires_in`")
        );
    }

    proptest! {
        #[test]
        fn mapper_never_panics(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = GraphError::from_response(status, &body, &Usage::default(), FALLBACK).to_string();
        }

        #[test]
        fn mapper_never_panics_on_meta_shaped_bodies(
            status in 400u16..600,
            code in any::<i64>(),
            subcode in proptest::option::of(any::<i64>()),
            message in ".{0,400}",
            transient in any::<bool>(),
        ) {
            let body = serde_json::json!({"error": {
                "message": message, "code": code, "error_subcode": subcode, "is_transient": transient
            }});
            let err = GraphError::from_response(status, body.to_string().as_bytes(), &Usage::default(), FALLBACK);
            let shown = err.to_string();
            prop_assert!(shown.chars().count() < MAX_MESSAGE_CHARS + 200);
            if code == 190 {
                prop_assert!(err.needs_reconnect());
            }
        }
    }
}
