//! The life of a connected account's Meta access token.
//!
//! - [`refresh_decision`] is the rule (pure): which tokens are refreshed, when, and how.
//!   Instagram Login tokens live 60 days and Meta refreshes them (`ig_refresh_token`)
//!   only once they are at least 24 hours old and not yet expired; Facebook Login user
//!   tokens are renewed with `fb_exchange_token`; Page tokens read with a long-lived user
//!   token never expire and are never refreshed.
//! - [`Tokens`] does it: the token-refresh schedule calls [`Tokens::refresh`] for each
//!   account the expiry index lists, and every function that calls Meta for an account
//!   gets its token from [`Tokens::access_token`], which refreshes a token that is about
//!   to expire first, so a send or a publish never fails on a token that could still have
//!   been refreshed.
//!
//! Guarantees: a refreshed token is sealed (envelope encryption, bound to tenant, account
//! and purpose) before it is stored, and only replaces the token it was refreshed from
//! while the account is still connected (a conditional write: a reconnect, deauthorize or
//! concurrent refresh in between wins). At most one refresh of an account runs at a time
//! (a claim). A token Meta rejects (code 190) or that has expired marks the account
//! needs-reconnect, publishes `AccountNeedsReconnect` with a fresh onboarding link and
//! audits it. Throttling and transient failures leave the account for the next run.
//! Plaintext tokens exist only as [`AccessToken`] values in memory.

use std::sync::Arc;

use tracing::{info, warn};

use crate::audit::{AuditEntry, AuditTrail};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, Secrets, Vars};
use crate::crypto::{CryptoError, EncryptionContext, EnvelopeCipher, Purpose};
use crate::events::{AccountNeedsReconnect, EventBus, TokenRefreshFailed};
use crate::ids::{AccountId, TenantId};
use crate::meta::{AppCredentials, GraphClient, GraphError, MetaConfig, MetaEndpoints};
use crate::onboarding::{OnboardingLinks, PublicBaseUrl};
use crate::secret::{AccessToken, Secret};
use crate::store::accounts::{Account, AccountStatus, LoginKind};
use crate::store::{Store, StoreError};

/// Meta refreshes an Instagram Login token only when it is at least 24 hours old.
pub const INSTAGRAM_MIN_AGE_FOR_REFRESH: i64 = 24 * 3600;
/// Long-lived tokens (both logins) last 60 days; used when Meta omits `expires_in`.
pub const LONG_LIVED_TOKEN_SECONDS: i64 = 60 * 86_400;
/// How long a refresh may hold its claim on an account: longer than one Graph call
/// with retries, short enough that a crashed refresher blocks nobody for long.
const REFRESH_CLAIM_SECONDS: i64 = 90;

/// How Meta renews a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMethod {
    /// `GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`.
    InstagramRefresh,
    /// `GET graph.facebook.com/oauth/access_token?grant_type=fb_exchange_token`.
    FacebookExchange,
}

/// What to do with an account's token now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Disconnected or waiting for a reconnect: nothing to refresh.
    NotConnected,
    /// Connected without a stored token (should not happen; reported, not refreshed).
    NoToken,
    /// Page tokens from a long-lived user token do not expire.
    NeverExpires,
    /// Expires later than the horizon.
    NotDue {
        expires_at: i64,
    },
    /// Meta would refuse: an Instagram token younger than 24 hours.
    TooYoung {
        refreshable_at: i64,
    },
    /// Already expired: Meta cannot refresh it, a person must reconnect.
    Expired,
    Refresh(RefreshMethod),
}

/// The refresh rule: what to do with `account`'s token at `now`, refreshing tokens that
/// expire within `horizon_seconds`.
pub fn refresh_decision(account: &Account, now: i64, horizon_seconds: i64) -> RefreshDecision {
    if account.status != AccountStatus::Connected {
        return RefreshDecision::NotConnected;
    }
    if account.token_sealed.is_none() {
        return RefreshDecision::NoToken;
    }
    let Some(expires_at) = account.token_expires_at else {
        return RefreshDecision::NeverExpires;
    };
    if expires_at <= now {
        return RefreshDecision::Expired;
    }
    if expires_at - now > horizon_seconds {
        return RefreshDecision::NotDue { expires_at };
    }
    match account.login {
        LoginKind::InstagramLogin => {
            // Without a recorded issue time the age is unknown: let Meta judge (a
            // too-early refusal is handled as "too young").
            if let Some(issued_at) = account.token_issued_at {
                let refreshable_at = issued_at + INSTAGRAM_MIN_AGE_FOR_REFRESH;
                if now < refreshable_at {
                    return RefreshDecision::TooYoung { refreshable_at };
                }
            }
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        }
        // An expiring token on a Facebook Login account is a user token (Page tokens
        // from a long-lived user token never expire); a Page token that does expire
        // cannot be exchanged, and Meta's refusal leads to a reconnect, as it must.
        LoginKind::FacebookLogin => RefreshDecision::Refresh(RefreshMethod::FacebookExchange),
    }
}

/// Tunables of the token lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The schedule refreshes tokens expiring within this many seconds.
    pub horizon_seconds: i64,
    /// [`Tokens::access_token`] refreshes a token expiring within this many seconds.
    pub refresh_before_use_seconds: i64,
    /// Validity of the onboarding link put in an `AccountNeedsReconnect` event.
    pub reconnect_link_seconds: i64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            horizon_seconds: 10 * 86_400,
            refresh_before_use_seconds: 30 * 60,
            reconnect_link_seconds: 7 * 86_400,
        }
    }
}

impl TokenPolicy {
    pub const HORIZON_DAYS: &'static str = "RELAY_TOKEN_REFRESH_HORIZON_DAYS";
    pub const BEFORE_USE_MINUTES: &'static str = "RELAY_TOKEN_REFRESH_BEFORE_USE_MINUTES";
    pub const RECONNECT_LINK_DAYS: &'static str = "RELAY_RECONNECT_LINK_DAYS";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let horizon_days: u32 = vars.parsed(Self::HORIZON_DAYS, 10);
        let before_use_minutes: u32 = vars.parsed(Self::BEFORE_USE_MINUTES, 30);
        let link_days: u32 = vars.parsed(Self::RECONNECT_LINK_DAYS, 7);
        if horizon_days == 0 || horizon_days > 59 {
            vars.invalid(Self::HORIZON_DAYS, "must be 1 to 59 days (tokens live 60)");
        }
        if link_days == 0 || link_days > 30 {
            vars.invalid(Self::RECONNECT_LINK_DAYS, "must be 1 to 30 days");
        }
        vars.finish()?;
        Ok(Self {
            horizon_seconds: i64::from(horizon_days) * 86_400,
            refresh_before_use_seconds: i64::from(before_use_minutes) * 60,
            reconnect_link_seconds: i64::from(link_days) * 86_400,
        })
    }
}

/// Why an account was left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    NotConnected,
    NoToken,
    NeverExpires,
    NotDue,
    TooYoung,
    /// Another refresh of the account holds the claim.
    InProgress,
    /// The account changed while refreshing (reconnected, deauthorized); its new state wins.
    ChangedConcurrently,
}

/// What [`Tokens::refresh`] did with one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed {
        expires_at: i64,
    },
    Skipped(SkipReason),
    /// Throttled or a transient failure: the next run tries again.
    Deferred {
        reason: String,
    },
    /// Meta rejected the token or it expired: marked needs-reconnect, event published.
    NeedsReconnect {
        reason: String,
    },
    /// Anything else; a `TokenRefreshFailed` event was published.
    Failed {
        reason: String,
    },
}

impl RefreshOutcome {
    /// The metric an operator watches for this outcome.
    pub fn metric(&self) -> &'static str {
        match self {
            Self::Refreshed { .. } => "TokensRefreshed",
            Self::Skipped(_) => "TokensSkipped",
            Self::Deferred { .. } => "TokenRefreshesDeferred",
            Self::NeedsReconnect { .. } => "AccountsNeedReconnect",
            Self::Failed { .. } => "TokenRefreshesFailed",
        }
    }
}

/// Why [`Tokens::access_token`] has no token to give.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("account not found")]
    NotFound,
    #[error("account is not connected ({0:?})")]
    NotConnected(AccountStatus),
    #[error("account has no stored token")]
    NoToken,
    #[error("account needs reconnecting: {reason}")]
    NeedsReconnect { reason: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one refresh attempt did not store a new token.
#[derive(Debug)]
enum AttemptError {
    InProgress,
    ChangedConcurrently,
    Graph(GraphError),
    Crypto(CryptoError),
    Store(StoreError),
}

impl AttemptError {
    fn reason(&self) -> String {
        match self {
            Self::InProgress => "another refresh is running".into(),
            Self::ChangedConcurrently => "account changed while refreshing".into(),
            Self::Graph(e) => e.to_string(),
            Self::Crypto(e) => e.to_string(),
            Self::Store(e) => e.to_string(),
        }
    }
}

/// Builds the Graph client every function uses, from the environment:
/// `RELAY_META_BASE_URL` (optional: one base URL standing in for every Meta host, the
/// simulator's host prefixes below it), the Graph version of [`Config`],
/// `RELAY_IG_APP_ID` and `RELAY_FB_APP_ID`, and the app secrets of [`Secrets`]:
/// `META_APP_SECRETS[0]` is the Instagram app's, `META_APP_SECRETS[1]` the Facebook
/// app's (the first one when there is no second, for a setup where both are the same).
pub fn meta_config(
    config: &Config,
    secrets: &Secrets,
    vars: &Vars,
) -> Result<MetaConfig, ConfigError> {
    let endpoints = match vars.optional(META_BASE_URL) {
        Some(base) => MetaEndpoints::simulator(&base).unwrap_or_else(|e| {
            vars.invalid(META_BASE_URL, e.to_string());
            MetaEndpoints::production()
        }),
        None => MetaEndpoints::production(),
    };
    let endpoints = endpoints
        .with_graph_version(&config.graph_version)
        .unwrap_or_else(|e| {
            vars.invalid(Config::GRAPH_VERSION, e.to_string());
            MetaEndpoints::production()
        });
    let instagram_app_secret = secrets
        .meta_app_secrets
        .first()
        .cloned()
        .unwrap_or_else(|| Secret::new(""));
    let facebook_app_secret = secrets
        .meta_app_secrets
        .get(1)
        .cloned()
        .unwrap_or_else(|| instagram_app_secret.clone());
    let credentials = AppCredentials {
        instagram_app_id: vars.optional(IG_APP_ID).unwrap_or_default(),
        instagram_app_secret,
        facebook_app_id: vars.optional(FB_APP_ID).unwrap_or_default(),
        facebook_app_secret,
    };
    vars.finish()?;
    Ok(MetaConfig::new(endpoints, credentials))
}

pub const META_BASE_URL: &str = "RELAY_META_BASE_URL";
pub const IG_APP_ID: &str = "RELAY_IG_APP_ID";
pub const FB_APP_ID: &str = "RELAY_FB_APP_ID";
/// The public base URL of the oauth function: onboarding links and redirect URIs.
pub const PUBLIC_BASE_URL: &str = "RELAY_PUBLIC_BASE_URL";

/// Reads `RELAY_PUBLIC_BASE_URL` when set.
pub fn public_base_url(vars: &Vars) -> Option<PublicBaseUrl> {
    let raw = vars.optional(PUBLIC_BASE_URL)?;
    match PublicBaseUrl::parse(&raw) {
        Ok(base) => Some(base),
        Err(e) => {
            vars.invalid(PUBLIC_BASE_URL, e.to_string());
            None
        }
    }
}

/// Gives out usable tokens and refreshes them. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    store: Store,
    cipher: EnvelopeCipher,
    graph: GraphClient,
    audit: AuditTrail,
    events: EventBus,
    links: Option<OnboardingLinks>,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
    actor: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("policy", &self.policy)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// `actor` names the function in audit records (`system:<function>`).
    pub fn new(
        store: Store,
        cipher: EnvelopeCipher,
        graph: GraphClient,
        audit: AuditTrail,
        events: EventBus,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            store,
            cipher,
            graph,
            audit,
            events,
            links: None,
            clock: Arc::new(SystemClock),
            policy: TokenPolicy::default(),
            actor: actor.into(),
        }
    }

    /// Everything from the environment, as a function's cold start builds it.
    pub fn from_config(
        config: &Config,
        secrets: &Secrets,
        sdk: &aws_config::SdkConfig,
        actor: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::from_process();
        let graph = GraphClient::new(meta_config(config, secrets, &vars)?).map_err(|e| {
            ConfigError(vec![crate::config::ConfigProblem::Invalid {
                var: META_BASE_URL.into(),
                reason: e.to_string(),
            }])
        })?;
        let policy = TokenPolicy::from_vars(&vars)?;
        let links =
            public_base_url(&vars).map(|base| OnboardingLinks::new(&secrets.oauth_state_key, base));
        vars.finish()?;
        let tokens = Self::new(
            Store::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.main_table.clone(),
            ),
            EnvelopeCipher::new(aws_sdk_kms::Client::new(sdk), config.token_key_id.clone()),
            graph,
            AuditTrail::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.audit_table.clone(),
            ),
            EventBus::new(
                aws_sdk_eventbridge::Client::new(sdk),
                config.event_bus.clone(),
            ),
            actor,
        )
        .with_policy(policy);
        Ok(match links {
            Some(links) => tokens.with_links(links),
            None => tokens,
        })
    }

    /// Reconnect events carry a fresh onboarding link made with these.
    pub fn with_links(mut self, links: OnboardingLinks) -> Self {
        self.links = Some(links);
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> TokenPolicy {
        self.policy
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    pub fn audit(&self) -> &AuditTrail {
        &self.audit
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Cache opened data keys (bounded by `limits`), so a function that reads the same
    /// accounts' tokens again and again does not pay a KMS call each time.
    pub fn with_key_cache(mut self, limits: crate::crypto::CacheLimits) -> Self {
        self.cipher = self.cipher.with_cache(limits);
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    fn context(account: &Account) -> EncryptionContext {
        EncryptionContext::new(
            account.tenant_id.clone(),
            account.account_id.clone(),
            Purpose::AccessToken,
        )
    }

    /// A usable token for `tenant`'s account, refreshed first if it is about to expire.
    pub async fn access_token_for(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<(Account, AccessToken), TokenError> {
        let account = self
            .store
            .get_account(tenant, account)
            .await?
            .ok_or(TokenError::NotFound)?;
        let token = self.access_token(&account).await?;
        Ok((account, token))
    }

    /// A usable token for `account`: decrypted, and refreshed first when it expires
    /// within [`TokenPolicy::refresh_before_use_seconds`] and Meta allows a refresh. A
    /// refresh that fails for a passing reason falls back to the current token, which
    /// is still valid; an expired or rejected token marks the account needs-reconnect.
    pub async fn access_token(&self, account: &Account) -> Result<AccessToken, TokenError> {
        if account.status != AccountStatus::Connected {
            return Err(TokenError::NotConnected(account.status));
        }
        let sealed = account.token_sealed.as_deref().ok_or(TokenError::NoToken)?;
        let now = self.clock.now_secs();
        match refresh_decision(account, now, self.policy.refresh_before_use_seconds) {
            RefreshDecision::Expired => {
                let reason = "token expired".to_owned();
                self.mark_needs_reconnect(account, &reason).await;
                return Err(TokenError::NeedsReconnect { reason });
            }
            RefreshDecision::Refresh(method) => match self.attempt(account, method, now).await {
                Ok((token, _)) => return Ok(token),
                Err(AttemptError::Graph(GraphError::TokenInvalid { reason })) => {
                    let reason = reason.to_string();
                    self.mark_needs_reconnect(account, &reason).await;
                    return Err(TokenError::NeedsReconnect { reason });
                }
                Err(e) => {
                    warn!(
                        tenant_id = %account.tenant_id,
                        account_id = %account.account_id,
                        reason = %e.reason(),
                        "refresh before use did not happen; using the current token"
                    );
                }
            },
            _ => {}
        }
        Ok(self
            .cipher
            .open_token(sealed, &Self::context(account))
            .await?)
    }

    /// Refresh `account`'s token if the rule says it is due (the schedule's entry).
    pub async fn refresh(&self, account: &Account) -> RefreshOutcome {
        let now = self.clock.now_secs();
        let outcome = match refresh_decision(account, now, self.policy.horizon_seconds) {
            RefreshDecision::NotConnected => RefreshOutcome::Skipped(SkipReason::NotConnected),
            RefreshDecision::NoToken => RefreshOutcome::Skipped(SkipReason::NoToken),
            RefreshDecision::NeverExpires => RefreshOutcome::Skipped(SkipReason::NeverExpires),
            RefreshDecision::NotDue { .. } => RefreshOutcome::Skipped(SkipReason::NotDue),
            RefreshDecision::TooYoung { .. } => RefreshOutcome::Skipped(SkipReason::TooYoung),
            RefreshDecision::Expired => {
                let reason = "token expired".to_owned();
                self.mark_needs_reconnect(account, &reason).await
            }
            RefreshDecision::Refresh(method) => match self.attempt(account, method, now).await {
                Ok((_, expires_at)) => RefreshOutcome::Refreshed { expires_at },
                Err(e) => self.after_failure(account, e).await,
            },
        };
        info!(
            tenant_id = %account.tenant_id,
            account_id = %account.account_id,
            outcome = ?outcome,
            "token refresh"
        );
        outcome
    }

    async fn after_failure(&self, account: &Account, error: AttemptError) -> RefreshOutcome {
        match error {
            AttemptError::InProgress => RefreshOutcome::Skipped(SkipReason::InProgress),
            AttemptError::ChangedConcurrently => {
                RefreshOutcome::Skipped(SkipReason::ChangedConcurrently)
            }
            AttemptError::Graph(GraphError::TokenInvalid { reason }) => {
                self.mark_needs_reconnect(account, &reason.to_string())
                    .await
            }
            AttemptError::Graph(GraphError::RefreshTooEarly) => {
                RefreshOutcome::Skipped(SkipReason::TooYoung)
            }
            AttemptError::Graph(
                e @ (GraphError::Throttled { .. } | GraphError::Transient { .. }),
            ) => RefreshOutcome::Deferred {
                reason: e.to_string(),
            },
            other => {
                let reason = other.reason();
                let now = self.clock.now_secs();
                let event = TokenRefreshFailed {
                    tenant_id: account.tenant_id.clone(),
                    account_id: account.account_id.to_string(),
                    reason: reason.clone(),
                    at: now,
                };
                if let Err(e) = self.events.publish(&event).await {
                    warn!(account_id = %account.account_id, error = %e, "TokenRefreshFailed event not published");
                }
                self.record(
                    &account.tenant_id,
                    AuditEntry::new(self.actor.clone(), "token.refresh_failed")
                        .target(format!("account:{}", account.account_id))
                        .details(serde_json::json!({ "reason": reason })),
                )
                .await;
                RefreshOutcome::Failed { reason }
            }
        }
    }

    /// One refresh: claim the account, call Meta, seal and store the new token.
    async fn attempt(
        &self,
        account: &Account,
        method: RefreshMethod,
        now: i64,
    ) -> Result<(AccessToken, i64), AttemptError> {
        let sealed = account
            .token_sealed
            .as_deref()
            .ok_or(AttemptError::ChangedConcurrently)?;
        // The claim's expiry is compared with DynamoDB-side wall time by the store, so it
        // is set from the system clock, not from the (possibly simulated) policy clock.
        let claim_until = SystemClock.now_secs() + REFRESH_CLAIM_SECONDS;
        let claimed = self
            .store
            .claim_action(&account.tenant_id, &refresh_claim(account), claim_until)
            .await
            .map_err(AttemptError::Store)?;
        if !claimed {
            return Err(AttemptError::InProgress);
        }
        let result = self.attempt_claimed(account, sealed, method, now).await;
        // The claim only keeps two refreshes of one account apart; once this one is
        // over (done, or failed and left for the next run) the account is free again.
        if let Err(e) = self
            .store
            .release_action(&account.tenant_id, &refresh_claim(account))
            .await
        {
            warn!(
                account_id = %account.account_id,
                error = %e,
                "refresh claim not released; it expires by itself"
            );
        }
        result
    }

    async fn attempt_claimed(
        &self,
        account: &Account,
        sealed: &str,
        method: RefreshMethod,
        now: i64,
    ) -> Result<(AccessToken, i64), AttemptError> {
        let context = Self::context(account);
        let current = self
            .cipher
            .open_token(sealed, &context)
            .await
            .map_err(AttemptError::Crypto)?;
        let issued = match method {
            RefreshMethod::InstagramRefresh => self.graph.refresh_instagram_token(&current).await,
            RefreshMethod::FacebookExchange => {
                self.graph.exchange_facebook_long_lived(&current).await
            }
        }
        .map_err(AttemptError::Graph)?
        .into_value();
        let lifetime = issued
            .expires_in
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(LONG_LIVED_TOKEN_SECONDS))
            .unwrap_or(LONG_LIVED_TOKEN_SECONDS);
        let expires_at = now + lifetime;
        let new_sealed = self
            .cipher
            .seal_token(&issued.access_token, &context)
            .await
            .map_err(AttemptError::Crypto)?;
        self.replace_token(account, sealed, &new_sealed, now, expires_at)
            .await?;
        self.record(
            &account.tenant_id,
            AuditEntry::new(self.actor.clone(), "token.refreshed")
                .target(format!("account:{}", account.account_id))
                .details(serde_json::json!({
                    "method": match method {
                        RefreshMethod::InstagramRefresh => "ig_refresh_token",
                        RefreshMethod::FacebookExchange => "fb_exchange_token",
                    },
                    "expires_at": expires_at,
                })),
        )
        .await;
        Ok((issued.access_token, expires_at))
    }

    /// Store the new token only if the account is still connected with the token that
    /// was refreshed, and move it in the expiry index.
    async fn replace_token(
        &self,
        account: &Account,
        old_sealed: &str,
        new_sealed: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), AttemptError> {
        match self
            .store
            .replace_token(account, old_sealed, new_sealed, now, expires_at)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(AttemptError::ChangedConcurrently),
            Err(e) => Err(AttemptError::Store(e)),
        }
    }

    /// Mark the account needs-reconnect (unless it changed since it was read), take it
    /// out of the expiry index, publish `AccountNeedsReconnect` with a fresh onboarding
    /// link, and audit it.
    pub async fn mark_needs_reconnect(&self, account: &Account, reason: &str) -> RefreshOutcome {
        let now = self.clock.now_secs();
        match self.store.mark_needs_reconnect(account, now).await {
            Ok(true) => {}
            Ok(false) => return RefreshOutcome::Skipped(SkipReason::ChangedConcurrently),
            Err(e) => {
                let reason = format!("could not mark needs-reconnect: {e}");
                warn!(account_id = %account.account_id, %reason, "needs-reconnect not stored");
                return RefreshOutcome::Failed { reason };
            }
        }
        let reconnect_url = self.links.as_ref().map(|links| {
            links
                .issue(&account.tenant_id, now + self.policy.reconnect_link_seconds)
                .url
        });
        let event = AccountNeedsReconnect {
            tenant_id: account.tenant_id.clone(),
            account_id: account.account_id.to_string(),
            reason: reason.to_owned(),
            reconnect_url,
            at: now,
        };
        if let Err(e) = self.events.publish(&event).await {
            warn!(account_id = %account.account_id, error = %e, "AccountNeedsReconnect event not published");
        }
        self.record(
            &account.tenant_id,
            AuditEntry::new(self.actor.clone(), "account.needs_reconnect")
                .target(format!("account:{}", account.account_id))
                .details(serde_json::json!({ "reason": reason })),
        )
        .await;
        RefreshOutcome::NeedsReconnect {
            reason: reason.to_owned(),
        }
    }

    /// Audit, without failing the operation that already happened: a failed append is
    /// logged for operators (the state change itself cannot be undone).
    async fn record(&self, tenant: &TenantId, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.audit.append(tenant, entry).await {
            warn!(tenant_id = %tenant, %action, error = %e, "audit record not written");
        }
    }
}

/// The claim that keeps two refreshes of one account apart.
fn refresh_claim(account: &Account) -> String {
    format!("token-refresh:{}", account.account_id)
}

/// How an [`AccountStatus`] is stored (its serde name).
#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn account(login: LoginKind, issued: Option<i64>, expires: Option<i64>) -> Account {
        Account {
            tenant_id: TenantId::parse("acme").unwrap(),
            account_id: AccountId::parse("17841400000000001").unwrap(),
            channel: crate::store::accounts::Channel::Instagram,
            login,
            username: None,
            name: None,
            meta_user_id: None,
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: Some("sealed".into()),
            token_issued_at: issued,
            token_expires_at: expires,
            connected_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn instagram_tokens_near_expiry_are_refreshed() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 55 * DAY),
            Some(NOW + 5 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn tokens_beyond_the_horizon_wait() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - DAY * 2),
            Some(NOW + 58 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NotDue {
                expires_at: NOW + 58 * DAY
            }
        );
    }

    #[test]
    fn instagram_tokens_under_24_hours_old_are_left_alone() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 3600),
            Some(NOW + 59 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 60 * DAY),
            RefreshDecision::TooYoung {
                refreshable_at: NOW - 3600 + DAY
            }
        );
        let exactly_a_day = account(LoginKind::InstagramLogin, Some(NOW - DAY), Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&exactly_a_day, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn facebook_user_tokens_are_exchanged_without_an_age_rule() {
        let a = account(LoginKind::FacebookLogin, Some(NOW - 60), Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::FacebookExchange)
        );
    }

    #[test]
    fn page_tokens_never_expire_and_expired_tokens_need_a_person() {
        let page = account(LoginKind::FacebookLogin, Some(NOW - DAY), None);
        assert_eq!(
            refresh_decision(&page, NOW, 10 * DAY),
            RefreshDecision::NeverExpires
        );
        let expired = account(LoginKind::InstagramLogin, Some(NOW - 61 * DAY), Some(NOW));
        assert_eq!(
            refresh_decision(&expired, NOW, 10 * DAY),
            RefreshDecision::Expired
        );
    }

    #[test]
    fn only_connected_accounts_with_tokens_are_considered() {
        let mut a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 50 * DAY),
            Some(NOW + DAY),
        );
        a.status = AccountStatus::NeedsReconnect;
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NotConnected
        );
        a.status = AccountStatus::Connected;
        a.token_sealed = None;
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NoToken
        );
    }

    #[test]
    fn unknown_age_is_left_to_meta() {
        let a = account(LoginKind::InstagramLogin, None, Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn policy_reads_days_and_minutes() {
        let vars = Vars::from_map(std::collections::HashMap::from([
            (TokenPolicy::HORIZON_DAYS.to_owned(), "14".to_owned()),
            (TokenPolicy::BEFORE_USE_MINUTES.to_owned(), "5".to_owned()),
        ]));
        let p = TokenPolicy::from_vars(&vars).unwrap();
        assert_eq!(p.horizon_seconds, 14 * DAY);
        assert_eq!(p.refresh_before_use_seconds, 300);
        let bad = Vars::from_map(std::collections::HashMap::from([(
            TokenPolicy::HORIZON_DAYS.to_owned(),
            "90".to_owned(),
        )]));
        assert!(TokenPolicy::from_vars(&bad).is_err());
    }

    #[test]
    fn status_values_are_the_stored_names() {
        for status in [
            AccountStatus::Connected,
            AccountStatus::NeedsReconnect,
            AccountStatus::Disconnected,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().to_owned())
            );
        }
    }
}
