//! Connecting accounts: the two ends of the OAuth flow as commands.
//!
//! - [`Connect::start`]: a signed state bound to the tenant, provider and return target,
//!   its nonce stored for single use, and Meta's dialog URL.
//! - [`Connect::callback`]: the state checked (signature, expiry, provider, single use),
//!   the code exchanged for a long-lived token, each account sealed and stored with its
//!   webhook route, webhooks subscribed, everything audited.
//!
//! The connect rules: a new account is stored connected; a reconnect (the tenant has the
//! account already) keeps its history and what the new login does not say; an account
//! another tenant holds is released there first, its token destroyed (its owner just
//! proved, through Meta, that they decide where it is connected). A refusal nobody can be
//! named for (a missing or forged state) is audited on the security chain at most once a
//! minute. Tokens are sealed before they are stored; none reaches a log line.

mod meta;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tracing::{info, warn};

pub use meta::{FacebookGrant, GraphLogin, InstagramGrant, MetaLogin};

use super::ports::{AccountStore, AuditLog, OnceMarkers, TokenSealer};
use super::record::{Account, Channel, LoginKind, NewAccount};
use crate::audit::AuditEntry;
use crate::clock::{Clock, SystemClock};
use crate::crypto::{CryptoError, EncryptionContext, Purpose};
use crate::ids::{AccountId, TenantId};
use crate::meta::{
    AuthorizationCode, DEFAULT_INSTAGRAM_WEBHOOK_FIELDS, DEFAULT_PAGE_WEBHOOK_FIELDS, GraphError,
    INSTAGRAM_LOGIN_SCOPES, InstagramAccount,
};
use crate::onboarding::{
    OAuthState, Provider, PublicBaseUrl, ReturnTarget, STATE_LIFETIME_SECONDS, StateError,
    StateSigner, security_audit_tenant,
};
use crate::secret::AccessToken;
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// Who the audit trail names for what the OAuth flow does.
pub const ACTOR: &str = "system:oauth";
/// Where Meta sends the person back, below the public base URL: this, then the provider.
pub const CALLBACK_PATH: &str = "/oauth/callback/";

/// Why a callback could not connect anything after its state was accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
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

impl ConnectError {
    /// A short, stable reason for audit records and the popup's message.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CodeRejected(_) => "code_rejected",
            Self::Meta(e) if e.is_retryable() => "meta_unavailable",
            Self::Meta(_) | Self::UserLookup(_) => "meta_refused",
            Self::NoPages => "no_pages",
            Self::Store(_) | Self::Crypto(_) => "internal",
        }
    }
}

/// Why a callback was refused before anything was connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The state is missing, forged, expired or for the other provider.
    State(StateError),
    /// The state was used already.
    Replayed,
    /// Meta sent neither a code nor an error.
    CodeMissing,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::State(e) => e.reason(),
            Self::Replayed => "state_replayed",
            Self::CodeMissing => "code_missing",
        }
    }
}

/// How an account came to be connected, as far as a person needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Instagram Login; the scopes Relay asked for that the person did not grant.
    InstagramLogin { missing_scopes: Vec<&'static str> },
    /// A Facebook Page; whether an Instagram professional account is linked to it.
    Page { linked_instagram: bool },
    /// An Instagram account linked to this Page.
    LinkedToPage { page_name: String },
}

/// One account a callback connected, as the login described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub account_id: AccountId,
    pub channel: Channel,
    pub username: Option<String>,
    pub name: Option<String>,
    /// The tenant had it already: its conversations and history are kept.
    pub reconnected: bool,
    pub via: Via,
}

/// What Meta's redirect back to Relay carried.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redirect<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_reason: Option<&'a str>,
}

/// What a callback did.
#[derive(Debug)]
pub enum Callback {
    Connected {
        state: OAuthState,
        accounts: Vec<Connected>,
    },
    /// The person said no in Meta's dialog (`cancelled`), or the dialog failed.
    Declined { state: OAuthState, cancelled: bool },
    /// Refused before anything was connected. `state` when it is authentic.
    Refused {
        state: Option<OAuthState>,
        refusal: Refusal,
    },
    /// The state was good, connecting failed; nothing more was connected.
    Failed {
        state: OAuthState,
        error: ConnectError,
    },
    /// The state's single use could not be checked: nothing happened, try again.
    Unavailable,
}

/// Why no flow was started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    ReturnLinkTooLong(#[from] crate::onboarding::ReturnLinkTooLong),
    #[error("the state's nonce could not be stored")]
    Unavailable,
}

/// The connect commands and what they need.
pub struct Connect<S, M, A, C> {
    /// The accounts, and the flow's one-time markers.
    pub store: S,
    pub meta: M,
    pub audit: A,
    pub sealer: C,
    pub states: StateSigner,
    /// Where the oauth function is reachable: the redirect URIs are below it.
    pub public_base: PublicBaseUrl,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

impl<S, M, A, C> Connect<S, M, A, C>
where
    S: AccountStore + OnceMarkers,
    M: MetaLogin,
    A: AuditLog,
    C: TokenSealer,
{
    fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// The redirect_uri registered with Meta for `provider`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        self.public_base
            .join(&format!("{CALLBACK_PATH}{}", provider.as_str()))
    }

    /// Start a flow for `tenant` (whose onboarding link expires at `link_expires_at`):
    /// Meta's dialog URL, with a fresh state whose nonce is stored for single use.
    pub async fn start(
        &self,
        tenant: &TenantId,
        provider: Provider,
        return_to: ReturnTarget,
        link_expires_at: i64,
    ) -> Result<String, StartError> {
        let (state, encoded) = self.states.issue(
            tenant.clone(),
            provider,
            return_to,
            link_expires_at,
            self.now(),
        )?;
        // DynamoDB's TTL and the store's claim check compare with wall time.
        let nonce_ttl = SystemClock.now_secs() + STATE_LIFETIME_SECONDS + 60;
        if !matches!(
            self.store.put_nonce(&state.nonce, nonce_ttl).await,
            Ok(true)
        ) {
            warn!(tenant_id = %tenant, "OAuth state nonce not stored");
            return Err(StartError::Unavailable);
        }
        let dialog = self
            .meta
            .dialog_url(provider, &self.redirect_uri(provider), &encoded);
        self.metrics.count("OAuthStarted", 1);
        info!(tenant_id = %tenant, provider = %provider, "OAuth flow started");
        Ok(dialog)
    }

    /// Meta's redirect back for `provider`.
    pub async fn callback(&self, provider: Provider, redirect: &Redirect<'_>) -> Callback {
        let state = match self.states.verify(redirect.state, provider, self.now()) {
            Ok(state) => state,
            Err(error) => {
                let state = error.authentic_state().cloned();
                return self.refuse(provider, state, Refusal::State(error)).await;
            }
        };
        // Wall time: the store compares it with the nonce's TTL.
        match self
            .store
            .consume_nonce(&state.nonce, SystemClock.now_secs())
            .await
        {
            Ok(true) => {}
            Ok(false) => return self.refuse(provider, Some(state), Refusal::Replayed).await,
            Err(e) => {
                warn!(tenant_id = %state.tenant, error = %e, "OAuth state nonce not consumed");
                return Callback::Unavailable;
            }
        }
        if let Some(error) = redirect.error {
            return self
                .declined(state, provider, error, redirect.error_reason)
                .await;
        }
        let Some(code) = redirect.code else {
            return self
                .refuse(provider, Some(state), Refusal::CodeMissing)
                .await;
        };
        let result = match AuthorizationCode::from_redirect(code) {
            Err(e) => Err(ConnectError::CodeRejected(e)),
            Ok(code) => match provider {
                Provider::Instagram => self.connect_instagram(&state.tenant, &code).await,
                Provider::Facebook => self.connect_facebook(&state.tenant, &code).await,
            },
        };
        match result {
            Ok(accounts) => {
                self.metrics
                    .count("AccountsConnected", accounts.len() as u64);
                Callback::Connected { state, accounts }
            }
            Err(error) => self.failed(state, provider, error).await,
        }
    }

    async fn refuse(
        &self,
        provider: Provider,
        state: Option<OAuthState>,
        refusal: Refusal,
    ) -> Callback {
        let reason = refusal.reason();
        self.metrics.count("OAuthRejected", 1);
        match &state {
            Some(state) => {
                warn!(tenant_id = %state.tenant, provider = %provider, reason, "OAuth callback refused");
                self.audit
                    .record(
                        &state.tenant,
                        AuditEntry::new(ACTOR, "oauth.rejected").details(
                            serde_json::json!({"provider": provider.as_str(), "reason": reason}),
                        ),
                    )
                    .await;
            }
            // Missing or forged: nothing in it can be trusted, not even the tenant.
            None => {
                warn!(tenant_id = %security_audit_tenant(), provider = %provider, reason, "OAuth callback refused");
                self.record_unattributed(provider, reason).await;
            }
        }
        Callback::Refused { state, refusal }
    }

    /// A refusal nobody can be named for goes to the security chain once per minute per
    /// provider and reason. Anyone can send such requests, so each one costs a single
    /// conditional write, not a chain append that every other one would contend with;
    /// the metric still counts them all.
    async fn record_unattributed(&self, provider: Provider, reason: &'static str) {
        let now = self.now();
        let minute = now - now.rem_euclid(60);
        let window = format!("oauth-rejected:{}:{reason}:{minute}", provider.as_str());
        let security = security_audit_tenant();
        match self.store.claim(&security, &window, minute + 86_400).await {
            Ok(true) => {
                self.audit
                    .record(
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

    async fn declined(
        &self,
        state: OAuthState,
        provider: Provider,
        error: &str,
        error_reason: Option<&str>,
    ) -> Callback {
        let cancelled = error == "access_denied" || error_reason == Some("user_denied");
        let (metric, action, reason) = if cancelled {
            ("OAuthCancelled", "oauth.cancelled", "user_cancelled")
        } else {
            ("OAuthRejected", "oauth.failed", "dialog_error")
        };
        self.metrics.count(metric, 1);
        self.audit
            .record(
                &state.tenant,
                AuditEntry::new(ACTOR, action)
                    .details(serde_json::json!({"provider": provider.as_str(), "reason": reason})),
            )
            .await;
        Callback::Declined { state, cancelled }
    }

    async fn failed(&self, state: OAuthState, provider: Provider, error: ConnectError) -> Callback {
        warn!(tenant_id = %state.tenant, provider = %provider, error = %error, "OAuth callback failed");
        self.metrics.count("OAuthFailed", 1);
        self.audit
            .record(
                &state.tenant,
                AuditEntry::new(ACTOR, "oauth.failed").details(serde_json::json!({
                    "provider": provider.as_str(),
                    "reason": error.reason(),
                })),
            )
            .await;
        Callback::Failed { state, error }
    }

    /// Instagram Login: one professional account with a long-lived token, stored sealed,
    /// webhooks subscribed.
    async fn connect_instagram(
        &self,
        tenant: &TenantId,
        code: &AuthorizationCode,
    ) -> Result<Vec<Connected>, ConnectError> {
        let redirect_uri = self.redirect_uri(Provider::Instagram);
        let grant = self.meta.instagram_login(code, &redirect_uri).await?;
        let now = self.now();
        let account = grant.account.clone();
        let reconnected = self
            .store_connection(
                tenant,
                grant.account,
                &grant.token,
                Some(now + grant.lifetime),
                now,
            )
            .await?;
        let handle = InstagramAccount::instagram_login(account.account_id.clone(), grant.token);
        self.meta
            .subscribe_instagram(&handle)
            .await
            .map_err(ConnectError::Meta)?;
        self.subscribed(
            tenant,
            &account.account_id,
            &DEFAULT_INSTAGRAM_WEBHOOK_FIELDS,
        )
        .await;
        let missing_scopes = INSTAGRAM_LOGIN_SCOPES
            .iter()
            .copied()
            .filter(|scope| {
                !grant.permissions.is_empty() && !grant.permissions.iter().any(|p| p == scope)
            })
            .collect();
        Ok(vec![connected(
            account,
            reconnected,
            Via::InstagramLogin { missing_scopes },
        )])
    }

    /// Facebook Login for Business: every Page shared (with its Page token, which does
    /// not expire) and each Page's linked Instagram professional account (with the same
    /// Page token). Pages without an Instagram account are kept for Messenger.
    async fn connect_facebook(
        &self,
        tenant: &TenantId,
        code: &AuthorizationCode,
    ) -> Result<Vec<Connected>, ConnectError> {
        let redirect_uri = self.redirect_uri(Provider::Facebook);
        let grant = self.meta.facebook_login(code, &redirect_uri).await?;
        if grant.pages.is_empty() {
            return Err(ConnectError::NoPages);
        }
        let now = self.now();
        let mut connected_accounts = Vec::new();
        for page in grant.pages {
            let account = NewAccount {
                account_id: page.id.clone(),
                channel: Channel::Page,
                login: LoginKind::FacebookLogin,
                username: None,
                name: Some(page.name.clone()),
                meta_user_id: grant.user_id.clone(),
                linked_instagram_id: page.instagram_business_account.clone(),
            };
            // A Page token read with a long-lived user token does not expire.
            let reconnected = self
                .store_connection(tenant, account.clone(), &page.access_token, None, now)
                .await?;
            self.meta
                .subscribe_page(&page.page())
                .await
                .map_err(ConnectError::Meta)?;
            self.subscribed(tenant, &page.id, &DEFAULT_PAGE_WEBHOOK_FIELDS)
                .await;
            let linked_instagram = page.instagram_business_account.is_some();
            connected_accounts.push(connected(
                account,
                reconnected,
                Via::Page { linked_instagram },
            ));
            if let Some(instagram_id) = page.instagram_business_account {
                let linked = NewAccount {
                    account_id: instagram_id,
                    channel: Channel::Instagram,
                    login: LoginKind::FacebookLogin,
                    username: None,
                    name: None,
                    meta_user_id: grant.user_id.clone(),
                    linked_instagram_id: None,
                };
                connected_accounts.push(
                    self.connect_linked_instagram(
                        tenant,
                        linked,
                        &page.name,
                        &page.access_token,
                        now,
                    )
                    .await?,
                );
            }
        }
        Ok(connected_accounts)
    }

    async fn connect_linked_instagram(
        &self,
        tenant: &TenantId,
        mut account: NewAccount,
        page_name: &str,
        page_token: &AccessToken,
        now: i64,
    ) -> Result<Connected, ConnectError> {
        // The username is for people; the account works without it, so a refused profile
        // read does not undo the connection.
        match self
            .meta
            .linked_instagram_profile(&account.account_id, page_token)
            .await
        {
            Ok(profile) => {
                account.username = Some(profile.username);
                account.name = profile.name;
            }
            Err(e) => {
                warn!(tenant_id = %tenant, account_id = %account.account_id, error = %e, "linked Instagram profile not read");
            }
        }
        let reconnected = self
            .store_connection(tenant, account.clone(), page_token, None, now)
            .await?;
        let page_name = page_name.to_owned();
        Ok(connected(
            account,
            reconnected,
            Via::LinkedToPage { page_name },
        ))
    }

    /// Seal the token and store the account (and its webhook route) for `tenant`, by
    /// the connect rules; true when it was a reconnect.
    async fn store_connection(
        &self,
        tenant: &TenantId,
        account: NewAccount,
        token: &AccessToken,
        token_expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, ConnectError> {
        let context = EncryptionContext::new(
            tenant.clone(),
            account.account_id.clone(),
            Purpose::AccessToken,
        );
        let sealed = self.sealer.seal(token, &context).await?;
        let account = Account::connected(tenant.clone(), account, sealed, token_expires_at, now);
        if let Some(route) = self
            .store
            .route(account.channel, &account.account_id)
            .await?
            .filter(|route| &route.tenant_id != tenant)
        {
            self.release(&route.tenant_id, &account.account_id).await?;
        }
        let existing = self.store.account(tenant, &account.account_id).await?;
        let reconnected = existing.is_some();
        let account = match &existing {
            Some(existing) => account.reconnecting(existing),
            None => account,
        };
        self.store.put_with_route(&account).await?;
        self.audit
            .record(
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
    async fn release(&self, tenant: &TenantId, account_id: &AccountId) -> Result<(), ConnectError> {
        if let Some(mut old) = self.store.account(tenant, account_id).await? {
            old.disconnect(self.now());
            self.store.update(&old).await?;
            self.audit
                .record(
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

    async fn subscribed(&self, tenant: &TenantId, account: &AccountId, fields: &[&str]) {
        self.audit
            .record(
                tenant,
                AuditEntry::new(ACTOR, "webhooks.subscribed")
                    .target(format!("account:{account}"))
                    .details(serde_json::json!({ "fields": fields })),
            )
            .await;
    }
}

fn connected(account: NewAccount, reconnected: bool, via: Via) -> Connected {
    Connected {
        account_id: account.account_id,
        channel: account.channel,
        username: account.username,
        name: account.name,
        reconnected,
        via,
    }
}
