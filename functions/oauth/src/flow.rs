//! The onboarding page, `/oauth/start` and the OAuth callbacks of both providers.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use relay::accounts::LONG_LIVED_TOKEN_SECONDS;
use relay::accounts::{Account, AccountStatus, Channel, LoginKind};
use relay::audit::AuditEntry;
use relay::clock::{Clock, SystemClock};
use relay::crypto::{CryptoError, EncryptionContext, Purpose};
use relay::ids::{AccountId, TenantId};
use relay::meta::{
    AuthorizationCode, DEFAULT_INSTAGRAM_WEBHOOK_FIELDS, DEFAULT_PAGE_WEBHOOK_FIELDS,
    FACEBOOK_LOGIN_SCOPES, FacebookLoginScope, GraphError, INSTAGRAM_LOGIN_SCOPES,
    InstagramAccount, PageLimits,
};
use relay::onboarding::html::{
    self, ConnectedAccountView, OnboardingView, PopupMessage, PopupTarget, ProblemView, SuccessView,
};
use relay::onboarding::{
    LinkError, MAX_RETURN_LINK_LEN, OAuthState, Provider, ReturnTarget, STATE_LIFETIME_SECONDS,
    StateError, security_audit_tenant,
};
use relay::secret::AccessToken;
use relay::store::StoreError;
use tracing::{info, warn};

use crate::{Oauth, page, paths, redirect};

const ACTOR: &str = "system:oauth";

/// Why a callback could not connect anything after its state was accepted.
#[derive(Debug, thiserror::Error)]
enum FlowError {
    #[error("Meta did not accept the authorization code: {0}")]
    CodeRejected(GraphError),
    #[error("a Meta call failed: {0}")]
    Meta(GraphError),
    #[error("no Facebook Page was shared")]
    NoPages,
    #[error("the Facebook user could not be read: {0}")]
    UserLookup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl FlowError {
    fn reason(&self) -> &'static str {
        match self {
            Self::CodeRejected(_) => "code_rejected",
            Self::Meta(e) if e.is_retryable() => "meta_unavailable",
            Self::Meta(_) => "meta_refused",
            Self::NoPages => "no_pages",
            Self::UserLookup(_) => "meta_refused",
            Self::Store(_) | Self::Crypto(_) => "internal",
        }
    }

    fn person_message(&self, provider: Provider) -> String {
        let site = provider.label();
        match self {
            Self::CodeRejected(_) => format!(
                "{site} did not confirm this sign-in: it may have been used already or have \
                 expired. Nothing was connected. Please try again."
            ),
            Self::Meta(e) if e.is_retryable() => format!(
                "{site} is not answering right now. Nothing was connected. Please try again in \
                 a few minutes."
            ),
            Self::Meta(_) | Self::UserLookup(_) => format!(
                "{site} refused to share the account. Make sure you are signed in with the \
                 account that manages it and allow every permission, then try again."
            ),
            Self::NoPages => "No Facebook Page was shared. When Facebook asks which Pages \
                              Relay may use, choose at least one, then try again."
                .to_owned(),
            Self::Store(_) | Self::Crypto(_) => "Something went wrong on our side. Nothing \
                                                 was connected. Please try again."
                .to_owned(),
        }
    }
}

/// One account stored by a callback, and what to show about it.
struct Connected {
    view: ConnectedAccountView,
    reconnected: bool,
}

impl Oauth {
    fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    async fn record(&self, tenant: &TenantId, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.audit.append(tenant, entry).await {
            warn!(tenant_id = %tenant, %action, error = %e, "audit record not written");
        }
    }

    /// A refusal nobody can be named for (a missing or forged state) goes to the
    /// security chain once per minute per provider and reason. Anyone can send such
    /// requests, so each one costs a single conditional write, not a chain append that
    /// every other one would contend with; the metric still counts them all.
    async fn record_unattributed(&self, provider: Provider, reason: &'static str) {
        let now = self.now();
        let minute = now - now.rem_euclid(60);
        let window = format!("oauth-rejected:{}:{reason}:{minute}", provider.as_str());
        let security = security_audit_tenant();
        match self
            .store
            .claim_action(&security, &window, minute + 86_400)
            .await
        {
            Ok(true) => {
                self.record(
                    &security,
                    AuditEntry::new(ACTOR, "oauth.rejected").details(serde_json::json!({
                        "provider": provider.as_str(),
                        "reason": reason,
                        "window_start": minute,
                        "note": "first of this minute; the OAuthRejected metric counts every one",
                    })),
                )
                .await;
            }
            Ok(false) => self.metrics.count("OAuthRejectedNotAudited", 1),
            Err(e) => warn!(error = %e, "security audit window not claimed"),
        }
    }

    fn start_url(&self, link_token: &str, provider: Provider, return_to: &ReturnTarget) -> String {
        let mut query = vec![("link", link_token), ("provider", provider.as_str())];
        match return_to {
            ReturnTarget::Page => {}
            ReturnTarget::Popup => query.push(("mode", "popup")),
            ReturnTarget::Url(url) => query.push(("return_to", url.as_str())),
        }
        self.settings.public_base.join_query(paths::START, &query)
    }

    /// The start URL of a new attempt for a flow's tenant, while its link still works.
    fn retry_url(&self, state: &OAuthState, provider: Provider) -> Option<String> {
        let link = self.links.issue(&state.tenant, state.link_expires_at);
        self.links.verify(&link.token, self.now()).ok()?;
        Some(self.start_url(&link.token, provider, &state.return_to))
    }

    fn popup_target(&self, return_to: &ReturnTarget) -> Option<PopupTarget<'_>> {
        match (return_to, &self.settings.allowed_origin) {
            (ReturnTarget::Popup, Some(origin)) => Some(PopupTarget { origin }),
            _ => None,
        }
    }

    /// Reads `mode` / `return_to`; None (with the reason) when they ask for something the
    /// configuration does not allow.
    fn return_target(&self, request: &Request) -> Result<ReturnTarget, &'static str> {
        let query = request.query_string_parameters();
        if let Some(url) = query.first("return_to").filter(|u| !u.is_empty()) {
            let origin = self
                .settings
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
            Some("popup") if self.settings.allowed_origin.is_some() => Ok(ReturnTarget::Popup),
            Some("popup") => Err("Popup sign-in is not enabled for this service."),
            Some(_) => Err("The sign-in mode is not known."),
        }
    }

    fn link_problem(error: &LinkError) -> Response<Body> {
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
        page(status, |nonce| {
            html::problem_page(
                &ProblemView {
                    title,
                    message,
                    retry_url: None,
                    popup: None,
                },
                nonce,
            )
        })
    }

    fn bad_request(message: &str) -> Response<Body> {
        page(StatusCode::BAD_REQUEST, |nonce| {
            html::problem_page(
                &ProblemView {
                    title: "This request cannot be handled",
                    message,
                    retry_url: None,
                    popup: None,
                },
                nonce,
            )
        })
    }

    /// `GET /onboard?link=`: the tenant's hosted onboarding page.
    pub(crate) async fn onboarding_page(&self, request: &Request) -> Response<Body> {
        let query = request.query_string_parameters();
        let token = query.first("link").unwrap_or_default();
        let grant = match self.links.verify(token, self.now()) {
            Ok(grant) => grant,
            Err(error) => {
                self.metrics.count("OnboardingLinksRejected", 1);
                return Self::link_problem(&error);
            }
        };
        let return_to = match self.return_target(request) {
            Ok(target) => target,
            Err(message) => return Self::bad_request(message),
        };
        let tenant = match self.store.get_tenant(&grant.tenant).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => return Self::link_problem(&LinkError::BadSignature),
            Err(e) => {
                warn!(tenant_id = %grant.tenant, error = %e, "tenant not read");
                return crate::plain(StatusCode::SERVICE_UNAVAILABLE, "please try again");
            }
        };
        self.metrics.count("OnboardingPagesServed", 1);
        let instagram = self.start_url(token, Provider::Instagram, &return_to);
        let facebook = self.start_url(token, Provider::Facebook, &return_to);
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

    /// `GET /oauth/start`: a signed state whose nonce is stored for single use, then
    /// Meta's dialog.
    pub(crate) async fn start(&self, request: &Request) -> Response<Body> {
        let query = request.query_string_parameters();
        let token = query.first("link").unwrap_or_default();
        let grant = match self.links.verify(token, self.now()) {
            Ok(grant) => grant,
            Err(error) => return Self::link_problem(&error),
        };
        let Some(provider) = query.first("provider").and_then(Provider::parse) else {
            return Self::bad_request("Choose Instagram or Facebook on the onboarding page.");
        };
        let return_to = match self.return_target(request) {
            Ok(target) => target,
            Err(message) => return Self::bad_request(message),
        };
        let issued = self.states.issue(
            grant.tenant.clone(),
            provider,
            return_to,
            grant.expires_at,
            self.now(),
        );
        let Ok((state, encoded)) = issued else {
            return Self::bad_request("The return link is too long.");
        };
        // DynamoDB's TTL and the store's claim check compare with wall time.
        let nonce_ttl = SystemClock.now_secs() + STATE_LIFETIME_SECONDS + 60;
        match self.store.put_oauth_nonce(&state.nonce, nonce_ttl).await {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                warn!(tenant_id = %grant.tenant, "OAuth state nonce not stored");
                return crate::plain(StatusCode::SERVICE_UNAVAILABLE, "please try again");
            }
        }
        let redirect_uri = self.redirect_uri(provider);
        let dialog = match provider {
            Provider::Instagram => {
                self.graph
                    .instagram_authorize_url(&redirect_uri, &encoded, false)
            }
            Provider::Facebook => {
                let scope = match &self.settings.facebook_config_id {
                    Some(id) => FacebookLoginScope::ConfigId(id),
                    None => FacebookLoginScope::Scopes(&FACEBOOK_LOGIN_SCOPES),
                };
                self.graph
                    .facebook_dialog_url(&redirect_uri, &encoded, scope)
            }
        };
        self.metrics.count("OAuthStarted", 1);
        info!(tenant_id = %grant.tenant, provider = %provider, "OAuth flow started");
        redirect(dialog.as_str())
    }

    /// Consume a state's nonce: true the first time, false ever after.
    async fn consume_nonce(&self, nonce: &str) -> Result<bool, StoreError> {
        self.store
            .consume_oauth_nonce(nonce, SystemClock.now_secs())
            .await
    }

    /// A page for a refused or failed callback, audited.
    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &self,
        tenant: &TenantId,
        state: Option<&OAuthState>,
        provider: Provider,
        reason: &'static str,
        status: StatusCode,
        title: &str,
        message: &str,
    ) -> Response<Body> {
        self.metrics.count("OAuthRejected", 1);
        warn!(tenant_id = %tenant, provider = %provider, reason, "OAuth callback refused");
        if state.is_some() {
            self.record(
                tenant,
                AuditEntry::new(ACTOR, "oauth.rejected")
                    .details(serde_json::json!({"provider": provider.as_str(), "reason": reason})),
            )
            .await;
        } else {
            self.record_unattributed(provider, reason).await;
        }
        let retry = state.and_then(|s| self.retry_url(s, s.provider));
        let popup = state.and_then(|s| {
            self.popup_target(&s.return_to).map(|target| {
                (
                    target,
                    PopupMessage {
                        kind: "relay.onboarding",
                        status: "failed",
                        provider: Some(provider),
                        accounts: &[],
                        reason: Some(reason),
                    },
                )
            })
        });
        page(status, |nonce| {
            html::problem_page(
                &ProblemView {
                    title,
                    message,
                    retry_url: retry.as_deref(),
                    popup,
                },
                nonce,
            )
        })
    }

    /// `GET /oauth/callback/{provider}`.
    pub(crate) async fn callback(&self, request: &Request, provider: Provider) -> Response<Body> {
        let query = request.query_string_parameters();
        let state = match self
            .states
            .verify(query.first("state"), provider, self.now())
        {
            Ok(state) => state,
            Err(error) => return self.refuse_state(provider, &error).await,
        };
        match self.consume_nonce(&state.nonce).await {
            Ok(true) => {}
            Ok(false) => {
                return self
                    .refuse(
                        &state.tenant,
                        Some(&state),
                        provider,
                        "state_replayed",
                        StatusCode::BAD_REQUEST,
                        "This sign-in was already used",
                        "Each sign-in can be completed once. Nothing more was connected. Start again to connect another account.",
                    )
                    .await;
            }
            Err(e) => {
                warn!(tenant_id = %state.tenant, error = %e, "OAuth state nonce not consumed");
                return crate::plain(StatusCode::SERVICE_UNAVAILABLE, "please try again");
            }
        }
        if let Some(error) = query.first("error") {
            return self
                .cancelled_or_denied(&state, provider, error, query.first("error_reason"))
                .await;
        }
        let Some(code) = query.first("code") else {
            return self
                .refuse(
                    &state.tenant,
                    Some(&state),
                    provider,
                    "code_missing",
                    StatusCode::BAD_REQUEST,
                    "The sign-in did not finish",
                    "Meta sent no confirmation back. Nothing was connected. Please try again.",
                )
                .await;
        };
        let code = match AuthorizationCode::from_redirect(code) {
            Ok(code) => code,
            Err(e) => {
                return self
                    .failed(&state, provider, FlowError::CodeRejected(e))
                    .await;
            }
        };
        let result = match provider {
            Provider::Instagram => self.connect_instagram(&state, &code).await,
            Provider::Facebook => self.connect_facebook(&state, &code).await,
        };
        match result {
            Ok(connected) => self.succeeded(&state, provider, connected).await,
            Err(error) => self.failed(&state, provider, error).await,
        }
    }

    async fn refuse_state(&self, provider: Provider, error: &StateError) -> Response<Body> {
        match error.authentic_state() {
            // Authentic but unusable: the tenant is known, audit there and offer a retry.
            Some(state) => {
                let (title, message) = match error {
                    StateError::Expired(_) => (
                        "This sign-in took too long",
                        "For your security a sign-in must be finished within ten minutes. Nothing was connected. Please try again.",
                    ),
                    _ => (
                        "This sign-in was for another service",
                        "The sign-in came back from a different service than it started with. Nothing was connected. Please try again.",
                    ),
                };
                self.refuse(
                    &state.tenant,
                    Some(state),
                    provider,
                    error.reason(),
                    StatusCode::BAD_REQUEST,
                    title,
                    message,
                )
                .await
            }
            // Missing or forged: nothing in it can be trusted, not even the tenant.
            None => {
                self.refuse(
                    &security_audit_tenant(),
                    None,
                    provider,
                    error.reason(),
                    StatusCode::BAD_REQUEST,
                    "This sign-in could not be verified",
                    "The answer from Meta could not be matched to a sign-in started here, so nothing was connected. Open the link you were sent and start again.",
                )
                .await
            }
        }
    }

    async fn cancelled_or_denied(
        &self,
        state: &OAuthState,
        provider: Provider,
        error: &str,
        error_reason: Option<&str>,
    ) -> Response<Body> {
        let cancelled = error == "access_denied" || error_reason == Some("user_denied");
        let reason = if cancelled {
            "user_cancelled"
        } else {
            "dialog_error"
        };
        self.metrics.count(
            if cancelled {
                "OAuthCancelled"
            } else {
                "OAuthRejected"
            },
            1,
        );
        self.record(
            &state.tenant,
            AuditEntry::new(
                ACTOR,
                if cancelled {
                    "oauth.cancelled"
                } else {
                    "oauth.failed"
                },
            )
            .details(serde_json::json!({"provider": provider.as_str(), "reason": reason})),
        )
        .await;
        let retry = self.retry_url(state, provider);
        let popup = self.popup_target(&state.return_to).map(|target| {
            (
                target,
                PopupMessage {
                    kind: "relay.onboarding",
                    status: if cancelled { "cancelled" } else { "failed" },
                    provider: Some(provider),
                    accounts: &[],
                    reason: Some(reason),
                },
            )
        });
        let (title, message) = if cancelled {
            (
                "No problem: nothing was connected".to_owned(),
                format!(
                    "You chose not to connect with {}. You can try again whenever you are ready.",
                    provider.label()
                ),
            )
        } else {
            (
                "The sign-in did not finish".to_owned(),
                format!(
                    "{} could not complete the sign-in. Nothing was connected. Please try again.",
                    provider.label()
                ),
            )
        };
        page(StatusCode::OK, |nonce| {
            html::problem_page(
                &ProblemView {
                    title: &title,
                    message: &message,
                    retry_url: retry.as_deref(),
                    popup,
                },
                nonce,
            )
        })
    }

    async fn failed(
        &self,
        state: &OAuthState,
        provider: Provider,
        error: FlowError,
    ) -> Response<Body> {
        warn!(tenant_id = %state.tenant, provider = %provider, error = %error, "OAuth callback failed");
        self.metrics.count("OAuthFailed", 1);
        self.record(
            &state.tenant,
            AuditEntry::new(ACTOR, "oauth.failed").details(serde_json::json!({
                "provider": provider.as_str(),
                "reason": error.reason(),
            })),
        )
        .await;
        let retry = self.retry_url(state, provider);
        let popup = self.popup_target(&state.return_to).map(|target| {
            (
                target,
                PopupMessage {
                    kind: "relay.onboarding",
                    status: "failed",
                    provider: Some(provider),
                    accounts: &[],
                    reason: Some(error.reason()),
                },
            )
        });
        let message = error.person_message(provider);
        let status = match error {
            FlowError::Store(_) | FlowError::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
            FlowError::Meta(ref e) if e.is_retryable() => StatusCode::BAD_GATEWAY,
            _ => StatusCode::BAD_REQUEST,
        };
        page(status, |nonce| {
            html::problem_page(
                &ProblemView {
                    title: "Nothing was connected",
                    message: &message,
                    retry_url: retry.as_deref(),
                    popup,
                },
                nonce,
            )
        })
    }

    async fn succeeded(
        &self,
        state: &OAuthState,
        provider: Provider,
        connected: Vec<Connected>,
    ) -> Response<Body> {
        self.metrics
            .count("AccountsConnected", connected.len() as u64);
        let tenant_name = match self.store.get_tenant(&state.tenant).await {
            Ok(Some(t)) => t.name,
            _ => state.tenant.to_string(),
        };
        let views: Vec<ConnectedAccountView> = connected
            .into_iter()
            .map(|c| {
                let mut view = c.view;
                if c.reconnected && view.note.is_none() {
                    view.note = Some("Reconnected: its conversations and history are kept.".into());
                }
                view
            })
            .collect();
        let return_url = match &state.return_to {
            ReturnTarget::Url(url) => Some(url.as_str()),
            _ => None,
        };
        let popup = self.popup_target(&state.return_to);
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

    fn context(tenant: &TenantId, account: &AccountId) -> EncryptionContext {
        EncryptionContext::new(tenant.clone(), account.clone(), Purpose::AccessToken)
    }

    /// Store an account (and its webhook route) for the flow's tenant. A reconnect keeps
    /// the account's data and history and only replaces what the new login says; an
    /// account connected to another tenant is released there first (its owner just
    /// proved, through Meta, that they decide where it is connected).
    async fn store_account(
        &self,
        state: &OAuthState,
        mut account: Account,
    ) -> Result<bool, FlowError> {
        let tenant = &state.tenant;
        if let Some(route) = self
            .store
            .resolve_route(account.channel, &account.account_id)
            .await?
            .filter(|route| &route.tenant_id != tenant)
        {
            self.release(&route.tenant_id, &account.account_id).await?;
        }
        let existing = self.store.get_account(tenant, &account.account_id).await?;
        let reconnected = existing.is_some();
        if let Some(existing) = existing {
            account.connected_at = existing.connected_at;
            account.linked_instagram_id =
                account.linked_instagram_id.or(existing.linked_instagram_id);
            account.username = account.username.or(existing.username);
            account.name = account.name.or(existing.name);
        }
        self.store.put_account(&account).await?;
        self.record(
            tenant,
            AuditEntry::new(
                ACTOR,
                if reconnected {
                    "account.reconnected"
                } else {
                    "account.connected"
                },
            )
            .target(format!("account:{}", account.account_id))
            .details(serde_json::json!({
                "channel": account.channel.as_str(),
                "login": match account.login {
                    LoginKind::InstagramLogin => "instagram_login",
                    LoginKind::FacebookLogin => "facebook_login",
                },
                "token_expires_at": account.token_expires_at,
            })),
        )
        .await;
        info!(tenant_id = %tenant, account_id = %account.account_id, reconnected, "account stored");
        Ok(reconnected)
    }

    /// Disconnect an account in another tenant and destroy its token there.
    async fn release(&self, tenant: &TenantId, account_id: &AccountId) -> Result<(), FlowError> {
        if let Some(mut old) = self.store.get_account(tenant, account_id).await? {
            old.status = AccountStatus::Disconnected;
            old.token_sealed = None;
            old.token_expires_at = None;
            old.token_issued_at = None;
            old.updated_at = self.now();
            self.store.update_account(&old).await?;
            self.record(
                tenant,
                AuditEntry::new(ACTOR, "account.released")
                    .target(format!("account:{account_id}"))
                    .details(serde_json::json!({
                        "reason": "its owner connected it to another workspace"
                    })),
            )
            .await;
        }
        Ok(())
    }

    async fn sealed(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        token: &AccessToken,
    ) -> Result<String, FlowError> {
        Ok(self
            .cipher
            .seal_token(token, &Self::context(tenant, account))
            .await?)
    }

    /// Instagram Login: code -> short-lived -> long-lived token, profile, stored sealed,
    /// webhooks subscribed.
    async fn connect_instagram(
        &self,
        state: &OAuthState,
        code: &AuthorizationCode,
    ) -> Result<Vec<Connected>, FlowError> {
        let redirect_uri = self.redirect_uri(Provider::Instagram);
        let short = self
            .graph
            .exchange_instagram_code(code, &redirect_uri)
            .await
            .map_err(FlowError::CodeRejected)?
            .into_value();
        let long = self
            .graph
            .exchange_instagram_long_lived(&short.access_token)
            .await
            .map_err(FlowError::Meta)?
            .into_value();
        let profile = self
            .graph
            .instagram_profile_for_token(&long.access_token)
            .await
            .map_err(FlowError::Meta)?
            .into_value();
        let now = self.now();
        let lifetime = long
            .expires_in
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(LONG_LIVED_TOKEN_SECONDS);
        let account_id = profile.user_id.clone();
        let account = Account {
            tenant_id: state.tenant.clone(),
            account_id: account_id.clone(),
            channel: Channel::Instagram,
            login: LoginKind::InstagramLogin,
            username: Some(profile.username.clone()),
            name: profile.name.clone(),
            // The deauthorize and deletion callbacks of the Instagram app name this id.
            meta_user_id: Some(short.user_id.clone()),
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: Some(
                self.sealed(&state.tenant, &account_id, &long.access_token)
                    .await?,
            ),
            token_issued_at: Some(now),
            token_expires_at: Some(now + lifetime),
            connected_at: now,
            updated_at: now,
        };
        let reconnected = self.store_account(state, account).await?;
        self.graph
            .subscribe_instagram_account(
                &InstagramAccount::instagram_login(account_id.clone(), long.access_token),
                &DEFAULT_INSTAGRAM_WEBHOOK_FIELDS,
            )
            .await
            .map_err(FlowError::Meta)?;
        self.record(
            &state.tenant,
            AuditEntry::new(ACTOR, "webhooks.subscribed")
                .target(format!("account:{account_id}"))
                .details(serde_json::json!({"fields": DEFAULT_INSTAGRAM_WEBHOOK_FIELDS})),
        )
        .await;
        let missing: Vec<&str> = INSTAGRAM_LOGIN_SCOPES
            .iter()
            .copied()
            .filter(|scope| {
                !short.permissions.is_empty() && !short.permissions.iter().any(|p| p == scope)
            })
            .collect();
        let note = (!missing.is_empty()).then(|| {
            format!(
                "Some permissions were not granted ({}); the features that need them will not work until you reconnect and allow them.",
                missing.join(", ")
            )
        });
        Ok(vec![Connected {
            view: ConnectedAccountView {
                account_id: account_id.to_string(),
                channel: Channel::Instagram.as_str(),
                display_name: format!("@{}", profile.username),
                note,
            },
            reconnected,
        }])
    }

    /// Facebook Login for Business: code -> user token -> long-lived user token, then
    /// every Page shared (with its Page token, which does not expire) and each Page's
    /// linked Instagram professional account (with the same Page token). Pages without
    /// an Instagram account are kept for Messenger.
    async fn connect_facebook(
        &self,
        state: &OAuthState,
        code: &AuthorizationCode,
    ) -> Result<Vec<Connected>, FlowError> {
        let redirect_uri = self.redirect_uri(Provider::Facebook);
        let short = self
            .graph
            .exchange_facebook_code(code, &redirect_uri)
            .await
            .map_err(FlowError::CodeRejected)?
            .into_value();
        let long = self
            .graph
            .exchange_facebook_long_lived(&short.access_token)
            .await
            .map_err(FlowError::Meta)?
            .into_value();
        let user_id = self.facebook_user_id(&long.access_token).await?;
        let pages = self
            .graph
            .facebook_pages(&long.access_token, PageLimits::default())
            .await
            .map_err(FlowError::Meta)?
            .into_value()
            .items;
        if pages.is_empty() {
            return Err(FlowError::NoPages);
        }
        let now = self.now();
        let mut connected = Vec::new();
        for page in pages {
            let page_handle = page.page();
            let account = Account {
                tenant_id: state.tenant.clone(),
                account_id: page.id.clone(),
                channel: Channel::Page,
                login: LoginKind::FacebookLogin,
                username: None,
                name: Some(page.name.clone()),
                meta_user_id: Some(user_id.clone()),
                linked_instagram_id: page.instagram_business_account.clone(),
                status: AccountStatus::Connected,
                token_sealed: Some(
                    self.sealed(&state.tenant, &page.id, &page.access_token)
                        .await?,
                ),
                token_issued_at: Some(now),
                // A Page token read with a long-lived user token does not expire.
                token_expires_at: None,
                connected_at: now,
                updated_at: now,
            };
            let reconnected = self.store_account(state, account).await?;
            self.graph
                .subscribe_page(&page_handle, &DEFAULT_PAGE_WEBHOOK_FIELDS)
                .await
                .map_err(FlowError::Meta)?;
            self.record(
                &state.tenant,
                AuditEntry::new(ACTOR, "webhooks.subscribed")
                    .target(format!("account:{}", page.id))
                    .details(serde_json::json!({"fields": DEFAULT_PAGE_WEBHOOK_FIELDS})),
            )
            .await;
            let display_name = if page.name.is_empty() {
                format!("Page {}", page.id)
            } else {
                page.name.clone()
            };
            let note = page.instagram_business_account.is_none().then(|| {
                "Messenger only: no Instagram professional account is linked to this Page."
                    .to_owned()
            });
            connected.push(Connected {
                view: ConnectedAccountView {
                    account_id: page.id.to_string(),
                    channel: Channel::Page.as_str(),
                    display_name,
                    note,
                },
                reconnected,
            });
            if let Some(instagram_id) = page.instagram_business_account.clone() {
                connected.push(
                    self.connect_linked_instagram(
                        state,
                        &user_id,
                        &page.name,
                        instagram_id,
                        &page.access_token,
                        now,
                    )
                    .await?,
                );
            }
        }
        Ok(connected)
    }

    async fn connect_linked_instagram(
        &self,
        state: &OAuthState,
        user_id: &str,
        page_name: &str,
        instagram_id: AccountId,
        page_token: &AccessToken,
        now: i64,
    ) -> Result<Connected, FlowError> {
        // The username is for people; the account works without it, so a refused profile
        // read does not undo the connection.
        let profile = self
            .graph
            .instagram_profile(&InstagramAccount::facebook_login(
                instagram_id.clone(),
                page_token.clone(),
            ))
            .await
            .map(|r| r.into_value())
            .map_err(|e| {
                warn!(tenant_id = %state.tenant, account_id = %instagram_id, error = %e, "linked Instagram profile not read");
            })
            .ok();
        let account = Account {
            tenant_id: state.tenant.clone(),
            account_id: instagram_id.clone(),
            channel: Channel::Instagram,
            login: LoginKind::FacebookLogin,
            username: profile.as_ref().map(|p| p.username.clone()),
            name: profile.as_ref().and_then(|p| p.name.clone()),
            meta_user_id: Some(user_id.to_owned()),
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: Some(
                self.sealed(&state.tenant, &instagram_id, page_token)
                    .await?,
            ),
            token_issued_at: Some(now),
            token_expires_at: None,
            connected_at: now,
            updated_at: now,
        };
        let reconnected = self.store_account(state, account).await?;
        Ok(Connected {
            view: ConnectedAccountView {
                account_id: instagram_id.to_string(),
                channel: Channel::Instagram.as_str(),
                display_name: profile
                    .map(|p| format!("@{}", p.username))
                    .unwrap_or_else(|| format!("Instagram account {instagram_id}")),
                note: Some(format!("Through the Facebook Page {page_name}")),
            },
            reconnected,
        })
    }

    /// The app-scoped id of the Facebook user (`GET /me?fields=id`), which Meta's
    /// deauthorize and deletion callbacks name. The Graph client has no call for it, so
    /// it is made here, the same way: bearer token, no redirects, nothing logged.
    async fn facebook_user_id(&self, token: &AccessToken) -> Result<String, FlowError> {
        let endpoints = &self.graph.config().endpoints;
        let url = format!(
            "{}/{}/me?fields=id",
            endpoints.facebook_graph.as_str().trim_end_matches('/'),
            endpoints.graph_version
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|_| FlowError::UserLookup("Meta could not be reached".into()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| FlowError::UserLookup(format!("HTTP {status} without JSON")))?;
        if !status.is_success() {
            let code = body["error"]["code"].as_i64().unwrap_or_default();
            return Err(FlowError::UserLookup(format!(
                "HTTP {status}, Meta error {code}"
            )));
        }
        body["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| FlowError::UserLookup("no numeric id in the answer".into()))
    }
}
