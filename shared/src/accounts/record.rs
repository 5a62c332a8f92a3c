//! The records of the accounts domain: tenants, the accounts they connect, and the webhook
//! routes that name their owner. Plain values (the store's `accounts` module maps them
//! to DynamoDB); the few rules that change an account as a whole (a new
//! connection, a disconnection) are written here once.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, TenantId};

/// A tenant: a business, or an agency serving many brands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: i64,
}

/// Which Meta product a connected account speaks through. It is also the webhook
/// `object` its events arrive under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An Instagram professional account (webhook object `instagram`).
    Instagram,
    /// A Facebook Page, for Messenger (webhook object `page`).
    Page,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instagram => "instagram",
            Self::Page => "page",
        }
    }
}

/// How the account was connected, which decides how its token is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginKind {
    InstagramLogin,
    FacebookLogin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Connected,
    /// The token was rejected (Meta error 190) or expired: a person must reconnect.
    NeedsReconnect,
    /// The Meta user removed the app (deauthorize) or asked for deletion.
    Disconnected,
}

impl AccountStatus {
    /// The stored name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NeedsReconnect => "needs_reconnect",
            Self::Disconnected => "disconnected",
        }
    }
}

/// A connected Instagram professional account or Facebook Page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub channel: Channel,
    pub login: LoginKind,
    pub username: Option<String>,
    pub name: Option<String>,
    /// The Meta user who connected it (deauthorize and deletion callbacks name them).
    pub meta_user_id: Option<String>,
    /// For a Page with a linked Instagram business account, that account's id.
    pub linked_instagram_id: Option<AccountId>,
    pub status: AccountStatus,
    /// The access token under envelope encryption (`crypto::SealedRecord` JSON).
    pub token_sealed: Option<String>,
    /// When the token was issued (Meta refreshes only tokens at least 24 h old).
    pub token_issued_at: Option<i64>,
    /// When the token expires; None for tokens that do not expire (page tokens).
    pub token_expires_at: Option<i64>,
    pub connected_at: i64,
    pub updated_at: i64,
}

/// Webhook routing: a platform account id -> the tenant and account that own it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub channel: Channel,
    pub account_id: AccountId,
    pub tenant_id: TenantId,
}

/// An account a login is about to connect: what Meta said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub account_id: AccountId,
    pub channel: Channel,
    pub login: LoginKind,
    pub username: Option<String>,
    pub name: Option<String>,
    /// The Meta user who connected it: Meta's deauthorize and deletion callbacks name
    /// them (for Instagram Login, the Instagram app's user id).
    pub meta_user_id: String,
    pub linked_instagram_id: Option<AccountId>,
}

impl Account {
    /// `new` connected to `tenant` at `now`, with its sealed token, which expires at
    /// `token_expires_at` (None: a Page token, which does not expire).
    pub fn connected(
        tenant: TenantId,
        new: NewAccount,
        token_sealed: String,
        token_expires_at: Option<i64>,
        now: i64,
    ) -> Self {
        Self {
            tenant_id: tenant,
            account_id: new.account_id,
            channel: new.channel,
            login: new.login,
            username: new.username,
            name: new.name,
            meta_user_id: Some(new.meta_user_id),
            linked_instagram_id: new.linked_instagram_id,
            status: AccountStatus::Connected,
            token_sealed: Some(token_sealed),
            token_issued_at: Some(now),
            token_expires_at,
            connected_at: now,
            updated_at: now,
        }
    }

    /// A reconnect keeps the account's history (when it was first connected) and what
    /// the earlier login knew that this one does not say; the rest is the new login's.
    pub fn reconnecting(self, existing: &Account) -> Self {
        Self {
            connected_at: existing.connected_at,
            linked_instagram_id: self
                .linked_instagram_id
                .or_else(|| existing.linked_instagram_id.clone()),
            username: self.username.or_else(|| existing.username.clone()),
            name: self.name.or_else(|| existing.name.clone()),
            ..self
        }
    }

    /// Disconnected at `now` (the user removed the app, or connected the account to
    /// another tenant): its token is destroyed, its data stays.
    pub fn disconnect(&mut self, now: i64) {
        self.status = AccountStatus::Disconnected;
        self.token_sealed = None;
        self.token_issued_at = None;
        self.token_expires_at = None;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_account() -> NewAccount {
        NewAccount {
            account_id: AccountId::parse("17841400000000001").unwrap(),
            channel: Channel::Instagram,
            login: LoginKind::InstagramLogin,
            username: Some("acme".into()),
            name: None,
            meta_user_id: "1001".into(),
            linked_instagram_id: None,
        }
    }

    #[test]
    fn a_new_connection_is_connected_with_its_token_issued_now() {
        let tenant = TenantId::parse("acme").unwrap();
        let a = Account::connected(tenant.clone(), new_account(), "sealed".into(), Some(90), 10);
        assert_eq!(a.tenant_id, tenant);
        assert_eq!(a.status, AccountStatus::Connected);
        assert_eq!(a.meta_user_id.as_deref(), Some("1001"));
        assert_eq!(a.token_sealed.as_deref(), Some("sealed"));
        assert_eq!(
            (
                a.token_issued_at,
                a.token_expires_at,
                a.connected_at,
                a.updated_at
            ),
            (Some(10), Some(90), 10, 10)
        );
    }

    #[test]
    fn a_reconnect_keeps_history_and_what_the_new_login_does_not_say() {
        let tenant = TenantId::parse("acme").unwrap();
        let mut earlier = Account::connected(tenant.clone(), new_account(), "old".into(), None, 5);
        earlier.name = Some("Acme".into());
        earlier.linked_instagram_id = Some(AccountId::parse("17841400000000009").unwrap());
        let mut again = new_account();
        again.username = None;
        let merged =
            Account::connected(tenant, again, "new".into(), Some(99), 50).reconnecting(&earlier);
        assert_eq!(merged.connected_at, 5);
        assert_eq!(merged.username.as_deref(), Some("acme"));
        assert_eq!(merged.name.as_deref(), Some("Acme"));
        assert_eq!(merged.linked_instagram_id, earlier.linked_instagram_id);
        assert_eq!(merged.token_sealed.as_deref(), Some("new"));
        assert_eq!((merged.token_expires_at, merged.updated_at), (Some(99), 50));
    }

    #[test]
    fn a_disconnected_account_keeps_no_token() {
        let tenant = TenantId::parse("acme").unwrap();
        let mut a = Account::connected(tenant, new_account(), "sealed".into(), Some(90), 10);
        a.disconnect(20);
        assert_eq!(a.status, AccountStatus::Disconnected);
        assert_eq!(
            (a.token_sealed, a.token_issued_at, a.token_expires_at),
            (None, None, None)
        );
        assert_eq!((a.connected_at, a.updated_at), (10, 20));
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
