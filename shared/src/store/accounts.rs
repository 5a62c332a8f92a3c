//! How tenants, connected accounts and webhook routing items are stored (the records
//! themselves belong to the accounts domain).
//!
//! An account and its routing item change together (TransactWriteItems), so a webhook is
//! never routed to an account that does not exist and an account is never stored without
//! its route. Accounts with an expiring token are listed in a sparse, sharded index by
//! expiry, so token refresh reads only what is due instead of scanning.

use super::keys::{self, Key};
use super::{Index, IndexKeys, Listing, Page, SortRange, Store, StoreError, n, s};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
// Callers name the records through the store too (`store::accounts::Account`).
pub use crate::accounts::record::{Account, AccountStatus, Channel, LoginKind, Route, Tenant};
use crate::ids::{AccountId, TenantId};

fn tenant_index(tenant: &Tenant) -> IndexKeys {
    IndexKeys {
        gsi1: Some((
            keys::TENANTS.to_owned(),
            format!("{}#{}", keys::time_sk(tenant.created_at), tenant.tenant_id),
        )),
        ..IndexKeys::default()
    }
}

fn account_index(account: &Account) -> IndexKeys {
    let tenant = &account.tenant_id;
    let id = account.account_id.as_str();
    IndexKeys {
        gsi1: account
            .meta_user_id
            .as_ref()
            .map(|user| (keys::meta_user_accounts(user), format!("T#{tenant}#A#{id}"))),
        // Sparse: only connected accounts whose token expires are refreshed.
        gsi2: account
            .token_expires_at
            .filter(|_| account.status == AccountStatus::Connected)
            .map(|expires| {
                (
                    keys::tokens_expiring(keys::shard_of(tenant, id)),
                    format!("{}#{tenant}#{id}", keys::time_sk(expires)),
                )
            }),
        ttl: None,
    }
}

impl Store {
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.put(
            &keys::tenant(&tenant.tenant_id),
            &tenant_index(tenant),
            tenant,
        )
        .await
    }

    /// Store a new tenant; `Conflict` when its id is taken.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.put_new(
            &keys::tenant(&tenant.tenant_id),
            &tenant_index(tenant),
            tenant,
            "tenant",
        )
        .await
    }

    /// Every tenant of the installation, oldest first (operators only).
    pub async fn list_tenants(&self, listing: &Listing) -> Result<Page<Tenant>, StoreError> {
        self.query(Some(Index::Gsi1), keys::TENANTS, &SortRange::All, listing)
            .await
    }

    pub async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(&keys::tenant(tenant)).await
    }

    /// Store an account and its webhook route in one transaction.
    pub async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        let route = Route {
            channel: account.channel,
            account_id: account.account_id.clone(),
            tenant_id: account.tenant_id.clone(),
        };
        let account_item = Self::item(
            &keys::account(&account.tenant_id, &account.account_id),
            &account_index(account),
            account,
        )?;
        let route_item = Self::item(
            &keys::route(account.channel.as_str(), &account.account_id),
            &IndexKeys::default(),
            &route,
        )?;
        let put = |item| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(item))
                        .build()
                        .expect("table name and item are set"),
                )
                .build()
        };
        self.client()
            .transact_write_items()
            .transact_items(put(account_item))
            .transact_items(put(route_item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(())
    }

    /// Update an account the tenant owns (its route is unchanged).
    pub async fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        self.put(
            &keys::account(&account.tenant_id, &account.account_id),
            &account_index(account),
            account,
        )
        .await
    }

    pub async fn get_account(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        self.get(&keys::account(tenant, account)).await
    }

    pub async fn list_accounts(
        &self,
        tenant: &TenantId,
        listing: &Listing,
    ) -> Result<Page<Account>, StoreError> {
        self.query(
            None,
            &keys::tenant_pk(tenant),
            &SortRange::Prefix(keys::ACCOUNT_PREFIX.into()),
            listing,
        )
        .await
    }

    /// Who owns a platform account id that a verified webhook named.
    pub async fn resolve_route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> Result<Option<Route>, StoreError> {
        self.get(&keys::route(channel.as_str(), account)).await
    }

    /// Connected accounts whose token expires before `before` (epoch seconds), across
    /// tenants, from the sparse expiry index (every shard, each page followed).
    pub async fn accounts_expiring_before(&self, before: i64) -> Result<Vec<Account>, StoreError> {
        let mut found = Vec::new();
        for shard in 0..keys::SHARDS {
            found.extend(
                self.query_all(
                    Some(Index::Gsi2),
                    &keys::tokens_expiring(shard),
                    &SortRange::Before(keys::time_sk(before)),
                    100,
                )
                .await?,
            );
        }
        Ok(found)
    }

    /// Accounts a Meta user connected, in any tenant (deauthorize and data deletion).
    pub async fn accounts_of_meta_user(
        &self,
        meta_user_id: &str,
    ) -> Result<Vec<Account>, StoreError> {
        let page: Page<Account> = self
            .query(
                Some(Index::Gsi1),
                &keys::meta_user_accounts(meta_user_id),
                &SortRange::All,
                &Listing::first(1000),
            )
            .await?;
        Ok(page.items)
    }

    /// Store a refreshed token, only if the account is still connected with the token
    /// that was refreshed (`old_sealed`), and move it in the expiry index. False when
    /// the account changed meanwhile (reconnected, disconnected, refreshed elsewhere).
    pub async fn replace_token(
        &self,
        account: &Account,
        old_sealed: &str,
        new_sealed: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let refreshed = Account {
            status: AccountStatus::Connected,
            token_sealed: Some(new_sealed.to_owned()),
            token_issued_at: Some(issued_at),
            token_expires_at: Some(expires_at),
            updated_at: issued_at,
            ..account.clone()
        };
        let (index_pk, index_sk) = account_index(&refreshed)
            .gsi2
            .expect("a connected account with an expiry is in the expiry index");
        self.update(
            &keys::account(&account.tenant_id, &account.account_id),
            "SET token_sealed = :new, token_issued_at = :now, token_expires_at = :exp, \
             updated_at = :now, gsi2pk = :ipk, gsi2sk = :isk",
        )
        .condition("#status = :connected AND token_sealed = :old")
        .name("#status", "status")
        .value(":new", s(new_sealed))
        .value(":old", s(old_sealed))
        .value(":now", n(issued_at))
        .value(":exp", n(expires_at))
        .value(":ipk", s(index_pk))
        .value(":isk", s(index_sk))
        .value(":connected", s(AccountStatus::Connected.as_str()))
        .apply_if()
        .await
    }

    /// Mark an account needs-reconnect and take it out of the expiry index, only if it is
    /// still connected with the token that failed (a reconnect in between keeps its new
    /// one). False when it changed meanwhile.
    pub async fn mark_needs_reconnect(
        &self,
        account: &Account,
        now: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(
                &keys::account(&account.tenant_id, &account.account_id),
                "SET #status = :reconnect, updated_at = :now REMOVE gsi2pk, gsi2sk",
            )
            .name("#status", "status")
            .value(":reconnect", s(AccountStatus::NeedsReconnect.as_str()))
            .value(":connected", s(AccountStatus::Connected.as_str()))
            .value(":now", n(now));
        let update = match &account.token_sealed {
            Some(sealed) => update
                .condition("#status = :connected AND token_sealed = :old")
                .value(":old", s(sealed.as_str())),
            None => update
                .condition("#status = :connected AND attribute_not_exists(#token)")
                .name("#token", "token_sealed"),
        };
        update.apply_if().await
    }

    /// Route key for tests and tools that must remove routing (e.g. data deletion).
    pub fn route_key(channel: Channel, account: &AccountId) -> Key {
        keys::route(channel.as_str(), account)
    }
}
