//! `GET /onboard` and `GET /oauth/start`: the tenant's hosted onboarding page, and the
//! start of a flow (a signed, single-use state, then Meta's dialog).

use std::sync::Arc;

use axum::extract::{Query, State};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use relay::accounts::connect::StartError;
use relay::onboarding::html::{self, OnboardingView, PopupTarget};
use relay::onboarding::{LinkError, MAX_RETURN_LINK_LEN, OAuthState, Provider, ReturnTarget};
use tracing::warn;

use crate::responses::{bad_request, link_problem, page, redirect, try_again};
use crate::{App, Params, Settings, paths};

/// `GET /onboard?link=`: the tenant's hosted onboarding page.
pub(crate) async fn onboarding_page(
    State(app): State<Arc<App>>,
    Query(query): Query<Params>,
) -> Response<Body> {
    let token = query.first("link").unwrap_or_default();
    let grant = match app.links.verify(token, app.now()) {
        Ok(grant) => grant,
        Err(error) => {
            app.metrics.count("OnboardingLinksRejected", 1);
            return link_problem(&error);
        }
    };
    let return_to = match return_target(&app.settings, &query) {
        Ok(target) => target,
        Err(message) => return bad_request(message),
    };
    let tenant = match app.store.get_tenant(&grant.tenant).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return link_problem(&LinkError::BadSignature),
        Err(e) => {
            warn!(tenant_id = %grant.tenant, error = %e, "tenant not read");
            return try_again();
        }
    };
    app.metrics.count("OnboardingPagesServed", 1);
    let instagram = start_url(&app.settings, token, Provider::Instagram, &return_to);
    let facebook = start_url(&app.settings, token, Provider::Facebook, &return_to);
    page(StatusCode::OK, |nonce| {
        html::onboarding_page(
            &OnboardingView {
                tenant_name: &tenant.name,
                instagram_start_url: &instagram,
                facebook_start_url: &facebook,
                link_expires_at: grant.expires_at,
            },
            nonce,
        )
    })
}

/// `GET /oauth/start?link=&provider=`: a signed state whose nonce is stored for single
/// use, then Meta's dialog.
pub(crate) async fn start(
    State(app): State<Arc<App>>,
    Query(query): Query<Params>,
) -> Response<Body> {
    let token = query.first("link").unwrap_or_default();
    let grant = match app.links.verify(token, app.now()) {
        Ok(grant) => grant,
        Err(error) => return link_problem(&error),
    };
    let Some(provider) = query.first("provider").and_then(Provider::parse) else {
        return bad_request("Choose Instagram or Facebook on the onboarding page.");
    };
    let return_to = match return_target(&app.settings, &query) {
        Ok(target) => target,
        Err(message) => return bad_request(message),
    };
    match app
        .connect
        .start(&grant.tenant, provider, return_to, grant.expires_at)
        .await
    {
        Ok(dialog) => redirect(&dialog),
        Err(StartError::ReturnLinkTooLong(_)) => bad_request("The return link is too long."),
        Err(StartError::Unavailable) => try_again(),
    }
}

/// Reads `mode` / `return_to`; the reason when they ask for something the
/// configuration does not allow.
fn return_target(settings: &Settings, query: &Params) -> Result<ReturnTarget, &'static str> {
    if let Some(url) = query.first("return_to").filter(|u| !u.is_empty()) {
        let origin = settings
            .allowed_origin
            .as_deref()
            .ok_or("Return links are not enabled for this service.")?;
        let parsed = reqwest::Url::parse(url).map_err(|_| "The return link is not a URL.")?;
        if parsed.origin().ascii_serialization() != origin {
            return Err("The return link points outside the allowed site.");
        }
        if parsed.as_str().len() > MAX_RETURN_LINK_LEN {
            return Err("The return link is too long.");
        }
        return Ok(ReturnTarget::Url(parsed.to_string()));
    }
    match query.first("mode") {
        None | Some("") | Some("page") => Ok(ReturnTarget::Page),
        Some("popup") if settings.allowed_origin.is_some() => Ok(ReturnTarget::Popup),
        Some("popup") => Err("Popup sign-in is not enabled for this service."),
        Some(_) => Err("The sign-in mode is not known."),
    }
}

fn start_url(
    settings: &Settings,
    link_token: &str,
    provider: Provider,
    return_to: &ReturnTarget,
) -> String {
    let mut query = vec![("link", link_token), ("provider", provider.as_str())];
    match return_to {
        ReturnTarget::Page => {}
        ReturnTarget::Popup => query.push(("mode", "popup")),
        ReturnTarget::Url(url) => query.push(("return_to", url.as_str())),
    }
    settings.public_base.join_query(paths::START, &query)
}

/// The start URL of a new attempt for a flow's tenant, while its link still works.
pub(crate) fn retry_url(app: &App, state: &OAuthState, provider: Provider) -> Option<String> {
    let link = app.links.issue(&state.tenant, state.link_expires_at);
    app.links.verify(&link.token, app.now()).ok()?;
    Some(start_url(
        &app.settings,
        &link.token,
        provider,
        &state.return_to,
    ))
}

/// Where a popup's result is posted: only to the configured origin.
pub(crate) fn popup_target<'a>(
    settings: &'a Settings,
    return_to: &ReturnTarget,
) -> Option<PopupTarget<'a>> {
    match (return_to, &settings.allowed_origin) {
        (ReturnTarget::Popup, Some(origin)) => Some(PopupTarget { origin }),
        _ => None,
    }
}
