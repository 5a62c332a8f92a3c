//! DynamoDB persistence for the main table.
//!
//! [`keys`] holds the key design; the submodules hold one entity family each. Every
//! tenant-data operation takes the [`TenantId`] as a required argument and builds its key
//! from it, so a caller cannot reach another tenant's items. Pagination cursors are opaque
//! to callers and are checked to belong to the partition being read, so a forged cursor
//! cannot move a query into another tenant's partition.

pub mod access;
pub mod accounts;
pub mod ai;
pub mod erase;
pub mod inbox;
pub mod insights;
pub mod keys;
pub mod moderation;
pub mod onboarding;
pub mod posts;
mod update;
pub mod uploads;
pub mod usage;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::TenantId;
pub use keys::Key;
pub(crate) use update::{encoded, n, s};

pub type Item = HashMap<String, AttributeValue>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {reason}")]
    Dynamo {
        operation: &'static str,
        reason: String,
    },
    /// A conditional write lost (the item existed, or changed under us).
    #[error("conditional write on {what} did not apply")]
    Conflict { what: &'static str },
    #[error("stored {what} could not be read: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("pagination cursor is invalid")]
    InvalidCursor,
}

impl StoreError {
    pub(crate) fn dynamo<E>(
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Dynamo {
            operation,
            reason: aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// One page of a listing, and the cursor for the next page when there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// An opaque pagination cursor (DynamoDB's LastEvaluatedKey, encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        if raw.is_empty() || raw.len() > 2048 {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Self(raw.to_owned()))
    }

    fn encode(key: &Item) -> Option<Self> {
        let plain: std::collections::BTreeMap<&str, &str> = key
            .iter()
            .map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
            .collect::<Option<_>>()?;
        let json = serde_json::to_vec(&plain).ok()?;
        Some(Self(URL_SAFE_NO_PAD.encode(json)))
    }

    /// The start key, provided it lies in `partition` (under attribute `pk_attr`) and is
    /// a whole key of what is read: the table's `pk` and `sk`, and the index's own two
    /// attributes, each non-empty, and nothing else (DynamoDB refuses anything less).
    fn decode(&self, pk_attr: &str, sk_attr: &str, partition: &str) -> Result<Item, StoreError> {
        let json = URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| StoreError::InvalidCursor)?;
        let plain: HashMap<String, String> =
            serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
        if plain.get(pk_attr).map(String::as_str) != Some(partition) {
            return Err(StoreError::InvalidCursor);
        }
        let wanted = ["pk", "sk", pk_attr, sk_attr];
        let whole = wanted
            .iter()
            .all(|a| plain.get(*a).is_some_and(|v| !v.is_empty()))
            && plain.keys().all(|k| wanted.contains(&k.as_str()));
        if !whole {
            return Err(StoreError::InvalidCursor);
        }
        Ok(plain
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

/// Index names in the main table (template.yaml declares them).
#[derive(Debug, Clone, Copy)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    fn name(self) -> &'static str {
        match self {
            Self::Gsi1 => "gsi1",
            Self::Gsi2 => "gsi2",
        }
    }
    fn pk(self) -> &'static str {
        match self {
            Self::Gsi1 => "gsi1pk",
            Self::Gsi2 => "gsi2pk",
        }
    }
    fn sk(self) -> &'static str {
        match self {
            Self::Gsi1 => "gsi1sk",
            Self::Gsi2 => "gsi2sk",
        }
    }
}

/// Secondary-index keys an item is listed under.
#[derive(Debug, Clone, Default)]
pub struct IndexKeys {
    pub gsi1: Option<(String, String)>,
    pub gsi2: Option<(String, String)>,
    /// Epoch seconds after which DynamoDB may delete the item.
    pub ttl: Option<i64>,
}

/// A range of sort keys to read.
#[derive(Debug, Clone)]
pub enum SortRange {
    All,
    Prefix(String),
    Between(String, String),
    Before(String),
}

/// How to read a partition.
#[derive(Debug, Clone)]
pub struct Listing {
    pub limit: i32,
    pub newest_first: bool,
    pub cursor: Option<Cursor>,
}

impl Default for Listing {
    fn default() -> Self {
        Self {
            limit: 50,
            newest_first: false,
            cursor: None,
        }
    }
}

impl Listing {
    /// The first page of at most `limit` items, oldest first.
    pub fn first(limit: i32) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// This listing, newest first.
    pub fn descending(&self) -> Self {
        Self {
            newest_first: true,
            ..self.clone()
        }
    }
}

/// The main table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Client,
    table: String,
}

impl Store {
    pub fn new(db: Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.db
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Serialise an entity with its keys into an item.
    pub(crate) fn item<T: Serialize>(
        key: &Key,
        index: &IndexKeys,
        entity: &T,
    ) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(entity).map_err(|e| StoreError::Decode {
            what: std::any::type_name::<T>(),
            reason: e.to_string(),
        })?;
        item.insert("pk".into(), AttributeValue::S(key.pk.clone()));
        item.insert("sk".into(), AttributeValue::S(key.sk.clone()));
        if let Some((pk, sk)) = &index.gsi1 {
            item.insert("gsi1pk".into(), AttributeValue::S(pk.clone()));
            item.insert("gsi1sk".into(), AttributeValue::S(sk.clone()));
        }
        if let Some((pk, sk)) = &index.gsi2 {
            item.insert("gsi2pk".into(), AttributeValue::S(pk.clone()));
            item.insert("gsi2sk".into(), AttributeValue::S(sk.clone()));
        }
        if let Some(ttl) = index.ttl {
            item.insert("ttl".into(), AttributeValue::N(ttl.to_string()));
        }
        Ok(item)
    }

    pub(crate) fn entity<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Decode {
            what: std::any::type_name::<T>(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn key_attrs(key: &Key) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }

    /// Write an entity, replacing any item with the same key.
    pub(crate) async fn put<T: Serialize>(
        &self,
        key: &Key,
        index: &IndexKeys,
        entity: &T,
    ) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, index, entity)?))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Write an entity only if no item has its key; `Conflict` if one does.
    pub(crate) async fn put_new<T: Serialize>(
        &self,
        key: &Key,
        index: &IndexKeys,
        entity: &T,
        what: &'static str,
    ) -> Result<(), StoreError> {
        self.put_when(key, index, entity, "attribute_not_exists(pk)", None, what)
            .await
    }

    /// Write an entity as its next revision, provided the stored item still has
    /// `revision` (nobody wrote it since it was read); `Conflict` otherwise.
    pub(crate) async fn put_if_revision<T: Serialize>(
        &self,
        key: &Key,
        index: &IndexKeys,
        entity: &T,
        revision: u64,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let rev = AttributeValue::N(revision.to_string());
        self.put_when(
            key,
            index,
            entity,
            "revision = :rev",
            Some((":rev", rev)),
            what,
        )
        .await
    }

    async fn put_when<T: Serialize>(
        &self,
        key: &Key,
        index: &IndexKeys,
        entity: &T,
        condition: &str,
        value: Option<(&str, AttributeValue)>,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let mut put = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, index, entity)?))
            .condition_expression(condition);
        if let Some((name, value)) = value {
            put = put.expression_attribute_values(name, value);
        }
        if conditional(put.send().await, "PutItem")? {
            Ok(())
        } else {
            Err(StoreError::Conflict { what })
        }
    }

    /// Remove the item at `key`, if there is one.
    pub(crate) async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<T>, StoreError> {
        self.raw_item(key).await?.map(Self::entity).transpose()
    }

    /// The item under `key` as DynamoDB holds it (consistent read).
    pub(crate) async fn raw_item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item)
    }

    /// Read one page of a partition (of the table, or of an index).
    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        index: Option<Index>,
        partition: &str,
        range: &SortRange,
        listing: &Listing,
    ) -> Result<Page<T>, StoreError> {
        let (pk_attr, sk_attr) = index.map_or(("pk", "sk"), |i| (i.pk(), i.sk()));
        let mut q = self
            .db
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(!listing.newest_first)
            .limit(listing.limit.clamp(1, 1000));
        if let Some(i) = index {
            q = q.index_name(i.name());
        }
        let condition = match range {
            SortRange::All => "#pk = :pk".to_owned(),
            SortRange::Prefix(p) => {
                q = q
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":a", AttributeValue::S(p.clone()));
                "#pk = :pk AND begins_with(#sk, :a)".to_owned()
            }
            SortRange::Between(a, b) => {
                q = q
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":a", AttributeValue::S(a.clone()))
                    .expression_attribute_values(":b", AttributeValue::S(b.clone()));
                "#pk = :pk AND #sk BETWEEN :a AND :b".to_owned()
            }
            SortRange::Before(b) => {
                q = q
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":b", AttributeValue::S(b.clone()));
                "#pk = :pk AND #sk < :b".to_owned()
            }
        };
        q = q.key_condition_expression(condition);
        if let Some(cursor) = &listing.cursor {
            q = q.set_exclusive_start_key(Some(cursor.decode(pk_attr, sk_attr, partition)?));
        }
        if index.is_none() {
            q = q.consistent_read(true);
        }
        let out = q.send().await.map_err(|e| StoreError::dynamo("Query", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(Self::entity)
            .collect::<Result<Vec<T>, _>>()?;
        let next = out.last_evaluated_key.as_ref().and_then(Cursor::encode);
        Ok(Page { items, next })
    }

    /// Every item of a partition in `range`, oldest first, read `page_size` at a time
    /// until the last page.
    pub(crate) async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<Index>,
        partition: &str,
        range: &SortRange,
        page_size: i32,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        let mut listing = Listing::first(page_size);
        loop {
            let page = self.query(index, partition, range, &listing).await?;
            all.extend(page.items);
            match page.next {
                Some(next) => listing.cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Take a one-time marker (an event seen, a reply claimed). True when this call took
    /// it; false when it was already taken (and not yet expired).
    pub async fn claim_once(&self, key: &Key, ttl_epoch_seconds: i64) -> Result<bool, StoreError> {
        #[derive(Serialize)]
        struct Marker {
            claimed_at: i64,
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let index = IndexKeys {
            ttl: Some(ttl_epoch_seconds),
            ..IndexKeys::default()
        };
        // DynamoDB deletes expired items lazily (up to days later), so an expired marker
        // that still exists must not block a new claim: the condition also admits it.
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(key, &index, &Marker { claimed_at: now })?))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        conditional(result, "PutItem")
    }

    /// Mark a tenant's event as seen; false when it was seen before (a redelivery).
    pub async fn claim_event(
        &self,
        tenant: &TenantId,
        event_key: &str,
        ttl_epoch_seconds: i64,
    ) -> Result<bool, StoreError> {
        self.claim_once(&keys::dedupe(tenant, event_key), ttl_epoch_seconds)
            .await
    }

    /// Whether a one-time right was taken already (and has not expired).
    pub async fn has_claim(&self, tenant: &TenantId, action: &str) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Marker {
            ttl: Option<i64>,
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let marker: Option<Marker> = self.get(&keys::claim(tenant, action)).await?;
        Ok(marker.is_some_and(|m| m.ttl.is_none_or(|ttl| ttl >= now)))
    }

    /// Give a one-time right back, when the action it guarded provably did not happen
    /// (Meta refused it with an error), so a later attempt may take it.
    pub async fn release_action(&self, tenant: &TenantId, action: &str) -> Result<(), StoreError> {
        self.delete(&keys::claim(tenant, action)).await
    }

    /// Take a tenant's one-time right to act (e.g. `reply:<mid>`).
    pub async fn claim_action(
        &self,
        tenant: &TenantId,
        action: &str,
        ttl_epoch_seconds: i64,
    ) -> Result<bool, StoreError> {
        self.claim_once(&keys::claim(tenant, action), ttl_epoch_seconds)
            .await
    }
}

/// The outcome of a conditional write: applied, or its condition did not hold.
pub(crate) fn conditional<T, E>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(StoreError::dynamo(operation, e)),
    }
}

/// Whether a write failed because its condition did not hold.
fn is_condition_failure<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e)
        == Some("ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_within_its_partition() {
        let key: Item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("T#a#A#1".into())),
            ("sk".to_owned(), AttributeValue::S("CONV#9".into())),
        ]);
        let cursor = Cursor::encode(&key).unwrap();
        assert_eq!(cursor.decode("pk", "sk", "T#a#A#1").unwrap(), key);
    }

    #[test]
    fn a_cursor_that_is_not_a_whole_key_is_rejected() {
        let partial: Item = HashMap::from([("pk".to_owned(), AttributeValue::S("T#a".into()))]);
        let cursor = Cursor::encode(&partial).unwrap();
        assert!(matches!(
            cursor.decode("pk", "sk", "T#a"),
            Err(StoreError::InvalidCursor)
        ));
        let extra: Item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("T#a".into())),
            ("sk".to_owned(), AttributeValue::S("X".into())),
            ("other".to_owned(), AttributeValue::S("Y".into())),
        ]);
        let cursor = Cursor::encode(&extra).unwrap();
        assert!(matches!(
            cursor.decode("pk", "sk", "T#a"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn cursor_from_another_partition_is_rejected() {
        let key: Item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("T#other#A#1".into())),
            ("sk".to_owned(), AttributeValue::S("CONV#9".into())),
        ]);
        let cursor = Cursor::encode(&key).unwrap();
        assert!(matches!(
            cursor.decode("pk", "sk", "T#mine#A#1"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            Cursor::parse("%%%").unwrap().decode("pk", "sk", "x"),
            Err(StoreError::InvalidCursor)
        ));
    }
}
