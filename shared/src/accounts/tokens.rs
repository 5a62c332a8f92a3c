//! The token I/O: every function that calls Meta for an account gets its token (or its
//! Graph handle) from [`Tokens`], which refreshes a token that is about to expire first,
//! so a send or a publish never fails on a token that could still have been refreshed;
//! the token-refresh schedule runs [`Tokens::refresh_due`] over the accounts the expiry
//! index lists. What is refreshed, when and how is the rule of [`super::refresh`].
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

use futures::StreamExt;
use serde::Serialize;
use tracing::{info, warn};

use super::ports::AuditLog;
use super::record::{Account, AccountStatus, Channel, LoginKind};
use super::refresh::{
    LONG_LIVED_TOKEN_SECONDS, RefreshDecision, RefreshMethod, TokenPolicy, refresh_decision,
};
use crate::audit::{AuditEntry, AuditTrail};
use crate::clock::{Clock, SystemClock};
use crate::crypto::{CryptoError, EncryptionContext, EnvelopeCipher, Purpose};
use crate::events::{AccountNeedsReconnect, EventBus, TokenRefreshFailed};
use crate::ids::{AccountId, TenantId};
use crate::meta::{FacebookPage, GraphClient, GraphError, InstagramAccount};
use crate::onboarding::OnboardingLinks;
use crate::secret::AccessToken;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// How long a refresh may hold its claim on an account: longer than one Graph call
/// with retries, short enough that a crashed refresher blocks nobody for long.
const REFRESH_CLAIM_SECONDS: i64 = 90;

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

impl TokenError {
    /// Only a person can fix this: the account is gone, disconnected, has no token or
    /// must be reconnected. (The others are passing failures of KMS or DynamoDB.)
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            Self::NotFound | Self::NotConnected(_) | Self::NoToken | Self::NeedsReconnect { .. }
        )
    }
}

/// How to call Meta for one account: its id and a usable token, for the API it speaks.
#[derive(Debug, Clone)]
pub enum GraphHandle {
    /// An Instagram professional account (through Instagram Login or a Page).
    Instagram(InstagramAccount),
    /// A Facebook Page (Messenger, Page posts).
    Page(FacebookPage),
}

impl GraphHandle {
    /// `account`'s handle with `token`: a Page's is the Page's own; an Instagram
    /// account's says which login its token comes from (which Graph host it is sent to).
    pub fn of(account: &Account, token: AccessToken) -> Self {
        let id = account.account_id.clone();
        match (account.channel, account.login) {
            (Channel::Page, _) => Self::Page(FacebookPage { id, token }),
            (Channel::Instagram, LoginKind::InstagramLogin) => {
                Self::Instagram(InstagramAccount::instagram_login(id, token))
            }
            (Channel::Instagram, LoginKind::FacebookLogin) => {
                Self::Instagram(InstagramAccount::facebook_login(id, token))
            }
        }
    }
}

/// What one scheduled refresh run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshSummary {
    /// Accounts the index listed as expiring within the horizon.
    pub due: usize,
    pub refreshed: usize,
    pub skipped: usize,
    /// Throttled or transient: tried again next run.
    pub deferred: usize,
    pub needs_reconnect: usize,
    pub failed: usize,
}

impl RefreshSummary {
    fn add(&mut self, outcome: &RefreshOutcome) {
        match outcome {
            RefreshOutcome::Refreshed { .. } => self.refreshed += 1,
            RefreshOutcome::Skipped(_) => self.skipped += 1,
            RefreshOutcome::Deferred { .. } => self.deferred += 1,
            RefreshOutcome::NeedsReconnect { .. } => self.needs_reconnect += 1,
            RefreshOutcome::Failed { .. } => self.failed += 1,
        }
    }
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

    /// `account`'s Graph handle, with a usable token ([`Self::access_token`]).
    pub async fn graph_handle(&self, account: &Account) -> Result<GraphHandle, TokenError> {
        let token = self.access_token(account).await?;
        Ok(GraphHandle::of(account, token))
    }

    /// The schedule's run: every connected account whose token expires within the
    /// horizon, from the sparse expiry index (a Query per shard, never a Scan), refreshed
    /// `concurrency` at a time, each outcome counted in `metrics`. One account's failure,
    /// throttling included, never stops the others; only an unreadable index fails the
    /// run.
    pub async fn refresh_due(
        &self,
        concurrency: usize,
        metrics: &Metrics,
    ) -> Result<RefreshSummary, StoreError> {
        let now = self.clock.now_secs();
        let due = self
            .store
            .accounts_expiring_before(now + self.policy.horizon_seconds)
            .await?;
        let mut summary = RefreshSummary {
            due: due.len(),
            ..RefreshSummary::default()
        };
        let outcomes: Vec<RefreshOutcome> = futures::stream::iter(due.iter())
            .map(|account| self.refresh(account))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for outcome in &outcomes {
            metrics.count(outcome.metric(), 1);
            summary.add(outcome);
        }
        info!(
            due = summary.due,
            refreshed = summary.refreshed,
            skipped = summary.skipped,
            deferred = summary.deferred,
            needs_reconnect = summary.needs_reconnect,
            failed = summary.failed,
            "token refresh run finished"
        );
        Ok(summary)
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
                self.audit
                    .record(
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
        self.audit
            .record(
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
        self.audit
            .record(
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
}

/// The claim that keeps two refreshes of one account apart.
fn refresh_claim(account: &Account) -> String {
    format!("token-refresh:{}", account.account_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::LoginKind as GraphLogin;

    fn account(channel: Channel, login: LoginKind) -> Account {
        let new = crate::accounts::NewAccount {
            account_id: AccountId::parse("17841400000000001").unwrap(),
            channel,
            login,
            username: None,
            name: None,
            meta_user_id: "1001".into(),
            linked_instagram_id: None,
        };
        Account::connected(TenantId::parse("acme").unwrap(), new, "s".into(), None, 0)
    }

    #[test]
    fn a_handle_speaks_the_api_of_the_account_and_its_login() {
        let token = || AccessToken::new("t");
        assert!(matches!(
            GraphHandle::of(&account(Channel::Page, LoginKind::FacebookLogin), token()),
            GraphHandle::Page(page) if page.id.as_str() == "17841400000000001"
        ));
        for (login, graph_login) in [
            (LoginKind::InstagramLogin, GraphLogin::Instagram),
            (LoginKind::FacebookLogin, GraphLogin::Facebook),
        ] {
            assert!(matches!(
                GraphHandle::of(&account(Channel::Instagram, login), token()),
                GraphHandle::Instagram(ig) if ig.login == graph_login
            ));
        }
    }

    #[test]
    fn only_a_person_fixes_a_missing_disconnected_or_rejected_token() {
        assert!(TokenError::NotFound.needs_reconnect());
        assert!(TokenError::NotConnected(AccountStatus::Disconnected).needs_reconnect());
        assert!(TokenError::NoToken.needs_reconnect());
        assert!(
            TokenError::NeedsReconnect {
                reason: "190".into()
            }
            .needs_reconnect()
        );
        assert!(!TokenError::Store(StoreError::InvalidCursor).needs_reconnect());
    }
}
