//! Persistence for onboarding: OAuth state nonces (single use) and Meta's data-deletion
//! requests (by confirmation code). Both are global lookups keyed by a value only the
//! right party holds (a signed state, a confirmation code Meta was given).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{IndexKeys, Store, StoreError, conditional, keys, n};

impl Store {
    /// Remember an OAuth state's nonce until `ttl_epoch_seconds`. False if it exists.
    pub async fn put_oauth_nonce(
        &self,
        nonce: &str,
        ttl_epoch_seconds: i64,
    ) -> Result<bool, StoreError> {
        self.claim_once(&keys::oauth_state(nonce), ttl_epoch_seconds)
            .await
    }

    /// Use up a nonce: true the first time within its lifetime, false ever after (and
    /// for a nonce never stored, or expired but not yet removed by DynamoDB's TTL).
    pub async fn consume_oauth_nonce(
        &self,
        nonce: &str,
        now_epoch_seconds: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(Self::key_attrs(&keys::oauth_state(nonce))))
            .condition_expression("attribute_exists(pk) AND #ttl >= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now_epoch_seconds))
            .send()
            .await;
        conditional(result, "DeleteItem")
    }

    /// A data-deletion request by its confirmation code.
    pub async fn get_deletion_request<T: DeserializeOwned>(
        &self,
        code: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(&keys::deletion_request(code)).await
    }

    /// Store (or update) a data-deletion request under its confirmation code.
    pub async fn put_deletion_request<T: Serialize>(
        &self,
        code: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        self.put(&keys::deletion_request(code), &IndexKeys::default(), record)
            .await
    }
}
