//! What the accounts workflows need from outside, each as a small trait: the accounts
//! and routes, the OAuth flow's single-use markers, the audit trail, and the sealing of
//! tokens. Today's types implement them ([`Store`], [`AuditTrail`], [`EnvelopeCipher`]);
//! the workflows' unit tests run on in-memory doubles.

use std::future::Future;

use tracing::warn;

use super::record::{Account, Channel, Route};
use crate::audit::{AuditEntry, AuditTrail};
use crate::crypto::{CryptoError, EncryptionContext, EnvelopeCipher};
use crate::ids::{AccountId, TenantId};
use crate::secret::AccessToken;
use crate::store::{Store, StoreError};

/// Connected accounts and their webhook routes.
pub trait AccountStore: Send + Sync {
    fn account(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Who owns a platform account id (the webhook route).
    fn route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<Route>, StoreError>> + Send;

    /// Store an account and its webhook route together.
    fn put_with_route(
        &self,
        account: &Account,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Update an account the tenant owns (its route is unchanged).
    fn update(&self, account: &Account) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One-time markers: an OAuth state's nonce (stored when the flow starts, used up by the
/// callback) and a claim (taken once per key until it expires).
pub trait OnceMarkers: Send + Sync {
    /// Remember `nonce` until `until` (epoch seconds); false if it exists.
    fn put_nonce(
        &self,
        nonce: &str,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Use up `nonce`: true the first time within its lifetime, false ever after.
    fn consume_nonce(
        &self,
        nonce: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take `tenant`'s claim on `key` until `until`; false when it is taken.
    fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where audit records go.
pub trait AuditLog: Send + Sync {
    /// Append `entry` to `tenant`'s chain. A record that cannot be written is logged for
    /// operators and does not fail the operation: the change it records already happened.
    fn record(&self, tenant: &TenantId, entry: AuditEntry) -> impl Future<Output = ()> + Send;
}

/// Seals a token for storage (envelope encryption bound to its account and purpose).
pub trait TokenSealer: Send + Sync {
    fn seal(
        &self,
        token: &AccessToken,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<String, CryptoError>> + Send;
}

impl AccountStore for Store {
    async fn account(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        self.get_account(tenant, account).await
    }

    async fn route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> Result<Option<Route>, StoreError> {
        self.resolve_route(channel, account).await
    }

    async fn put_with_route(&self, account: &Account) -> Result<(), StoreError> {
        self.put_account(account).await
    }

    async fn update(&self, account: &Account) -> Result<(), StoreError> {
        self.update_account(account).await
    }
}

impl OnceMarkers for Store {
    async fn put_nonce(&self, nonce: &str, until: i64) -> Result<bool, StoreError> {
        self.put_oauth_nonce(nonce, until).await
    }

    async fn consume_nonce(&self, nonce: &str, now: i64) -> Result<bool, StoreError> {
        self.consume_oauth_nonce(nonce, now).await
    }

    async fn claim(&self, tenant: &TenantId, key: &str, until: i64) -> Result<bool, StoreError> {
        self.claim_action(tenant, key, until).await
    }
}

impl AuditLog for AuditTrail {
    async fn record(&self, tenant: &TenantId, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.append(tenant, entry).await {
            warn!(tenant_id = %tenant, %action, error = %e, "audit record not written");
        }
    }
}

impl TokenSealer for EnvelopeCipher {
    async fn seal(
        &self,
        token: &AccessToken,
        context: &EncryptionContext,
    ) -> Result<String, CryptoError> {
        self.seal_token(token, context).await
    }
}
