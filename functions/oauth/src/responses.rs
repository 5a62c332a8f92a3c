//! The answers the function gives: hosted pages (no-store, nonce-based CSP, no framing),
//! redirects, JSON for Meta, plain text for the rest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use rand::RngCore;
use relay::onboarding::LinkError;
use relay::onboarding::html::{self, ProblemView, content_security_policy};

/// A fresh nonce for one page's Content-Security-Policy.
fn csp_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn secure_headers(
    builder: lambda_http::http::response::Builder,
) -> lambda_http::http::response::Builder {
    builder
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
}

/// An HTML page rendered with a fresh CSP nonce.
pub fn page(status: StatusCode, render: impl FnOnce(&str) -> String) -> Response<Body> {
    let nonce = csp_nonce();
    let body = render(&nonce);
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(&nonce),
        )
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(Body::Text(body))
        .expect("static headers are valid")
}

/// A problem page: what went wrong, in a person's words.
pub fn problem(status: StatusCode, view: ProblemView<'_>) -> Response<Body> {
    page(status, |nonce| html::problem_page(&view, nonce))
}

pub fn redirect(location: &str) -> Response<Body> {
    let mut response = secure_headers(Response::builder().status(StatusCode::FOUND))
        .body(Body::Empty)
        .expect("static headers are valid");
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        // Every location is built from URL-encoded parts; this cannot happen.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect"),
    }
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(value.to_string()))
        .expect("static headers are valid")
}

pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(text.to_owned()))
        .expect("static headers are valid")
}

/// A passing failure on Relay's side: nothing happened, try again.
pub fn try_again() -> Response<Body> {
    plain(StatusCode::SERVICE_UNAVAILABLE, "please try again")
}

pub fn not_found() -> Response<Body> {
    page(StatusCode::NOT_FOUND, html::not_found_page)
}

pub fn method_not_allowed() -> Response<Body> {
    plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// An onboarding link that cannot be used.
pub fn link_problem(error: &LinkError) -> Response<Body> {
    let (status, title, message) = match error {
        LinkError::Expired { .. } => (
            StatusCode::GONE,
            "This link has expired",
            "Links to connect accounts work for a few days. Ask whoever sent it to you for a new one.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you opened the whole link you were sent, or ask for a new one.",
        ),
    };
    problem(
        status,
        ProblemView {
            title,
            message,
            retry_url: None,
            popup: None,
        },
    )
}

pub fn bad_request(message: &str) -> Response<Body> {
    problem(
        StatusCode::BAD_REQUEST,
        ProblemView {
            title: "This request cannot be handled",
            message,
            retry_url: None,
            popup: None,
        },
    )
}
