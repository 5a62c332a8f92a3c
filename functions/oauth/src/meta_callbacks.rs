//! Meta's deauthorize and data-deletion callbacks, and the deletion status page.
//!
//! Both callbacks arrive as a form POST with `signed_request`, verified with the app
//! secret of the app the path names (Instagram and Facebook apps have their own); what
//! follows is a command of [`relay::accounts::erase`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use relay::onboarding::html::{self, DeletionView, ProblemView};
use relay::onboarding::{
    DeletionCodes, Provider, SignedRequest, SignedRequestError, verify_signed_request,
};
use tracing::warn;

use crate::responses::{json, not_found, page, problem, try_again};
use crate::{App, Params, paths};

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// A callback from the app the path names, its signed_request verified with that app's
/// secret; refused (the answer Meta gets) otherwise.
pub(crate) struct Verified {
    provider: Provider,
    signed: SignedRequest,
}

impl FromRequest<Arc<App>> for Verified {
    type Rejection = Response<Body>;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Path(provider) = Path::<String>::from_request_parts(&mut parts, app)
            .await
            .map_err(|_| not_found())?;
        let provider = Provider::parse(&provider).ok_or_else(not_found)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(|_| {
                json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": "unreadable body"}),
                )
            })?;
        let secret = match provider {
            Provider::Instagram => &app.instagram_app_secret,
            Provider::Facebook => &app.facebook_app_secret,
        };
        let field = form_field(&body, "signed_request");
        match verify_signed_request(field.as_deref(), Some(secret)) {
            Ok(signed) => Ok(Self { provider, signed }),
            Err(error) => {
                app.metrics.count("SignedRequestsRejected", 1);
                warn!(provider = %provider, %error, "signed_request refused");
                let status = match error {
                    SignedRequestError::Missing | SignedRequestError::Malformed => {
                        StatusCode::BAD_REQUEST
                    }
                    SignedRequestError::BadSignature | SignedRequestError::UnsupportedAlgorithm => {
                        StatusCode::FORBIDDEN
                    }
                    SignedRequestError::NoSecret => StatusCode::INTERNAL_SERVER_ERROR,
                };
                Err(json(
                    status,
                    &serde_json::json!({"error": error.to_string()}),
                ))
            }
        }
    }
}

/// `POST /oauth/deauthorize/{provider}`: the user removed the app.
pub(crate) async fn deauthorize(
    State(app): State<Arc<App>>,
    Verified { provider, signed }: Verified,
) -> Response<Body> {
    match app.erasure.deauthorize(provider, &signed.user_id).await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({"success": true})),
        Err(_) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": "try again"}),
        ),
    }
}

/// `POST /oauth/data-deletion/{provider}`: erase the user's data and answer
/// `{url, confirmation_code}`. A resent request has the same code and resumes; a
/// failure answers 503 so Meta sends it again.
pub(crate) async fn data_deletion(
    State(app): State<Arc<App>>,
    Verified { provider, signed }: Verified,
) -> Response<Body> {
    match app.erasure.delete_data(provider, &signed).await {
        Ok(code) => {
            let url = app
                .settings
                .public_base
                .join_query(paths::DELETION_STATUS, &[("code", &code)]);
            json(
                StatusCode::OK,
                &serde_json::json!({"url": url, "confirmation_code": code}),
            )
        }
        Err(e) => {
            warn!(error = %e, "data deletion could not proceed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "the deletion could not finish; send the request again"}),
            )
        }
    }
}

/// `GET /oauth/data-deletion/status?code=`: the request's status page.
pub(crate) async fn deletion_status(
    State(app): State<Arc<App>>,
    Query(query): Query<Params>,
) -> Response<Body> {
    let code = query.first("code").unwrap_or_default();
    let record = if DeletionCodes::is_well_formed(code) {
        match app.erasure.request(code).await {
            Ok(record) => record,
            Err(e) => {
                warn!(error = %e, "deletion request not read");
                return try_again();
            }
        }
    } else {
        None
    };
    match record {
        Some(record) => page(StatusCode::OK, |nonce| {
            html::deletion_status_page(
                &DeletionView {
                    confirmation_code: &record.confirmation_code,
                    status: record.status,
                    requested_at: record.requested_at,
                    completed_at: record.completed_at,
                    counts: record.counts,
                },
                nonce,
            )
        }),
        None => problem(
            StatusCode::NOT_FOUND,
            ProblemView {
                title: "No deletion request has this code",
                message: "Check the confirmation code you were given. Codes are 20 letters and digits.",
                retry_url: None,
                popup: None,
            },
        ),
    }
}
