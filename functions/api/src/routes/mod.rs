//! The handlers, one module per resource, and the extractors they share: bodies that
//! refuse unknown fields, query strings and path ids that fail as problems, and paging.

pub mod accounts;
pub mod audit;
pub mod comments;
pub mod inbox;
pub mod insights;
pub mod keys;
pub mod knowledge;
pub mod operator;
pub mod posts;
pub mod tenant;
pub mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, patch, post};
use relay::store::{Cursor, Listing};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::App;
use crate::access::{Caller, MAX_BODY, Member};
use crate::problem::Problem;

/// Every route of the API (the access gate is layered on by [`crate::router`]).
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/openapi.json", get(crate::openapi::serve))
        .route("/v1/accounts", get(accounts::list))
        .route(
            "/v1/accounts/{account_id}",
            get(accounts::show).delete(accounts::disconnect),
        )
        .route(
            "/v1/accounts/{account_id}/settings",
            patch(accounts::update_settings),
        )
        .route("/v1/accounts/{account_id}/profile", get(insights::profile))
        .route("/v1/accounts/{account_id}/insights", get(insights::account))
        .route("/v1/accounts/{account_id}/insights.csv", get(insights::csv))
        .route(
            "/v1/accounts/{account_id}/insights/refresh",
            post(insights::refresh),
        )
        .route("/v1/media/{media_id}/insights", get(insights::media))
        .route("/v1/conversations", get(inbox::list))
        .route("/v1/conversations/{conversation_id}", get(inbox::show))
        .route(
            "/v1/conversations/{conversation_id}/messages",
            get(inbox::messages).post(inbox::reply),
        )
        .route(
            "/v1/conversations/{conversation_id}/assign",
            post(inbox::assign),
        )
        .route(
            "/v1/conversations/{conversation_id}/read",
            post(inbox::mark_read),
        )
        .route(
            "/v1/conversations/{conversation_id}/pause",
            post(inbox::pause),
        )
        .route(
            "/v1/conversations/{conversation_id}/resume",
            post(inbox::resume),
        )
        .route("/v1/drafts", get(inbox::drafts))
        .route(
            "/v1/conversations/{conversation_id}/drafts/{draft_id}/approve",
            post(inbox::approve),
        )
        .route(
            "/v1/conversations/{conversation_id}/drafts/{draft_id}/reject",
            post(inbox::reject),
        )
        .route(
            "/v1/knowledge",
            get(knowledge::list).post(knowledge::create),
        )
        .route(
            "/v1/knowledge/{entry_id}",
            get(knowledge::show)
                .put(knowledge::replace)
                .delete(knowledge::remove),
        )
        .route("/v1/posts", get(posts::list).post(posts::create))
        .route("/v1/media", post(uploads::create))
        .route(
            "/v1/posts/{post_id}",
            get(posts::show).patch(posts::change).delete(posts::cancel),
        )
        .route("/v1/comments", get(comments::list))
        .route("/v1/comments/{comment_id}", get(comments::show))
        .route("/v1/comments/{comment_id}/{action}", post(comments::act))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{key_id}", delete(keys::revoke))
        .route("/v1/tenant/erase", post(tenant::erase))
        .route(
            "/v1/tenants",
            get(operator::list_tenants).post(operator::create_tenant),
        )
        .route(
            "/v1/tenants/{tenant_id}/keys",
            post(operator::create_owner_key),
        )
        .route(
            "/v1/tenants/{tenant_id}/onboarding-links",
            post(operator::onboarding_link),
        )
        .route("/v1/health", get(operator::health))
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take that method",
            )
        })
}

/// A JSON body, refused (422, with the field) when it is malformed or has unknown fields.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let json = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| Problem::invalid("the body could not be read"))?;
        if bytes.len() > MAX_BODY {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                format!("bodies are at most {MAX_BODY} bytes"),
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(Body).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." {
                "body".to_owned()
            } else {
                field
            };
            Problem::invalid_field(&field, e.into_inner().to_string())
        })
    }
}

/// A query string, refused (422, with the parameter) when a value does not parse.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let field = e.path().to_string();
                Problem::invalid_field(&field, e.into_inner().to_string())
            })
    }
}

/// The path's ids, as strings; each handler parses its own (a bad id is a 404).
pub struct Ids(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(values) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|_| Problem::not_found("resource"))?;
        Ok(Ids(values.into_iter().map(|(_, v)| v).collect()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        match parts.extensions.get::<Caller>() {
            Some(Caller::Member(member)) => Ok(member.clone()),
            _ => Err(Problem::forbidden("this route is for a tenant's team")),
        }
    }
}

/// Paging of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

impl Paging {
    pub fn limit(&self) -> Result<u32, Problem> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(Problem::invalid_field(
                "limit",
                format!("use 1 to {MAX_LIMIT}"),
            )),
        }
    }

    pub fn listing(&self) -> Result<Listing, Problem> {
        Ok(Listing {
            limit: self.limit()? as i32,
            newest_first: false,
            cursor: self.cursor.as_deref().map(Cursor::parse).transpose()?,
        })
    }
}
