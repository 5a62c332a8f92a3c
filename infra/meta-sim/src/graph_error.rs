//! Meta's error answers, and the one place that maps the simulator's rule errors to
//! Meta's codes, subcodes and HTTP statuses.
//!
//! Graph hosts answer `{"error":{"message","type","code","error_subcode",
//! "is_transient","fbtrace_id"}}`; the Instagram code-exchange endpoint answers
//! `{"error_type":"OAuthException","code":400,"error_message":...}`.

use crate::state::accounts::{Capability, CodeError, Platform, RefreshError, TokenError};
use crate::state::ids;
use crate::state::messaging::{Channel, PrivateReplyRefusal, SendRefusal};
use crate::state::publishing::{ContainerRefusal, PublishRefusal};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered by a Graph host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: i64,
    pub subcode: Option<i64>,
    pub is_transient: bool,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
}

impl GraphError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "OAuthException",
            code,
            subcode: None,
            is_transient: false,
            user_title: None,
            user_msg: None,
        }
    }

    pub fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn transient(mut self) -> Self {
        self.is_transient = true;
        self
    }

    pub fn user(mut self, title: &str, msg: &str) -> Self {
        self.user_title = Some(title.to_owned());
        self.user_msg = Some(msg.to_owned());
        self
    }

    /// `(#100)` parameter errors.
    pub fn param(message: impl std::fmt::Display) -> Self {
        Self::new(100, format!("(#100) {message}"))
    }

    /// A node that does not exist or that the token may not see (100/33).
    pub fn no_object(id: &str, method: &str) -> Self {
        Self::new(
            100,
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .subcode(33)
        .kind("GraphMethodException")
    }

    pub fn unknown_path(path: &str) -> Self {
        Self::new(2500, format!("Unknown path components: /{path}")).kind("OAuthException")
    }

    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::param(format!(
            "Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    pub fn missing_token() -> Self {
        Self::new(104, "An access token is required to request this resource.")
    }

    /// A token for the other login product (an `IGAA` token on graph.facebook.com).
    pub fn unparsable_token() -> Self {
        Self::new(
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    pub fn token(err: TokenError) -> Self {
        match err {
            TokenError::Unknown => Self::new(
                190,
                "Error validating access token: The session is invalid because the user logged out.",
            )
            .subcode(467),
            TokenError::Expired { expired_at_ms } => Self::new(
                190,
                format!(
                    "Error validating access token: Session has expired on {}.",
                    crate::state::clock::graph_timestamp_of(expired_at_ms)
                ),
            )
            .subcode(463),
            TokenError::Revoked { subcode } => {
                let why = match subcode {
                    458 => "The user has not authorized application.",
                    460 => "The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
                    464 => "The user is not a confirmed user.",
                    459 => "You cannot access the app till you log in to www.facebook.com and follow the instructions given.",
                    _ => "The session is invalid because the user logged out.",
                };
                Self::new(190, format!("Error validating access token: {why}"))
                    .subcode(i64::from(subcode))
            }
        }
    }

    pub fn refresh(err: RefreshError) -> Self {
        match err {
            RefreshError::Invalid(e) => Self::token(e),
            // Meta's wording for a too-early refresh (code 10).
            RefreshError::TooEarly { .. } => Self::new(
                10,
                "(#10) Token cannot be refreshed: the access token must be at least 24 hours old.",
            ),
            RefreshError::NotLongLived => Self::param(
                "Invalid token type: only long-lived Instagram User access tokens can be refreshed",
            ),
        }
    }

    /// Errors of graph.facebook.com `/oauth/access_token` with a code.
    pub fn fb_code(err: CodeError) -> Self {
        match err {
            CodeError::Unknown => {
                Self::param("Invalid verification code format.").subcode(36_007)
            }
            CodeError::Expired => Self::param(
                "This authorization code has expired.",
            )
            .subcode(36_007),
            CodeError::Used => Self::param("This authorization code has been used.").subcode(36_009),
            CodeError::RedirectMismatch => Self::param(
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            )
            .subcode(36_008),
            CodeError::WrongClient => Self::param(
                "Error validating verification code: the code was issued to another app.",
            ),
        }
    }

    pub fn missing_permission(cap: Capability, platform: Platform) -> Self {
        Self::new(
            200,
            format!(
                "(#200) Requires {} permission to manage the object",
                cap.required_permission(platform)
            ),
        )
    }

    pub fn page_token_required() -> Self {
        Self::new(
            210,
            "(#210) A page access token is required to request this resource.",
        )
    }

    pub fn send(err: SendRefusal, channel: Channel) -> Self {
        match (err, channel) {
            (SendRefusal::NoConversation, Channel::Instagram) => {
                Self::param("No matching user found").subcode(2_534_014)
            }
            (SendRefusal::NoConversation, Channel::Messenger) => {
                Self::param("No matching user found").subcode(2_018_001)
            }
            (SendRefusal::OutsideWindow { .. }, Channel::Instagram) => {
                Self::new(10, "(#10) This message is sent outside of allowed window.")
                    .subcode(2_534_022)
                    .user(
                        "Message not sent",
                        "This message was sent outside of the allowed window.",
                    )
            }
            // The platform notes give 1545041 for a closed Messenger window.
            (SendRefusal::OutsideWindow { .. }, Channel::Messenger) => {
                Self::new(10, "(#10) This message is sent outside of allowed window.")
                    .subcode(1_545_041)
            }
            (SendRefusal::EmptyText, _) => Self::param("Message text cannot be empty"),
            (SendRefusal::TextTooLong { .. }, _) => {
                Self::param("Length of param message[text] must be less than or equal to 1000")
            }
        }
    }

    pub fn private_reply(err: PrivateReplyRefusal) -> Self {
        match err {
            PrivateReplyRefusal::AlreadyReplied => {
                Self::new(10, "(#10) This comment already has a private reply.").subcode(2_534_023)
            }
            PrivateReplyRefusal::TooOld { .. } => {
                Self::new(10, "(#10) This message is sent outside of allowed window.")
                    .subcode(2_534_022)
            }
        }
    }

    pub fn publish(err: PublishRefusal, creation_id: &str) -> Self {
        match err {
            PublishRefusal::NotReady => Self::new(
                9007,
                "The media is not ready for publishing, please wait for a moment",
            )
            .subcode(2_207_027)
            .user("Media not ready", "The media is not ready to be published. Please wait a moment."),
            PublishRefusal::Failed(failure) => Self::new(9007, failure.message.clone())
                .subcode(i64::from(failure.subcode)),
            // Meta's error table lists 2207020 under code -2.
            PublishRefusal::Expired => Self::new(
                -2,
                "The media you are trying to access has expired. Please try to upload again.",
            )
            .subcode(2_207_020),
            PublishRefusal::QuotaReached => Self::new(
                9,
                "Application request limit reached",
            )
            .subcode(2_207_042)
            .user("Publishing limit reached", "You reached maximum number of posts that is allowed to be published by Content Publishing API."),
            // A consumed container is gone as a builder: publishing it again is refused.
            PublishRefusal::AlreadyPublished => Self::new(
                24,
                format!("The media builder with creation id = {creation_id} does not exist or has been removed."),
            )
            .subcode(2_207_008),
            PublishRefusal::CarouselItem => Self::param(
                "A carousel item container cannot be published on its own",
            )
            .subcode(2_207_028),
        }
    }

    pub fn container(err: ContainerRefusal) -> Self {
        match err {
            ContainerRefusal::CaptionTooLong { .. } => Self::param("The caption is too long")
                .subcode(2_207_010)
                .user(
                    "Caption too long",
                    "The caption can be at most 2200 characters.",
                ),
            ContainerRefusal::CarouselSize { .. } | ContainerRefusal::CarouselChild { .. } => {
                Self::param(err.to_string()).subcode(2_207_028)
            }
            // Meta's answer to a URL it could not download, wording included.
            ContainerRefusal::MediaUnfetchable { url } => Self::new(
                9004,
                "Only photo or video can be accepted as media type.",
            )
            .subcode(2_207_052)
            .user(
                "Media download has failed. The media URI doesn't meet our requirements.",
                &format!(
                    "The media could not be fetched from this uri: {url}. Please check the limitations section in our development document for more information: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media#creating"
                ),
            ),
            ContainerRefusal::MediaTimeout => {
                Self::new(-2, "It takes too long to download the media.").subcode(2_207_003)
            }
            ContainerRefusal::ImageFormat { .. } => {
                Self::new(36_001, "The image format is not supported.")
                    .subcode(2_207_005)
                    .user(
                        "Unsupported image format",
                        "The image format is not supported. Supported formats are: JPEG.",
                    )
            }
            ContainerRefusal::VideoFormat { .. } => Self::new(
                352,
                "The video format is not supported. Please check spec for supported video formats.",
            )
            .subcode(2_207_026),
        }
    }

    pub fn app_throttled() -> Self {
        Self::new(4, "(#4) Application request limit reached").transient()
    }

    /// The business use case limit of the account a call was accounted to, by the
    /// use case type of the usage header: `instagram` 80002, `messenger` 80006,
    /// `pages` 80001.
    pub fn account_throttled(buc_type: &str) -> Self {
        match buc_type {
            "messenger" => Self::new(
                80_006,
                "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again.",
            ),
            "pages" => Self::new(
                80_001,
                "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
            ),
            _ => Self::new(
                80_002,
                "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
            ),
        }
        .transient()
    }

    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("message".into(), json!(self.message));
        e.insert("type".into(), json!(self.kind));
        e.insert("code".into(), json!(self.code));
        if let Some(sub) = self.subcode {
            e.insert("error_subcode".into(), json!(sub));
        }
        if let Some(t) = &self.user_title {
            e.insert("error_user_title".into(), json!(t));
        }
        if let Some(m) = &self.user_msg {
            e.insert("error_user_msg".into(), json!(m));
        }
        e.insert("is_transient".into(), json!(self.is_transient));
        e.insert("fbtrace_id".into(), json!(ids::fbtrace_id()));
        json!({ "error": e })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        // Meta marks OAuth failures on the Graph API with this header too.
        let mut res = (self.status, Json(self.body())).into_response();
        if self.code == 190 || self.code == 104 {
            if let Ok(v) = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message.replace('"', "'")
            )
            .parse()
            {
                res.headers_mut().insert("www-authenticate", v);
            }
        }
        res
    }
}

/// An error of `POST api.instagram.com/oauth/access_token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgOAuthError(pub String);

impl IgOAuthError {
    pub fn code(err: CodeError) -> Self {
        Self(
            match err {
                CodeError::Unknown => "Invalid authorization code",
                CodeError::Used => "This authorization code has been used",
                CodeError::Expired => "This authorization code has expired",
                CodeError::RedirectMismatch => {
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"
                }
                CodeError::WrongClient => "Invalid authorization code",
            }
            .to_owned(),
        )
    }
}

impl IntoResponse for IgOAuthError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error_type": "OAuthException", "code": 400, "error_message": self.0})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_metas_shape() {
        let b = GraphError::send(SendRefusal::NoConversation, Channel::Instagram).body();
        assert_eq!(b["error"]["code"], 100);
        assert_eq!(b["error"]["error_subcode"], 2_534_014);
        assert_eq!(b["error"]["type"], "OAuthException");
        assert_eq!(b["error"]["is_transient"], false);
        assert!(b["error"]["fbtrace_id"].as_str().is_some());
    }

    #[test]
    fn window_errors_carry_the_channel_subcode() {
        let refusal = SendRefusal::OutsideWindow {
            age_secs: 90_000,
            limit_secs: 86_400,
        };
        assert_eq!(
            GraphError::send(refusal, Channel::Instagram).subcode,
            Some(2_534_022)
        );
        assert_eq!(
            GraphError::send(refusal, Channel::Messenger).subcode,
            Some(1_545_041)
        );
    }

    #[test]
    fn publish_errors_use_metas_codes() {
        let e = GraphError::publish(PublishRefusal::NotReady, "1");
        assert_eq!((e.code, e.subcode), (9007, Some(2_207_027)));
        let e = GraphError::publish(PublishRefusal::QuotaReached, "1");
        assert_eq!((e.code, e.subcode), (9, Some(2_207_042)));
        let e = GraphError::publish(PublishRefusal::Expired, "1");
        assert_eq!(e.subcode, Some(2_207_020));
    }

    #[test]
    fn media_download_errors_use_metas_codes() {
        let codes = |r: ContainerRefusal| {
            let e = GraphError::container(r);
            (e.code, e.subcode)
        };
        let url = "http://127.0.0.1:9/a.jpg".to_owned();
        assert_eq!(
            codes(ContainerRefusal::MediaUnfetchable { url: url.clone() }),
            (9004, Some(2_207_052))
        );
        assert_eq!(codes(ContainerRefusal::MediaTimeout), (-2, Some(2_207_003)));
        assert_eq!(
            codes(ContainerRefusal::ImageFormat { content_type: None }),
            (36_001, Some(2_207_005))
        );
        assert_eq!(
            codes(ContainerRefusal::VideoFormat { content_type: None }),
            (352, Some(2_207_026))
        );
        let unfetchable = GraphError::container(ContainerRefusal::MediaUnfetchable { url });
        assert!(
            unfetchable
                .user_msg
                .is_some_and(|m| m.contains("127.0.0.1:9/a.jpg"))
        );
    }
}
