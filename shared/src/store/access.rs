//! Persistence for API access: keys by hash, the first responses of idempotent requests,
//! and each tenant's rate-limit bucket.

use serde::{Deserialize, Serialize};

use super::{
    Index, IndexKeys, Listing, Page, SortRange, Store, StoreError, conditional, encoded, keys, n, s,
};
use crate::access::{ApiKey, Bucket, KeyId, RateLimit, take_token};
use crate::ids::TenantId;

/// The most keys one tenant (or the operators) may hold, revoked ones included, so a
/// listing is one bounded read.
pub const MAX_KEYS: usize = 200;

/// A key as stored: the record plus its hash (the look-up key).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    key: ApiKey,
    key_hash: String,
}

/// An idempotent request's record: in progress until `response` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentRecord {
    pub fingerprint: String,
    pub created_at: i64,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub response: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// What a request carrying an `Idempotency-Key` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// First time: go ahead, then record the response.
    Proceed,
    /// The same request answered before: this is its answer.
    Replay {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    /// The same key with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 3600;

fn key_index(key: &ApiKey) -> IndexKeys {
    IndexKeys {
        gsi1: Some((
            keys::api_keys_of(key.tenant()),
            format!("{}#{}", keys::time_sk(key.created_at), key.key_id),
        )),
        ..IndexKeys::default()
    }
}

impl Store {
    /// Store a new key under its hash.
    pub async fn put_api_key(&self, hash: &str, key: &ApiKey) -> Result<(), StoreError> {
        let stored = StoredKey {
            key: key.clone(),
            key_hash: hash.to_owned(),
        };
        self.put_new(&keys::api_key(hash), &key_index(key), &stored, "api key")
            .await
    }

    /// The key whose hash this is (revoked or not).
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .get::<StoredKey>(&keys::api_key(hash))
            .await?
            .map(|s| s.key))
    }

    /// A tenant's keys (`None`: the operators'), oldest first, with their hashes.
    async fn stored_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<StoredKey>, StoreError> {
        let page: Page<StoredKey> = self
            .query(
                Some(Index::Gsi1),
                &keys::api_keys_of(tenant),
                &SortRange::All,
                &Listing::first(MAX_KEYS as i32),
            )
            .await?;
        Ok(page.items)
    }

    /// The hashes a tenant's keys are stored under (for erasing them).
    pub(crate) async fn stored_key_hashes(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .stored_keys(tenant)
            .await?
            .into_iter()
            .map(|s| s.key_hash)
            .collect())
    }

    /// A tenant's keys (`None`: the operators'), oldest first.
    pub async fn list_api_keys(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<ApiKey>, StoreError> {
        Ok(self
            .stored_keys(tenant)
            .await?
            .into_iter()
            .map(|s| s.key)
            .collect())
    }

    /// Revoke one of a tenant's keys. The revoked key, or None when the tenant has no key
    /// of that id (another tenant's key is "none"). Revoking twice keeps the first time.
    pub async fn revoke_api_key(
        &self,
        tenant: Option<&TenantId>,
        key_id: &KeyId,
        now_ms: i64,
    ) -> Result<Option<ApiKey>, StoreError> {
        let Some(stored) = self
            .stored_keys(tenant)
            .await?
            .into_iter()
            .find(|s| &s.key.key_id == key_id)
        else {
            return Ok(None);
        };
        self.update(&keys::api_key(&stored.key_hash), "SET revoked_at = :now")
            .condition("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .value(":now", n(now_ms))
            .apply_if()
            .await?;
        self.api_key_by_hash(&stored.key_hash).await
    }

    /// Note that a key was used, at most once a minute per key (a lost condition is the
    /// "used less than a minute ago" case, not an error).
    pub async fn touch_api_key(&self, hash: &str, now_ms: i64) -> Result<(), StoreError> {
        self.update(&keys::api_key(hash), "SET last_used_at = :now")
            .condition(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :since)",
            )
            .value(":now", n(now_ms))
            .value(":since", n(now_ms - 60_000))
            .apply_if()
            .await
            .map(|_| ())
    }

    /// Begin a request carrying an idempotency key (`key_hash`: SHA-256 of the key the
    /// client sent, so the client's string never becomes part of a key).
    pub async fn begin_idempotent(
        &self,
        tenant: Option<&TenantId>,
        key_hash: &str,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<Idempotent, StoreError> {
        let key = keys::idempotency(tenant, key_hash);
        let record = IdempotentRecord {
            fingerprint: fingerprint.to_owned(),
            created_at: now_ms,
            status: None,
            response: None,
            content_type: None,
        };
        let index = IndexKeys {
            ttl: Some(now_ms / 1000 + IDEMPOTENCY_TTL_SECONDS),
            ..IndexKeys::default()
        };
        // An expired record that DynamoDB has not removed yet does not count.
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(Self::item(&key, &index, &record)?))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now_ms / 1000))
            .send()
            .await;
        if conditional(result, "PutItem")? {
            return Ok(Idempotent::Proceed);
        }
        let Some(first) = self.get::<IdempotentRecord>(&key).await? else {
            // Removed between the two calls (expired): treat as new next time.
            return Ok(Idempotent::InProgress);
        };
        Ok(match first {
            f if f.fingerprint != fingerprint => Idempotent::Mismatch,
            IdempotentRecord {
                status: Some(status),
                response: Some(body),
                content_type,
                ..
            } => Idempotent::Replay {
                status,
                content_type,
                body,
            },
            _ => Idempotent::InProgress,
        })
    }

    /// Keep the answer to an idempotent request, for its replays.
    pub async fn finish_idempotent(
        &self,
        tenant: Option<&TenantId>,
        key_hash: &str,
        status: u16,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), StoreError> {
        self.update(
            &keys::idempotency(tenant, key_hash),
            "SET #status = :status, #response = :body, content_type = :type",
        )
        .name("#status", "status")
        .name("#response", "response")
        .value(":status", n(status))
        .value(":body", s(body))
        .value(":type", s(content_type.unwrap_or("application/json")))
        .apply()
        .await
    }

    /// Forget an idempotent request that failed on Relay's side, so a retry may run it.
    pub async fn abandon_idempotent(
        &self,
        tenant: Option<&TenantId>,
        key_hash: &str,
    ) -> Result<(), StoreError> {
        self.delete(&keys::idempotency(tenant, key_hash)).await
    }

    /// Take one request from the tenant's bucket: `Ok` to go ahead, `Err(seconds)` to
    /// wait. The bucket is shared by every instance of the API (a conditional write on
    /// its time; a lost race is retried on the new state).
    pub async fn take_rate_token(
        &self,
        tenant: &TenantId,
        limit: RateLimit,
        now_ms: i64,
    ) -> Result<Result<(), u64>, StoreError> {
        let key = keys::rate_bucket(tenant);
        for _ in 0..5 {
            let current: Option<Bucket> = self.get(&key).await?;
            let next = match take_token(current, now_ms, limit) {
                Ok(next) => next,
                Err(wait) => return Ok(Err(wait)),
            };
            let index = IndexKeys {
                // An idle bucket is full again after burst / rate; keep it a day at most.
                ttl: Some(now_ms / 1000 + 86_400),
                ..IndexKeys::default()
            };
            let mut put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(Self::item(&key, &index, &next)?));
            put = match current {
                None => put.condition_expression("attribute_not_exists(pk)"),
                // Tokens as well as time: two requests in the same millisecond must not
                // both spend the same token.
                Some(c) => put
                    .condition_expression("at_ms = :at AND tokens = :tokens")
                    .expression_attribute_values(":at", n(c.at_ms))
                    .expression_attribute_values(":tokens", encoded("rate bucket", &c.tokens)?),
            };
            if conditional(put.send().await, "PutItem")? {
                return Ok(Ok(()));
            }
        }
        // Five lost races in a row: the tenant is sending a great deal at once.
        Ok(Err(1))
    }
}
