//! `GET /oauth/callback/{provider}`: Meta's redirect back, handed to
//! [`relay::accounts::connect::Connect::callback`], whose outcome becomes the result page
//! (or a message to the opener of a popup).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use relay::accounts::connect::{Callback, ConnectError, Connected, Redirect, Refusal, Via};
use relay::onboarding::html::{self, ConnectedAccountView, PopupMessage, ProblemView, SuccessView};
use relay::onboarding::{OAuthState, Provider, ReturnTarget, StateError};

use crate::onboard::{popup_target, retry_url};
use crate::responses::{not_found, page, problem, try_again};
use crate::{App, Params};

pub(crate) async fn callback(
    State(app): State<Arc<App>>,
    Path(provider): Path<String>,
    Query(query): Query<Params>,
) -> Response<Body> {
    let Some(provider) = Provider::parse(&provider) else {
        return not_found();
    };
    let redirect = Redirect {
        state: query.first("state"),
        code: query.first("code"),
        error: query.first("error"),
        error_reason: query.first("error_reason"),
    };
    match app.connect.callback(provider, &redirect).await {
        Callback::Connected { state, accounts } => {
            succeeded(&app, &state, provider, accounts).await
        }
        Callback::Declined { state, cancelled } => declined(&app, &state, provider, cancelled),
        Callback::Refused { state, refusal } => refused(&app, state.as_ref(), provider, &refusal),
        Callback::Failed { state, error } => failed(&app, &state, provider, &error),
        Callback::Unavailable => try_again(),
    }
}

/// The popup's message about a flow that connected nothing.
fn nothing_connected<'a>(
    status: &'static str,
    provider: Provider,
    reason: &'a str,
) -> PopupMessage<'a> {
    PopupMessage {
        kind: "relay.onboarding",
        status,
        provider: Some(provider),
        accounts: &[],
        reason: Some(reason),
    }
}

fn refused(
    app: &App,
    state: Option<&OAuthState>,
    provider: Provider,
    refusal: &Refusal,
) -> Response<Body> {
    let (title, message) = match refusal {
        Refusal::State(StateError::Expired(_)) => (
            "This sign-in took too long",
            "For your security a sign-in must be finished within ten minutes. Nothing was connected. Please try again.",
        ),
        Refusal::State(error) if error.authentic_state().is_some() => (
            "This sign-in was for another service",
            "The sign-in came back from a different service than it started with. Nothing was connected. Please try again.",
        ),
        // Missing or forged: nothing in it can be trusted, not even the tenant.
        Refusal::State(_) => (
            "This sign-in could not be verified",
            "The answer from Meta could not be matched to a sign-in started here, so nothing was connected. Open the link you were sent and start again.",
        ),
        Refusal::Replayed => (
            "This sign-in was already used",
            "Each sign-in can be completed once. Nothing more was connected. Start again to connect another account.",
        ),
        Refusal::CodeMissing => (
            "The sign-in did not finish",
            "Meta sent no confirmation back. Nothing was connected. Please try again.",
        ),
    };
    let retry = state.and_then(|s| retry_url(app, s, s.provider));
    let popup = state.and_then(|s| {
        popup_target(&app.settings, &s.return_to).map(|target| {
            (
                target,
                nothing_connected("failed", provider, refusal.reason()),
            )
        })
    });
    problem(
        StatusCode::BAD_REQUEST,
        ProblemView {
            title,
            message,
            retry_url: retry.as_deref(),
            popup,
        },
    )
}

fn declined(app: &App, state: &OAuthState, provider: Provider, cancelled: bool) -> Response<Body> {
    let site = provider.label();
    let (status, reason, title, message) = if cancelled {
        (
            "cancelled",
            "user_cancelled",
            "No problem: nothing was connected".to_owned(),
            format!(
                "You chose not to connect with {site}. You can try again whenever you are ready."
            ),
        )
    } else {
        (
            "failed",
            "dialog_error",
            "The sign-in did not finish".to_owned(),
            format!(
                "{site} could not complete the sign-in. Nothing was connected. Please try again."
            ),
        )
    };
    let retry = retry_url(app, state, provider);
    let popup = popup_target(&app.settings, &state.return_to)
        .map(|target| (target, nothing_connected(status, provider, reason)));
    problem(
        StatusCode::OK,
        ProblemView {
            title: &title,
            message: &message,
            retry_url: retry.as_deref(),
            popup,
        },
    )
}

/// What a person is told when connecting failed.
fn person_message(error: &ConnectError, provider: Provider) -> String {
    let site = provider.label();
    match error {
        ConnectError::CodeRejected(_) => format!(
            "{site} did not confirm this sign-in: it may have been used already or have \
             expired. Nothing was connected. Please try again."
        ),
        ConnectError::Meta(e) if e.is_retryable() => format!(
            "{site} is not answering right now. Nothing was connected. Please try again in \
             a few minutes."
        ),
        ConnectError::Meta(_) | ConnectError::UserLookup(_) => format!(
            "{site} refused to share the account. Make sure you are signed in with the \
             account that manages it and allow every permission, then try again."
        ),
        ConnectError::NoPages => "No Facebook Page was shared. When Facebook asks which Pages \
                                  Relay may use, choose at least one, then try again."
            .to_owned(),
        ConnectError::Store(_) | ConnectError::Crypto(_) => "Something went wrong on our side. \
                                                             Nothing was connected. Please try \
                                                             again."
            .to_owned(),
    }
}

fn failed(
    app: &App,
    state: &OAuthState,
    provider: Provider,
    error: &ConnectError,
) -> Response<Body> {
    let retry = retry_url(app, state, provider);
    let popup = popup_target(&app.settings, &state.return_to).map(|target| {
        (
            target,
            nothing_connected("failed", provider, error.reason()),
        )
    });
    let message = person_message(error, provider);
    let status = match error {
        ConnectError::Store(_) | ConnectError::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ConnectError::Meta(e) if e.is_retryable() => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    problem(
        status,
        ProblemView {
            title: "Nothing was connected",
            message: &message,
            retry_url: retry.as_deref(),
            popup,
        },
    )
}

/// How a connected account is shown.
fn view(connected: Connected) -> ConnectedAccountView {
    let id = connected.account_id.to_string();
    let handle = connected.username.as_ref().map(|u| format!("@{u}"));
    let (display_name, note) = match connected.via {
        Via::InstagramLogin { missing_scopes } => (
            handle.unwrap_or_else(|| format!("Instagram account {id}")),
            (!missing_scopes.is_empty()).then(|| {
                format!(
                    "Some permissions were not granted ({}); the features that need them will not work until you reconnect and allow them.",
                    missing_scopes.join(", ")
                )
            }),
        ),
        Via::Page { linked_instagram } => (
            connected
                .name
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| format!("Page {id}")),
            (!linked_instagram).then(|| {
                "Messenger only: no Instagram professional account is linked to this Page."
                    .to_owned()
            }),
        ),
        Via::LinkedToPage { page_name } => (
            handle.unwrap_or_else(|| format!("Instagram account {id}")),
            Some(format!("Through the Facebook Page {page_name}")),
        ),
    };
    let note = note.or_else(|| {
        connected
            .reconnected
            .then(|| "Reconnected: its conversations and history are kept.".to_owned())
    });
    ConnectedAccountView {
        account_id: id,
        channel: connected.channel.as_str(),
        display_name,
        note,
    }
}

async fn succeeded(
    app: &App,
    state: &OAuthState,
    provider: Provider,
    connected: Vec<Connected>,
) -> Response<Body> {
    let tenant_name = match app.store.get_tenant(&state.tenant).await {
        Ok(Some(t)) => t.name,
        _ => state.tenant.to_string(),
    };
    let views: Vec<ConnectedAccountView> = connected.into_iter().map(view).collect();
    let return_url = match &state.return_to {
        ReturnTarget::Url(url) => Some(url.as_str()),
        _ => None,
    };
    let popup = popup_target(&app.settings, &state.return_to);
    page(StatusCode::OK, |nonce| {
        html::success_page(
            &SuccessView {
                tenant_name: &tenant_name,
                provider,
                accounts: &views,
                return_url,
                popup,
            },
            nonce,
        )
    })
}
