//! Erasing what Relay holds: one connected account (Meta's data-deletion callback, the
//! oauth function) or a whole tenant (its owner, through the API).
//!
//! For each account: its partition (contacts, conversations, comments, profile and
//! insight snapshots), every conversation's partition (messages, drafts) and the mid
//! pointers of those messages, its raw-event partition, then the account item (with its sealed
//! token) and its webhook route. A tenant adds its own partition (settings, knowledge,
//! posts), its rate bucket and, last, its API keys. Every step is a Query of one partition
//! and batched deletes, so a repeated run (Meta resending the request after a failure, an
//! owner calling again) finishes what an earlier one started. The audit trail is a
//! separate, append-only table and is not touched. Items that expire by TTL within a day
//! (dedupe markers, claims, idempotency records) are left to expire.

use crate::retry::RetryPolicy;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::accounts::Account;
use super::{Listing, Store, StoreError, keys};
use crate::ids::{AccountId, CustomerId, TenantId};
use crate::onboarding::html::DeletionCounts;

type Item = HashMap<String, AttributeValue>;

/// The (pk, sk) of every item in a partition.
async fn keys_of_partition(
    store: &Store,
    partition: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut found = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .projection_expression("pk, sk")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        for item in out.items.unwrap_or_default() {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.get("pk"), item.get("sk"))
            {
                found.push((pk.clone(), sk.clone()));
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok(found)
}

/// Delete items by key, 25 per BatchWriteItem, retrying what DynamoDB leaves
/// unprocessed (throttling) with a growing pause, a bounded number of times.
async fn delete_keys(store: &Store, item_keys: &[(String, String)]) -> Result<(), StoreError> {
    for chunk in item_keys.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|(pk, sk)| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .key("pk", AttributeValue::S(pk.clone()))
                            .key("sk", AttributeValue::S(sk.clone()))
                            .build()
                            .expect("a delete request with its key"),
                    )
                    .build()
            })
            .collect();
        // DynamoDB's advice for unprocessed items: back off exponentially, with jitter.
        let backoff = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(3_200),
        };
        for attempt in 0..backoff.max_attempts {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), requests)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchWriteItem", e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut m| m.remove(store.table()))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            if attempt + 1 == backoff.max_attempts {
                return Err(StoreError::Dynamo {
                    operation: "BatchWriteItem",
                    reason: format!("{} deletes left unprocessed", requests.len()),
                });
            }
            tokio::time::sleep(backoff.delay(attempt + 1)).await;
        }
    }
    Ok(())
}

/// What erasing a tenant removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantErasure {
    /// What the tenant's accounts held.
    pub accounts: DeletionCounts,
    pub knowledge_entries: u64,
    pub posts: u64,
    /// Settings, policies and the tenant's own record.
    pub other_items: u64,
    pub api_keys: u64,
}

impl Store {
    /// Erase everything a tenant has in the main table: its accounts' data, then its own
    /// partition, its rate bucket and, last, its API keys (so that a run cut short can be
    /// finished by calling again with the same key).
    pub async fn erase_tenant(&self, tenant: &TenantId) -> Result<TenantErasure, StoreError> {
        let mut erased = TenantErasure::default();
        let mut cursor = None;
        loop {
            let page = self
                .list_accounts(
                    tenant,
                    &Listing {
                        limit: 100,
                        cursor,
                        ..Default::default()
                    },
                )
                .await?;
            for account in &page.items {
                let counts = self.erase_account(account).await?;
                erased.accounts.add(&counts);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut own = keys_of_partition(self, &keys::tenant_pk(tenant)).await?;
        for (_, sk) in &own {
            if sk.starts_with(keys::KNOWLEDGE_PREFIX) {
                erased.knowledge_entries += 1;
            } else if sk.starts_with(keys::POST_PREFIX) {
                erased.posts += 1;
            } else {
                erased.other_items += 1;
            }
        }
        let bucket = keys::rate_bucket(tenant);
        own.push((bucket.pk, bucket.sk));
        delete_keys(self, &own).await?;
        let api_keys: Vec<(String, String)> = self
            .stored_key_hashes(Some(tenant))
            .await?
            .into_iter()
            .map(|hash| {
                let key = keys::api_key(&hash);
                (key.pk, key.sk)
            })
            .collect();
        erased.api_keys = api_keys.len() as u64;
        delete_keys(self, &api_keys).await?;
        Ok(erased)
    }

    /// Erase one account's data and report what it removed.
    pub async fn erase_account(&self, account: &Account) -> Result<DeletionCounts, StoreError> {
        let mut report = DeletionCounts::default();
        let tenant: &TenantId = &account.tenant_id;
        let id: &AccountId = &account.account_id;
        let partition = keys::profile(tenant, id).pk;
        let items = keys_of_partition(self, &partition).await?;
        for (_, sk) in &items {
            let Some(customer) = sk.strip_prefix("CONV#") else {
                continue;
            };
            let Ok(customer) = CustomerId::parse(customer) else {
                continue;
            };
            let messages =
                keys_of_partition(self, &keys::conversation_messages_pk(tenant, id, &customer))
                    .await?;
            // Message sort keys are `MSG#<ms>#<mid>`; each mid has a pointer item.
            let pointers: Vec<(String, String)> = messages
                .iter()
                .filter_map(|(_, sk)| sk.strip_prefix("MSG#")?.split_once('#').map(|(_, mid)| mid))
                .map(|mid| {
                    let key = keys::message_pointer(tenant, id, mid);
                    (key.pk, key.sk)
                })
                .collect();
            delete_keys(self, &pointers).await?;
            delete_keys(self, &messages).await?;
            // The partition also holds what belongs to the conversation (drafts, ...).
            let count = pointers.len() as u64;
            report.messages += count;
            report.other_items += messages.len() as u64 - count;
        }
        for (_, sk) in &items {
            match sk.split('#').next() {
                Some("CONTACT") => report.contacts += 1,
                Some("CONV") => report.conversations += 1,
                Some("COMMENT") => report.comments += 1,
                _ => report.other_items += 1,
            }
        }
        delete_keys(self, &items).await?;
        let events = keys_of_partition(self, &keys::raw_event(tenant, id, 0, "").pk).await?;
        delete_keys(self, &events).await?;
        report.other_items += events.len() as u64;

        // The route goes only if it still points here (the account may since have been
        // connected to another tenant).
        let route_key = Store::route_key(account.channel, id);
        let mut last = Vec::new();
        if self
            .resolve_route(account.channel, id)
            .await?
            .is_some_and(|route| &route.tenant_id == tenant)
        {
            last.push((route_key.pk, route_key.sk));
        }
        let account_key = keys::account(tenant, id);
        last.push((account_key.pk, account_key.sk));
        delete_keys(self, &last).await?;
        report.accounts += 1;
        Ok(report)
    }
}
